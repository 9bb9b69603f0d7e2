use super::*;

#[test]
fn secrets_never_print() {
    let s = Secret::new("forgerock");
    assert!(!format!("{s:?}").contains("forgerock"));
    assert!(s.matches("forgerock"));
    assert!(!s.matches("forgerocK"));
    assert!(!s.matches("forgerock "));
    assert!(!s.matches(""));
}

#[test]
fn long_secrets_are_compared_only_up_to_the_cap_and_never_match() {
    let at_cap = "x".repeat(MAX_SECRET_BYTES);
    let s = Secret::new(at_cap.clone());
    testing::take_compared();
    assert!(s.matches(&at_cap));
    assert!(!s.matches(&format!("{at_cap}x")));
    check_against_nothing(&"y".repeat(60_000));
    assert_eq!(testing::take_compared(), [MAX_SECRET_BYTES; 3]);
    let err = ClientRegistry::from_toml(
        &format!("[[client]]\nid = \"a\"\nsecret = \"{at_cap}x\""),
        "x.toml",
    )
    .unwrap_err();
    assert!(err.0.contains("longer than"), "{err}");
}

#[test]
fn fixtures_load() {
    let reg = ClientRegistry::fixtures();
    let c = reg.get("myClient").unwrap();
    assert!(c.in_realm("alpha"));
    assert!(reg.realms().contains(&"alpha".to_string()));
}

#[test]
fn jwt_clients_load_with_their_keys_or_secret() {
    let reg = ClientRegistry::fixtures();
    let jwt = reg.get("jwtClient").unwrap();
    assert!(!jwt.is_public() && jwt.secret.is_none());
    assert_eq!(jwt.auth_methods, [AuthMethod::PrivateKeyJwt]);
    // The registered keys are the public halves of the test-only key fixtures.
    let published: serde_json::Value = serde_json::from_str(include_str!(
        "../../../fixtures/keys/clients.public.jwks.json"
    ))
    .unwrap();
    assert_eq!(jwt.jwks.as_ref(), Some(&published));
    assert_eq!(jwt.public_keys.len(), 4);
    let hmac = reg.get("hmacClient").unwrap();
    assert_eq!(hmac.auth_methods, [AuthMethod::ClientSecretJwt]);
}

#[test]
fn mtls_clients_need_a_subject_or_a_certificate_that_holds_their_key() {
    let reg = ClientRegistry::fixtures();
    assert!(reg
        .get("mtlsClient")
        .is_some_and(|c| !c.is_public() && c.uses_mtls()));
    assert_eq!(
        reg.get("selfSignedMtlsClient")
            .unwrap()
            .tls_certificates
            .len(),
        1
    );
    // The self-signed fixture's x5c under another key's x and y (jwtClient's ES256 key).
    let mismatched = "[[client]]\nid = \"a\"\nauth_methods = [\"self_signed_tls_client_auth\"]\n[[client.jwks.keys]]\nkty = \"EC\"\ncrv = \"P-256\"\nx = \"YyhXIXDkHMbqhNr1c1OqVi-QugEBeOm8YKpd_n2Dvvg\"\ny = \"BFs2twJmgL8M8q9FGDmqwcE1zPTAtQeYzaTgHW9lbrs\"\nx5c = [\"X5C\"]";
    let cases = [
        (
            "[[client]]\nid = \"a\"\nauth_methods = [\"tls_client_auth\"]".to_owned(),
            "tls_client_auth_subject_dn",
        ),
        (
            "[[client]]\nid = \"a\"\nauth_methods = [\"self_signed_tls_client_auth\"]".to_owned(),
            "x5c",
        ),
        (mismatched.replace("X5C", "%%%"), "not base64 DER"),
        (mismatched.replace("X5C", X5C), "does not hold that key"),
    ];
    for (toml, expected) in cases {
        let err = ClientRegistry::from_toml(&toml, "x.toml").unwrap_err();
        assert!(err.0.contains(expected), "{toml}: {err}");
    }
}

