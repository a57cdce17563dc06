//! Several issuers (`AUTH0_ISSUER_BASE_URL=a,b`): each with its own keys,
//! picked by the token's `iss` before any key lookup; unlisted issuers are
//! never asked; readiness and metrics per issuer.

use std::time::Duration;

use serde_json::Value;

use crate::errors::assert_invalid_token;
use crate::helpers::{
    eventually, metric, spawn_app_for_issuers, test_settings, MockTenant, Reply, TenantMode,
    TestApp, TestKey, TokenBuilder,
};

/// Two mock tenants, the first publishing `first` and the second `second`.
fn two_tenants(first: &TestKey, second: &TestKey) -> (MockTenant, MockTenant) {
    let (a, b) = (MockTenant::start(), MockTenant::start());
    a.publish(&[first]);
    b.publish(&[second]);
    (a, b)
}

/// Waits until both tenants served their warm-up key sets.
async fn warmed_up(a: &MockTenant, b: &MockTenant) {
    assert!(
        eventually(|| a.jwks_hits() >= 1 && b.jwks_hits() >= 1).await,
        "every configured issuer warms up at start-up (jwks hits {} and {})",
        a.jwks_hits(),
        b.jwks_hits()
    );
}

/// `/readyz` once `done` holds for it, or after 10 s whatever it says.
async fn readyz_once(app: &TestApp, done: impl Fn(&Reply) -> bool) -> Reply {
    app.get_until("/readyz", &[], done, Duration::from_secs(10))
        .await
}

/// `/readyz` is on the public port: it never names an issuer's host or port.
fn assert_no_hosts(body: &Value, tenants: &[&MockTenant]) {
    let text = body.to_string();
    for tenant in tenants {
        let port = tenant
            .issuer
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/');
        for leak in [tenant.issuer.as_str(), "127.0.0.1", "http", port] {
            assert!(!text.contains(leak), "{text} must not contain {leak:?}");
        }
    }
}

#[actix_web::test]
async fn tokens_from_each_listed_issuer_are_accepted_with_that_issuers_keys() {
    let (key_a, key_b) = (TestKey::rsa("a-key"), TestKey::other_rsa("b-key"));
    let (a, b) = two_tenants(&key_a, &key_b);
    let app = spawn_app_for_issuers(&[&a, &b], key_a.clone(), |_| {}).await;
    let from_a = a.token(&key_a).sign(&key_a);
    let from_b = b.token(&key_b).sign(&key_b);
    for (token, case) in [(&from_a, "first issuer"), (&from_b, "second issuer")] {
        for attempt in ["first use", "remembered"] {
            let reply = app.get_bearer("/api/private", token).await;
            assert_eq!(reply.status, 200, "{case}, {attempt}: {reply:?}");
        }
    }
    for (tenant, name) in [(&a, "first"), (&b, "second")] {
        assert_eq!(tenant.discovery_hits(), 1, "{name} issuer: one discovery");
        assert_eq!(tenant.jwks_hits(), 1, "{name} issuer: one JWKS fetch");
    }
}

#[actix_web::test]
async fn a_token_from_an_unlisted_issuer_is_refused_without_any_request() {
    let (key_a, key_b) = (TestKey::rsa("a-key"), TestKey::other_rsa("b-key"));
    let (a, b) = two_tenants(&key_a, &key_b);
    // A real tenant, with a key that signs the token: only the list says no.
    let unlisted = MockTenant::start();
    let key_c = TestKey::rsa("c-key");
    unlisted.publish(&[&key_c]);
    let app = spawn_app_for_issuers(&[&a, &b], key_a, |_| {}).await;
    warmed_up(&a, &b).await;
    let fetches = (a.jwks_hits(), b.jwks_hits());

    let token = TokenBuilder::new(&unlisted.issuer, &key_c).sign(&key_c);
    for attempt in ["first", "again"] {
        let reply = app.get_bearer("/api/private", &token).await;
        assert_invalid_token(
            &reply,
            "The token's issuer is not accepted",
            &format!("unlisted issuer, {attempt}"),
        );
    }
    // Its kid is unknown to both listed issuers too: refusing on `iss`
    // first means no listed issuer is asked for it either.
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        (unlisted.discovery_hits(), unlisted.jwks_hits()),
        (0, 0),
        "the unlisted issuer is never asked"
    );
    assert_eq!(
        (a.jwks_hits(), b.jwks_hits()),
        fetches,
        "nor are the listed ones"
    );
}

