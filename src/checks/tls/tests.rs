use super::super::{Check, Context, Verdict};
use crate::checks::tests::response;
use crate::template::Vars;
use crate::tls_probe::{Answer, ProbeKind, TlsProbe, TLS1_0, TLS1_1, TLS1_2};

/// The checks whose keep/break rows are here (they read the probes, not a response).
pub(in crate::checks) const KEEP_BREAK: &[Check] =
    &[Check::TlsNoVersionBelow12, Check::TlsOnlyRecommendedSuites];

fn verdict(check: Check, probes: Option<&[TlsProbe]>) -> Verdict {
    let vars = Vars::default();
    check.evaluate(&Context {
        response: &response(200, &[], "{}"),
        requested_scope: None,
        vars: &vars,
        issuer: None,
        auth_scheme: None,
        dpop_proof_sent: false,
        tls_probes: probes,
        race: None,
    })
}

fn probe(kind: ProbeKind, answer: Answer) -> TlsProbe {
    TlsProbe {
        origin: "as.example:443".into(),
        kind,
        answer,
    }
}

/// What rustls answers: protocol_version to the old hellos, handshake_failure to the weak
/// suites.
fn refusing() -> Vec<TlsProbe> {
    let alert = |description| Answer::Alert {
        level: 2,
        description,
    };
    vec![
        probe(ProbeKind::Tls11, alert(70)),
        probe(ProbeKind::Tls10, alert(70)),
        probe(ProbeKind::WeakTls12Suites, alert(40)),
    ]
}

/// The fake server of the tests: a ServerHello at the offered version, first offered suite.
fn accepting() -> Vec<TlsProbe> {
    ProbeKind::ALL
        .into_iter()
        .map(|kind| {
            let answer = Answer::ServerHello {
                version: kind.client_version(),
                suite: kind.suites()[0],
            };
            probe(kind, answer)
        })
        .collect()
}

#[test]
fn keep_and_break() {
    for check in KEEP_BREAK {
        assert_eq!(
            verdict(*check, Some(&refusing())),
            Verdict::Pass,
            "{check:?}"
        );
        let broken = verdict(*check, Some(&accepting()));
        assert!(matches!(broken, Verdict::Fail(_)), "{check:?}: {broken:?}");
    }
}

#[test]
fn each_check_reads_only_its_own_probes_and_names_what_was_chosen() {
    // Only TLS 1.0 is taken: FAPI-009 fails, FAPI-010 passes.
    let mut probes = refusing();
    probes[1].answer = Answer::ServerHello {
        version: TLS1_0,
        suite: 0xC013,
    };
    let Verdict::Fail(why) = verdict(Check::TlsNoVersionBelow12, Some(&probes)) else {
        panic!("TLS 1.0 accepted must fail")
    };
    assert!(why.contains("TLS 1.0") && why.contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"));
    assert_eq!(
        verdict(Check::TlsOnlyRecommendedSuites, Some(&probes)),
        Verdict::Pass
    );
    // A weak suite chosen: FAPI-010 fails, naming it.
    let mut probes = refusing();
    probes[2].answer = Answer::ServerHello {
        version: TLS1_2,
        suite: 0xC027,
    };
    let Verdict::Fail(why) = verdict(Check::TlsOnlyRecommendedSuites, Some(&probes)) else {
        panic!("a weak suite chosen must fail")
    };
    assert!(
        why.contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 (0xC027)"),
        "{why}"
    );
    // A server that answers a TLS 1.1 hello with TLS 1.2 has not taken TLS 1.1.
    let mut probes = refusing();
    probes[0].answer = Answer::ServerHello {
        version: TLS1_2,
        suite: 0xC013,
    };
    assert_eq!(
        verdict(Check::TlsNoVersionBelow12, Some(&probes)),
        Verdict::Pass
    );
    probes[0].answer = Answer::ServerHello {
        version: TLS1_1,
        suite: 0xC013,
    };
    assert!(matches!(
        verdict(Check::TlsNoVersionBelow12, Some(&probes)),
        Verdict::Fail(_)
    ));
}

#[test]
fn a_probe_that_could_not_connect_blocks_and_plain_http_skips() {
    let mut probes = refusing();
    for p in &mut probes {
        p.answer = Answer::Unreachable("could not connect to as.example:443".into());
    }
    for check in KEEP_BREAK {
        let got = verdict(*check, Some(&probes));
        assert!(
            matches!(&got, Verdict::Blocked(w) if w.contains("could not connect")),
            "{got:?}"
        );
        let plain = verdict(*check, None);
        assert!(
            matches!(&plain, Verdict::NotApplicable(w) if w.starts_with("plain HTTP: FAPI 2.0 §5.2.1 item 1")),
            "{plain:?}"
        );
        let none = verdict(*check, Some(&[]));
        assert!(matches!(none, Verdict::Blocked(_)), "{none:?}");
    }
    // A finding at one origin fails even when another could not be probed.
    let mut mixed = accepting();
    mixed.extend(probes);
    assert!(matches!(
        verdict(Check::TlsOnlyRecommendedSuites, Some(&mixed)),
        Verdict::Fail(_)
    ));
    // Refused by closing: passes.
    let closed: Vec<TlsProbe> = ProbeKind::ALL
        .into_iter()
        .map(|k| {
            probe(
                k,
                Answer::Refused("closed the connection without answering".into()),
            )
        })
        .collect();
    for check in KEEP_BREAK {
        assert_eq!(verdict(*check, Some(&closed)), Verdict::Pass);
    }
}
