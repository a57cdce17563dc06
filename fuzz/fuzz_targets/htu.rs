//! `htu` normalisation and the request URL behind it, including the
//! forwarded headers of a trusted proxy (src/auth/dpop/htu.rs).
//!
//! Input: lines `U <url>` (normalised on its own), `P <request target>`,
//! `H <Host>`, `X <X-Forwarded-Proto>`, `F <X-Forwarded-Host>` and
//! `R <X-Forwarded-Prefix>` (each header line one field line), from which
//! a request is built and its URL taken as each `RequestUrlSource` says.
#![no_main]

use actix_web::http::header::{HeaderName, HeaderValue, HOST};
use actix_web::http::Uri;
use actix_web::test::TestRequest;
use auth0_actix_api::auth::dpop::htu::{forwarded_prefix, is_authority, normalize, request_url};
use auth0_actix_api::auth::policy::RequestUrlSource;
use auth0_actix_api_fuzz::fields;
use libfuzzer_sys::fuzz_target;

/// A normal form is one: normalising it again changes nothing, and it has
/// no query, fragment or user information left.
fn assert_normal(url: &str) {
    assert!(
        url.starts_with("http://") || url.starts_with("https://"),
        "{url:?}"
    );
    assert!(
        !url.contains(['?', '#']),
        "query or fragment left in {url:?}"
    );
    assert_eq!(
        normalize(url).as_deref(),
        Some(url),
        "normalising the normal form changed it"
    );
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    for url in fields(&input, "U ") {
        if let Some(normal) = normalize(url) {
            assert_normal(&normal);
        }
    }
    for host in fields(&input, "F ").chain(fields(&input, "H ")) {
        if is_authority(host) {
            assert!(
                !host.contains(['/', '@', ' ', '?', '#', '\\']),
                "authority {host:?}"
            );
        }
    }
    for prefix in fields(&input, "R ") {
        if let Some(kept) = forwarded_prefix(prefix) {
            assert!(kept.is_empty() || kept.starts_with('/'), "prefix {kept:?}");
            assert!(!kept.contains(".."), "prefix {kept:?}");
        }
    }

    // The request: its target must be one the HTTP parser would accept.
    let target = fields(&input, "P ").next().unwrap_or("/api/private");
    if Uri::try_from(target).is_err() {
        return;
    }
    let mut request = TestRequest::get().uri(target);
    let headers = [
        (HOST, "H "),
        (HeaderName::from_static("x-forwarded-proto"), "X "),
        (HeaderName::from_static("x-forwarded-host"), "F "),
        (HeaderName::from_static("x-forwarded-prefix"), "R "),
    ];
    for (name, tag) in headers {
        for value in fields(&input, tag) {
            if let Ok(value) = HeaderValue::from_str(value) {
                request = request.append_header((name.clone(), value));
            }
        }
    }
    let request = request.to_http_request();
    let base = url::Url::parse("https://public.fuzz.example/base/").expect("a constant URL");
    for source in [
        RequestUrlSource::Connection,
        RequestUrlSource::TrustedProxy,
        RequestUrlSource::PublicBaseUrl(base),
    ] {
        if let Some(url) = request_url(&source, &request) {
            assert_normal(&url);
        }
    }
});
