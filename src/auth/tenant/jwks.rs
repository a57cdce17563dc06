//! The key cache: OIDC discovery, JWKS fetch, background refresh, unknown-`kid`
//! refetch with a cooldown, single flight and stale-if-error.
//!
//! One fetcher thread owns the HTTP client and does all network I/O; workers
//! read the current key set through an `ArcSwap` (no lock at all) and only
//! talk to the fetcher, over a channel, when they miss. Because the fetcher
//! handles one fetch at a time and answers every request queued during it
//! with that fetch's outcome, concurrent misses share one upstream request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::{mpsc, oneshot};

use super::upstream::{Tenant, TenantError};
use crate::auth::keys::KeySet;
use crate::auth::policy::{Algorithm, KeyCachePolicy};
use crate::auth::thumbprint::KeyThumbprint;

// The transport helpers used to live here; their public paths stay.
pub use super::transport::{check_transport, discovery_url, is_loopback_host};

/// The current failure streak: since when fetches fail, and how the last
/// one failed, in words.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    summary: &'static str,
}

/// A shared, cheaply clonable handle to the key cache.
#[derive(Clone)]
pub struct KeyCache {
    state: Arc<State>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("issuer", &self.state.policy.issuer)
            .finish_non_exhaustive()
    }
}

/// Keys cannot be had right now: nothing usable is cached and the tenant
/// did not answer usefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysUnavailable {
    /// Seconds until the next fetch attempt, for `Retry-After`.
    pub retry_after_secs: u64,
}

/// Whether the cache can serve verifications, for a readiness probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Keys are loaded and younger than the maximum staleness.
    pub ready: bool,
    /// Age of the current key set, when there is one.
    pub key_set_age: Option<Duration>,
    /// Why the cache is not ready, or why its keys are ageing while it still
    /// serves, in words safe to show anyone (`keys not loaded yet`, `tenant
    /// unreachable for 12 min`): never a URL, host, port or upstream text.
    pub reason: Option<String>,
    /// The last refresh error as the operator needs it (it names URLs and
    /// upstream errors): for logs and local tools, never for a probe.
    pub last_error: Option<String>,
}

/// Counters of upstream traffic, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Discovery documents requested.
    pub discovery_requests: u64,
    /// JWKS documents requested.
    pub jwks_requests: u64,
    /// Refreshes that failed (any cause).
    pub failures: u64,
    /// Key sets installed.
    pub successes: u64,
}

/// The cache's configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyCacheError(String);

impl KeyCacheError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

struct State {
    policy: KeyCachePolicy,
    keys: ArcSwapOption<KeySet>,
    discovery_requests: AtomicU64,
    jwks_requests: AtomicU64,
    failures: AtomicU64,
    successes: AtomicU64,
    retry_after_secs: AtomicU64,
    /// Only ever locked for a moment to copy or replace a string; never held
    /// across an await.
    last_error: Mutex<Option<String>>,
    /// Set while fetches fail; locked like `last_error`.
    outage: Mutex<Option<Outage>>,
}

enum Reason {
    /// Nothing is cached: fetch unless a fetch just failed.
    Cold,
    /// A token named a key we do not have: fetch unless within the cooldown.
    UnknownKid,
}

struct Command {
    reason: Reason,
    reply: oneshot::Sender<()>,
}

