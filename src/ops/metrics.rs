//! Prometheus metrics, kept in atomics and rendered in the text exposition
//! format on scrape. Every label value comes from a bounded set: the matched
//! route pattern (never the raw path), the method, the status code, the
//! auth outcome label, and the configured issuers. Never a token or a `sub`.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::auth::dpop::ReplayStoreStats;
use crate::auth::jwks::FetchStats;
use crate::auth::{Issuers, Readiness};

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds, so it fits an integer atomic.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// What is kept per matched route.
#[derive(Default)]
struct RouteMetrics {
    latency: Histogram,
    /// Requests by (method, status).
    responses: RwLock<BTreeMap<(&'static str, u16), AtomicU64>>,
}

impl RouteMetrics {
    fn record(&self, method: &'static str, status: u16, latency: Duration) {
        self.latency.observe(latency);
        let key = (method, status);
        with_entry(&self.responses, &key, || key, count_one);
    }
}

fn count_one(count: &AtomicU64) {
    count.fetch_add(1, Ordering::Relaxed);
}

/// Runs `use_entry` on the entry for `key`: under a read lock when the key
/// is known, under the write lock the first time, creating the entry (and
/// its owned key, with `owned`) then.
fn with_entry<K, Q, V>(
    map: &RwLock<BTreeMap<K, V>>,
    key: &Q,
    owned: impl FnOnce() -> K,
    use_entry: impl FnOnce(&V),
) where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
    V: Default,
{
    if let Ok(entries) = map.read() {
        if let Some(entry) = entries.get(key) {
            return use_entry(entry);
        }
    }
    if let Ok(mut entries) = map.write() {
        use_entry(entries.entry(owned()).or_default());
    }
}

/// The service's metrics, shared by all workers. Each map takes a write
/// lock only the first time it sees a key (the key sets are small and
/// bounded, so a handful of times per process); otherwise a request costs
/// read locks and relaxed atomic adds, with no allocation.
#[derive(Default)]
pub struct Metrics {
    routes: RwLock<BTreeMap<String, RouteMetrics>>,
    auth_outcomes: RwLock<BTreeMap<&'static str, AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record_request(
        &self,
        route: &str,
        method: &'static str,
        status: u16,
        latency: Duration,
    ) {
        with_entry(
            &self.routes,
            route,
            || route.to_owned(),
            |metrics: &RouteMetrics| metrics.record(method, status, latency),
        );
    }

    /// Records the outcome of an authentication attempt (`ok`, `expired`, ...).
    pub fn record_auth(&self, outcome: &'static str) {
        with_entry(&self.auth_outcomes, outcome, || outcome, count_one);
    }

    /// The Prometheus text exposition of everything, with each issuer's key
    /// cache counters read at scrape time.
    pub fn render(&self, issuers: &Issuers, replay: Option<ReplayStoreStats>) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP http_requests_total HTTP requests by matched route, method and status."
        );
        let _ = writeln!(out, "# TYPE http_requests_total counter");
        // Counters stay meaningful even if a writer panicked mid-insert.
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        for (route, metrics) in routes.iter() {
            let responses = metrics
                .responses
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            for ((method, status), count) in responses.iter() {
                let _ = writeln!(
                    out,
                    "http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                    label(route),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP http_request_duration_seconds Request latency by matched route."
        );
        let _ = writeln!(out, "# TYPE http_request_duration_seconds histogram");
        for (route, metrics) in routes.iter() {
            let h = &metrics.latency;
            let route = label(route);
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP auth_outcomes_total Authentication and authorization outcomes by reason."
        );
        let _ = writeln!(out, "# TYPE auth_outcomes_total counter");
        drop(routes);
        let outcomes = self
            .auth_outcomes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for (reason, count) in outcomes.iter() {
            let _ = writeln!(
                out,
                "auth_outcomes_total{{reason=\"{reason}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        drop(outcomes);
        // One series per configured issuer: the label's values are the
        // configuration's, so they stay as few as the issuers.
        let issuers: Vec<(String, FetchStats, Readiness)> = issuers
            .iter()
            .map(|(issuer, keys)| (label(issuer), keys.stats(), keys.readiness()))
            .collect();
        type Value = fn(&FetchStats, &Readiness) -> String;
        let families: [(&str, &str, &str, Value); 6] = [
            (
                "jwks_discovery_requests_total",
                "counter",
                "OIDC discovery documents requested from the issuer.",
                |stats, _| stats.discovery_requests.to_string(),
            ),
            (
                "jwks_requests_total",
                "counter",
                "JWKS documents requested from the issuer.",
                |stats, _| stats.jwks_requests.to_string(),
            ),
            (
                "jwks_refresh_failures_total",
                "counter",
                "Key refreshes that failed.",
                |stats, _| stats.failures.to_string(),
            ),
            (
                "jwks_refresh_successes_total",
                "counter",
                "Key sets installed.",
                |stats, _| stats.successes.to_string(),
            ),
            (
                "jwks_key_set_age_seconds",
                "gauge",
                "Age of the issuer's current key set (-1 when none is loaded).",
                |_, readiness| {
                    readiness
                        .key_set_age
                        .map_or("-1".into(), |a| format!("{:.3}", a.as_secs_f64()))
                },
            ),
            (
                "jwks_ready",
                "gauge",
                "1 when the issuer's signing keys are loaded and fresh enough.",
                |_, readiness| u8::from(readiness.ready).to_string(),
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (issuer, stats, readiness) in &issuers {
                let _ = writeln!(
                    out,
                    "{name}{{issuer=\"{issuer}\"}} {}",
                    value(stats, readiness)
                );
            }
        }
        if let Some(replay) = replay {
            let mut store: Vec<(&str, &str, &str, String)> = vec![
                (
                    "dpop_replay_store_up",
                    "gauge",
                    "1 when the DPoP replay store answered its last request.",
                    u8::from(replay.up).to_string(),
                ),
                (
                    "dpop_replay_store_errors_total",
                    "counter",
                    "DPoP replay store requests that failed or timed out (each a 503).",
                    replay.errors.to_string(),
                ),
                (
                    "dpop_replay_store_full_total",
                    "counter",
                    "DPoP proofs refused because the memory replay store was full (each a 503).",
                    replay.refused_full.to_string(),
                ),
            ];
            // Only a store that can count its entries cheaply (memory) has them.
            store.extend(replay.entries.map(|entries| {
                (
                    "dpop_replay_store_entries",
                    "gauge",
                    "DPoP proofs remembered in memory.",
                    entries.to_string(),
                )
            }));
            for (name, kind, help, value) in store {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
                );
            }
        }
        out
    }
}

/// Label values are route patterns we defined and issuers from the
/// configuration, but escape them anyway.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A bounded method label.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}
