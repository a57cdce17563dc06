//! What a whole request costs inside the service, without the network: the
//! app as `serve` builds it (telemetry, routes, authentication, scope guard,
//! DPoP in its default optional mode), called in process. The kernel's share
//! of a request, which dominates the load test's noise, is left out, so the
//! refusals can be compared with the valid cases they must not be slower than.
//! It ends with heap allocations per request, counted rather than timed.
//!
//! Run: `cargo bench --bench request_path`.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::http::StatusCode;
use actix_web::{test, web, App};
use auth0_actix_api::auth::keys::KeySet;
use auth0_actix_api::auth::{
    authentication, authentication_optional, Algorithm, Authenticated, Authenticator, DpopPolicy,
    DpopVerifier, KeyCache, KeyCachePolicy, MaybeAuthenticated, RequireRoles, ValidationPolicy,
    Validator,
};
use auth0_actix_api::issuer::sign_compact;
use auth0_actix_api::metrics::Metrics;
use auth0_actix_api::startup::api_routes;
use auth0_actix_api::telemetry::RequestTelemetry;
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "support/allocations.rs"]
mod allocations;
#[path = "support/paired.rs"]
mod paired;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::RS256;
use paired::{paired_ratio, PAIRED_BATCHES};
use serde_json::{json, Value};

#[global_allocator]
static ALLOCATOR: allocations::Counting = allocations::Counting;

const ISSUER: &str = "https://tenant.example/";
const AUDIENCE: &str = "https://api.example";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn authenticator(jwks: &str, verified_cache: usize) -> web::Data<Authenticator> {
    web::Data::new(plain_authenticator(jwks, verified_cache))
}

fn plain_authenticator(jwks: &str, verified_cache: usize) -> Authenticator {
    let (set, _) = KeySet::from_jwks(jwks.as_bytes(), &[Algorithm::RS256]).expect("jwks");
    let keys = KeyCache::with_keys(KeyCachePolicy::new(ISSUER), set);
    let mut policy = ValidationPolicy::new(ISSUER, vec![AUDIENCE.into()]);
    policy.verified_cache_entries = verified_cache;
    let dpop = DpopVerifier::new(DpopPolicy::default()).expect("dpop");
    Authenticator::new(Validator::new(policy, keys), "api").with_dpop(dpop)
}

const ROLES: &str = "https://example.com/roles";

/// Routes beside the service's: a role guard and optional authentication.
fn library_routes(cfg: &mut web::ServiceConfig) {
    async fn who(who: Authenticated) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok().json(who.claims.sub.as_deref())
    }
    async fn maybe(who: MaybeAuthenticated) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok().json(who.0.is_some())
    }
    cfg.service(
        web::resource("/lib/admin")
            .wrap(RequireRoles::any(ROLES, ["admin"]))
            .wrap(authentication())
            .route(web::get().to(who)),
    )
    .service(
        web::resource("/lib/feed")
            .wrap(authentication_optional())
            .route(web::get().to(maybe)),
    );
}

