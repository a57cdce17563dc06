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
    /// With several issuers ([`Validator::with_issuers`]) the accepted ones
    /// are those of the [`Issuers`], and this is set to the first of them.
    ///
    /// [`Validator::with_issuers`]: super::Validator::with_issuers
    /// [`Issuers`]: super::Issuers
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
    /// How many verified tokens to remember (by SHA-256), so a repeated
    /// token skips the signature check; 0 disables. Default: 10,000.
    pub verified_cache_entries: usize,
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
            verified_cache_entries: 10_000,
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

/// A [`KeyCachePolicy`] the key cache cannot work with, naming the field to
/// fix; found at start-up by [`KeyCachePolicy::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key cache policy: {field} {problem}")]
pub struct PolicyError {
    /// The field at fault, as the struct spells it (`min_ttl`, ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
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

    /// Checks what the fetcher relies on: bounds in order (a floor above its
    /// ceiling used to panic the fetcher thread, which then died silently
    /// and keys stopped refreshing) and no zero delay (a zero `ttl`,
    /// `min_ttl` or `min_backoff` refetches from the tenant without pause).
    /// Large values are fine: the fetcher's arithmetic saturates, so
    /// `Duration::MAX` means "never". [`KeyCache::start`] calls this.
    ///
    /// [`KeyCache::start`]: super::KeyCache::start
    pub fn validate(&self) -> Result<(), PolicyError> {
        let checks = [
            (
                self.algorithms.is_empty(),
                "algorithms",
                "is empty; allow at least one algorithm",
            ),
            (
                self.ttl.is_zero(),
                "ttl",
                "is zero, which would refetch the keys without pause",
            ),
            (
                self.min_ttl.is_zero(),
                "min_ttl",
                "is zero, so a max-age of 0 would refetch the keys without pause",
            ),
            (
                self.min_ttl > self.max_ttl,
                "min_ttl",
                "is above max_ttl; the floor must not be above the ceiling",
            ),
            (
                self.min_backoff.is_zero(),
                "min_backoff",
                "is zero, so a failing tenant would be retried without pause",
            ),
            (
                self.min_backoff > self.max_backoff,
                "min_backoff",
                "is above max_backoff; the first retry delay must not be above the longest",
            ),
            (
                self.connect_timeout.is_zero(),
                "connect_timeout",
                "is zero, so no connection could be made",
            ),
            (
                self.request_timeout.is_zero(),
                "request_timeout",
                "is zero, so no request could complete",
            ),
            (
                self.max_body_bytes == 0,
                "max_body_bytes",
                "is zero, so no key set would fit",
            ),
        ];
        match checks.into_iter().find(|(bad, _, _)| *bad) {
            Some((_, field, problem)) => Err(PolicyError { field, problem }),
            None => Ok(()),
        }
    }
}

/// A signature algorithm a DPoP proof may use. RFC 9449 §4.2 requires an
/// asymmetric algorithm, so `none` and the `HS*` family do not exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProofAlgorithm {
    /// ECDSA on P-256 with SHA-256 (the default, and what most clients use).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// EdDSA (RFC 8037), with an Ed25519 or Ed448 key.
    EdDSA,
}

impl ProofAlgorithm {
    /// Every algorithm a proof can be verified with.
    pub const ALL: [ProofAlgorithm; 4] = [Self::ES256, Self::RS256, Self::PS256, Self::EdDSA];

    /// The JOSE name (`ES256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Looks an algorithm up by its exact JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWK `kty` a proof key for this algorithm has.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::ES256 => "EC",
            Self::RS256 | Self::PS256 => "RSA",
            Self::EdDSA => "OKP",
        }
    }
}

impl fmt::Display for ProofAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which authorization schemes the middleware accepts (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// Bearer only; the DPoP scheme is unknown and `DPoP` headers are ignored.
    Disabled,
    /// Bearer and DPoP side by side (the default): a DPoP-bound token must
    /// come with a proof, an unbound one may still be sent as Bearer.
    #[default]
    Optional,
    /// DPoP only: Bearer is answered like an unsupported scheme.
    Required,
}

impl DpopMode {
    /// Whether `Authorization: DPoP` is understood.
    pub fn accepts_dpop(self) -> bool {
        !matches!(self, Self::Disabled)
    }

    /// Whether `Authorization: Bearer` is understood.
    pub fn accepts_bearer(self) -> bool {
        !matches!(self, Self::Required)
    }
}

