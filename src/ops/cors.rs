//! Cross-origin requests from browser clients (the Fetch standard's CORS
//! protocol): only for the configured origins, and only when there are any.

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};
use actix_web::http::Method;
use actix_web::middleware::Condition;

use crate::auth::scheme::{DPOP, DPOP_NONCE};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_SECS: usize = 600;

/// The CORS middleware for `origins` (exact origins, as
/// `Settings::cors_origins` returns them); a no-op when the list is empty.
///
/// Browsers may send `Authorization` and `DPoP` (RFC 9449 §4.1), and may read
/// `WWW-Authenticate` (to see why a request was refused) and `DPoP-Nonce`
/// (RFC 9449 §8, to retry with the server's nonce), which are not
/// CORS-safelisted response headers. Credentials mode stays off: tokens
/// travel in headers, never in cookies.
pub fn layer(origins: &[String]) -> Condition<Cors> {
    let cors = origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, DPOP])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            DPOP_NONCE,
            HeaderName::from_static("retry-after"),
        ])
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    Condition::new(!origins.is_empty(), cors)
}
