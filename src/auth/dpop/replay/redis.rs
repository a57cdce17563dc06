//! The shared replay store: Redis, so that a proof accepted by one replica
//! is a replay at every other. One atomic `SET key 1 NX PX ttl` a proof
//! (RFC 9449 §11.1 asks for exactly this "store and check" of `jti`).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Value};
use url::Url;

use super::{Recorded, ReplayKey, ReplayStore, ReplayStoreError, ReplayStoreStats};

/// The namespace of every key this store writes, so one Redis can serve
/// other applications too.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "auth0-actix-api:dpop:jti:";

/// The Redis URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RedisStoreError(String);

/// A replay store in Redis, shared by every replica that points at it.
///
/// Records are written with `SET key 1 NX PX ttl`: atomic, so of two
/// replicas seeing the same proof at once exactly one wins, and expiring by
/// themselves when the proof's window closes. The key is the prefix plus the
/// hex of the [`ReplayKey`] (proof key thumbprint and `jti`), never the
/// client's raw `jti`. Redis must not evict these keys before they expire
/// (`maxmemory-policy noeviction`), for the same reason the memory store
/// refuses rather than evicts.
///
/// One multiplexed connection serves all workers; it connects on first use
/// and reconnects by itself after Redis comes back. Every request is bounded
/// by `timeout`: a store that does not answer in time fails closed
/// ([`ReplayStoreError::Unavailable`]), so DPoP requests get a 503 while
/// Bearer requests, which need no store, are served as usual.
pub struct RedisReplayStore {
    client: Client,
    manager: OnceLock<Result<ConnectionManager, String>>,
    timeout: Duration,
    prefix: String,
    described: String,
    up: AtomicBool,
    errors: AtomicU64,
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("at", &self.described)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// A store at `url` (`redis://` or `rediss://` for TLS; user, password
    /// and database number as Redis URLs allow), answering within `timeout`
    /// or failing closed. Does no I/O: the connection is made on first use,
    /// so a Redis that is down at start-up does not keep the service down.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RedisStoreError> {
        let parsed = Url::parse(url).map_err(|e| RedisStoreError(format!("not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(RedisStoreError(format!(
                "scheme {:?} is not redis:// or rediss://",
                parsed.scheme()
            )));
        }
        if timeout.is_zero() {
            return Err(RedisStoreError("the timeout must be above zero".into()));
        }
        let client = Client::open(url).map_err(|e| RedisStoreError(e.to_string()))?;
        Ok(Self {
            client,
            manager: OnceLock::new(),
            timeout,
            prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
            described: redacted(&parsed),
            up: AtomicBool::new(true),
            errors: AtomicU64::new(0),
        })
    }

    /// The same store writing its keys under `prefix` instead of
    /// [`DEFAULT_REDIS_KEY_PREFIX`].
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The Redis key of `key`.
    pub fn redis_key(&self, key: &ReplayKey) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 32);
        out.push_str(&self.prefix);
        crate::auth::hex::push_hex(&mut out, key.as_bytes());
        out
    }

    /// The connection manager, made on first use inside the caller's Tokio
    /// runtime (an Actix worker's), where its connection task then runs.
    fn manager(&self) -> Result<ConnectionManager, String> {
        self.manager
            .get_or_init(|| {
                // Reconnecting is bounded by our own timeout per request;
                // Redis's retries only smooth over a blip within it.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(self.timeout);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    async fn set_nx(&self, key: String, ttl_ms: u64) -> Result<Recorded, String> {
        let mut connection = self.manager()?;
        let command = async {
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<Value>(&mut connection)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.timeout, command).await {
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
            Ok(Err(e)) => Err(e),
            // `SET ... NX` answers OK when it set the key and nil when the
            // key was there already.
            Ok(Ok(Value::Nil)) => Ok(Recorded::Replay),
            Ok(Ok(Value::Okay)) => Ok(Recorded::New),
            Ok(Ok(Value::SimpleString(s))) if s == "OK" => Ok(Recorded::New),
            Ok(Ok(other)) => Err(format!("unexpected answer to SET NX: {other:?}")),
        }
    }

    fn note(&self, outcome: &Result<Recorded, String>) {
        match outcome {
            Ok(_) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    log::info!(
                        "the DPoP replay store at {} answers again; DPoP requests are served",
                        self.described
                    );
                }
            }
            Err(cause) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                // Logged once per outage at error level, then at debug, so an
                // outage under load does not flood the log.
                if self.up.swap(false, Ordering::Relaxed) {
                    log::error!(
                        "the DPoP replay store at {} cannot answer ({cause}); DPoP requests are refused with 503 until it does, Bearer requests are unaffected",
                        self.described
                    );
                } else {
                    log::debug!("the DPoP replay store is still unavailable: {cause}");
                }
            }
        }
    }
}

/// `url` without its password, for logs.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password, and this one has.
        let _ = shown.set_password(Some("******"));
    }
    shown.to_string()
}

impl ReplayStore for RedisReplayStore {
    fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'_, Result<Recorded, ReplayStoreError>> {
        let ttl_secs = u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0);
        // A proof whose window has closed would have been refused as too
        // old; a 1 ms record keeps the arithmetic total anyway.
        let ttl_ms = ttl_secs.saturating_mul(1000).max(1);
        let redis_key = self.redis_key(&key);
        Box::pin(async move {
            let outcome = self.set_nx(redis_key, ttl_ms).await;
            self.note(&outcome);
            outcome.map_err(|_| ReplayStoreError::Unavailable)
        })
    }

    fn stats(&self) -> ReplayStoreStats {
        ReplayStoreStats {
            up: self.up.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            refused_full: 0,
            entries: None,
        }
    }

    fn describe(&self) -> String {
        format!("Redis at {}", self.described)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_redis_urls_are_taken() {
        for bad in ["memory", "http://127.0.0.1:6379", "redis//x", ""] {
            assert!(
                RedisReplayStore::new(bad, Duration::from_millis(100)).is_err(),
                "{bad:?} is refused"
            );
        }
        for good in [
            "redis://127.0.0.1:6379",
            "rediss://user:pw@redis.example:6380/2",
        ] {
            assert!(
                RedisReplayStore::new(good, Duration::from_millis(100)).is_ok(),
                "{good:?} is taken"
            );
        }
    }

    #[test]
    fn the_password_never_shows_and_keys_are_namespaced_hex() {
        let store = RedisReplayStore::new(
            "redis://app:s3cret@127.0.0.1:6379/1",
            Duration::from_secs(1),
        )
        .unwrap();
        let shown = format!("{} {store:?}", store.describe());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
        let key = store.redis_key(&ReplayKey::new("jkt", "jti"));
        assert!(key.starts_with(DEFAULT_REDIS_KEY_PREFIX), "{key}");
        let hex = &key[DEFAULT_REDIS_KEY_PREFIX.len()..];
        assert_eq!(hex.len(), 32, "{key}");
        assert!(
            hex.bytes().all(|b| b"0123456789abcdef".contains(&b)),
            "{key}"
        );
        let other = store.redis_key(&ReplayKey::new("jkt", "jti2"));
        assert_ne!(key, other, "another jti, another key");
    }
}
