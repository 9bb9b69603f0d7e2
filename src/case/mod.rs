//! Conformance cases, the first stage of the pipeline: the TOML model (here), the loader
//! (`load.rs`: built-in and user files, with the line of every case and step) and the
//! selection a run makes (`select.rs`: `--only`, `--skip`, `--cases`).
//!
//! Cases are data: `scenarios/<area>/*.toml`, each file holding one or more `[[case]]`
//! tables with ordered `[[case.step]]`s. The built-in set is compiled in; `--cases DIR`
//! adds a user's own files without recompiling.

mod load;
mod select;

pub use load::{builtin, check_unique, from_dir, parse_file, LoadError, PROFILES};
pub use select::CaseSelection;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::checks::Check;

/// How much a case's requirement weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Level {
    /// RFC MUST: a violation fails the run.
    #[serde(rename = "MUST")]
    Must,
    /// RFC SHOULD: a violation warns.
    #[serde(rename = "SHOULD")]
    Should,
    /// Behaviour worth recording, not judged.
    #[serde(rename = "INFO")]
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        }
    }
}

/// Which endpoint a step calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    #[default]
    Token,
    Introspection,
    Revocation,
    Resource,
    Metadata,
    Jwks,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Introspection => "introspection",
            Endpoint::Revocation => "revocation",
            Endpoint::Resource => "resource",
            Endpoint::Metadata => "metadata",
            Endpoint::Jwks => "jwks",
        }
    }
}

/// The registered client a step acts as. Targets may lack all but `main`; a case that needs
/// a missing one is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The client under test (`--client-id`).
    Main,
    /// The resource server's client for introspection (`--introspect-client-id`).
    Introspector,
    /// Another confidential client (`--second-client-id`).
    Second,
    /// A client whose tokens expire within seconds; the main client where there is none.
    Short,
    /// A client whose id and secret need form-encoding.
    Special,
    /// A disabled client.
    Disabled,
    /// A confidential client not allowed the client credentials grant.
    NoGrant,
    /// A public client (no secret).
    Public,
    /// A client registered with `dpop_bound_access_tokens` (RFC 9449 §5.2): every token
    /// request needs a DPoP proof (`--dpop-client-id`).
    DpopBound,
    /// A client that authenticates with a JWT signed by its private key (`private_key_jwt`,
    /// RFC 7523 §2.2): `--client-auth private_key_jwt --client-key FILE`.
    KeyJwt,
    /// A client that authenticates with a JWT MACed with its secret (`client_secret_jwt`):
    /// `--client-auth client_secret_jwt`.
    SecretJwt,
    /// A `tls_client_auth` client (RFC 8705 §2.1): `--mtls-client-id` with `--client-cert`.
    Mtls,
    /// A `self_signed_tls_client_auth` client (RFC 8705 §2.2): the embedded run's.
    SelfSignedMtls,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Introspector => "introspector",
            Role::Second => "second",
            Role::Short => "short",
            Role::Special => "special",
            Role::Disabled => "disabled",
            Role::NoGrant => "no_grant",
            Role::Public => "public",
            Role::DpopBound => "dpop_bound",
            Role::KeyJwt => "key_jwt",
            Role::SecretJwt => "secret_jwt",
            Role::Mtls => "mtls",
            Role::SelfSignedMtls => "self_signed_mtls",
        }
    }
}

/// How a step authenticates its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// `client_secret_basic`: id and secret form-encoded, then Base64 (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
    /// No client authentication.
    None,
    /// `client_id` in the body and nothing else: how a mutual-TLS client (RFC 8705 §2,
    /// with its certificate) or a public client (RFC 6749 §2.1) identifies itself.
    ClientId,
    /// A JWT client assertion in the body (`client_assertion_type`, `client_assertion`,
    /// `client_id`; RFC 7521 §4.2, RFC 7523 §2.2), made with the step client's key
    /// (`key_jwt`) or secret (`secret_jwt`), with the step's `assertion` flaw.
    Jwt,
}

