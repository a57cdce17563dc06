//! Why a DPoP proof was refused. It lives here, beside the checks that
//! raise it, so that `dpop` needs nothing from `auth::error`, which carries
//! it inside `AuthError` (and re-exports it as `auth::error::ProofError`).

use std::borrow::Cow;
use std::fmt;

/// Why a DPoP proof was refused (RFC 9449 §4.3). Each reason has a short
/// description that is safe to send to the client (it never echoes the
/// proof) and a stable label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Not a JWS compact serialisation with JSON-object header and payload,
    /// or larger than any honest proof.
    Malformed,
    /// The header's `alg` is not on the proof allow-list (check 5).
    UnsupportedAlgorithm,
    /// The header's `typ` is not `dpop+jwt` (check 4).
    WrongType,
    /// The header names a `crit` extension, which we do not understand (RFC 7515 §4.1.11).
    CriticalHeader,
    /// The header's `jwk` is absent, symmetric, or not a usable public key for `alg` (check 7).
    InvalidKey,
    /// The header's `jwk` carries private key members (check 7).
    PrivateKey,
    /// The signature does not verify with the header's `jwk` (check 6).
    BadSignature,
    /// A required claim is absent (check 3).
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an impossible value.
    InvalidClaim(&'static str),
    /// `htm` is not the request's method (check 8).
    WrongMethod,
    /// `htu` is not the request's URL (check 9).
    WrongUrl,
    /// `iat` is further in the future than the leeway (check 11).
    IssuedInFuture,
    /// `iat` is older than the acceptance window (check 11).
    TooOld,
    /// `ath` is not the hash of the access token (check 12).
    WrongTokenHash,
    /// The proof was already used (RFC 9449 §11.1).
    Replayed,
}

impl ProofError {
    /// Stable, bounded label used in logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed => "dpop_malformed",
            Self::UnsupportedAlgorithm => "dpop_unsupported_algorithm",
            Self::WrongType => "dpop_wrong_type",
            Self::CriticalHeader => "dpop_critical_header",
            Self::InvalidKey => "dpop_invalid_key",
            Self::PrivateKey => "dpop_private_key",
            Self::BadSignature => "dpop_bad_signature",
            Self::MissingClaim(_) => "dpop_missing_claim",
            Self::InvalidClaim(_) => "dpop_invalid_claim",
            Self::WrongMethod => "dpop_wrong_htm",
            Self::WrongUrl => "dpop_wrong_htu",
            Self::IssuedInFuture => "dpop_issued_in_future",
            Self::TooOld => "dpop_too_old",
            Self::WrongTokenHash => "dpop_wrong_ath",
            Self::Replayed => "dpop_replayed",
        }
    }

    /// Short, generic description that is safe to send to the client.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::Malformed => "The DPoP proof is malformed".into(),
            Self::UnsupportedAlgorithm => {
                "The DPoP proof's signing algorithm is not allowed".into()
            }
            Self::WrongType => "The DPoP proof's typ header must be dpop+jwt".into(),
            Self::CriticalHeader => {
                "The DPoP proof names a critical header extension that is not supported".into()
            }
            Self::InvalidKey => "The DPoP proof's jwk header is not a usable public key".into(),
            Self::PrivateKey => "The DPoP proof's jwk header must not contain a private key".into(),
            Self::BadSignature => "The DPoP proof's signature is invalid".into(),
            Self::MissingClaim(name) => format!("The DPoP proof has no {name} claim").into(),
            Self::InvalidClaim(name) => format!("The DPoP proof's {name} claim is invalid").into(),
            Self::WrongMethod => "The DPoP proof's htm does not match the request method".into(),
            Self::WrongUrl => "The DPoP proof's htu does not match the request URL".into(),
            Self::IssuedInFuture => "The DPoP proof was issued in the future".into(),
            Self::TooOld => "The DPoP proof is too old".into(),
            Self::WrongTokenHash => "The DPoP proof's ath does not match the access token".into(),
            Self::Replayed => "The DPoP proof was already used".into(),
        }
    }
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}
