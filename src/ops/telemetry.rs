//! Logging (env_logger: human-readable locally, one JSON object per line in
//! production), request ids, and the per-request log line and metrics.
//! Nothing here ever reads the `Authorization` or `DPoP` headers or the
//! query string, so no token can reach a log line.

use std::future::{ready, Ready};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

use crate::auth::hex::push_hex;
use crate::auth::{AuthError, Authenticated};
use crate::ops::metrics::{method_label, Metrics};

// A setting (`logging.format`), so defined with the settings; its public
// path stays here.
pub use crate::settings::LogFormat;

/// Installs the global logger: `RUST_LOG` wins, else `default_level`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level));
    if format == LogFormat::Text {
        builder.format(|buf, record| {
            let ts = buf.timestamp_seconds();
            writeln!(
                buf,
                "[{ts} {:<5} {}] {}",
                record.level(),
                record.target(),
                text_line(record)
            )
        });
    }
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let mut line = Map::new();
            line.insert(
                "ts".into(),
                Value::String(buf.timestamp_micros().to_string()),
            );
            line.insert("level".into(), Value::String(record.level().to_string()));
            line.insert("target".into(), Value::String(record.target().to_owned()));
            line.insert("message".into(), Value::String(record.args().to_string()));
            let mut fields = JsonFields(&mut line);
            let _ = record.key_values().visit(&mut fields);
            writeln!(buf, "{}", Value::Object(line))
        });
    }
    // A second init (tests, embedding) keeps the first logger.
    let _ = builder.try_init();
}

/// The human part of a text log line. An access line is built from its
/// fields alone (`GET /api/private 200 1.23ms auth=ok id=…`), so nothing is
/// said twice; any other line is its message, then its fields if it has any.
fn text_line(record: &log::Record<'_>) -> String {
    let mut fields = TextFields::default();
    let _ = record.key_values().visit(&mut fields);
    if record.target() == ACCESS_TARGET {
        let field = |name: &str| {
            fields
                .0
                .iter()
                .find(|(k, _)| k == name)
                .map_or("-", |(_, v)| v.as_str())
        };
        let latency_ms: f64 = field("latency_ms").parse().unwrap_or(0.0);
        return format!(
            "{} {} {} {latency_ms:.2}ms auth={} id={}",
            field("method"),
            field("route"),
            field("status"),
            field("auth"),
            field("request_id"),
        );
    }
    let mut line = record.args().to_string();
    for (key, value) in &fields.0 {
        line.push_str(&format!(" {key}={value}"));
    }
    line
}

/// The target of the one access line per request.
const ACCESS_TARGET: &str = "access";

#[derive(Default)]
struct TextFields(Vec<(String, String)>);

impl<'kvs> log::kv::VisitSource<'kvs> for TextFields {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0.push((key.as_str().to_owned(), value.to_string()));
        Ok(())
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            Value::from(n)
        } else if let Some(n) = value.to_i64() {
            Value::from(n)
        } else if let Some(f) = value.to_f64() {
            Value::from(f)
        } else {
            Value::String(value.to_string())
        };
        self.0.insert(key.as_str().to_owned(), json);
        Ok(())
    }
}

/// The request's id: the client's valid `X-Request-Id`, or a generated one.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client's request id is used only when it is short and plain, so it is
/// safe in logs and headers.
fn valid_request_id(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(id)
}

/// A process-unique id: a random 64-bit prefix drawn once, then a counter.
/// Ids must be unique, not secret, so a CSPRNG draw per request (which
/// takes OpenSSL's DRBG lock) is not needed.
fn generate_request_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if openssl::rand::rand_bytes(&mut bytes).is_err() {
            // Fall back to the clock: still distinct between processes.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            bytes = (nanos as u64).to_le_bytes();
        }
        u64::from_le_bytes(bytes)
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = String::with_capacity(32);
    for value in [prefix, count] {
        push_hex(&mut id, &value.to_be_bytes());
    }
    id
}

/// Middleware that assigns request ids, records metrics and writes one log
/// line per request. Probes and scrapes log at debug, everything else at info.
#[derive(Clone)]
pub struct RequestTelemetry {
    metrics: Arc<Metrics>,
}

impl RequestTelemetry {
    /// Telemetry recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestTelemetry
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestTelemetryMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestTelemetryMiddleware {
            service: Rc::new(service),
            metrics: Arc::clone(&self.metrics),
        }))
    }
}

/// The service [`RequestTelemetry`] wraps around the app.
pub struct RequestTelemetryMiddleware<S> {
    service: Rc<S>,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<ServiceRequest> for RequestTelemetryMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let id: Arc<str> = match req.headers().get(REQUEST_ID).and_then(valid_request_id) {
            Some(id) => Arc::from(id),
            None => Arc::from(generate_request_id()),
        };
        req.extensions_mut().insert(RequestId(Arc::clone(&id)));
        let method = method_label(req.method());
        let service = Rc::clone(&self.service);
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            let mut response = service.call(req).await?;
            let status = response.status().as_u16();
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            let auth = auth_outcome(&response);
            let latency = started.elapsed();
            metrics.record_request(&route, method, status, latency);
            if let Some(outcome) = auth {
                metrics.record_auth(outcome);
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            let level = if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
                log::Level::Debug
            } else {
                log::Level::Info
            };
            let latency_ms = latency.as_secs_f64() * 1000.0;
            // The facts are fields only; each format renders them once
            // (see `text_line`), so the message is just what the line is.
            log::log!(
                target: ACCESS_TARGET,
                level,
                request_id = &*id,
                method = method,
                route = route.as_str(),
                status = status,
                latency_ms = latency_ms,
                auth = auth.unwrap_or("-");
                "request"
            );
            Ok(response)
        })
    }
}

/// `ok` for an authenticated request, the refusal's label for a refused
/// one, `None` where no authentication was attempted.
fn auth_outcome<B>(response: &ServiceResponse<B>) -> Option<&'static str> {
    if let Some(error) = response
        .response()
        .error()
        .and_then(|e| e.as_error::<AuthError>())
    {
        return Some(error.label());
    }
    response
        .request()
        .extensions()
        .get::<Authenticated>()
        .map(|_| "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_access_line_says_each_fact_once() {
        let kvs: [(&str, log::kv::Value<'_>); 6] = [
            ("request_id", "r-1".into()),
            ("method", "GET".into()),
            ("route", "/api/private".into()),
            ("status", 200u16.into()),
            ("latency_ms", 1.234_f64.into()),
            ("auth", "ok".into()),
        ];
        let record = log::Record::builder()
            .target(ACCESS_TARGET)
            .args(format_args!("request"))
            .key_values(&kvs)
            .build();
        let line = text_line(&record);
        assert_eq!(line, "GET /api/private 200 1.23ms auth=ok id=r-1");
        for fact in ["GET", "/api/private", "200", "r-1", "ok"] {
            assert_eq!(line.matches(fact).count(), 1, "{fact} once in {line:?}");
        }
    }

    #[test]
    fn other_text_lines_keep_their_message_and_fields() {
        let kvs: [(&str, log::kv::Value<'_>); 1] = [("issuer", "https://t/".into())];
        let record = log::Record::builder()
            .target("auth")
            .args(format_args!("keys loaded"))
            .key_values(&kvs)
            .build();
        assert_eq!(text_line(&record), "keys loaded issuer=https://t/");
    }
}
