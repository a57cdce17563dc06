//! What the key cache reads from the tenant: the JWK Set
//! (src/auth/keys.rs `KeySet::from_jwks`, signature.rs `SignatureKey`),
//! the discovery document (upstream.rs `jwks_uri_from_discovery`) and the
//! issuer URL the discovery URL is built from (jwks.rs `discovery_url`).
//!
//! Input: one document, read both as a JWK Set and as a discovery document;
//! its first line also serves as an issuer URL.
#![no_main]

use auth0_actix_api::auth::jwks::{check_transport, discovery_url, is_loopback_host};
use auth0_actix_api::auth::keys::KeySet;
use auth0_actix_api::auth::upstream::jwks_uri_from_discovery;
use auth0_actix_api::auth::Algorithm;
use auth0_actix_api_fuzz::ISSUER;
use libfuzzer_sys::fuzz_target;
use url::Url;

/// What `check_transport` promises: https, or http to this machine only.
fn assert_safe_transport(url: &Url) {
    match url.scheme() {
        "https" => {}
        "http" => assert!(
            url.host_str().is_some_and(is_loopback_host),
            "plain http to {url}"
        ),
        other => panic!("scheme {other} accepted in {url}"),
    }
}

fuzz_target!(|data: &[u8]| {
    match KeySet::from_jwks(data, &Algorithm::ALL) {
        Ok((keys, _skipped)) => {
            assert!(!keys.is_empty(), "a key set with no key");
            for alg in Algorithm::ALL {
                if let Some(key) = keys.find(None, alg) {
                    assert_eq!(key.alg(), alg, "find() returned a key of another alg");
                }
            }
        }
        Err(reason) => assert!(!reason.is_empty()),
    }

    let source = Url::parse("https://fuzz.example/.well-known/openid-configuration")
        .expect("a constant URL");
    if let Ok(jwks_uri) = jwks_uri_from_discovery(data, ISSUER, &source) {
        assert_safe_transport(&jwks_uri);
    }

    let text = String::from_utf8_lossy(data);
    let issuer = text.lines().next().unwrap_or("");
    if let Ok(url) = discovery_url(issuer) {
        assert_safe_transport(&url);
        assert!(url.path().ends_with("/.well-known/openid-configuration"));
    }
    if let Ok(url) = Url::parse(issuer) {
        if check_transport(&url).is_ok() {
            assert_safe_transport(&url);
        }
    }
});
