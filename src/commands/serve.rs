//! `grantcheck serve`: the reference server, standalone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use reference_server::{
    default_max_connections, BruteForce, ClientRegistry, Fault, JwtSigner, ReferenceServer,
    ServerConfig, TlsIdentity, TokenFormat, Variant,
};

use crate::exit::{Exit, Failure};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Client registrations (TOML); default: the compiled-in fixtures/clients.toml.
    #[arg(long, value_name = "FILE")]
    pub clients: Option<PathBuf>,
    /// Default access token lifetime in seconds (a client's token_ttl_secs overrides it).
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub token_ttl: u64,
    /// Access token format.
    #[arg(long, value_enum, default_value_t = FormatArg::Opaque)]
    pub token_format: FormatArg,
    /// PKCS#8 PEM RSA key that signs JWT access tokens; default: fixtures/keys/jwt-rs256.pem.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Break one rule on purpose (repeatable; `--help` says which rule each breaks).
    #[arg(long = "fault", value_name = "NAME", value_parser = fault_parser())]
    pub faults: Vec<Fault>,
    /// Behave differently in a way the RFCs allow (repeatable; `--help` quotes the sentence
    /// that allows each): every conformance case must still pass.
    #[arg(long = "variant", value_name = "NAME", value_parser = variant_parser())]
    pub variants: Vec<Variant>,
    /// Largest request body in bytes; larger bodies get 413.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Refuse token requests without a scope (invalid_scope) instead of granting the client's
    /// default scopes; RFC 6749 §3.3 allows either.
    #[arg(long)]
    pub require_scope: bool,
    /// Be a FAPI 2.0 authorization server (FAPI 2.0 Security Profile, Final): clients
    /// authenticate with private_key_jwt or mutual TLS only (secrets are refused), assertions
    /// name the issuer alone, as a string, JWTs are PS256, ES256 or EdDSA, and every token is
    /// sender-constrained: a DPoP proof with the server's nonce, or mutual TLS.
    #[arg(long)]
    pub fapi2: bool,
    /// Brute-force protection (RFC 6749 §2.3.1): N failed authentications of one registered
    /// client from one address are free; after that, each failure makes that client wait
    /// before its next attempt from that address (1 s, doubling up to --brute-force-max-delay;
    /// 429 with Retry-After meanwhile). A success from an address clears its count; other
    /// addresses and clients are unaffected. 0 turns it off (for bad-secret load runs).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub brute_force_limit: u32,
    /// A client/address pair that has not failed for this long is forgotten.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub brute_force_window: u64,
    /// The longest wait between attempts once the free failures are spent.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        alias = "brute-force-lockout"
    )]
    pub brute_force_max_delay: u64,
    /// Tokens held at most; past it, token requests get 503 with Retry-After until tokens
    /// expire or are revoked. Default: a quarter of the memory limit (cgroup or machine) over
    /// the measured cost of a token (budgeted at 400 bytes opaque, 1.2 KB JWT), from 10,000 to
    /// 1,000,000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_live_tokens: Option<u64>,
    /// Connections open at most; at the limit a new connection closes the longest-idle one
    /// (a connection still sending its request head is idle), or gets 503 if all are busy.
    /// Default: 4096, or the open-file limit less 128 when that is lower.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// The URL clients reach the server by, `scheme://host[:port]` (behind a proxy or in a
    /// container): issuers, metadata and token audiences use it. Default: the --addr.
    #[arg(long, value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<url::Url>,
    /// Serve HTTPS. Without --tls-cert/--tls-key, with a new self-signed certificate for
    /// localhost, 127.0.0.1, ::1, the --addr host and the --public-url host (its SHA-256
    /// fingerprint is printed).
    #[arg(long)]
    pub tls: bool,
    /// PEM certificate chain (leaf first) to serve; implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where to write the generated certificate, for clients to trust
    /// (`grantcheck conform --ca-cert FILE`); default: a file in the temporary directory.
    #[arg(long, value_name = "FILE", conflicts_with = "tls_cert")]
    pub tls_cert_out: Option<PathBuf>,
    /// PEM CA certificates that `tls_client_auth` clients' certificates must chain to
    /// (RFC 8705 §2.1); default: the test-only fixtures/keys/mtls-ca.pem.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Run N nodes of one cluster (1 to 64) on consecutive ports from --addr's (ephemeral
    /// ones for port 0): one issuer (the first node's URL, or --public-url) in every node's
    /// metadata, each node's own endpoints there, one client registry and signing key, and
    /// one token store that each node sees through its own replica (see
    /// --replication-delay). Each node's URL is printed.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// With --nodes: how long a token or a revocation written on one node takes to reach the
    /// others (`500ms`, `2s`; a bare number is milliseconds). A node sees its own writes at
    /// once; 0 keeps the nodes consistent.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_delay)]
    pub replication_delay: Duration,
}

