//! Access-token checks, in order of cost: structure and header, then the
//! claims, then the one signature verification. No actix types here.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::claims::Claims;
use super::error::TokenError;
use super::issuers::Issuers;
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

/// Validates access tokens against a policy and the key caches of the
/// accepted issuers. Built once at start-up and shared by all workers.
#[derive(Debug, Clone)]
pub struct Validator {
    policy: ValidationPolicy,
    issuers: Issuers,
    verified: Arc<VerifiedTokens>,
}

impl Validator {
    /// A validator for one issuer: tokens must name `policy.issuer` and are
    /// checked with the keys of `keys`.
    pub fn new(policy: ValidationPolicy, keys: KeyCache) -> Self {
        let issuers = Issuers::single(policy.issuer.as_str(), keys);
        Self::with_issuers(policy, issuers)
    }

    /// A validator for several issuers (an Auth0 tenant's canonical domain
    /// and its custom domains, say): a token is accepted from any of
    /// `issuers` and checked with the keys of the issuer its `iss` names,
    /// and no other. The accepted issuers are those of `issuers`:
    /// `policy.issuer` is set to the first of them, so that
    /// [`Self::policy`] names the primary issuer.
    ///
    /// ```no_run
    /// use auth0_actix_api::auth::{Issuers, KeyCachePolicy, ValidationPolicy, Validator};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let canonical = "https://dev-abc123.us.auth0.com/";
    /// // One key cache (and fetcher thread) per issuer, warming up at once.
    /// let issuers = Issuers::start(vec![
    ///     KeyCachePolicy::new(canonical),
    ///     KeyCachePolicy::new("https://login.example.com/"),
    /// ])?;
    /// let policy = ValidationPolicy::new(canonical, vec!["https://my-api".into()]);
    /// let validator = Validator::with_issuers(policy, issuers);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_issuers(mut policy: ValidationPolicy, issuers: Issuers) -> Self {
        issuers.first().0.clone_into(&mut policy.issuer);
        let verified = Arc::new(VerifiedTokens::new(policy.verified_cache_entries));
        Self {
            policy,
            issuers,
            verified,
        }
    }

    /// The policy tokens are checked against.
    pub fn policy(&self) -> &ValidationPolicy {
        &self.policy
    }

    /// The key cache of the first issuer: with one issuer, the key cache
    /// behind every signature check. With several, see [`Self::issuers`].
    pub fn keys(&self) -> &KeyCache {
        self.issuers.first().1
    }

    /// The accepted issuers, each with its key cache.
    pub fn issuers(&self) -> &Issuers {
        &self.issuers
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
        // The token's own `iss` picks the key set, before any key is looked
        // up: a key only ever vouches for tokens of the issuer that
        // publishes it, whatever `kid` another issuer gives its keys.
        let issuer = self
            .issuers
            .position(&claims.iss)
            .ok_or(TokenError::WrongIssuer)?;
        let keys = self
            .issuers
            .keys_at(issuer)
            .ok_or(TokenError::WrongIssuer)?;
        let key = verified_with_cache(keys, &jws, alg).await?;
        let claims = Arc::new(claims);
        // Kid-less tokens are matched by "the only key for this alg", which a
        // rotation can change, so only tokens naming their key are cached.
        if let (Some(digest), Some(kid)) = (miss.0, jws.header.kid) {
            let verified = Verified {
                claims: Arc::clone(&claims),
                kid: Some(Arc::from(kid)),
                alg,
                key,
                issuer,
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
    /// its `kid` names in the current key set of the issuer that verified
    /// it is the very key material that verified it: a `kid` republished
    /// with another key does not carry the old key's verdicts over, and
    /// another issuer publishing the same key does not keep it alive.
    fn still_valid(&self, hit: &Verified) -> bool {
        let unexpired = unix_now() < hit.claims.exp.saturating_add(self.leeway_secs());
        unexpired
            && hit.kid.as_deref().is_some_and(|kid| {
                self.issuers
                    .keys_at(hit.issuer)
                    .is_some_and(|keys| keys.publishes_key(kid, hit.alg, &hit.key))
            })
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
                ok_if(
                    self.issuers.get(&claims.iss).is_some(),
                    TokenError::WrongIssuer,
                ),
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

    /// One signature check with the key named by `kid` in the key set of
    /// the issuer the payload's `iss` names (an issuer that is not accepted
    /// is [`TokenError::WrongIssuer`], without any fetch); an unknown `kid`
    /// causes at most one refetch per cooldown.
    pub async fn verify_signature(
        &self,
        jws: &CompactJws<'_>,
        alg: Algorithm,
    ) -> Result<(), Rejection> {
        // Read with every claim's type rule, so `iss` means here what it
        // means to the full validation.
        let claims = Claims::from_payload(&jws.payload)?;
        let keys = self
            .issuers
            .get(&claims.iss)
            .ok_or(TokenError::WrongIssuer)?;
        verified_with_cache(keys, jws, alg).await.map(|_| ())
    }
}

/// The signature check with the key set of `keys`, returning the thumbprint
/// of the key that verified, taken from the very key set the check used:
/// looking it up again afterwards could meet a newer set and pin another
/// key. An unknown `kid` causes at most one refetch per cooldown.
async fn verified_with_cache(
    keys: &KeyCache,
    jws: &CompactJws<'_>,
    alg: Algorithm,
) -> Result<KeyThumbprint, Rejection> {
    let set = keys.load().await.map_err(Rejection::KeysUnavailable)?;
    match verified_by(&set, jws, alg) {
        Err(TokenError::UnknownKey) => {
            let set = keys
                .refetch_for_unknown_kid()
                .await
                .map_err(Rejection::KeysUnavailable)?;
            Ok(verified_by(&set, jws, alg)?)
        }
        outcome => Ok(outcome?),
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
