//! Replay detection for DPoP proofs (RFC 9449 §11.1): every proof's `jti` is
//! remembered for as long as the proof could still be accepted, so a proof
//! captured on the way is worth one request at most.
//!
//! A store never forgets a proof that is still inside its window: a store
//! that is full, or cannot answer, refuses the request instead
//! ([`ReplayStoreError`]), because a forgotten `jti` is a replay waiting to
//! happen. [`MemoryReplayStore`] is right for one replica; several replicas
//! share a [`RedisReplayStore`].

mod memory;
mod redis;

use std::fmt;

use futures_util::future::BoxFuture;

pub use self::memory::MemoryReplayStore;
pub use self::redis::{RedisReplayStore, RedisStoreError, DEFAULT_REDIS_KEY_PREFIX};

/// The name this trait had before stores could fail; kept so library users'
/// code keeps compiling.
pub use self::ReplayStore as ReplayCache;

/// The name [`MemoryReplayStore`] had before it refused rather than evicted.
pub type MemoryReplayCache = MemoryReplayStore;

/// What identifies one proof in a replay store: SHA-256 over the proof key's
/// thumbprint and the `jti`, truncated to 128 bits. Keying by the key as
/// well means one client cannot block another's `jti`; hashing keeps every
/// entry the same small size whatever the client sends. A collision (odds
/// about 2^-100 at a full default store) could only refuse a proof, never
/// accept one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The key's 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// What a store says of a proof it was asked to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First use: recorded until the end of its window.
    New,
    /// Already recorded and not expired: a replay.
    Replay,
}

/// A store could not decide whether a proof is new. Either way the request
/// is refused (503 with `Retry-After`): the store fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayStoreError {
    /// Every slot holds a proof still inside its window; admitting one more
    /// would mean forgetting a live one.
    #[error("the DPoP replay store is full")]
    Full,
    /// The store did not answer in time, or answered with an error.
    #[error("the DPoP replay store is unavailable")]
    Unavailable,
}

impl ReplayStoreError {
    /// Stable, bounded label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Full => "replay_store_full",
            Self::Unavailable => "replay_store_unavailable",
        }
    }
}

/// How a store is doing, for metrics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStoreStats {
    /// Whether the store answered its last request (a memory store always can).
    pub up: bool,
    /// Requests the store could not answer (timeouts, connection errors).
    pub errors: u64,
    /// Proofs refused because the store was full.
    pub refused_full: u64,
    /// Proofs remembered now, where the store can tell cheaply.
    pub entries: Option<u64>,
}

/// Where used proofs are remembered. The method is asynchronous so a shared
/// store can do its I/O without blocking a worker.
pub trait ReplayStore: Send + Sync + fmt::Debug {
    /// Records `key` as used until `expires_at` (Unix seconds), at `now`,
    /// atomically: of two concurrent callers with the same key, exactly one
    /// sees [`Recorded::New`].
    fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'_, Result<Recorded, ReplayStoreError>>;

    /// The store's health and counters.
    fn stats(&self) -> ReplayStoreStats;

    /// A short description for the start-up log: the kind of store and, for
    /// a remote one, where it is (never a password).
    fn describe(&self) -> String;
}
