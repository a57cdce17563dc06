//! A small cache of proof keys by proof header. A client sends the same
//! header (`typ`, `alg` and its public `jwk`) with every proof, and decoding
//! that header, checking it and building a verifier from its key costs more
//! than a tenth of an ES256 verification, so each header is checked once.

use std::sync::Arc;

use quick_cache::sync::Cache;

use super::proof_key::ProofKey;

/// Proof keys remembered by default; a few hundred KiB at most.
pub const DEFAULT_VERIFIER_CACHE_ENTRIES: usize = 1024;

/// SHA-256 of a proof's header exactly as sent (base64url), so a header
/// with any member changed (`alg`, `use`, `key_ops` included) is decoded
/// and checked afresh.
type CacheKey = [u8; 32];

/// A bounded map from proof headers to the keys they carry (`quick_cache`).
/// When it is full, a header seen once goes before one that keeps coming
/// back, so a flood of fresh keys costs what it would without the cache,
/// takes no more memory, and does not push out the keys of the clients
/// that are using theirs.
pub struct VerifierCache {
    keys: Option<Cache<CacheKey, Arc<ProofKey>>>,
}

impl std::fmt::Debug for VerifierCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierCache")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl VerifierCache {
    /// A cache of about `capacity` keys (each shard's share is rounded up);
    /// 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// The key of the proof header `header` (its base64url segment), built
    /// by `build` on a miss. `build` must check everything about the header
    /// that does not depend on the caller's policy, since a hit skips it.
    /// Build failures are not remembered.
    pub fn get_or_build<E>(
        &self,
        header: &str,
        build: impl FnOnce() -> Result<ProofKey, E>,
    ) -> Result<Arc<ProofKey>, E> {
        let Some(keys) = &self.keys else {
            return build().map(Arc::new);
        };
        let digest = super::super::signature::sha256(header.as_bytes());
        if let Some(key) = keys.get(&digest) {
            return Ok(key);
        }
        // Built outside any lock: two workers may build the same key at
        // once, which is cheaper than making either wait.
        let key = Arc::new(build()?);
        keys.insert(digest, Arc::clone(&key));
        Ok(key)
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.keys.as_ref().map_or(0, Cache::len)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::ProofAlgorithm;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::KeyPair;

    fn key() -> ProofKey {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        ProofKey::from_jwk(ProofAlgorithm::ES256, pair.to_jwk_public_key().as_ref()).unwrap()
    }

    #[test]
    fn a_header_is_built_once_and_a_flood_of_new_headers_does_not_push_it_out() {
        let cache = VerifierCache::new(64);
        let mut builds = 0;
        let mut use_client_key = |cache: &VerifierCache| {
            cache
                .get_or_build::<()>("client", || {
                    builds += 1;
                    Ok(key())
                })
                .unwrap();
        };
        for _ in 0..3 {
            use_client_key(&cache);
        }
        // Fresh headers (a client minting a key per proof, or an attacker)
        // between the client's proofs. Evicting in arrival order would
        // rebuild the client's key about once every 64 of them.
        for i in 0..2_000 {
            cache
                .get_or_build::<()>(&format!("fresh-{i}"), || Ok(key()))
                .unwrap();
            if i % 8 == 0 {
                use_client_key(&cache);
            }
        }
        assert_eq!(builds, 1, "one build for one header");
        assert!(cache.len() <= 64, "bounded: {}", cache.len());
    }

    #[test]
    fn another_header_or_a_failed_build_is_not_served_from_the_cache() {
        let cache = VerifierCache::new(8);
        let built = cache.get_or_build::<()>("header", || Ok(key())).unwrap();
        let again = cache.get_or_build::<()>("header", || Err(())).unwrap();
        assert!(Arc::ptr_eq(&built, &again), "the same header is a hit");
        let outcome = cache.get_or_build("headeR", || Err("refused"));
        assert_eq!(
            outcome.err(),
            Some("refused"),
            "another header is built afresh"
        );
        assert_eq!(cache.len(), 1, "a failed build is not remembered");
        let disabled = VerifierCache::new(0);
        disabled.get_or_build::<()>("header", || Ok(key())).unwrap();
        assert!(disabled.is_empty(), "capacity 0 remembers nothing");
    }
}
