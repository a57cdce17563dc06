//! Per-route permission requirements: all-of, any-of and nested
//! combinations of permissions, each found in the token's `scope` or in
//! Auth0 RBAC's `permissions`. A missing permission is a 403
//! `insufficient_scope` (RFC 6750 §3.1), so this is middleware, not an actix
//! `Guard` (a failed guard would be a 404).

use std::sync::Arc;

use super::requirement::Requirement;
use super::{Check, GuardError};
use crate::auth::claims::Claims;
use crate::auth::error::AuthError;
use crate::auth::middleware::Authenticated;
use crate::auth::scheme::Challenge;

/// A permission requirement that could not be enforced as written. The
/// scope guard's name for [`GuardError`], kept for existing callers.
pub type ScopeError = GuardError;

/// Middleware that lets a request through only when its verified token
/// grants the permissions the route needs, in `scope` (a space-delimited
/// string or an array) or in `permissions` (Auth0 RBAC). Wrap it inside the
/// authentication middleware (`.wrap(scopes).wrap(authentication())`), on a
/// resource, a scope or a single route.
///
/// A refusal is a 403 whose challenge names what would have sufficed
/// (RFC 6750 §3): `scope` is every permission the requirement mentions,
/// space-delimited, each once, in the order written. Holding all of them
/// always satisfies the requirement, whatever its nesting, so a client that
/// asks its authorization server for that list gets a token that works; it
/// also names every alternative, where picking one "smallest" set would
/// hide the others. The exact structure goes in `error_description`, in
/// words: `(read:messages or read:all) and write:messages`.
///
/// ```
/// use auth0_actix_api::auth::guards::{all_of, any_of, RequireScopes};
/// use auth0_actix_api::auth::Claims;
///
/// let guard = RequireScopes::new(all_of([
///     any_of(["read:messages", "read:all"]),
///     "write:messages".into(),
/// ]));
/// assert_eq!(guard.scope(), "read:messages read:all write:messages");
/// assert_eq!(guard.needs(), "(read:messages or read:all) and write:messages");
///
/// let claims = |extra: &str| {
///     let payload = format!(r#"{{"iss":"i","aud":"a","exp":2,"iat":1,{extra}}}"#);
///     Claims::from_payload(payload.as_bytes()).unwrap()
/// };
/// // A permission counts in `scope` or in Auth0's `permissions`.
/// assert!(guard.is_satisfied_by(&claims(r#""scope":"read:all","permissions":["write:messages"]"#)));
/// assert!(!guard.is_satisfied_by(&claims(r#""scope":"read:all read:messages""#)));
/// ```
#[derive(Debug, Clone)]
pub struct RequireScopes {
    requirement: Arc<Requirement>,
    /// The challenge's `scope` attribute, built once rather than per refusal.
    scope: Arc<str>,
    /// The requirement in words, for `error_description`, built once too.
    needs: Arc<str>,
}

impl RequireScopes {
    /// Requires every one of `permissions`.
    ///
    /// # Panics
    ///
    /// When `permissions` is empty or one of them is not a scope token (see
    /// [`GuardError`]). Routes are built at start-up, so this is a mistake
    /// in the route table that stops the service before it serves anything,
    /// never a panic on a request; the failure it replaces let every token
    /// through. For permissions that come from configuration, use
    /// [`Self::try_all`] and report the error.
    pub fn all<I: IntoIterator<Item = S>, S: Into<String>>(permissions: I) -> Self {
        Self::try_all(permissions).unwrap_or_else(|e| panic!("RequireScopes::all: {e}"))
    }

    /// Requires at least one of `permissions`.
    ///
    /// # Panics
    ///
    /// As [`Self::all`]; [`Self::try_any`] returns the error instead.
    pub fn any<I: IntoIterator<Item = S>, S: Into<String>>(permissions: I) -> Self {
        Self::try_any(permissions).unwrap_or_else(|e| panic!("RequireScopes::any: {e}"))
    }

    /// Requires `requirement`, which may nest all-of and any-of groups
    /// (see [`all_of`](super::all_of) and [`any_of`](super::any_of)).
    ///
    /// # Panics
    ///
    /// As [`Self::all`], when a group is empty or a permission is not a
    /// scope token; [`Self::try_new`] returns the error instead.
    pub fn new(requirement: Requirement) -> Self {
        Self::try_new(requirement).unwrap_or_else(|e| panic!("RequireScopes::new: {e}"))
    }

    /// Requires every one of `permissions`, which must be at least one
    /// scope token.
    pub fn try_all<I: IntoIterator<Item = S>, S: Into<String>>(
        permissions: I,
    ) -> Result<Self, GuardError> {
        Self::try_new(Requirement::all_names(permissions))
    }

    /// Requires at least one of `permissions`, which must be at least one
    /// scope token.
    pub fn try_any<I: IntoIterator<Item = S>, S: Into<String>>(
        permissions: I,
    ) -> Result<Self, GuardError> {
        Self::try_new(Requirement::any_names(permissions))
    }

