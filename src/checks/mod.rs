//! Named checks: expectations a fixed value cannot express. Cases refer to them by name in
//! `expect.checks`; each returns pass, a failure that says what was expected and what came
//! back, or a reason the check does not apply (which skips the case).
//!
//! The `checks!` table below is the only list of checks: each line names the variant, the
//! name cases use, the function that judges it and its description. The functions live in
//! one file per subject; `Check::evaluate` calls the one the table names.

mod challenge;
mod cluster;
mod dpop;
mod errors;
mod introspection;
mod jwt;
mod metadata;
mod mtls;
mod race;
mod scope;
#[cfg(test)]
mod tests;
mod tls;
mod token;
mod transport;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::exchange::Response;
use crate::template::Vars;

pub use crate::headers::{challenge_param, challenge_scheme};
pub use race::{evaluated_guess, tally, RaceAnswers};

macro_rules! checks {
    ($($variant:ident = $name:literal => $function:path : $doc:literal;)*) => {
        /// A named check.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum Check { $(#[serde(rename = $name)] #[doc = $doc] $variant),* }

        impl Check {
            pub const ALL: &'static [Check] = &[$(Check::$variant),*];
            pub fn name(self) -> &'static str { match self { $(Check::$variant => $name),* } }
            pub fn describe(self) -> &'static str { match self { $(Check::$variant => $doc),* } }
            /// The function that judges this check.
            fn function(self) -> fn(&Context<'_>) -> Verdict {
                match self { $(Check::$variant => $function),* }
            }
        }
    };
}

