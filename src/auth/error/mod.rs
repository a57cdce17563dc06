//! The one error type of the request path: what went wrong, which status and
//! RFC 6750 error code it maps to, and the challenge that goes with it.

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::header::{
    ContentType, HeaderValue, CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::body::Refusal;
use super::dpop::ReplayStoreError;
// Lives beside the proof checks that raise it; its public path stays here.
pub use super::dpop::ProofError;
use super::scheme::{Challenge, DPOP_NONCE};

mod claim;
// Private: the memo of rendered refusals belongs to this type alone.
mod rendered;
mod token;

use self::claim::claim_description;
pub use self::claim::{ClaimCheck, ClaimMismatch};
use self::rendered::{rendered, Rendered};
pub use self::token::TokenError;

/// Every way an authenticated request can fail. One `ResponseError` impl
/// decides status, challenge and body, so every route answers alike.
///
/// Each variant carries the [`Challenge`] of the app that refused, which
/// also holds the app's [`ErrorBodyFormat`](super::body::ErrorBodyFormat)
/// when it has one; status, `WWW-Authenticate` and `Cache-Control` never
/// depend on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// A bad DPoP proof (RFC 9449 §7.1 `invalid_dpop_proof`): 401.
    #[error("invalid DPoP proof: {reason}")]
    InvalidProof {
        /// Why the proof was refused.
        reason: ProofError,
        /// The challenge to send (always the DPoP scheme's).
        challenge: Challenge,
    },
    /// The proof lacks the server's current nonce (RFC 9449 §9
    /// `use_dpop_nonce`): 401 with a fresh `DPoP-Nonce`.
    #[error("DPoP nonce required")]
    UseDpopNonce {
        /// The nonce the client must put in its next proof.
        nonce: String,
        /// The challenge to send (always the DPoP scheme's).
        challenge: Challenge,
    },
    /// A valid token that lacks a required permission (RFC 6750 §3.1 `insufficient_scope`): 403.
    #[error("insufficient scope, needs {needs}")]
    InsufficientScope {
        /// The challenge's `scope` attribute (RFC 6750 §3): the
        /// space-delimited permissions that would satisfy the route.
        required: Arc<str>,
        /// The requirement in words (`(a or b) and c`), for the description.
        needs: Arc<str>,
        /// The challenge to send.
        challenge: Challenge,
    },
    /// A valid token whose claims fail a claim or role requirement: 403
    /// `insufficient_scope`, without a `scope` attribute since no scope
    /// would help.
    ///
    /// RFC 6750 §3.1 defines `insufficient_scope` as "the request requires
    /// higher privileges than provided by the access token", which is what
    /// a missing role or a claim of the wrong value means. Auth0's Node SDK
    /// answers such failures with 401 `invalid_token` instead, which tells
    /// the client its token is expired, revoked or malformed (RFC 6750
    /// §3.1): a client that believes it fetches a new token, gets the same
    /// claims, and loops. A 403 says "this token is fine, and not enough".
    /// The description names the kind of check and the claim (for a
    /// predicate, only the kind), never a value from the token.
    #[error("claim check failed: {} ({mismatch})", check.label())]
    ClaimCheckFailed {
        /// Which kind of check refused the request.
        check: ClaimCheck,
        /// The claim the check read, or a predicate's name (logged, never sent).
        claim: Arc<str>,
        /// How the claim failed.
        mismatch: ClaimMismatch,
        /// The challenge to send.
        challenge: Challenge,
    },
    /// No signing keys can be had (tenant unreachable and nothing cached): 503
    /// with `Retry-After`, so clients retry instead of re-logging in.
    #[error("signing keys unavailable")]
    KeysUnavailable {
        /// Seconds after which a retry may succeed.
        retry_after_secs: u64,
        /// The app's challenge. A 503 sends no `WWW-Authenticate` (this is
        /// not a failure to authenticate); it is here for the app's body
        /// format.
        challenge: Challenge,
    },
    /// The DPoP replay store cannot record the proof (full, or not
    /// answering): 503 with `Retry-After`. It fails closed, since a proof
    /// that cannot be recorded could be replayed; requests that need no
    /// store (Bearer) are not affected.
    #[error("DPoP replay store unavailable: {reason}")]
    ReplayStoreUnavailable {
        /// Why the store could not record the proof.
        reason: ReplayStoreError,
        /// Seconds after which a retry may succeed.
        retry_after_secs: u64,
        /// The app's challenge, for its body format; not sent (see
        /// [`Self::KeysUnavailable`]).
        challenge: Challenge,
    },
}

/// The JSON body of every error response: `{"error", "error_description"}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// RFC 6750 or RFC 9449 error code (or `unauthorized` / `temporarily_unavailable`).
    pub error: &'a str,
    /// Short, safe description.
    pub error_description: &'a str,
}

