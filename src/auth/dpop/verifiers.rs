//! A small cache of proof verifiers by public key. A client signs every
//! proof with the same key, and building a verifier from a JWK costs more
//! than checking the signature (josekit goes through OpenSSL's DER decoder:
//! about 150 µs against 80 µs for an ES256 verification, measured on the
//! 2-core build machine), so each key's verifier is built once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

use super::super::policy::ProofAlgorithm;

/// Verifiers remembered by default; a few hundred KiB at most.
pub const DEFAULT_VERIFIER_CACHE_ENTRIES: usize = 1024;

/// Which verifier: the algorithm and SHA-256 of the JWK exactly as sent, so
/// a key with any member changed (`alg`, `use`, `key_ops` included, which
/// josekit checks) is built and checked afresh.
type CacheKey = (ProofAlgorithm, [u8; 32]);

/// A bounded map from public keys to verifiers; the oldest entry goes when
/// it is full, so a flood of fresh keys costs what it would without the
/// cache and no more memory. The lock is held for one lookup or insert.
#[derive(Debug)]
pub struct VerifierCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    verifiers: HashMap<CacheKey, Arc<dyn JwsVerifier>>,
    order: VecDeque<CacheKey>,
}

impl VerifierCache {
    /// A cache of at most `capacity` verifiers; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The verifier for `jwk` under `alg`, built by `build` on a miss. Build
    /// failures are not remembered.
    pub fn get_or_build<E>(
        &self,
        alg: ProofAlgorithm,
        jwk: &Map<String, Value>,
        build: impl FnOnce() -> Result<Arc<dyn JwsVerifier>, E>,
    ) -> Result<Arc<dyn JwsVerifier>, E> {
        let key = match serde_json::to_vec(jwk) {
            Ok(bytes) if self.capacity > 0 => (alg, super::super::signature::sha256(&bytes)),
            _ => return build(),
        };
        if let Some(verifier) = self.lock().verifiers.get(&key) {
            return Ok(Arc::clone(verifier));
        }
        // Built outside the lock: two workers may build the same verifier
        // at once, which is cheaper than making either wait.
        let verifier = build()?;
        let mut entries = self.lock();
        if entries
            .verifiers
            .insert(key, Arc::clone(&verifier))
            .is_none()
        {
            entries.order.push_back(key);
        }
        while entries.verifiers.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.verifiers.remove(&oldest);
        }
        Ok(verifier)
    }

    /// How many verifiers are remembered.
    pub fn len(&self) -> usize {
        self.lock().verifiers.len()
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
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::KeyPair;
    use josekit::jws::ES256;

    fn jwk() -> Map<String, Value> {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        pair.to_jwk_public_key().as_ref().clone()
    }

    fn build(jwk: &Map<String, Value>) -> Result<Arc<dyn JwsVerifier>, ()> {
        let key = josekit::jwk::Jwk::from_map(jwk.clone()).unwrap();
        Ok(Arc::new(ES256.verifier_from_jwk(&key).unwrap()))
    }

    #[test]
    fn a_key_is_built_once_and_the_cache_stays_bounded() {
        let cache = VerifierCache::new(2);
        let first = jwk();
        let mut builds = 0;
        for _ in 0..3 {
            cache
                .get_or_build(ProofAlgorithm::ES256, &first, || {
                    builds += 1;
                    build(&first)
                })
                .unwrap();
        }
        assert_eq!(builds, 1, "one build for one key");
        for _ in 0..5 {
            let other = jwk();
            cache
                .get_or_build(ProofAlgorithm::ES256, &other, || build(&other))
                .unwrap();
        }
        assert_eq!(cache.len(), 2, "bounded at its capacity");
        let mut rebuilt = false;
        cache
            .get_or_build(ProofAlgorithm::ES256, &first, || {
                rebuilt = true;
                build(&first)
            })
            .unwrap();
        assert!(rebuilt, "the oldest key was evicted");
    }

    #[test]
    fn a_changed_member_or_failed_build_is_not_served_from_the_cache() {
        let cache = VerifierCache::new(8);
        let key = jwk();
        cache
            .get_or_build(ProofAlgorithm::ES256, &key, || build(&key))
            .unwrap();
        let mut with_use = key.clone();
        with_use.insert("use".into(), Value::String("enc".into()));
        let outcome = cache.get_or_build(ProofAlgorithm::ES256, &with_use, || Err("refused"));
        assert_eq!(
            outcome.err(),
            Some("refused"),
            "another JWK is built afresh"
        );
        assert_eq!(cache.len(), 1, "a failed build is not remembered");
    }
}
