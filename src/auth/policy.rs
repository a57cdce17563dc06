//! The policy types the auth core is built from. The service's settings build
//! these; another Actix app can build them by hand.

use std::fmt;
use std::time::Duration;

/// A signature algorithm the validator may accept. The allow-list is the only
/// source of algorithms: the token's `alg` header merely selects one of them
/// (RFC 8725 §3.1). Symmetric algorithms and `none` do not exist here, so
/// RSA-as-HMAC key confusion cannot happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Auth0's default).
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl Algorithm {
    /// Every algorithm this crate can verify.
    pub const ALL: [Algorithm; 3] = [Self::RS256, Self::PS256, Self::ES256];

    /// The JOSE name (`RS256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }

    /// Looks an algorithm up by its exact JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWK `kty` a key for this algorithm has.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::RS256 | Self::PS256 => "RSA",
            Self::ES256 => "EC",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a token must satisfy to be accepted.
#[derive(Debug, Clone)]
pub struct ValidationPolicy {
    /// The exact `iss` value, e.g. `https://tenant.auth0.com/` (trailing slash included).
    pub issuer: String,
    /// Accepted audiences; a token passes when its `aud` names any of them.
    pub audiences: Vec<String>,
    /// Accepted signature algorithms. Default: `[RS256]`.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated by every time check (`exp`, `nbf`, `iat`). Default: 30 s.
    pub leeway: Duration,
    /// Strict RFC 9068 profile: `typ` must be `at+jwt` and `sub`, `client_id`
    /// and `jti` are required. Default: off (Auth0 issues `typ: JWT`).
    pub strict_rfc9068: bool,
}

impl ValidationPolicy {
    /// A policy with the defaults above for `issuer` and `audiences`.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(30),
            strict_rfc9068: false,
        }
    }
}

/// How the key cache fetches and keeps the tenant's signing keys.
#[derive(Debug, Clone)]
pub struct KeyCachePolicy {
    /// The issuer, whose `/.well-known/openid-configuration` is fetched. Must
    /// be https, or http on a loopback address (tests and the local issuer).
    pub issuer: String,
    /// Algorithms keys may be used for: keys for others are skipped.
    pub algorithms: Vec<Algorithm>,
    /// How long a fetched key set is used before a background refresh. Default: 10 min.
    pub ttl: Duration,
    /// Lower bound for a `Cache-Control: max-age` from the tenant. Default: 1 min.
    pub min_ttl: Duration,
    /// Upper bound for a `Cache-Control: max-age` from the tenant. Default: 24 h.
    pub max_ttl: Duration,
    /// Minimum time between two refetches caused by an unknown `kid`. Default: 30 s.
    pub cooldown: Duration,
    /// How long the last good key set keeps serving while refreshes fail. Default: 24 h.
    pub max_stale: Duration,
    /// TCP (and TLS handshake) connect timeout. Default: 2 s.
    pub connect_timeout: Duration,
    /// Total time for one HTTP request to the tenant. Default: 5 s.
    pub request_timeout: Duration,
    /// Largest discovery or JWKS body accepted. Default: 1 MiB.
    pub max_body_bytes: usize,
    /// First retry delay after a failed fetch; doubles up to `max_backoff`. Default: 1 s.
    pub min_backoff: Duration,
    /// Longest retry delay after failed fetches. Default: 5 min.
    pub max_backoff: Duration,
}

impl KeyCachePolicy {
    /// A policy with the defaults above for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            algorithms: vec![Algorithm::RS256],
            ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(86_400),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(86_400),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}
