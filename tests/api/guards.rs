//! Scope, claim and role guards, optional authentication and typed claims,
//! on apps built in the test with the auth core as a library (the service's
//! own routes stay the quickstart's).

use std::sync::{Arc, Mutex};

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use auth0_actix_api::auth::{
    all_of, any_of, authentication, authentication_optional, Authenticated, Claims,
    MaybeAuthenticated, RequireClaim, RequireRoles, RequireScopes, TypedClaims,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::helpers::{now, spawn_library_app, Reply, TestApp};

const ROLES: &str = "https://example.com/roles";
const ORG: &str = "https://example.com/org";

async fn whoami(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user_id": who.claims.sub}))
}

/// The challenge of a 403 from a Bearer-only app, as RFC 6750 §3 spells it.
fn forbidden(description: &str, scope: Option<&str>) -> String {
    match scope {
        Some(scope) => format!(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"{description}\", scope=\"{scope}\""
        ),
        None => format!(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"{description}\""
        ),
    }
}

/// Asserts a 403 with exactly this challenge, the same description in the
/// JSON body, and an uncacheable answer.
fn assert_forbidden(reply: &Reply, description: &str, scope: Option<&str>, case: &str) {
    assert_eq!(reply.status, 403, "{case}: {reply:?}");
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(forbidden(description, scope).as_str()),
        "{case}: the challenge"
    );
    assert_eq!(
        reply.body,
        json!({"error": "insufficient_scope", "error_description": description}),
        "{case}: the body"
    );
    assert_eq!(
        reply.cache_control.as_deref(),
        Some("no-store"),
        "{case}: RFC 6750 §3 no-store"
    );
}

/// Request headers, as `get_with` takes them.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn token_with(app: &TestApp, claims: &[(&str, Value)]) -> String {
    claims
        .iter()
        .fold(app.token(), |token, (name, value)| {
            token.claim(name, value.clone())
        })
        .sign(&app.key)
}

#[actix_web::test]
async fn an_all_of_guard_on_a_resource_needs_every_permission_in_scope_or_permissions() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource("/both")
                    .wrap(RequireScopes::all(["read:a", "write:a"]))
                    .wrap(authentication())
                    .route(web::get().to(whoami)),
            );
        },
    )
    .await;
    let allowed: [&[(&str, Value)]; 3] = [
        &[("scope", json!("read:a write:a"))],
        &[("scope", json!(["write:a", "read:a"]))],
        &[
            ("scope", json!("read:a")),
            ("permissions", json!(["write:a"])),
        ],
    ];
    for claims in allowed {
        let reply = app.get_bearer("/both", &token_with(&app, claims)).await;
        assert_eq!(reply.status, 200, "{claims:?}: {reply:?}");
        assert_eq!(reply.body, json!({"user_id": "auth0|user-1"}));
    }
    let refused: [&[(&str, Value)]; 3] = [
        &[("scope", json!("read:a"))],
        &[("permissions", json!(["write:a"]))],
        &[],
    ];
    for claims in refused {
        let reply = app.get_bearer("/both", &token_with(&app, claims)).await;
        assert_forbidden(
            &reply,
            "The access token lacks the permission this endpoint needs: read:a and write:a",
            Some("read:a write:a"),
            &format!("{claims:?}"),
        );
    }
}

#[actix_web::test]
async fn an_any_of_guard_on_a_scope_needs_one_permission() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::scope("/reports")
                    .wrap(RequireScopes::any(["read:reports", "admin:reports"]))
                    .wrap(authentication())
                    .route("/daily", web::get().to(whoami))
                    .route("/weekly", web::get().to(whoami)),
            );
        },
    )
    .await;
    for (claims, path) in [
        (("scope", json!("openid read:reports")), "/reports/daily"),
        (("permissions", json!(["admin:reports"])), "/reports/weekly"),
    ] {
        let reply = app
            .get_bearer(path, &token_with(&app, std::slice::from_ref(&claims)))
            .await;
        assert_eq!(reply.status, 200, "{claims:?}: {reply:?}");
    }
    let none = token_with(&app, &[("scope", json!("read:messages"))]);
    for path in ["/reports/daily", "/reports/weekly"] {
        let reply = app.get_bearer(path, &none).await;
        assert_forbidden(
            &reply,
            "The access token lacks the permission this endpoint needs: read:reports or admin:reports",
            Some("read:reports admin:reports"),
            path,
        );
    }
}

