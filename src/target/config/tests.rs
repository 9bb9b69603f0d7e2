use super::*;
use crate::target::clients_from;
use crate::target::AuthMethod;

#[test]
fn a_named_target_fills_what_flags_left_empty() {
    let config: ConfigFile = toml::from_str(
        r#"
[targets.peer]
issuer = "http://127.0.0.1:18081"
client_id = "myClient"
client_secret_env = "GRANTCHECK_TEST_PEER_SECRET"
scope = "write read"
resource_scope = "write"
ca_cert = ["certs/peer-ca.pem"]
"#,
    )
    .unwrap();
    std::env::set_var("GRANTCHECK_TEST_PEER_SECRET", "s3cret");
    let mut args = TargetArgs {
        target: Some("peer".into()),
        scope: Some("write".into()),
        ..TargetArgs::default()
    };
    assert_eq!(apply(&mut args, &config).unwrap().as_deref(), Some("peer"));
    assert_eq!(args.target.as_deref(), Some("http://127.0.0.1:18081"));
    assert_eq!(args.client_secret.as_deref(), Some("s3cret"));
    assert_eq!(args.scope.as_deref(), Some("write"), "flags win");
    assert_eq!(args.resource_scope.as_deref(), Some("write"));
    assert_eq!(args.ca_cert, vec![PathBuf::from("certs/peer-ca.pem")]);

    let mut unknown = TargetArgs {
        target: Some("nope".into()),
        ..TargetArgs::default()
    };
    assert!(apply(&mut unknown, &config)
        .unwrap_err()
        .message
        .contains("peer"));
    assert!(toml::from_str::<ConfigFile>("[targets.x]\nclient_secret = \"plain\"").is_err());
}

#[test]
fn a_named_target_names_a_client_certificate_and_its_key_file() {
    let config: ConfigFile = toml::from_str(
        r#"
[targets.peer]
issuer = "https://127.0.0.1:8443"
client_id = "myClient"
client_cert = "certs/client.pem"
client_cert_key = "certs/client.key.pem"
mtls_client_id = "mtlsClient"
"#,
    )
    .unwrap();
    let mut args = TargetArgs {
        target: Some("peer".into()),
        ..TargetArgs::default()
    };
    apply(&mut args, &config).unwrap();
    assert_eq!(args.client_cert, Some(PathBuf::from("certs/client.pem")));
    assert_eq!(
        args.client_cert_key,
        Some(PathBuf::from("certs/client.key.pem"))
    );
    assert_eq!(args.mtls_client_id.as_deref(), Some("mtlsClient"));
    // A certificate on the command line comes with its own key: the file's pair is not mixed in.
    let mut flags = TargetArgs {
        target: Some("peer".into()),
        client_cert: Some("mine.pem".into()),
        client_cert_key: Some("mine.key".into()),
        ..TargetArgs::default()
    };
    apply(&mut flags, &config).unwrap();
    assert_eq!(flags.client_cert_key, Some(PathBuf::from("mine.key")));
}

