//! `grantcheck conform` and `grantcheck list` as users and CI run them: exit codes, report
//! files, JSON on stdout, filters, user case files, and no secret or token anywhere.

use std::path::Path;
use std::process::Output;

use reference_server::ServerConfig;

use crate::common::cli::{grantcheck, run, scratch, temp_dir};
use crate::common::server;

const FIXTURE_SECRETS: &[&str] = &[
    "forgerock",
    "rs-secret",
    "other-secret-2",
    "short-secret",
    "p+w/=:&ä q",
    "p%2Bw%2F%3D%3A%26%C3%A4+q",
    "disabled-secret",
    "no-grant-secret",
];

/// Every opaque reference-server token is 43 base64url characters; none may be shown. (The
/// signing key's thumbprint has the same shape and is public, as is a DPoP key's `jkt`:
/// the RFC 7638 thumbprint of the run's public key.)
pub(crate) fn assert_no_secrets(label: &str, text: &str) {
    let jwks = reference_server::JwtSigner::fixture().jwks().clone();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let text = &without_jkt_values(&text.replace(&kid, "<kid>"));
    for secret in FIXTURE_SECRETS {
        assert!(
            !text.contains(secret),
            "{label} contains the secret {secret:?}"
        );
    }
    let bytes = text.as_bytes();
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        run = if is_token_char(b) { run + 1 } else { 0 };
        if run == 43 && !bytes.get(i + 1).copied().is_some_and(is_token_char) {
            let start = i + 1 - 43;
            panic!(
                "{label} contains something token-shaped: {}",
                &text[start..=i]
            );
        }
    }
}