/// `status = 400` or `status = [400, 401]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    One(u16),
    Any(Vec<u16>),
}

impl StatusSpec {
    pub fn allows(&self, status: u16) -> bool {
        match self {
            StatusSpec::One(s) => *s == status,
            StatusSpec::Any(list) => list.contains(&status),
        }
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusSpec::One(s) => write!(f, "{s}"),
            StatusSpec::Any(list) => {
                let parts: Vec<String> = list.iter().map(u16::to_string).collect();
                write!(f, "one of {}", parts.join(", "))
            }
        }
    }
}

/// What a step's response must look like. Every part is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<StatusSpec>,
    /// Statuses the response must not have.
    #[serde(default)]
    pub status_not: Vec<u16>,
    /// JSON pointer → exact value (`"/error" = "invalid_request"`).
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
    /// JSON pointer → a value (template) the member must not have.
    #[serde(default)]
    pub json_not: BTreeMap<String, String>,
    /// JSON pointer → allowed values.
    #[serde(default)]
    pub json_one_of: BTreeMap<String, Vec<toml::Value>>,
    /// JSON pointer → a value the array there must contain.
    #[serde(default)]
    pub array_contains: BTreeMap<String, String>,
    /// JSON pointer → a value the array there must not contain (no array there passes).
    #[serde(default)]
    pub array_excludes: BTreeMap<String, String>,
    /// JSON pointers that must be present.
    #[serde(default)]
    pub present: Vec<String>,
    /// JSON pointers that must be absent.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Header → substring it must contain (case-insensitive).
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub header_absent: Vec<String>,
    /// Named checks (see `grantcheck list --checks`).
    #[serde(default)]
    pub checks: Vec<Spanned<Check>>,
    /// `WWW-Authenticate` must use this scheme (case-insensitive).
    pub challenge_scheme: Option<String>,
    /// `WWW-Authenticate` must carry `error="…"` with this value.
    pub challenge_error: Option<String>,
    /// These expectations judge a token response: when the request was refused (not
    /// 2xx), there is nothing to judge and the case is blocked, not failed (other cases
    /// judge the refusal). A 2xx without a token is still judged.
    #[serde(default)]
    pub only_token_responses: bool,
    /// These expectations judge the form of a refusal (its status, error code, challenge):
    /// when the request was accepted (2xx) there is no refusal to judge and the case is
    /// skipped with the reason; the case that judges the refusal itself fails it, so one
    /// deviation is not counted twice.
    #[serde(default)]
    pub only_refusals: bool,
    /// This step judges the format of an error response (RFC 6749 §5.2: JSON with an
    /// `error` member). Every other step leaves an error body that is not a JSON object
    /// unread, so that format is judged once.
    #[serde(default)]
    pub judges_error_format: bool,
}

