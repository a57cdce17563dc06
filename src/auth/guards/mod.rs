//! Per-route requirements that answer 403: scopes and permissions, claim
//! values, roles and named predicates over the verified claims.
//!
//! A guard here is middleware, not an actix [`Guard`](actix_web::guard::Guard):
//! a failed actix guard means "this route does not match" (a 404), while a
//! token that lacks a permission must be told so with 403 and an
//! `insufficient_scope` challenge (RFC 6750 §3.1). Being middleware, a guard
//! also runs before the handler's extractors, so a caller without the
//! permission is refused before the request body is read or parsed.
//!
//! Wrap a guard inside the authentication middleware, on a resource, a scope
//! or a single route (`Route::wrap`, actix-web 4.1 and later): actix runs
//! the last `wrap` first, so
//! `web::resource("/x").wrap(guard).wrap(authentication())` authenticates,
//! then checks. A guard that finds no verified identity on the request (no
//! authentication middleware, or [`authentication_optional`] with an
//! anonymous caller) answers 401 with a bare challenge: it never lets an
//! unauthenticated request through.
//!
//! Every refusal is a 403 `insufficient_scope` (RFC 6750 §3.1: "the request
//! requires higher privileges than provided by the access token"), for claim
//! and role checks too; see [`AuthError::ClaimCheckFailed`] for why not the
//! 401 `invalid_token` of Auth0's Node SDK.
//!
//! [`authentication_optional`]: crate::auth::authentication_optional

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::HttpMessage;
use futures_util::future::{Either, FutureExt, Map};

use super::claims::Claims;
use super::error::{AuthError, ClaimCheck, ClaimMismatch};
use super::middleware::{challenge_for, Authenticated};
use super::scheme::Challenge;

mod claims;
mod requirement;
mod roles;
pub mod scope;

pub use claims::RequireClaim;
pub use requirement::{all_of, any_of, Requirement};
pub use roles::RequireRoles;
pub use scope::RequireScopes;

/// A guard that could not be enforced as written; found when the routes are
/// built, never on a request. Each message names what to fix.
///
/// ```
/// use auth0_actix_api::auth::guards::{any_of, GuardError, RequireRoles, RequireScopes};
///
/// // Permissions from configuration: report the error instead of panicking.
/// let configured = "read:messages write messages";
/// let error = RequireScopes::try_all(configured.split(',')).unwrap_err();
/// assert_eq!(error, GuardError::InvalidPermission("read:messages write messages".into()));
/// assert_eq!(error.to_string(), r#""read:messages write messages" is not a single scope token (RFC 6749 §3.3)"#);
///
/// // An empty group would let every token through.
/// let roles: Vec<String> = Vec::new(); // say, an unset setting
/// let error = RequireRoles::try_new("https://example.com/roles", any_of(roles)).unwrap_err();
/// assert_eq!(error, GuardError::Empty);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// A requirement, or a group inside one, lists nothing. "All of none"
    /// holds for every token, so an empty requirement would let every
    /// authenticated caller through.
    #[error("a guard needs at least one permission, role or value in each group: an empty requirement would let every token through")]
    Empty,
    /// A permission that is not one RFC 6749 §3.3 scope-token (empty, or
    /// holding a space, `"`, `\`, a control or a non-ASCII character). A
    /// token's `scope` is split on spaces, so `"read:a write:b"` could never
    /// be granted, and the challenge's `scope` attribute (RFC 6750 §3)
    /// cannot carry the others.
    #[error("{0:?} is not a single scope token (RFC 6749 §3.3)")]
    InvalidPermission(String),
    /// A role name that is empty or holds a control character. Role names
    /// may hold spaces (Auth0 allows them), so they are compared whole.
    #[error("{0:?} is not a role name: a role name is not empty and holds no control characters")]
    InvalidRole(String),
    /// A claim guard without a claim name.
    #[error("a claim guard needs the name of the claim it checks")]
    EmptyClaimName,
    /// A claim guard's expected value is an array or an object. Like Auth0's
    /// Node SDK, values are JSON primitives (RFC 8259 §3): an exact match of
    /// a structure is almost always a mistake, and a predicate
    /// ([`RequireClaim::check`]) says what is meant.
    #[error("the guard on claim {claim:?} expects {found}, but a claim guard compares with strings, numbers, booleans or null; use RequireClaim::check for anything else")]
    UnsupportedValue {
        /// The claim the guard is for.
        claim: String,
        /// The JSON type that was given (`"an array"`, `"an object"`).
        found: &'static str,
    },
    /// A claim predicate without a name: the name is what the logs say
    /// refused a request.
    #[error("a claim check needs a name, for the logs")]
    EmptyCheckName,
}