/// `--replication-delay`: `500ms`, `2s`, up to an hour.
fn parse_delay(text: &str) -> Result<Duration, String> {
    let ms = crate::load::threshold::parse_time_ms(text)
        .ok_or_else(|| format!("'{text}' is not a duration such as 500ms or 2s"))?;
    if !(0.0..=3_600_000.0).contains(&ms) {
        return Err("give 0 to 3600s".into());
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// 256-bit random strings.
    Opaque,
    /// RFC 9068 JWT access tokens signed with RS256.
    Jwt,
}

fn parse_public_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be http:// or https:// with a host".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("takes scheme://host[:port] only: the server's paths are fixed".into());
    }
    Ok(url)
}

fn fault_parser() -> impl TypedValueParser<Value = Fault> {
    let values = Fault::ALL
        .iter()
        .map(|f| PossibleValue::new(f.name()).help(f.rule()));
    PossibleValuesParser::new(values).map(|name| name.parse::<Fault>().expect("listed fault"))
}

fn variant_parser() -> impl TypedValueParser<Value = Variant> {
    let values = Variant::ALL
        .iter()
        .map(|v| PossibleValue::new(v.name()).help(v.allowed_by()));
    PossibleValuesParser::new(values).map(|name| name.parse::<Variant>().expect("listed variant"))
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> Result<(ServerConfig, JwtSigner), Failure> {
        let clients = match &self.clients {
            Some(path) => {
                ClientRegistry::from_file(path).map_err(|e| Failure::usage(e.to_string()))?
            }
            None => ClientRegistry::fixtures(),
        };
        let signer = match &self.signing_key {
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
                JwtSigner::from_pkcs8_pem(&pem)
                    .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
            }
            None => JwtSigner::fixture(),
        };
        let tls = self.tls_identity()?;
        if tls.is_none() {
            if let Some(f) = self
                .faults
                .iter()
                .find(|f| matches!(f, Fault::AcceptPlainHttp | Fault::TrustForwardedProto))
            {
                return Err(Failure::usage(format!(
                    "fault mode {f} only makes sense on an HTTPS server: add --tls"
                )));
            }
        }
        let client_ca = match &self.client_ca {
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
                reference_server::mtls::ClientCa::from_pem(&pem)
                    .map_err(|e| Failure::usage(format!("--client-ca {}: {e}", path.display())))?
            }
            None => reference_server::mtls::ClientCa::fixture(),
        };
        let config = ServerConfig {
            tls,
            client_ca,
            public_url: self
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned()),
            clients,
            token_ttl: Duration::from_secs(self.token_ttl),
            token_format: match self.token_format {
                FormatArg::Opaque => TokenFormat::Opaque,
                FormatArg::Jwt => TokenFormat::Jwt,
            },
            faults: self.faults.iter().copied().collect(),
            variants: self.variants.iter().copied().collect(),
            max_body_bytes: self.max_body_bytes,
            require_scope: self.require_scope,
            fapi2: self.fapi2,
            brute_force: (self.brute_force_limit > 0).then(|| BruteForce {
                max_failures: self.brute_force_limit,
                window: Duration::from_secs(self.brute_force_window.max(1)),
                max_delay: Duration::from_secs(self.brute_force_max_delay.max(1)),
            }),
            max_live_tokens: self.max_live_tokens.map(|n| n as usize),
            max_connections: self
                .max_connections
                .map_or_else(default_max_connections, |n| n as usize),
            replication_delay: self.replication_delay,
            ..ServerConfig::default()
        };
        Ok((config, signer))
    }
}

