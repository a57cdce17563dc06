//! Browser clients (SPEC "DPoP", issue 4 item 7): CORS only for the
//! configured origins, allowing `Authorization` and `DPoP` and exposing
//! `WWW-Authenticate` and `DPoP-Nonce`.

use actix_web::http::Method;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const ORIGIN: &str = "https://app.example.com";

/// Sends `method` to `/api/private` with `headers`; returns the status and
/// the response headers as lower-case `(name, value)` pairs.
async fn send(
    app: &TestApp,
    method: Method,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>) {
    let mut request = app
        .client
        .request(method, format!("{}/api/private", app.address));
    for (name, value) in headers {
        request = request.append_header((*name, *value));
    }
    let response = request.send().await.expect("request failed");
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_ascii_lowercase(),
            )
        })
        .collect();
    (response.status().as_u16(), headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The comma-separated members of header `name`, trimmed.
fn members(headers: &[(String, String)], name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or("")
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

fn preflight() -> [(&'static str, &'static str); 3] {
    [
        ("Origin", ORIGIN),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "authorization, dpop"),
    ]
}

#[actix_web::test]
async fn cors_is_off_without_allowed_origins() {
    let app = spawn_app().await;
    let (_, headers) = send(&app, Method::OPTIONS, &preflight()).await;
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        None,
        "no preflight answer without configured origins"
    );
    let (status, headers) = send(&app, Method::GET, &[("Origin", ORIGIN)]).await;
    assert_eq!(status, 401, "the request itself is answered as usual");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        None,
        "no CORS headers"
    );
}

#[actix_web::test]
async fn a_preflight_from_an_allowed_origin_may_send_authorization_and_dpop() {
    let app = spawn_app_with(|s| s.cors.allowed_origins = vec![ORIGIN.into()]).await;
    let (status, headers) = send(&app, Method::OPTIONS, &preflight()).await;
    assert_eq!(status, 200, "preflight status, headers {headers:?}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ORIGIN),
        "the origin is allowed"
    );
    let allowed = members(&headers, "access-control-allow-headers");
    for name in ["authorization", "dpop"] {
        assert!(
            allowed.iter().any(|a| a == name),
            "{name} is allowed: {allowed:?}"
        );
    }
    assert!(
        members(&headers, "access-control-allow-methods")
            .iter()
            .any(|m| m == "get"),
        "GET is allowed: {headers:?}"
    );
}

#[actix_web::test]
async fn refusals_expose_www_authenticate_and_dpop_nonce_to_allowed_origins() {
    let app = spawn_app_with(|s| {
        s.cors.allowed_origins = vec![ORIGIN.into()];
        s.dpop.nonce = true;
    })
    .await;
    let (status, headers) = send(&app, Method::GET, &[("Origin", ORIGIN)]).await;
    assert_eq!(status, 401, "no credentials");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ORIGIN),
        "allowed origin"
    );
    let exposed = members(&headers, "access-control-expose-headers");
    for name in ["www-authenticate", "dpop-nonce"] {
        assert!(
            exposed.iter().any(|e| e == name),
            "{name} is exposed: {exposed:?}"
        );
    }
    assert!(
        header(&headers, "dpop-nonce").is_some(),
        "the nonce is there to read"
    );
}

#[actix_web::test]
async fn other_origins_get_no_cors_headers() {
    let app = spawn_app_with(|s| s.cors.allowed_origins = vec![ORIGIN.into()]).await;
    let (status, headers) = send(&app, Method::GET, &[("Origin", "https://evil.example")]).await;
    assert_eq!(status, 401, "the request is answered as usual");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        None,
        "a browser will not let another origin read the answer"
    );
}