/// One request and what its response must satisfy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The line of its `[[case.step]]` header in the case file (1-based; 0 when unknown).
    #[serde(skip)]
    pub line: usize,
    pub name: Option<String>,
    /// A step that only prepares what the case judges (gets the token it is about, revokes
    /// it first). When it does not give what is needed (a 2xx, and at the token endpoint
    /// an access token; every capture), the case is blocked with the reason, not failed.
    #[serde(default)]
    pub setup: bool,
    /// Send the form exactly as written. Otherwise a client-credentials token request
    /// without `scope` gets the scope the preflight found the target to require.
    #[serde(default)]
    pub exact: bool,
    #[serde(default)]
    pub endpoint: Endpoint,
    /// Default: GET for resource, metadata and jwks; POST otherwise.
    pub method: Option<String>,
    /// Default: `introspector` at the introspection endpoint, `main` elsewhere.
    pub client: Option<Role>,
    /// Default at token, introspection and revocation: how the step's client authenticates
    /// (`--client-auth`; `basic` for a client with a secret), or `basic` when the step
    /// writes `id` or `secret` (it is about them); `none` elsewhere.
    pub auth: Option<Auth>,
    /// Template for the client id to present (default `{client.id}`).
    pub id: Option<String>,
    /// Template for the secret to present (default `{client.secret}`).
    pub secret: Option<String>,
    /// With `auth = "jwt"`: the defect the client assertion carries (`expired`, `alg_none`,
    /// … see `grantcheck::jose::AssertionFlaw`); none when absent.
    pub assertion: Option<crate::jose::AssertionFlaw>,
    /// With `auth = "jwt"`: a `client_assertion_type` template instead of the JWT bearer
    /// type (RFC 7523 §2.2).
    pub assertion_type: Option<String>,
    /// A raw `Authorization` value; replaces `auth`.
    pub authorization: Option<String>,
    /// For the resource endpoint: `Authorization: Bearer <template>`.
    pub bearer: Option<String>,
    /// Attach a DPoP proof (RFC 9449 §4) made with the run's DPoP key, with this defect
    /// (`none`: a well-formed proof; see `grantcheck::jose::DpopFlaw`). When the answer asks
    /// for a nonce (`DPoP-Nonce`), the step is sent once more with it, as a client would
    /// (RFC 9449 §8), unless the defect is about the nonce.
    pub dpop: Option<crate::jose::DpopFlaw>,
    /// `Authorization: DPoP <template>` (RFC 9449 §7.1); the proof's `ath` hashes it.
    pub dpop_token: Option<String>,
    /// The token (template) the proof's `ath` is made for, instead of the one presented:
    /// a proof made for another token.
    pub dpop_ath_token: Option<String>,
    /// Send two `DPoP` headers, each a well-formed proof.
    #[serde(default)]
    pub dpop_twice: bool,
    /// Send no DPoP proof, even as a DPoP-bound client (which otherwise sends one with every
    /// token request): for cases about requests without one.
    #[serde(default)]
    pub no_dpop: bool,
    /// Judge the first answer as it came, without the resend a server's `DPoP-Nonce` asks
    /// for (the nonce is still kept for the next step): for cases about the demand itself.
    #[serde(default)]
    pub no_nonce_retry: bool,
    /// Present this client certificate in the TLS handshake (RFC 8705): `client`,
    /// `self_signed`, `other`, `expired` or `none`. Without it no certificate is presented.
    pub cert: Option<crate::mtls::Cert>,
    /// A raw query string template appended to the URL.
    pub query: Option<String>,
    /// Form parameters in order; values are templates.
    pub form: Option<toml::Table>,
    /// A raw body template; replaces `form`.
    pub body: Option<String>,
    /// Content-Type; default form-urlencoded when there is a body; "" sends none.
    pub content_type: Option<String>,
    /// Extra headers (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Before sending, wait until the token captured earlier has expired (`expires_in` + 1 s);
    /// skipped when that is longer than `--max-wait`.
    #[serde(default)]
    pub wait_for_expiry: bool,
    /// Send to the endpoint's URL with `http://` instead of `https://` (same host, and same
    /// port when the URL names one), to see whether the server takes requests in clear.
    /// A connection that fails or is dropped counts as refusal: the case passes there.
    /// Skipped for endpoints that are not HTTPS.
    #[serde(default)]
    pub plain_http: bool,
    /// Run this step only when an earlier step obtained an access token (`{access_token}`);
    /// otherwise it and the steps after it are left out.
    #[serde(default)]
    pub if_token: bool,
    /// Run this step only when the captured value `var` contains `contains` (or lacks
    /// `lacks`); otherwise it and the steps after it are left out.
    pub run_if: Option<Condition>,
    /// A race (`parallel = 20`, or `true` for the run's `--race-width`): the same request,
    /// byte for byte, sent that many times at once, each copy on its own connection and
    /// released with the others by its last byte. Its `expect.checks` judge the set of
    /// answers (`at_most_one_success`, …); it captures nothing.
    pub parallel: Option<Parallel>,
    /// With `parallel`: build each copy anew (its own client assertion and DPoP proof, as
    /// many clients' requests would be) instead of sending the same bytes N times: for
    /// races about concurrency itself, not about one credential used many times.
    #[serde(default)]
    pub fresh_copies: bool,
    /// With `parallel`: release the copies and go on without waiting for their answers,
    /// which are read meanwhile and recorded, not judged, once the next step has its
    /// answer: requests in flight across that step (a revocation).
    #[serde(default)]
    pub background: bool,
    /// Send the step's request one after the other, up to this many times, until an answer
    /// is not a refused authentication (401, or `invalid_client`): a throttle. Then wait as
    /// long as its `Retry-After` asks (within `--max-wait`, else the case skips) and set
    /// `{throttled_after}` to how many were refused first, or `never`.
    pub probe_throttle: Option<usize>,
    /// Send this step once for every token the case's last race was issued (each in turn as
    /// `{raced_token}`), one after another; its `expect.checks` judge the answers as a set.
    #[serde(default)]
    pub each_raced_token: bool,
    /// Send this step to every other node of the cluster (`--node`: the same endpoint on
    /// that node's origin), one after another; its `expect.checks` judge the answers as a
    /// set. A case with such a step needs `requires = ["cluster"]`.
    #[serde(default)]
    pub each_node: bool,
    /// With `each_node`: ask each node again, every 25 ms, until it refuses the token
    /// (introspection `active: false`, a 4xx at the resource), for at most
    /// `--max-propagation`; how long each node took is recorded with the case.
    #[serde(default)]
    pub until_refused: bool,
    /// Name → JSON pointer into the response, for later steps (`{name}`); `@accepted`
    /// captures `yes` for a 2xx answer and `no` for any other.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Name → the value a capture takes when the response omits it, where the
    /// specification gives a default (RFC 8414 §2: no `token_endpoint_auth_methods_supported`
    /// means `["client_secret_basic"]`).
    #[serde(default)]
    pub capture_default: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,
}

