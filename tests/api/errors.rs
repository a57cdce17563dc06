//! Error answers (SPEC "Errors", RFC 6750 §3): parsing `Authorization`, the
//! status and challenge for each failure, and bodies that never leak.

use std::time::Duration;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Reply};

const PRIVATE: &str = "/api/private";
/// DPoP is on by default (mixed mode): the bare challenge offers both schemes.
const BARE_CHALLENGE: &str = "Bearer realm=\"api\", DPoP algs=\"ES256\"";

/// Request headers as `(name, value)` pairs, in the order they are sent.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// Asserts an RFC 6750 error answer: the status, the Bearer challenge with
/// `error` and `error_description` followed by the DPoP challenge (the test
/// app runs in mixed mode, where every challenge offers both schemes,
/// RFC 9449 §7.1), and the same pair as the JSON body.
pub fn assert_error(reply: &Reply, status: u16, code: &str, description: &str, case: &str) {
    assert_eq!(reply.status, status, "{case}: status, got {reply:?}");
    let challenge = format!(
        "Bearer realm=\"api\", error=\"{code}\", error_description=\"{description}\", DPoP algs=\"ES256\""
    );
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(challenge.as_str()),
        "{case}: WWW-Authenticate"
    );
    assert_eq!(
        reply.body,
        json!({"error": code, "error_description": description}),
        "{case}: body"
    );
}

/// Asserts a 401 `invalid_token` answer with `description`.
pub fn assert_invalid_token(reply: &Reply, description: &str, case: &str) {
    assert_error(reply, 401, "invalid_token", description, case);
}

/// Asserts a 400 `invalid_request` answer with `description`.
fn assert_invalid_request(reply: &Reply, description: &str, case: &str) {
    assert_error(reply, 400, "invalid_request", description, case);
}

/// A small deterministic PRNG (xorshift64*), so the fuzz loop is repeatable
/// without a new dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[actix_web::test]
async fn missing_or_unsupported_credentials_get_a_bare_401() {
    // RFC 6750 §3.1: no error code when the request carried no credentials.
    let app = spawn_app().await;
    let cases: [(&str, Headers); 2] = [
        ("no Authorization header", &[]),
        ("Basic scheme", &[("Authorization", "Basic dXNlcjpwYXNz")]),
    ];
    for (case, headers) in cases {
        let reply = app.get_with(PRIVATE, headers).await;
        assert_eq!(reply.status, 401, "{case}: status, got {reply:?}");
        assert_eq!(
            reply.www_authenticate.as_deref(),
            Some(BARE_CHALLENGE),
            "{case}: a bare challenge without an error code"
        );
        assert_eq!(
            reply.body,
            json!({
                "error": "unauthorized",
                "error_description": "Authentication required: send an access token in the Authorization header"
            }),
            "{case}: body"
        );
    }
}

#[actix_web::test]
async fn scheme_is_case_insensitive_and_spaces_may_repeat() {
    // RFC 7235 §2.1 (case-insensitive scheme), RFC 6750 §2.1 (`1*SP`).
    let app = spawn_app().await;
    let token = app.token().sign(&app.key);
    let cases = [
        ("lower-case bearer", format!("bearer {token}")),
        ("upper-case BEARER", format!("BEARER {token}")),
        ("several spaces", format!("Bearer     {token}")),
    ];
    for (case, value) in cases {
        let reply = app.get_with(PRIVATE, &[("Authorization", &value)]).await;
        assert_eq!(
            reply.status, 200,
            "{case}: should be accepted, got {reply:?}"
        );
        assert_eq!(reply.www_authenticate, None, "{case}: no challenge");
        assert_eq!(
            reply.body,
            json!({
                "message": "Hello from a private endpoint! You need to be authenticated to see this.",
                "user_id": "auth0|user-1"
            }),
            "{case}: body"
        );
    }
}

#[actix_web::test]
async fn malformed_requests_are_400_invalid_request() {
    let app = spawn_app().await;
    let token = app.token().sign(&app.key);
    let bearer = format!("Bearer {token}");
    let in_query = format!("{PRIVATE}?access_token={token}");
    let cases: [(&str, &str, Headers, &str); 4] = [
        (
            "Bearer with no token",
            PRIVATE,
            &[("Authorization", "Bearer")],
            "The Authorization header has a scheme but no token",
        ),
        (
            "two Authorization headers",
            PRIVATE,
            &[("Authorization", &bearer), ("Authorization", &bearer)],
            "Send exactly one Authorization header",
        ),
        (
            "token in the header and the query string",
            &in_query,
            &[("Authorization", &bearer)],
            "Send the access token in the Authorization header, never in the URL",
        ),
        (
            "token only in the query string",
            &in_query,
            &[],
            "Send the access token in the Authorization header, never in the URL",
        ),
    ];
    for (case, path, headers, description) in cases {
        let reply = app.get_with(path, headers).await;
        assert_invalid_request(&reply, description, case);
    }
}

#[actix_web::test]
async fn tokens_that_are_not_compact_jws_are_malformed() {
    // RFC 7515 §7.1: exactly three base64url segments, no padding.
    let app = spawn_app().await;
    let token = app.token().sign(&app.key);
    let (input, signature) = token.rsplit_once('.').unwrap();
    // An RSA-2048 signature is 256 bytes, so padded base64url ends in "==".
    let padded_signature = URL_SAFE.encode(URL_SAFE_NO_PAD.decode(signature).unwrap());
    assert!(
        padded_signature.ends_with('='),
        "the padded case has padding"
    );
    let segment = "A".repeat(16 * 1024 / 3);
    let cases = [
        ("five segments", format!("{token}.e30.e30")),
        ("not a JWT", "not-a-jwt".to_owned()),
        ("a.b.c", "a.b.c".to_owned()),
        ("padded base64", format!("{input}.{padded_signature}")),
        ("16 KB token", format!("{segment}.{segment}.{segment}")),
    ];
    for (case, token) in cases {
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_invalid_token(&reply, "The access token is malformed", case);
    }
}

