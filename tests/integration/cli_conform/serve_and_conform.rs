//! README's example: `grantcheck serve` in one process, `grantcheck conform` against it in
//! another: five passes in a row, a wrong secret ending in the preflight, a server that
//! requires a scope, and the alpha realm.

use std::process::Output;

use crate::common::cli::{grantcheck, run, temp_dir};

use super::assert_no_secrets;

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