/// `parallel = 20` (copies) or `parallel = true` (the run's `--race-width`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Parallel {
    Width(bool),
    Copies(usize),
}

impl Parallel {
    /// How many copies, with `width` for `true`; `None` for `false`.
    pub fn copies(self, width: usize) -> Option<usize> {
        match self {
            Parallel::Width(true) => Some(width),
            Parallel::Width(false) => None,
            Parallel::Copies(n) => Some(n),
        }
    }
}

impl Step {
    /// Whether the step's checks judge a set of answers (a race, or one answer per raced
    /// token).
    pub fn judges_a_set(&self) -> bool {
        self.each_raced_token
            || self.each_node
            || self.parallel.is_some_and(|p| p.copies(2).is_some())
    }
}

/// `run_if = { var = "methods", contains = "client_secret_post" }`, or
/// `run_if = { var = "token_type", lacks = "dpop" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub var: String,
    /// The variable holds this text (case-sensitive).
    pub contains: Option<String>,
    /// The variable is unset, or does not hold this text compared case-insensitively.
    pub lacks: Option<String>,
    /// When the condition does not hold, the case is skipped with this reason instead of
    /// ending with what ran: for cases whose premise the server may legally decline (a
    /// token it chose not to bind, RFC 9449 §5).
    pub otherwise_skip: Option<String>,
}

impl Condition {
    /// The condition in words, for a case left out because it did not hold.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.contains {
            parts.push(format!("'{}' does not contain {c}", self.var));
        }
        if let Some(l) = &self.lacks {
            parts.push(format!("'{}' contains {l}", self.var));
        }
        parts.join(" and ")
    }

    /// Whether the condition holds for the variable's value.
    pub fn holds(&self, value: Option<&str>) -> bool {
        let contains = self
            .contains
            .as_ref()
            .is_none_or(|c| value.is_some_and(|v| v.contains(c.as_str())));
        let lacks = self.lacks.as_ref().is_none_or(|l| {
            value.is_none_or(|v| !v.to_ascii_lowercase().contains(&l.to_ascii_lowercase()))
        });
        contains && lacks
    }
}

