//! Prometheus metrics, kept and rendered by `prometheus-client` (the official
//! Rust client) in the Prometheus text format 0.0.4, the format this endpoint
//! has always served. Every label value comes from a bounded set: the matched
//! route pattern (never the raw path), the method, the status code, the auth
//! outcome label, and the configured issuers. Never a token or a `sub`.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::auth::dpop::ReplayStoreStats;
use crate::auth::jwks::FetchStats;
use crate::auth::{Issuers, Readiness};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    reason: &'static str,
}

/// A route's handles on its series in the families. This map in front of
/// the crate is kept on purpose: `Family::get_or_create` looks a series up
/// by its whole label set, and a route's label set holds a `String`, so
/// counting through the families alone costs 2 allocations per request
/// (`tests/allocations.rs` counts them). A family's metric is a clone
/// sharing the family's atomics, so a handle found by the request's `&str`
/// counts the same series with none.
struct RouteMetrics {
    latency: Histogram,
    /// `http_requests_total` by (method, status).
    responses: RwLock<BTreeMap<(&'static str, u16), Counter>>,
}

/// Runs `use_entry` on the entry for `key`: under a read lock when the key
/// is known, under the write lock the first time, making the entry (and
/// its owned key) with `create` then.
fn with_entry<K, Q, V>(
    map: &RwLock<BTreeMap<K, V>>,
    key: &Q,
    create: impl FnOnce() -> (K, V),
    use_entry: impl FnOnce(&V),
) where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
{
    if let Ok(entries) = map.read() {
        if let Some(entry) = entries.get(key) {
            return use_entry(entry);
        }
    }
    if let Ok(mut entries) = map.write() {
        // Another worker may have made it between the two locks.
        if let Some(entry) = entries.get(key) {
            return use_entry(entry);
        }
        let (key, entry) = create();
        use_entry(entries.entry(key).or_insert(entry));
    }
}

/// The service's metrics, shared by all workers. A request costs read
/// locks, a histogram observation and relaxed atomic adds, with no
/// allocation; a route or a (method, status) seen for the first time takes a
/// write lock (the key sets are small and bounded, so a handful of times per
/// process).
pub struct Metrics {
    registry: Registry,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    responses: Family<ResponseLabels, Counter>,
    auth_outcomes: Family<AuthLabels, Counter>,
    /// Handles by route pattern, looked up with the `&str` the request has.
    routes: RwLock<BTreeMap<String, RouteMetrics>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let responses = Family::<ResponseLabels, Counter>::default();
        let auth_outcomes = Family::<AuthLabels, Counter>::default();
        // The registry adds the `_total` of a counter, the `_seconds` of the
        // unit, and a full stop to each help text.
        let mut registry = Registry::default();
        registry.register(
            "http_requests",
            "HTTP requests by matched route, method and status",
            responses.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Request latency by matched route",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "auth_outcomes",
            "Authentication and authorization outcomes by reason",
            auth_outcomes.clone(),
        );
        Self {
            registry,
            latency,
            responses,
            auth_outcomes,
            routes: RwLock::default(),
        }
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
            || (route.to_owned(), self.route_metrics(route)),
            |metrics| {
                metrics.latency.observe(latency.as_secs_f64());
                let key = (method, status);
                with_entry(
                    &metrics.responses,
                    &key,
                    || (key, self.response_counter(route, method, status)),
                    |count| {
                        count.inc();
                    },
                );
            },
        );
    }

    fn route_metrics(&self, route: &str) -> RouteMetrics {
        let labels = RouteLabels {
            route: route.to_owned(),
        };
        RouteMetrics {
            latency: self.latency.get_or_create_owned(&labels),
            responses: RwLock::default(),
        }
    }

    fn response_counter(&self, route: &str, method: &'static str, status: u16) -> Counter {
        self.responses.get_or_create_owned(&ResponseLabels {
            route: route.to_owned(),
            method,
            status,
        })
    }

    /// Records the outcome of an authentication attempt (`ok`, `expired`, ...).
    pub fn record_auth(&self, outcome: &'static str) {
        // The label set is a `&'static str`: looking it up allocates nothing.
        self.auth_outcomes
            .get_or_create(&AuthLabels { reason: outcome })
            .inc();
    }

    /// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]) of
    /// everything, with each issuer's key cache counters and the replay
    /// store's read now. Fails only on a value the encoder cannot write
    /// (a gauge past `i64`), rather than handing out a cut-off text.
    pub fn render(
        &self,
        issuers: &Issuers,
        replay: Option<ReplayStoreStats>,
    ) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(4096);
        prometheus_text::encode(&mut out, &self.registry)?;
        // A collector must own what it reports, and these values belong to
        // the authenticator, so they are read into one for this scrape.
        let issuers = issuers
            .iter()
            .map(|(issuer, keys)| (issuer.to_owned(), keys.stats(), keys.readiness()))
            .collect();
        let mut read_now = Registry::default();
        read_now.register_collector(Box::new(ReadAtScrape { issuers, replay }));
        prometheus_text::encode(&mut out, &read_now)?;
        Ok(out)
    }
}

