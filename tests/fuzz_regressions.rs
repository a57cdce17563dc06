//! Inputs the fuzz targets in `fuzz/` found breaking a promise of the auth
//! core, each kept here with its fix so it stays fixed. docs/fuzzing.md
//! lists them with the target that found each.

use actix_web::test::TestRequest;
use auth0_actix_api::auth::dpop::htu::{normalize, request_url};
use auth0_actix_api::auth::jwks::discovery_url;
use auth0_actix_api::auth::{Claims, RequestUrlSource};
use serde_json::json;

/// Found by the `jwks` target: the discovery path was appended to the issuer
/// as text, so an issuer with a query (or fragment) put the path inside the
/// query and the document would have been fetched from the issuer's root.
#[test]
fn an_issuer_with_a_query_or_fragment_has_no_discovery_url() {
    let cases = [
        // The fuzzer's input: host `127.0.0.`, query `1:8A080/`.
        "http://127.0.0.?1:8A080/",
        "https://tenant.example/?",
        "https://tenant.example/?tenant=a",
        "https://tenant.example/#",
        "https://tenant.example/#/x",
    ];
    for issuer in cases {
        assert!(
            discovery_url(issuer).is_err(),
            "{issuer:?} was given a discovery URL"
        );
    }
    let url = discovery_url("https://tenant.example/").expect("a plain issuer");
    assert_eq!(
        url.as_str(),
        "https://tenant.example/.well-known/openid-configuration",
        "a plain issuer keeps its discovery URL"
    );
}

/// Found with the `htu` target's check that normalising a normal form
/// changes nothing (RFC 9449 §4.3 check 9 compares both sides in normal
/// form): a `%` that started no escape was left bare and paired with the
/// escape after it, so `%%614` gave `%a4`, whose own normal form is `%A4`.
/// In the same loop `%+5` was read as the escape of 0x05, since
/// `from_str_radix` takes a sign, making it the same path as `%05`.
#[test]
fn a_percent_sign_that_starts_no_escape_stands_for_itself() {
    let cases = [
        ("http://h/%%614", "http://h/%25a4"),
        ("http://h/%+5", "http://h/%25+5"),
        ("http://h/%-5", "http://h/%25-5"),
        ("http://h/a%", "http://h/a%25"),
        ("http://h/%4", "http://h/%254"),
        ("http://h/%zz/%41", "http://h/%25zz/A"),
    ];
    for (url, normal) in cases {
        assert_eq!(normalize(url).as_deref(), Some(normal), "{url:?}");
        assert_eq!(
            normalize(normal).as_deref(),
            Some(normal),
            "{normal:?} is not a fixed point"
        );
    }
    assert_ne!(
        normalize("http://h/%+5"),
        normalize("http://h/%05"),
        "a sign is not a hex digit"
    );
}

/// The same bug as the `htu` target's campaign met it, in a request target
/// (the `P` line of its input, verbatim): `%a%32e` became `%a2e`, whose
/// normal form is `%A2e`.
#[test]
fn the_request_url_of_a_target_with_stray_percent_signs_is_a_normal_form() {
    let target = "/.80/a%2e0/a%0e%2pi/e.80/a%2e0/a%2e%2Epi/pp2e0/a%2e080%a%32e%2pi/e.80/a%2e0/a%2e%2Eki/pp2e0/a%2e080%a%3e%/H";
    let request = TestRequest::get()
        .uri(target)
        .insert_header(("host", "api.example"))
        .to_http_request();
    let url = request_url(&RequestUrlSource::Connection, &request).expect("a request URL");
    assert_eq!(
        normalize(&url).as_deref(),
        Some(url.as_str()),
        "the request URL is not in normal form"
    );
}

/// Found by the `token` target's check that claims read by name agree with
/// the typed ones: `from_payload` skips custom claims unread, so a number
/// out of `f64`'s range passed it, and then the whole-map parse behind
/// `get` failed and every claim read by name, `iss` included, was absent.
#[test]
fn a_claim_no_value_can_hold_hides_no_other_claim() {
    // The fuzzer's input, verbatim.
    let payload = br#"{"iss":"htzz.example/","sutyp":17999,"aud":"h1timple","iat":1799999940,"extps:/s*:pi.fz.eisssypciat":1799955555e5555599940,"exp":180}"#;
    let claims = Claims::from_payload(payload).expect("registered claims of the right types");
    assert_eq!(
        claims.get("iss"),
        Some(&json!("htzz.example/")),
        "iss by name"
    );
    assert_eq!(claims.get("sutyp"), Some(&json!(17999)), "a custom claim");
    assert_eq!(
        claims.get("extps:/s*:pi.fz.eisssypciat"),
        None,
        "the claim no Value can hold is left out"
    );

    let payload = r#"{"iss": "https://t/", "aud": "api", "exp": 2000000000, "iat": 1000000000,
        "https://myapp.example.com/roles": ["admin"], "https://myapp.example.com/size": 1e400}"#;
    let claims = Claims::from_payload(payload.as_bytes()).expect("a valid payload");
    let custom: Vec<_> = claims.custom().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        custom,
        ["https://myapp.example.com/roles"],
        "the other namespaced claims still reach handlers"
    );
}