#[actix_web::test]
async fn a_nested_guard_on_a_single_route_holds_exactly_when_its_structure_does() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource("/messages")
                    .wrap(authentication())
                    // Only POST is guarded: GET needs a token and nothing more.
                    .route(web::get().to(whoami))
                    .route(web::post().to(whoami).wrap(RequireScopes::new(all_of([
                        any_of(["write:messages", "admin"]),
                        "read:messages".into(),
                    ])))),
            );
        },
    )
    .await;
    let cases = [
        ("read:messages write:messages", 200),
        ("admin read:messages", 200),
        ("admin write:messages read:messages", 200),
        ("admin write:messages", 403),
        ("read:messages", 403),
        ("", 403),
    ];
    for (scope, status) in cases {
        let token = token_with(&app, &[("scope", json!(scope))]);
        let bearer = format!("Bearer {token}");
        let reply = app
            .send(
                Method::POST,
                "/messages",
                &[("Authorization", &bearer)],
                None,
            )
            .await;
        if status == 200 {
            assert_eq!(reply.status, 200, "{scope:?}: {reply:?}");
        } else {
            assert_forbidden(
                &reply,
                "The access token lacks the permission this endpoint needs: (write:messages or admin) and read:messages",
                Some("write:messages admin read:messages"),
                scope,
            );
        }
        // The unguarded GET on the same resource lets every valid token in.
        let reply = app.get_bearer("/messages", &token).await;
        assert_eq!(reply.status, 200, "GET with {scope:?}: {reply:?}");
    }
}

#[derive(Debug, Deserialize)]
struct NewMessage {
    #[allow(dead_code)]
    text: String,
}

async fn create(who: Authenticated, message: web::Json<NewMessage>) -> HttpResponse {
    let _ = message;
    HttpResponse::Created().json(json!({"user_id": who.claims.sub}))
}

#[actix_web::test]
async fn a_missing_permission_is_refused_before_the_body_is_read() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource("/messages").wrap(authentication()).route(
                    web::post()
                        .to(create)
                        .wrap(RequireScopes::all(["write:messages"])),
                ),
            );
        },
    )
    .await;
    let post = |token: String, body: &'static str| {
        let app = &app;
        async move {
            let bearer = format!("Bearer {token}");
            app.send(
                Method::POST,
                "/messages",
                &[
                    ("Authorization", bearer.as_str()),
                    ("Content-Type", "application/json"),
                ],
                Some(body),
            )
            .await
        }
    };
    let broken = "{\"text\": ";
    let without = token_with(&app, &[("scope", json!("read:messages"))]);
    let reply = post(without, broken).await;
    assert_forbidden(
        &reply,
        "The access token lacks the permission this endpoint needs: write:messages",
        Some("write:messages"),
        "broken body without the permission",
    );
    // The same body with the permission reaches the JSON extractor, which
    // refuses it: the 403 above came first.
    let with = token_with(&app, &[("scope", json!("write:messages"))]);
    let reply = post(with.clone(), broken).await;
    assert_eq!(
        reply.status, 400,
        "broken body with the permission: {reply:?}"
    );
    let reply = post(with, "{\"text\": \"hi\"}").await;
    assert_eq!(
        reply.status, 201,
        "a good body with the permission: {reply:?}"
    );
}