impl ServeArgs {
    fn tls_identity(&self) -> Result<Option<TlsIdentity>, Failure> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => TlsIdentity::from_pem_files(cert, key)
                .map(Some)
                .map_err(Failure::usage),
            _ if self.tls => {
                let host = self.addr.ip();
                let mut hosts = Vec::new();
                if !host.is_unspecified() {
                    hosts.push(host.to_string());
                }
                if let Some(public) = self.public_url.as_ref().and_then(|u| u.host_str()) {
                    hosts.push(public.trim_matches(['[', ']']).to_owned());
                }
                TlsIdentity::generate(&hosts)
                    .map(Some)
                    .map_err(Failure::runtime)
            }
            _ => Ok(None),
        }
    }

    /// Writes a generated certificate where clients can find it; says what was served.
    fn announce_tls(&self, identity: &TlsIdentity, port: u16) -> Result<(), Failure> {
        let fingerprint = identity.fingerprint();
        if let Some(cert) = &self.tls_cert {
            println!("TLS certificate {} (SHA-256 {fingerprint})", cert.display());
            return Ok(());
        }
        let path = self
            .tls_cert_out
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("grantcheck-serve-{port}.pem")));
        std::fs::write(&path, identity.certificate_pem())
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
        println!("TLS self-signed certificate, SHA-256 {fingerprint}");
        println!(
            "  written to {} (trust it with: grantcheck conform --ca-cert {})",
            path.display(),
            path.display()
        );
        Ok(())
    }
}

pub async fn run(args: ServeArgs) -> Result<Exit, Failure> {
    let (config, signer) = args.config()?;
    let tls = config.tls.clone();
    let limits = format!(
        "limits: {} live tokens, {} connections, brute force {}",
        config.live_token_limit(),
        config.max_connections,
        match config.brute_force {
            Some(b) => format!(
                "{} free failures per client and address, then waits up to {} s",
                b.max_failures,
                b.max_delay.as_secs()
            ),
            None => "off".into(),
        }
    );
    let mut realms = config.clients.realms();
    // The root realm first: it is the one most people want.
    realms.sort_by_key(|r| r != reference_server::ROOT_REALM);
    let faults: Vec<&str> = args.faults.iter().map(|f| f.name()).collect();
    let appended_metadata = args.faults.contains(&Fault::MetadataAppendedOnly);
    let nodes = usize::from(args.nodes);
    let delay = config.replication_delay;
    let started = if nodes > 1 {
        ReferenceServer::start_cluster_with_signer(config, signer, nodes, args.addr)
            .await
            .map(Running::Cluster)
    } else {
        ReferenceServer::start_with_signer(config, signer, args.addr)
            .await
            .map(Running::One)
    };
    let running = started.map_err(|e| {
        let advice = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                ": another process listens there; stop it, or pick another port (--addr {}:0 lets the system choose one and prints it)",
                args.addr.ip()
            )
        } else {
            String::new()
        };
        Failure::runtime(format!("cannot listen on {}: {e}{advice}", args.addr))
    })?;
    let server = match &running {
        Running::One(server) => server,
        Running::Cluster(cluster) => {
            println!(
                "grantcheck reference server: a cluster of {nodes} nodes, replication delay {} ms (one issuer; each node serves the paths below at its own URL)",
                delay.as_millis()
            );
            for (i, node) in cluster.nodes().iter().enumerate() {
                println!("node {} listening on {}", i + 1, node.listening_url());
            }
            cluster.node(0)
        }
    };
    if matches!(running, Running::One(_)) {
        println!(
            "grantcheck reference server listening on {}",
            server.listening_url()
        );
    }
    if args.public_url.is_some() {
        println!(
            "public URL {} (issuers and metadata use it)",
            server.base_url()
        );
    }
    if let Some(identity) = &tls {
        args.announce_tls(identity, server.addr().port())?;
    }
    for realm in &realms {
        println!("realm {realm}: issuer {}", server.issuer(realm));
        println!("  token          {}", server.token_url(realm));
        println!("  introspection  {}", server.introspection_url(realm));
        println!("  revocation     {}", server.revocation_url(realm));
        if appended_metadata {
            let issuer = server.issuer(realm);
            let fault = Fault::MetadataAppendedOnly;
            println!("  metadata       {issuer}/.well-known/oauth-authorization-server ({fault})");
        } else {
            println!("  metadata       {}", server.metadata_url(realm));
        }
    }
    println!("jwks            {}", server.jwks_url());
    println!("resource        {}", server.resource_url());
    println!("{limits}");
    if !faults.is_empty() {
        println!(
            "FAULT MODES ON (this server breaks rules on purpose): {}",
            faults.join(", ")
        );
    }
    if !args.variants.is_empty() {
        let names: Vec<&str> = args.variants.iter().map(|v| v.name()).collect();
        println!(
            "legal variants on (allowed by the RFCs): {}",
            names.join(", ")
        );
    }
    // Listening before the banner says so: a SIGTERM sent on reading it stops cleanly.
    let stop = stop_signal();
    println!("press Ctrl-C to stop");
    stop.await;
    eprintln!("stopping: finishing in-flight requests");
    match running {
        Running::One(server) => server.shutdown().await,
        Running::Cluster(cluster) => cluster.shutdown().await,
    }
    Ok(Exit::Success)
}

