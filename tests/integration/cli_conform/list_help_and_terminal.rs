//! `grantcheck list` into a closed pipe, help and messages in words, and real-clock waits
//! announced on a terminal only.

use crate::common::cli::{grantcheck, run, scratch, temp_dir};

/// `grantcheck list | head -1`: the reader goes away; list ends quietly, no panic.
#[test]
fn list_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = grantcheck()
        .arg("list")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("id "), "{first}");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Columns line up, and one case is "1 case".
    let one = run(&["list", "--only", "RESP-008"]);
    let stdout = String::from_utf8_lossy(&one.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let column = |line: &str, word: &str| line[..line.find(word).unwrap()].chars().count();
    assert_eq!(
        column(lines[0], "title"),
        column(lines[1], "Token responses"),
        "{stdout}"
    );
    assert_eq!(String::from_utf8_lossy(&one.stderr).trim(), "1 case");
}

#[test]
fn help_and_messages_read_as_words() {
    let load = run(&["load", "--help"]);
    let help = String::from_utf8_lossy(&load.stdout);
    assert!(help.contains("--users"), "{help}");
    assert!(!help.contains("GooseDefault::"), "{help}");
    let serve = run(&["serve", "--help"]);
    let help = String::from_utf8_lossy(&serve.stdout);
    assert_eq!(help.matches("accept-wrong-secret").count(), 1, "{help}");
    let dir = temp_dir("config");
    let config = dir.join("grantcheck.toml");
    std::fs::write(&config, "[targets.peer]\nissuer = \"http://127.0.0.1:1\"\n").unwrap();
    let output = run(&[
        "conform",
        "--config",
        config.to_str().unwrap(),
        "--target",
        "nope",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("(known: peer)"), "{stderr}");
}

/// On a terminal a real-clock wait is announced; in a pipe (CI logs) it is not.
#[test]
fn real_clock_waits_are_announced_on_a_terminal() {
    let bin = env!("CARGO_BIN_EXE_grantcheck");
    let reports = temp_dir("waits");
    let command = format!(
        "{bin} conform --color never --only RESP-015 --snapshots off --report-dir {}",
        reports.display()
    );
    // `script` (util-linux) gives the command a terminal.
    let Ok(output) = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(scratch())
        .output()
    else {
        eprintln!("no `script` here: skipped");
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("waiting 3.5 s on a real clock for RESP-015's token to expire"),
        "{text}"
    );
    let piped = run(&[
        "conform",
        "--color",
        "never",
        "--only",
        "RESP-015",
        "--snapshots",
        "off",
    ]);
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("waiting"));
}