#[actix_web::test]
async fn claim_guards_pass_matching_claims_and_name_the_failed_kind_of_check() {
    #[derive(Deserialize)]
    struct Tier {
        #[serde(rename = "https://example.com/tier")]
        tier: u32,
    }
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::scope("/claims")
                    .wrap(authentication())
                    .service(
                        web::resource("/org")
                            .wrap(RequireClaim::equals(ORG, "acme"))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/groups")
                            .wrap(RequireClaim::includes("groups", ["eng", "ops"]))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/any-group")
                            .wrap(RequireClaim::includes_any("groups", ["sales", "ops"]))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/verified")
                            .wrap(RequireClaim::check("email_verified", |c: &Claims| {
                                c.get("email_verified") == Some(&json!(true))
                            }))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/gold")
                            .wrap(RequireClaim::check_as("gold_tier", |t: &Tier| t.tier >= 3))
                            .route(web::get().to(whoami)),
                    ),
            );
        },
    )
    .await;
    let equals = "The access token's https://example.com/org claim does not have the value this endpoint requires";
    let includes =
        "The access token's groups claim does not include the values this endpoint requires";
    let check = "The access token's claims do not pass this endpoint's claim check";
    let cases: [(&str, (&str, Value), Option<&str>); 12] = [
        ("/claims/org", (ORG, json!("acme")), None),
        ("/claims/org", (ORG, json!("other")), Some(equals)),
        ("/claims/groups", ("groups", json!(["ops", "eng"])), None),
        ("/claims/groups", ("groups", json!("eng ops")), None),
        ("/claims/groups", ("groups", json!(["eng"])), Some(includes)),
        ("/claims/any-group", ("groups", json!(["ops"])), None),
        ("/claims/any-group", ("groups", json!(["eng"])), Some(includes)),
        ("/claims/verified", ("email_verified", json!(true)), None),
        ("/claims/verified", ("email_verified", json!(false)), Some(check)),
        ("/claims/gold", ("https://example.com/tier", json!(3)), None),
        ("/claims/gold", ("https://example.com/tier", json!(2)), Some(check)),
        // Without the claim at all, the guard says so.
        (
            "/claims/org",
            ("unrelated", json!(1)),
            Some("The access token has no https://example.com/org claim, which this endpoint requires"),
        ),
    ];
    for (path, claim, refusal) in cases {
        let reply = app
            .get_bearer(path, &token_with(&app, std::slice::from_ref(&claim)))
            .await;
        let case = format!("{path} with {claim:?}");
        match refusal {
            None => assert_eq!(reply.status, 200, "{case}: {reply:?}"),
            Some(description) => assert_forbidden(&reply, description, None, &case),
        }
    }
}

#[actix_web::test]
async fn role_guards_read_the_configured_namespaced_claim() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::scope("/admin")
                    .wrap(RequireRoles::new(
                        ROLES,
                        any_of([all_of(["admin", "auditor"]), "owner".into()]),
                    ))
                    .wrap(authentication())
                    .route("/audit", web::get().to(whoami)),
            );
        },
    )
    .await;
    let lacking =
        "The access token's roles (https://example.com/roles) do not include a role this endpoint requires";
    let cases = [
        (Some(json!(["auditor", "admin"])), None),
        (Some(json!(["owner"])), None),
        (Some(json!("owner")), None),
        (Some(json!(["admin"])), Some(lacking)),
        (Some(json!([])), Some(lacking)),
        (
            None,
            Some("The access token has no roles claim (https://example.com/roles); this endpoint requires a role"),
        ),
    ];
    for (roles, refusal) in cases {
        let claims: Vec<(&str, Value)> = roles.iter().map(|r| (ROLES, r.clone())).collect();
        let reply = app
            .get_bearer("/admin/audit", &token_with(&app, &claims))
            .await;
        let case = format!("roles {roles:?}");
        match refusal {
            None => assert_eq!(reply.status, 200, "{case}: {reply:?}"),
            Some(description) => assert_forbidden(&reply, description, None, &case),
        }
    }
    // A role from another claim, even a similar one, does not count.
    let elsewhere = token_with(&app, &[("roles", json!(["owner"]))]);
    let reply = app.get_bearer("/admin/audit", &elsewhere).await;
    assert_eq!(
        reply.status, 403,
        "roles in an unconfigured claim: {reply:?}"
    );
}

#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(rename = "https://example.com/org")]
    org: String,
    #[serde(rename = "https://example.com/roles", default)]
    roles: Vec<String>,
}

