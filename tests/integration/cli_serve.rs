//! `grantcheck serve` as a user runs it: the real binary, its output and its exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{grantcheck, temp_dir};

#[test]
fn serve_prints_its_endpoints_serves_and_stops_cleanly_on_sigterm() {
    let mut child = grantcheck()
        .args(["serve", "--addr", "127.0.0.1:0", "--token-ttl", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("grantcheck reference server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let mut printed = vec![first];
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let printed = printed.join("\n");
    assert!(
        printed.contains(&format!("token          {base}/oauth2/access_token")),
        "{printed}"
    );
    assert!(
        printed.contains("/oauth2/realms/root/realms/alpha/access_token"),
        "{printed}"
    );
    assert!(!printed.contains("forgerock"), "no secret is printed");

    let output = Command::new("curl")
        .args([
            "-s",
            "--request",
            "POST",
            "--data",
            "grant_type=client_credentials",
            "--data",
            "client_id=myClient",
        ])
        .args(["--data", "client_secret=forgerock", "--data", "scope=write"])
        .arg(format!("{base}/oauth2/access_token"))
        .output();
    if let Ok(output) = output {
        let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(body["expires_in"], 120);
        assert_eq!(body["scope"], "write");
    }

    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_help_lists_every_fault_mode() {
    let output = grantcheck().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for fault in reference_server::Fault::ALL {
        assert!(
            help.contains(fault.name()),
            "{} missing from --help",
            fault.name()
        );
    }
}

#[test]
fn bad_flags_and_files_are_usage_errors() {
    let output = grantcheck()
        .args(["serve", "--fault", "nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let dir = temp_dir("cli");
    let bad = dir.join("clients.toml");
    std::fs::write(&bad, "[[client]]\nid = \"x\"\nsecret = 1\n").unwrap();
    let output = grantcheck()
        .args(["serve", "--addr", "127.0.0.1:0", "--clients"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("clients.toml") && stderr.contains("line 3"),
        "{stderr}"
    );
    let output = grantcheck()
        .args(["serve", "--token-ttl", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    for url in [
        "as.example",
        "ftp://as.example",
        "https://as.example/oauth2",
    ] {
        let output = grantcheck()
            .args(["serve", "--addr", "127.0.0.1:0", "--public-url", url])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{url}");
    }
}

#[test]
fn a_port_in_use_is_a_runtime_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = grantcheck()
        .args(["serve", "--addr", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(stderr.contains("pick another port"), "{stderr}");
}

/// Issue 14 item 10: `serve` prints its limits, and writes a security event (here, a client
/// that ran out of free failed authentications) to stderr once, without the secret it tried.
#[test]
fn serve_logs_security_events_once_on_stderr_without_secrets() {
    use std::io::{Read, Write};
    let mut child = grantcheck()
        .args(["serve", "--addr", "127.0.0.1:0", "--brute-force-limit", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("grantcheck reference server listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let limits = printed.iter().find(|l| l.starts_with("limits: ")).unwrap();
    assert!(
        limits.contains("connections") && limits.contains("2 free failures"),
        "{limits}"
    );
    let guess = "s3cret-guess";
    let body = format!("grant_type=client_credentials&client_id=myClient&client_secret={guess}");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let mut socket = std::net::TcpStream::connect(&base).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            socket,
            "POST /oauth2/access_token HTTP/1.1\r\nhost: {base}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        statuses.push(answer.get(9..12).unwrap_or("").to_owned());
    }
    assert_eq!(statuses, ["401", "401", "429", "429", "429", "429"]);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let events: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("reference server security: "))
        .collect();
    assert_eq!(events.len(), 1, "{stderr}");
    assert!(
        events[0].contains("client 'myClient' from 127.0.0.1: 2 failed authentications"),
        "{stderr}"
    );
    assert!(!stderr.contains(guess) && !stderr.contains("forgerock"));
}

/// One request over a new connection to `host:port`; the answer's status and body.
fn raw_post(host: &str, path: &str, authorization: &str, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(host).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        socket,
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {authorization}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    let status = answer.get(9..12).unwrap_or("").to_owned();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn serve_nodes_prints_every_node_and_replicates_after_the_delay() {
    let mut child = grantcheck()
        .args(["serve", "--addr", "127.0.0.1:0", "--nodes", "3"])
        .args(["--replication-delay", "300ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let nodes: Vec<String> = printed
        .iter()
        .filter_map(|l| {
            l.split_once(" listening on http://")
                .map(|(_, url)| url.to_owned())
        })
        .collect();
    assert_eq!(nodes.len(), 3, "{printed:#?}");
    assert!(
        printed[0].contains("a cluster of 3 nodes, replication delay 300 ms"),
        "{printed:#?}"
    );
    let issuer = format!("realm root: issuer http://{}/oauth2", nodes[0]);
    assert!(printed.contains(&issuer), "{printed:#?}");

    let my = "Basic bXlDbGllbnQ6Zm9yZ2Vyb2Nr"; // myClient:forgerock
    let rs = "Basic cnMtY2xpZW50OnJzLXNlY3JldA=="; // rs-client:rs-secret
    let (status, body) = raw_post(
        &nodes[0],
        "/oauth2/access_token",
        my,
        "grant_type=client_credentials",
    );
    assert_eq!(status, "200", "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let form = format!("token={}", token["access_token"].as_str().unwrap());
    let active = |node: &str| {
        let (_, body) = raw_post(node, "/oauth2/introspect", rs, &form);
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["active"] == true
    };
    assert!(active(&nodes[0]), "read-your-writes");
    assert!(!active(&nodes[1]), "not replicated yet");
    std::thread::sleep(Duration::from_millis(350));
    assert!(active(&nodes[1]) && active(&nodes[2]), "replicated");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
