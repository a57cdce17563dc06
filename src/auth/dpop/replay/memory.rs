//! The in-memory replay store: one replica's memory of the proofs it has
//! seen, bounded, and refusing rather than forgetting when full.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use futures_util::future::{ready, BoxFuture};

use super::{Recorded, ReplayKey, ReplayStore, ReplayStoreError, ReplayStoreStats};

/// How often, at most, a full store says so in the log: the refusals are
/// counted in the metrics, and a flood must not become a flood of log lines.
const FULL_LOG_INTERVAL_SECS: i64 = 60;

/// A bounded in-memory replay store. Entries expire with their proof's
/// acceptance window. When every slot holds a live proof, new proofs are
/// refused ([`ReplayStoreError::Full`]) and nothing is evicted: evicting the
/// oldest entry would let a client that floods the store with its own fresh
/// proofs replay a victim's captured proof once it falls out. That is also
/// why it is not built on a cache crate (`quick_cache`, `moka`): each of
/// them evicts to make room, and none can refuse instead. Size it for
/// the peak: entries ≈ peak proofs per second × window (about 100 bytes
/// each). The lock is held for a few heap and map operations, never across
/// an await.
#[derive(Debug)]
pub struct MemoryReplayStore {
    capacity: usize,
    inner: Mutex<Entries>,
    refused_full: AtomicU64,
    last_full_log: AtomicI64,
}

#[derive(Debug, Default)]
struct Entries {
    /// Expiry of every remembered proof.
    expiry: HashMap<ReplayKey, i64>,
    /// The same entries ordered by expiry, soonest first, so expired ones
    /// are found exactly even when proofs arrive out of `iat` order.
    by_expiry: BinaryHeap<Reverse<(i64, ReplayKey)>>,
}

impl MemoryReplayStore {
    /// A store remembering at most `capacity` live proofs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
            refused_full: AtomicU64::new(0),
            last_full_log: AtomicI64::new(i64::MIN),
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

    /// The synchronous core of [`ReplayStore::record`].
    pub fn insert(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> Result<Recorded, ReplayStoreError> {
        let mut entries = self.lock();
        entries.drop_expired(now);
        if entries.expiry.contains_key(&key) {
            return Ok(Recorded::Replay);
        }
        if entries.expiry.len() >= self.capacity {
            drop(entries);
            self.refuse_full(now);
            return Err(ReplayStoreError::Full);
        }
        entries.expiry.insert(key, expires_at);
        entries.by_expiry.push(Reverse((expires_at, key)));
        Ok(Recorded::New)
    }

    fn refuse_full(&self, now: i64) {
        self.refused_full.fetch_add(1, Ordering::Relaxed);
        let last = self.last_full_log.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= FULL_LOG_INTERVAL_SECS;
        if due
            && self
                .last_full_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::error!(
                "the DPoP replay store is full ({} live proofs); DPoP requests are refused with 503 until proofs expire; raise dpop.replay_cache_entries (peak proofs per second x acceptance window) or use a shared store (dpop.replay_store); {} refused so far",
                self.capacity,
                self.refused_full.load(Ordering::Relaxed)
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Nothing in the critical section can panic, but a poisoned lock
        // must not take the request path down with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    /// Drops every entry whose window has closed.
    fn drop_expired(&mut self, now: i64) {
        while let Some(&Reverse((expires_at, key))) = self.by_expiry.peek() {
            if expires_at > now {
                break;
            }
            self.by_expiry.pop();
            self.expiry.remove(&key);
        }
    }
}

impl ReplayStore for MemoryReplayStore {
    fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'_, Result<Recorded, ReplayStoreError>> {
        Box::pin(ready(self.insert(key, expires_at, now)))
    }

    fn stats(&self) -> ReplayStoreStats {
        ReplayStoreStats {
            up: true,
            errors: 0,
            refused_full: self.refused_full.load(Ordering::Relaxed),
            entries: u64::try_from(self.len()).ok(),
        }
    }

    fn describe(&self) -> String {
        format!("in memory, {} proofs at most", self.capacity)
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
        let store = MemoryReplayStore::new(10);
        assert_eq!(
            store.insert(key("a"), 1_300, 1_000),
            Ok(Recorded::New),
            "first use is accepted"
        );
        assert_eq!(
            store.insert(key("a"), 1_300, 1_001),
            Ok(Recorded::Replay),
            "second use is a replay"
        );
        assert_eq!(
            store.insert(key("b"), 1_300, 1_001),
            Ok(Recorded::New),
            "another jti is new"
        );
        assert_eq!(
            store.insert(key("a"), 1_700, 1_300),
            Ok(Recorded::New),
            "after its window, the jti is forgotten (the proof is too old anyway)"
        );
    }

    #[test]
    fn the_same_jti_under_another_key_is_a_different_proof() {
        let store = MemoryReplayStore::new(10);
        for jkt in ["k1", "k2"] {
            assert_eq!(
                store.insert(ReplayKey::new(jkt, "a"), 2_000, 1_000),
                Ok(Recorded::New),
                "{jkt}"
            );
        }
    }

    #[test]
    fn a_full_store_refuses_new_proofs_and_still_knows_every_live_one() {
        let store = MemoryReplayStore::new(3);
        for i in 0..3 {
            assert_eq!(
                store.insert(key(&i.to_string()), 5_000, 1_000),
                Ok(Recorded::New)
            );
        }
        for i in 3..100 {
            assert_eq!(
                store.insert(key(&i.to_string()), 5_000, 1_000),
                Err(ReplayStoreError::Full),
                "proof {i} is refused, not admitted by evicting another"
            );
        }
        assert_eq!(store.len(), 3, "bounded at 3");
        assert_eq!(
            store.insert(key("0"), 5_000, 1_001),
            Ok(Recorded::Replay),
            "the oldest proof is still remembered after the flood"
        );
        assert_eq!(store.stats().refused_full, 97, "every refusal is counted");
        assert_eq!(
            store.insert(key("new"), 5_200, 5_000),
            Ok(Recorded::New),
            "room again once the windows close"
        );
    }

    #[test]
    fn expired_entries_are_dropped_even_behind_a_later_one() {
        let store = MemoryReplayStore::new(100);
        // A proof with a later iat arrives first: its window ends last.
        store.insert(key("late"), 1_500, 1_000).ok();
        for i in 0..50 {
            store.insert(key(&i.to_string()), 1_100, 1_000).ok();
        }
        store.insert(key("now"), 1_600, 1_200).ok();
        assert_eq!(store.len(), 2, "only the two live entries are left");
    }
}