checks! {
    TokenResponse = "token_response" => token::token_response:
        "200, JSON object with a non-empty printable-ASCII access_token and a token_type (RFC 6749 §5.1)";
    TokenTypeBearer = "token_type_bearer" => token::token_type_bearer:
        "token_type is Bearer, compared case-insensitively (RFC 6749 §5.1, §7.1)";
    ExpiresInPositiveInteger = "expires_in_positive_integer" => token::expires_in_positive_integer:
        "expires_in, when present, is a positive JSON integer (RFC 6749 §5.1, Appendix A.14)";
    ExpiresInPresent = "expires_in_present" => token::expires_in_present:
        "expires_in is present (RFC 6749 §5.1 RECOMMENDED)";
    ExpiresInAtMostOneHour = "expires_in_at_most_one_hour" => token::expires_in_at_most_one_hour:
        "expires_in is at most 3600 seconds (RFC 6750 §5.3: short-lived bearer tokens)";
    NoStore = "no_store" => token::no_store:
        "Cache-Control includes no-store (RFC 6749 §5.1)";
    PragmaNoCache = "pragma_no_cache" => token::pragma_no_cache:
        "Pragma: no-cache (RFC 6749 §5.1)";
    JsonContentType = "json_content_type" => token::json_content_type:
        "Content-Type is application/json, parameters allowed";
    NoToken = "no_token" => token::no_token:
        "the response carries no access_token";
    RequestRefused = "request_refused" => token::request_refused:
        "the request is refused: a 4xx status and no access_token, whatever the status and error code (judged by their own cases)";
    NoRefreshToken = "no_refresh_token" => token::no_refresh_token:
        "no refresh_token (RFC 6749 §4.4.3)";
    ErrorResponse = "error_response" => errors::error_response:
        "JSON error body whose error, error_description and error_uri use only the allowed characters (RFC 6749 §5.2)";
    ErrorCodeRegistered = "error_code_registered" => errors::error_code_registered:
        "error is a registered code (RFC 6749 §5.2, §8.5)";
    ErrorStatusMatchesCode = "error_status_matches_code" => errors::error_status_matches_code:
        "400, except invalid_client which may be 401 (RFC 6749 §5.2)";
    ChallengeOn401 = "challenge_on_401" => challenge::challenge_on_401:
        "every 401 carries WWW-Authenticate (RFC 9110 §15.5.2)";
    NoServerError = "no_server_error" => errors::no_server_error:
        "no 5xx for a client's mistake";
    ScopeIsString = "scope_is_string" => scope::scope_is_string:
        "scope, when present, is one space-delimited string (RFC 6749 §3.3, §5.1)";
    ScopeWithinRequest = "scope_within_request" => scope::scope_within_request:
        "the granted scope is within the requested scope";
    IntrospectedScopeMatchesGrant = "introspected_scope_matches_grant" => introspection::introspected_scope_matches_grant:
        "the token carries the scope the token response reported, or the requested one when it reported none (RFC 6749 §3.3, §5.1)";
    InactiveOnlyActive = "inactive_only_active" => introspection::inactive_only_active:
        "an inactive answer is {\"active\": false} and nothing else (RFC 7662 §2.2)";
    IntrospectionTypes = "introspection_types" => introspection::introspection_types:
        "introspection members have the RFC 7662 §2.2 JSON types";
    IntrospectionMatchesIssuance = "introspection_matches_issuance" => introspection::introspection_matches_issuance:
        "client_id, scope, iss and exp agree with the issuance (RFC 7662 §2.2)";
    Fapi2AuthMethods = "fapi2_auth_methods" => metadata::fapi2_auth_methods:
        "token_endpoint_auth_methods_supported offers only private_key_jwt, tls_client_auth and self_signed_tls_client_auth (FAPI 2.0 §5.3.2.1 item 6)";
    MetadataIssuerMatches = "metadata_issuer_matches" => metadata::metadata_issuer_matches:
        "the metadata issuer equals the issuer it was fetched for, exactly (RFC 8414 §3.3)";
    MetadataRequiredMembers = "metadata_required_members" => metadata::metadata_required_members:
        "issuer, token_endpoint and response_types_supported are present (RFC 8414 §2)";
    MetadataAtRfc8414Location = "metadata_at_rfc8414_location" => metadata::metadata_at_rfc8414_location:
        "RFC 8414 metadata is at the well-known URI inserted between host and path, not appended to the issuer (RFC 8414 §3, §3.1; skips OpenID-only servers)";
    MetadataNoFragment = "metadata_no_fragment" => metadata::metadata_no_fragment:
        "endpoint URLs carry no fragment (RFC 6749 §3.2, RFC 8414 §2)";
    JwtAccessToken = "jwt_access_token" => jwt::jwt_access_token:
        "a JWT access token has typ at+jwt and the RFC 9068 §2.2 claims (skips opaque tokens)";
    DpopCnfJkt = "dpop_cnf_jkt" => dpop::dpop_cnf_jkt:
        "an introspection answer's token_type, if any, is DPoP and its cnf.jkt, if any, is the RFC 7638 thumbprint of the run's DPoP key (RFC 9449 §6.2, §6.1)";
    DpopCnfJktShown = "dpop_cnf_jkt_shown" => dpop::dpop_cnf_jkt_shown:
        "an introspection answer shows the DPoP binding as cnf.jkt (RFC 9449 §6.2; other means are allowed)";
    DpopJwtCnfJkt = "dpop_jwt_cnf_jkt" => dpop::dpop_jwt_cnf_jkt:
        "a JWT access token's cnf.jkt, if any, is the RFC 7638 thumbprint of the run's DPoP key (RFC 9449 §6.1; skips opaque tokens)";
    DpopJwtCnfJktShown = "dpop_jwt_cnf_jkt_shown" => dpop::dpop_jwt_cnf_jkt_shown:
        "a JWT access token shows the DPoP binding as cnf.jkt (RFC 9449 §6.1; skips opaque tokens)";
    DpopTokenType = "dpop_token_type" => dpop::dpop_token_type:
        "a token response to a request with a DPoP proof says token_type DPoP, unless the token is visibly not bound (RFC 9449 §5); a JWT with cnf.jkt must say DPoP";
    DpopTokenTypeIntrospected = "dpop_token_type_introspected" => dpop::dpop_token_type_introspected:
        "a token whose response did not say token_type DPoP shows no cnf.jkt in introspection (RFC 9449 §5)";
    DpopChallenge = "dpop_challenge" => dpop::dpop_challenge:
        "the answer's DPoP challenge, among any others, carries error and algs (RFC 9449 §7.1 SHOULDs)";
    ResourceNonceDemand = "resource_nonce_demand" => dpop::resource_nonce_demand:
        "a resource's demand for its DPoP nonce is 401 with WWW-Authenticate: DPoP error=\"use_dpop_nonce\" and a DPoP-Nonce header (RFC 9449 §9; skips an answer that asks for none)";
    MtlsCnfX5t = "mtls_cnf_x5t" => mtls::mtls_cnf_x5t:
        "an introspection answer's cnf.x5t#S256 is the SHA-256 thumbprint of the run's client certificate (RFC 8705 §3.2)";
    MtlsJwtCnfX5t = "mtls_jwt_cnf_x5t" => mtls::mtls_jwt_cnf_x5t:
        "a JWT access token's cnf.x5t#S256 is the SHA-256 thumbprint of the run's client certificate (RFC 8705 §3.1; skips opaque tokens)";
    DpopAlgsAsymmetric = "dpop_algs_asymmetric" => dpop::dpop_algs_asymmetric:
        "dpop_signing_alg_values_supported lists neither none nor a MAC algorithm (RFC 9449 §11.6; skips metadata without it)";
    JwtSigned = "jwt_signed" => jwt::jwt_signed:
        "a JWT access token is signed: alg is not none (RFC 9068 §2.1; skips opaque tokens)";
    NoDuplicateJsonKeys = "no_duplicate_json_keys" => token::no_duplicate_json_keys:
        "no member appears twice in the JSON body (RFC 6749 §3.2)";
    ChallengeWithoutError = "challenge_without_error" => challenge::challenge_without_error:
        "a challenge to a request without credentials carries no error code (RFC 6750 §3.1)";
    ChallengeRealmOnce = "challenge_realm_once" => challenge::challenge_realm_once:
        "the challenge has at most one realm attribute (RFC 6750 §3)";
    AllowOn405 = "allow_on_405" => challenge::allow_on_405:
        "a 405 lists the allowed methods in Allow (RFC 9110 §15.5.6)";
    TokenOrInvalidScope = "token_or_invalid_scope" => scope::token_or_invalid_scope:
        "either a token response or 400 invalid_scope (RFC 6749 §3.3)";
    ForbiddenScopeNotGranted = "forbidden_scope_not_granted" => scope::forbidden_scope_not_granted:
        "a scope the client may not have is not granted (RFC 6819 §5.1.5.1)";
    NoNullMembers = "no_null_members" => token::no_null_members:
        "optional members are omitted rather than sent as null";
    CleartextRefused = "cleartext_refused" => transport::cleartext_refused:
        "a request in plain HTTP is refused: no 2xx, no token, and no client authentication (401 or invalid_client) (RFC 6749 §3.2, §1.6)";
    InvalidClientChallenge = "invalid_client_challenge" => challenge::invalid_client_challenge:
        "invalid_client for credentials sent in the Authorization header is 401 with a WWW-Authenticate challenge, Basic for Basic (RFC 6749 §5.2)";
    NoCredentialResendingRedirect = "no_credential_resending_redirect" => transport::no_credential_resending_redirect:
        "a redirect is not 307/308, which make clients send the request and its credentials again (RFC 9110 §15.4.8, §15.4.9)";
    TlsNoVersionBelow12 = "tls_no_version_below_1_2" => tls::tls_no_version_below_1_2:
        "no probed origin goes on with a TLS 1.1 or TLS 1.0 ClientHello (FAPI 2.0 §5.2.1 item 2; judges the preflight's TLS probes)";
    TlsOnlyRecommendedSuites = "tls_only_recommended_suites" => tls::tls_only_recommended_suites:
        "no probed origin goes on with a TLS 1.2 ClientHello offering only suites BCP 195 does not recommend (FAPI 2.0 §5.2.2 item 1; judges the preflight's TLS probes)";
    AtMostOneSuccess = "at_most_one_success" => race::at_most_one_success:
        "of a race's copies of one request, at most one is accepted: a 2xx with an access token at a token endpoint, any 2xx elsewhere (blocked when none is)";
    AllDistinctTokens = "all_distinct_tokens" => race::all_distinct_tokens:
        "every token a race's answers carry is distinct";
    AllInactive = "all_inactive" => race::all_inactive:
        "every introspection answer of the set says active: false (RFC 7662 §2.2)";
    AllActiveForClient = "all_active_for_client" => race::all_active_for_client:
        "every introspection answer of the set says active: true and names the client the tokens were issued to, if any (RFC 7662 §2.2)";
    ActiveOnEveryNode = "active_on_every_node" => cluster::active_on_every_node:
        "every other node of the cluster introspects a token another node just issued as active, for its client (RFC 7662 §2.2)";
    AcceptedOnEveryNode = "accepted_on_every_node" => cluster::accepted_on_every_node:
        "every other node's resource accepts a token another node just issued (RFC 6750 §2.1)";
    RefusedOnEveryNode = "refused_on_every_node" => cluster::refused_on_every_node:
        "every other node refuses a token revoked on another node within --max-propagation (RFC 7009 §2.1)";
    GuessesWithinLimit = "guesses_within_limit" => race::guesses_within_limit:
        "how many of a race's wrong secrets were evaluated (401, or 400 invalid_client) before throttling answered; more than --max-parallel-guesses fails (RFC 6749 §2.3.1)";
}