impl AuthError {
    /// The RFC 6750, RFC 9449 §7.1 (or RFC 6749 §4.1.2.1 for 503) error code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingCredentials { .. } => "unauthorized",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidToken { .. } => "invalid_token",
            Self::InvalidProof { .. } => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::InsufficientScope { .. } | Self::ClaimCheckFailed { .. } => "insufficient_scope",
            Self::KeysUnavailable { .. } | Self::ReplayStoreUnavailable { .. } => {
                "temporarily_unavailable"
            }
        }
    }

    /// A stable, bounded label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::MissingCredentials { .. } => "missing",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidToken { reason, .. } => reason.label(),
            Self::InvalidProof { reason, .. } => reason.label(),
            Self::UseDpopNonce { .. } => "dpop_nonce_required",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::ClaimCheckFailed { check, .. } => check.label(),
            Self::KeysUnavailable { .. } => "keys_unavailable",
            Self::ReplayStoreUnavailable { reason, .. } => reason.label(),
        }
    }

    /// The challenge of the app that refused the request.
    pub fn challenge(&self) -> &Challenge {
        match self {
            Self::MissingCredentials { challenge }
            | Self::InvalidRequest { challenge, .. }
            | Self::InvalidToken { challenge, .. }
            | Self::InvalidProof { challenge, .. }
            | Self::UseDpopNonce { challenge, .. }
            | Self::InsufficientScope { challenge, .. }
            | Self::ClaimCheckFailed { challenge, .. }
            | Self::KeysUnavailable { challenge, .. }
            | Self::ReplayStoreUnavailable { challenge, .. } => challenge,
        }
    }

    /// The short, safe description that goes in `error_description` and
    /// the body: never a token, a claim value, a URL of ours or upstream
    /// error text.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::MissingCredentials { .. } => {
                "Authentication required: send an access token in the Authorization header".into()
            }
            Self::InvalidRequest { reason, .. } => (*reason).into(),
            Self::InvalidToken { reason, .. } => reason.description(),
            Self::InvalidProof { reason, .. } => reason.description(),
            // RFC 9449 §9's own wording.
            Self::UseDpopNonce { .. } => "Resource server requires nonce in DPoP proof".into(),
            Self::InsufficientScope { needs, .. } => {
                format!("The access token lacks the permission this endpoint needs: {needs}").into()
            }
            Self::ClaimCheckFailed {
                check,
                claim,
                mismatch,
                ..
            } => claim_description(*check, claim, *mismatch),
            Self::KeysUnavailable { .. } => {
                "The service cannot verify tokens right now; retry later".into()
            }
            Self::ReplayStoreUnavailable { .. } => {
                "The service cannot check DPoP proofs right now; retry later".into()
            }
        }
    }

    /// The `WWW-Authenticate` value, carrying `description` (computed once by
    /// the caller, which also puts it in the body).
    fn challenge_header(&self, description: &str) -> Option<String> {
        let code = self.code();
        match self {
            Self::MissingCredentials { challenge } => Some(challenge.render_bare()),
            Self::InvalidRequest { challenge, .. }
            | Self::InvalidToken { challenge, .. }
            | Self::InvalidProof { challenge, .. }
            | Self::UseDpopNonce { challenge, .. } => {
                Some(challenge.render_error(code, description, None))
            }
            Self::InsufficientScope {
                challenge,
                required,
                ..
            } => Some(challenge.render_error(code, description, Some(required.as_ref()))),
            Self::ClaimCheckFailed { challenge, .. } => {
                Some(challenge.render_error(code, description, None))
            }
            Self::KeysUnavailable { .. } | Self::ReplayStoreUnavailable { .. } => None,
        }
    }

    /// The challenge header and body of this error, worked out afresh.
    fn render(&self) -> Rendered {
        let description = self.description();
        let challenge = self
            .challenge_header(&description)
            .and_then(|c| HeaderValue::try_from(c).ok());
        let body = match self.challenge().body_format() {
            Some(format) => format.render(&Refusal {
                status: self.status_code(),
                error: self.code(),
                description: &description,
                label: self.label(),
                scope: match self {
                    Self::InsufficientScope { required, .. } => Some(required),
                    _ => None,
                },
            }),
            None => serde_json::to_vec(&ErrorBody {
                error: self.code(),
                error_description: &description,
            })
            // Two strings always serialise; the fallback only keeps this panic-free.
            .unwrap_or_default(),
        };
        Rendered {
            challenge,
            body: Bytes::from(body),
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingCredentials { .. }
            | Self::InvalidToken { .. }
            | Self::InvalidProof { .. }
            | Self::UseDpopNonce { .. } => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::ClaimCheckFailed { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } | Self::ReplayStoreUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let render = || self.render();
        // A nonce or a retry delay changes from one answer to the next, so
        // those two are not worth remembering; every other refusal is.
        let parts = match self {
            Self::UseDpopNonce { .. }
            | Self::KeysUnavailable { .. }
            | Self::ReplayStoreUnavailable { .. } => render(),
            _ => rendered(self, render),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(value) = parts.challenge {
            response.insert_header((WWW_AUTHENTICATE, value));
        }
        if let Self::KeysUnavailable {
            retry_after_secs, ..
        }
        | Self::ReplayStoreUnavailable {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
        }
        if let Self::UseDpopNonce { nonce, .. } = self {
            if let Ok(value) = HeaderValue::from_str(nonce) {
                response.insert_header((DPOP_NONCE, value));
            }
        }
        // RFC 6750 §3: error responses must not be cached.
        response.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
        response.insert_header(ContentType::json());
        response.body(parts.body)
    }
}
