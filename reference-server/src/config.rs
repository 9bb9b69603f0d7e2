//! Server settings and the fault modes that make it break one rule on purpose.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::clients::ClientRegistry;
pub use crate::throttle::BruteForce;
pub use crate::variant::{Variant, VariantSet};

/// Access token representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// 256 random bits, base64url: the default.
    #[default]
    Opaque,
    /// RFC 9068 JWT access token, RS256-signed; keys at `/oauth2/connect/jwk_uri`.
    Jwt,
}

impl FromStr for TokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "opaque" => Ok(TokenFormat::Opaque),
            "jwt" => Ok(TokenFormat::Jwt),
            other => Err(format!("unknown token format '{other}' (opaque, jwt)")),
        }
    }
}

macro_rules! faults {
    ($($variant:ident = $name:literal : $rule:literal;)*) => {
        /// A rule the server breaks on purpose, so that grantcheck's own tests can prove each
        /// conformance check catches the violation it claims to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Fault { $($variant),* }

        impl Fault {
            /// Every fault mode, in the order `serve --help` lists them.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The command-line name.
            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name),* }
            }

            /// The rule it breaks.
            pub fn rule(self) -> &'static str {
                match self { $(Fault::$variant => $rule),* }
            }
        }
    };
}

faults! {
    AcceptWrongSecret = "accept-wrong-secret":
        "issues tokens whatever secret a known client presents (RFC 6749 §2.3.1, §5.2)";
    CaseInsensitiveSecret = "case-insensitive-secret":
        "compares secrets ignoring case (RFC 6749 §2.3.1)";
    TrimCredentials = "trim-credentials":
        "trims whitespace around client id and secret before comparing (RFC 6749 §2.3.1)";
    BasicWithoutFormDecoding = "basic-without-form-decoding":
        "does not form-decode id and secret inside Basic (RFC 6749 §2.3.1, Appendix B)";
    AcceptDisabledClient = "accept-disabled-client":
        "issues tokens to disabled clients (RFC 6749 §2.3.1)";
    AcceptCredentialsInQuery = "accept-credentials-in-query":
        "reads client_id/client_secret from the URL query (RFC 6749 §2.3.1)";
    AcceptGetTokenRequest = "accept-get-token-request":
        "issues tokens for GET requests with parameters in the query (RFC 6749 §3.2)";
    AcceptRepeatedParameters = "accept-repeated-parameters":
        "lets a repeated parameter's last value win instead of refusing it (RFC 6749 §3.2)";
    RejectUnknownParameters = "reject-unknown-parameters":
        "refuses requests carrying unknown parameters (RFC 6749 §3.2: they must be ignored)";
    WrongUnsupportedGrantError = "wrong-unsupported-grant-error":
        "answers an unknown grant_type with invalid_request (RFC 6749 §5.2: unsupported_grant_type)";
    InvalidClientWithoutChallenge = "invalid-client-without-challenge":
        "answers failed authentication in the Authorization header with 400 and no WWW-Authenticate (RFC 6749 §5.2)";
    AuthFailureForbidden = "auth-failure-forbidden":
        "answers failed client authentication at the token endpoint with 403 and an empty body (RFC 6749 §5.2)";
    ErrorsNotJson = "errors-not-json":
        "sends token endpoint errors as text/html (RFC 6749 §5.2)";
    SilentlyReduceScope = "silently-reduce-scope":
        "drops scopes the client may not have and omits `scope` from the response (RFC 6749 §3.3, §5.1)";
    DropUnknownScope = "drop-unknown-scope":
        "drops requested scopes it does not know, grants what remains (maybe nothing) and omits `scope` from the response (RFC 6749 §3.3)";
    OmitCacheControl = "omit-cache-control":
        "omits Cache-Control: no-store from token responses (RFC 6749 §5.1)";
    OmitPragma = "omit-pragma":
        "omits Pragma: no-cache from token responses (RFC 6749 §5.1)";
    ExpiresInAsString = "expires-in-as-string":
        "sends expires_in as a JSON string (RFC 6749 §5.1, Appendix A.14)";
    IssueRefreshToken = "issue-refresh-token":
        "includes a refresh_token in client credentials responses (RFC 6749 §4.4.3)";
    IntrospectionWithoutAuthentication = "introspection-without-authentication":
        "answers introspection requests from unauthenticated callers (RFC 7662 §2.1)";
    IntrospectionChallengeMissing = "introspection-challenge-missing":
        "introspection and revocation answer 401 without WWW-Authenticate (RFC 9110 §15.5.2, RFC 7662 §2.1)";
    ExpiredTokensActive = "expired-tokens-active":
        "reports expired tokens active and keeps them (RFC 7662 §2.2)";
    InactiveIntrospectionLeaksClaims = "inactive-introspection-leaks-claims":
        "adds claims to active:false answers for expired tokens, which it keeps (RFC 7662 §2.2)";
    IgnoreRevocation = "ignore-revocation":
        "answers 200 to revocation but keeps the token active (RFC 7009 §2.2)";
    RevokeOtherClientsTokens = "revoke-other-clients-tokens":
        "lets any client revoke any token (RFC 7009 §2.1)";
    RevocationUnknownTokenError = "revocation-unknown-token-error":
        "answers 400 when asked to revoke an unknown token (RFC 7009 §2.2)";
    MetadataIssuerMismatch = "metadata-issuer-mismatch":
        "publishes an issuer with a trailing slash in its metadata (RFC 8414 §3.3)";
    MetadataAppendedOnly = "metadata-appended-only":
        "serves metadata only at {issuer}/.well-known/oauth-authorization-server, not where RFC 8414 puts it (RFC 8414 §3, §3.1)";
    ResourceAcceptsInactiveTokens = "resource-accepts-inactive-tokens":
        "the resource server serves requests whatever introspection says (RFC 6750 §3.1)";
    ResourceIgnoresScope = "resource-ignores-scope":
        "the resource server does not enforce its required scope (RFC 6750 §3.1)";
    ResourceChallengeMissing = "resource-challenge-missing":
        "the resource server answers 401 without WWW-Authenticate (RFC 6750 §3)";
    AcceptPlainHttp = "accept-plain-http":
        "with --tls, also serves plain HTTP on the same port (RFC 6749 §3.2, §1.6)";
    TrustForwardedProto = "trust-forwarded-proto":
        "with --tls, serves plain HTTP requests that claim X-Forwarded-Proto: https (RFC 9700 §4.13)";
    DpopAnyTyp = "dpop-any-typ":
        "accepts DPoP proofs whatever their typ (RFC 9449 §4.3 item 4)";
    DpopAcceptAlgNone = "dpop-accept-alg-none":
        "accepts unsigned (alg none) DPoP proofs (RFC 9449 §4.3 item 5)";
    DpopAcceptHs256 = "dpop-accept-hs256":
        "accepts HS256 DPoP proofs keyed with their public JWK (RFC 9449 §4.3 item 5)";
    DpopAcceptPrivateJwk = "dpop-accept-private-jwk":
        "accepts DPoP proofs whose jwk carries the private key (RFC 9449 §4.3 item 7)";
    DpopAnyHtm = "dpop-any-htm":
        "accepts DPoP proofs for another HTTP method (RFC 9449 §4.3 item 8)";
    DpopAnyHtu = "dpop-any-htu":
        "accepts DPoP proofs for another URL (RFC 9449 §4.3 item 9)";
    DpopInvalidRequestError = "dpop-invalid-request-error":
        "refuses invalid DPoP proofs with invalid_request instead of invalid_dpop_proof (RFC 9449 §5)";
    DpopAnyIat = "dpop-any-iat":
        "accepts DPoP proofs whatever their iat (RFC 9449 §4.3 item 11)";
    DpopNoReplayCheck = "dpop-no-replay-check":
        "accepts a DPoP proof's jti again and again (RFC 9449 §11.1)";
    DpopIgnoreRepeatedHeader = "dpop-ignore-repeated-header":
        "ignores two DPoP headers and issues a bearer token (RFC 9449 §4.3 item 1)";
    DpopNonceWrongError = "dpop-nonce-wrong-error":
        "answers a proof without its nonce with invalid_dpop_proof instead of use_dpop_nonce (RFC 9449 §8)";
    DpopBoundClientWithoutProof = "dpop-bound-client-without-proof":
        "issues bearer tokens to a client registered with dpop_bound_access_tokens that sent no proof (RFC 9449 §5.2)";
    DpopTokenTypeBearer = "dpop-token-type-bearer":
        "binds tokens to the DPoP key but answers token_type Bearer (RFC 9449 §5)";
    DpopOmitCnf = "dpop-omit-cnf":
        "binds tokens to the DPoP key but shows clients no cnf.jkt, in JWTs or introspection (RFC 9449 §6)";
    DpopMetadataSymmetric = "dpop-metadata-symmetric":
        "lists HS256 and none in dpop_signing_alg_values_supported (RFC 9449 §11.6, §5.1)";
    ResourceDpopAcceptsBearer = "resource-dpop-accepts-bearer":
        "the resource server accepts a DPoP-bound token as a bearer token (RFC 9449 §7.1)";
    ResourceDpopAnyKey = "resource-dpop-any-key":
        "the resource server accepts a proof by any key for a DPoP-bound token (RFC 9449 §4.3 item 12, §7.1)";
    ResourceDpopAnyAth = "resource-dpop-any-ath":
        "the resource server ignores the proof's ath (RFC 9449 §4.3 item 12, §7.1)";
    ResourceDpopBearerChallenge = "resource-dpop-bearer-challenge":
        "the resource server refuses DPoP requests with a Bearer challenge, without algs (RFC 9449 §7.1)";
    ResourceDpopRefusesWith403 = "resource-dpop-refuses-with-403":
        "the resource server refuses DPoP-bound tokens it does not serve with 403 and no challenge instead of 401 (RFC 6750 §3.1, RFC 9449 §7.1)";
    DpopAcceptMissingJti = "dpop-accept-missing-jti":
        "accepts DPoP proofs without jti (RFC 9449 §4.3 item 3, §4.2)";
    DpopNonceNotEnforced = "dpop-nonce-not-enforced":
        "stops asking a DPoP-bound client's key for the nonce once it has used one, accepting its proofs without (RFC 9449 §11.3)";
    DpopJktHex = "dpop-jkt-hex":
        "shows the bound key's thumbprint in cnf.jkt as hex instead of base64url (RFC 9449 §6.1)";
    DpopAcceptSymmetricJwk = "dpop-accept-symmetric-jwk":
        "accepts HS256 DPoP proofs MACed with a symmetric (oct) key carried in their jwk header (RFC 9449 §4.3 item 5, §11.6)";
    ResourceDpopRefusesBoundTokens = "resource-dpop-refuses-bound-tokens":
        "the resource server refuses DPoP-bound tokens even with a valid proof by their key (RFC 9449 §7.1)";
    ResourceDpopNonce400 = "resource-dpop-nonce-400":
        "the resource server asks for its DPoP nonce with 400 and no DPoP challenge instead of 401 with WWW-Authenticate: DPoP error=\"use_dpop_nonce\" (RFC 9449 §9, §7.1)";
    ResourceDpopNonceAny = "resource-dpop-nonce-any":
        "the resource server asks for a DPoP nonce but takes any nonce, not only the one it gave (RFC 9449 §4.3 item 10)";
    Fapi2AcceptSecrets = "fapi2-accept-secrets":
        "with --fapi2, still authenticates clients by their secrets (FAPI 2.0 §5.3.2.1 item 6)";
    Fapi2TokenEndpointAud = "fapi2-token-endpoint-aud":
        "with --fapi2, takes client assertions whose aud is the token endpoint URL (FAPI 2.0 §5.3.2.1 item 8)";
    Fapi2AudArray = "fapi2-aud-array":
        "with --fapi2, takes client assertions whose aud is an array holding the issuer (FAPI 2.0 §5.3.2.1 item 8: \"as a string\")";
    AssertionNoClockSkew = "assertion-no-clock-skew":
        "refuses client assertions whose iat or nbf is even a second ahead of its clock (FAPI 2.0 §5.3.2.1 item 13: accept up to 10 s)";
    AssertionClockSkew120 = "assertion-clock-skew-120":
        "takes client assertions whose iat or nbf is up to 120 s ahead (FAPI 2.0 §5.3.2.1 item 13: refuse more than 60 s)";
    AcceptAssertionAlgNone = "accept-assertion-alg-none":
        "accepts unsigned (alg none) client assertions (RFC 7523 §3 item 9)";
    SkipAssertionSignature = "skip-assertion-signature":
        "accepts client assertions whatever their signature (RFC 7523 §3 item 9)";
    AcceptAnyAssertionAudience = "accept-any-assertion-audience":
        "accepts client assertions for any audience, or none (RFC 7523 §3 item 3)";
    AcceptExpiredAssertion = "accept-expired-assertion":
        "accepts expired client assertions (RFC 7523 §3 item 4)";
    SkipAssertionReplayCheck = "skip-assertion-replay-check":
        "accepts a client assertion's jti again and again (OIDC Core §9, RFC 7523 §3 item 7)";
    JwtAuthTokenEndpointOnly = "jwt-auth-token-endpoint-only":
        "refuses client assertions at introspection and revocation, which its metadata lists them for (RFC 8414 §2)";
    MetadataSigningAlgNone = "metadata-signing-alg-none":
        "lists none among the *_auth_signing_alg_values_supported in its metadata (RFC 8414 §2)";
    MtlsSkipChainValidation = "mtls-skip-chain-validation":
        "authenticates tls_client_auth clients by subject DN alone, whoever issued the certificate (RFC 8705 §2.1)";
    MtlsAcceptExpiredCertificate = "mtls-accept-expired-certificate":
        "authenticates tls_client_auth clients with expired certificates (RFC 8705 §2.1, RFC 5280 §6)";
    MtlsSelfSignedAnyCertificate = "mtls-self-signed-any-certificate":
        "authenticates self_signed_tls_client_auth clients with any certificate, registered or not (RFC 8705 §2.2)";
    MtlsAcceptWithoutCertificate = "mtls-accept-without-certificate":
        "authenticates mutual-TLS clients by client_id alone when no certificate was presented (RFC 8705 §2)";
    MtlsOmitCnf = "mtls-omit-cnf":
        "binds tokens to the client certificate but shows clients no cnf.x5t#S256, in JWTs or introspection (RFC 8705 §3.1, §3.2)";
    MtlsBindWithoutCertificate = "mtls-bind-without-certificate":
        "shows clients a cnf.x5t#S256 on tokens issued over connections without a client certificate (RFC 8705 §3)";
    ResourceMtlsIgnoresBinding = "resource-mtls-ignores-binding":
        "the resource server serves certificate-bound tokens whatever certificate the connection has, or none (RFC 8705 §3)";
    GrantForbiddenScopeSilently = "grant-forbidden-scope-silently":
        "grants a scope the client may not have (another client's) and shows it nowhere: no scope in the token response, the JWT or introspection (RFC 6819 §5.1.5.1; RFC 6749 §3.3)";
    MtlsRefusalForbidden = "mtls-refusal-forbidden":
        "refuses failed mutual-TLS client authentication with 403 instead of 400 or 401 (RFC 8705 §2, RFC 6749 §5.2)";
    ResourceMtlsRefusesWith403 = "resource-mtls-refuses-with-403":
        "the resource server refuses certificate-bound tokens over the wrong connection with 403 and no challenge instead of 401 invalid_token (RFC 8705 §3)";
    AssertionIgnoresClientId = "assertion-ignores-client-id":
        "takes the client from a client assertion's sub and ignores a client_id naming another client (RFC 7521 §4.2)";
    AssertionTokenForClientId = "assertion-token-for-client-id":
        "verifies a client assertion as its own client's, then issues the token to the other client a client_id names (RFC 7521 §4.2, RFC 6749 §4.4.2)";
    AssertionIgnoresBasic = "assertion-ignores-basic":
        "takes a client assertion sent beside Basic credentials, ignoring the Authorization header (RFC 6749 §2.3)";
    KeyJwtTokenWithoutType = "key-jwt-token-without-type":
        "answers private_key_jwt clients' token requests without token_type (RFC 7523 §2.2, RFC 6749 §5.1)";
    SecretJwtTokenWithoutType = "secret-jwt-token-without-type":
        "answers client_secret_jwt clients' token requests without token_type (RFC 7523 §2.2, RFC 6749 §5.1)";
    AccessTokenTypJwt = "access-token-typ-jwt":
        "with --token-format jwt, types its RFC 9068 access tokens JWT instead of at+jwt (RFC 9068 §2.1)";
    AccessTokenAlgNone = "access-token-alg-none":
        "with --token-format jwt, issues unsigned (alg none) RFC 9068 access tokens (RFC 9068 §2.1)";
    RevocationWithoutAuthentication = "revocation-without-authentication":
        "revokes any token for a request whose client authentication fails or is missing (RFC 7009 §2.1)";
    AcceptUnauthenticatedRequest = "accept-unauthenticated-request":
        "issues a token to a request without any client authentication, as a default client (RFC 6749 §4.4.2, §3.2.1)";
    IgnoreAllowedGrants = "ignore-allowed-grants":
        "issues client credentials tokens to clients not allowed the grant (RFC 6749 §5.2 unauthorized_client)";
    EmptySecretSkipsCheck = "empty-secret-skips-check":
        "takes an empty client_secret parameter as no secret to check, authenticating the client by its id (RFC 6749 §3.2, §2.3.1)";
    EmptySecretCountsAsMethod = "empty-secret-counts-as-method":
        "counts an empty client_secret parameter beside Basic as a second authentication method and refuses (RFC 6749 §3.2)";
    AnySchemeAsBasic = "any-scheme-as-basic":
        "reads the credentials of any Authorization scheme as if it were Basic (RFC 6749 §2.3, RFC 9110 §11.4)";
    IntrospectionNullMembers = "introspection-null-members":
        "writes the members it has no value for as JSON null in introspection answers (RFC 7662 §2.2)";
    IntrospectionMalformedTokenError = "introspection-malformed-token-error":
        "answers introspection of a token not shaped like its own with 400 instead of active false (RFC 7662 §2.2)";
    MetadataOmitResponseTypes = "metadata-omit-response-types":
        "omits the required response_types_supported from its metadata, having no authorization endpoint (RFC 8414 §2)";
    MetadataEndpointFragment = "metadata-endpoint-fragment":
        "publishes its revocation_endpoint with a fragment (RFC 8414 §2, RFC 6749 §3.2)";
    GrantTypeNotPercentDecoded = "grant-type-not-percent-decoded":
        "matches grant_type against the raw, still percent-encoded value (RFC 6749 Appendix B)";
    PlusNotSpace = "plus-not-space":
        "decodes form values with a URL decoder that leaves '+' as it is instead of a space (RFC 6749 Appendix B)";
    EmptyScopeInvalidRequest = "empty-scope-invalid-request":
        "refuses an empty scope parameter with invalid_request instead of treating it as omitted (RFC 6749 §3.2, §3.3)";
    MissingScopeInvalidRequest = "missing-scope-invalid-request":
        "refuses token requests without a scope with invalid_request instead of a default scope or invalid_scope (RFC 6749 §3.3)";
    ScopeOrderSensitive = "scope-order-sensitive":
        "refuses a scope list whose order differs from the order of the client's registered scopes (RFC 6749 §3.3)";
    TokenTypeJwt = "token-type-jwt":
        "answers token_type JWT for bearer tokens (RFC 6749 §5.1, §7.1; RFC 6750 §4)";
    RevocationMissingTokenOk = "revocation-missing-token-ok":
        "answers 200 to a revocation request without the token parameter (RFC 7009 §2.1, §2.2.1)";
    ResourceRefusesBearerTokens = "resource-refuses-bearer-tokens":
        "the resource server serves only sender-constrained tokens and refuses valid bearer tokens (RFC 6750 §2.1)";
    ResourceChallengeRealmTwice = "resource-challenge-realm-twice":
        "the resource server's challenges name their realm twice (RFC 6750 §3)";
    MethodNotAllowedWithoutAllow = "method-not-allowed-without-allow":
        "answers other methods at the token endpoint with 405 and no Allow header (RFC 9110 §15.5.6)";
    DefaultMissingGrantType = "default-missing-grant-type":
        "takes a token request without grant_type as client_credentials (RFC 6749 §4.4.2: grant_type REQUIRED)";
    EmptyGrantTypeAccepted = "empty-grant-type-accepted":
        "takes an empty grant_type as client_credentials instead of as omitted (RFC 6749 §3.2)";
    PublicClientsGetTokens = "public-clients-get-tokens":
        "issues client credentials tokens to public clients, authenticated by their id alone (RFC 6749 §4.4: confidential clients only)";
    ErrorDescriptionEchoesInput = "error-description-echoes-input":
        "echoes the grant_type it refuses into error_description, whatever its characters (RFC 6749 §5.2)";
    AssertionRefusalInvalidGrant = "assertion-refusal-invalid-grant":
        "answers a refused client assertion with 400 invalid_grant instead of invalid_client (RFC 7523 §3.2)";
    AssertionAlgConfusion = "assertion-alg-confusion":
        "takes an HS256 client assertion from a private_key_jwt client as verified, trusting the header's alg (RFC 7523 §3 item 9, RFC 8725 §2.1)";
    AcceptAssertionWithoutExp = "accept-assertion-without-exp":
        "accepts client assertions without exp (RFC 7523 §3 item 4)";
    IgnoreAssertionNbf = "ignore-assertion-nbf":
        "ignores a client assertion's nbf, accepting one not valid yet (RFC 7523 §3 item 5)";
    AcceptAnyAssertionIss = "accept-any-assertion-iss":
        "accepts a client assertion whose iss names another client (RFC 7521 §5.2)";
    AcceptAnyAssertionSub = "accept-any-assertion-sub":
        "accepts a client assertion whose sub names another client, authenticating the client named by client_id (RFC 7523 §3 item 2.B)";
    PostAuthFailureWithoutChallenge = "post-auth-failure-without-challenge":
        "answers failed client authentication without an Authorization header with 401 and no WWW-Authenticate (RFC 9110 §15.5.2)";
    RaceReplay = "race-replay":
        "checks a client assertion's or DPoP proof's jti, then records it a moment later, so identical ones arriving together are all accepted; a sequential replay is still refused (RFC 7523 §3 item 7, RFC 9449 §11.1)";
    RaceRevocation = "race-revocation":
        "introspection reads token state through a cache that a read begun before a revocation writes back after it, so the revoked token is active for 2 s to requests sent after the revocation's 200; sequentially invisible (RFC 7009 §2.2)";
    ThrottleRace = "throttle-race":
        "the brute-force throttle reads its failure count before checking the secret and writes it back after, so parallel wrong secrets are all checked and answered before it takes effect; sequential guesses are still throttled (RFC 6749 §2.3.1)";
    ClusterRevocationLocal = "cluster-revocation-local":
        "with --nodes N, a revocation takes effect only on the node that received it and is never replicated: the other nodes keep answering the token active (RFC 7009 §2.2)";
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown fault mode '{s}' (see `grantcheck serve --help`)"))
    }
}

