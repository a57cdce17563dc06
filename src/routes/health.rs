//! Liveness, readiness and metrics for Kubernetes and Prometheus.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Authenticator;
use crate::metrics::Metrics;
use crate::startup::ShutdownState;

/// `GET /healthz`: the process serves. No dependencies.
#[utoipa::path(get, path = "/healthz",
    responses((status = 200, description = "The process serves", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: signing keys are loaded and fresh enough, and shutdown has
/// not started; 503 with the reason otherwise.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready to serve", body = Ready),
    (status = 503, description = "Not ready, and why", body = NotReady)))]
pub async fn readyz(
    auth: web::Data<Authenticator>,
    shutdown: web::Data<ShutdownState>,
) -> HttpResponse {
    let readiness = auth.validator().keys().readiness();
    let age = readiness.key_set_age.map(|a| a.as_secs());
    // Only the reason in words: this is on the public port, so no URL, host,
    // port or upstream error text (those are in the logs).
    let reason = if shutdown.is_shutting_down() {
        Some("shutting down".to_owned())
    } else if !readiness.ready {
        Some(
            readiness
                .reason
                .clone()
                .unwrap_or_else(|| "keys not loaded yet".into()),
        )
    } else {
        None
    };
    match reason {
        None => match readiness.reason {
            // Still serving the last good keys while refreshes fail.
            Some(degraded) => HttpResponse::Ok().json(json!({
                "status": "ready",
                "key_set_age_secs": age,
                "degraded": degraded,
            })),
            None => HttpResponse::Ok().json(json!({ "status": "ready", "key_set_age_secs": age })),
        },
        Some(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "reason": reason,
            "key_set_age_secs": age,
        })),
    }
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200,
    description = "Prometheus text exposition format 0.0.4",
    content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn metrics(metrics: web::Data<Metrics>, auth: web::Data<Authenticator>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(
            metrics.render(
                auth.validator().keys(),
                auth.dpop()
                    .filter(|d| d.mode().accepts_dpop())
                    .map(|d| d.replay_store().stats()),
            ),
        )
}

// The bodies above, described for the OpenAPI document (`/openapi.json`).

/// The body of `GET /healthz`.
#[derive(utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: String,
}

/// The body of `GET /readyz` when ready.
#[derive(utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready`.
    #[schema(pattern = "^ready$")]
    pub status: String,
    /// Seconds since the signing keys were fetched, when they have been.
    pub key_set_age_secs: Option<u64>,
}

/// The body of `GET /readyz` when not ready.
#[derive(utoipa::ToSchema)]
pub struct NotReady {
    /// Always `not_ready`.
    #[schema(pattern = "^not_ready$")]
    pub status: String,
    /// Why, in words; never a URL or upstream error text.
    pub reason: String,
    /// Seconds since the signing keys were fetched, when they have been.
    pub key_set_age_secs: Option<u64>,
}
