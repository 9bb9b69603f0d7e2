use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// The hello's bytes as TLS lays them out, read back field by field.
#[test]
fn the_client_hello_is_a_well_formed_record_with_what_each_probe_offers() {
    let random = [0xAB; 32];
    let hello = client_hello(ProbeKind::Tls11, Some("as.example"), random);
    // Record header: handshake, TLS 1.0 record version, length of the rest.
    assert_eq!(&hello[..3], &[22, 3, 1]);
    assert_eq!(
        usize::from(u16::from_be_bytes([hello[3], hello[4]])),
        hello.len() - 5
    );
    // Handshake header: client_hello, 24-bit length of the rest.
    assert_eq!(hello[5], 1);
    let len = (hello[6] as usize) << 16 | (hello[7] as usize) << 8 | hello[8] as usize;
    assert_eq!(len, hello.len() - 9);
    // client_version, the random, an empty session id.
    assert_eq!(&hello[9..11], &[3, 2]);
    assert_eq!(&hello[11..43], &random);
    assert_eq!(hello[43], 0);

    let parsed = parse_client_hello(&hello).expect("parses back");
    assert_eq!(parsed.client_version, TLS1_1);
    assert_eq!(parsed.suites, LEGACY_SUITES);
    assert_eq!(parsed.server_name.as_deref(), Some("as.example"));
    // server_name, supported_groups, ec_point_formats, signature_algorithms,
    // renegotiation_info; no supported_versions (43), so TLS 1.3 cannot be chosen.
    assert_eq!(parsed.extensions, [0x0000, 0x000A, 0x000B, 0x000D, 0xFF01]);

    let tls10 = parse_client_hello(&client_hello(ProbeKind::Tls10, None, random)).unwrap();
    assert_eq!(tls10.client_version, TLS1_0);
    assert_eq!(tls10.server_name, None, "no server_name for an IP address");
    assert_eq!(tls10.extensions, [0x000A, 0x000B, 0x000D, 0xFF01]);

    let weak = parse_client_hello(&client_hello(ProbeKind::WeakTls12Suites, None, random));
    let weak = weak.unwrap();
    assert_eq!(weak.client_version, TLS1_2);
    for recommended in [
        0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9, 0x009E, 0x009F,
    ] {
        assert!(
            !weak.suites.contains(&recommended),
            "{} is offered",
            suite_name(recommended)
        );
    }
    assert!(weak.suites.contains(&0x002F) && weak.suites.contains(&0xC027));
}

#[test]
fn the_extension_bodies_carry_the_listed_values() {
    let hello = client_hello(ProbeKind::WeakTls12Suites, Some("a.b"), [0; 32]);
    let find = |needle: &[u8]| hello.windows(needle.len()).any(|w| w == needle);
    // supported_groups: type 10, length 8, list length 6, x25519, secp256r1, secp384r1.
    assert!(find(&[0, 10, 0, 8, 0, 6, 0, 0x1D, 0, 0x17, 0, 0x18]));
    // ec_point_formats: uncompressed only.
    assert!(find(&[0, 11, 0, 2, 1, 0]));
    // renegotiation_info: empty.
    assert!(find(&[0xFF, 1, 0, 1, 0]));
    // server_name: list of one host_name "a.b".
    assert!(find(&[0, 0, 0, 8, 0, 6, 0, 0, 3, b'a', b'.', b'b']));
    // signature_algorithms include rsa_pkcs1_sha256 and rsa_pss_rsae_sha256.
    assert!(find(&[4, 1]) && find(&[8, 4]));
}

#[test]
fn answers_are_classified() {
    let hello = server_hello(TLS1_1, 0xC013);
    assert_eq!(
        classify(hello[0], &hello[5..]),
        Answer::ServerHello {
            version: TLS1_1,
            suite: 0xC013
        }
    );
    // A ServerHello with a session id.
    let mut body = vec![2, 0, 0, 0, 3, 3];
    body.extend_from_slice(&[9; 32]);
    body.push(4);
    body.extend_from_slice(&[1, 2, 3, 4]);
    body.extend_from_slice(&[0x00, 0x9C, 0]);
    assert_eq!(
        classify(22, &body),
        Answer::ServerHello {
            version: TLS1_2,
            suite: 0x009C
        }
    );
    assert_eq!(
        classify(21, &[2, 70]),
        Answer::Alert {
            level: 2,
            description: 70
        }
    );
    assert!(Answer::Alert {
        level: 2,
        description: 70
    }
    .describe()
    .contains("protocol_version"));
    assert!(matches!(classify(22, &[2, 0, 0, 5, 3]), Answer::Refused(_)));
    assert!(matches!(classify(22, &[11, 0, 0, 0]), Answer::Refused(_)));
    let http = classify(b'H', &[]);
    assert!(
        matches!(&http, Answer::Refused(w) if w.contains("0x48")),
        "{http:?}"
    );
}

#[test]
fn https_origins_have_their_default_port() {
    assert_eq!(
        https_origin("https://as.example/token"),
        Some(("as.example".into(), 443))
    );
    assert_eq!(
        https_origin("https://[::1]:8443/t"),
        Some(("::1".into(), 8443))
    );
    assert_eq!(https_origin("http://as.example/token"), None);
}

/// A server that answers every hello with a ServerHello at the offered version, choosing
/// the first offered suite; or with `alert`, or by closing.
async fn fake(answer: Option<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let Some(hello) = parse_client_hello(&buf[..n]) else {
                    return;
                };
                let reply = match answer {
                    Some(bytes) => bytes,
                    None => server_hello(hello.client_version, hello.suites[0]),
                };
                let _ = socket.write_all(&reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_probe_reads_a_server_hello_an_alert_a_close_and_a_missing_server() {
    let second = Duration::from_secs(2);
    let accepting = fake(None).await;
    assert_eq!(
        probe("127.0.0.1", accepting, ProbeKind::Tls10, second).await,
        Answer::ServerHello {
            version: TLS1_0,
            suite: LEGACY_SUITES[0]
        }
    );
    let alerting = fake(Some(vec![21, 3, 3, 0, 2, 2, 40])).await;
    assert_eq!(
        probe("127.0.0.1", alerting, ProbeKind::WeakTls12Suites, second).await,
        Answer::Alert {
            level: 2,
            description: 40
        }
    );
    let closing = fake(Some(Vec::new())).await;
    let closed = probe("127.0.0.1", closing, ProbeKind::Tls11, second).await;
    assert!(
        matches!(&closed, Answer::Refused(w) if w.contains("closed")),
        "{closed:?}"
    );
    // Nothing listens on a port just freed.
    let freed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = freed.local_addr().unwrap().port();
    drop(freed);
    let missing = probe("127.0.0.1", port, ProbeKind::Tls11, second).await;
    assert!(matches!(missing, Answer::Unreachable(_)), "{missing:?}");

    let all = probe_all(
        &[
            &format!("https://127.0.0.1:{accepting}/token"),
            &format!("https://127.0.0.1:{accepting}/introspect"),
            "http://127.0.0.1:1/plain",
        ],
        second,
    )
    .await;
    assert_eq!(all.len(), 3, "one origin, three probes: {all:?}");
    assert!(all
        .iter()
        .all(|p| p.origin == format!("127.0.0.1:{accepting}")));
}
