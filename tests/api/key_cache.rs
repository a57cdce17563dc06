//! The key cache as users meet it: cold starts, rotation, floods of unknown
//! kids, tenant outages and broken tenant answers. Caching is proven by
//! counting requests at the mock tenant.

use std::time::Duration;

use auth0_actix_api::auth::{Algorithm, KeyCache, KeyCachePolicy};
use futures_util::future::join_all;
use serde_json::json;

use crate::errors::assert_invalid_token;
use crate::helpers::{
    eventually, spawn_app_for, spawn_app_with, MockTenant, TenantMode, TestApp, TestKey,
};
use auth0_actix_api::settings::Settings;

#[actix_web::test]
async fn concurrent_requests_at_a_cold_start_share_one_discovery_and_one_jwks_fetch() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.token().sign(&app.key);
    let replies = join_all((0..200).map(|_| app.get_bearer("/api/private", &token))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "statuses: {statuses:?}");
    assert_eq!(app.tenant.discovery_hits(), 1, "discovery fetches");
    assert_eq!(app.tenant.jwks_hits(), 1, "JWKS fetches");
}

#[actix_web::test]
async fn many_requests_with_a_warm_cache_cause_no_fetch() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.token().sign(&app.key);
    for _ in 0..50 {
        assert_eq!(app.get_bearer("/api/private", &token).await.status, 200);
    }
    assert_eq!(
        app.tenant.jwks_hits(),
        1,
        "JWKS fetched once for 50 requests"
    );
}

#[actix_web::test]
async fn a_rotated_key_is_accepted_right_after_the_tenant_publishes_it() {
    let app = spawn_app_with(|_| {}).await;
    let old = a_new_kid_is_fetched_at_once(&app).await;
    assert_eq!(
        app.get_bearer("/api/private", &old).await.status,
        200,
        "old key still published"
    );
}

#[actix_web::test]
async fn a_remembered_token_is_refused_once_its_key_leaves_the_key_set() {
    // The verified-token cache answers a repeated token without checking its
    // signature again, but only while the key that verified it is published.
    refused_once_the_tenant_publishes(
        |_| TestKey::other_rsa("key-2"),
        "The token is signed with an unknown key",
        "a remembered token whose key was withdrawn",
    )
    .await;
}

#[actix_web::test]
async fn a_remembered_token_is_refused_once_its_kid_is_republished_with_other_key_material() {
    // The verified-token cache vouches for a token only while the key now
    // published under its kid is the very key that verified it. A tenant
    // that republishes a kid with new material (a botched rotation, or a
    // compromised key replaced in place) must not keep old tokens alive.
    refused_once_the_tenant_publishes(
        |old| {
            let replacement = TestKey::other_rsa(&old.kid);
            assert_ne!(
                replacement.public_jwk["n"], old.public_jwk["n"],
                "other key material under the same kid"
            );
            replacement
        },
        "The token's signature is invalid",
        "a remembered token whose kid now names another key",
    )
    .await;
}

/// A token is remembered; then the tenant publishes only the key `replace`
/// makes of the app's key. The remembered token is refused with
/// `description`, and tokens signed by the new key are served.
async fn refused_once_the_tenant_publishes(
    replace: impl FnOnce(&TestKey) -> TestKey,
    description: &str,
    case: &str,
) {
    let app = spawn_app_with(|s| s.jwks.ttl_secs = 1).await;
    let old = app.token().sign(&app.key);
    app.assert_remembered(&old).await;

    let new_key = replace(&app.key);
    assert!(
        app.tenant.publish_and_await_fetch(&[&new_key]).await,
        "{case}: the background refresh fetched the new key set"
    );
    assert_invalid_token(&app.first_refusal(&old).await, description, case);
    let new = app.tenant.token(&new_key).sign(&new_key);
    app.assert_remembered(&new).await;
}