impl KeyCache {
    /// Checks the policy and starts the fetcher thread, which loads the keys
    /// in the background right away (warm-up). Never waits on the network.
    pub fn start(policy: KeyCachePolicy) -> Result<Self, KeyCacheError> {
        let discovery_url = discovery_url(&policy.issuer).map_err(KeyCacheError)?;
        policy
            .validate()
            .map_err(|e| KeyCacheError(e.to_string()))?;
        let state = Arc::new(State::new(policy, None));
        let (commands, receiver) = mpsc::unbounded_channel();
        let fetcher_state = Arc::clone(&state);
        std::thread::Builder::new()
            .name("jwks-fetcher".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    match Tenant::new(&fetcher_state.policy, discovery_url) {
                        Ok(tenant) => Fetcher::new(fetcher_state, tenant).run(receiver).await,
                        Err(e) => log::error!("key cache cannot start its HTTP client: {e}"),
                    }
                });
            })
            .map_err(|e| KeyCacheError(format!("cannot start the key fetcher thread: {e}")))?;
        Ok(Self { state, commands })
    }

    /// A cache that always holds `keys` and never fetches: for keys known
    /// up front (tests, benchmarks, a local issuer's own key).
    pub fn with_keys(mut policy: KeyCachePolicy, keys: KeySet) -> Self {
        policy.max_stale = Duration::MAX;
        let (commands, _) = mpsc::unbounded_channel();
        Self {
            state: Arc::new(State::new(policy, Some(keys))),
            commands,
        }
    }

    /// The current key set, if one is loaded and not older than the maximum
    /// staleness. Lock-free; never touches the network.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.state.current()
    }

    /// Whether the current key set (as [`Self::current`] sees it) has a key
    /// named `kid`. Asked on every verified-token cache hit, so it reads the
    /// set through a per-thread guard: cloning the `Arc` would have every
    /// worker write the same reference count on every request.
    pub fn publishes(&self, kid: &str) -> bool {
        self.state.publishes(|keys| keys.contains_kid(kid))
    }

    /// Whether the current key set (as [`Self::current`] sees it) would
    /// check a token naming `kid` and `alg` with the key material whose
    /// RFC 7638 thumbprint is `thumbprint` ([`KeySet::publishes`]). Asked
    /// on every verified-token cache hit, through a per-thread guard like
    /// [`Self::publishes`], and without allocating.
    pub fn publishes_key(&self, kid: &str, alg: Algorithm, thumbprint: &KeyThumbprint) -> bool {
        self.state
            .publishes(|keys| keys.publishes(kid, alg, thumbprint))
    }

    /// The current key set, or, when there is none, the outcome of a fetch
    /// shared with every other request waiting for one.
    pub async fn load(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        if let Some(keys) = self.current() {
            return Ok(keys);
        }
        self.ask(Reason::Cold).await;
        self.current().ok_or_else(|| self.unavailable())
    }

    /// A token named a key we lack: refetch (at most once per cooldown, shared
    /// by all concurrent callers) and return the resulting set.
    pub async fn refetch_for_unknown_kid(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        self.ask(Reason::UnknownKid).await;
        self.current().ok_or_else(|| self.unavailable())
    }

    /// Whether verifications can be served, for `/readyz`.
    pub fn readiness(&self) -> Readiness {
        let current = self.current();
        let last_error = self.state.last_error.lock().ok().and_then(|e| e.clone());
        let outage = self.state.outage.lock().ok().and_then(|o| *o);
        let key_set_age = self
            .state
            .keys
            .load()
            .as_ref()
            .map(|k| k.fetched_at.elapsed());
        let reason = match (&current, outage, key_set_age) {
            (_, Some(outage), _) => Some(format!(
                "{} for {}",
                outage.summary,
                in_words(outage.since.elapsed())
            )),
            (None, None, None) => Some("keys not loaded yet".into()),
            (None, None, Some(_)) => Some("signing keys older than the maximum staleness".into()),
            (Some(_), None, _) => None,
        };
        Readiness {
            ready: current.is_some(),
            key_set_age,
            reason,
            last_error: match (&current, last_error) {
                (None, None) => Some("the key set is older than the maximum staleness".into()),
                (_, e) => e,
            },
        }
    }

    /// Upstream traffic so far.
    pub fn stats(&self) -> FetchStats {
        FetchStats {
            discovery_requests: self.state.discovery_requests.load(Ordering::Relaxed),
            jwks_requests: self.state.jwks_requests.load(Ordering::Relaxed),
            failures: self.state.failures.load(Ordering::Relaxed),
            successes: self.state.successes.load(Ordering::Relaxed),
        }
    }

    /// The issuer this cache fetches keys for.
    pub fn issuer(&self) -> &str {
        &self.state.policy.issuer
    }

    fn unavailable(&self) -> KeysUnavailable {
        KeysUnavailable {
            retry_after_secs: self.state.retry_after_secs.load(Ordering::Relaxed).max(1),
        }
    }

    async fn ask(&self, reason: Reason) {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command { reason, reply }).is_err() {
            return;
        }
        // The fetch is bounded by its own timeouts; this bound only guards
        // against a fetcher that is gone. Saturating: this runs on a worker,
        // and a policy's `Duration::MAX` must not panic it.
        let policy = &self.state.policy;
        let bound = policy
            .request_timeout
            .saturating_add(policy.connect_timeout)
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(1));
        let _ = tokio::time::timeout(bound, answer).await;
    }
}

impl State {
    fn new(policy: KeyCachePolicy, keys: Option<KeySet>) -> Self {
        let loaded = keys.is_some();
        Self {
            policy,
            keys: ArcSwapOption::new(keys.map(Arc::new)),
            discovery_requests: AtomicU64::new(0),
            jwks_requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            retry_after_secs: AtomicU64::new(1),
            last_error: Mutex::new((!loaded).then(|| "keys not loaded yet".into())),
            outage: Mutex::new(None),
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        let keys = self.keys.load_full()?;
        self.fresh(&keys).then_some(keys)
    }

    fn publishes(&self, has: impl FnOnce(&KeySet) -> bool) -> bool {
        let guard = self.keys.load();
        guard
            .as_deref()
            .is_some_and(|keys| self.fresh(keys) && has(keys))
    }

    /// Whether `keys` is young enough to use.
    fn fresh(&self, keys: &KeySet) -> bool {
        keys.fetched_at.elapsed() <= self.policy.max_stale
    }

    fn set_error(&self, error: Option<&TenantError>) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = error.map(ToString::to_string);
        }
        if let Ok(mut slot) = self.outage.lock() {
            *slot = error.map(|e| Outage {
                // The streak started at its first failure, not this one.
                since: slot.map_or_else(Instant::now, |o| o.since),
                summary: e.summary(),
            });
        }
    }
}

