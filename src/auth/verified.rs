//! A bounded cache of tokens that already passed every check, so a client
//! that repeats its token pays a hash instead of a signature verification.
//!
//! Entries are keyed by SHA-256 of the token (never the token itself), live
//! no longer than the token's `exp` (plus leeway), and are ignored once the
//! key that verified them has left its issuer's key set, or its `kid` has
//! been republished with other key material. The map is sharded so that
//! workers rarely meet on a lock, and a lock is only held to look up or
//! insert, never across an await.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use super::claims::Claims;
use super::policy::Algorithm;
use super::thumbprint::KeyThumbprint;

const SHARDS: usize = 16;

/// SHA-256 of a token.
pub type TokenDigest = [u8; 32];

/// A shard's map. Its keys are already uniform hashes, so hashing them again
/// (SipHash, the default) would only cost time.
type Shard = HashMap<TokenDigest, Verified, BuildHasherDefault<DigestHasher>>;

/// Uses eight bytes of a digest as its hash. Not the first: the first byte
/// picks the shard, so its low bits are the same for every key in a shard.
/// Flooding a shard's buckets would take tokens whose digests share bits,
/// and only tokens with a valid signature are ever stored.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A digest arrives as one 32-byte write (after its length, which
        // goes through `write_usize` and is the same for every key).
        if let Some(word) = bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            self.0 = u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length: usize) {}
}

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
#[derive(Debug)]
pub struct VerifiedTokens {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl VerifiedTokens {
    /// A cache holding at most `capacity` tokens (rounded up to a multiple of
    /// the shard count).
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    /// Whether the cache stores anything at all.
    pub fn is_enabled(&self) -> bool {
        self.per_shard > 0
    }

    /// The digest a token is stored under.
    pub fn digest(token: &str) -> TokenDigest {
        super::signature::sha256(token.as_bytes())
    }

    fn shard(&self, digest: &TokenDigest) -> Option<&Mutex<Shard>> {
        // The digest is uniformly distributed, so any byte picks a shard fairly.
        self.shards.get(usize::from(digest[0]) % SHARDS)
    }

    /// The entry for `digest`, if any. The caller re-checks expiry and the key.
    pub fn get(&self, digest: &TokenDigest) -> Option<Verified> {
        if !self.is_enabled() {
            return None;
        }
        self.shard(digest)?.lock().ok()?.get(digest).cloned()
    }

    /// Forgets `digest` (expired, or its key is gone).
    pub fn remove(&self, digest: &TokenDigest) {
        if let Some(Ok(mut shard)) = self.shard(digest).map(Mutex::lock) {
            shard.remove(digest);
        }
    }

    /// Stores a verified token. A full shard first drops its expired entries,
    /// then, if still full, one arbitrary entry: the cache stays bounded
    /// whatever the load.
    pub fn insert(&self, digest: TokenDigest, verified: Verified, now: i64, leeway: i64) {
        if !self.is_enabled() {
            return;
        }
        let Some(Ok(mut shard)) = self.shard(&digest).map(Mutex::lock) else {
            return;
        };
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, v| now < v.claims.exp.saturating_add(leeway));
            if shard.len() >= self.per_shard {
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(digest, verified);
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.len()))
            .sum()
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

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedTokens::new(64);
        for i in 0..10_000 {
            cache.insert(
                VerifiedTokens::digest(&format!("token-{i}")),
                verified(i64::MAX / 2),
                0,
                30,
            );
        }
        assert!(cache.len() <= 64, "len {}", cache.len());
    }

    #[test]
    fn expired_entries_are_evicted_before_live_ones() {
        // Three tokens that land in the same shard, which holds two.
        let same_shard: Vec<TokenDigest> = (0..)
            .map(|i| VerifiedTokens::digest(&format!("t{i}")))
            .filter(|d| d[0] % SHARDS as u8 == 0)
            .take(3)
            .collect();
        let cache = VerifiedTokens::new(2 * SHARDS);
        cache.insert(same_shard[0], verified(10), 0, 0);
        cache.insert(same_shard[1], verified(1_000), 0, 0);
        cache.insert(same_shard[2], verified(1_000), 100, 0);
        assert!(
            cache.get(&same_shard[0]).is_none(),
            "the expired entry made room"
        );
        assert!(cache.get(&same_shard[1]).is_some(), "the live entry stayed");
        assert!(cache.get(&same_shard[2]).is_some());
    }

    #[test]
    fn digests_sharing_their_hash_bytes_stay_apart() {
        // Same shard and same bytes 8..16, so the same bucket hash: only
        // the full comparison tells them apart.
        let first: TokenDigest = [3; 32];
        let mut second = first;
        second[31] = 4;
        let cache = VerifiedTokens::new(64);
        cache.insert(first, verified(1_000), 0, 0);
        assert!(cache.get(&second).is_none(), "a near twin is a miss");
        cache.insert(second, verified(2_000), 0, 0);
        assert_eq!(cache.get(&first).map(|v| v.claims.exp), Some(1_000));
        assert_eq!(cache.get(&second).map(|v| v.claims.exp), Some(2_000));
    }

    #[test]
    fn capacity_zero_disables_the_cache() {
        let cache = VerifiedTokens::new(0);
        let d = VerifiedTokens::digest("t");
        cache.insert(d, verified(1_000), 0, 0);
        assert!(cache.get(&d).is_none());
    }
}
