//! Why a token was refused: the reasons of RFC 6750 §3.1 `invalid_token`,
//! each with a description safe to send and a label for logs and metrics.

use std::borrow::Cow;
use std::fmt;

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
    /// The token was sent with the DPoP scheme but has no `cnf.jkt` (RFC 9449 §7.1).
    NotBound,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's key (RFC 9449 §4.3 check 12).
    WrongKeyBinding,
    /// The token's `cnf` names a confirmation method other than `jkt`, such
    /// as RFC 8705's `x5t#S256`, which we cannot check (RFC 7800 §3.1).
    UnsupportedConfirmation,
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
            Self::NotBound => "dpop_unbound_token",
            Self::WrongKeyBinding => "dpop_key_mismatch",
            Self::UnsupportedConfirmation => "unsupported_cnf",
        }
    }

    /// Short, generic description that is safe to send to the client: it
    /// never contains the token, a URL of ours or upstream error text.
    pub fn description(&self) -> Cow<'static, str> {
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
            Self::MissingClaim(name) => format!("The token has no {name} claim").into(),
            Self::InvalidClaim(name) => format!("The token's {name} claim is invalid").into(),
            Self::BoundTokenAsBearer => {
                "A DPoP-bound token must be sent with the DPoP scheme".into()
            }
            Self::NotBound => "The access token is not bound to a DPoP key".into(),
            Self::WrongKeyBinding => "The access token is bound to another DPoP key".into(),
            Self::UnsupportedConfirmation => {
                "The token's cnf claim names a confirmation method that is not supported".into()
            }
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}
