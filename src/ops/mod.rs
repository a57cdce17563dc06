//! Operations: what keeps the service observable and well-behaved in
//! production, around the request path rather than on it. Logging and
//! request ids ([`telemetry`]), Prometheus metrics ([`metrics`]), the
//! shutdown flag the readiness probe reads ([`shutdown`]), CORS for browser
//! clients ([`cors`]) and the `healthcheck` command for Docker
//! ([`healthcheck`]).

pub mod cors;
pub mod healthcheck;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
