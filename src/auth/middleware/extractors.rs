//! The extractors handlers use to read the verified identity
//! ([`Authenticated`], [`MaybeAuthenticated`], [`TypedClaims`]) and the ones
//! the middleware reads credentials with ([`RequestCredentials`],
//! [`PresentedCredentials`]).

use std::future::{ready, Ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

use super::Authenticator;
use crate::auth::claims::Claims;
use crate::auth::error::{AuthError, ClaimCheck, ClaimMismatch};
use crate::auth::policy::DpopMode;
use crate::auth::scheme::{parse_credentials, Challenge, Credentials, HeaderError, Scheme, DPOP};

/// A request's verified identity, put on the request by the middleware.
///
/// As an extractor it answers 401 when the request has none: behind
/// [`authentication()`](super::authentication) a handler always finds it, and anywhere else the
/// caller is refused rather than treated as anonymous. For routes open to
/// anonymous callers, see [`MaybeAuthenticated`].
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The token's verified claims. Custom claims can be read as the app's
    /// own type with [`Claims::typed`] (or the [`TypedClaims`] extractor),
    /// without decoding the token again.
    pub claims: Arc<Claims>,
    /// The scheme the client authenticated with.
    pub scheme: Scheme,
}

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    /// Handlers behind the middleware always find it; anywhere else this
    /// answers 401 rather than treating the caller as anonymous.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            authenticated(req).ok_or_else(|| AuthError::MissingCredentials {
                challenge: challenge_for(req, None),
            }),
        )
    }
}

/// The identity the middleware left on the request, if any.
fn authenticated(req: &HttpRequest) -> Option<Authenticated> {
    req.extensions().get::<Authenticated>().cloned()
}

/// Left on a request that [`authentication_optional()`](super::authentication_optional) let through without
/// credentials, so that [`MaybeAuthenticated`] can tell "anonymous" from
/// "no authentication middleware on this route".
#[derive(Debug, Clone, Copy)]
pub(super) struct Anonymous;

/// The caller's identity on a route wrapped with
/// [`authentication_optional()`](super::authentication_optional): `Some` for a caller with a valid token,
/// `None` for one that sent no credentials at all. A caller whose
/// credentials are bad never gets here: the middleware answers 401 (or 400)
/// as on a protected route, so a broken token is never silently treated as
/// anonymous.
///
/// Used on a route without either authentication middleware, it answers 500
/// and logs why: that is a mistake in the route table, and answering
/// "anonymous" would hide it while ignoring every token.
///
/// ```
/// use actix_web::{test, web, App, HttpResponse};
/// use auth0_actix_api::auth::keys::KeySet;
/// use auth0_actix_api::auth::{
///     authentication_optional, Algorithm, Authenticator, KeyCache, KeyCachePolicy,
///     MaybeAuthenticated, ValidationPolicy, Validator,
/// };
///
/// # actix_web::rt::System::new().block_on(async {
/// let issuer = "https://tenant.example/";
/// // The public key of RFC 7517 Appendix A.1; no token here needs it.
/// let jwks = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"1",
///   "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;
/// let (keys, _) = KeySet::from_jwks(jwks, &[Algorithm::ES256]).unwrap();
/// let keys = KeyCache::with_keys(KeyCachePolicy::new(issuer), keys);
/// let validator = Validator::new(ValidationPolicy::new(issuer, vec!["https://api".into()]), keys);
/// let app = test::init_service(
///     App::new()
///         .app_data(web::Data::new(Authenticator::new(validator, "api")))
///         .service(web::resource("/greeting").wrap(authentication_optional()).route(web::get().to(
///             |who: MaybeAuthenticated| async move {
///                 match who.0 {
///                     Some(who) => HttpResponse::Ok().body(format!("hello {:?}", who.claims.sub)),
///                     None => HttpResponse::Ok().body("hello stranger"),
///                 }
///             },
///         ))),
/// )
/// .await;
///
/// // No credentials: the handler runs anonymously.
/// let response = test::call_service(&app, test::TestRequest::get().uri("/greeting").to_request()).await;
/// assert_eq!(response.status(), 200);
/// assert_eq!(test::read_body(response).await, "hello stranger");
///
/// // Bad credentials: 401, as on a protected route.
/// let request = test::TestRequest::get()
///     .uri("/greeting")
///     .insert_header(("Authorization", "Bearer not-a-token"))
///     .to_request();
/// let response = test::call_service(&app, request).await;
/// assert_eq!(response.status(), 401);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequest for MaybeAuthenticated {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(authenticated) = authenticated(req) {
            return ready(Ok(Self(Some(authenticated))));
        }
        if req.extensions().contains::<Anonymous>() {
            return ready(Ok(Self(None)));
        }
        log::error!(
            "MaybeAuthenticated is used on a route without authentication_optional() or authentication(); wrap the route with one"
        );
        ready(Err(actix_web::error::ErrorInternalServerError(
            "authentication is not configured for this route",
        )))
    }
}