    /// Requires `requirement`; every group must list something and every
    /// permission must be one RFC 6749 §3.3 scope token.
    pub fn try_new(requirement: Requirement) -> Result<Self, GuardError> {
        requirement.check(is_scope_token, GuardError::InvalidPermission)?;
        let scope: Vec<&str> = requirement.names().collect();
        Ok(Self {
            scope: scope.join(" ").into(),
            needs: requirement.to_string().into(),
            requirement: Arc::new(requirement),
        })
    }

    /// Whether `claims` satisfy this requirement. Allocates nothing.
    pub fn is_satisfied_by(&self, claims: &Claims) -> bool {
        self.requirement.is_met_by(|p| claims.has_permission(p))
    }

    /// The permissions that would satisfy the route, space-delimited, for
    /// the challenge's `scope` attribute (RFC 6750 §3): every permission the
    /// requirement mentions, each once.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The requirement in words, as `error_description` gives it.
    pub fn needs(&self) -> &str {
        &self.needs
    }

    /// The requirement as built.
    pub fn requirement(&self) -> &Requirement {
        &self.requirement
    }
}

impl Check for RequireScopes {
    fn name(&self) -> &str {
        "scopes"
    }

    fn refusal(
        &self,
        authenticated: &Authenticated,
        challenge: impl FnOnce() -> Challenge,
    ) -> Option<AuthError> {
        (!self.is_satisfied_by(&authenticated.claims)).then(|| AuthError::InsufficientScope {
            required: Arc::clone(&self.scope),
            needs: Arc::clone(&self.needs),
            challenge: challenge(),
        })
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(permission: &str) -> bool {
    !permission.is_empty()
        && permission
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::guards::{all_of, any_of};

    fn claims(scope: &str) -> Claims {
        let payload =
            serde_json::json!({"iss": "i", "aud": "a", "exp": 2, "iat": 1, "scope": scope});
        Claims::from_payload(payload.to_string().as_bytes()).unwrap()
    }

    #[test]
    #[should_panic(expected = "at least one permission")]
    fn an_empty_all_requirement_is_refused_at_construction() {
        // "All of none" holds for every token: it must not be a requirement.
        let _ = RequireScopes::all(Vec::<String>::new());
    }

    #[test]
    #[should_panic(expected = "at least one permission")]
    fn an_empty_any_requirement_is_refused_at_construction() {
        let _ = RequireScopes::any(Vec::<String>::new());
    }

    #[test]
    #[should_panic(expected = "at least one permission")]
    fn an_empty_nested_group_is_refused_at_construction() {
        let none: [&str; 0] = [];
        let _ = RequireScopes::new(all_of([any_of(none), "read:messages".into()]));
    }

    #[test]
    fn try_constructors_name_what_cannot_be_enforced() {
        let none: [&str; 0] = [];
        assert_eq!(RequireScopes::try_all(none).err(), Some(ScopeError::Empty));
        assert_eq!(RequireScopes::try_any(none).err(), Some(ScopeError::Empty));
        for bad in [
            "",
            "read:a write:b",
            "read\"a",
            "read\\a",
            "tab\there",
            "caf\u{e9}",
        ] {
            assert_eq!(
                RequireScopes::try_all(["read:messages", bad]).err(),
                Some(ScopeError::InvalidPermission(bad.to_owned())),
                "{bad:?}"
            );
            assert_eq!(
                RequireScopes::try_new(any_of([all_of([bad]), "read:messages".into()])).err(),
                Some(ScopeError::InvalidPermission(bad.to_owned())),
                "{bad:?} nested"
            );
        }
        let both = RequireScopes::try_all(["read:messages", "write:messages"]).unwrap();
        assert_eq!(both.scope(), "read:messages write:messages");
        assert_eq!(both.needs(), "read:messages and write:messages");
        assert!(both.is_satisfied_by(&claims("write:messages read:messages")));
        assert!(!both.is_satisfied_by(&claims("read:messages")));
        let either = RequireScopes::try_any(["read:messages", "write:messages"]).unwrap();
        assert_eq!(either.scope(), "read:messages write:messages");
        assert_eq!(either.needs(), "read:messages or write:messages");
        assert!(either.is_satisfied_by(&claims("write:messages")));
        assert!(!either.is_satisfied_by(&claims("")));
    }

    #[test]
    fn a_nested_requirement_lists_each_permission_once_in_its_scope() {
        let guard = RequireScopes::new(any_of([
            all_of(["read:a", "write:a"]),
            all_of(["read:a", "admin"]),
        ]));
        assert_eq!(guard.scope(), "read:a write:a admin");
        assert_eq!(guard.needs(), "(read:a and write:a) or (read:a and admin)");
        assert!(guard.is_satisfied_by(&claims("admin read:a")));
        assert!(!guard.is_satisfied_by(&claims("admin write:a")));
        // Holding every listed permission always satisfies the requirement.
        assert!(guard.is_satisfied_by(&claims(guard.scope())));
    }
}