#[actix_web::test]
async fn a_claim_of_the_wrong_type_is_a_clean_refusal_on_every_guard() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            let typed = |profile: TypedClaims<Profile>| async move {
                HttpResponse::Ok().json(json!({"org": profile.org}))
            };
            cfg.service(
                web::scope("/g")
                    .wrap(authentication())
                    .service(
                        web::resource("/scope")
                            .wrap(RequireScopes::all(["read:a"]))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/equals")
                            .wrap(RequireClaim::equals(ORG, "acme"))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/includes")
                            .wrap(RequireClaim::includes(ORG, ["acme"]))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/check")
                            .wrap(RequireClaim::check_as("acme_member", |p: &Profile| {
                                p.org == "acme"
                            }))
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/roles")
                            .wrap(RequireRoles::any(ROLES, ["admin"]))
                            .route(web::get().to(whoami)),
                    )
                    .route("/typed", web::get().to(typed)),
            );
        },
    )
    .await;
    // A value that must never be echoed back.
    let secret = "s3cret-claim-value";
    let wrong_type =
        "The access token's https://example.com/org claim has a type this endpoint does not accept";
    let cases: [(&str, (&str, Value), u16, &str); 9] = [
        // `scope` and `permissions` are registered claims, type-checked when
        // the token is validated (SPEC "Token validation"): a bad token, 401.
        ("/g/scope", ("scope", json!({"read:a": secret})), 401, ""),
        ("/g/scope", ("permissions", json!(secret)), 401, ""),
        ("/g/equals", (ORG, json!([secret])), 403, wrong_type),
        ("/g/equals", (ORG, json!({"name": secret})), 403, wrong_type),
        ("/g/includes", (ORG, json!({"acme": secret})), 403, wrong_type),
        (
            "/g/check",
            (ORG, json!([secret])),
            403,
            "The access token's claims do not pass this endpoint's claim check",
        ),
        (
            "/g/roles",
            (ROLES, json!({"admin": secret})),
            403,
            "The access token's roles claim (https://example.com/roles) is not a list of role names",
        ),
        (
            "/g/roles",
            (ROLES, json!(["admin", 7, secret])),
            403,
            "The access token's roles claim (https://example.com/roles) is not a list of role names",
        ),
        (
            "/g/typed",
            (ORG, json!({"id": secret})),
            403,
            "The access token's claims do not have the form this endpoint requires",
        ),
    ];
    for (path, claim, status, description) in cases {
        let reply = app
            .get_bearer(path, &token_with(&app, std::slice::from_ref(&claim)))
            .await;
        let case = format!("{path} with {claim:?}");
        if status == 403 {
            assert_forbidden(&reply, description, None, &case);
        } else {
            assert_eq!(reply.status, status, "{case}: {reply:?}");
            assert_eq!(reply.body["error"], "invalid_token", "{case}");
        }
        let shown = format!("{:?} {}", reply.www_authenticate, reply.body);
        assert!(
            !shown.contains(secret),
            "{case}: the claim's value is echoed: {shown}"
        );
    }
}