impl Check {
    pub fn evaluate(self, cx: &Context<'_>) -> Verdict {
        (self.function())(cx)
    }

    /// Whether the check judges a set of answers (a race's), not one.
    pub fn judges_a_set(self) -> bool {
        matches!(
            self,
            Check::AtMostOneSuccess
                | Check::AllDistinctTokens
                | Check::AllInactive
                | Check::AllActiveForClient
                | Check::GuessesWithinLimit
                | Check::ActiveOnEveryNode
                | Check::AcceptedOnEveryNode
                | Check::RefusedOnEveryNode
        )
    }

    /// Whether the check reads an error response's body (its `error` member): such a check
    /// is not judged on an error body that is not JSON, whose format ERR-002 judges.
    pub fn reads_error_body(self) -> bool {
        matches!(
            self,
            Check::ErrorResponse
                | Check::ErrorCodeRegistered
                | Check::ErrorStatusMatchesCode
                | Check::TokenOrInvalidScope
        )
    }
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    /// The check does not apply to this target; the case is skipped with this reason.
    NotApplicable(String),
    /// What the check judges did not happen (no token was issued to judge): the case is
    /// blocked with this reason, not failed.
    Blocked(String),
    /// Nothing to judge, and the case is decided: it passes, recording this (a behaviour
    /// the specification allows, such as a server that declines to bind a token).
    Observed(String),
}

