//! Legal variants: behaviour the RFCs allow that differs from the reference server's default.
//! They are the fault modes' mirror: a fault proves a case catches the rule it cites; a
//! variant proves no case cries wolf at a server that bends only where the text lets it.
//! Each variant's description quotes the sentence that allows it.

use std::fmt;
use std::str::FromStr;

macro_rules! variants {
    ($($variant:ident = $name:literal : $allowed_by:literal;)*) => {
        /// A legal way to behave differently (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Variant { $($variant),* }

        impl Variant {
            /// Every variant, in the order `serve --help` lists them.
            pub const ALL: &'static [Variant] = &[$(Variant::$variant),*];

            /// The command-line name.
            pub fn name(self) -> &'static str {
                match self { $(Variant::$variant => $name),* }
            }

            /// What changes, and the sentence that allows it.
            pub fn allowed_by(self) -> &'static str {
                match self { $(Variant::$variant => $allowed_by),* }
            }
        }
    };
}

variants! {
    TokenTypeLowercase = "token-type-lowercase":
        "token_type \"bearer\" in lower case: \"The value is case insensitive\" (RFC 6749 §5.1; RFC 9449 §5 for \"dpop\")";
    CacheControlPrivate = "cache-control-private":
        "Cache-Control: no-store, private on token responses: RFC 6749 §5.1 requires \"the HTTP \\\"Cache-Control\\\" response header field with a value of \\\"no-store\\\"\"; other directives beside it are not excluded";
    ScopeOmittedWhenRequested = "scope-omitted-when-requested":
        "no scope in a token response that grants the scope requested, and none in introspection: RFC 6749 §5.1, scope is \"OPTIONAL, if identical to the scope requested by the client; otherwise, REQUIRED\"; RFC 7662 §2.2 lists scope as \"OPTIONAL\" (only active is REQUIRED)";
    IntrospectionMinimalForOtherClients = "introspection-minimal-for-other-clients":
        "introspection answers {\"active\": true} and nothing else when the caller is not the client the token was issued to: RFC 7662 §2.2 makes active the only REQUIRED member, and \"The authorization server MAY respond differently to different protected resources making the same request.\"";
    DpopRefusal403 = "dpop-refusal-403":
        "refuses invalid DPoP proofs at the token endpoint with 403 instead of 400: RFC 9449 §5 requires the refusal (\"The DPoP HTTP header field MUST contain a valid DPoP proof JWT. If the DPoP proof is invalid, the authorization server issues an error response per Section 5.2 of [RFC6749]\"), and RFC 6749 §5.2's \"The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise)\" carries no BCP 14 keyword";
    MtlsBindingDeclined = "mtls-binding-declined":
        "authenticates mutual-TLS clients by their certificates but binds no token to them (no cnf.x5t#S256, the resource serves the token over any connection) and says so in its metadata (tls_client_certificate_bound_access_tokens false): RFC 8705 §3 \"the authorization server is able to bind the issued access token to the client certificate\", and §3.3 \"tls_client_certificate_bound_access_tokens OPTIONAL. Boolean value indicating server support for mutual-TLS client certificate-bound access tokens. If omitted, the default value is false.\"";
    DpopBindingDeclined = "dpop-binding-declined":
        "checks DPoP proofs (and refuses invalid ones) but issues ordinary Bearer tokens, bound to no key and without cnf: RFC 9449 §5 \"An authorization server MAY elect to issue access tokens that are not DPoP bound, which is signaled to the client with a value of Bearer in the token_type parameter of the access token response\"";
    AssertionRefusal403 = "assertion-refusal-403":
        "refused client assertions get 403 invalid_client (no challenge): RFC 6749 §5.2 answers errors with \"an HTTP 400 (Bad Request) status code (unless specified otherwise)\", no BCP 14 keyword, and for invalid_client only \"If the client attempted to authenticate via the \\\"Authorization\\\" request header field, the authorization server MUST respond with an HTTP 401\"; an assertion travels in the body (RFC 7521 §4.2)";
    AssertionAudienceIssuerOnly = "assertion-audience-issuer-only":
        "client assertions are accepted only with the issuer as aud, not the token endpoint URL: RFC 7523 §3 item 3 \"The token endpoint URL of the authorization server MAY be used as a value for an \\\"aud\\\" element\" and \"the precise strings to be used as the audience for a given authorization server must be configured out of band\"";
    ResourceDpopNonce = "resource-dpop-nonce":
        "the resource server asks DPoP proofs for a nonce of its own (401, WWW-Authenticate: DPoP error=\"use_dpop_nonce\", DPoP-Nonce): RFC 9449 §9 \"Resource servers can also choose to provide a nonce value to be included in DPoP proofs sent to them.\"";
    Fapi2NoDpopNonce = "fapi2-no-dpop-nonce":
        "in FAPI 2.0 mode (--fapi2), DPoP proofs at the token endpoint need no server nonce: FAPI 2.0 Security Profile §5.3.2.1 item 10 \"if using DPoP, may use the server provided nonce mechanism\" (without --fapi2 it changes nothing)";
    JwtTypJwt = "jwt-typ-jwt":
        "with --token-format jwt, access tokens typed JWT without RFC 9068's client_id claim, and no claim of RFC 9068: RFC 6749 §1.4 \"The string is usually opaque to the client\" and sets no format; RFC 9068 is a profile a server may or may not implement";
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Variant::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown variant '{s}' (see `grantcheck serve --help`)"))
    }
}

/// A set of variants, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VariantSet(u64);

const _: () = assert!(
    Variant::ALL.len() <= 64,
    "VariantSet holds at most 64 variants"
);

impl VariantSet {
    pub fn contains(&self, variant: Variant) -> bool {
        self.0 & (1 << variant as u64) != 0
    }

    pub fn insert(&mut self, variant: Variant) {
        self.0 |= 1 << variant as u64;
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Variant> + '_ {
        Variant::ALL.iter().copied().filter(|v| self.contains(*v))
    }
}

impl FromIterator<Variant> for VariantSet {
    fn from_iter<I: IntoIterator<Item = Variant>>(iter: I) -> Self {
        let mut set = VariantSet::default();
        for v in iter {
            set.insert(v);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), *v);
            assert!(seen.insert(v.name()));
            assert!(!v.allowed_by().is_empty());
        }
        let all: VariantSet = Variant::ALL.iter().copied().collect();
        assert_eq!(all.iter().count(), Variant::ALL.len());
        assert!("nope".parse::<Variant>().is_err());
    }
}