#[actix_web::test]
async fn a_token_naming_one_issuer_but_signed_with_anothers_key_is_refused() {
    // Both issuers call their key "shared": a kid is only a name within
    // one issuer's key set.
    let (key_a, key_b) = (TestKey::rsa("shared"), TestKey::other_rsa("shared"));
    assert_ne!(
        key_a.public_jwk["n"], key_b.public_jwk["n"],
        "other material"
    );
    let (a, b) = two_tenants(&key_a, &key_b);
    let app = spawn_app_for_issuers(&[&a, &b], key_a.clone(), |_| {}).await;
    let cases = [
        (
            a.token(&key_b).sign(&key_b),
            "names the first, signed by the second",
        ),
        (
            b.token(&key_a).sign(&key_a),
            "names the second, signed by the first",
        ),
    ];
    for (token, case) in &cases {
        for attempt in ["first", "again"] {
            let reply = app.get_bearer("/api/private", token).await;
            assert_invalid_token(
                &reply,
                "The token's signature is invalid",
                &format!("{case}, {attempt}"),
            );
        }
    }
    for (token, case) in [
        (a.token(&key_a).sign(&key_a), "the first's own"),
        (b.token(&key_b).sign(&key_b), "the second's own"),
    ] {
        let reply = app.get_bearer("/api/private", &token).await;
        assert_eq!(reply.status, 200, "{case}: {reply:?}");
    }

    // A kid only the second issuer publishes, in a token naming the first:
    // looked up (and refetched once) at the first only, never found at the
    // second.
    let only_b = TestKey::other_rsa("only-b");
    b.publish(&[&key_b, &only_b]);
    let b_fetches = b.jwks_hits();
    let reply = app
        .get_bearer("/api/private", &a.token(&only_b).sign(&only_b))
        .await;
    assert_invalid_token(
        &reply,
        "The token is signed with an unknown key",
        "a kid of the other issuer",
    );
    assert_eq!(a.jwks_hits(), 2, "the named issuer refetched for the kid");
    assert_eq!(b.jwks_hits(), b_fetches, "the other issuer was not asked");
}

#[actix_web::test]
async fn a_remembered_token_counts_only_while_its_own_issuer_publishes_the_key() {
    // An Auth0 custom domain serves its tenant's very keys: both issuers
    // publish the same key material under the same kid. The second
    // withdraws it; the first still publishes it. A remembered token of the
    // second must be re-checked against the second's keys, not the first's.
    let shared = TestKey::rsa("key-1");
    let (a, b) = two_tenants(&shared, &shared);
    let app = spawn_app_for_issuers(&[&a, &b], shared.clone(), |s| s.jwks.ttl_secs = 1).await;
    let from_a = a.token(&shared).sign(&shared);
    let from_b = b.token(&shared).sign(&shared);
    for token in [&from_a, &from_b] {
        app.assert_remembered(token).await;
    }

    let replacement = TestKey::other_rsa("key-2");
    assert!(
        b.publish_and_await_fetch(&[&replacement]).await,
        "the second issuer's background refresh fetched its new key set"
    );
    assert_invalid_token(
        &app.first_refusal(&from_b).await,
        "The token is signed with an unknown key",
        "a remembered token whose issuer withdrew its key",
    );
    let reply = app.get_bearer("/api/private", &from_a).await;
    assert_eq!(reply.status, 200, "the first issuer still publishes it");
}

