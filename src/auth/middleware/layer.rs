//! The middleware itself: `actix-web-httpauth`'s `HttpAuthentication` with
//! our extractor and validation function, in a required and an optional
//! mode, plus the `DPoP-Nonce` on every answer.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpMessage};
use actix_web_httpauth::middleware::HttpAuthentication;
use futures_util::future::{Either, LocalBoxFuture};

use super::extractors::{challenge_for, Anonymous};
use super::{Authenticated, Authenticator, PresentedCredentials, RequestCredentials, Step};
use crate::auth::error::AuthError;
use crate::auth::scheme::DPOP_NONCE;
use crate::auth::validator::unix_now;

/// What the middleware's validation function hands back to
/// `actix-web-httpauth`: the request, or the refusal with the request.
pub type AuthResult = Result<ServiceRequest, (actix_web::Error, ServiceRequest)>;

/// The future the middleware's validation function returns: ready at once
/// when the first, synchronous step settles the request, boxed otherwise.
pub type AuthFuture = Either<Ready<AuthResult>, LocalBoxFuture<'static, AuthResult>>;

type Validate = fn(ServiceRequest, PresentedCredentials) -> AuthFuture;

type Inner = HttpAuthentication<PresentedCredentials, Validate>;

/// The authentication middleware: `actix-web-httpauth`'s
/// `HttpAuthentication` with our extractor and validation function, plus a
/// fresh `DPoP-Nonce` on every answer when server nonces are on (RFC 9449
/// §8.2: a server may send one in any response, which spares clients the
/// `use_dpop_nonce` round trip once they have one). Built by
/// [`authentication()`] or [`authentication_optional()`].
#[derive(Clone)]
pub struct Authentication {
    inner: Inner,
    optional: bool,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authentication")
            .field("optional", &self.optional)
            .finish()
    }
}

/// The authentication middleware. Wrap each protected resource (or scope,
/// or route) with it; it needs `web::Data<Authenticator>` in the app. A
/// request without credentials is refused with 401 and a bare challenge
/// (RFC 6750 §3.1); bad credentials with 400, 401 or 503 as
/// [`AuthError`] says; a valid token puts [`Authenticated`] on the request.
///
/// ```
/// use actix_web::{test, web, App, HttpResponse};
/// use auth0_actix_api::auth::keys::KeySet;
/// use auth0_actix_api::auth::{
///     authentication, Algorithm, Authenticator, KeyCache, KeyCachePolicy, ValidationPolicy, Validator,
/// };
///
/// # actix_web::rt::System::new().block_on(async {
/// let issuer = "https://tenant.example/";
/// // The public key of RFC 7517 Appendix A.1; no token here needs it.
/// let jwks = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"1",
///   "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;
/// let (keys, _) = KeySet::from_jwks(jwks, &[Algorithm::ES256]).unwrap();
/// let validator = Validator::new(
///     ValidationPolicy::new(issuer, vec!["https://api".into()]),
///     KeyCache::with_keys(KeyCachePolicy::new(issuer), keys),
/// );
/// let app = test::init_service(
///     App::new()
///         .app_data(web::Data::new(Authenticator::new(validator, "api")))
///         .route("/public", web::get().to(HttpResponse::Ok))
///         .service(web::resource("/private").wrap(authentication()).to(HttpResponse::Ok)),
/// )
/// .await;
/// let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();
/// assert_eq!(test::call_service(&app, get("/public")).await.status(), 200);
/// let refused = test::call_service(&app, get("/private")).await;
/// assert_eq!(refused.status(), 401);
/// // No credentials: a bare challenge, no error code (RFC 6750 §3.1).
/// assert_eq!(refused.headers().get("www-authenticate").unwrap(), r#"Bearer realm="api""#);
/// # });
/// ```
pub fn authentication() -> Authentication {
    Authentication {
        inner: HttpAuthentication::with_fn(authenticate_required as Validate),
        optional: false,
    }
}