fn benches(c: &mut Criterion) {
    let pair = RsaKeyPair::generate(2048).expect("key");
    let mut public_jwk = pair.to_jwk_public_key();
    public_jwk.set_key_id("k1");
    let jwks = json!({"keys": [Value::Object(public_jwk.as_ref().clone())]}).to_string();
    let signer = RS256
        .signer_from_pem(pair.to_pem_private_key())
        .expect("signer");
    let token = |sub: &str, scope: &str| {
        let claims = json!({"iss": ISSUER, "sub": sub, "aud": AUDIENCE, "iat": now(),
                            "exp": now() + 3600, "scope": scope, "azp": "client"});
        sign_compact(
            &json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}),
            &claims,
            &signer,
        )
        .expect("sign")
    };
    let valid = token("user", "read:messages");
    let admin = {
        let claims = json!({"iss": ISSUER, "sub": "admin", "aud": AUDIENCE, "iat": now(),
                            "exp": now() + 3600, ROLES: ["admin"]});
        sign_compact(
            &json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}),
            &claims,
            &signer,
        )
        .expect("sign")
    };
    let no_scope = token("user", "openid");
    let distinct: Vec<String> = (0..1000)
        .map(|i| token(&format!("user-{i}"), "read:messages"))
        .collect();
    let forged = format!(
        "{}.{}",
        valid.rsplit_once('.').expect("parts").0,
        distinct[0].rsplit_once('.').expect("parts").1
    );

    let system = actix_rt::System::new();
    let app = |auth: web::Data<Authenticator>| {
        let metrics = web::Data::new(Metrics::default());
        test::init_service(
            App::new()
                .wrap(RequestTelemetry::new(metrics.clone().into_inner()))
                .app_data(auth)
                .app_data(metrics)
                .configure(api_routes)
                .configure(library_routes),
        )
    };
    let cached = system.block_on(app(authenticator(&jwks, 10_000)));
    let uncached = system.block_on(app(authenticator(&jwks, 0)));
    // The same routes answering refusals with an app's own body.
    let custom = system.block_on(app(web::Data::new(
        plain_authenticator(&jwks, 10_000).with_error_body(|refusal| {
            json!({"error": "authentication_failed", "message": refusal.description,
                   "details": refusal.error})
        }),
    )));

    // Header values are built once, so the bench measures the service, not
    // the formatting and validation of a 1 KB test header.
    let bearer = |token: &str| HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    let valid = bearer(&valid);
    let admin = bearer(&admin);
    let no_scope = bearer(&no_scope);
    let forged = bearer(&forged);
    let garbage = bearer("garbage.garbage.garbage");
    let distinct: Vec<HeaderValue> = distinct.iter().map(|t| bearer(t)).collect();

    // One GET through `service`, failing the bench if the status is not the
    // expected one.
    macro_rules! get {
        ($service:expr, $path:expr, $authorization:expr, $status:expr) => {{
            let mut request = test::TestRequest::get().uri($path);
            if let Some(value) = $authorization {
                request = request.insert_header((AUTHORIZATION, HeaderValue::clone(value)));
            }
            let response = system.block_on(test::call_service(&$service, request.to_request()));
            assert_eq!(response.status(), $status, "{}", $path);
            black_box(response);
        }};
    }

    let mut group = c.benchmark_group("request");
    group.bench_function("public", |b| {
        b.iter(|| get!(cached, "/api/public", None::<&HeaderValue>, StatusCode::OK))
    });
    group.bench_function("private_repeated_token", |b| {
        b.iter(|| get!(cached, "/api/private", Some(&valid), StatusCode::OK))
    });
    group.bench_function("scoped_without_permission", |b| {
        b.iter(|| {
            get!(
                cached,
                "/api/private-scoped",
                Some(&no_scope),
                StatusCode::FORBIDDEN
            )
        })
    });
    group.bench_function("private_without_token", |b| {
        b.iter(|| {
            get!(
                cached,
                "/api/private",
                None::<&HeaderValue>,
                StatusCode::UNAUTHORIZED
            )
        })
    });
    group.bench_function("private_garbage_token", |b| {
        b.iter(|| {
            get!(
                cached,
                "/api/private",
                Some(&garbage),
                StatusCode::UNAUTHORIZED
            )
        })
    });
    let mut i = 0;
    group.bench_function("private_distinct_tokens_uncached", |b| {
        b.iter(|| {
            i = (i + 1) % distinct.len();
            get!(uncached, "/api/private", Some(&distinct[i]), StatusCode::OK)
        })
    });
    group.bench_function("private_bad_signature_uncached", |b| {
        b.iter(|| {
            get!(
                uncached,
                "/api/private",
                Some(&forged),
                StatusCode::UNAUTHORIZED
            )
        })
    });
    group.finish();

    // Each refusal beside the valid request it must not be slower than.
    println!(
        "\npaired, in process: time per request of each refusal over its valid counterpart,\n\
         the median of {PAIRED_BATCHES} alternating batches (1.00 or less: no slower)"
    );
    let mut repeated = || get!(cached, "/api/private", Some(&valid), StatusCode::OK);
    let scoped = || {
        get!(
            cached,
            "/api/private-scoped",
            Some(&no_scope),
            StatusCode::FORBIDDEN
        )
    };
    let missing = || {
        get!(
            cached,
            "/api/private",
            None::<&HeaderValue>,
            StatusCode::UNAUTHORIZED
        )
    };
    let garbage_token = || {
        get!(
            cached,
            "/api/private",
            Some(&garbage),
            StatusCode::UNAUTHORIZED
        )
    };
    let custom_scoped = || {
        get!(
            custom,
            "/api/private-scoped",
            Some(&no_scope),
            StatusCode::FORBIDDEN
        )
    };
    let custom_missing = || {
        get!(
            custom,
            "/api/private",
            None::<&HeaderValue>,
            StatusCode::UNAUTHORIZED
        )
    };
    let pairs: [(&str, &dyn Fn()); 3] = [
        ("scope refused (403) / repeated valid token", &scoped),
        ("no token (401) / repeated valid token", &missing),
        ("garbage token (401) / repeated valid token", &garbage_token),
    ];
    for (name, refusal) in pairs {
        let ratio = paired_ratio(refusal, &mut repeated, 2_000);
        println!("  {name}: {ratio:.2}");
    }
    // A custom body's refusals beside a valid request to the same app, so
    // both halves of each pair run through the same service tree.
    let mut custom_repeated = || get!(custom, "/api/private", Some(&valid), StatusCode::OK);
    let pairs: [(&str, &dyn Fn()); 2] = [
        (
            "custom body: scope refused (403) / repeated valid token",
            &custom_scoped,
        ),
        (
            "custom body: no token (401) / repeated valid token",
            &custom_missing,
        ),
    ];
    for (name, refusal) in pairs {
        let ratio = paired_ratio(refusal, &mut custom_repeated, 2_000);
        println!("  {name}: {ratio:.2}");
    }
    let mut j = 0;
    let ratio = paired_ratio(
        || {
            get!(
                uncached,
                "/api/private",
                Some(&forged),
                StatusCode::UNAUTHORIZED
            )
        },
        || {
            j = (j + 1) % distinct.len();
            get!(uncached, "/api/private", Some(&distinct[j]), StatusCode::OK)
        },
        100,
    );
    println!("  bad signature / distinct valid tokens, both uncached: {ratio:.2}");
    // Not a refusal: what authenticating a repeated token adds to a request.
    let ratio = paired_ratio(
        &mut repeated,
        || get!(cached, "/api/public", None::<&HeaderValue>, StatusCode::OK),
        2_000,
    );
    println!("  repeated valid token / /api/public (the auth work in process): {ratio:.2}");

    // Counted, not timed, so the machine's drift cannot move these.
    println!("\nheap allocations per request, in process:");
    let mut k = 0;
    let counts: [(&str, &mut dyn FnMut()); 15] = [
        ("/api/public", &mut || {
            get!(cached, "/api/public", None::<&HeaderValue>, StatusCode::OK)
        }),
        ("/api/public with the repeated token's header", &mut || {
            get!(cached, "/api/public", Some(&valid), StatusCode::OK)
        }),
        ("/api/private, repeated token", &mut repeated),
        (
            "/api/private-scoped, repeated token with the permission",
            &mut || get!(cached, "/api/private-scoped", Some(&valid), StatusCode::OK),
        ),
        ("/api/private-scoped without the permission", &mut || {
            scoped()
        }),
        ("/api/private, no token", &mut || missing()),
        ("/api/private, garbage token", &mut || garbage_token()),
        ("/api/private, distinct tokens, uncached", &mut || {
            k = (k + 1) % distinct.len();
            get!(uncached, "/api/private", Some(&distinct[k]), StatusCode::OK)
        }),
        (
            "custom body: /api/private-scoped without the permission",
            &mut || {
                get!(
                    custom,
                    "/api/private-scoped",
                    Some(&no_scope),
                    StatusCode::FORBIDDEN
                )
            },
        ),
        ("custom body: /api/private, no token", &mut || {
            get!(
                custom,
                "/api/private",
                None::<&HeaderValue>,
                StatusCode::UNAUTHORIZED
            )
        }),
        ("custom body: /api/private, garbage token", &mut || {
            get!(
                custom,
                "/api/private",
                Some(&garbage),
                StatusCode::UNAUTHORIZED
            )
        }),
        ("role guard, repeated token with the role", &mut || {
            get!(cached, "/lib/admin", Some(&admin), StatusCode::OK)
        }),
        ("role guard, repeated token without the role", &mut || {
            get!(cached, "/lib/admin", Some(&valid), StatusCode::FORBIDDEN)
        }),
        ("optional authentication, no token", &mut || {
            get!(cached, "/lib/feed", None::<&HeaderValue>, StatusCode::OK)
        }),
        ("optional authentication, repeated token", &mut || {
            get!(cached, "/lib/feed", Some(&valid), StatusCode::OK)
        }),
    ];
    for (name, request) in counts {
        println!("  {name}: {:.1}", allocations::per_call(1_000, request));
    }
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
