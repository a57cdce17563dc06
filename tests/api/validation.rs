//! Token validation (SPEC "Token validation"): algorithms from the allow-list
//! only, the key named by `kid`, `iss`/`aud`/time checks with one leeway,
//! required and type-checked claims, and the header rules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{json, Value};

use crate::errors::assert_invalid_token;
use crate::helpers::{
    b64, eventually, now, spawn_app, spawn_app_with, Reply, TestApp, TestKey, AUDIENCE,
};

const PRIVATE: &str = "/api/private";
const SCOPED: &str = "/api/private-scoped";

/// Asserts a 200 from `path` with its exact quickstart body for `auth0|user-1`
/// and no challenge.
fn assert_accepted(reply: &Reply, path: &str, case: &str) {
    let message = match path {
        SCOPED => "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        _ => "Hello from a private endpoint! You need to be authenticated to see this.",
    };
    assert_eq!(
        reply.status, 200,
        "{case}: should be accepted, got {reply:?}"
    );
    assert_eq!(
        reply.www_authenticate, None,
        "{case}: a success carries no challenge"
    );
    assert_eq!(
        reply.body,
        json!({"message": message, "user_id": "auth0|user-1"}),
        "{case}: body"
    );
}

/// Asserts `expected`: `None` for a 200 from `path`, `Some(description)` for
/// a 401 `invalid_token` with that description.
fn assert_outcome(reply: &Reply, path: &str, expected: Option<&str>, case: &str) {
    match expected {
        None => assert_accepted(reply, path, case),
        Some(description) => assert_invalid_token(reply, description, case),
    }
}

/// `header.payload.signature` with the HMAC-`digest` of the signing input
/// under `secret`, as an attacker would forge it.
fn hmac_signed(input: &str, secret: &[u8], digest: MessageDigest) -> String {
    let key = PKey::hmac(secret).expect("an HMAC key");
    let mut signer = Signer::new(digest, &key).expect("an HMAC signer");
    signer.update(input.as_bytes()).expect("HMAC update");
    let mac = signer.sign_to_vec().expect("HMAC sign");
    format!("{input}.{}", b64(mac))
}

/// The public RSA key of `jwk`, which anyone can download from the tenant.
fn rsa_public_key(jwk: &Value) -> Rsa<openssl::pkey::Public> {
    let component = |name: &str| {
        let bytes = URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().expect("a JWK member"))
            .expect("base64url JWK member");
        BigNum::from_slice(&bytes).expect("a big number")
    };
    Rsa::from_public_components(component("n"), component("e")).expect("an RSA public key")
}

/// Waits for the key cache's warm-up fetch, so later hit counts only move
/// when a request causes a fetch.
async fn keys_warmed_up(app: &TestApp) -> usize {
    assert!(
        eventually(|| app.tenant.jwks_hits() >= 1).await,
        "the key cache never fetched the JWKS"
    );
    app.tenant.jwks_hits()
}

#[actix_web::test]
async fn alg_none_is_rejected_with_or_without_a_signature() {
    let app = spawn_app().await;
    let hits = keys_warmed_up(&app).await;
    let real_signature = app.token().sign(&app.key);
    let real_signature = real_signature.rsplit('.').next().unwrap();
    let input = |alg: &str| app.token().header("alg", json!(alg)).signing_input();
    let unsupported = Some("The token's signing algorithm is not allowed");
    let malformed = Some("The access token is malformed");
    let cases = [
        // RFC 7515 §7.1: an empty signature segment is not a JWS we accept.
        (
            "none, empty signature segment",
            format!("{}.", input("none")),
            malformed,
        ),
        ("none, no signature segment", input("none"), malformed),
        (
            "none, with a real RS256 signature",
            format!("{}.{real_signature}", input("none")),
            unsupported,
        ),
        (
            "None, with a signature",
            format!("{}.{real_signature}", input("None")),
            unsupported,
        ),
        (
            "NONE, with a signature",
            format!("{}.{real_signature}", input("NONE")),
            unsupported,
        ),
    ];
    for (case, token, expected) in cases {
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_outcome(&reply, PRIVATE, expected, case);
    }
    assert_eq!(
        app.tenant.jwks_hits(),
        hits,
        "alg none must be refused before any key fetch"
    );
}

