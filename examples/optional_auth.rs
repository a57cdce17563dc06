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

use actix_web::{web, App, HttpResponse, HttpServer};
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
    env_logger::init();
    let tenant = support::tenant_from_env()?;
    let auth = web::Data::new(tenant.authenticator()?);
    println!("listening on http://127.0.0.1:{}", tenant.port);
    HttpServer::new(move || {
        App::new().app_data(auth.clone()).service(
            web::scope("/api")
                .route("/public", web::get().to(public))
                .service(
                    web::resource("/feed")
                        .wrap(authentication_optional())
                        .route(web::get().to(feed)),
                )
                .service(
                    web::resource("/private")
                        .wrap(authentication())
                        .route(web::get().to(private)),
                ),
        )
    })
    .bind(("127.0.0.1", tenant.port))?
    .run()
    .await?;
    Ok(())
}
