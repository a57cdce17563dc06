//! The smallest protected API: a public route, a route that needs any valid
//! access token, and one that also needs the `read:messages` permission.
//!
//! ```text
//! AUTH0_DOMAIN=dev-abc123.us.auth0.com AUTH0_AUDIENCE=https://my-api \
//!     cargo run --example minimal
//! curl -i localhost:3000/api/private                           # 401
//! curl -i localhost:3000/api/private -H "Authorization: Bearer $TOKEN"
//! ```

mod support;

use actix_web::{web, HttpResponse};
use auth0_actix_api::auth::{authentication, Authenticated, RequireScopes};
use serde_json::json;

async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "Hello from a public endpoint!"}))
}

async fn private(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "message": "Hello from a private endpoint!",
        "user_id": who.claims.sub,
    }))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let tenant = support::tenant_from_env()?;
    let auth = web::Data::new(tenant.authenticator()?);
    support::serve(&tenant, move |app| {
        app.app_data(auth.clone()).service(
            web::scope("/api")
                .route("/public", web::get().to(public))
                .service(
                    web::resource("/private")
                        .wrap(authentication())
                        .route(web::get().to(private)),
                )
                .service(
                    web::resource("/private-scoped")
                        // The last `wrap` runs first: authenticate, then check.
                        .wrap(RequireScopes::all(["read:messages"]))
                        .wrap(authentication())
                        .route(web::get().to(private)),
                ),
        );
    })
    .await
}
