//! The verified-token cache's promise, counted in allocations: a repeated
//! token is validated without touching the heap; and so is the request's
//! record in the metrics.
//!
//! A test binary of its own, because counting needs a global allocator.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth0_actix_api::auth::keys::KeySet;
use auth0_actix_api::auth::{
    any_of, Algorithm, Claims, KeyCache, KeyCachePolicy, Rejection, RequireClaim, RequireRoles,
    RequireScopes, ValidationPolicy, Validator,
};
use auth0_actix_api::issuer::sign_compact;
use auth0_actix_api::metrics::Metrics;
use futures_util::FutureExt;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::RS256;
use serde::Deserialize;
use serde_json::{json, Value};

#[path = "../benches/support/allocations.rs"]
mod allocations;
use allocations::{counted, per_call, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ISSUER: &str = "https://tenant.example/";
const AUDIENCE: &str = "https://api.example";

fn now() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

fn validate(validator: &Validator, token: &str) -> Result<Arc<Claims>, Rejection> {
    validator
        .validate(token)
        .now_or_never()
        .expect("the keys are in memory, so validation never waits")
}

#[test]
fn a_repeated_token_is_validated_without_allocating() {
    let pair = RsaKeyPair::generate(2048).unwrap();
    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id("k1");
    let jwks = json!({"keys": [Value::Object(jwk.as_ref().clone())]}).to_string();
    let (keys, _) = KeySet::from_jwks(jwks.as_bytes(), &[Algorithm::RS256]).unwrap();
    let validator = Validator::new(
        ValidationPolicy::new(ISSUER, vec![AUDIENCE.into()]),
        KeyCache::with_keys(KeyCachePolicy::new(ISSUER), keys),
    );
    let signer = RS256.signer_from_pem(pair.to_pem_private_key()).unwrap();
    let token = |sub: &str| {
        let claims = json!({"iss": ISSUER, "sub": sub, "aud": AUDIENCE,
                            "iat": now(), "exp": now() + 3600});
        sign_compact(&json!({"alg": "RS256", "kid": "k1"}), &claims, &signer).unwrap()
    };
    let (repeated, fresh) = (token("user-1"), token("user-2"));

    let first = validate(&validator, &repeated).unwrap();
    assert_eq!(first.sub.as_deref(), Some("user-1"));
    let (again, allocations) = counted(|| validate(&validator, &repeated));
    assert!(
        Arc::ptr_eq(&again.unwrap(), &first),
        "the second validation is answered from the cache"
    );
    assert_eq!(allocations, 0, "a remembered token allocates nothing");
    let per_validation = per_call(100, || assert!(validate(&validator, &repeated).is_ok()));
    assert_eq!(per_validation, 0.0, "nor does it on any later request");

    // The counter does see this thread's allocations: a token the cache has
    // not seen is parsed into new claims.
    let (outcome, allocations) = counted(|| validate(&validator, &fresh));
    assert_eq!(outcome.unwrap().sub.as_deref(), Some("user-2"));
    assert!(allocations > 0, "a new token allocates ({allocations})");
}

#[test]
fn guards_and_typed_claims_on_a_remembered_token_allocate_nothing() {
    #[derive(Deserialize)]
    struct Custom {
        #[serde(rename = "https://example.com/roles")]
        roles: Vec<String>,
        #[serde(rename = "https://example.com/org")]
        org: String,
    }
    let claims = Claims::from_payload(
        json!({"iss": ISSUER, "aud": AUDIENCE, "iat": 1, "exp": 2, "scope": "read:a",
               "permissions": ["write:a"], "https://example.com/roles": ["admin"],
               "https://example.com/org": "acme"})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let scopes = RequireScopes::new(any_of(["admin:a", "write:a"]));
    let roles = RequireRoles::any("https://example.com/roles", ["editor", "admin"]);
    let org = RequireClaim::equals("https://example.com/org", "acme");

    // The first reads build what the verified token keeps: the claims map
    // and the typed value.
    let (first, allocations) = counted(|| claims.typed::<Custom>().unwrap());
    assert!(allocations > 0, "the first read allocates ({allocations})");
    assert!(roles.is_satisfied_by(&claims) && org.is_satisfied_by(&claims));

    // Every later request with the same token finds them.
    let (again, allocations) = counted(|| claims.typed::<Custom>().unwrap());
    assert!(Arc::ptr_eq(&first, &again), "the kept value");
    assert_eq!((again.roles.len(), again.org.as_str()), (1, "acme"));
    assert_eq!(allocations, 0, "a kept typed read allocates nothing");
    let (passed, allocations) = counted(|| {
        scopes.is_satisfied_by(&claims)
            && roles.is_satisfied_by(&claims)
            && org.is_satisfied_by(&claims)
    });
    assert!(passed);
    assert_eq!(allocations, 0, "checking guards allocates nothing");
}

#[test]
fn recording_a_request_on_a_known_route_allocates_nothing() {
    let metrics = Metrics::default();
    let latency = Duration::from_micros(250);
    let record = || {
        metrics.record_request("/api/private", "GET", 200, latency);
        metrics.record_auth("ok");
    };
    // The first request on a route makes its series and the handles to them.
    let ((), allocations) = counted(record);
    assert!(allocations > 0, "a new route allocates ({allocations})");
    // Every later one counts through the handles: no label set is built.
    let per_request = per_call(100, record);
    assert_eq!(per_request, 0.0, "a known route allocates nothing");
}
