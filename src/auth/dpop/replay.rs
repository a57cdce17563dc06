//! Replay detection for DPoP proofs (RFC 9449 §11.1): every proof's `jti` is
//! remembered for as long as the proof could still be accepted, so a proof
//! captured on the way is worth one request at most.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use futures_util::future::{ready, BoxFuture};

/// What identifies one proof in a replay cache: SHA-256 over the proof key's
/// thumbprint and the `jti`, truncated to 128 bits. Keying by the key as
/// well means one client cannot block another's `jti`; hashing keeps every
/// entry the same small size whatever the client sends. A collision (odds
/// about 2^-100 at a full default cache) could only refuse a proof, never
/// accept one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey([u8; 16]);

impl ReplayKey {
    /// The key of the proof with `jti` signed by the key whose RFC 7638
    /// thumbprint is `jkt`.
    pub fn new(jkt: &str, jti: &str) -> Self {
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(jkt.as_bytes());
        // The thumbprint is base64url, so a NUL separates the two unambiguously.
        hasher.update(&[0]);
        hasher.update(jti.as_bytes());
        let digest = hasher.finish();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }
}

/// Where used proofs are remembered. The in-memory [`MemoryReplayCache`] is
/// right for one replica; several replicas behind one load balancer need a
/// shared store, which implements this trait. The method is asynchronous so
/// such a store can do its I/O without blocking a worker.
pub trait ReplayCache: Send + Sync + fmt::Debug {
    /// Records `key` as used until `expires_at` (Unix seconds), at `now`.
    /// Resolves to `true` when the proof is new, `false` when it was already
    /// recorded and has not expired: a replay. A store that cannot answer
    /// decides for itself; refusing (`false`) is the safe choice.
    fn insert_if_new(&self, key: ReplayKey, expires_at: i64, now: i64) -> BoxFuture<'_, bool>;
}

/// A bounded in-memory replay cache. Entries expire with their proof's
/// acceptance window; when the cache is full the oldest entry is evicted, so
/// a flood of proofs cannot exhaust memory (it can only shorten how long
/// proofs are remembered, and each proof in such a flood needs a valid token
/// and its key). The lock is held for a few hash-map operations, never
/// across an await.
#[derive(Debug)]
pub struct MemoryReplayCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Expiry of every remembered proof.
    expiry: HashMap<ReplayKey, i64>,
    /// The same entries in insertion order, for expiry and eviction.
    order: VecDeque<(ReplayKey, i64)>,
}

impl MemoryReplayCache {
    /// A cache remembering at most `capacity` proofs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }

    /// How many proofs are remembered now.
    pub fn len(&self) -> usize {
        self.lock().expiry.len()
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The synchronous core of [`ReplayCache::insert_if_new`].
    pub fn insert(&self, key: ReplayKey, expires_at: i64, now: i64) -> bool {
        let mut entries = self.lock();
        entries.drop_expired(now);
        if entries.expiry.get(&key).is_some_and(|&e| e > now) {
            return false;
        }
        entries.expiry.insert(key, expires_at);
        entries.order.push_back((key, expires_at));
        while entries.expiry.len() > self.capacity {
            if !entries.pop_oldest() {
                break;
            }
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Nothing in the critical section can panic, but a poisoned lock
        // must not take the request path down with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    /// Drops expired entries from the front. Expiries follow insertion order
    /// closely (iat plus a constant), so stopping at the first live entry
    /// leaves at most a few expired ones behind, and capacity bounds them.
    fn drop_expired(&mut self, now: i64) {
        while self.order.front().is_some_and(|&(_, e)| e <= now) {
            self.pop_oldest();
        }
    }

    /// Removes the oldest entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        let Some((key, expires_at)) = self.order.pop_front() else {
            return false;
        };
        // A key recorded again after it expired has a newer entry further
        // back; only remove the map entry this queue entry stands for.
        if self.expiry.get(&key) == Some(&expires_at) {
            self.expiry.remove(&key);
        }
        true
    }
}

impl ReplayCache for MemoryReplayCache {
    fn insert_if_new(&self, key: ReplayKey, expires_at: i64, now: i64) -> BoxFuture<'_, bool> {
        Box::pin(ready(self.insert(key, expires_at, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(jti: &str) -> ReplayKey {
        ReplayKey::new("thumbprint", jti)
    }

    #[test]
    fn a_proof_is_accepted_once_within_its_window() {
        let cache = MemoryReplayCache::new(10);
        assert!(
            cache.insert(key("a"), 1_300, 1_000),
            "first use is accepted"
        );
        assert!(
            !cache.insert(key("a"), 1_300, 1_001),
            "second use is a replay"
        );
        assert!(cache.insert(key("b"), 1_300, 1_001), "another jti is new");
        assert!(
            cache.insert(key("a"), 1_700, 1_300),
            "after its window, the jti is forgotten (the proof is too old anyway)"
        );
    }

    #[test]
    fn the_same_jti_under_another_key_is_a_different_proof() {
        let cache = MemoryReplayCache::new(10);
        assert!(cache.insert(ReplayKey::new("k1", "a"), 2_000, 1_000), "k1");
        assert!(cache.insert(ReplayKey::new("k2", "a"), 2_000, 1_000), "k2");
    }

    #[test]
    fn a_full_cache_evicts_the_oldest_and_stays_bounded() {
        let cache = MemoryReplayCache::new(3);
        for i in 0..100 {
            assert!(cache.insert(key(&i.to_string()), 5_000, 1_000), "entry {i}");
            assert!(cache.len() <= 3, "bounded at 3, got {}", cache.len());
        }
        assert!(
            !cache.insert(key("99"), 5_000, 1_000),
            "the newest are remembered"
        );
        assert!(
            cache.insert(key("0"), 5_000, 1_000),
            "the oldest were evicted"
        );
    }

    #[test]
    fn expired_entries_are_dropped() {
        let cache = MemoryReplayCache::new(100);
        for i in 0..50 {
            cache.insert(key(&i.to_string()), 1_100, 1_000);
        }
        cache.insert(key("late"), 1_500, 1_200);
        assert_eq!(cache.len(), 1, "only the live entry is left");
    }
}
