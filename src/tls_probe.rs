//! TLS probes for the FAPI 2.0 profile's network rules (FAPI 2.0 Security Profile §5.2.1
//! item 2: TLS 1.2 or later; §5.2.2 item 1: with TLS 1.2, only BCP 195's recommended cipher
//! suites at endpoints not used by web browsers).
//!
//! A probe writes one hand-made ClientHello over a plain TCP stream and reads only the
//! server's first record: a ServerHello means the server would go on with what was offered;
//! an alert, a closed or reset connection or silence means it refused. No handshake is ever
//! finished and nothing else is sent.
//!
//! The bytes are written by hand on purpose: rustls (the project's TLS stack) cannot offer
//! TLS 1.0/1.1 or the weak suites, and there is no maintained crate for sending deliberately
//! weak ClientHellos. The hello carries no `supported_versions` extension, so a TLS 1.3
//! server must answer it as TLS 1.2 or lower (RFC 8446 §4.2.1).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[cfg(test)]
mod tests;

/// The most of the server's first record that is read.
const MAX_RECORD: usize = 16 * 1024;

pub const TLS1_0: u16 = 0x0301;
pub const TLS1_1: u16 = 0x0302;
pub const TLS1_2: u16 = 0x0303;

/// The suites a server that still speaks TLS 1.0/1.1 would choose from: AES-CBC with
/// ECDHE and with static RSA.
const LEGACY_SUITES: &[u16] = &[0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035];

/// TLS 1.2 suites that are unambiguously not among BCP 195's recommended ones (RFC 9325
/// §4.2 recommends only AEAD suites with forward secrecy): static-RSA key exchange, CBC with
/// ECDHE, 3DES. Neither ChaCha20-Poly1305 nor ECDHE-AES-GCM, and no DHE (whose status
/// changed between RFC 7525 and RFC 9325), so a finding is never a false alarm.
const WEAK_TLS12_SUITES: &[u16] = &[
    0xC027, 0xC028, 0xC013, 0xC014, 0xC023, 0xC024, 0xC009, 0xC00A, 0x009C, 0x009D, 0x003C, 0x003D,
    0x002F, 0x0035, 0x000A,
];

/// The IANA name of a suite a probe offers, or its number.
pub fn suite_name(suite: u16) -> String {
    let name = match suite {
        0x000A => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002F => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x003C => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003D => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x009C => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0xC009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xC00A => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xC013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xC014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xC023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xC028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        _ => return format!("suite 0x{suite:04X}"),
    };
    format!("{name} (0x{suite:04X})")
}

/// A protocol version as people name it.
pub fn version_name(version: u16) -> String {
    match version {
        0x0300 => "SSL 3.0".into(),
        TLS1_0 => "TLS 1.0".into(),
        TLS1_1 => "TLS 1.1".into(),
        TLS1_2 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v => format!("version 0x{v:04X}"),
    }
}

/// What a probe offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// client_version TLS 1.1 with the CBC suites such servers use.
    Tls11,
    /// client_version TLS 1.0 with the same suites.
    Tls10,
    /// client_version TLS 1.2 with only suites BCP 195 does not recommend.
    WeakTls12Suites,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Tls11,
        ProbeKind::Tls10,
        ProbeKind::WeakTls12Suites,
    ];

    pub fn client_version(self) -> u16 {
        match self {
            ProbeKind::Tls11 => TLS1_1,
            ProbeKind::Tls10 => TLS1_0,
            ProbeKind::WeakTls12Suites => TLS1_2,
        }
    }

    pub fn suites(self) -> &'static [u16] {
        match self {
            ProbeKind::Tls11 | ProbeKind::Tls10 => LEGACY_SUITES,
            ProbeKind::WeakTls12Suites => WEAK_TLS12_SUITES,
        }
    }

    /// True for the probes of a version below TLS 1.2.
    pub fn is_legacy_version(self) -> bool {
        matches!(self, ProbeKind::Tls11 | ProbeKind::Tls10)
    }

    pub fn describe(self) -> &'static str {
        match self {
            ProbeKind::Tls11 => "a TLS 1.1 ClientHello",
            ProbeKind::Tls10 => "a TLS 1.0 ClientHello",
            ProbeKind::WeakTls12Suites => {
                "a TLS 1.2 ClientHello offering only suites BCP 195 does not recommend (static RSA, CBC, 3DES)"
            }
        }
    }
}

/// How the server answered a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It would go on: its ServerHello's version and chosen suite.
    ServerHello { version: u16, suite: u16 },
    /// It refused with an alert.
    Alert { level: u8, description: u8 },
    /// It refused otherwise: closed or reset the connection, said nothing in time, or
    /// answered something that is not TLS (what happened, in words).
    Refused(String),
    /// The probe could not be made (no TCP connection): nothing was judged.
    Unreachable(String),
}