#[actix_web::test]
async fn one_issuer_down_leaves_the_service_ready_and_is_reported_by_place_and_label() {
    let (key_a, key_b) = (TestKey::rsa("a-key"), TestKey::other_rsa("b-key"));
    let (a, b) = two_tenants(&key_a, &key_b);
    b.set_mode(TenantMode::Down);
    let app = spawn_app_for_issuers(&[&a, &b], key_a.clone(), |_| {}).await;

    let reply = readyz_once(&app, |r| {
        r.body["issuers"][0]["ready"] == true
            && r.body["issuers"][1]["reason"]
                .as_str()
                .is_some_and(|s| s.starts_with("tenant answers"))
    })
    .await;
    assert_eq!(
        reply.status, 200,
        "one issuer with keys is enough: {reply:?}"
    );
    assert_eq!(reply.body["status"], "ready", "{reply:?}");
    let degraded = reply.body["degraded"].as_str().unwrap_or_default();
    assert!(
        degraded.starts_with("issuer 2: tenant answers with HTTP errors for "),
        "the issuer is named by its place: {degraded:?}"
    );
    assert_eq!(reply.body["issuers"][0]["ready"], true, "{reply:?}");
    assert_eq!(reply.body["issuers"][1]["ready"], false, "{reply:?}");
    assert_eq!(reply.body["issuers"][1]["key_set_age_secs"], Value::Null);
    assert_no_hosts(&reply.body, &[&a, &b]);

    let reply = app
        .get_bearer("/api/private", &a.token(&key_a).sign(&key_a))
        .await;
    assert_eq!(reply.status, 200, "the first issuer's tokens: {reply:?}");
    let reply = app
        .get_bearer("/api/private", &b.token(&key_b).sign(&key_b))
        .await;
    assert_eq!(reply.status, 503, "the second issuer's tokens: {reply:?}");
    assert!(reply.retry_after.is_some(), "{reply:?}");
    assert_eq!(reply.body["error"], "temporarily_unavailable");

    let text = app.scrape().await;
    let series = |name: &str, tenant: &MockTenant| {
        metric(&text, &format!("{name}{{issuer=\"{}\"}}", tenant.issuer))
    };
    assert_eq!(series("jwks_ready", &a), Some(1.0), "{text}");
    assert_eq!(series("jwks_ready", &b), Some(0.0), "{text}");
    assert_eq!(series("jwks_refresh_successes_total", &a), Some(1.0));
    assert_eq!(series("jwks_refresh_successes_total", &b), Some(0.0));
    assert!(
        series("jwks_refresh_failures_total", &b).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(series("jwks_key_set_age_seconds", &b), Some(-1.0));
    assert_eq!(
        text.matches("# TYPE jwks_ready gauge").count(),
        1,
        "one family, a series per issuer: {text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("jwks_ready")).count(),
        2,
        "exactly the configured issuers: {text}"
    );
}

#[actix_web::test]
async fn the_service_is_not_ready_until_some_issuer_has_keys() {
    let (key_a, key_b) = (TestKey::rsa("a-key"), TestKey::other_rsa("b-key"));
    let (a, b) = two_tenants(&key_a, &key_b);
    a.set_mode(TenantMode::Down);
    b.set_mode(TenantMode::Down);
    let app = spawn_app_for_issuers(&[&a, &b], key_a, |_| {}).await;
    let reply = readyz_once(&app, |r| {
        r.body["reason"]
            .as_str()
            .is_some_and(|s| s.matches("tenant answers").count() == 2)
    })
    .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body["status"], "not_ready");
    let reason = reply.body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("issuer 1: tenant answers with HTTP errors for ")
            && reason.contains("; issuer 2: tenant answers with HTTP errors for "),
        "each issuer by its place: {reason:?}"
    );
    assert_no_hosts(&reply.body, &[&a, &b]);

    // The second recovers on its own retry: that is enough to serve.
    b.set_mode(TenantMode::Up);
    let reply = readyz_once(&app, |r| r.status == 200).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["issuers"][1]["ready"], true, "{reply:?}");
    assert_eq!(reply.body["issuers"][0]["ready"], false, "{reply:?}");
    let reply = app
        .get_bearer("/api/private", &b.token(&key_b).sign(&key_b))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[actix_web::test]
async fn inspect_checks_a_token_against_the_issuer_it_names() {
    let (key_a, key_b) = (TestKey::rsa("shared"), TestKey::other_rsa("shared"));
    let (a, b) = two_tenants(&key_a, &key_b);
    let unlisted = MockTenant::start();
    unlisted.publish(&[&key_b]);
    let settings = test_settings(&format!("{},{}", a.issuer, b.issuer));
    let cases = [
        (
            b.token(&key_b).sign(&key_b),
            true,
            "verified with key shared",
        ),
        (
            b.token(&key_a).sign(&key_a),
            false,
            "[FAIL] signature: does not verify with key shared",
        ),
        (
            unlisted.token(&key_b).sign(&key_b),
            false,
            "the API expects one of [",
        ),
        (
            unlisted.token(&key_b).sign(&key_b),
            false,
            "signature not checked: the token names none of the configured issuers",
        ),
    ];
    for (token, accepted, expected) in cases {
        let settings = settings.clone();
        // `inspect` runs its own runtime for the key fetch, so off this one.
        let (report, verdict) = actix_web::rt::task::spawn_blocking(move || {
            auth0_actix_api::inspect::report(&settings, &token).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(verdict, accepted, "{expected}:\n{report}");
        assert!(report.contains(expected), "{expected:?} in:\n{report}");
    }
    assert_eq!(
        (unlisted.discovery_hits(), unlisted.jwks_hits()),
        (0, 0),
        "inspect never asks an issuer that is not configured"
    );
}