/// `text` with the value of every `"jkt": "…"` member replaced by `<jkt>`.
fn without_jkt_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\"jkt\"") {
        let (before, after) = rest.split_at(at + 5);
        out.push_str(before);
        let value_start = after.find('"').map(|i| i + 1);
        match value_start.and_then(|s| after[s..].find('"').map(|e| (s, s + e))) {
            Some((s, e)) if after[..s].trim_start_matches([':', ' ']).len() == 1 => {
                out.push_str(&after[..s]);
                out.push_str("<jkt>");
                rest = &after[e..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

fn files_in(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect()
}

#[test]
fn conform_passes_the_embedded_server_and_writes_every_report_without_secrets() {
    let dir = temp_dir("reports");
    let output = run(&[
        "conform",
        "--format",
        "json",
        "--color",
        "never",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["summary"]["failed"], 0);
    assert!(doc["summary"]["passed"].as_u64().unwrap() >= 80);
    let case = &doc["cases"][0];
    for key in [
        "id",
        "title",
        "spec",
        "level",
        "outcome",
        "detail",
        "exchanges",
    ] {
        assert!(case.get(key).is_some(), "case lacks {key}");
    }
    assert!(stderr.contains(" passed, 0 failed"), "{stderr}");
    let files = files_in(&dir);
    let names: Vec<&str> = files
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap())
        .collect();
    for expected in ["results.json", "junit.xml", "summary.md", "report.html"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for (path, text) in &files {
        assert_no_secrets(path, text);
    }
    assert_no_secrets("stdout", &stdout);
    assert_no_secrets("stderr", &stderr);
    let junit = files
        .iter()
        .find(|(p, _)| p.ends_with("junit.xml"))
        .unwrap();
    assert!(junit.1.contains("<testsuites") && junit.1.contains("classname=\"grantcheck.auth\""));
    // The preflight is in every report.
    assert_eq!(doc["summary"]["blocked"], 0);
    assert_eq!(doc["preflight"]["findings"][0]["status"], "ok");
    assert!(
        stderr.contains("preflight:\n  ok       token (myClient)"),
        "{stderr}"
    );
    let text = |name: &str| &files.iter().find(|(p, _)| p.ends_with(name)).unwrap().1;
    assert!(junit.1.contains("preflight.token (myClient)"));
    assert!(
        text("summary.md").contains("**Preflight**") && text("summary.md").contains("| blocked |")
    );
    assert!(text("report.html").contains("<strong>Preflight</strong>"));
}

#[test]
fn a_fault_mode_fails_the_run_with_a_readable_block() {
    let dir = temp_dir("fault");
    let output = run(&[
        "conform",
        "--embedded-fault",
        "omit-cache-control",
        "--skip",
        "expiry",
        "--color",
        "never",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FAIL RESP-008: Token responses carry Cache-Control: no-store"),
        "{stderr}"
    );
    assert!(
        stderr.contains("requirement: MUST RFC 6749 §5.1"),
        "{stderr}"
    );
    // The failure points at its case file line, with expected and actual apart.
    assert!(
        stderr.contains("--> scenarios/response/token-response.toml:76"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected: Cache-Control: no-store\n      actual:   nothing"),
        "{stderr}"
    );
    // Every step of the case, the failing one in full as HTTP.
    assert!(
        stderr.contains("  step 1 (the failing step):\n       POST http://"),
        "{stderr}"
    );
    assert!(stderr.contains("\n       HTTP 200 OK\n"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let resp_008 = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "RESP-008")
        .unwrap();
    assert_eq!(
        resp_008["location"],
        "scenarios/response/token-response.toml:76"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("file=\"scenarios/response/token-response.toml\" line=\"76\""),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<code>scenarios/response/token-response.toml:76</code>"));
    assert_no_secrets("stderr", &stderr);
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("RESP-008"));
}

#[test]
fn filters_and_exit_code_six() {
    let output = run(&[
        "conform",
        "--only",
        "NO-SUCH-CASE",
        "--report-dir",
        temp_dir("nocase").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(6));
    let output = run(&["list", "--only", "scope", "--skip", "SCOPE-0*"]);
    assert_eq!(output.status.code(), Some(0));
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(
        listed.contains("PARAM-012") && !listed.contains("SCOPE-001"),
        "{listed}"
    );
    let output = run(&["list"]);
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.lines().count() > 80, "{listed}");
    let output = run(&["list", "--checks"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("token_response"));
}

#[test]
fn user_cases_load_without_recompiling_and_bad_files_name_their_place() {
    let dir = temp_dir("cases");
    std::fs::create_dir_all(dir.join("mine")).unwrap();
    std::fs::write(
        dir.join("mine/custom.toml"),
        r#"
[[case]]
id = "MINE-001"
title = "My server answers the brief's request"
spec = "RFC 6749 §4.4"
level = "MUST"

[[case.step]]
auth = "post"
form = { grant_type = "client_credentials", scope = "write" }
[case.step.expect]
status = 200
json = { "/scope" = "write", "/token_type" = "Bearer" }
"#,
    )
    .unwrap();
    let reports = temp_dir("cases-reports");
    let output = run(&[
        "conform",
        "--no-builtin",
        "--scenarios",
        dir.to_str().unwrap(),
        "--color",
        "never",
        "-v",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("PASS  MINE-001"), "{stderr}");

    std::fs::write(
        dir.join("mine/broken.toml"),
        "[[case]]\nid = \"MINE-002\"\ntitle = \"t\"\nspec = \"s\"\nlevel = \"MUSTN'T\"\n",
    )
    .unwrap();
    let output = run(&[
        "conform",
        "--no-builtin",
        "--scenarios",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mine/broken.toml:5:9"), "{stderr}");
}

#[test]
fn external_targets_need_credentials_and_unreachable_ones_are_runtime_errors() {
    let output = run(&["conform", "--target", "http://127.0.0.1:9"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--client-id"));
    let output = run(&[
        "conform",
        "--target",
        "http://127.0.0.1:9",
        "--client-id",
        "a",
        "--client-secret",
        "b",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("discovery failed"), "{stderr}");
    let output = run(&[
        "conform",
        "--target",
        "not a url",
        "--client-id",
        "a",
        "--client-secret",
        "b",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_target_by_discovery_with_the_secret_from_the_environment() {
    let server = server::start(ServerConfig::default()).await;
    let issuer = server.issuer("root");
    let dir = temp_dir("external");
    let secret_file = dir.join("rs-secret.txt");
    std::fs::write(&secret_file, "forgerock\n").unwrap();
    let reports = dir.join("reports");
    let output = tokio::task::spawn_blocking(move || {
        grantcheck()
            .args([
                "conform",
                "--target",
                &issuer,
                "--client-id",
                "myClient",
                "--client-secret-file",
            ])
            .arg(&secret_file)
            .args([
                "--introspect-client-id",
                "rs-client",
                "--scope",
                "write read",
                "--color",
                "never",
                "--skip",
                "expiry",
                "-v",
            ])
            .arg("--report-dir")
            .arg(&reports)
            .env("GRANTCHECK_INTROSPECT_CLIENT_SECRET", "rs-secret")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("PASS  META-002"), "{stderr}");
    assert!(stderr.contains("PASS  INTRO-001"), "{stderr}");
    assert_no_secrets("stderr", &stderr);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_target_from_the_config_file() {
    let server = server::start(ServerConfig::default()).await;
    let dir = temp_dir("config");
    let config = dir.join("grantcheck.toml");
    std::fs::write(
        &config,
        format!(
            "[targets.local]\nissuer = \"{}\"\nclient_id = \"myClient\"\nclient_secret_env = \"LOCAL_SECRET\"\nintrospect_client_id = \"rs-client\"\nintrospect_client_secret_env = \"LOCAL_RS_SECRET\"\nscope = \"write read\"\n",
            server.issuer("root")
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    let output = tokio::task::spawn_blocking(move || {
        grantcheck()
            .args([
                "conform",
                "--target",
                "local",
                "--only",
                "INTRO-001,META-002",
                "--color",
                "never",
                "--format",
                "json",
            ])
            .arg("--config")
            .arg(&config)
            .arg("--report-dir")
            .arg(&reports)
            .env("LOCAL_SECRET", "forgerock")
            .env("LOCAL_RS_SECRET", "rs-secret")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["target"]["label"], "local");
    assert_eq!(doc["summary"]["passed"], 2);
    server.shutdown().await;
}

/// Starts `grantcheck serve` (its defaults: brute-force protection on) and returns it with
/// its base URL.
fn serve(extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = grantcheck()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("grantcheck reference server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// README's `serve` + `conform` example, with the secret given as in the README.
fn conform_against(base: &str, secret: &str, extra: &[&str]) -> Output {
    conform_at(base, "/oauth2", secret, extra)
}

/// The same at the issuer `{base}{issuer_path}` (a realm).
fn conform_at(base: &str, issuer_path: &str, secret: &str, extra: &[&str]) -> Output {
    let target = format!("{base}{issuer_path}");
    let resource = format!("{base}/api/resource");
    let reports = temp_dir("serve-reports");
    // otherClient is registered in the root realm only; a second client the run is given
    // but cannot use leaves the run without a verdict.
    let (second, second_secret) = if issuer_path.contains("/realms/alpha") {
        ("shortClient", "short-secret")
    } else {
        ("otherClient", "other-secret-2")
    };
    let mut args = vec![
        "conform",
        "--target",
        &target,
        "--client-id",
        "myClient",
        "--introspect-client-id",
        "rs-client",
        "--introspect-client-secret",
        "rs-secret",
        "--second-client-id",
        second,
        "--second-client-secret",
        second_secret,
        "--scope",
        "write read",
        "--forbidden-scope",
        "admin",
        "--resource-url",
        &resource,
        "--resource-scope",
        "write",
        "--color",
        "never",
        "--snapshots",
        "off",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    grantcheck()
        .args(&args)
        .env("GRANTCHECK_CLIENT_SECRET", secret)
        .output()
        .unwrap()
}

#[test]
fn the_readme_serve_and_conform_example_passes_five_times_in_a_row() {
    let (mut server, base) = serve(&[]);
    let started = std::time::Instant::now();
    for run in 1..=5 {
        let output = conform_against(&base, "forgerock", &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "run {run}:\n{stderr}");
        assert!(
            stderr.contains(" 0 failed, 0 warned, 0 blocked"),
            "run {run}:\n{stderr}"
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let _ = server.kill();
}

#[test]
fn a_wrong_client_secret_ends_before_any_verdict_with_what_to_check() {
    // The server's own words come with its error code.
    let expected = "myClient got 401 invalid_client (\"client authentication failed\") from";
    let advice = "check --client-id/--client-secret (or GRANTCHECK_CLIENT_SECRET)";
    // The embedded server, given the user's credentials.
    let started = std::time::Instant::now();
    let output = run(&[
        "conform",
        "--color",
        "never",
        "--client-secret",
        "forgerocks",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(expected) && stderr.contains(advice),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(
        !stderr.contains("PASS") && !stderr.contains("FAIL"),
        "{stderr}"
    );
    assert_no_secrets("stderr", &stderr.replace("forgerocks", "<typo>"));
    // `grantcheck serve`.
    let (mut server, base) = serve(&[]);
    let started = std::time::Instant::now();
    let output = conform_against(&base, "forgerocks", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(expected) && stderr.contains(advice),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let _ = server.kill();
}

#[test]
fn a_server_that_requires_a_scope_passes_when_the_scope_is_given() {
    let (mut server, base) = serve(&["--require-scope"]);
    let output = conform_against(&base, "forgerock", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("adjusted") && stderr.contains("scope=write"),
        "{stderr}"
    );
    assert!(
        stderr.contains(" 0 failed, 0 warned, 0 blocked"),
        "{stderr}"
    );
    let _ = server.kill();
}

/// The brief's flow runs on the alpha realm: the reference server passes there too, the
/// resource included (it validates a token at the realm that issued it).
#[test]
fn the_reference_server_passes_on_the_alpha_realm() {
    let (mut server, base) = serve(&[]);
    let output = conform_at(
        &base,
        "/oauth2/realms/root/realms/alpha",
        "forgerock",
        &["-v"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(" 0 failed, 0 warned, 0 blocked"),
        "{stderr}"
    );
    assert!(stderr.contains("PASS  RS-001"), "{stderr}");
    let _ = server.kill();
}

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

/// JWT client authentication against an external target: a private_key_jwt client with a PEM
/// key (RS256) and a client_secret_jwt client with its secret from the environment; nothing
/// secret (key, secret, assertion) in the output or the reports.
#[tokio::test(flavor = "multi_thread")]
async fn jwt_clients_of_an_external_target_from_flags_and_environment() {
    const HMAC_SECRET: &str = "hmac-secret-0123456789abcdef0123456789abcdef";
    let server = server::start(ServerConfig::default()).await;
    let issuer = server.issuer("root");
    let key =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/client-rs256.pem");
    let runs: [(&[&str], &str); 2] = [
        (
            &[
                "--client-auth",
                "private_key_jwt",
                "--jwt-client-id",
                "jwtClient",
                "--client-key-id",
                "grantcheck-rs256",
                "--only",
                "JWTAUTH-0*",
                "-v",
            ],
            "PASS  JWTAUTH-001",
        ),
        (
            &[
                "--client-auth",
                "client_secret_jwt",
                "--jwt-client-id",
                "hmacClient",
                "--only",
                "JWTAUTH-1*",
                "-v",
            ],
            "PASS  JWTAUTH-101",
        ),
    ];
    for (flags, expected) in runs {
        let dir = temp_dir("jwt-external");
        let reports = dir.join("reports");
        let (issuer, key_file, flags) = (issuer.clone(), key.clone(), flags.to_vec());
        let private_key = flags.contains(&"private_key_jwt");
        let output = tokio::task::spawn_blocking(move || {
            let mut cmd = grantcheck();
            cmd.args([
                "conform",
                "--target",
                &issuer,
                "--client-id",
                "myClient",
                "--color",
                "never",
            ])
            .args(&flags)
            .arg("--report-dir")
            .arg(&reports)
            .env("GRANTCHECK_CLIENT_SECRET", "forgerock")
            .env("GRANTCHECK_JWT_CLIENT_SECRET", HMAC_SECRET);
            if private_key {
                cmd.arg("--client-key").arg(&key_file);
            }
            cmd.output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            !stderr.contains("SKIP") && !stderr.contains("FAIL"),
            "{stderr}"
        );
        let pem = std::fs::read_to_string(&key).unwrap();
        let pem_body = pem.lines().nth(1).unwrap();
        for (name, text) in files_in(&dir.join("reports"))
            .into_iter()
            .chain([("stderr".into(), stderr.to_string())])
        {
            assert_no_secrets(&name, &text);
            for secret in [HMAC_SECRET, pem_body, "eyJhbGciOi"] {
                assert!(!text.contains(secret), "{name} shows {secret:.12}…");
            }
        }
    }
    server.shutdown().await;
}

/// Every file under `dir`, recursively, with its text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            files.push((path.display().to_string(), text));
        }
    }
    files
}

/// The places a secret that is a whole value would show: a parameter, a quoted string, a
/// Basic credential.
fn assert_short_secret_absent(label: &str, text: &str, id: &str, secret: &str) {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let mut shapes = vec![
        format!("\"{secret}\""),
        format!("'{secret}'"),
        format!("`{secret}`"),
        basic,
    ];
    for end in ["&", "\"", " ", "\n", "<", "#"] {
        shapes.push(format!("={secret}{end}"));
    }
    for shape in shapes {
        assert!(
            !text.contains(&shape),
            "{label} shows {id}'s secret {secret:?} as {shape:?}"
        );
    }
    assert!(
        !text.ends_with(&format!("={secret}")),
        "{label} ends with {id}'s secret"
    );
}

/// Secrets of one character are redacted like any other, in every report and snapshot, and
/// the letters they are made of still read in the rest of the text.
#[tokio::test(flavor = "multi_thread")]
async fn one_character_secrets_never_show_and_nothing_else_is_blanked() {
    let clients = reference_server::clients::FIXTURE_CLIENTS
        .replace("secret = \"forgerock\"", "secret = \"b\"")
        .replace("secret = \"rs-secret\"", "secret = \"r\"")
        .replace("secret = \"other-secret-2\"", "secret = \"o\"");
    let config = ServerConfig {
        clients: reference_server::clients::ClientRegistry::from_toml(&clients, "test").unwrap(),
        ..ServerConfig::default()
    };
    let server = server::start(config).await;
    let issuer = server.issuer("root");
    let resource = server.resource_url();
    let dir = temp_dir("short-secrets");
    let (reports, snapshots) = (dir.join("reports"), dir.join("snapshots"));
    let (r, s) = (reports.clone(), snapshots.clone());
    let output = tokio::task::spawn_blocking(move || {
        grantcheck()
            .args(["conform", "--target", &issuer, "--resource-url", &resource])
            .args(["--client-id", "myClient", "--client-secret", "b"])
            .args(["--introspect-client-id", "rs-client"])
            .args(["--introspect-client-secret", "r"])
            .args(["--second-client-id", "otherClient"])
            .args(["--second-client-secret", "o"])
            .args(["--scope", "write read", "--forbidden-scope", "admin"])
            .args(["--skip", "expiry", "--color", "never", "--format", "json"])
            .args(["--snapshots", "update"])
            .arg("--snapshot-dir")
            .arg(&s)
            .arg("--report-dir")
            .arg(&r)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let mut files = files_under(&reports);
    files.extend(files_under(&snapshots));
    assert!(files.iter().any(|(p, _)| p.ends_with(".snap")), "{files:?}");
    files.push((
        "stdout".into(),
        String::from_utf8_lossy(&output.stdout).into(),
    ));
    files.push(("stderr".into(), stderr));
    for (label, text) in &files {
        for (id, secret) in [("myClient", "b"), ("rs-client", "r"), ("otherClient", "o")] {
            assert_short_secret_absent(label, text, id, secret);
        }
    }
    // Redaction by value, not by letter: the words around the secrets are whole.
    let results = &files
        .iter()
        .find(|(p, _)| p.ends_with("results.json"))
        .unwrap()
        .1;
    for word in ["client_credentials", "Bearer", "otherClient", "rs-client"] {
        assert!(results.contains(word), "results.json lost {word:?}");
    }
    server.shutdown().await;
}

/// RS-005 runs against an external target when `--resource-scope` names the scope its
/// resource requires (the reference server's requires `write`): it passes with the true
/// one, warns with a wrong one (a token for `write` is served), and without the flag skips
/// naming it. The embedded server refuses the flag: its resource's scope is fixed.
#[tokio::test(flavor = "multi_thread")]
async fn rs_005_runs_against_an_external_target_given_the_resource_scope() {
    let server = server::start(ServerConfig::default()).await;
    let issuer = server.issuer("root");
    let resource = server.resource_url();
    let rs_005 = |extra: &'static [&'static str]| {
        let (issuer, resource) = (issuer.clone(), resource.clone());
        tokio::task::spawn_blocking(move || {
            let output = grantcheck()
                .args(["conform", "--target", &issuer, "--resource-url", &resource])
                .args(["--client-id", "myClient", "--client-secret", "forgerock"])
                .args(["--introspect-client-id", "rs-client"])
                .args(["--introspect-client-secret", "rs-secret"])
                .args(["--scope", "write read", "--only", "RS-005"])
                .args(["--format", "json", "--snapshots", "off", "--color", "never"])
                .args(extra)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            let doc: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
            let case = doc["cases"][0].clone();
            (output.status.code(), case, stderr)
        })
    };
    let (code, case, stderr) = rs_005(&["--resource-scope", "write"]).await.unwrap();
    assert_eq!(
        (code, &case["outcome"]),
        (Some(0), &"pass".into()),
        "{stderr}"
    );
    let (_, case, stderr) = rs_005(&["--resource-scope", "read"]).await.unwrap();
    assert_eq!(case["outcome"], "warn", "{stderr}");
    let (code, case, stderr) = rs_005(&[]).await.unwrap();
    assert_eq!(
        (code, &case["outcome"]),
        (Some(0), &"skip".into()),
        "{stderr}"
    );
    let detail = case["detail"].as_str().unwrap();
    assert!(detail.contains("--resource-scope SCOPE"), "{detail}");
    server.shutdown().await;

    let embedded = run(&["conform", "--resource-scope", "write", "--only", "RS-005"]);
    let stderr = String::from_utf8_lossy(&embedded.stderr);
    assert_eq!(embedded.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--resource-scope applies to an external target"),
        "{stderr}"
    );
}
