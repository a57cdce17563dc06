//! Role requirements, read from a configurable claim. Auth0 has no
//! registered roles claim: an Action adds one to the access token under a
//! namespaced name (`https://example.com/roles`), holding an array of role
//! names.

use std::sync::Arc;

use serde_json::Value;

use super::requirement::Requirement;
use super::{ClaimGuard, GuardError};
use crate::auth::claims::Claims;
use crate::auth::error::{ClaimCheck, ClaimMismatch};

/// Middleware that lets a request through only when the roles in a claim
/// of the verified token satisfy a [`Requirement`]: one role, all of
/// several, any of several, or nested groups. The claim is an array of role
/// names; a single string counts as one role (role names may hold spaces,
/// so it is not split). Wrap it inside the authentication middleware, like
/// [`RequireScopes`](super::RequireScopes).
///
/// A missing claim, or one that is not a string or an array of strings, is
/// a 403 like a missing role; the refusal names the roles claim, never the
/// roles the token holds nor the ones the route needs.
///
/// ```
/// use auth0_actix_api::auth::guards::{all_of, any_of, RequireRoles};
/// use auth0_actix_api::auth::Claims;
///
/// const ROLES: &str = "https://example.com/roles";
/// let editors = RequireRoles::any(ROLES, ["editor", "admin"]);
/// let auditing_admin = RequireRoles::new(ROLES, all_of(["admin", "auditor"]));
///
/// let claims = Claims::from_payload(
///     br#"{"iss":"i","aud":"a","exp":2,"iat":1,"https://example.com/roles":["editor"]}"#,
/// ).unwrap();
/// assert!(editors.is_satisfied_by(&claims));
/// assert!(!auditing_admin.is_satisfied_by(&claims));
/// assert_eq!(claims.roles(ROLES).unwrap(), ["editor"]);
/// # let _ = any_of(["x"]);
/// ```
#[derive(Debug, Clone)]
pub struct RequireRoles {
    claim: Arc<str>,
    requirement: Arc<Requirement>,
}

impl RequireRoles {
    /// Requires every one of `roles` in `claim`.
    ///
    /// # Panics
    ///
    /// When the claim name is empty, `roles` is empty, or a role name is
    /// empty or holds a control character (see [`GuardError`]): a mistake
    /// in the route table, found at start-up. [`Self::try_new`] returns the
    /// error instead.
    pub fn all<I: IntoIterator<Item = S>, S: Into<String>>(
        claim: impl Into<String>,
        roles: I,
    ) -> Self {
        Self::new(claim, Requirement::all_names(roles))
    }

    /// Requires at least one of `roles` in `claim`.
    ///
    /// # Panics
    ///
    /// As [`Self::all`].
    pub fn any<I: IntoIterator<Item = S>, S: Into<String>>(
        claim: impl Into<String>,
        roles: I,
    ) -> Self {
        Self::new(claim, Requirement::any_names(roles))
    }

    /// Requires the roles in `claim` to satisfy `requirement`.
    ///
    /// # Panics
    ///
    /// As [`Self::all`].
    pub fn new(claim: impl Into<String>, requirement: Requirement) -> Self {
        Self::try_new(claim, requirement).unwrap_or_else(|e| panic!("RequireRoles: {e}"))
    }

    /// Requires the roles in `claim` to satisfy `requirement`, returning
    /// misconfiguration as an error.
    pub fn try_new(claim: impl Into<String>, requirement: Requirement) -> Result<Self, GuardError> {
        let claim = claim.into();
        if claim.is_empty() {
            return Err(GuardError::EmptyClaimName);
        }
        requirement.check(is_role_name, GuardError::InvalidRole)?;
        Ok(Self {
            claim: claim.into(),
            requirement: Arc::new(requirement),
        })
    }

    /// The claim the roles are read from.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// Whether `claims` satisfy this guard.
    pub fn is_satisfied_by(&self, claims: &Claims) -> bool {
        self.verdict(claims).is_ok()
    }
}