#[actix_web::test]
async fn optional_authentication_lets_anonymous_callers_in_but_never_bad_credentials() {
    let app = spawn_library_app(
        |auth| auth,
        |cfg: &mut web::ServiceConfig| {
            let greet = |who: MaybeAuthenticated| async move {
                match who.0 {
                    Some(who) => HttpResponse::Ok().json(json!({"user_id": who.claims.sub})),
                    None => HttpResponse::Ok().json(json!({"anonymous": true})),
                }
            };
            cfg.service(
                web::resource("/feed")
                    .wrap(authentication_optional())
                    .route(web::get().to(greet)),
            )
            .service(
                web::resource("/feed/admin")
                    .wrap(RequireScopes::all(["admin"]))
                    .wrap(authentication_optional())
                    .route(web::get().to(greet)),
            )
            // A mistake: MaybeAuthenticated without either middleware.
            .route("/unwrapped", web::get().to(greet));
        },
    )
    .await;
    let bare = "Bearer realm=\"api\"";

    let reply = app.get_with("/feed", &[]).await;
    assert_eq!(reply.status, 200, "no credentials: {reply:?}");
    assert_eq!(reply.body, json!({"anonymous": true}));
    assert_eq!(
        reply.www_authenticate, None,
        "an anonymous answer has no challenge"
    );

    let good = app.token().sign(&app.key);
    let reply = app.get_bearer("/feed", &good).await;
    assert_eq!(reply.status, 200, "a good token: {reply:?}");
    assert_eq!(reply.body, json!({"user_id": "auth0|user-1"}));

    let expired = app
        .token()
        .claim("iat", json!(now() - 7200))
        .claim("exp", json!(now() - 3600))
        .sign(&app.key);
    // (case, headers, status, error code in the challenge; None: a bare one)
    let refused: [(&str, Headers<'_>, u16, Option<&str>); 6] = [
        (
            "garbage token",
            &[("Authorization", "Bearer not-a-token")],
            401,
            Some("invalid_token"),
        ),
        (
            "expired token",
            &[("Authorization", &format!("Bearer {expired}"))],
            401,
            Some("invalid_token"),
        ),
        (
            "a scheme we do not accept",
            &[("Authorization", "Basic dXNlcjpwYXNz")],
            401,
            None,
        ),
        (
            "a scheme without a token",
            &[("Authorization", "Bearer")],
            400,
            Some("invalid_request"),
        ),
        (
            "two Authorization headers",
            &[("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
            400,
            Some("invalid_request"),
        ),
        (
            "a DPoP proof without a token",
            &[("DPoP", "x.y.z")],
            401,
            None,
        ),
    ];
    for (case, headers, status, code) in refused {
        let reply = app.get_with("/feed", headers).await;
        assert_eq!(reply.status, status, "{case}: {reply:?}");
        let challenge = reply.www_authenticate.clone().unwrap_or_default();
        match code {
            Some(code) => assert!(
                challenge.contains(&format!("error=\"{code}\"")),
                "{case}: {challenge}"
            ),
            None => assert_eq!(challenge, bare, "{case}"),
        }
        assert_ne!(reply.body, json!({"anonymous": true}), "{case}");
    }
    let reply = app.get_with("/feed?access_token=abc", &[]).await;
    assert_eq!(reply.status, 400, "a token in the URL: {reply:?}");

    // A guard behind the optional mode needs a caller it can check.
    let reply = app.get_with("/feed/admin", &[]).await;
    assert_eq!(reply.status, 401, "anonymous on a guarded route: {reply:?}");
    assert_eq!(reply.www_authenticate.as_deref(), Some(bare));
    let admin = app.token().claim("scope", json!("admin")).sign(&app.key);
    let reply = app.get_bearer("/feed/admin", &admin).await;
    assert_eq!(reply.status, 200, "an admin on a guarded route: {reply:?}");

    let reply = app.get_with("/unwrapped", &[]).await;
    assert_eq!(
        reply.status, 500,
        "MaybeAuthenticated without middleware: {reply:?}"
    );
    let reply = app.get_bearer("/unwrapped", &good).await;
    assert_eq!(reply.status, 500, "never silently anonymous: {reply:?}");
}

#[actix_web::test]
async fn typed_claims_are_read_once_per_verified_token() {
    // Every value the handler is handed, kept alive so that no address is
    // reused: the same `Arc` twice means the claims were not read again.
    let seen: Arc<Mutex<Vec<Arc<Profile>>>> = Arc::default();
    let handed = Arc::clone(&seen);
    let app = spawn_library_app(
        |auth| auth,
        move |cfg: &mut web::ServiceConfig| {
            let handed = Arc::clone(&handed);
            let profile = move |profile: TypedClaims<Profile>| {
                handed.lock().unwrap().push(Arc::clone(&profile.0));
                async move {
                    HttpResponse::Ok().json(json!({"org": profile.org, "roles": profile.roles}))
                }
            };
            cfg.service(
                web::resource("/profile")
                    .wrap(authentication())
                    .route(web::get().to(profile)),
            );
        },
    )
    .await;
    let token = token_with(
        &app,
        &[(ORG, json!("acme")), (ROLES, json!(["admin", "billing"]))],
    );
    let first = app.get_bearer("/profile", &token).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        first.body,
        json!({"org": "acme", "roles": ["admin", "billing"]})
    );
    let again = app.get_bearer("/profile", &token).await;
    assert_eq!(again.body, first.body);
    let other = token_with(&app, &[(ORG, json!("acme")), ("jti", json!("another"))]);
    let reply = app.get_bearer("/profile", &other).await;
    assert_eq!(
        reply.body,
        json!({"org": "acme", "roles": []}),
        "roles default to none"
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(
            Arc::ptr_eq(&seen[0], &seen[1]),
            "the second request is handed the value the first one read"
        );
        assert!(
            !Arc::ptr_eq(&seen[0], &seen[2]),
            "another token, another read"
        );
    }

    let reply = app
        .get_bearer("/profile", &app.token().sign(&app.key))
        .await;
    assert_forbidden(
        &reply,
        "The access token's claims do not have the form this endpoint requires",
        None,
        "a token without the org claim",
    );
    let reply = app.get_with("/profile", &[]).await;
    assert_eq!(reply.status, 401, "no token: {reply:?}");
}
