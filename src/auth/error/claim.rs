//! Why a claim requirement refused a request (a 403): the kind of check
//! and how the claim failed, never the claim's value.

use std::borrow::Cow;

/// Which kind of claim requirement refused a request; the refusal's
/// description says it, and its label names it in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimCheck {
    /// A claim must equal a value ([`RequireClaim::equals`](crate::auth::guards::RequireClaim::equals)).
    Equals,
    /// A claim must include values ([`RequireClaim::includes`](crate::auth::guards::RequireClaim::includes)).
    Includes,
    /// A named predicate over the claims ([`RequireClaim::check`](crate::auth::guards::RequireClaim::check)).
    Predicate,
    /// Roles read from a claim ([`RequireRoles`](crate::auth::guards::RequireRoles)).
    Roles,
    /// The claims must fit the handler's own type
    /// ([`TypedClaims`](crate::auth::middleware::TypedClaims)).
    Shape,
}

impl ClaimCheck {
    /// Stable, bounded label used in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Equals => "claim_equals",
            Self::Includes => "claim_includes",
            Self::Predicate => "claim_check",
            Self::Roles => "roles",
            Self::Shape => "claim_shape",
        }
    }
}

/// How a claim failed a check. Never carries the claim's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimMismatch {
    /// The token has no such claim.
    #[error("the claim is absent")]
    Missing,
    /// The claim has a JSON type the check cannot use (RFC 8259 §3).
    #[error("the claim has an unexpected type")]
    WrongType,
    /// The claim is readable, but its value does not satisfy the check.
    #[error("the claim's value does not satisfy the check")]
    Value,
}

/// What a claim refusal says, by kind of check and how the claim failed.
/// The claim's name is the app's configuration, safe to show and useful to
/// the client's developer; a predicate's name stays in the logs, and a
/// claim's value is never shown.
pub(super) fn claim_description(
    check: ClaimCheck,
    claim: &str,
    mismatch: ClaimMismatch,
) -> Cow<'static, str> {
    match (check, mismatch) {
        (ClaimCheck::Predicate, _) => {
            "The access token's claims do not pass this endpoint's claim check".into()
        }
        (ClaimCheck::Shape, _) => {
            "The access token's claims do not have the form this endpoint requires".into()
        }
        (ClaimCheck::Roles, ClaimMismatch::Missing) => {
            format!("The access token has no roles claim ({claim}); this endpoint requires a role")
                .into()
        }
        (ClaimCheck::Roles, ClaimMismatch::WrongType) => {
            format!("The access token's roles claim ({claim}) is not a list of role names").into()
        }
        (ClaimCheck::Roles, ClaimMismatch::Value) => format!(
            "The access token's roles ({claim}) do not include a role this endpoint requires"
        )
        .into(),
        (_, ClaimMismatch::Missing) => {
            format!("The access token has no {claim} claim, which this endpoint requires").into()
        }
        (_, ClaimMismatch::WrongType) => {
            format!("The access token's {claim} claim has a type this endpoint does not accept")
                .into()
        }
        (ClaimCheck::Equals, ClaimMismatch::Value) => format!(
            "The access token's {claim} claim does not have the value this endpoint requires"
        )
        .into(),
        (ClaimCheck::Includes, ClaimMismatch::Value) => format!(
            "The access token's {claim} claim does not include the values this endpoint requires"
        )
        .into(),
    }
}