/// The values kept elsewhere and read at scrape time: the `jwks_*` families
/// (a series per configured issuer, so the label's values are as few as the
/// issuers) and the `dpop_replay_store_*` values.
#[derive(Debug)]
struct ReadAtScrape {
    issuers: Vec<(String, FetchStats, Readiness)>,
    replay: Option<ReplayStoreStats>,
}

/// Writes one issuer's series of a `jwks_*` family.
type IssuerSeries = fn(&FetchStats, &Readiness, MetricEncoder) -> fmt::Result;

impl Collector for ReadAtScrape {
    // Help texts end with a full stop here: only the registry adds one.
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let families: [(&str, MetricType, &str, IssuerSeries); 6] = [
            (
                "jwks_discovery_requests",
                MetricType::Counter,
                "OIDC discovery documents requested from the issuer.",
                |stats, _, series| ConstCounter::new(stats.discovery_requests).encode(series),
            ),
            (
                "jwks_requests",
                MetricType::Counter,
                "JWKS documents requested from the issuer.",
                |stats, _, series| ConstCounter::new(stats.jwks_requests).encode(series),
            ),
            (
                "jwks_refresh_failures",
                MetricType::Counter,
                "Key refreshes that failed.",
                |stats, _, series| ConstCounter::new(stats.failures).encode(series),
            ),
            (
                "jwks_refresh_successes",
                MetricType::Counter,
                "Key sets installed.",
                |stats, _, series| ConstCounter::new(stats.successes).encode(series),
            ),
            (
                "jwks_key_set_age_seconds",
                MetricType::Gauge,
                "Age of the issuer's current key set (-1 when none is loaded).",
                |_, readiness, series| match readiness.key_set_age {
                    // To the millisecond, as it always was.
                    Some(age) => ConstGauge::new((age.as_secs_f64() * 1000.0).round() / 1000.0)
                        .encode(series),
                    None => ConstGauge::new(-1_i64).encode(series),
                },
            ),
            (
                "jwks_ready",
                MetricType::Gauge,
                "1 when the issuer's signing keys are loaded and fresh enough.",
                |_, readiness, series| ConstGauge::new(i64::from(readiness.ready)).encode(series),
            ),
        ];
        for (name, kind, help, series) in families {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for (issuer, stats, readiness) in &self.issuers {
                let labels = [("issuer", issuer.as_str())];
                series(stats, readiness, family.encode_family(&labels)?)?;
            }
        }
        let Some(replay) = self.replay else {
            return Ok(());
        };
        let up = ConstGauge::new(i64::from(replay.up));
        let help = "1 when the DPoP replay store answered its last request.";
        encode_one(&mut encoder, "dpop_replay_store_up", help, &up)?;
        let errors = ConstCounter::new(replay.errors);
        let help = "DPoP replay store requests that failed or timed out (each a 503).";
        encode_one(&mut encoder, "dpop_replay_store_errors", help, &errors)?;
        let full = ConstCounter::new(replay.refused_full);
        let help = "DPoP proofs refused because the memory replay store was full (each a 503).";
        encode_one(&mut encoder, "dpop_replay_store_full", help, &full)?;
        // Only a store that can count its entries cheaply (memory) has them.
        if let Some(entries) = replay.entries {
            let help = "DPoP proofs remembered in memory.";
            let entries = ConstGauge::new(entries);
            encode_one(&mut encoder, "dpop_replay_store_entries", help, &entries)?;
        }
        Ok(())
    }
}

