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

impl RequireScopes {
    /// Requires every one of `permissions`.
    pub fn all<I: IntoIterator<Item = S>, S: Into<String>>(permissions: I) -> Self {
        Self::new(permissions, Requirement::All)
    }

    /// Requires at least one of `permissions`.
    pub fn any<I: IntoIterator<Item = S>, S: Into<String>>(permissions: I) -> Self {
        Self::new(permissions, Requirement::Any)
    }

    fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        permissions: I,
        requirement: Requirement,
    ) -> Self {
        let permissions: Arc<[String]> = permissions.into_iter().map(Into::into).collect();
        Self {
            scope: permissions.join(" ").into(),
            permissions,
            requirement,
        }
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