const X5C: &str = "MIIBmzCCAUGgAwIBAgIUH9J6ZrpGaCAHOVSVKwutj2tn300wCgYIKoZIzj0EAwIwOTEYMBYGA1UECgwPZ3JhbnRjaGVjayB0ZXN0MR0wGwYDVQQDDBRzZWxmU2lnbmVkTXRsc0NsaWVudDAgFw0yNTAxMDEwMDAwMDBaGA8yMTI1MDEwMTAwMDAwMFowOTEYMBYGA1UECgwPZ3JhbnRjaGVjayB0ZXN0MR0wGwYDVQQDDBRzZWxmU2lnbmVkTXRsc0NsaWVudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABArowH21t+xWrSUFT3Zty0T0JBu4ygCYmvouhQNgm62TlxyWVvcQK1xvXyQi5iU1XDggPd4HTGp2LQrw2I/Z8G+jJTAjMAwGA1UdEwEB/wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwCgYIKoZIzj0EAwIDSAAwRQIhAPv1pVY/P7rxxDIHzbyZqPX+V4j85p9GUUDQgeNfZXrMAiBlc2K5lDEC1l1n9YjZniXV8mGBN5ZqzytWwfFe5PoU0g==";

#[test]
fn jwt_clients_without_usable_keys_or_secret_are_refused() {
    let cases = [
        (
            "[[client]]\nid = \"a\"\nauth_methods = [\"private_key_jwt\"]",
            "needs public keys",
        ),
        (
            "[[client]]\nid = \"a\"\nauth_methods = [\"private_key_jwt\"]\n[[client.jwks.keys]]\nkty = \"EC\"\ncrv = \"P-256\"\nx = \"AA\"",
            "unusable jwks",
        ),
        (
            "[[client]]\nid = \"a\"\nauth_methods = [\"private_key_jwt\"]\n[[client.jwks.keys]]\nkty = \"oct\"\nk = \"AAAA\"",
            "private key",
        ),
        (
            "[[client]]\nid = \"a\"\nsecret = \"short\"\nauth_methods = [\"client_secret_jwt\"]",
            "at least 32 bytes",
        ),
    ];
    for (toml, expected) in cases {
        let err = ClientRegistry::from_toml(toml, "x.toml").unwrap_err();
        assert!(err.0.contains(expected), "{toml}: {err}");
    }
}

#[test]
fn bad_files_are_explained() {
    let err =
        ClientRegistry::from_toml("[[client]]\nid = \"a\"\nsecret = 3", "x.toml").unwrap_err();
    assert!(err.0.starts_with("x.toml"), "{err}");
    let err = ClientRegistry::from_toml(
        "[[client]]\nid = \"a\"\nsecret = \"s\"\n[[client]]\nid = \"a\"\nsecret = \"t\"",
        "x.toml",
    )
    .unwrap_err();
    assert!(err.0.contains("twice"), "{err}");
    let err = ClientRegistry::from_toml(
        "[[client]]\nid = \"a\"\nsecret = \"s\"\nscopes=[\"r\"]\ndefault_scopes=[\"w\"]",
        "x.toml",
    )
    .unwrap_err();
    assert!(err.0.contains("default scope"), "{err}");
}

fn names(realms: &[Arc<str>]) -> Vec<&str> {
    realms.iter().map(|r| &**r).collect()
}

#[test]
fn the_resource_serves_its_clients_realms_root_first() {
    assert_eq!(
        names(&ClientRegistry::fixtures().resource_realms()),
        ["root", "alpha"]
    );
    let with_rs = |realms: &str| {
        let rs = format!(
            "[[client]]\nid = \"rs-client\"\nsecret = \"s\"\nintrospect = true\nrealms = {realms}"
        );
        ClientRegistry::from_toml(&rs, "test")
            .unwrap()
            .resource_realms()
    };
    assert_eq!(
        names(&with_rs(r#"["zeta", "alpha", "root", "alpha"]"#)),
        ["root", "alpha", "zeta"]
    );
    assert_eq!(names(&with_rs(r#"["alpha"]"#)), ["alpha"]);
    assert_eq!(names(&with_rs("[]")), ["root"]);
    assert_eq!(
        names(&ClientRegistry::default().resource_realms()),
        ["root"]
    );
}