/// Writes a family of one unlabelled series.
fn encode_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeySet;
    use crate::auth::policy::{Algorithm, KeyCachePolicy};
    use crate::auth::KeyCache;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::KeyPair;

    const ISSUER: &str = "https://tenant.example/";

    fn issuers() -> Issuers {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let jwks = serde_json::json!({"keys": [serde_json::Value::Object(
            pair.to_jwk_public_key().as_ref().clone()
        )]});
        let (keys, _) =
            KeySet::from_jwks(jwks.to_string().as_bytes(), &[Algorithm::ES256]).unwrap();
        Issuers::single(
            ISSUER,
            KeyCache::with_keys(KeyCachePolicy::new(ISSUER), keys),
        )
    }

    // Dashboards and alerts read these lines as they were before the crate
    // kept the metrics: a name with `_total` twice, a help text with two
    // full stops or a label in another order would break them silently.
    #[test]
    fn the_exposition_keeps_the_lines_dashboards_read() {
        let metrics = Metrics::default();
        // 1/256 s, so that the sum of three is exact in binary.
        let latency = Duration::from_nanos(3_906_250);
        for status in [200, 200, 401] {
            metrics.record_request("/api/private", "GET", status, latency);
        }
        metrics.record_auth("ok");
        let replay = ReplayStoreStats {
            up: true,
            errors: 2,
            refused_full: 0,
            entries: Some(5),
        };
        let text = metrics.render(&issuers(), Some(replay)).unwrap();
        let issuer = format!("{{issuer=\"{ISSUER}\"}}");
        let expected = [
            "# HELP http_requests_total HTTP requests by matched route, method and status.",
            "# TYPE http_requests_total counter",
            "http_requests_total{route=\"/api/private\",method=\"GET\",status=\"200\"} 2",
            "http_requests_total{route=\"/api/private\",method=\"GET\",status=\"401\"} 1",
            "# HELP http_request_duration_seconds Request latency by matched route.",
            "# TYPE http_request_duration_seconds histogram",
            "http_request_duration_seconds_bucket{route=\"/api/private\",le=\"0.0025\"} 0",
            "http_request_duration_seconds_bucket{route=\"/api/private\",le=\"0.005\"} 3",
            "http_request_duration_seconds_bucket{route=\"/api/private\",le=\"2.5\"} 3",
            "http_request_duration_seconds_bucket{route=\"/api/private\",le=\"+Inf\"} 3",
            "http_request_duration_seconds_sum{route=\"/api/private\"} 0.01171875",
            "http_request_duration_seconds_count{route=\"/api/private\"} 3",
            "# HELP auth_outcomes_total Authentication and authorization outcomes by reason.",
            "# TYPE auth_outcomes_total counter",
            "auth_outcomes_total{reason=\"ok\"} 1",
            "# TYPE jwks_requests_total counter",
            &format!("jwks_requests_total{issuer} 0"),
            &format!("jwks_refresh_successes_total{issuer} 0"),
            "# TYPE jwks_key_set_age_seconds gauge",
            &format!("jwks_ready{issuer} 1"),
            "# HELP dpop_replay_store_up 1 when the DPoP replay store answered its last request.",
            "dpop_replay_store_up 1",
            "# TYPE dpop_replay_store_errors_total counter",
            "dpop_replay_store_errors_total 2",
            "dpop_replay_store_full_total 0",
            "# TYPE dpop_replay_store_entries gauge",
            "dpop_replay_store_entries 5",
        ];
        for line in expected {
            assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
        }
        let age = format!("jwks_key_set_age_seconds{issuer} ");
        let age = text.lines().find_map(|l| l.strip_prefix(age.as_str()));
        assert!(
            age.and_then(|a| a.parse::<f64>().ok())
                .is_some_and(|a| a >= 0.0),
            "a loaded key set's age, in seconds: {text}"
        );
        assert!(!text.contains(".."), "one full stop per help text: {text}");
        assert!(
            !text.contains("# EOF"),
            "the 0.0.4 format has no EOF: {text}"
        );
    }

    #[test]
    fn a_store_that_cannot_count_its_entries_reports_none_and_no_store_nothing() {
        let metrics = Metrics::default();
        let redis = ReplayStoreStats {
            up: false,
            errors: 0,
            refused_full: 0,
            entries: None,
        };
        let text = metrics.render(&issuers(), Some(redis)).unwrap();
        assert!(
            text.lines().any(|l| l == "dpop_replay_store_up 0"),
            "{text}"
        );
        assert!(!text.contains("dpop_replay_store_entries"), "{text}");
        let text = metrics.render(&issuers(), None).unwrap();
        assert!(!text.contains("dpop_replay_store"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.record_request("/odd\"route\\\n", "GET", 200, Duration::ZERO);
        let text = metrics.render(&issuers(), None).unwrap();
        assert!(
            text.contains(r#"route="/odd\"route\\\n""#),
            "quote, backslash and newline escaped: {text}"
        );
    }
}
