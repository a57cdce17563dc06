//! Refusals with the app's own body. Auth0's quickstarts answer
//! `{"error": "authentication_failed", "message": ..., "details": ...}`;
//! this app does the same, while the status, the `WWW-Authenticate`
//! challenge and `Cache-Control: no-store` stay as RFC 6750 §3 has them.
//!
//! ```text
//! AUTH0_DOMAIN=dev-abc123.us.auth0.com AUTH0_AUDIENCE=https://my-api \
//!     cargo run --example custom_errors
//! curl -i localhost:3000/api/private
//! HTTP/1.1 401 Unauthorized
//! www-authenticate: Bearer realm="api"
//! {"details":"unauthorized","error":"authentication_failed","message":"Authentication required: ..."}
//! ```

mod support;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use auth0_actix_api::auth::{authentication, Authenticated, Refusal, RequireScopes};
use serde_json::{json, Value};

/// The body of every refusal: built once per kind of refusal and worker
/// thread, then remembered, so it must depend on the refusal alone.
fn quickstart_body(refusal: &Refusal<'_>) -> Value {
    let error = match refusal.status {
        StatusCode::FORBIDDEN => "insufficient_permissions",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        _ => "authentication_failed",
    };
    json!({"error": error, "message": refusal.description, "details": refusal.error})
}

async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "Hello from a public endpoint!"}))
}

async fn private(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user_id": who.claims.sub}))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let tenant = support::tenant_from_env()?;
    let auth = web::Data::new(tenant.authenticator()?.with_error_body(quickstart_body));
    support::serve(&tenant, move |app| {
        // Guards on single routes (`Route::wrap`); the last `wrap` runs
        // first: authenticate, then check.
        app.app_data(auth.clone())
            .route("/api/public", web::get().to(public))
            .route(
                "/api/private",
                web::get().to(private).wrap(authentication()),
            )
            .route(
                "/api/private-scoped",
                web::get()
                    .to(private)
                    .wrap(RequireScopes::all(["read:messages"]))
                    .wrap(authentication()),
            );
    })
    .await
}