#[actix_web::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch_per_cooldown() {
    let app = spawn_app_with(|_| {}).await;
    let valid = app.token().sign(&app.key);
    assert_eq!(app.get_bearer("/api/private", &valid).await.status, 200);
    let before = app.tenant.jwks_hits();

    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for chunk in 0..20 {
        let tokens: Vec<String> = (0..50)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                app.token()
                    .header("kid", json!(format!("random-{seed:x}")))
                    .sign(&app.key)
            })
            .collect();
        let bogus = join_all(tokens.iter().map(|t| app.get_bearer("/api/private", t))).await;
        for reply in &bogus {
            assert_eq!(reply.status, 401, "unknown kid: {reply:?}");
            assert_eq!(
                reply.body["error_description"],
                "The token is signed with an unknown key"
            );
        }
        let reply = app.get_bearer("/api/private", &valid).await;
        assert_eq!(
            reply.status, 200,
            "valid request interleaved after chunk {chunk}"
        );
    }
    let extra = app.tenant.jwks_hits() - before;
    assert!(extra <= 1, "1,000 unknown kids caused {extra} fetches");
}

#[actix_web::test]
async fn valid_tokens_keep_working_past_the_ttl_while_the_tenant_is_down() {
    let app = spawn_app_with(|s| s.jwks.ttl_secs = 1).await;
    let token = app.token().sign(&app.key);
    assert_eq!(app.get_bearer("/api/private", &token).await.status, 200);

    app.tenant.set_mode(TenantMode::Down);
    let failed_refresh = eventually(|| app.tenant.jwks_hits() >= 2).await;
    assert!(failed_refresh, "a background refresh was attempted");
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 200, "stale-if-error: {reply:?}");
    assert_eq!(
        app.get_with("/readyz", &[]).await.status,
        200,
        "still ready within max staleness"
    );

    app.tenant.set_mode(TenantMode::Up);
    let hits = app.tenant.jwks_hits();
    assert!(
        eventually(|| app.tenant.jwks_hits() > hits).await,
        "refreshed once the tenant is back"
    );
    assert_eq!(app.get_bearer("/api/private", &token).await.status, 200);
}

#[actix_web::test]
async fn keys_older_than_the_maximum_staleness_are_dropped() {
    let app = spawn_app_with(|s| {
        s.jwks.ttl_secs = 1;
        s.jwks.max_stale_secs = 2;
    })
    .await;
    let token = app.token().sign(&app.key);
    assert_eq!(app.get_bearer("/api/private", &token).await.status, 200);
    app.tenant.set_mode(TenantMode::Down);
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;

    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    let ready = app.get_with("/readyz", &[]).await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.body["status"], "not_ready");
}

#[actix_web::test]
async fn a_cold_start_with_the_tenant_down_answers_503_then_recovers_without_restart() {
    let app = spawn_app_with_tenant(|t| t.set_mode(TenantMode::Down), |_| {}).await;

    assert_eq!(
        app.get_with("/api/public", &[]).await.status,
        200,
        "public serves"
    );
    let token = app.token().sign(&app.key);
    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body["error"], "temporarily_unavailable");
    let retry: u64 = reply
        .retry_after
        .as_deref()
        .unwrap_or("")
        .parse()
        .expect("Retry-After seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(
        reply.www_authenticate, None,
        "no challenge: this is not the client's fault"
    );
    assert_eq!(app.get_with("/readyz", &[]).await.status, 503);

    app.tenant.set_mode(TenantMode::Up);
    let bearer = format!("Bearer {token}");
    let reply = app
        .get_until(
            "/api/private",
            &[("Authorization", bearer.as_str())],
            |reply| reply.status == 200,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(reply.status, 200, "recovered without a restart");
    assert_eq!(app.get_with("/readyz", &[]).await.status, 200);
}

#[actix_web::test]
async fn an_unreachable_tenant_is_a_503_not_a_401() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    let app = spawn_app_for(tenant, key, |s| {
        s.auth0.issuer_base_url = format!("http://127.0.0.1:{port}/");
    })
    .await;
    let token = crate::helpers::TokenBuilder::new(&format!("http://127.0.0.1:{port}/"), &app.key)
        .sign(&app.key);
    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    let ready = app.get_with("/readyz", &[]).await;
    assert_reason_in_words(&ready.body, "tenant unreachable for ", port);
}

