//! Custom bodies for refusals. The body of a 400, 401, 403 or 503 is the
//! one part of a refusal an app may shape to its own conventions; the
//! status, the `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1),
//! `Cache-Control: no-store` (RFC 6750 §3) and `Retry-After` stay as the
//! RFCs have them, whatever the body says.

use std::fmt;
use std::sync::Arc;

use actix_web::http::StatusCode;
use serde_json::Value;

/// What a custom body may say about a refusal: the same facts the default
/// body and the challenge carry, nothing from the token.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Refusal<'a> {
    /// The status the refusal is sent with.
    pub status: StatusCode,
    /// The RFC 6750 §3.1 / RFC 9449 §7.1 error code (`invalid_token`,
    /// `insufficient_scope`, ...), `unauthorized` for missing credentials
    /// and `temporarily_unavailable` for a 503.
    pub error: &'a str,
    /// The short, safe description the challenge carries too.
    pub description: &'a str,
    /// The stable label logs and metrics use (`expired`, `roles`, ...).
    pub label: &'a str,
    /// For `insufficient_scope` from a scope guard, the scopes that would
    /// have sufficed, as the challenge's `scope` attribute lists them.
    pub scope: Option<&'a str>,
}

/// An app's own JSON body for refusals, registered with
/// [`Authenticator::with_error_body`](crate::auth::Authenticator::with_error_body).
///
/// The function is called once per distinct refusal per worker thread: the
/// rendered body is remembered with the refusal, so a flood of bad tokens
/// costs a lookup, as with the default body. It must therefore be a pure
/// function of the [`Refusal`] it is given.
///
/// ```
/// use actix_web::http::StatusCode;
/// use auth0_actix_api::auth::{ErrorBodyFormat, Refusal};
/// use serde_json::json;
///
/// // The Auth0 quickstarts' shape: {"error", "message", "details"}.
/// let format = ErrorBodyFormat::new(|refusal: &Refusal<'_>| {
///     json!({
///         "error": if refusal.status == StatusCode::FORBIDDEN { "forbidden" } else { "authentication_failed" },
///         "message": refusal.description,
///         "details": refusal.error,
///     })
/// });
/// # let _ = format;
/// ```
#[derive(Clone)]
pub struct ErrorBodyFormat(Arc<dyn Fn(&Refusal<'_>) -> Value + Send + Sync>);

impl ErrorBodyFormat {
    /// A body format from a function of the refusal.
    pub fn new<F>(format: F) -> Self
    where
        F: Fn(&Refusal<'_>) -> Value + Send + Sync + 'static,
    {
        Self(Arc::new(format))
    }

    /// The body for `refusal`, serialised.
    pub(crate) fn render(&self, refusal: &Refusal<'_>) -> Vec<u8> {
        // A `Value` always serialises; the fallback only keeps this panic-free.
        serde_json::to_vec(&(self.0)(refusal)).unwrap_or_default()
    }
}

/// The same format when it is the same registration: formats are compared
/// by identity, so refusals of two apps with different bodies are never
/// mistaken for one another in the per-worker memo.
impl PartialEq for ErrorBodyFormat {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ErrorBodyFormat {}

impl fmt::Debug for ErrorBodyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorBodyFormat(..)")
    }
}
