//! Every way a run can end, driven through the real binary: the exit code, the terminal's
//! verdict line, summary.md's first line, junit.xml, report.html's headline and
//! results.json's verdict all say the same thing (CI users read the reports, not the code).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::cli::{grantcheck_in, scratch};

/// One finished run: where it ran and what it printed.
struct Ended {
    label: &'static str,
    dir: PathBuf,
    output: Output,
}

fn conform(label: &'static str, dir: &Path, args: &[&str], ci: bool) -> Ended {
    let mut cmd: Command = grantcheck_in(dir);
    cmd.args(["conform", "--color", "never", "--report-dir", "reports"]);
    cmd.args(args);
    if ci {
        cmd.env("CI", "true");
    }
    Ended {
        label,
        dir: dir.to_owned(),
        output: cmd.output().unwrap(),
    }
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The word every surface must lead with for an exit code.
fn word(code: i32) -> &'static str {
    match code {
        0 => "PASSED",
        3 => "NO VERDICT",
        4 | 5 => "FAILED",
        other => panic!("no verdict word for exit {other}"),
    }
}

impl Ended {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts the exit code and that every report agrees with it.
    fn agrees(&self, code: i32, reason: &str) {
        let (label, stderr) = (self.label, self.stderr());
        assert_eq!(self.output.status.code(), Some(code), "{label}: {stderr}");
        let word = word(code);
        // The terminal: the last line is the verdict with the exit code.
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        assert!(
            last.starts_with(word) && last.ends_with(&format!("(exit {code})")),
            "{label}: terminal's last line {last:?}"
        );
        assert!(
            stderr.contains(reason),
            "{label}: {reason:?} not in {stderr}"
        );
        let reports = self.dir.join("reports");
        let summary = read(reports.join("summary.md"));
        let first = summary.lines().next().unwrap();
        assert!(
            first.contains(&format!(" {word}")) && first.contains(reason),
            "{label}: summary.md starts {first:?}"
        );
        let html = read(reports.join("report.html"));
        let headline = html
            .split("class=\"verdict ")
            .nth(1)
            .and_then(|rest| rest.split("<strong>").nth(1))
            .and_then(|rest| rest.split("</strong>").next())
            .unwrap_or_else(|| panic!("{label}: report.html has no verdict"));
        assert!(
            headline.starts_with(word),
            "{label}: report.html says {headline:?}"
        );
        let junit = read(reports.join("junit.xml"));
        let red = junit.contains("<failure") || junit.contains("<error");
        assert_eq!(red, code != 0, "{label}: junit.xml {junit}");
        assert!(junit.contains("run verdict"), "{label}: {junit}");
        let json: serde_json::Value = serde_json::from_str(&read(reports.join("results.json")))
            .expect("results.json is JSON");
        assert_eq!(json["verdict"]["exit_code"], code, "{label}");
        assert!(
            json["verdict"]["headline"]
                .as_str()
                .is_some_and(|h| h.starts_with(word)),
            "{label}: {}",
            json["verdict"]
        );
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
        .display()
        .to_string()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

const FEW: &[&str] = &["--only", "AUTH-001,AUTH-018,RESP-001"];

#[test]
fn passed_and_failed_must() {
    let args = |extra: &[&'static str]| [FEW, extra].concat();
    conform("passed", &scratch(), &args(&[]), false).agrees(0, "every MUST met");
    conform(
        "MUST failed",
        &scratch(),
        &args(&["--embedded-fault", "case-insensitive-secret"]),
        false,
    )
    .agrees(4, "1 MUST requirement broken");
}

#[test]
fn no_verdict_when_discovery_fails() {
    let target = format!("http://127.0.0.1:{}", closed_port());
    let args = [
        "--target",
        &target,
        "--client-id",
        "c",
        "--client-secret",
        "s",
    ];
    conform("discovery", &scratch(), &args, false).agrees(3, "NO VERDICT");
}

#[test]
fn no_verdict_when_the_preflight_ends_the_run() {
    let args = ["--client-id", "myClient", "--client-secret", "wrong"];
    conform("preflight", &scratch(), &args, false).agrees(3, "invalid_client");
}

#[test]
fn no_verdict_when_cases_error_or_block() {
    // The expiry cases wait 3.5 s on a real clock: a 1-second deadline leaves them unjudged.
    let args = ["--only", "RESP-001,RESP-015", "--deadline", "1"];
    conform("deadline", &scratch(), &args, false).agrees(3, "errored");
}

#[test]
fn no_verdict_when_a_configured_client_is_unusable() {
    // A private_key_jwt client whose key the server does not know: the rest runs, but the
    // run says which area went untested.
    let key = fixture("mtls-other.key.pem");
    let args = [
        "--only",
        "AUTH-001,JWTAUTH-001",
        "--client-auth",
        "private_key_jwt",
        "--jwt-client-id",
        "jwtClient",
        "--client-key",
        &key,
    ];
    conform("unusable client", &scratch(), &args, false).agrees(3, "untested");
}

#[test]
fn snapshots_drifted_or_new_under_ci_fail() {
    let dir = scratch();
    let update = conform(
        "update",
        &dir,
        &[FEW, &["--snapshots", "update"]].concat(),
        false,
    );
    assert_eq!(update.output.status.code(), Some(0), "{}", update.stderr());
    let snap = dir.join("snapshots/embedded/AUTH-001.snap");
    let stored = read(snap.clone());
    std::fs::write(&snap, stored.replace("outcome: pass", "outcome: fail")).unwrap();
    conform("drift", &dir, FEW, false).agrees(4, "1 snapshot drifted");

    std::fs::write(&snap, &stored).unwrap();
    conform("matched", &dir, FEW, true).agrees(0, "every MUST met");
    std::fs::remove_file(&snap).unwrap();
    conform("new under CI", &dir, FEW, true).agrees(4, "1 snapshot new");
}

#[test]
fn load_thresholds_decide_exit_five_and_every_load_report_says_so() {
    let dir = scratch();
    let mut cmd = grantcheck_in(&dir);
    cmd.args([
        "load",
        "--profile",
        "issuance",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--report-dir",
        "reports",
        "--threshold",
        "rps>=100000000",
    ]);
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        last.starts_with("FAILED") && last.ends_with("(exit 5)"),
        "{last}"
    );
    let md = read(dir.join("reports/load-issuance.md"));
    assert!(
        md.lines().next().unwrap().contains("FAILED"),
        "{}",
        md.lines().next().unwrap()
    );
    let html = read(dir.join("reports/load-issuance.html"));
    let header = html.split("<header class=").nth(1).unwrap();
    assert!(
        header.starts_with("bad><h1>FAILED"),
        "{}",
        &header[..80.min(header.len())]
    );
}
