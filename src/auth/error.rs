//! The one error type of the request path: what went wrong, which status and
//! RFC 6750 error code it maps to, and the challenge that goes with it.

use std::fmt;

use actix_web::http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::scheme::Challenge;

/// Why a token was refused. Each reason has a short description that is safe
/// to send to the client and a stable label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWS compact serialisation: wrong number of parts, bad base64url,
    /// or a header or payload that is not a JSON object.
    Malformed,
    /// The header's `alg` is not on the configured allow-list (RFC 8725 §3.1).
    UnsupportedAlgorithm,
    /// The header names a `crit` extension, which we do not understand (RFC 7515 §4.1.11).
    CriticalHeader,
    /// The header's `typ` is neither `JWT` nor `at+jwt` (or not `at+jwt` in strict RFC 9068 mode).
    WrongType,
    /// No key in the tenant's key set matches the token's `kid` and `alg`.
    UnknownKey,
    /// The signature does not verify with the tenant's key.
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` names none of the accepted audiences.
    WrongAudience,
    /// A required claim is absent.
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an impossible value.
    InvalidClaim(&'static str),
    /// The token is bound to a DPoP key (`cnf.jkt`) but was sent with the Bearer scheme (RFC 9449 §7.2).
    BoundTokenAsBearer,
}

impl TokenError {
    /// Stable, bounded label used in logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::CriticalHeader => "critical_header",
            Self::WrongType => "wrong_type",
            Self::UnknownKey => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::BoundTokenAsBearer => "dpop_bound_as_bearer",
        }
    }

    /// Short, generic description that is safe to send to the client: it
    /// never contains the token, a URL of ours or upstream error text.
    pub fn description(&self) -> String {
        match self {
            Self::Malformed => "The access token is malformed".into(),
            Self::UnsupportedAlgorithm => "The token's signing algorithm is not allowed".into(),
            Self::CriticalHeader => {
                "The token names a critical header extension that is not supported".into()
            }
            Self::WrongType => "The token's typ header is not accepted".into(),
            Self::UnknownKey => "The token is signed with an unknown key".into(),
            Self::BadSignature => "The token's signature is invalid".into(),
            Self::Expired => "The access token expired".into(),
            Self::NotYetValid => "The access token is not valid yet".into(),
            Self::IssuedInFuture => "The access token was issued in the future".into(),
            Self::WrongIssuer => "The token's issuer is not accepted".into(),
            Self::WrongAudience => "The token's audience is not accepted".into(),
            Self::MissingClaim(name) => format!("The token has no {name} claim"),
            Self::InvalidClaim(name) => format!("The token's {name} claim is invalid"),
            Self::BoundTokenAsBearer => {
                "A DPoP-bound token must be sent with the DPoP scheme".into()
            }
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

/// Every way an authenticated request can fail. One `ResponseError` impl
/// decides status, challenge and body, so every route answers alike.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or a scheme we do not support: 401 with a bare
    /// challenge and no error code (RFC 6750 §3.1).
    #[error("authentication required")]
    MissingCredentials {
        /// The challenge to send.
        challenge: Challenge,
    },
    /// A malformed request (RFC 6750 §3.1 `invalid_request`): 400.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Safe description of what is wrong with the request.
        reason: &'static str,
        /// The challenge to send.
        challenge: Challenge,
    },
    /// A bad token (RFC 6750 §3.1 `invalid_token`): 401.
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// Why the token was refused.
        reason: TokenError,
        /// The challenge to send.
        challenge: Challenge,
    },
    /// A valid token that lacks a required permission (RFC 6750 §3.1 `insufficient_scope`): 403.
    #[error("insufficient scope, needs {required}")]
    InsufficientScope {
        /// The space-delimited permissions the route needs.
        required: String,
        /// The challenge to send.
        challenge: Challenge,
    },
    /// No signing keys can be had (tenant unreachable and nothing cached): 503
    /// with `Retry-After`, so clients retry instead of re-logging in.
    #[error("signing keys unavailable")]
    KeysUnavailable {
        /// Seconds after which a retry may succeed.
        retry_after_secs: u64,
    },
}

/// The JSON body of every error response: `{"error", "error_description"}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// RFC 6750 error code (or `unauthorized` / `temporarily_unavailable`).
    pub error: &'a str,
    /// Short, safe description.
    pub error_description: &'a str,
}

impl AuthError {
    /// The RFC 6750 (or RFC 6749 §4.1.2.1 for 503) error code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingCredentials { .. } => "unauthorized",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidToken { .. } => "invalid_token",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::KeysUnavailable { .. } => "temporarily_unavailable",
        }
    }

    /// A stable, bounded label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::MissingCredentials { .. } => "missing",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidToken { reason, .. } => reason.label(),
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::KeysUnavailable { .. } => "keys_unavailable",
        }
    }

    fn description(&self) -> String {
        match self {
            Self::MissingCredentials { .. } => {
                "Authentication required: send an access token in the Authorization header".into()
            }
            Self::InvalidRequest { reason, .. } => (*reason).into(),
            Self::InvalidToken { reason, .. } => reason.description(),
            Self::InsufficientScope { required, .. } => {
                format!("The access token lacks the permission this endpoint needs: {required}")
            }
            Self::KeysUnavailable { .. } => {
                "The service cannot verify tokens right now; retry later".into()
            }
        }
    }

    fn challenge_header(&self) -> Option<String> {
        let code = self.code();
        match self {
            Self::MissingCredentials { challenge } => Some(challenge.render_bare()),
            Self::InvalidRequest { challenge, .. } | Self::InvalidToken { challenge, .. } => {
                Some(challenge.render_error(code, &self.description(), None))
            }
            Self::InsufficientScope {
                challenge,
                required,
            } => Some(challenge.render_error(code, &self.description(), Some(required))),
            Self::KeysUnavailable { .. } => None,
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingCredentials { .. } | Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let description = self.description();
        let mut response = HttpResponse::build(self.status_code());
        if let Some(value) = self
            .challenge_header()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response.insert_header((WWW_AUTHENTICATE, value));
        }
        if let Self::KeysUnavailable { retry_after_secs } = self {
            response.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
        }
        // RFC 6750 §3: error responses must not be cached.
        response.insert_header(("Cache-Control", "no-store"));
        response.json(ErrorBody {
            error: self.code(),
            error_description: &description,
        })
    }
}
