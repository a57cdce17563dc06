//! Compact JWS parsing, typed claims and the validator's checks with a
//! fixed key set (src/auth/token.rs, claims.rs, validator.rs, keys.rs,
//! signature.rs).
//!
//! Input: a token. The same bytes are also read as a bare payload, so JSON
//! seeds exercise the claims on their own, without the base64url layer.
//! The checks run in `Validator::validate`'s order at the fixed time
//! `NOW`, so a replayed input takes the same path next year.
#![no_main]

use std::sync::OnceLock;

use auth0_actix_api::auth::claims::Claims;
use auth0_actix_api::auth::jwks::KeyCache;
use auth0_actix_api::auth::keys::KeySet;
use auth0_actix_api::auth::policy::KeyCachePolicy;
use auth0_actix_api::auth::token::CompactJws;
use auth0_actix_api::auth::validator::{verify_with, Validator};
use auth0_actix_api::auth::Algorithm;
use auth0_actix_api_fuzz::{key_set, validation_policy, ISSUER, JWKS, NOW};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut policy = KeyCachePolicy::new(ISSUER);
        policy.algorithms = Algorithm::ALL.to_vec();
        let keys = match KeySet::from_jwks(JWKS, &Algorithm::ALL) {
            Ok((keys, _)) => keys,
            Err(e) => panic!("keys/jwks.json: {e}"),
        };
        Validator::new(validation_policy(), KeyCache::with_keys(policy, keys))
    })
}

/// The claims' own promises: `aud` is never empty, and the map of claims
/// read by name agrees with the typed claims.
fn check_claims(claims: &Claims) {
    assert!(!claims.aud.is_empty(), "claims without an audience");
    assert_eq!(
        claims.get("iss"),
        Some(&Value::String(claims.iss.clone())),
        "iss read by name differs from the typed iss"
    );
    let _ = claims.custom().count();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(claims) = Claims::from_payload(data) {
        check_claims(&claims);
    }
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(jws) = CompactJws::parse(token) else {
        return;
    };
    // Strict base64url: each segment is the one spelling of its bytes, and
    // the signed bytes are exactly what was sent before the last dot.
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("three segments");
    assert_eq!(jws.signing_input, signing_input);
    assert_eq!(URL_SAFE_NO_PAD.encode(&jws.signature), signature_b64);
    let payload_b64 = signing_input.split('.').nth(1).expect("three segments");
    assert_eq!(URL_SAFE_NO_PAD.encode(&jws.payload), payload_b64);

    let validator = validator();
    let Ok(alg) = validator.check_header(&jws.header) else {
        return;
    };
    let Ok(claims) = Claims::from_payload(&jws.payload) else {
        return;
    };
    check_claims(&claims);
    let checks = validator.claim_checks(&claims, NOW);
    let first_failure = checks.iter().find_map(|(_, outcome)| outcome.err());
    assert_eq!(
        validator.check_claims(&claims, NOW).err(),
        first_failure,
        "check_claims is not the first failure of claim_checks"
    );
    if first_failure.is_some() {
        return;
    }
    if verify_with(key_set(), &jws, alg).is_ok() {
        // Only the generator's keys sign, so an accepted token is one of
        // theirs: for our issuer and audience.
        assert_eq!(claims.iss, ISSUER);
    }
});
