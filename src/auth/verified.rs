//! A bounded cache of tokens that already passed every check, so a client
//! that repeats its token pays a hash instead of a signature verification.
//!
//! Entries are keyed by SHA-256 of the token (never the token itself), are
//! served no longer than the token's `exp` (plus leeway; the caller checks
//! and removes an expired entry), and are ignored once the key that
//! verified them has left its issuer's key set, or its `kid` has been
//! republished with other key material.
//!
//! The map is `quick_cache`'s: sharded, a read lock on a hit, a lock only
//! for one lookup or insert and never across an await, and no allocation
//! on a hit. Its eviction (Clock-PRO, close to S3-FIFO) keeps the tokens
//! that come back: a flood of tokens used once (many new logins, or a
//! client minting tokens) evicts each other, not the tokens of the clients
//! that repeat theirs.

use std::sync::Arc;

use quick_cache::sync::Cache;

use super::claims::Claims;
use super::policy::Algorithm;
use super::thumbprint::KeyThumbprint;

/// SHA-256 of a token.
pub type TokenDigest = [u8; 32];

/// What a cache hit returns.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The token's claims.
    pub claims: Arc<Claims>,
    /// The `kid` of the key that verified it (`None` for a kid-less token).
    pub kid: Option<Arc<str>>,
    /// The algorithm it was verified with.
    pub alg: Algorithm,
    /// The RFC 7638 thumbprint of the key that verified it. A hit counts
    /// only while the key published under `kid` for `alg` has this same
    /// thumbprint: a `kid` is a name, and a tenant can give it to another
    /// key.
    pub key: KeyThumbprint,
    /// Which of the validator's issuers verified it: its position in the
    /// validator's [`super::Issuers`]. A hit is re-checked against that
    /// issuer's key cache only, since another issuer may publish the same
    /// key (an Auth0 custom domain serves its tenant's keys) and withdraw
    /// it at another time.
    pub issuer: usize,
}

/// The cache. Capacity 0 disables it.
pub struct VerifiedTokens {
    tokens: Option<Cache<TokenDigest, Verified>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the entries: their claims are token contents.
        f.debug_struct("VerifiedTokens")
            .field("capacity", &self.tokens.as_ref().map_or(0, Cache::capacity))
            .finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// A cache holding about `capacity` tokens: each shard's share is
    /// rounded up, so it may hold a few more.
    pub fn new(capacity: usize) -> Self {
        Self {
            tokens: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// Whether the cache stores anything at all.
    pub fn is_enabled(&self) -> bool {
        self.tokens.is_some()
    }

    /// The digest a token is stored under.
    pub fn digest(token: &str) -> TokenDigest {
        super::signature::sha256(token.as_bytes())
    }

    /// The entry for `digest`, if any. The caller re-checks expiry and the key.
    pub fn get(&self, digest: &TokenDigest) -> Option<Verified> {
        self.tokens.as_ref()?.get(digest)
    }

    /// Forgets `digest` (expired, or its key is gone).
    pub fn remove(&self, digest: &TokenDigest) {
        if let Some(tokens) = &self.tokens {
            tokens.remove(digest);
        }
    }

    /// Stores a verified token, unless it is already past `exp` plus
    /// `leeway` at `now` and so could never be served. When the cache is
    /// full, an entry that has not been asked for again goes first: the
    /// cache stays bounded whatever the load.
    pub fn insert(&self, digest: TokenDigest, verified: Verified, now: i64, leeway: i64) {
        let Some(tokens) = &self.tokens else {
            return;
        };
        if now < verified.claims.exp.saturating_add(leeway) {
            tokens.insert(digest, verified);
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.tokens.as_ref().map_or(0, Cache::len)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(exp: i64) -> Verified {
        let payload = serde_json::json!({"iss": "i", "aud": "a", "exp": exp, "iat": 0});
        Verified {
            claims: Arc::new(Claims::from_payload(payload.to_string().as_bytes()).unwrap()),
            kid: Some(Arc::from("k")),
            alg: Algorithm::RS256,
            key: [7; 32],
            issuer: 0,
        }
    }

    fn digest(i: usize) -> TokenDigest {
        VerifiedTokens::digest(&format!("token-{i}"))
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedTokens::new(64);
        for i in 0..10_000 {
            cache.insert(digest(i), verified(i64::MAX / 2), 0, 30);
        }
        assert!(cache.len() <= 64, "len {}", cache.len());
    }

    #[test]
    fn tokens_that_keep_coming_back_outlive_a_flood_of_tokens_used_once() {
        // 32 clients repeat their tokens between 10,000 tokens seen once,
        // with 64 places: every repeated token stays remembered. Evicting
        // in arrival order, or whichever entry comes first, drops them.
        let cache = VerifiedTokens::new(64);
        let regular: Vec<TokenDigest> = (0..32)
            .map(|i| VerifiedTokens::digest(&format!("client-{i}")))
            .collect();
        for digest in &regular {
            cache.insert(*digest, verified(1_000), 0, 0);
        }
        let mut misses = 0;
        for i in 0..10_000 {
            cache.insert(digest(i), verified(1_000), 0, 0);
            let again = regular[i % regular.len()];
            if cache.get(&again).is_none() {
                misses += 1;
                cache.insert(again, verified(1_000), 0, 0);
            }
        }
        assert_eq!(misses, 0, "repeated tokens were evicted {misses} times");
    }

    #[test]
    fn a_token_already_expired_is_not_stored() {
        let cache = VerifiedTokens::new(64);
        cache.insert(digest(1), verified(100), 100, 0);
        assert!(cache.get(&digest(1)).is_none(), "exp reached: not stored");
        cache.insert(digest(2), verified(100), 100, 30);
        assert!(cache.get(&digest(2)).is_some(), "within the leeway: stored");
    }

    #[test]
    fn digests_sharing_a_prefix_stay_apart() {
        let first: TokenDigest = [3; 32];
        let mut second = first;
        second[31] = 4;
        let cache = VerifiedTokens::new(64);
        cache.insert(first, verified(1_000), 0, 0);
        assert!(cache.get(&second).is_none(), "a near twin is a miss");
        cache.insert(second, verified(2_000), 0, 0);
        assert_eq!(cache.get(&first).map(|v| v.claims.exp), Some(1_000));
        assert_eq!(cache.get(&second).map(|v| v.claims.exp), Some(2_000));
        cache.remove(&first);
        assert!(cache.get(&first).is_none(), "removed");
        assert!(cache.get(&second).is_some(), "its twin stays");
    }

    #[test]
    fn capacity_zero_disables_the_cache() {
        let cache = VerifiedTokens::new(0);
        assert!(!cache.is_enabled());
        let d = VerifiedTokens::digest("t");
        cache.insert(d, verified(1_000), 0, 0);
        assert!(cache.get(&d).is_none());
        assert!(cache.is_empty());
    }
}