impl Answer {
    /// The answer in a few words, for a verdict's message.
    pub fn describe(&self) -> String {
        match self {
            Answer::ServerHello { version, suite } => format!(
                "a ServerHello for {} with {}",
                version_name(*version),
                suite_name(*suite)
            ),
            Answer::Alert { level, description } => format!(
                "a {} alert, {}",
                if *level == 2 { "fatal" } else { "warning" },
                alert_name(*description)
            ),
            Answer::Refused(what) | Answer::Unreachable(what) => what.clone(),
        }
    }
}

/// An alert description's name (RFC 8446 §6, RFC 5246 §7.2).
pub fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        112 => "unrecognized_name",
        _ => return format!("alert {description}"),
    };
    format!("{name} ({description})")
}

/// One probe of one origin, as the preflight keeps it in the target's baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProbe {
    /// `host:port`.
    pub origin: String,
    pub kind: ProbeKind,
    pub answer: Answer,
}

/// The ClientHello record for `kind`, naming `server_name` (a DNS name; none for an IP
/// address), with `random` as its 32 random bytes.
pub fn client_hello(kind: ProbeKind, server_name: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut extensions = Vec::new();
    if let Some(name) = server_name {
        let name = name.as_bytes();
        let mut list = vec![0u8]; // host_name
        push_u16_bytes(&mut list, name);
        let mut body = Vec::new();
        push_u16_bytes(&mut body, &list);
        extension(&mut extensions, 0x0000, &body);
    }
    // supported_groups: x25519, secp256r1, secp384r1.
    extension(
        &mut extensions,
        0x000A,
        &u16_list(&[0x001D, 0x0017, 0x0018]),
    );
    // ec_point_formats: uncompressed.
    extension(&mut extensions, 0x000B, &[1, 0]);
    // signature_algorithms: rsa_pkcs1_sha256, rsa_pkcs1_sha384, rsa_pkcs1_sha1,
    // ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, ecdsa_sha1, rsa_pss_rsae_sha256.
    let sigs = [0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203, 0x0804];
    extension(&mut extensions, 0x000D, &u16_list(&sigs));
    // renegotiation_info, empty (RFC 5746).
    extension(&mut extensions, 0xFF01, &[0]);

    let mut hello = Vec::new();
    hello.extend_from_slice(&kind.client_version().to_be_bytes());
    hello.extend_from_slice(&random);
    hello.push(0); // no session id
    push_u16_bytes(&mut hello, &u16s(kind.suites()));
    hello.extend_from_slice(&[1, 0]); // null compression only
    push_u16_bytes(&mut hello, &extensions);

    let mut handshake = vec![1u8]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    // The record layer says TLS 1.0, as clients do for their first record.
    let mut record = vec![22u8];
    record.extend_from_slice(&TLS1_0.to_be_bytes());
    push_u16_bytes(&mut record, &handshake);
    record
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A list of 16-bit values with its 16-bit length in bytes.
fn u16_list(values: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    push_u16_bytes(&mut out, &u16s(values));
    out
}

fn push_u16_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    push_u16_bytes(out, body);
}

/// A ClientHello read back: for tests and for fake servers in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHello {
    pub client_version: u16,
    pub suites: Vec<u16>,
    /// Extension types, in order.
    pub extensions: Vec<u16>,
    pub server_name: Option<String>,
}

/// Reads a ClientHello record (one record, one handshake message); `None` if it is not one.
pub fn parse_client_hello(record: &[u8]) -> Option<ParsedHello> {
    let mut r = Reader(record);
    (r.u8()? == 22).then_some(())?;
    r.u16()?;
    let mut handshake = Reader(r.vec16()?);
    (handshake.u8()? == 1).then_some(())?;
    let len = handshake.u24()?;
    let mut hello = Reader(handshake.take(len)?);
    let client_version = hello.u16()?;
    hello.take(32)?;
    let session = hello.u8()? as usize;
    hello.take(session)?;
    let suites = hello
        .vec16()?
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    let suites = suites.collect();
    let compression = hello.u8()? as usize;
    hello.take(compression)?;
    let mut parsed = ParsedHello {
        client_version,
        suites,
        extensions: Vec::new(),
        server_name: None,
    };
    if hello.0.is_empty() {
        return Some(parsed);
    }
    let mut extensions = Reader(hello.vec16()?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let mut body = Reader(extensions.vec16()?);
        if kind == 0 {
            let mut list = Reader(body.vec16()?);
            list.u8()?;
            parsed.server_name = Some(String::from_utf8_lossy(list.vec16()?).into_owned());
        }
        parsed.extensions.push(kind);
    }
    Some(parsed)
}

