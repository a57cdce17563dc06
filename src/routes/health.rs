//! Liveness and readiness for Kubernetes probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Authenticator;

/// `GET /healthz`: the process serves. No dependencies.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: signing keys are loaded and fresh enough; 503 with the
/// reason otherwise.
pub async fn readyz(auth: web::Data<Authenticator>) -> HttpResponse {
    let readiness = auth.validator().keys().readiness();
    let age = readiness.key_set_age.map(|a| a.as_secs());
    if readiness.ready {
        HttpResponse::Ok().json(json!({ "status": "ready", "key_set_age_secs": age }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "reason": readiness.last_error.unwrap_or_else(|| "signing keys are not loaded".into()),
            "key_set_age_secs": age,
        }))
    }
}