/// What a check may look at.
pub struct Context<'a> {
    pub response: &'a Response,
    /// The `scope` the request asked for, if any.
    pub requested_scope: Option<&'a str>,
    pub vars: &'a Vars,
    /// The target's issuer identifier, when known.
    pub issuer: Option<&'a str>,
    /// The scheme of the request's `Authorization` header (`Basic`, `Bearer`, …), if any.
    pub auth_scheme: Option<&'a str>,
    /// The request carried a DPoP proof (RFC 9449 §4).
    pub dpop_proof_sent: bool,
    /// The preflight's TLS probes of the target (FAPI 2.0 §5.2); `None` for a plain-HTTP
    /// target, which has no TLS to probe.
    pub tls_probes: Option<&'a [crate::tls_probe::TlsProbe]>,
    /// A race's answers (or one per raced token), for the set checks; `None` for a single
    /// request, whose answer is `response`.
    pub race: Option<&'a RaceAnswers<'a>>,
}

impl<'a> Context<'a> {
    /// The response's JSON body, if it has one.
    fn json(&self) -> Option<&'a Value> {
        self.response.json.as_ref()
    }

    /// The JSON body when it is an object.
    fn object(&self) -> Option<&'a Map<String, Value>> {
        self.json().and_then(Value::as_object)
    }

    /// A member of the JSON body.
    fn member(&self, name: &str) -> Option<&'a Value> {
        self.json().and_then(|j| j.get(name))
    }

    /// A member of the JSON body, when it is a string.
    fn member_str(&self, name: &str) -> Option<&'a str> {
        self.member(name).and_then(Value::as_str)
    }

    /// A variable the case or an earlier step set (`granted_scope`, `issued_to`, …).
    fn var(&self, name: &str) -> Option<&'a str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// A header value for a message: quoted, or `nothing` when the header is absent.
fn quoted_or_nothing(value: Option<&str>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| format!("'{v}'"))
}

/// Fails a member that should be a string (`scope is a JSON array, not a string`).
fn not_a_string(name: &str, value: &Value) -> Verdict {
    Verdict::Fail(format!(
        "{name} is a JSON {}, not a string",
        crate::json_body::type_name(value)
    ))
}

/// Pass when `problems` is empty, else fail with `describe(problems)`.
/// Names for a message: `issuer, token_endpoint`.
fn listed<T: AsRef<str>>(names: &[T]) -> String {
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

fn pass_unless<T>(problems: Vec<T>, describe: impl FnOnce(Vec<T>) -> String) -> Verdict {
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(describe(problems))
    }
}