#[actix_web::test]
async fn hmac_signed_with_the_rsa_public_key_is_rejected() {
    // RFC 8725 §3.1: the classic RSA-as-HMAC key confusion.
    let app = spawn_app().await;
    let hits = keys_warmed_up(&app).await;
    let public = rsa_public_key(&app.key.public_jwk);
    let pem = public.public_key_to_pem().unwrap();
    let pkcs1 = public.public_key_to_pem_pkcs1().unwrap();
    let der = public.public_key_to_der().unwrap();
    let jwk = app.key.public_jwk.to_string().into_bytes();
    let cases = [
        ("HS256, SPKI PEM", "HS256", MessageDigest::sha256(), &pem),
        (
            "HS256, PKCS#1 PEM",
            "HS256",
            MessageDigest::sha256(),
            &pkcs1,
        ),
        ("HS256, DER", "HS256", MessageDigest::sha256(), &der),
        ("HS256, JWK JSON", "HS256", MessageDigest::sha256(), &jwk),
        ("HS384, SPKI PEM", "HS384", MessageDigest::sha384(), &pem),
        ("HS512, SPKI PEM", "HS512", MessageDigest::sha512(), &pem),
    ];
    for (case, alg, digest, secret) in cases {
        let input = app.token().header("alg", json!(alg)).signing_input();
        let token = hmac_signed(&input, secret, digest);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_invalid_token(&reply, "The token's signing algorithm is not allowed", case);
    }
    assert_eq!(
        app.tenant.jwks_hits(),
        hits,
        "HS* must be refused before any key fetch"
    );
}

#[actix_web::test]
async fn token_with_an_unknown_kid_is_rejected() {
    let app = spawn_app().await;
    let stranger = TestKey::rsa("key-unknown");
    let token = app.tenant.token(&stranger).sign(&stranger);
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "The token is signed with an unknown key",
        "unknown kid",
    );
}

#[actix_web::test]
async fn token_signed_by_another_key_under_the_known_kid_is_rejected() {
    let app = spawn_app().await;
    let impostor = TestKey::other_rsa("key-1");
    let token = app.tenant.token(&impostor).sign(&impostor);
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "The token's signature is invalid",
        "other key, same kid",
    );
}

#[actix_web::test]
async fn tampered_payload_is_rejected() {
    let app = spawn_app().await;
    let token = app.token().sign(&app.key);
    let signature = token.rsplit('.').next().unwrap();
    let forged = app
        .token()
        .claim("sub", json!("auth0|admin"))
        .claim("permissions", json!(["read:messages", "write:messages"]));
    let tampered = format!("{}.{signature}", forged.signing_input());
    let reply = app.get_bearer(SCOPED, &tampered).await;
    assert_invalid_token(
        &reply,
        "The token's signature is invalid",
        "tampered payload",
    );
}

#[actix_web::test]
async fn a_remembered_token_is_refused_once_it_expires() {
    // The verified-token cache keeps a token no longer than its `exp` (plus
    // the leeway, zero here).
    let app = spawn_app_with(|s| s.validation.leeway_secs = 0).await;
    let token = app.token().claim("exp", json!(now() + 2)).sign(&app.key);
    app.assert_remembered(&token).await;
    // `now()` is whole seconds, so 3 s from here is past `exp` for sure.
    actix_web::rt::time::sleep(std::time::Duration::from_secs(3)).await;
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "The access token expired",
        "remembered, then expired",
    );
}

#[actix_web::test]
async fn time_claims_are_enforced_with_a_30_second_leeway() {
    let app = spawn_app().await;
    let expired = Some("The access token expired");
    let not_yet = Some("The access token is not valid yet");
    let future = Some("The access token was issued in the future");
    let cases = [
        (
            "exp 60 s ago, beyond the leeway",
            "exp",
            now() - 60,
            expired,
        ),
        ("exp 10 s ago, within the leeway", "exp", now() - 10, None),
        (
            "nbf 60 s ahead, beyond the leeway",
            "nbf",
            now() + 60,
            not_yet,
        ),
        ("nbf 10 s ahead, within the leeway", "nbf", now() + 10, None),
        (
            "iat 60 s ahead, beyond the leeway",
            "iat",
            now() + 60,
            future,
        ),
        ("iat 10 s ahead, within the leeway", "iat", now() + 10, None),
    ];
    for (case, claim, value, expected) in cases {
        let token = app.token().claim(claim, json!(value)).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_outcome(&reply, PRIVATE, expected, case);
    }
}