impl ClaimGuard for RequireRoles {
    fn checked_claim(&self) -> &Arc<str> {
        &self.claim
    }

    fn kind(&self) -> ClaimCheck {
        ClaimCheck::Roles
    }

    /// `Ok` when the roles satisfy the requirement, else why not. The
    /// claims' map is built once per verified token; the check allocates
    /// nothing.
    fn verdict(&self, claims: &Claims) -> Result<(), ClaimMismatch> {
        let pass = match claims.get(&self.claim).ok_or(ClaimMismatch::Missing)? {
            Value::String(role) => self.requirement.is_met_by(|r| r == role),
            Value::Array(roles) if roles.iter().all(Value::is_string) => self
                .requirement
                .is_met_by(|r| roles.iter().any(|role| role.as_str() == Some(r))),
            _ => return Err(ClaimMismatch::WrongType),
        };
        if pass {
            Ok(())
        } else {
            Err(ClaimMismatch::Value)
        }
    }
}

/// A role name is compared whole, so anything printable will do; a control
/// character can only be a typo or an injection attempt in a config file.
fn is_role_name(role: &str) -> bool {
    !role.is_empty() && !role.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::guards::{all_of, any_of};
    use serde_json::json;

    const ROLES: &str = "https://example.com/roles";

    fn claims(roles: Option<Value>) -> Claims {
        let mut payload = json!({"iss": "i", "aud": "a", "exp": 2, "iat": 1});
        if let Some(roles) = roles {
            payload[ROLES] = roles;
        }
        Claims::from_payload(payload.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn roles_are_read_from_the_configured_claim_in_every_shape() {
        let guard = RequireRoles::new(ROLES, all_of([any_of(["editor", "admin"]), "staff".into()]));
        let cases = [
            (Some(json!(["staff", "editor"])), Ok(())),
            (Some(json!(["admin", "staff"])), Ok(())),
            (Some(json!(["editor"])), Err(ClaimMismatch::Value)),
            (Some(json!([])), Err(ClaimMismatch::Value)),
            (None, Err(ClaimMismatch::Missing)),
            (Some(json!("staff")), Err(ClaimMismatch::Value)),
            (
                Some(json!(["staff", 1, "editor"])),
                Err(ClaimMismatch::WrongType),
            ),
            (Some(json!({"staff": true})), Err(ClaimMismatch::WrongType)),
            (Some(json!(true)), Err(ClaimMismatch::WrongType)),
            (Some(Value::Null), Err(ClaimMismatch::WrongType)),
        ];
        for (roles, expected) in cases {
            assert_eq!(guard.verdict(&claims(roles.clone())), expected, "{roles:?}");
        }
        // One string is one role, spaces and all.
        let named = RequireRoles::any(ROLES, ["Billing Admin"]);
        assert_eq!(named.verdict(&claims(Some(json!("Billing Admin")))), Ok(()));
        assert_eq!(
            named.verdict(&claims(Some(json!("Billing")))),
            Err(ClaimMismatch::Value)
        );
    }

    #[test]
    fn misconfigured_role_guards_are_refused_with_the_reason() {
        let none: [&str; 0] = [];
        assert_eq!(
            RequireRoles::try_new("", "admin".into()).err(),
            Some(GuardError::EmptyClaimName)
        );
        assert_eq!(
            RequireRoles::try_new(ROLES, any_of(none)).err(),
            Some(GuardError::Empty)
        );
        for bad in ["", "admin\n", "a\u{0}b"] {
            assert_eq!(
                RequireRoles::try_new(ROLES, any_of(["admin", bad])).err(),
                Some(GuardError::InvalidRole(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "RequireRoles: a guard needs at least one")]
    fn an_empty_role_list_stops_the_route_table() {
        let _ = RequireRoles::any(ROLES, Vec::<String>::new());
    }
}
