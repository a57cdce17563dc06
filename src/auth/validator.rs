//! Access-token checks, in order of cost: structure and header, then the
//! claims, then the one signature verification. No actix types here.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::claims::Claims;
use super::error::TokenError;
use super::jwks::{KeyCache, KeysUnavailable};
use super::keys::KeySet;
use super::policy::{Algorithm, ValidationPolicy};
use super::thumbprint::KeyThumbprint;
use super::token::{CompactJws, Header};
use super::verified::{TokenDigest, Verified, VerifiedTokens};

/// Why validation did not produce claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The token is bad: 401 `invalid_token`.
    Token(TokenError),
    /// The keys to judge it cannot be had: 503.
    KeysUnavailable(KeysUnavailable),
}

impl From<TokenError> for Rejection {
    fn from(e: TokenError) -> Self {
        Self::Token(e)
    }
}

/// A token the verified-token cache did not vouch for, with its digest when
/// the cache is on, so the full validation does not hash the token again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheMiss(Option<TokenDigest>);

/// Validates access tokens against one issuer's policy and key cache. Built
/// once at start-up and shared by all workers.
#[derive(Debug, Clone)]
pub struct Validator {
    policy: ValidationPolicy,
    keys: KeyCache,
    verified: Arc<VerifiedTokens>,
}

impl Validator {
    /// A validator for `policy`, with keys from `keys`.
    pub fn new(policy: ValidationPolicy, keys: KeyCache) -> Self {
        let verified = Arc::new(VerifiedTokens::new(policy.verified_cache_entries));
        Self {
            policy,
            keys,
            verified,
        }
    }

    /// The policy tokens are checked against.
    pub fn policy(&self) -> &ValidationPolicy {
        &self.policy
    }

    /// The key cache behind the signature checks.
    pub fn keys(&self) -> &KeyCache {
        &self.keys
    }

    /// Runs every check on `token` and returns its claims. Cheap checks come
    /// first, so expired or foreign tokens cost no signature work; that order
    /// leaks nothing, as the sender already knows what the token says. A
    /// token that passed before is answered from the verified-token cache
    /// while it has not expired and its key is still published.
    pub async fn validate(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        match self.cached(token) {
            Ok(claims) => Ok(claims),
            Err(miss) => self.validate_uncached(token, miss).await,
        }
    }

    /// The claims of `token` when the verified-token cache vouches for it:
    /// it passed every check before, has not expired, and the key that
    /// verified it is still published. Synchronous, so the middleware can
    /// answer a repeated token without building a future for the rest.
    pub(crate) fn cached(&self, token: &str) -> Result<Arc<Claims>, CacheMiss> {
        if !self.verified.is_enabled() {
            return Err(CacheMiss(None));
        }
        let digest = VerifiedTokens::digest(token);
        if let Some(hit) = self.verified.get(&digest) {
            if self.still_valid(&hit) {
                return Ok(hit.claims);
            }
            self.verified.remove(&digest);
        }
        Err(CacheMiss(Some(digest)))
    }

    /// Every check on a token [`Self::cached`] did not vouch for. `miss`
    /// must be what `cached` returned for this very token: its digest is
    /// where the token is remembered once it passes.
    pub(crate) async fn validate_uncached(
        &self,
        token: &str,
        miss: CacheMiss,
    ) -> Result<Arc<Claims>, Rejection> {
        debug_assert!(miss.0.is_none_or(|d| d == VerifiedTokens::digest(token)));
        let jws = CompactJws::parse(token)?;
        let alg = self.check_header(&jws.header)?;
        let claims = Claims::from_payload(&jws.payload)?;
        let now = unix_now();
        self.check_claims(&claims, now)?;
        let key = self.verify_signature_by(&jws, alg).await?;
        let claims = Arc::new(claims);
        // Kid-less tokens are matched by "the only key for this alg", which a
        // rotation can change, so only tokens naming their key are cached.
        if let (Some(digest), Some(kid)) = (miss.0, jws.header.kid) {
            let verified = Verified {
                claims: Arc::clone(&claims),
                kid: Some(Arc::from(kid)),
                alg,
                key,
            };
            self.verified
                .insert(digest, verified, now, self.leeway_secs());
        }
        Ok(claims)
    }

    fn leeway_secs(&self) -> i64 {
        i64::try_from(self.policy.leeway.as_secs()).unwrap_or(i64::MAX)
    }

    /// A cached token is still good while it has not expired and the key
    /// its `kid` names in the current key set is the very key material that
    /// verified it: a `kid` republished with another key does not carry
    /// the old key's verdicts over.
    fn still_valid(&self, hit: &Verified) -> bool {
        let unexpired = unix_now() < hit.claims.exp.saturating_add(self.leeway_secs());
        unexpired
            && hit
                .kid
                .as_deref()
                .is_some_and(|kid| self.keys.publishes_key(kid, hit.alg, &hit.key))
    }

