//! Per-route permission requirements. A missing permission is a 403
//! `insufficient_scope` (RFC 6750 §3.1), so this is middleware, not an actix
//! `Guard` (a failed guard would be a 404).

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;

use super::claims::Claims;
use super::error::AuthError;
use super::middleware::{challenge_for, Authenticated};

/// Whether a route needs all of its permissions or any one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Every listed permission (the reference SDK's meaning).
    All,
    /// At least one listed permission.
    Any,
}

/// Middleware that lets a request through only when its verified token
/// grants the listed permissions, in `scope` or `permissions`. Wrap it
/// inside the authentication middleware (`.wrap(scopes).wrap(auth)`).
#[derive(Debug, Clone)]
pub struct RequireScopes {
    permissions: Arc<[String]>,
    requirement: Requirement,
    /// The permissions joined for the challenge, once rather than per refusal.
    scope: Arc<str>,
}

/// A permission requirement that could not be enforced as written; found
/// when the routes are built, never on a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// No permission was listed. "All of none" holds for every token, so an
    /// empty requirement would let every authenticated caller through.
    #[error("a scope requirement needs at least one permission")]
    Empty,
    /// A permission that is not one RFC 6749 §3.3 scope-token (empty, or
    /// holding a space, `"`, `\`, a control or a non-ASCII character). A
    /// token's `scope` is split on spaces, so `"read:a write:b"` could never
    /// be granted, and the challenge's `scope` attribute (RFC 6750 §3)
    /// cannot carry the others.
    #[error("{0:?} is not a single scope token (RFC 6749 §3.3)")]
    InvalidPermission(String),
}

impl RequireScopes {
    /// Requires every one of `permissions`.
    ///
    /// # Panics
    ///
    /// When `permissions` is empty or one of them is not a scope token (see
    /// [`ScopeError`]). Routes are built at start-up, so this is a mistake
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

    /// Requires every one of `permissions`, which must be at least one
    /// scope token.
    pub fn try_all<I: IntoIterator<Item = S>, S: Into<String>>(
        permissions: I,
    ) -> Result<Self, ScopeError> {
        Self::new(permissions, Requirement::All)
    }

    /// Requires at least one of `permissions`, which must be at least one
    /// scope token.
    pub fn try_any<I: IntoIterator<Item = S>, S: Into<String>>(
        permissions: I,
    ) -> Result<Self, ScopeError> {
        Self::new(permissions, Requirement::Any)
    }

    fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        permissions: I,
        requirement: Requirement,
    ) -> Result<Self, ScopeError> {
        let permissions: Arc<[String]> = permissions.into_iter().map(Into::into).collect();
        if permissions.is_empty() {
            return Err(ScopeError::Empty);
        }
        if let Some(bad) = permissions.iter().find(|p| !is_scope_token(p)) {
            return Err(ScopeError::InvalidPermission(bad.clone()));
        }
        Ok(Self {
            scope: permissions.join(" ").into(),
            permissions,
            requirement,
        })
    }

    /// Whether `claims` satisfy this requirement.
    pub fn is_satisfied_by(&self, claims: &Claims) -> bool {
        match self.requirement {
            Requirement::All => self.permissions.iter().all(|p| claims.has_permission(p)),
            Requirement::Any => self.permissions.iter().any(|p| claims.has_permission(p)),
        }
    }

    /// The permissions that would satisfy the route, space-delimited, for
    /// the challenge's `scope` attribute.
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(permission: &str) -> bool {
    !permission.is_empty()
        && permission
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl<S, B> Transform<S, ServiceRequest> for RequireScopes
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopesMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopesMiddleware {
            service: Rc::new(service),
            requirement: self.clone(),
        }))
    }
}

/// The service [`RequireScopes`] wraps around a route.
#[derive(Debug)]
pub struct RequireScopesMiddleware<S> {
    service: Rc<S>,
    requirement: RequireScopes,
}

impl<S, B> Service<ServiceRequest> for RequireScopesMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let challenge = |scheme| challenge_for(req.request(), scheme);
        let extensions = req.extensions();
        let refusal = match extensions.get::<Authenticated>() {
            Some(a) if self.requirement.is_satisfied_by(&a.claims) => None,
            Some(a) => Some(AuthError::InsufficientScope {
                required: Arc::clone(&self.requirement.scope),
                challenge: challenge(Some(a.scheme)),
            }),
            None => Some(AuthError::MissingCredentials {
                challenge: challenge(None),
            }),
        };
        drop(extensions);
        if let Some(error) = refusal {
            log::debug!("request refused: {}", error.label());
            return Box::pin(ready(Ok(req.error_response(error).map_into_right_body())));
        }
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
        let both = RequireScopes::try_all(["read:messages", "write:messages"]).unwrap();
        assert_eq!(both.scope(), "read:messages write:messages");
        assert!(both.is_satisfied_by(&claims("write:messages read:messages")));
        assert!(!both.is_satisfied_by(&claims("read:messages")));
        let either = RequireScopes::try_any(["read:messages", "write:messages"]).unwrap();
        assert!(either.is_satisfied_by(&claims("write:messages")));
        assert!(!either.is_satisfied_by(&claims("")));
    }
}