/// The authentication middleware for routes open to anonymous callers: a
/// request with no credentials at all goes through anonymously (read it
/// with [`MaybeAuthenticated`](super::MaybeAuthenticated)), while one with credentials is
/// authenticated exactly as by [`authentication()`], so a bad, expired or
/// unsupported credential is still a 401 (or 400), never a silent
/// downgrade to anonymous. Guards behind it refuse an anonymous caller with
/// 401.
pub fn authentication_optional() -> Authentication {
    Authentication {
        inner: HttpAuthentication::with_fn(authenticate_optional as Validate),
        optional: true,
    }
}

impl<S, B> Transform<S, ServiceRequest> for Authentication
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AuthenticationMiddleware<<Inner as Transform<S, ServiceRequest>>::Transform>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let inner = self.inner.new_transform(service);
        Box::pin(async move {
            inner.await.map(|service| AuthenticationMiddleware {
                service: Rc::new(service),
            })
        })
    }
}

/// The service [`Authentication`] wraps around a route.
#[derive(Debug)]
pub struct AuthenticationMiddleware<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for AuthenticationMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Either<S::Future, LocalBoxFuture<'static, Result<Self::Response, Self::Error>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let dpop = req
            .app_data::<web::Data<Authenticator>>()
            .and_then(|a| a.dpop.as_ref())
            .filter(|d| d.issues_nonces())
            .map(Arc::clone);
        // Without server nonces there is no header to add: no extra future
        // and no clock read per request.
        let Some(dpop) = dpop else {
            return Either::Left(self.service.call(req));
        };
        let service = Rc::clone(&self.service);
        Either::Right(Box::pin(async move {
            let mut response = service.call(req).await?;
            let nonce = dpop.fresh_nonce(unix_now());
            if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                // A use_dpop_nonce answer already carries the nonce it asks for.
                if !response.headers().contains_key(DPOP_NONCE) {
                    response.headers_mut().insert(DPOP_NONCE, value);
                }
            }
            Ok(response)
        }))
    }
}

/// The required mode: a request without credentials is refused.
fn authenticate_required(req: ServiceRequest, presented: PresentedCredentials) -> AuthFuture {
    match presented.0 {
        Some(credentials) => authenticate(req, credentials),
        None => {
            let error = AuthError::MissingCredentials {
                challenge: challenge_for(req.request(), None),
            };
            log::debug!("request refused: {}", error.label());
            Either::Left(ready(Err((error.into(), req))))
        }
    }
}

/// The optional mode: a request without credentials goes on anonymously.
fn authenticate_optional(req: ServiceRequest, presented: PresentedCredentials) -> AuthFuture {
    match presented.0 {
        Some(credentials) => authenticate(req, credentials),
        None => {
            req.extensions_mut().insert(Anonymous);
            Either::Left(ready(Ok(req)))
        }
    }
}

fn authenticate(req: ServiceRequest, credentials: RequestCredentials) -> AuthFuture {
    let Some(authenticator) = req.app_data::<web::Data<Authenticator>>() else {
        log::error!("the authentication middleware is used without web::Data<Authenticator>");
        let error = actix_web::error::ErrorInternalServerError("authentication is not configured");
        return Either::Left(ready(Err((error, req))));
    };
    match authenticator.authenticate_cached(&credentials) {
        Step::Done(outcome) => Either::Left(ready(settle(req, outcome))),
        step => {
            let authenticator = web::Data::clone(authenticator);
            Either::Right(Box::pin(async move {
                let outcome = authenticator.authenticate_rest(&credentials, step).await;
                settle(req, outcome)
            }))
        }
    }
}

/// Puts the outcome on the request: the identity for the handler, or the
/// refusal's label for logs and metrics.
fn settle(req: ServiceRequest, outcome: Result<Authenticated, AuthError>) -> AuthResult {
    match outcome {
        Ok(authenticated) => {
            req.extensions_mut().insert(authenticated);
            Ok(req)
        }
        Err(error) => {
            log::debug!("request refused: {}", error.label());
            req.extensions_mut().insert(AuthOutcome(error.label()));
            Err((error.into(), req))
        }
    }
}

/// The label of why authentication failed, left on the request for logs and metrics.
#[derive(Debug, Clone, Copy)]
pub struct AuthOutcome(pub &'static str);