/// `/readyz` is on the public port: its reason says what is wrong in words
/// (`expected`, then how long), and never a URL, host, port or upstream
/// error text; those go to the logs.
fn assert_reason_in_words(body: &serde_json::Value, expected: &str, port: u16) {
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(expected),
        "readyz reason {reason:?} should start with {expected:?}"
    );
    let elapsed = &reason[expected.len()..];
    assert!(
        elapsed.ends_with(" s") || elapsed.ends_with(" min") || elapsed.ends_with(" h"),
        "then how long, in words: {reason:?}"
    );
    for leak in [
        "127.0.0.1",
        "http",
        "localhost",
        &port.to_string(),
        "(",
        "{",
    ] {
        assert!(
            !reason.contains(leak),
            "{reason:?} must not contain {leak:?}"
        );
    }
}

#[actix_web::test]
async fn a_hanging_tenant_does_not_hang_requests() {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    tenant.set_mode(TenantMode::Hang);
    let mut app = spawn_app_for(tenant, key, |s| s.jwks.request_timeout_ms = 500).await;
    // The tenant sleeps 30 s; a client that gives up after 10 s only gets an
    // answer if the server's own timeout works.
    app.client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let token = app.token().sign(&app.key);
    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 503, "{reply:?}");
}

#[actix_web::test]
async fn broken_tenant_answers_at_a_cold_start_are_503_with_the_reason_in_readyz() {
    let cases = [
        (TenantMode::MalformedJwks, "tenant's key set unusable for "),
        (TenantMode::OversizeJwks, "tenant's key set unusable for "),
        (TenantMode::NoUsableKeys, "tenant's key set unusable for "),
        (
            TenantMode::WrongIssuer,
            "tenant's discovery document unusable for ",
        ),
    ];
    for (mode, reason) in cases {
        let app = spawn_app_with_tenant(|t| t.set_mode(mode.clone()), |_| {}).await;
        let token = app.token().sign(&app.key);
        let reply = app.get_bearer("/api/private", &token).await;
        assert_eq!(reply.status, 503, "{mode:?}: {reply:?}");
        let ready = app.get_with("/readyz", &[]).await;
        assert_eq!(ready.status, 503, "{mode:?}");
        let port = app.tenant.issuer.rsplit(':').next().unwrap_or_default();
        let port = port.trim_end_matches('/').parse().unwrap();
        assert_reason_in_words(&ready.body, reason, port);
    }
}

#[actix_web::test]
async fn broken_tenant_answers_after_warm_up_keep_the_last_good_key_set() {
    for mode in [
        TenantMode::MalformedJwks,
        TenantMode::OversizeJwks,
        TenantMode::NoUsableKeys,
    ] {
        let app = spawn_app_with(|_| {}).await;
        let valid = app.token().sign(&app.key);
        assert_eq!(app.get_bearer("/api/private", &valid).await.status, 200);

        app.tenant.set_mode(mode.clone());
        // An unknown kid forces a refetch, which now gets the broken answer.
        let probe = app.token().header("kid", json!("not-there")).sign(&app.key);
        assert_eq!(
            app.get_bearer("/api/private", &probe).await.status,
            401,
            "{mode:?}"
        );
        assert_eq!(app.tenant.jwks_hits(), 2, "{mode:?}: the refetch happened");
        let reply = app.get_bearer("/api/private", &valid).await;
        assert_eq!(reply.status, 200, "{mode:?}: last good set kept: {reply:?}");
    }
}

#[actix_web::test]
async fn a_short_max_age_is_raised_to_the_configured_floor() {
    let app = spawn_app_with_tenant(|t| t.set_cache_control("public, max-age=1"), |_| {}).await;
    let token = app.token().sign(&app.key);
    assert_eq!(app.get_bearer("/api/private", &token).await.status, 200);
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.get_bearer("/api/private", &token).await.status, 200);
    assert_eq!(
        app.tenant.jwks_hits(),
        1,
        "max-age=1 below the 60 s floor must not refetch"
    );
}

#[actix_web::test]
async fn max_age_within_bounds_sets_the_refresh_interval() {
    let app = spawn_app_with_tenant(
        |t| t.set_cache_control("max-age=1"),
        |s| s.jwks.min_ttl_secs = 1,
    )
    .await;
    assert!(
        eventually(|| app.tenant.jwks_hits() >= 3).await,
        "refreshed every second"
    );
}