#[test]
fn a_named_target_tests_dpop_with_an_algorithm_and_a_bound_client() {
    let config: ConfigFile = toml::from_str(
        r#"
[targets.peer]
issuer = "http://127.0.0.1:18085"
client_id = "myClient"
dpop = "EdDSA"
dpop_client_id = "dpopClient"
dpop_client_secret_env = "GRANTCHECK_TEST_DPOP_PEER_SECRET"
"#,
    )
    .unwrap();
    std::env::set_var("GRANTCHECK_TEST_DPOP_PEER_SECRET", "dpop-s3cret");
    let mut args = TargetArgs {
        target: Some("peer".into()),
        ..TargetArgs::default()
    };
    apply(&mut args, &config).unwrap();
    assert_eq!(args.dpop, Some(crate::jose::Alg::EdDsa));
    assert_eq!(args.dpop_client_id.as_deref(), Some("dpopClient"));
    assert_eq!(args.dpop_client_secret.as_deref(), Some("dpop-s3cret"));
    // The flag wins over the file.
    let mut flagged = TargetArgs {
        target: Some("peer".into()),
        dpop: Some(crate::jose::Alg::Ps256),
        ..TargetArgs::default()
    };
    apply(&mut flagged, &config).unwrap();
    assert_eq!(flagged.dpop, Some(crate::jose::Alg::Ps256));
    let bad: ConfigFile = toml::from_str("[targets.x]\ndpop = \"ES384\"").unwrap();
    let mut args = TargetArgs {
        target: Some("x".into()),
        ..TargetArgs::default()
    };
    let err = apply(&mut args, &bad).unwrap_err();
    assert!(
        err.message.contains("[targets.x] dpop") && err.message.contains("ES384"),
        "{}",
        err.message
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
}

fn jwt_args(changes: impl FnOnce(&mut TargetArgs)) -> TargetArgs {
    let mut args = TargetArgs {
        client_id: Some("myClient".into()),
        client_secret: Some("forgerock".into()),
        ..TargetArgs::default()
    };
    changes(&mut args);
    args
}

#[test]
fn a_named_target_describes_its_jwt_client_by_file_and_variable_never_inline() {
    let config: ConfigFile = toml::from_str(
        r#"
[targets.peer]
issuer = "http://127.0.0.1:18085"
client_id = "myClient"
client_secret_env = "GRANTCHECK_TEST_JWT_PEER_SECRET"
client_auth = "private_key_jwt"
jwt_client_id = "jwtClient"
client_key = "keys/jwtClient.private.jwk.json"
client_key_id = "jwtClient-es256"
client_assertion_aud = "issuer"
"#,
    )
    .unwrap();
    std::env::set_var("GRANTCHECK_TEST_JWT_PEER_SECRET", "s3cret");
    let mut args = TargetArgs {
        target: Some("peer".into()),
        ..TargetArgs::default()
    };
    apply(&mut args, &config).unwrap();
    assert_eq!(args.client_auth, Some(AuthMethod::PrivateKeyJwt));
    assert_eq!(args.jwt_client_id.as_deref(), Some("jwtClient"));
    assert_eq!(
        args.client_key,
        Some(PathBuf::from("keys/jwtClient.private.jwk.json"))
    );
    assert_eq!(args.client_key_id.as_deref(), Some("jwtClient-es256"));
    assert_eq!(
        args.client_assertion_aud,
        Some(super::super::AssertionAudience::Issuer)
    );
    // The key itself, or a secret, cannot be written in the file.
    for inline in ["client_key_pem = \"x\"", "jwt_client_secret = \"x\""] {
        assert!(toml::from_str::<ConfigFile>(&format!("[targets.x]\n{inline}")).is_err());
    }
}

#[test]
fn the_jwt_client_comes_from_client_auth_and_its_key_or_secret() {
    use crate::case::Role;
    use crate::target::args::jwt_client_from;
    let key = jwt_args(|a| {
        a.client_auth = Some(AuthMethod::PrivateKeyJwt);
        a.jwt_client_id = Some("jwtClient".into());
        a.client_key = Some(fixture("client-rs256.pem"));
        a.client_key_id = Some("grantcheck-rs256".into());
        a.client_key_alg = Some("PS256".into());
    });
    let clients = clients_from(&key).unwrap();
    let jwt = &clients[&Role::KeyJwt];
    assert_eq!(jwt.id, "jwtClient");
    assert!(jwt.secret.is_none());
    let signing = jwt.jwt_key.as_ref().unwrap();
    assert_eq!(
        (signing.alg().name(), signing.kid()),
        ("PS256", Some("grantcheck-rs256"))
    );
    assert!(!format!("{jwt:?}").contains("PRIVATE"), "{jwt:?}");

    // client_secret_jwt with the main client: its secret keys the MAC.
    let same = jwt_args(|a| a.client_auth = Some(AuthMethod::ClientSecretJwt));
    let (role, client) = jwt_client_from(&same, "myClient", "forgerock")
        .unwrap()
        .unwrap();
    assert_eq!((role, client.id.as_str()), (Role::SecretJwt, "myClient"));
    assert_eq!(
        client.secret.as_ref().map(|s| s.expose()),
        Some("forgerock")
    );
    assert!(client.jwt_key.as_ref().unwrap().is_symmetric());
    assert!(jwt_client_from(&jwt_args(|_| {}), "myClient", "forgerock")
        .unwrap()
        .is_none());

    let usage =
        |changes: fn(&mut TargetArgs)| clients_from(&jwt_args(changes)).unwrap_err().message;
    type Change = fn(&mut TargetArgs);
    let cases: [(Change, &str); 6] = [
        (
            |a| a.client_auth = Some(AuthMethod::PrivateKeyJwt),
            "needs --client-key",
        ),
        (
            |a| a.client_key = Some(PathBuf::from("k.pem")),
            "needs --client-auth private_key_jwt",
        ),
        (
            |a| {
                a.client_auth = Some(AuthMethod::PrivateKeyJwt);
                a.client_key = Some(PathBuf::from("/nonexistent/grantcheck-key.pem"));
            },
            "cannot read the key file",
        ),
        (
            |a| {
                a.client_auth = Some(AuthMethod::PrivateKeyJwt);
                a.client_key = Some(fixture("client-es256.pem"));
                a.client_key_alg = Some("RS256".into());
            },
            "cannot sign RS256",
        ),
        (
            |a| {
                a.client_auth = Some(AuthMethod::ClientSecretJwt);
                a.jwt_client_id = Some("hmacClient".into());
            },
            "needs --jwt-client-secret",
        ),
        (
            |a| {
                a.client_auth = Some(AuthMethod::ClientSecretJwt);
                a.client_key = Some(fixture("client-es256.pem"));
            },
            "is for private_key_jwt",
        ),
    ];
    for (changes, expected) in cases {
        let message = usage(changes);
        assert!(message.contains(expected), "{message}");
    }
}

/// Issue 23: the main client may authenticate without a secret; the secret methods
/// still need one, and the introspection caller can use a key too.
#[test]
fn a_main_client_without_a_secret_authenticates_by_key_or_certificate() {
    use crate::case::Role;
    let secretless = |changes: fn(&mut TargetArgs)| {
        clients_from(&jwt_args(|a| {
            a.client_secret = None;
            changes(a);
        }))
    };
    let jwt = secretless(|a| {
        a.client_auth = Some(AuthMethod::PrivateKeyJwt);
        a.client_key = Some(fixture("client-es256.pem"));
    })
    .unwrap();
    let main = &jwt[&Role::Main];
    assert_eq!(main.method, AuthMethod::PrivateKeyJwt);
    assert!(main.secret.is_none() && main.jwt_key.is_some());
    // The introspection caller defaults to the main client, method and all.
    assert_eq!(jwt[&Role::Introspector].method, AuthMethod::PrivateKeyJwt);

    let mtls = secretless(|a| a.client_auth = Some(AuthMethod::TlsClientAuth)).unwrap();
    assert_eq!(mtls[&Role::Main].method, AuthMethod::TlsClientAuth);

    let basic = secretless(|_| {}).unwrap_err().message;
    assert!(
        basic.contains("client_secret_basic, which needs its secret"),
        "{basic}"
    );

    let caller = secretless(|a| {
        a.client_auth = Some(AuthMethod::TlsClientAuth);
        a.introspect_client_id = Some("rs".into());
        a.introspect_client_auth = Some(AuthMethod::PrivateKeyJwt);
        a.introspect_client_key = Some(fixture("client-es256.pem"));
    })
    .unwrap();
    assert_eq!(caller[&Role::Introspector].id, "rs");
    assert_eq!(
        caller[&Role::Introspector].method,
        AuthMethod::PrivateKeyJwt
    );
}

/// Several JWT clients in one run: `[[targets.X.clients]]`, each in its role.
#[test]
fn a_named_target_lists_more_clients_each_in_its_role() {
    use crate::case::Role;
    let text = format!(
        r#"
[targets.peer]
issuer = "https://as.example"
client_id = "myClient"
client_secret_file = "{secret}"

[[targets.peer.clients]]
role = "key_jwt"
id = "jwtClient"
auth = "private_key_jwt"
key = "{key}"

[[targets.peer.clients]]
role = "secret_jwt"
id = "hmacClient"
auth = "client_secret_jwt"
secret_file = "{secret}"
"#,
        secret = fixture("client-es256.jwk.json").display(),
        key = fixture("client-es256.pem").display(),
    );
    let config: ConfigFile = toml::from_str(&text).unwrap();
    let mut args = TargetArgs {
        target: Some("peer".into()),
        ..TargetArgs::default()
    };
    apply(&mut args, &config).unwrap();
    let clients = clients_from(&args).unwrap();
    assert_eq!(clients[&Role::KeyJwt].id, "jwtClient");
    assert_eq!(clients[&Role::KeyJwt].method, AuthMethod::PrivateKeyJwt);
    assert_eq!(clients[&Role::SecretJwt].id, "hmacClient");
    assert!(clients[&Role::SecretJwt]
        .jwt_key
        .as_ref()
        .unwrap()
        .is_symmetric());
    assert_eq!(clients[&Role::Main].method, AuthMethod::ClientSecretBasic);

    let main_role = text.replace("role = \"key_jwt\"", "role = \"main\"");
    let config: ConfigFile = toml::from_str(&main_role).unwrap();
    let mut args = TargetArgs {
        target: Some("peer".into()),
        ..TargetArgs::default()
    };
    let refused = apply(&mut args, &config).unwrap_err().message;
    assert!(
        refused.contains("role 'main' cannot be given here"),
        "{refused}"
    );
}