    /// `alg` from the allow-list, no `crit`, an accepted `typ`.
    pub fn check_header(&self, header: &Header) -> Result<Algorithm, TokenError> {
        // `none`, HS256 and friends are not `Algorithm`s at all, so they fail here.
        let alg = Algorithm::from_name(&header.alg)
            .filter(|a| self.policy.algorithms.contains(a))
            .ok_or(TokenError::UnsupportedAlgorithm)?;
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        if let Some(typ) = &header.typ {
            // RFC 7515 §4.1.9: "application/" may be omitted, compared case-insensitively.
            let typ = typ.strip_prefix("application/").unwrap_or(typ);
            let access_token = typ.eq_ignore_ascii_case("at+jwt");
            if !(access_token || (!self.policy.strict_rfc9068 && typ.eq_ignore_ascii_case("jwt"))) {
                return Err(TokenError::WrongType);
            }
        } else if self.policy.strict_rfc9068 {
            return Err(TokenError::WrongType);
        }
        Ok(alg)
    }

    /// Issuer, audience, time window and profile checks at time `now`
    /// (seconds since the Unix epoch), all with the configured leeway.
    pub fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        self.claim_checks(claims, now)
            .into_iter()
            .try_for_each(|(_, outcome)| outcome)
    }

    /// Every claim check by name, none skipped, for explaining a token
    /// (`inspect`); [`Self::check_claims`] is the first failure of these.
    pub fn claim_checks(
        &self,
        claims: &Claims,
        now: i64,
    ) -> [(ClaimCheck, Result<(), TokenError>); 6] {
        let leeway = self.leeway_secs();
        let strict = self.policy.strict_rfc9068;
        let require = |present: bool, name| {
            if !strict || present {
                Ok(())
            } else {
                Err(TokenError::MissingClaim(name))
            }
        };
        [
            (
                ClaimCheck::Issuer,
                ok_if(claims.iss == self.policy.issuer, TokenError::WrongIssuer),
            ),
            (
                ClaimCheck::Audience,
                ok_if(
                    claims.aud.iter().any(|a| self.policy.audiences.contains(a)),
                    TokenError::WrongAudience,
                ),
            ),
            (
                ClaimCheck::Expiry,
                ok_if(now < claims.exp.saturating_add(leeway), TokenError::Expired),
            ),
            (
                ClaimCheck::NotBefore,
                ok_if(
                    claims
                        .nbf
                        .is_none_or(|nbf| now.saturating_add(leeway) >= nbf),
                    TokenError::NotYetValid,
                ),
            ),
            (
                ClaimCheck::IssuedAt,
                ok_if(
                    claims.iat <= now.saturating_add(leeway),
                    TokenError::IssuedInFuture,
                ),
            ),
            (
                ClaimCheck::Profile,
                require(claims.sub.is_some(), "sub")
                    .and(require(claims.client_id.is_some(), "client_id"))
                    .and(require(claims.jti.is_some(), "jti")),
            ),
        ]
    }

    /// One signature check with the key named by `kid`; an unknown `kid`
    /// causes at most one refetch per cooldown.
    pub async fn verify_signature(
        &self,
        jws: &CompactJws<'_>,
        alg: Algorithm,
    ) -> Result<(), Rejection> {
        self.verify_signature_by(jws, alg).await.map(|_| ())
    }

    /// [`Self::verify_signature`], returning the thumbprint of the key that
    /// verified, taken from the very key set the check used: looking it up
    /// again afterwards could meet a newer set and pin another key.
    async fn verify_signature_by(
        &self,
        jws: &CompactJws<'_>,
        alg: Algorithm,
    ) -> Result<KeyThumbprint, Rejection> {
        let keys = self.keys.load().await.map_err(Rejection::KeysUnavailable)?;
        match verified_by(&keys, jws, alg) {
            Err(TokenError::UnknownKey) => {
                let keys = self
                    .keys
                    .refetch_for_unknown_kid()
                    .await
                    .map_err(Rejection::KeysUnavailable)?;
                Ok(verified_by(&keys, jws, alg)?)
            }
            outcome => Ok(outcome?),
        }
    }
}

/// The claim checks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimCheck {
    /// `iss` equals the configured issuer.
    Issuer,
    /// `aud` names an accepted audience.
    Audience,
    /// `exp` is ahead (with leeway).
    Expiry,
    /// `nbf`, when present, is not ahead (with leeway).
    NotBefore,
    /// `iat` is not ahead (with leeway).
    IssuedAt,
    /// Strict RFC 9068 presence rules, when enabled.
    Profile,
}

fn ok_if(condition: bool, error: TokenError) -> Result<(), TokenError> {
    if condition {
        Ok(())
    } else {
        Err(error)
    }
}

/// Checks the signature of `jws` with the key of `keys` its header names.
pub fn verify_with(keys: &KeySet, jws: &CompactJws<'_>, alg: Algorithm) -> Result<(), TokenError> {
    verified_by(keys, jws, alg).map(|_| ())
}

/// [`verify_with`], returning the thumbprint of the key that verified.
fn verified_by(
    keys: &KeySet,
    jws: &CompactJws<'_>,
    alg: Algorithm,
) -> Result<KeyThumbprint, TokenError> {
    let key = keys
        .find(jws.header.kid.as_deref(), alg)
        .ok_or(TokenError::UnknownKey)?;
    ok_if(
        key.verify(jws.signing_input.as_bytes(), &jws.signature),
        TokenError::BadSignature,
    )?;
    Ok(*key.thumbprint())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