/// A duration as a person reads it on a status page: `45 s`, `12 min`, `3 h`.
fn in_words(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// Delays are capped here: the timer wheel cannot represent a deadline
/// much further out, and a refresh a century away is "never" all the same.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `delay` from now, without the panic of `Instant + Duration` when the sum
/// is past what an `Instant` holds: a panic here would kill the fetcher
/// thread silently and keys would stop refreshing.
fn after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay.min(FAR_FUTURE)).unwrap_or(now)
}

/// The fetcher's own state; lives on its thread only.
struct Fetcher {
    state: Arc<State>,
    tenant: Tenant,
    next_refresh: Instant,
    backoff: Duration,
    last_attempt_failed_at: Option<Instant>,
    last_kid_refetch: Option<Instant>,
}

impl Fetcher {
    fn new(state: Arc<State>, tenant: Tenant) -> Self {
        let backoff = state.policy.min_backoff;
        Self {
            state,
            tenant,
            next_refresh: Instant::now(),
            backoff,
            last_attempt_failed_at: None,
            last_kid_refetch: None,
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = tokio::time::Instant::from_std(self.next_refresh);
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    if self.should_fetch(&command.reason) {
                        if matches!(command.reason, Reason::UnknownKid) {
                            self.last_kid_refetch = Some(Instant::now());
                        }
                        self.refresh().await;
                        // Everyone who asked while the fetch ran shares its outcome.
                        while let Ok(waiting) = commands.try_recv() {
                            let _ = waiting.reply.send(());
                        }
                    }
                    let _ = command.reply.send(());
                }
                _ = tokio::time::sleep_until(deadline) => self.refresh().await,
            }
        }
    }

    fn should_fetch(&self, reason: &Reason) -> bool {
        let now = Instant::now();
        let have_keys = self.state.current().is_some();
        // After a failure the next attempt is due at `next_refresh`, the
        // current backoff after it (which doubles with each failure). Asking
        // earlier is not allowed to fetch: measuring from `min_backoff`
        // instead let requests arriving during an outage retry every
        // `min_backoff`, so the backoff only ever held without traffic.
        let recently_failed = self.last_attempt_failed_at.is_some() && now < self.next_refresh;
        match reason {
            Reason::Cold => !have_keys && !recently_failed,
            Reason::UnknownKid => {
                let cooling = self
                    .last_kid_refetch
                    .is_some_and(|t| now.duration_since(t) < self.state.policy.cooldown);
                // With nothing cached, a fresh failure means the tenant is down:
                // wait for the backoff like cold requests do.
                !cooling && (have_keys || !recently_failed)
            }
        }
    }

    async fn refresh(&mut self) {
        let policy = &self.state.policy;
        match self
            .tenant
            .fetch_keys(&self.state.discovery_requests, &self.state.jwks_requests)
            .await
        {
            Ok((keys, skipped, max_age)) => {
                for why in skipped {
                    log::warn!("JWKS from {}: skipped {why}", policy.issuer);
                }
                // Not `clamp`, which panics when min > max: `start` refuses
                // such a policy, and this thread must not die if one slips by.
                let ttl = max_age
                    .map(|age| age.max(policy.min_ttl).min(policy.max_ttl))
                    .unwrap_or(policy.ttl);
                log::info!(
                    "loaded {} signing key(s) for {}; next refresh in {}s",
                    keys.len(),
                    policy.issuer,
                    ttl.as_secs()
                );
                self.state.keys.store(Some(Arc::new(keys)));
                self.state.successes.fetch_add(1, Ordering::Relaxed);
                self.state.set_error(None);
                self.backoff = policy.min_backoff;
                self.last_attempt_failed_at = None;
                self.next_refresh = after(ttl);
            }
            Err(error) => {
                self.state.failures.fetch_add(1, Ordering::Relaxed);
                let message = error.to_string();
                if self.state.current().is_some() {
                    log::warn!(
                        "refreshing signing keys for {} failed, still serving the last good set: {message}",
                        policy.issuer
                    );
                } else {
                    log::error!(
                        "cannot load signing keys for {}; protected routes answer 503 until this is fixed: {message}",
                        policy.issuer
                    );
                }
                self.state.set_error(Some(&error));
                self.last_attempt_failed_at = Some(Instant::now());
                self.next_refresh = after(self.backoff);
                self.state
                    .retry_after_secs
                    .store(self.backoff.as_secs().max(1), Ordering::Relaxed);
                self.backoff = self.backoff.saturating_mul(2).min(policy.max_backoff);
                if matches!(error, TenantError::Jwks(..)) {
                    self.tenant.forget_jwks_uri();
                }
            }
        }
    }
}