/// The verified token's claims read as the handler's own type `T` (see
/// [`Claims::typed`]): read once per verified token, so a remembered token
/// costs no parsing. Dereferences to `T`.
///
/// Without a verified identity this answers 401, like [`Authenticated`];
/// when the claims do not fit `T` (a required claim missing, a claim of
/// another type) it answers 403 `insufficient_scope`, since the token is
/// valid but does not carry what this endpoint needs. Neither answer quotes
/// the claims.
///
/// ```
/// use auth0_actix_api::auth::TypedClaims;
/// use actix_web::HttpResponse;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Tenant {
///     #[serde(rename = "https://example.com/tenant")]
///     tenant: String,
/// }
///
/// async fn handler(claims: TypedClaims<Tenant>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("tenant {}", claims.tenant))
/// }
/// # let _ = actix_web::web::get().to(handler);
/// ```
#[derive(Debug)]
pub struct TypedClaims<T>(pub Arc<T>);

impl<T> Clone for TypedClaims<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for TypedClaims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> FromRequest for TypedClaims<T> {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = req.extensions();
        let outcome = match extensions.get::<Authenticated>() {
            None => Err(AuthError::MissingCredentials {
                challenge: challenge_for(req, None),
            }),
            Some(authenticated) => authenticated
                .claims
                .typed::<T>()
                .map(Self)
                .map_err(|shape| {
                    log::debug!("request refused: the claims do not fit {}", shape.type_name);
                    AuthError::ClaimCheckFailed {
                        check: ClaimCheck::Shape,
                        claim: Arc::from(shape.type_name),
                        mismatch: ClaimMismatch::WrongType,
                        challenge: challenge_for(req, Some(authenticated.scheme)),
                    }
                }),
        };
        ready(outcome)
    }
}

/// The challenge for a request made with `scheme` (`None`: the scheme the
/// service prefers), from the app's authenticator or the defaults.
pub(in crate::auth) fn challenge_for(req: &HttpRequest, scheme: Option<Scheme>) -> Challenge {
    match req.app_data::<web::Data<Authenticator>>() {
        Some(auth) => auth.challenge(scheme.unwrap_or_else(|| auth.default_scheme())),
        None => Challenge::new(Arc::from("api"), scheme.unwrap_or(Scheme::Bearer)),
    }
}

/// The credentials of a request, as the middleware's extractor reads them,
/// with what a DPoP proof is checked against. Extraction fails (and the
/// middleware answers) for missing or malformed credentials, before any
/// token work.
#[derive(Debug, Clone)]
pub struct RequestCredentials {
    /// The token, and the proof with the DPoP scheme.
    pub credentials: Credentials,
    /// The request's method, for the proof's `htm`.
    pub method: Method,
    /// The request's URL in normal form, for the proof's `htu`; only worked
    /// out for the DPoP scheme, and `None` when it cannot be.
    pub url: Option<String>,
}

impl RequestCredentials {
    /// Reads the credentials of `req`, with what its proof is checked against.
    fn read(req: &HttpRequest) -> Result<Self, HeaderError> {
        let authenticator = req.app_data::<web::Data<Authenticator>>();
        let mode = authenticator.map_or(DpopMode::Disabled, |a| a.mode());
        parse_credentials(req.headers(), req.query_string(), mode).map(|credentials| {
            let url = match (credentials.scheme, authenticator.and_then(|a| a.dpop())) {
                (Scheme::DPoP, Some(dpop)) => dpop.request_url(req),
                _ => None,
            };
            RequestCredentials {
                credentials,
                method: req.method().clone(),
                url,
            }
        })
    }
}

/// The refusal for credentials that cannot be used.
fn header_refusal(req: &HttpRequest, error: HeaderError) -> AuthError {
    match error {
        HeaderError::Missing => AuthError::MissingCredentials {
            challenge: challenge_for(req, None),
        },
        HeaderError::Malformed { reason, scheme } => AuthError::InvalidRequest {
            reason,
            challenge: challenge_for(req, scheme),
        },
    }
}

impl FromRequest for RequestCredentials {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::read(req).map_err(|e| header_refusal(req, e)))
    }
}

/// The credentials a request presents: `None` when it carries none at all
/// (no `Authorization` header, no `DPoP` header, no token in the query), so
/// that the optional mode can let it through; every other problem is the
/// refusal the required mode gives. A header with a scheme we do not accept
/// (`Basic`) is not "none": the client meant to authenticate, so it gets a
/// 401 with the challenge rather than an anonymous answer.
#[derive(Debug, Clone)]
pub struct PresentedCredentials(pub Option<RequestCredentials>);

impl FromRequest for PresentedCredentials {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match RequestCredentials::read(req) {
            Ok(credentials) => Ok(Self(Some(credentials))),
            Err(HeaderError::Missing)
                if !req.headers().contains_key(AUTHORIZATION)
                    && !req.headers().contains_key(DPOP) =>
            {
                Ok(Self(None))
            }
            Err(e) => Err(header_refusal(req, e)),
        })
    }
}
