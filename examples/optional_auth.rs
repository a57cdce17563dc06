//! Optional authentication: `/api/feed` answers everyone, and personalises
//! its answer for a caller with a valid token. A caller with a bad token is
//! refused (401), never served as if anonymous.
//!
//! ```text
//! AUTH0_DOMAIN=dev-abc123.us.auth0.com AUTH0_AUDIENCE=https://my-api \
//!     cargo run --example optional_auth
//! curl -i localhost:3000/api/feed                                   # 200, anonymous
//! curl -i localhost:3000/api/feed -H "Authorization: Bearer $TOKEN"  # 200, for you
//! curl -i localhost:3000/api/feed -H "Authorization: Bearer oops"    # 401
//! ```

mod support;

use actix_web::{web, HttpResponse};
use auth0_actix_api::auth::{
    authentication, authentication_optional, Authenticated, MaybeAuthenticated,
};
use serde_json::json;

async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "Hello from a public endpoint!"}))
}

async fn feed(who: MaybeAuthenticated) -> HttpResponse {
    match who.0 {
        Some(who) => HttpResponse::Ok().json(json!({
            "feed": "personal",
            "user_id": who.claims.sub,
        })),
        None => HttpResponse::Ok().json(json!({"feed": "public"})),
    }
}

async fn private(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user_id": who.claims.sub}))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let tenant = support::tenant_from_env()?;
    let auth = web::Data::new(tenant.authenticator()?);
    support::serve(&tenant, move |app| {
        // `/api/feed` takes a token when there is one; `/api/private`
        // requires one.
        app.app_data(auth.clone())
            .route("/api/public", web::get().to(public))
            .service(
                web::resource("/api/feed")
                    .wrap(authentication_optional())
                    .route(web::get().to(feed)),
            )
            .service(
                web::resource("/api/private")
                    .wrap(authentication())
                    .route(web::get().to(private)),
            );
    })
    .await
}