#[actix_web::test]
async fn issuer_must_match_exactly() {
    let app = spawn_app().await;
    let slashless = app.tenant.issuer.trim_end_matches('/').to_owned();
    assert_ne!(
        slashless, app.tenant.issuer,
        "the tenant issuer ends with '/'"
    );
    let cases = [
        ("another issuer", "https://evil.example/".to_owned()),
        ("issuer without its trailing slash", slashless),
    ];
    for (case, iss) in cases {
        let token = app.token().claim("iss", json!(iss)).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_invalid_token(&reply, "The token's issuer is not accepted", case);
    }
}

#[actix_web::test]
async fn audience_must_be_equal_or_contained() {
    let app = spawn_app().await;
    let wrong = Some("The token's audience is not accepted");
    let cases = [
        ("another audience", json!("https://other.example"), wrong),
        (
            "array containing ours",
            json!(["https://other.example", AUDIENCE]),
            None,
        ),
        (
            "array without ours",
            json!(["https://other.example", "https://third.example"]),
            wrong,
        ),
    ];
    for (case, aud, expected) in cases {
        let token = app.token().claim("aud", aud).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_outcome(&reply, PRIVATE, expected, case);
    }
}

#[actix_web::test]
async fn exp_iat_and_aud_are_required() {
    let app = spawn_app().await;
    for claim in ["exp", "iat", "aud"] {
        let token = app.token().without(claim).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        let description = format!("The token has no {claim} claim");
        assert_invalid_token(&reply, &description, &format!("missing {claim}"));
    }
}

#[actix_web::test]
async fn read_messages_counts_in_a_scope_array_or_in_permissions() {
    let app = spawn_app().await;
    let cases = [
        (
            "scope as an array",
            "scope",
            json!(["openid", "read:messages"]),
        ),
        ("permissions only", "permissions", json!(["read:messages"])),
    ];
    for (case, claim, value) in cases {
        let token = app.token().claim(claim, value).sign(&app.key);
        let reply = app.get_bearer(SCOPED, &token).await;
        assert_accepted(&reply, SCOPED, case);
    }
}

#[actix_web::test]
async fn claims_of_the_wrong_type_are_401_not_500() {
    let app = spawn_app().await;
    let cases = [
        ("sub", json!(42)),
        ("exp", json!("tomorrow")),
        ("aud", json!(7)),
        ("scope", json!(12)),
        ("permissions", json!("read:messages")),
        ("iat", json!(true)),
        ("nbf", json!({"at": 0})),
        ("cnf", json!("jkt")),
    ];
    for (claim, value) in cases {
        let token = app.token().claim(claim, value.clone()).sign(&app.key);
        let reply = app.get_bearer(SCOPED, &token).await;
        let description = format!("The token's {claim} claim is invalid");
        assert_invalid_token(&reply, &description, &format!("{claim} = {value}"));
    }
}

#[actix_web::test]
async fn a_signed_token_repeating_a_registered_claim_is_malformed() {
    // RFC 7519 §4: with two `aud` (or `sub`) members, parsers that read the
    // first and parsers that read the last would disagree about the token,
    // so it is refused however it is signed.
    let app = spawn_app().await;
    let builder = app.token();
    let claims = Value::Object(builder.claims.clone()).to_string();
    let header = Value::Object(builder.header.clone()).to_string();
    for (name, value) in [
        ("aud", "\"https://other.example\""),
        ("sub", "\"auth0|admin\""),
    ] {
        let repeated = format!("{},\"{name}\":{value}}}", &claims[..claims.len() - 1]);
        let input = format!("{}.{}", b64(&header), b64(&repeated));
        let token = format!("{input}.{}", b64(app.key.sign(input.as_bytes())));
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_invalid_token(&reply, "The access token is malformed", name);
    }
    // The same claims, each once, are accepted: only the repetition was wrong.
    let reply = app.get_bearer(PRIVATE, &builder.sign(&app.key)).await;
    assert_accepted(&reply, PRIVATE, "each claim once");
}

