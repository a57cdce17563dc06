//! Liveness, readiness and metrics for Kubernetes and Prometheus.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::auth::{Authenticator, Readiness};
use crate::ops::metrics::{Metrics, CONTENT_TYPE};
use crate::ops::shutdown::ShutdownState;

/// `GET /healthz`: the process serves. No dependencies.
#[utoipa::path(get, path = "/healthz",
    responses((status = 200, description = "The process serves", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: signing keys of at least one configured issuer are loaded
/// and fresh enough, and shutdown has not started; 503 with the reason
/// otherwise. Each issuer's state is listed under `issuers`, in the
/// configured order.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready to serve", body = Ready),
    (status = 503, description = "Not ready, and why", body = NotReady)))]
pub async fn readyz(
    auth: web::Data<Authenticator>,
    shutdown: web::Data<ShutdownState>,
) -> HttpResponse {
    let issuers: Vec<Readiness> = auth
        .validator()
        .issuers()
        .iter()
        .map(|(_, keys)| keys.readiness())
        .collect();
    let (ready, body) = report(&issuers, shutdown.is_shutting_down());
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Whether the service is ready, and the body that says so, for the
/// readiness of each issuer in the configured order.
///
/// Ready while any issuer can verify tokens, not only while all can: a
/// readiness probe takes a pod out of rotation, and an issuer's outage is
/// the same for every replica, so requiring all would turn one custom
/// domain's outage into an outage for the tokens of every issuer. Tokens
/// of an issuer without keys get 503 with `Retry-After` meanwhile, and the
/// body and `jwks_ready{issuer=...}` say which issuer it is.
///
/// Everything here is words and numbers: this is on the public port, so no
/// URL, host, port or upstream error text (those are in the logs). An
/// issuer is named by its place in the configured list, from 1.
fn report(issuers: &[Readiness], shutting_down: bool) -> (bool, Value) {
    let problems: Vec<(usize, &str)> = issuers
        .iter()
        .enumerate()
        .filter_map(|(i, r)| problem(r).map(|p| (i + 1, p)))
        .collect();
    let summary = match problems.as_slice() {
        [] => None,
        // One issuer says it as it always has: no numbering for a list of one.
        [(_, only)] if issuers.len() == 1 => Some((*only).to_owned()),
        _ => Some(
            problems
                .iter()
                .map(|(n, p)| format!("issuer {n}: {p}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    // The oldest key set: every issuer's keys are at most this old.
    let age = issuers
        .iter()
        .filter_map(|r| r.key_set_age)
        .max()
        .map(|a| a.as_secs());
    let listed: Vec<Value> = issuers.iter().map(issuer_entry).collect();
    let ready = !shutting_down && issuers.iter().any(|r| r.ready);
    let mut body = Map::new();
    body.insert(
        "status".into(),
        json!(if ready { "ready" } else { "not_ready" }),
    );
    if ready {
        if let Some(degraded) = summary {
            // Still serving, with the last good keys or with some issuers.
            body.insert("degraded".into(), json!(degraded));
        }
    } else {
        let reason = if shutting_down {
            "shutting down".to_owned()
        } else {
            summary.unwrap_or_else(|| "keys not loaded yet".into())
        };
        body.insert("reason".into(), json!(reason));
    }
    body.insert("key_set_age_secs".into(), json!(age));
    body.insert("issuers".into(), Value::Array(listed));
    (ready, Value::Object(body))
}

/// What is wrong with one issuer in words, if anything: why it cannot
/// verify, or why its keys are ageing while it still does.
fn problem(readiness: &Readiness) -> Option<&str> {
    match (&readiness.reason, readiness.ready) {
        (Some(reason), _) => Some(reason),
        (None, false) => Some("keys not loaded yet"),
        (None, true) => None,
    }
}

/// One issuer's entry under `issuers`: no name, only its state.
fn issuer_entry(readiness: &Readiness) -> Value {
    let mut entry = Map::new();
    entry.insert("ready".into(), json!(readiness.ready));
    entry.insert(
        "key_set_age_secs".into(),
        json!(readiness.key_set_age.map(|a| a.as_secs())),
    );
    if let Some(problem) = problem(readiness) {
        let field = if readiness.ready {
            "degraded"
        } else {
            "reason"
        };
        entry.insert(field.into(), json!(problem));
    }
    Value::Object(entry)
}

/// `GET /metrics`: Prometheus text exposition; a 500 rather than a cut-off
/// text when a value cannot be encoded, so the scrape fails visibly.
#[utoipa::path(get, path = "/metrics", responses((status = 200,
    description = "Prometheus text exposition format 0.0.4",
    content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    (status = 500, description = "A value could not be encoded; the cause is logged")))]
pub async fn metrics(metrics: web::Data<Metrics>, auth: web::Data<Authenticator>) -> HttpResponse {
    let replay = auth
        .dpop()
        .filter(|d| d.mode().accepts_dpop())
        .map(|d| d.replay_store().stats());
    match metrics.render(auth.validator().issuers(), replay) {
        Ok(text) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(text),
        Err(e) => {
            // Only a value the encoder cannot write (a gauge past i64) ends here.
            log::error!("cannot render the metrics: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
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
    /// Seconds since the oldest issuer's signing keys were fetched.
    pub key_set_age_secs: Option<u64>,
    /// While still serving: what is wrong (an issuer down, keys ageing), in words.
    pub degraded: Option<String>,
    /// Each configured issuer, in the configured order, without its URL.
    pub issuers: Vec<IssuerReadiness>,
}

/// One issuer's part of `GET /readyz`.
#[derive(utoipa::ToSchema)]
pub struct IssuerReadiness {
    /// Its keys are loaded and fresh enough.
    pub ready: bool,
    /// Seconds since its signing keys were fetched, when they have been.
    pub key_set_age_secs: Option<u64>,
    /// Why it is not ready, in words.
    pub reason: Option<String>,
    /// Why its keys are ageing while it still serves, in words.
    pub degraded: Option<String>,
}

/// The body of `GET /readyz` when not ready.
#[derive(utoipa::ToSchema)]
pub struct NotReady {
    /// Always `not_ready`.
    #[schema(pattern = "^not_ready$")]
    pub status: String,
    /// Why, in words; never a URL or upstream error text.
    pub reason: String,
    /// Seconds since the oldest issuer's signing keys were fetched.
    pub key_set_age_secs: Option<u64>,
    /// Each configured issuer, in the configured order, without its URL.
    pub issuers: Vec<IssuerReadiness>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ready(age: u64) -> Readiness {
        Readiness {
            ready: true,
            key_set_age: Some(Duration::from_secs(age)),
            reason: None,
            last_error: None,
        }
    }

    fn failing(ready: bool, reason: &str) -> Readiness {
        Readiness {
            ready,
            key_set_age: ready.then(|| Duration::from_secs(600)),
            reason: Some(reason.into()),
            last_error: Some("https://tenant.example/ answered HTTP 503".into()),
        }
    }

    #[test]
    fn one_issuer_reads_as_it_always_has() {
        let (ok, body) = report(&[ready(40)], false);
        assert!(ok);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["key_set_age_secs"], 40);
        assert!(body.get("degraded").is_none(), "{body}");
        let (ok, body) = report(&[failing(true, "tenant unreachable for 5 min")], false);
        assert!(ok, "stale-if-error keeps serving");
        assert_eq!(body["degraded"], "tenant unreachable for 5 min");
        let (ok, body) = report(&[failing(false, "tenant unreachable for 2 h")], false);
        assert!(!ok);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["reason"], "tenant unreachable for 2 h");
        assert_eq!(body["issuers"][0]["reason"], "tenant unreachable for 2 h");
    }

    #[test]
    fn any_ready_issuer_keeps_the_service_ready_and_the_rest_are_named_by_place() {
        let issuers = [
            ready(30),
            failing(false, "tenant unreachable for 3 min"),
            failing(true, "tenant answers with HTTP errors for 45 s"),
        ];
        let (ok, body) = report(&issuers, false);
        assert!(ok, "{body}");
        assert_eq!(
            body["degraded"],
            "issuer 2: tenant unreachable for 3 min; issuer 3: tenant answers with HTTP errors for 45 s"
        );
        assert_eq!(body["key_set_age_secs"], 600, "the oldest key set");
        assert_eq!(
            body["issuers"][0],
            json!({"ready": true, "key_set_age_secs": 30})
        );
        assert_eq!(
            body["issuers"][1],
            json!({"ready": false, "key_set_age_secs": null, "reason": "tenant unreachable for 3 min"})
        );
        assert_eq!(
            body["issuers"][2]["degraded"],
            "tenant answers with HTTP errors for 45 s"
        );
        assert!(!body.to_string().contains("https://"), "no URL: {body}");

        let none = [
            failing(false, "keys not loaded yet"),
            failing(false, "tenant unreachable for 3 min"),
        ];
        let (ok, body) = report(&none, false);
        assert!(!ok);
        assert_eq!(
            body["reason"],
            "issuer 1: keys not loaded yet; issuer 2: tenant unreachable for 3 min"
        );
        let (ok, body) = report(&[ready(1), ready(2)], true);
        assert!(!ok);
        assert_eq!(body["reason"], "shutting down");
    }
}