/// Where the request URL that a proof's `htu` must match comes from
/// (RFC 9449 §4.3 check 9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RequestUrlSource {
    /// The connection itself: `https` when the listener has TLS, the `Host`
    /// header (or the HTTP/2 authority), then the path. Forwarded headers
    /// are ignored, since any client can send them. The host is still the
    /// one the client names, so `htu` then pins the path and scheme but not
    /// the host: set [`Self::PublicBaseUrl`] to pin that too. The default.
    #[default]
    Connection,
    /// Like [`Self::Connection`], but `X-Forwarded-Proto` (`http` or `https`),
    /// `X-Forwarded-Host` (a valid `host[:port]`) and `X-Forwarded-Prefix` (a
    /// plain path) win when present and well-formed. Only for a server that
    /// is reachable through a proxy that sets (and strips) them.
    TrustedProxy,
    /// A fixed public base URL (scheme, host, optional port and path prefix)
    /// followed by the request path. Wins over the connection and any header.
    PublicBaseUrl(url::Url),
}

/// Server-issued DPoP nonces (RFC 9449 §8 and §9).
#[derive(Clone, PartialEq, Eq)]
pub struct NoncePolicy {
    /// How long one nonce value is current; the previous one is still
    /// accepted, so a nonce lives between one and two intervals. Default: 5 min.
    pub rotation: Duration,
    /// The HMAC-SHA256 key nonces are derived from. `None` (the default)
    /// draws a random key per process, which is right for one replica; set
    /// the same key on every replica behind one load balancer.
    pub secret: Option<Vec<u8>>,
}

impl Default for NoncePolicy {
    fn default() -> Self {
        Self {
            rotation: Duration::from_secs(300),
            secret: None,
        }
    }
}

impl fmt::Debug for NoncePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets print as stars.
        f.debug_struct("NoncePolicy")
            .field("rotation", &self.rotation)
            .field("secret", &self.secret.as_ref().map(|_| "******"))
            .finish()
    }
}

/// What a DPoP proof must satisfy (RFC 9449 §4.3, §7.1), and how replays
/// and nonces are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Which schemes are accepted. Default: [`DpopMode::Optional`].
    pub mode: DpopMode,
    /// Accepted proof algorithms; a proof's `alg` only selects one of them.
    /// Default: `[ES256]`.
    pub algorithms: Vec<ProofAlgorithm>,
    /// How far a proof's `iat` may be ahead of our clock. Default: 30 s.
    pub iat_leeway: Duration,
    /// How old a proof's `iat` may be. Default: 300 s.
    pub iat_offset: Duration,
    /// Server nonces; `None` (the default) turns them off.
    pub nonce: Option<NoncePolicy>,
    /// Most proofs the in-memory replay cache remembers; the oldest are
    /// evicted first. Default: 100 000 (about 10 MiB, measured).
    pub replay_cache_entries: usize,
    /// Where the URL compared with `htu` comes from. Default:
    /// [`RequestUrlSource::Connection`].
    pub request_url: RequestUrlSource,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            mode: DpopMode::Optional,
            algorithms: vec![ProofAlgorithm::ES256],
            iat_leeway: Duration::from_secs(30),
            iat_offset: Duration::from_secs(300),
            nonce: None,
            replay_cache_entries: 100_000,
            request_url: RequestUrlSource::Connection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_key_cache_policy_is_valid() {
        assert_eq!(KeyCachePolicy::new("https://t/").validate(), Ok(()));
    }

    #[test]
    fn a_key_cache_policy_error_names_its_field() {
        let base = || KeyCachePolicy::new("https://t/");
        let second = Duration::from_secs(1);
        let cases = [
            (
                "algorithms",
                KeyCachePolicy {
                    algorithms: Vec::new(),
                    ..base()
                },
            ),
            (
                "ttl",
                KeyCachePolicy {
                    ttl: Duration::ZERO,
                    ..base()
                },
            ),
            (
                "min_ttl",
                KeyCachePolicy {
                    min_ttl: second * 2,
                    max_ttl: second,
                    ..base()
                },
            ),
            (
                "min_backoff",
                KeyCachePolicy {
                    min_backoff: second * 2,
                    max_backoff: second,
                    ..base()
                },
            ),
            (
                "min_backoff",
                KeyCachePolicy {
                    min_backoff: Duration::ZERO,
                    ..base()
                },
            ),
            (
                "min_ttl",
                KeyCachePolicy {
                    min_ttl: Duration::ZERO,
                    ..base()
                },
            ),
            (
                "connect_timeout",
                KeyCachePolicy {
                    connect_timeout: Duration::ZERO,
                    ..base()
                },
            ),
            (
                "request_timeout",
                KeyCachePolicy {
                    request_timeout: Duration::ZERO,
                    ..base()
                },
            ),
            (
                "max_body_bytes",
                KeyCachePolicy {
                    max_body_bytes: 0,
                    ..base()
                },
            ),
        ];
        for (field, policy) in cases {
            let error = policy.validate().expect_err(field);
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(field), "{error}");
        }
        let equal_bounds = KeyCachePolicy {
            min_ttl: second,
            max_ttl: second,
            min_backoff: second,
            max_backoff: second,
            ..base()
        };
        assert_eq!(
            equal_bounds.validate(),
            Ok(()),
            "a floor may equal its ceiling"
        );
    }
}
