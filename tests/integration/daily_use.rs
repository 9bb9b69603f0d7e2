//! Daily use (issue 22): what `load --help` and `load -V` print, and what a token URL that is
//! not a token endpoint (a static file server) gets from `conform` and `load`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::cli::{run, run_async};

/// Whitespace collapsed, so a list clap wrapped over lines reads as one.
fn flat(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn load_help_names_every_built_in_profile() {
    let mut names: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/load"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.strip_suffix(".toml").map(str::to_owned)
            })
            .collect();
    names.sort();
    assert!(names.contains(&"issuance-dpop".to_owned()), "{names:?}");
    let expected = format!(
        "A built-in profile ({}) or a profile file",
        names.join(", ")
    );
    for args in [&["load", "--help"][..], &["load", "capacity", "--help"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let help = flat(&output.stdout);
        assert!(help.contains(&expected), "{args:?}: {help}");
    }
}

#[test]
fn load_version_prints_the_version_and_nothing_else() {
    for flag in ["-V", "--version"] {
        let started = Instant::now();
        let output = run(&["load", flag]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        // No embedded server was started, no banner printed.
        assert!(
            output.stderr.is_empty(),
            "{flag}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let version = format!("grantcheck {} (goose ", env!("CARGO_PKG_VERSION"));
        assert!(stdout.starts_with(&version), "{flag}: {stdout}");
        assert_eq!(stdout.lines().count(), 1, "{flag}: {stdout}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// A static file server's answer to a POST (`python3 -m http.server`): 501 and an HTML page.
async fn static_file_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                let _ = stream.read(&mut buf).await;
                let body = "<!DOCTYPE HTML><html><body><h1>Error response</h1><p>Error code: 501</p><p>Message: Unsupported method ('POST').</p></body></html>\n";
                let answer = format!(
                    "HTTP/1.0 501 Unsupported method ('POST')\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_file_server_as_token_url_ends_in_the_preflight_asking_about_the_url() {
    let url = static_file_server().await;
    let credentials = ["--client-id", "myClient", "--client-secret", "forgerock"];
    let args = |command: &[&str]| -> Vec<String> {
        [command, &["--token-url", &url], &credentials[..]]
            .concat()
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    // conform: no verdict, and the advice is about the URL, not the server's logs.
    let output = run_async(args(&["conform", "--color", "never", "--snapshots", "off"])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("got 501 text/html")
            && stderr.contains("is it a token endpoint? check --token-url"),
        "{stderr}"
    );
    assert!(!stderr.contains("see its logs"), "{stderr}");

    // load: the same preflight before any load, instead of a run of errors until the
    // error-rate threshold stops it (exit 5).
    let started = Instant::now();
    let output = run_async(args(&["load", "-u", "2", "-t", "30s"])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("preflight: myClient got 501 text/html")
            && stderr.contains("is it a token endpoint? check --token-url")
            && stderr.contains("no load was run"),
        "{stderr}"
    );
    assert!(!stderr.contains("forgerock"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