/// The per-request half of a guard: given the verified identity, `None`
/// lets the request through and `Some` is the refusal. The challenge is
/// built only for a refusal.
trait Check {
    /// What the logs call this guard: the claim or check name, never a
    /// claim value.
    fn name(&self) -> &str;

    fn refusal(
        &self,
        authenticated: &Authenticated,
        challenge: impl FnOnce() -> Challenge,
    ) -> Option<AuthError>;
}

/// A guard over one claim of the verified token (a value, a predicate, the
/// roles). Its refusal is a `ClaimCheckFailed` naming the kind of check and
/// the claim, never the claim's value.
trait ClaimGuard {
    /// The claim read, or the predicate's name.
    fn checked_claim(&self) -> &Arc<str>;

    /// The kind of check, as the refusal names it.
    fn kind(&self) -> ClaimCheck;

    /// `Ok` when the claims satisfy the guard, else why not.
    fn verdict(&self, claims: &Claims) -> Result<(), ClaimMismatch>;
}

impl<G: ClaimGuard> Check for G {
    fn name(&self) -> &str {
        self.checked_claim()
    }

    fn refusal(
        &self,
        authenticated: &Authenticated,
        challenge: impl FnOnce() -> Challenge,
    ) -> Option<AuthError> {
        let mismatch = self.verdict(&authenticated.claims).err()?;
        Some(AuthError::ClaimCheckFailed {
            check: self.kind(),
            claim: Arc::clone(self.checked_claim()),
            mismatch,
            challenge: challenge(),
        })
    }
}

/// The future of a guarded request: the inner service's, or a ready refusal.
/// Named rather than boxed, so a guard that lets a request through adds no
/// allocation to it.
pub type GuardFuture<F, B> = Either<
    Map<F, fn(Result<ServiceResponse<B>, actix_web::Error>) -> GuardResult<B>>,
    Ready<GuardResult<B>>,
>;

/// What a guarded request yields: the route's own response, or a refusal.
pub type GuardResult<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

/// The service a guard wraps around a resource, scope or route.
#[derive(Debug)]
pub struct GuardMiddleware<S, G> {
    service: S,
    guard: G,
}

/// Checks the request's verified identity with `guard`, then calls `service`
/// or answers the refusal.
fn guarded<S, B, G>(service: &S, guard: &G, req: ServiceRequest) -> GuardFuture<S::Future, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    G: Check,
{
    let extensions = req.extensions();
    let refusal = match extensions.get::<Authenticated>() {
        Some(authenticated) => guard.refusal(authenticated, || {
            challenge_for(req.request(), Some(authenticated.scheme))
        }),
        None => Some(AuthError::MissingCredentials {
            challenge: challenge_for(req.request(), None),
        }),
    };
    drop(extensions);
    match refusal {
        None => Either::Left(service.call(req).map(into_left::<B> as fn(_) -> _)),
        Some(error) => {
            // The guard's name and the refusal's label; never a claim value.
            log::debug!("request refused by {}: {}", guard.name(), error.label());
            Either::Right(ready(Ok(req.error_response(error).map_into_right_body())))
        }
    }
}

/// The route's own response, in the left half of the guard's body type.
fn into_left<B>(outcome: Result<ServiceResponse<B>, actix_web::Error>) -> GuardResult<B> {
    outcome.map(ServiceResponse::map_into_left_body)
}

impl<S, B, G> Service<ServiceRequest> for GuardMiddleware<S, G>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    G: Check,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = GuardFuture<S::Future, B>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        guarded(&self.service, &self.guard, req)
    }
}

/// The `Transform` impl of a guard type. A macro, not one generic impl:
/// `Transform` is actix's trait, so it can only be implemented for each of
/// our types by name (the orphan rule).
macro_rules! guard_middleware {
    ($guard:ty) => {
        impl<S, B> actix_web::dev::Transform<S, ServiceRequest> for $guard
        where
            S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>
                + 'static,
            B: MessageBody + 'static,
        {
            type Response = ServiceResponse<EitherBody<B>>;
            type Error = actix_web::Error;
            type Transform = GuardMiddleware<S, $guard>;
            type InitError = ();
            type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

            fn new_transform(&self, service: S) -> Self::Future {
                std::future::ready(Ok(GuardMiddleware {
                    service,
                    guard: self.clone(),
                }))
            }
        }
    };
}

guard_middleware!(RequireScopes);
guard_middleware!(RequireClaim);
guard_middleware!(RequireRoles);