#[actix_web::test]
async fn a_1_mb_authorization_header_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let value = format!("Bearer {}", "a".repeat(1024 * 1024));
    let outcome = app
        .client
        .get(format!("{}{PRIVATE}", app.address))
        .insert_header(("Authorization", value))
        .send()
        .await;
    match outcome {
        // actix-http's head limit is 128 KiB: 431 (RFC 6585 §5).
        Ok(response) => assert_eq!(
            response.status().as_u16(),
            431,
            "an oversized head gets 431, never a 500"
        ),
        // The server may also close the connection while the head is sent.
        Err(error) => eprintln!("the 1 MB request failed on the client side: {error}"),
    }
    let fresh = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let response = fresh
        .get(format!("{}/api/public", app.address))
        .send()
        .await
        .expect("the server still answers after an oversized request");
    assert_eq!(
        response.status().as_u16(),
        200,
        "/api/public still answers after an oversized request"
    );
}

#[actix_web::test]
async fn error_answers_never_contain_the_token() {
    // SPEC: descriptions are generic and never echo the token.
    let app = spawn_app().await;
    let expired = app
        .token()
        .claim("exp", json!(crate::helpers::now() - 3600))
        .sign(&app.key);
    let wrong_audience = app
        .token()
        .claim("aud", json!("https://leak-check.example"))
        .sign(&app.key);
    let garbage = "leak-check-garbage-token-0123456789".to_owned();
    let five = format!("{expired}.e30.e30");
    for token in [expired, wrong_audience, garbage, five] {
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "status, got {reply:?}");
        let body = reply.body.to_string();
        let challenge = reply.www_authenticate.clone().unwrap_or_default();
        for part in std::iter::once(token.as_str()).chain(token.split('.').filter(|p| p.len() > 8))
        {
            assert!(!body.contains(part), "the body echoes the token: {body}");
            assert!(
                !challenge.contains(part),
                "the challenge echoes the token: {challenge}"
            );
        }
    }
}

#[actix_web::test]
async fn random_tokens_only_ever_get_400_or_401() {
    let app = spawn_app().await;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..200 {
        let len = 1 + rng.below(120) as usize;
        // Printable ASCII (RFC 7230 field-vchar and SP), and some dots so the
        // three-segment path gets exercised too.
        let token: String = (0..len)
            .map(|_| match rng.below(8) {
                0 => '.',
                _ => char::from(b' ' + rng.below(95) as u8),
            })
            .collect();
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert!(
            matches!(reply.status, 400 | 401),
            "round {round}: token {token:?} gave {reply:?}"
        );
        let expected_code = if reply.status == 400 {
            "invalid_request"
        } else {
            "invalid_token"
        };
        assert_eq!(
            reply.body["error"], expected_code,
            "round {round}: token {token:?} gave {reply:?}"
        );
        let challenge = reply.www_authenticate.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\"api\", error=\""),
            "round {round}: token {token:?} gave the challenge {challenge:?}"
        );
    }
}

#[actix_web::test]
async fn error_responses_are_json_and_not_cacheable_every_time() {
    // RFC 6750 §3 / RFC 9111 §5.2.2.5: `Cache-Control: no-store`. Each case
    // is sent twice: a repeated refusal is answered from the worker's
    // rendered refusals and must come out the same.
    let app = spawn_app().await;
    let token = app.token().sign(&app.key);
    let expired = app
        .token()
        .claim("exp", json!(crate::helpers::now() - 3600))
        .sign(&app.key);
    let bearer = |token: &str| format!("Bearer {token}");
    let cases = [
        ("missing credentials", PRIVATE, None, 401),
        ("invalid request", PRIVATE, Some("Bearer".to_owned()), 400),
        ("invalid token", PRIVATE, Some(bearer(&expired)), 401),
        (
            "insufficient scope",
            "/api/private-scoped",
            Some(bearer(&token)),
            403,
        ),
    ];
    for (case, path, authorization, status) in cases {
        let mut answers = Vec::new();
        for _ in 0..2 {
            let mut request = app.client.get(format!("{}{path}", app.address));
            if let Some(value) = &authorization {
                request = request.insert_header(("Authorization", value.as_str()));
            }
            let mut response = request.send().await.expect("request failed");
            assert_eq!(response.status().as_u16(), status, "{case}: status");
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let cache_control = header("cache-control");
            let content_type = header("content-type");
            let challenge = header("www-authenticate");
            assert_eq!(
                cache_control.as_deref(),
                Some("no-store"),
                "{case}: Cache-Control"
            );
            assert_eq!(
                content_type.as_deref(),
                Some("application/json"),
                "{case}: Content-Type"
            );
            let body = response.body().await.expect("body");
            let body: Value = serde_json::from_slice(&body).expect("a JSON body");
            assert!(body["error_description"].is_string(), "{case}: {body}");
            answers.push((challenge, body));
        }
        assert_eq!(
            answers[0], answers[1],
            "{case}: the repeated refusal differs"
        );
    }
}
