//! `Authorization` and `DPoP` header parsing and `WWW-Authenticate`
//! rendering (src/auth/scheme.rs).
//!
//! Input: lines `A <value>` (an `Authorization` header each), `D <value>`
//! (a `DPoP` header each), `Q <query string>` and `M <digit>` (the DPoP
//! mode: 0 disabled, 1 optional, 2 required). Values that are not legal
//! header bytes are dropped, as the HTTP parser would refuse them.
#![no_main]

use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use auth0_actix_api::auth::policy::DpopMode;
use auth0_actix_api::auth::scheme::{
    parse_credentials, quoted, Challenge, HeaderError, Scheme, DPOP,
};
use auth0_actix_api_fuzz::fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mode = match fields(&input, "M ").next().and_then(|m| m.bytes().next()) {
        Some(b'0') => DpopMode::Disabled,
        Some(b'2') => DpopMode::Required,
        _ => DpopMode::Optional,
    };
    let query = fields(&input, "Q ").next().unwrap_or("");
    let mut headers = HeaderMap::new();
    let mut authorization = Vec::new();
    for value in fields(&input, "A ") {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(AUTHORIZATION, v);
            authorization.push(value);
        }
    }
    for value in fields(&input, "D ") {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(DPOP, v);
        }
    }

    match parse_credentials(&headers, query, mode) {
        Ok(creds) => {
            // One header, a scheme the mode accepts, one token from inside it.
            assert_eq!(authorization.len(), 1, "credentials from several headers");
            assert!(!creds.token.is_empty(), "empty token accepted");
            assert!(
                !creds.token.contains([' ', '\t']),
                "a token with a blank: {:?}",
                creds.token
            );
            assert!(
                authorization[0].contains(&creds.token),
                "token not from the header"
            );
            match creds.scheme {
                Scheme::Bearer => assert!(mode.accepts_bearer() && creds.proof.is_none()),
                Scheme::DPoP => assert!(mode.accepts_dpop() && creds.proof.is_some()),
            }
        }
        Err(HeaderError::Malformed {
            scheme: Some(scheme),
            ..
        }) => assert!(
            match scheme {
                Scheme::Bearer => mode.accepts_bearer(),
                Scheme::DPoP => mode.accepts_dpop(),
            },
            "an error blamed on a scheme the mode does not accept"
        ),
        Err(_) => {}
    }

    // Whatever text ends up in a challenge, the header stays one legal line.
    let text = input.as_ref();
    let safe = quoted(text);
    assert!(
        safe.bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\'),
        "quoted() let an unsafe byte through: {safe:?}"
    );
    for scheme in [Scheme::Bearer, Scheme::DPoP] {
        let challenge = Challenge::new(text.into(), scheme).with_dpop(text.into(), true);
        for rendered in [
            challenge.render_bare(),
            challenge.render_error(text, text, Some(text)),
        ] {
            assert!(
                HeaderValue::from_str(&rendered).is_ok(),
                "not a header value: {rendered:?}"
            );
        }
    }
});
