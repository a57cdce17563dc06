//! A library user's own refusal bodies: every kind of refusal (400, 401,
//! 403, 503) answers with the app's body, while status, `WWW-Authenticate`,
//! `Cache-Control` and `Retry-After` stay exactly what the default answers.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use auth0_actix_api::auth::{
    authentication, Authenticated, Authenticator, Refusal, RequireRoles, RequireScopes,
};
use serde_json::{json, Value};

use crate::helpers::{spawn_library_app_for, MockTenant, TenantMode, TestApp, TestKey};

/// The Auth0 quickstarts' body: `{"error", "message", "details"}`.
fn quickstart_body(refusal: &Refusal<'_>) -> Value {
    let error = match refusal.status {
        StatusCode::FORBIDDEN => "insufficient_permissions",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        _ => "authentication_failed",
    };
    json!({
        "error": error,
        "message": refusal.description,
        "details": {"code": refusal.error, "scope": refusal.scope},
    })
}

fn custom(auth: Authenticator) -> Authenticator {
    auth.with_error_body(quickstart_body)
}

fn routes(cfg: &mut web::ServiceConfig) {
    async fn whoami(who: Authenticated) -> HttpResponse {
        HttpResponse::Ok().json(json!({"user_id": who.claims.sub}))
    }
    cfg.service(
        web::resource("/private")
            .wrap(authentication())
            .route(web::get().to(whoami)),
    )
    .service(
        web::resource("/scoped")
            .wrap(RequireScopes::all(["read:messages"]))
            .wrap(authentication())
            .route(web::get().to(whoami)),
    )
    .service(
        web::resource("/admin")
            .wrap(RequireRoles::any("https://example.com/roles", ["admin"]))
            .wrap(authentication())
            .route(web::get().to(whoami)),
    )
    // The extractor's own refusal, without the middleware.
    .route("/extractor", web::get().to(whoami));
}

/// One refusal to provoke, and what it must be.
struct Case {
    case: &'static str,
    path: &'static str,
    authorization: Option<String>,
    status: u16,
    code: &'static str,
    scope: Option<&'static str>,
}

impl Case {
    fn new(
        case: &'static str,
        path: &'static str,
        authorization: Option<String>,
        status: u16,
        code: &'static str,
    ) -> Self {
        Self {
            case,
            path,
            authorization,
            status,
            code,
            scope: None,
        }
    }

    fn with_scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }
}

/// Two apps on one tenant and key: the default body and the app's own.
async fn default_and_custom() -> (TestApp, TestApp) {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    let plain = spawn_library_app_for(tenant.clone(), key.clone(), |a| a, routes).await;
    let custom = spawn_library_app_for(tenant, key, custom, routes).await;
    (plain, custom)
}

#[actix_web::test]
async fn every_refusal_answers_with_the_apps_body_and_the_rfc_headers_unchanged() {
    let (plain, custom) = default_and_custom().await;
    let token = plain.token().sign(&plain.key);
    let expired = plain
        .token()
        .claim("exp", json!(crate::helpers::now() - 3600))
        .claim("iat", json!(crate::helpers::now() - 7200))
        .sign(&plain.key);
    let bearer = |t: &str| format!("Bearer {t}");
    let cases = [
        Case::new(
            "400 invalid_request",
            "/private",
            Some("Bearer".into()),
            400,
            "invalid_request",
        ),
        Case::new(
            "401 without credentials",
            "/private",
            None,
            401,
            "unauthorized",
        ),
        Case::new(
            "401 from the extractor",
            "/extractor",
            None,
            401,
            "unauthorized",
        ),
        Case::new(
            "401 invalid_token",
            "/private",
            Some(bearer(&expired)),
            401,
            "invalid_token",
        ),
        Case::new(
            "403 insufficient_scope",
            "/scoped",
            Some(bearer(&token)),
            403,
            "insufficient_scope",
        )
        .with_scope("read:messages"),
        Case::new(
            "403 from a role guard",
            "/admin",
            Some(bearer(&token)),
            403,
            "insufficient_scope",
        ),
    ];
    for Case {
        case,
        path,
        authorization,
        status,
        code,
        scope,
    } in cases
    {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("Authorization", value.as_str()))
            .collect();
        let expected = plain.get_with(path, &headers).await;
        let reply = custom.get_with(path, &headers).await;
        assert_eq!(
            expected.status, status,
            "{case}: the default app: {expected:?}"
        );
        assert_eq!(reply.status, status, "{case}: {reply:?}");
        assert_eq!(
            reply.www_authenticate, expected.www_authenticate,
            "{case}: the challenge is the default app's"
        );
        assert!(
            reply.www_authenticate.is_some(),
            "{case}: a challenge is sent"
        );
        assert_eq!(reply.cache_control.as_deref(), Some("no-store"), "{case}");
        assert_eq!(
            reply.content_type.as_deref(),
            Some("application/json"),
            "{case}"
        );
        // The default body, and the app's body saying the same thing its way.
        assert_eq!(expected.body["error"], code, "{case}: default body");
        let description = expected.body["error_description"].clone();
        let error = match status {
            403 => "insufficient_permissions",
            _ => "authentication_failed",
        };
        assert_eq!(
            reply.body,
            json!({"error": error, "message": description, "details": {"code": code, "scope": scope}}),
            "{case}: the app's body"
        );
    }
}

#[actix_web::test]
async fn a_503_answers_with_the_apps_body_and_keeps_retry_after() {
    // A tenant that is down before the first fetch: no keys, ever.
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    tenant.set_mode(TenantMode::Down);
    let plain = spawn_library_app_for(tenant.clone(), key.clone(), |a| a, routes).await;
    let custom = spawn_library_app_for(tenant, key, custom, routes).await;
    let token = format!("Bearer {}", plain.token().sign(&plain.key));
    let expected = plain
        .get_with("/private", &[("Authorization", &token)])
        .await;
    let reply = custom
        .get_with("/private", &[("Authorization", &token)])
        .await;
    assert_eq!(expected.status, 503, "the default app: {expected:?}");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        reply.retry_after.is_some(),
        "Retry-After is kept: {reply:?}"
    );
    assert_eq!(reply.www_authenticate, None, "a 503 sends no challenge");
    assert_eq!(reply.cache_control.as_deref(), Some("no-store"));
    assert_eq!(
        reply.body,
        json!({
            "error": "service_unavailable",
            "message": expected.body["error_description"],
            "details": {"code": "temporarily_unavailable", "scope": null},
        })
    );
}