#[actix_web::test]
async fn a_key_cache_policy_the_fetcher_cannot_work_with_is_refused_at_start() {
    // Such policies used to start a fetcher that either panicked (clamp
    // with min above max) or hammered the tenant without pause (zero
    // delays). Every field's rule is a unit test of `validate`; this shows
    // that starting the cache applies them, and the error names the field.
    let base = || KeyCachePolicy::new("http://127.0.0.1:9/");
    let clamp_inverted = KeyCachePolicy {
        min_backoff: Duration::from_secs(600),
        max_backoff: Duration::from_secs(60),
        ..base()
    };
    let error = match KeyCache::start(clamp_inverted) {
        Ok(_) => panic!("a minimum backoff above the maximum was accepted"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("min_backoff"), "names the field: {error}");
    // The largest values are fine: the fetcher's arithmetic saturates.
    let huge = KeyCachePolicy {
        algorithms: vec![Algorithm::RS256],
        ttl: Duration::MAX,
        min_ttl: Duration::MAX,
        max_ttl: Duration::MAX,
        cooldown: Duration::MAX,
        max_stale: Duration::MAX,
        connect_timeout: Duration::MAX,
        request_timeout: Duration::MAX,
        min_backoff: Duration::MAX,
        max_backoff: Duration::MAX,
        ..base()
    };
    assert!(KeyCache::start(huge).is_ok(), "the largest durations");
}

#[actix_web::test]
async fn an_enormous_ttl_does_not_stop_the_fetcher() {
    // A refresh due after u64::MAX seconds is past what an Instant holds;
    // adding it panicked the fetcher thread right after the first fetch, so
    // no unknown kid was ever refetched again.
    let app = spawn_app_with(|s| s.jwks.ttl_secs = u64::MAX).await;
    a_new_kid_is_fetched_at_once(&app).await;
}

#[actix_web::test]
async fn requests_during_a_cold_outage_do_not_shorten_the_backoff() {
    // Nothing cached and the tenant down: every request answers 503, and
    // none may trigger a fetch before the backoff says so. Counted at the
    // tenant: each attempt starts with discovery, which fails. min_backoff
    // is 50 ms in tests, doubling up to the default 300 s.
    let app = spawn_app_with_tenant(|t| t.set_mode(TenantMode::Down), |_| {}).await;
    let token = app.token().sign(&app.key);
    let window = Duration::from_millis(1600);
    let started = std::time::Instant::now();
    let mut requests = 0;
    while started.elapsed() < window {
        let reply = app.get_bearer("/api/private", &token).await;
        assert_eq!(reply.status, 503, "request {requests}: {reply:?}");
        requests += 1;
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let attempts = app.tenant.discovery_hits();
    // Backing off, attempts start about 0, 50, 150, 350, 750 and 1550 ms
    // after start-up: six in the window, and two more for slack. Each
    // request resetting or bypassing the backoff allows one every 50 ms.
    assert!(
        requests >= 20,
        "only {requests} requests: the window saw no real traffic"
    );
    assert!(
        attempts <= 8,
        "{attempts} fetch attempts in {window:?} under {requests} requests"
    );
    assert!(attempts >= 3, "the fetcher kept retrying: {attempts}");
}

/// The app, with a mock tenant of its own that publishes one key and is
/// then set up by `prepare` (its mode, its caching headers) before the app
/// starts; `customize` changes the app's settings.
async fn spawn_app_with_tenant(
    prepare: impl FnOnce(&MockTenant),
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    prepare(&tenant);
    spawn_app_for(tenant, key, customize).await
}

/// A token of the app's key is served; then the tenant publishes a second
/// key beside it, and a token of the new key is served at once, after one
/// refetch for its unknown kid. Returns the first token.
async fn a_new_kid_is_fetched_at_once(app: &TestApp) -> String {
    let old = app.token().sign(&app.key);
    assert_eq!(app.get_bearer("/api/private", &old).await.status, 200);

    let new_key = TestKey::other_rsa("key-2");
    app.tenant.publish(&[&app.key, &new_key]);
    let new = app.tenant.token(&new_key).sign(&new_key);
    let reply = app.get_bearer("/api/private", &new).await;
    assert_eq!(reply.status, 200, "the new kid was fetched: {reply:?}");
    assert_eq!(app.tenant.jwks_hits(), 2, "one refetch for the new kid");
    old
}
