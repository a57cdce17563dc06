//! The quickstart's endpoints, with its exact response bodies.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Authenticated;

/// A body with a message only.
// Typed bodies serialise straight into the response buffer, without
// building a JSON map first.
#[derive(Serialize, ToSchema)]
pub struct Notice {
    /// A fixed greeting.
    message: &'static str,
}

/// A body with a message and the caller's `sub` (`null` when the token has none).
#[derive(Serialize, ToSchema)]
pub struct UserMessage<'a> {
    /// A fixed greeting.
    message: &'static str,
    /// The token's `sub` claim, or `null` when it has none.
    #[schema(required = true)]
    user_id: Option<&'a str>,
}

/// The body of `GET /api/profile`: claims passed on exactly as the token
/// has them.
#[derive(Serialize, ToSchema)]
pub struct Profile<'a> {
    /// The token's `sub` claim, or `null` when it has none.
    #[schema(required = true)]
    user_id: Option<&'a str>,
    /// The token's `email` claim as it is (any JSON value), or `null`.
    #[schema(value_type = Value)]
    email: Option<&'a Value>,
    /// The token's `permissions`, then any `scope` entries not already listed.
    permissions: Vec<&'a str>,
    /// The token's namespaced custom claims (names that are URLs), untouched.
    #[schema(value_type = BTreeMap<String, Value>)]
    custom_claims: BTreeMap<&'a str, &'a Value>,
}

/// Public message
///
/// No token needed.
#[utoipa::path(get, path = "/api/public",
    responses((status = 200, description = "The public greeting", body = Notice)))]
pub async fn public() -> HttpResponse {
    HttpResponse::Ok().json(Notice {
        message: "Hello from a public endpoint! You don't need to be authenticated to see this.",
    })
}

/// Private message
///
/// Any valid access token; `user_id` is the token's `sub`.
#[utoipa::path(get, path = "/api/private",
    responses((status = 200, description = "The private greeting", body = UserMessage)))]
pub async fn private(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserMessage {
        message: "Hello from a private endpoint! You need to be authenticated to see this.",
        user_id: auth.claims.sub.as_deref(),
    })
}

/// Private message that needs a permission
///
/// Needs a token granting `read:messages` (in `scope` or `permissions`).
#[utoipa::path(get, path = "/api/private-scoped",
    responses((status = 200, description = "The scoped greeting", body = UserMessage)))]
pub async fn private_scoped(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserMessage {
        message: "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        user_id: auth.claims.sub.as_deref(),
    })
}

/// Protected message
///
/// Any valid access token; the handler never sees the claims.
#[utoipa::path(get, path = "/api/protected",
    responses((status = 200, description = "The protected greeting", body = Notice)))]
pub async fn protected() -> HttpResponse {
    HttpResponse::Ok().json(Notice {
        message:
            "Hello from a protected endpoint! Your token was validated before this handler ran.",
    })
}

/// The caller's profile
///
/// Who the token says the caller is, with its permissions and namespaced
/// custom claims, untouched. Any valid access token.
#[utoipa::path(get, path = "/api/profile",
    responses((status = 200, description = "The token's identity and claims", body = Profile)))]
pub async fn profile(auth: Authenticated) -> HttpResponse {
    let claims = &auth.claims;
    let mut permissions: Vec<&str> = claims.permissions.iter().map(String::as_str).collect();
    for scope in &claims.scope {
        if !permissions.contains(&scope.as_str()) {
            permissions.push(scope);
        }
    }
    HttpResponse::Ok().json(Profile {
        user_id: claims.sub.as_deref(),
        email: claims.get("email"),
        permissions,
        custom_claims: claims.custom().map(|(k, v)| (k.as_str(), v)).collect(),
    })
}