/// One server, or a cluster's nodes (`--nodes`).
enum Running {
    One(ReferenceServer),
    Cluster(reference_server::ReferenceCluster),
}

/// Resolves on Ctrl-C or SIGTERM; SIGTERM is listened for from the call on.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServeArgs;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(args: &[&str]) -> reference_server::ServerConfig {
        let parsed = Serve::try_parse_from([&["serve"], args].concat()).unwrap();
        parsed.args.config().unwrap().0
    }

    #[test]
    fn limits_have_defaults_and_flags() {
        let default = config(&[]);
        assert_eq!(default.max_live_tokens, None);
        assert!((10_000..=1_000_000).contains(&default.live_token_limit()));
        assert_eq!(
            default.max_connections,
            reference_server::default_max_connections()
        );
        assert_eq!(
            default.brute_force.unwrap().max_delay,
            std::time::Duration::from_secs(30)
        );
        let set = config(&[
            "--max-live-tokens",
            "500",
            "--max-connections",
            "20",
            "--brute-force-lockout",
            "7",
        ]);
        assert_eq!(set.live_token_limit(), 500);
        assert_eq!(set.max_connections, 20);
        assert_eq!(
            set.brute_force.unwrap().max_delay,
            std::time::Duration::from_secs(7)
        );
        assert!(Serve::try_parse_from(["serve", "--max-live-tokens", "0"]).is_err());
    }

    #[test]
    fn nodes_and_replication_delay_have_defaults_and_take_units() {
        let parse = |args: &[&str]| Serve::try_parse_from([&["serve"], args].concat());
        let default = parse(&[]).unwrap().args;
        assert_eq!(default.nodes, 1);
        assert_eq!(config(&[]).replication_delay, std::time::Duration::ZERO);
        let cluster = parse(&["--nodes", "3", "--replication-delay", "500ms"]).unwrap();
        assert_eq!(cluster.args.nodes, 3);
        let delay = cluster.args.config().unwrap().0.replication_delay;
        assert_eq!(delay, std::time::Duration::from_millis(500));
        assert_eq!(
            config(&["--replication-delay", "2s"]).replication_delay,
            std::time::Duration::from_secs(2)
        );
        for bad in [
            &["--nodes", "0"][..],
            &["--nodes", "65"],
            &["--replication-delay", "soon"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn require_scope_is_off_unless_asked_for() {
        assert!(!config(&[]).require_scope);
        assert!(config(&["--require-scope"]).require_scope);
        assert!(!config(&[]).fapi2);
        assert!(config(&["--fapi2"]).fapi2);
    }
}