/// A minimal ServerHello record choosing `suite` at `version` (for fake servers in tests).
pub fn server_hello(version: u16, suite: u16) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(&[7u8; 32]);
    hello.push(0);
    hello.extend_from_slice(&suite.to_be_bytes());
    hello.push(0);
    let mut handshake = vec![2u8];
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![22u8];
    record.extend_from_slice(&version.to_be_bytes());
    push_u16_bytes(&mut record, &handshake);
    record
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

/// Classifies the server's first record: its 5-byte header's content type and the body
/// read (at most [`MAX_RECORD`] bytes of it).
pub fn classify(content_type: u8, body: &[u8]) -> Answer {
    match content_type {
        22 => {
            let mut r = Reader(body);
            match (r.u8(), r.u24()) {
                (Some(2), Some(_)) => {}
                (Some(kind), _) => {
                    return Answer::Refused(format!(
                        "answered with handshake message {kind}, not a ServerHello"
                    ))
                }
                _ => return Answer::Refused("answered with an empty handshake record".into()),
            }
            let hello = (|| {
                let version = r.u16()?;
                r.take(32)?;
                let session = r.u8()? as usize;
                r.take(session)?;
                Some((version, r.u16()?))
            })();
            match hello {
                Some((version, suite)) => Answer::ServerHello { version, suite },
                None => Answer::Refused("answered with a truncated ServerHello".into()),
            }
        }
        21 if body.len() >= 2 => Answer::Alert {
            level: body[0],
            description: body[1],
        },
        other => Answer::Refused(format!(
            "answered with something other than TLS (first byte 0x{other:02X})"
        )),
    }
}

/// Probes `host:port` with `kind`, each step bounded by `timeout`. `host` is a DNS name or
/// an IP address (as in a URL, IPv6 without brackets).
pub async fn probe(host: &str, port: u16, kind: ProbeKind, timeout: Duration) -> Answer {
    let connect = TcpStream::connect((host, port));
    let mut stream = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Answer::Unreachable(format!("could not connect to {host}:{port}: {e}"))
        }
        Err(_) => {
            return Answer::Unreachable(format!(
                "could not connect to {host}:{port} within {} s",
                timeout.as_secs_f32()
            ))
        }
    };
    let server_name = (host.parse::<std::net::IpAddr>().is_err()).then_some(host);
    let hello = client_hello(kind, server_name, rand::random());
    if let Err(e) = stream.write_all(&hello).await {
        return Answer::Refused(format!(
            "closed the connection before the ClientHello was sent ({e})"
        ));
    }
    let mut header = [0u8; 5];
    match tokio::time::timeout(timeout, stream.read_exact(&mut header)).await {
        Err(_) => {
            return Answer::Refused(format!("said nothing within {} s", timeout.as_secs_f32()))
        }
        Ok(Err(e)) => return Answer::Refused(read_error(&e)),
        Ok(Ok(_)) => {}
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]])).min(MAX_RECORD);
    if !matches!(header[0], 21 | 22) {
        return classify(header[0], &[]);
    }
    let mut body = vec![0u8; len];
    match tokio::time::timeout(timeout, stream.read_exact(&mut body)).await {
        Ok(Ok(_)) => classify(header[0], &body),
        Ok(Err(e)) => Answer::Refused(format!(
            "{} in the middle of its first record",
            read_error(&e)
        )),
        Err(_) => Answer::Refused("stopped in the middle of its first record".into()),
    }
}

fn read_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "closed the connection without answering".into(),
        std::io::ErrorKind::ConnectionReset => "reset the connection".into(),
        _ => format!("failed to answer ({e})"),
    }
}

/// `host:port` of an `https` URL, with the host as [`probe`] takes it; `None` for others.
pub fn https_origin(url: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(url).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    Some((host, url.port_or_known_default()?))
}

/// Every probe of every distinct `https` origin among `urls`, all at once.
pub async fn probe_all(urls: &[&str], timeout: Duration) -> Vec<TlsProbe> {
    let mut origins: Vec<(String, u16)> = Vec::new();
    for url in urls {
        if let Some(origin) = https_origin(url) {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    let probes = origins.iter().flat_map(|(host, port)| {
        ProbeKind::ALL.into_iter().map(move |kind| async move {
            let label = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            TlsProbe {
                origin: label,
                kind,
                answer: probe(host, *port, kind, timeout).await,
            }
        })
    });
    futures_util::future::join_all(probes).await
}