/// A set of fault modes, as bits: `has` is on every request's path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSet(u128);

const _: () = assert!(Fault::ALL.len() <= 128, "FaultSet holds at most 128 faults");

impl FaultSet {
    pub fn contains(&self, fault: Fault) -> bool {
        self.0 & (1 << fault as u128) != 0
    }

    pub fn insert(&mut self, fault: Fault) {
        self.0 |= 1 << fault as u128;
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        Fault::ALL.iter().copied().filter(|f| self.contains(*f))
    }
}

impl FromIterator<Fault> for FaultSet {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut set = FaultSet::default();
        set.extend(iter);
        set
    }
}

impl Extend<Fault> for FaultSet {
    fn extend<I: IntoIterator<Item = Fault>>(&mut self, iter: I) {
        for fault in iter {
            self.insert(fault);
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub clients: ClientRegistry,
    /// Default access token lifetime; a client's `token_ttl_secs` overrides it.
    pub token_ttl: Duration,
    pub token_format: TokenFormat,
    pub faults: FaultSet,
    /// Legal variants of behaviour (`crate::variant`): not faults, every case still passes.
    pub variants: VariantSet,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// A request's headers must arrive within this time.
    pub header_timeout: Duration,
    /// A request's body must arrive within this time.
    pub body_timeout: Duration,
    /// How often expired tokens are purged from memory.
    pub purge_interval: Duration,
    /// The scope `GET /api/resource` requires (RFC 6750 §3.1 `insufficient_scope`).
    pub resource_scope: String,
    /// Refuse token requests that name no scope with `invalid_scope` instead of granting the
    /// client's default scopes (RFC 6749 §3.3 allows either).
    pub require_scope: bool,
    /// Brute-force protection; off by default in the library (conformance runs send many
    /// wrong secrets on purpose), on by default in `grantcheck serve`.
    pub brute_force: Option<BruteForce>,
    /// Serve HTTPS with this certificate; `None` serves plain HTTP.
    pub tls: Option<crate::tls::TlsIdentity>,
    /// The CAs a `tls_client_auth` client's certificate must chain to (RFC 8705 §2.1); the
    /// test-only `fixtures/keys/mtls-ca.pem` by default. Over HTTPS the server asks every
    /// client for a certificate and requires none.
    pub client_ca: crate::mtls::ClientCa,
    /// `scheme://host[:port]` clients reach the server by (behind a proxy, in a container);
    /// issuers, metadata and token audiences use it. `None`: the listening address.
    pub public_url: Option<String>,
    /// Tokens held at most (expired ones count until purged); past it, token requests get
    /// 503 with `Retry-After`. `None`: [`default_max_live_tokens`] for the token format.
    pub max_live_tokens: Option<usize>,
    /// Connections open at most; a new one past it closes the idle connection that has been
    /// idle longest (one still sending its request head counts as idle).
    pub max_connections: usize,
    /// Security events (brute-force delays, shed connections, a full store) are written to
    /// stderr at most once per kind and interval, with a count of the rest.
    pub security_log_interval: Duration,
    /// Write security events to stderr (they are kept in memory either way).
    pub log_security_events: bool,
    /// Behave as a FAPI 2.0 authorization server (FAPI 2.0 Security Profile, Final, §5.3.2.1,
    /// §5.4): clients authenticate with private_key_jwt or mutual TLS only, assertions name
    /// the issuer alone, as a string, JWTs are PS256, ES256 or EdDSA, every token is
    /// sender-constrained (a DPoP proof, with the server's nonce, or mutual TLS).
    pub fapi2: bool,
    /// In a cluster (`ReferenceServer::start_cluster`, `serve --nodes N`): how long a token
    /// or revocation written on one node takes to become visible on the others
    /// (`cluster.rs`). A single server ignores it.
    pub replication_delay: Duration,
}

/// Memory per held token, with room to spare over what the soak test measures (308 bytes of
/// RSS for an opaque token's record and key, 888 for a JWT's, whose key is the whole token).
const OPAQUE_TOKEN_BYTES: usize = 400;
const JWT_TOKEN_BYTES: usize = 1200;

/// The default bound on held tokens: a quarter of the memory the process may use (the
/// cgroup limit or the machine's memory, whichever is smaller) divided by what a token of
/// `format` costs, between 10,000 and 1,000,000.
pub fn default_max_live_tokens(format: TokenFormat) -> usize {
    let per_token = match format {
        TokenFormat::Opaque => OPAQUE_TOKEN_BYTES,
        TokenFormat::Jwt => JWT_TOKEN_BYTES,
    };
    let budget = crate::limits::memory_limit_bytes().unwrap_or(4 << 30) / 4;
    (budget / per_token as u64).clamp(10_000, 1_000_000) as usize
}

/// The default bound on connections: 4,096, or the open-file limit less 128 (for the
/// listener, the resource server's introspection connections and the rest) when that is
/// lower, and at least 64.
pub fn default_max_connections() -> usize {
    let files = crate::limits::open_file_limit().unwrap_or(1024);
    (files.saturating_sub(128) as usize).clamp(64, 4096)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            clients: ClientRegistry::fixtures(),
            token_ttl: Duration::from_secs(3600),
            token_format: TokenFormat::Opaque,
            faults: FaultSet::default(),
            variants: VariantSet::default(),
            max_body_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            purge_interval: Duration::from_secs(1),
            resource_scope: "write".into(),
            require_scope: false,
            brute_force: None,
            tls: None,
            client_ca: crate::mtls::ClientCa::fixture(),
            public_url: None,
            max_live_tokens: None,
            max_connections: default_max_connections(),
            security_log_interval: Duration::from_secs(10),
            log_security_events: true,
            fapi2: false,
            replication_delay: Duration::ZERO,
        }
    }
}

impl ServerConfig {
    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(fault)
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.insert(fault);
        self
    }

    /// Whether the server behaves as the legal `variant` says.
    pub fn uses(&self, variant: Variant) -> bool {
        self.variants.contains(variant)
    }

    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variants.insert(variant);
        self
    }

    /// The bound on held tokens: `max_live_tokens`, or the default for the token format.
    pub fn live_token_limit(&self) -> usize {
        self.max_live_tokens
            .unwrap_or_else(|| default_max_live_tokens(self.token_format))
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_hold_every_fault() {
        let all: FaultSet = Fault::ALL.iter().copied().collect();
        assert_eq!(all.iter().count(), Fault::ALL.len());
        let one: FaultSet = [Fault::OmitPragma].into_iter().collect();
        assert!(one.contains(Fault::OmitPragma) && !one.contains(Fault::OmitCacheControl));
    }

    #[test]
    fn fault_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>().unwrap(), *f);
            assert!(seen.insert(f.name()));
        }
        assert!("nope".parse::<Fault>().is_err());
    }
}