#[actix_web::test]
async fn crit_header_is_rejected_whatever_its_value() {
    // RFC 7515 §4.1.11: we implement no extension, so any `crit` is refused.
    // `crit` must be an array of names when present; `null` is not "absent"
    // but a malformed `crit`, and refused like every other value.
    let app = spawn_app().await;
    for value in [
        json!(["exp"]),
        json!(null),
        json!([]),
        json!("exp"),
        json!({}),
        json!(false),
    ] {
        let token = app.token().header("crit", value.clone()).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_invalid_token(
            &reply,
            "The token names a critical header extension that is not supported",
            &format!("crit {value}"),
        );
    }
}

#[actix_web::test]
async fn typ_must_be_jwt_or_at_jwt() {
    // RFC 9068 §2.1 and RFC 7515 §4.1.9 ("application/" may be omitted).
    let app = spawn_app().await;
    let cases = [
        ("JWT", None),
        ("at+jwt", None),
        ("application/at+jwt", None),
        ("foo", Some("The token's typ header is not accepted")),
    ];
    for (typ, expected) in cases {
        let token = app.token().header("typ", json!(typ)).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_outcome(&reply, PRIVATE, expected, &format!("typ {typ}"));
    }
}

#[actix_web::test]
async fn embedded_jwk_header_is_never_trusted() {
    // RFC 8725 §3.10: keys come from the tenant's JWKS only.
    let app = spawn_app().await;
    let attacker = TestKey::other_rsa("attacker-key");
    let token = app
        .tenant
        .token(&attacker)
        .header("jwk", attacker.public_jwk.clone())
        .sign(&attacker);
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "The token is signed with an unknown key",
        "jwk header",
    );
}

#[actix_web::test]
async fn dpop_bound_token_sent_as_bearer_is_rejected() {
    // RFC 9449 §7.2.
    let app = spawn_app().await;
    let token = app
        .token()
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign(&app.key);
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "A DPoP-bound token must be sent with the DPoP scheme",
        "cnf.jkt as Bearer",
    );
}

#[actix_web::test]
async fn es256_is_refused_when_only_rs256_is_allowed() {
    let app = spawn_app().await;
    let ec = TestKey::ec("key-ec");
    // Even a key the tenant publishes cannot widen the allow-list.
    app.tenant.publish(&[&app.key, &ec]);
    let token = app.tenant.token(&ec).sign(&ec);
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "The token's signing algorithm is not allowed",
        "ES256",
    );
}

#[actix_web::test]
async fn rs256_ps256_and_es256_tokens_are_accepted_when_allowed() {
    let rs = TestKey::rsa("key-rs");
    let ps = TestKey::ps256("key-ps");
    let ec = TestKey::ec("key-ec");
    let app = spawn_app_with(|s| {
        s.validation.algorithms = vec!["RS256".into(), "PS256".into(), "ES256".into()];
    })
    .await;
    app.tenant.publish(&[&rs, &ps, &ec]);
    for key in [&rs, &ps, &ec] {
        let token = app.tenant.token(key).sign(key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_eq!(reply.status, 200, "{}: {}", key.alg, reply.body);

        // One flipped bit in the signature, for each algorithm.
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[10] ^= 1;
        let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        let reply = app.get_bearer(PRIVATE, &forged).await;
        assert_invalid_token(&reply, "The token's signature is invalid", key.alg);
    }
}

#[actix_web::test]
async fn a_token_cannot_switch_a_key_to_another_algorithm() {
    let ps = TestKey::ps256("key-ps");
    let app = spawn_app_with(|s| {
        s.validation.algorithms = vec!["RS256".into(), "PS256".into()];
    })
    .await;
    app.tenant.publish(&[&ps]);
    // The key is published for PS256 only; a header claiming RS256 under
    // its kid finds no key for that algorithm, whatever the signature.
    let mut builder = app.tenant.token(&ps);
    builder.header.insert("alg".into(), "RS256".into());
    let token = builder.sign(&TestKey::rsa("key-ps"));
    let reply = app.get_bearer(PRIVATE, &token).await;
    assert_invalid_token(
        &reply,
        "The token is signed with an unknown key",
        "RS256 under a PS256 key",
    );
}