/// Capabilities a case needs from the target beyond the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Introspection,
    Revocation,
    Resource,
    Metadata,
    Jwks,
    /// An HTTPS token endpoint (TLS cases cannot run over plain HTTP).
    Https,
    /// A second confidential client (`--second-client-id`), named in a template.
    SecondClient,
    /// A scope the main client may request (`--scope`).
    Scope,
    /// Two scopes the main client may request (`--scope "a b"`).
    TwoScopes,
    /// A scope the main client may not have (`--forbidden-scope`).
    ForbiddenScope,
    /// A scope the protected resource requires and a second scope it does not accept
    /// (known for the embedded server only).
    ResourceScope,
    /// A DPoP key (RFC 9449): always for the embedded server, `--dpop ALG` for others.
    Dpop,
    /// A `private_key_jwt` client (`--client-auth private_key_jwt --client-key FILE`).
    PrivateKeyJwtClient,
    /// A `client_secret_jwt` client (`--client-auth client_secret_jwt`).
    ClientSecretJwtClient,
    /// Mutual TLS (RFC 8705): an HTTPS target and a client certificate (`--client-cert`).
    Mtls,
    /// A JWT client other than the main one, for cases where the assertion's client and
    /// `client_id` must name two clients (not so when the main client is the JWT client).
    MainClientApart,
    /// A main client that authenticates without a certificate (a request as a mutual-TLS
    /// client cannot go without one).
    MainWithoutCertificate,
    /// Other nodes behind the issuer (`--node URL`): the cluster cases.
    Cluster,
}

/// A specification a server may or may not implement, whose rules bind only a server that
/// claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionalProfile {
    /// RFC 9068, JWT access tokens: under RFC 6749 an access token's format is the
    /// server's choice, so a JWT of another shape breaks no rule unless the server says it
    /// follows RFC 9068.
    Rfc9068,
}

/// One conformance case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub title: String,
    /// The requirement it checks, e.g. "RFC 6749 §5.2".
    pub spec: String,
    pub level: Level,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub requires: Vec<Requirement>,
    /// Level under a profile where the specifications disagree (`oauth21 = "SHOULD"`).
    #[serde(default)]
    pub profiles: BTreeMap<String, Level>,
    /// Why the rule matters or what a failure usually means; shown with failures.
    pub note: Option<String>,
    /// An optional profile the case judges (`rfc9068`): the case is judged at its level
    /// only when the target claims the profile (`--rfc9068`), and recorded as INFO
    /// otherwise.
    pub optional_profile: Option<OptionalProfile>,
    /// The case belongs to this profile's rules alone (`fapi2`): it runs only under
    /// `--profile` that names it, and is left out of other runs (not skipped: not there).
    pub only_under: Option<String>,
    /// The case runs only when `--only` names its id or this word (`opt_in = "brute_force"`):
    /// for cases that do what a server may hold against the client (a burst of wrong
    /// secrets). Otherwise it is skipped, saying how to run it.
    pub opt_in: Option<String>,
    /// Set by the selection when `--only` named this opt-in case.
    #[serde(skip)]
    pub opted_in: bool,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// Where the case was loaded from (file, and area = the folder).
    #[serde(skip)]
    pub source: String,
    /// The line of its `[[case]]` header (1-based).
    #[serde(skip)]
    pub line: usize,
    #[serde(skip)]
    pub area: String,
}

impl Case {
    /// The level under `profile`.
    pub fn level_for(&self, profile: &str) -> Level {
        self.profiles.get(profile).copied().unwrap_or(self.level)
    }

    /// Whether the case runs under `profile`: every case, but those that belong to another
    /// profile alone (`only_under`).
    pub fn runs_under(&self, profile: &str) -> bool {
        self.only_under.as_deref().is_none_or(|p| p == profile)
    }

    /// True when `filter` names this case's id or one of its tags or its area.
    pub fn matches(&self, filter: &str) -> bool {
        self.id.eq_ignore_ascii_case(filter)
            || self.area == filter
            || self.tags.iter().any(|t| t == filter)
            || (filter.ends_with('*')
                && self
                    .id
                    .to_ascii_uppercase()
                    .starts_with(&filter[..filter.len() - 1].to_ascii_uppercase()))
    }
}
