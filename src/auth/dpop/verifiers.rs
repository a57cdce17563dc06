//! A small cache of proof keys by proof header. A client sends the same
//! header (`typ`, `alg` and its public `jwk`) with every proof, and decoding
//! that header, checking it and building a verifier from its key costs more
//! than a tenth of an ES256 verification, so each header is checked once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use super::proof_key::ProofKey;

/// Proof keys remembered by default; a few hundred KiB at most.
pub const DEFAULT_VERIFIER_CACHE_ENTRIES: usize = 1024;

/// SHA-256 of a proof's header exactly as sent (base64url), so a header
/// with any member changed (`alg`, `use`, `key_ops` included) is decoded
/// and checked afresh.
type CacheKey = [u8; 32];

/// A bounded map from proof headers to the keys they carry; the oldest
/// entry goes when it is full, so a flood of fresh keys costs what it would
/// without the cache and no more memory. The lock is held for one lookup or
/// insert.
#[derive(Debug)]
pub struct VerifierCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    keys: HashMap<CacheKey, Arc<ProofKey>>,
    order: VecDeque<CacheKey>,
}

impl VerifierCache {
    /// A cache of at most `capacity` keys; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries::default()),
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
        if self.capacity == 0 {
            return build().map(Arc::new);
        }
        let digest = super::super::signature::sha256(header.as_bytes());
        if let Some(key) = self.lock().keys.get(&digest) {
            return Ok(Arc::clone(key));
        }
        // Built outside the lock: two workers may build the same key at
        // once, which is cheaper than making either wait.
        let key = Arc::new(build()?);
        let mut entries = self.lock();
        if entries.keys.insert(digest, Arc::clone(&key)).is_none() {
            entries.order.push_back(digest);
        }
        while entries.keys.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.keys.remove(&oldest);
        }
        Ok(key)
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
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
    fn a_header_is_built_once_and_the_cache_stays_bounded() {
        let cache = VerifierCache::new(2);
        let mut builds = 0;
        for _ in 0..3 {
            cache
                .get_or_build::<()>("first", || {
                    builds += 1;
                    Ok(key())
                })
                .unwrap();
        }
        assert_eq!(builds, 1, "one build for one header");
        for header in ["second", "third", "fourth"] {
            cache.get_or_build::<()>(header, || Ok(key())).unwrap();
        }
        assert_eq!(cache.len(), 2, "bounded at its capacity");
        let mut rebuilt = false;
        cache
            .get_or_build::<()>("first", || {
                rebuilt = true;
                Ok(key())
            })
            .unwrap();
        assert!(rebuilt, "the oldest header was evicted");
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
