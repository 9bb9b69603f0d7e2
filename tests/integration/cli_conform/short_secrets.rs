//! Secrets of one character: redacted in every report and snapshot, and the letters they are
//! made of still read in the rest of the text.

use std::path::Path;

use reference_server::ServerConfig;

use crate::common::cli::{grantcheck, temp_dir};
use crate::common::server;

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
