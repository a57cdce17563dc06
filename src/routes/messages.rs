//! The quickstart's endpoints, with its exact response bodies.

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;

/// A body with a message only. Typed bodies serialise straight into the
/// response buffer, without building a JSON map first.
#[derive(Serialize)]
struct Notice {
    message: &'static str,
}

/// A body with a message and the caller's `sub` (`null` when the token has none).
#[derive(Serialize)]
struct UserMessage<'a> {
    message: &'static str,
    user_id: Option<&'a str>,
}

/// `GET /api/public`: no token needed.
pub async fn public() -> HttpResponse {
    HttpResponse::Ok().json(Notice {
        message: "Hello from a public endpoint! You don't need to be authenticated to see this.",
    })
}

/// `GET /api/private`: any valid access token; `user_id` is the token's `sub`.
pub async fn private(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserMessage {
        message: "Hello from a private endpoint! You need to be authenticated to see this.",
        user_id: auth.claims.sub.as_deref(),
    })
}

/// `GET /api/private-scoped`: needs `read:messages`.
pub async fn private_scoped(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserMessage {
        message: "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        user_id: auth.claims.sub.as_deref(),
    })
}

/// `GET /api/protected`: protected, and the handler never sees the claims.
pub async fn protected() -> HttpResponse {
    HttpResponse::Ok().json(Notice {
        message:
            "Hello from a protected endpoint! Your token was validated before this handler ran.",
    })
}

/// `GET /api/profile`: who the token says the caller is, with its
/// permissions and namespaced custom claims, untouched.
pub async fn profile(auth: Authenticated) -> HttpResponse {
    let claims = &auth.claims;
    let mut permissions: Vec<&str> = claims.permissions.iter().map(String::as_str).collect();
    for scope in &claims.scope {
        if !permissions.contains(&scope.as_str()) {
            permissions.push(scope);
        }
    }
    let custom: Map<String, Value> = claims
        .custom()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    HttpResponse::Ok().json(json!({
        "user_id": claims.sub,
        "email": claims.get("email").cloned().unwrap_or(Value::Null),
        "permissions": permissions,
        "custom_claims": custom,
    }))
}
