//! Roles, claim checks and nested permission requirements, each answering
//! 403 `insufficient_scope` before the handler (and before its body is read).
//!
//! Roles come from the namespaced claim an Auth0 Action adds, by default
//! `https://example.com/roles` (set `ROLES_CLAIM` to yours):
//!
//! ```js
//! exports.onExecutePostLogin = async (event, api) => {
//!   api.accessToken.setCustomClaim("https://example.com/roles", event.authorization?.roles ?? []);
//! };
//! ```
//!
//! ```text
//! AUTH0_DOMAIN=dev-abc123.us.auth0.com AUTH0_AUDIENCE=https://my-api \
//!     cargo run --example roles_and_claims
//! ```

mod support;

use actix_web::{web, HttpResponse};
use auth0_actix_api::auth::{
    all_of, any_of, authentication, Authenticated, Claims, RequireClaim, RequireRoles,
    RequireScopes, TypedClaims,
};
use serde::Deserialize;
use serde_json::json;

/// The custom claims this API reads, as its own type.
#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
}

#[derive(Deserialize)]
struct NewMessage {
    text: String,
}

async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "Hello from a public endpoint!"}))
}

async fn admin(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "Hello, administrator", "user_id": who.claims.sub}))
}

async fn messages(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"messages": [], "user_id": who.claims.sub}))
}

async fn me(who: Authenticated, profile: TypedClaims<Profile>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": who.claims.sub,
        "email": profile.email,
        "email_verified": profile.email_verified,
    }))
}

async fn post_message(who: Authenticated, message: web::Json<NewMessage>) -> HttpResponse {
    HttpResponse::Created().json(json!({"user_id": who.claims.sub, "text": message.text}))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let tenant = support::tenant_from_env()?;
    let roles_claim =
        std::env::var("ROLES_CLAIM").unwrap_or_else(|_| "https://example.com/roles".into());
    let auth = web::Data::new(tenant.authenticator()?);

    // Guards are built once, before the server, so a mistake in them (an
    // empty role list, say) stops the program here with one clear line.
    let admins = RequireRoles::try_new(roles_claim.as_str(), any_of(["admin", "owner"]))?;
    let verified = RequireClaim::try_check("email_verified", |claims: &Claims| {
        claims.get("email_verified") == Some(&json!(true))
    })?;
    let writers = RequireScopes::try_new(all_of([
        any_of(["write:messages", "admin:messages"]),
        "read:messages".into(),
    ]))?;

    support::serve(&tenant, move |app| {
        // Each protected resource is wrapped on its own, so an unknown path
        // is a 404, not a 401. The last `wrap` runs first: authenticate,
        // then check.
        app.app_data(auth.clone()).service(
            web::scope("/api")
                .route("/public", web::get().to(public))
                .service(
                    web::resource("/admin")
                        .wrap(admins.clone())
                        .wrap(authentication())
                        .route(web::get().to(admin)),
                )
                .service(
                    web::resource("/me")
                        .wrap(verified.clone())
                        .wrap(authentication())
                        .route(web::get().to(me)),
                )
                // A guard on one route: GET is open to any valid token, POST
                // needs the permissions, checked before the JSON body is read.
                .service(
                    web::resource("/messages")
                        .wrap(authentication())
                        .route(web::get().to(messages))
                        .route(web::post().to(post_message).wrap(writers.clone())),
                ),
        );
    })
    .await
}
