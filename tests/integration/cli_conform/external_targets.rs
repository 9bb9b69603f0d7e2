//! `grantcheck conform` against external targets: credentials required, unreachable ones as
//! runtime errors, discovery with the secret from the environment, named targets from the
//! config file, JWT clients from flags and environment, and RS-005 given the resource scope.

use reference_server::ServerConfig;

use crate::common::cli::{grantcheck, run, temp_dir};
use crate::common::server;

use super::{assert_no_secrets, files_in};

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
