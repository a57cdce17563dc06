//! The `actix-web-httpauth` middleware that authenticates a request and puts
//! its verified claims on it, in a required and an optional mode, and the
//! extractors handlers use to read them.

use std::future::{ready, Ready};
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use actix_web_httpauth::middleware::HttpAuthentication;
use futures_util::future::{Either, LocalBoxFuture};
use serde::de::DeserializeOwned;

use super::body::{ErrorBodyFormat, Refusal};
use super::claims::Claims;
use super::dpop::{DpopVerifier, ProofRequest, ReplayRefusal};
use super::error::{AuthError, ClaimCheck, ClaimMismatch, TokenError};
use super::policy::DpopMode;
use super::scheme::{
    parse_credentials, Challenge, Credentials, HeaderError, Scheme, DPOP, DPOP_NONCE,
};
use super::validator::{unix_now, CacheMiss, Rejection, Validator};

/// `Retry-After` of a 503 from the replay store: a store that timed out is
/// asked again by the next request anyway, and a full one frees slots every
/// second as windows close, so a short wait is the honest hint.
const REPLAY_STORE_RETRY_AFTER_SECS: u64 = 1;

/// Everything the middleware needs, built once and registered as
/// `web::Data<Authenticator>` so every worker shares it.
///
/// ```no_run
/// use actix_web::{web, App, HttpResponse, HttpServer};
/// use auth0_actix_api::auth::{
///     authentication, Authenticated, Authenticator, KeyCache, KeyCachePolicy,
///     ValidationPolicy, Validator,
/// };
///
/// # fn main() -> anyhow::Result<()> {
/// let issuer = "https://dev-abc123.us.auth0.com/";
/// // One key fetcher and one validator, shared by every worker.
/// let keys = KeyCache::start(KeyCachePolicy::new(issuer))?;
/// let validator = Validator::new(ValidationPolicy::new(issuer, vec!["https://my-api".into()]), keys);
/// let auth = web::Data::new(Authenticator::new(validator, "api"));
/// let server = HttpServer::new(move || {
///     App::new().app_data(auth.clone()).service(
///         web::resource("/api/private")
///             .wrap(authentication())
///             .route(web::get().to(|who: Authenticated| async move {
///                 HttpResponse::Ok().json(who.claims.sub.clone())
///             })),
///     )
/// });
/// # let _ = server;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Authenticator {
    validator: Validator,
    realm: Arc<str>,
    dpop: Option<Arc<DpopVerifier>>,
    body: Option<ErrorBodyFormat>,
}

impl Authenticator {
    /// An authenticator for `validator`, naming `realm` in its challenges.
    /// It accepts Bearer tokens only until [`Self::with_dpop`] adds DPoP.
    pub fn new(validator: Validator, realm: impl Into<Arc<str>>) -> Self {
        Self {
            validator,
            realm: realm.into(),
            dpop: None,
            body: None,
        }
    }

    /// The same authenticator answering refusals (400, 401, 403 and 503,
    /// from the middleware, the guards and the extractors) with the body
    /// `format` builds, instead of `{"error", "error_description"}`. Status,
    /// `WWW-Authenticate`, `Cache-Control: no-store` and `Retry-After` stay
    /// as RFC 6750 §3 and RFC 9449 §7.1 have them. See [`ErrorBodyFormat`].
    ///
    /// ```
    /// use actix_web::{test, web, App, HttpResponse};
    /// use auth0_actix_api::auth::keys::KeySet;
    /// use auth0_actix_api::auth::{
    ///     authentication, Algorithm, Authenticator, KeyCache, KeyCachePolicy, ValidationPolicy, Validator,
    /// };
    /// use serde_json::json;
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
    /// let auth = Authenticator::new(validator, "api").with_error_body(|refusal| {
    ///     json!({"error": "authentication_failed", "message": refusal.description, "details": refusal.error})
    /// });
    /// let app = test::init_service(App::new().app_data(web::Data::new(auth)).service(
    ///     web::resource("/private").wrap(authentication()).to(HttpResponse::Ok),
    /// ))
    /// .await;
    /// let response = test::call_service(&app, test::TestRequest::get().uri("/private").to_request()).await;
    /// assert_eq!(response.status(), 401);
    /// // The challenge is RFC 6750's, whatever the body says.
    /// assert_eq!(response.headers().get("www-authenticate").unwrap(), r#"Bearer realm="api""#);
    /// assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    /// let body: serde_json::Value = test::read_body_json(response).await;
    /// assert_eq!(body["error"], "authentication_failed");
    /// assert_eq!(body["details"], "unauthorized");
    /// # });
    /// ```
    pub fn with_error_body<F>(self, format: F) -> Self
    where
        F: Fn(&Refusal<'_>) -> serde_json::Value + Send + Sync + 'static,
    {
        self.with_error_body_format(ErrorBodyFormat::new(format))
    }

    /// [`Self::with_error_body`] with a format built already.
    pub fn with_error_body_format(mut self, format: ErrorBodyFormat) -> Self {
        self.body = Some(format);
        self
    }

    /// The same authenticator accepting DPoP-bound tokens (RFC 9449) as
    /// `dpop`'s policy says.
    pub fn with_dpop(mut self, dpop: DpopVerifier) -> Self {
        self.dpop = Some(Arc::new(dpop));
        self
    }

    /// The validator behind the middleware.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The DPoP verifier, when DPoP is configured.
    pub fn dpop(&self) -> Option<&DpopVerifier> {
        self.dpop.as_deref()
    }

    /// Which schemes are accepted.
    pub fn mode(&self) -> DpopMode {
        self.dpop.as_ref().map_or(DpopMode::Disabled, |d| d.mode())
    }

    /// A challenge for a request that used `scheme`, offering every scheme
    /// the mode accepts.
    pub fn challenge(&self, scheme: Scheme) -> Challenge {
        let mut challenge = Challenge::new(Arc::clone(&self.realm), scheme);
        if let Some(format) = &self.body {
            challenge = challenge.with_body_format(format.clone());
        }
        match &self.dpop {
            Some(dpop) if dpop.mode().accepts_dpop() => {
                challenge.with_dpop(dpop.algs(), dpop.mode().accepts_bearer())
            }
            _ => challenge,
        }
    }

    /// The scheme whose challenge carries an error when the client's own
    /// scheme is unknown: Bearer, unless only DPoP is accepted.
    pub fn default_scheme(&self) -> Scheme {
        if self.mode().accepts_bearer() {
            Scheme::Bearer
        } else {
            Scheme::DPoP
        }
    }

    /// Validates the token, then (DPoP scheme) the proof and its binding to
    /// the token, then the nonce, and records the proof against replays
    /// last, so a proof refused for any other reason does not use up its
    /// `jti`. Every failure is mapped to its HTTP answer.
    pub async fn authenticate(
        &self,
        request: &RequestCredentials,
    ) -> Result<Authenticated, AuthError> {
        let step = self.authenticate_cached(request);
        self.authenticate_rest(request, step).await
    }

    /// The synchronous first step of [`Self::authenticate`]: a Bearer token
    /// the verified-token cache vouches for is settled here, without a
    /// future, which is most requests of a client that repeats its token.
    pub(crate) fn authenticate_cached(&self, request: &RequestCredentials) -> Step {
        let scheme = request.credentials.scheme;
        match self.validator.cached(&request.credentials.token) {
            Err(miss) => Step::Validate(miss),
            Ok(claims) => match self.needs_proof(scheme, &claims) {
                Ok(false) => Step::Done(Ok(Authenticated { claims, scheme })),
                Ok(true) => Step::Proof(claims),
                Err(error) => Step::Done(Err(error)),
            },
        }
    }

    /// Whatever [`Self::authenticate_cached`] left to do.
    pub(crate) async fn authenticate_rest(
        &self,
        request: &RequestCredentials,
        step: Step,
    ) -> Result<Authenticated, AuthError> {
        let scheme = request.credentials.scheme;
        let claims = match step {
            Step::Done(outcome) => return outcome,
            Step::Proof(claims) => claims,
            Step::Validate(miss) => {
                let claims = self
                    .validator
                    .validate_uncached(&request.credentials.token, miss)
                    .await
                    .map_err(|rejection| match rejection {
                        Rejection::Token(reason) => self.invalid_token(scheme, reason),
                        Rejection::KeysUnavailable(k) => AuthError::KeysUnavailable {
                            retry_after_secs: k.retry_after_secs,
                            challenge: self.challenge(scheme),
                        },
                    })?;
                if !self.needs_proof(scheme, &claims)? {
                    return Ok(Authenticated { claims, scheme });
                }
                claims
            }
        };
        let Some(jkt) = claims.jkt.as_deref() else {
            return Err(self.invalid_token(scheme, TokenError::NotBound));
        };
        self.check_proof(request, jkt).await?;
        Ok(Authenticated { claims, scheme })
    }

    /// Whether a token with these claims, sent with `scheme`, still needs a
    /// DPoP proof checked; a mismatch of scheme and binding is refused.
    fn needs_proof(&self, scheme: Scheme, claims: &Claims) -> Result<bool, AuthError> {
        match (scheme, &claims.jkt) {
            (Scheme::Bearer, None) => Ok(false),
            // RFC 9449 §7.2: a token bound to a DPoP key is useless as a bearer token.
            (Scheme::Bearer, Some(_)) => {
                Err(self.invalid_token(scheme, TokenError::BoundTokenAsBearer))
            }
            // RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens only.
            (Scheme::DPoP, None) => Err(self.invalid_token(scheme, TokenError::NotBound)),
            (Scheme::DPoP, Some(_)) => Ok(true),
        }
    }

    /// An `invalid_token` refusal, with the challenge for `scheme`, built
    /// only for a refusal: the accepted path needs none.
    fn invalid_token(&self, scheme: Scheme, reason: TokenError) -> AuthError {
        AuthError::InvalidToken {
            reason,
            challenge: self.challenge(scheme),
        }
    }

    /// The DPoP half of [`Self::authenticate`]; its refusals carry the DPoP
    /// scheme's challenge, built only when there is one to send.
    async fn check_proof(&self, request: &RequestCredentials, jkt: &str) -> Result<(), AuthError> {
        let challenge = || self.challenge(Scheme::DPoP);
        let invalid_proof = |reason| AuthError::InvalidProof {
            reason,
            challenge: challenge(),
        };
        // The parser only yields the DPoP scheme when DPoP is configured and
        // a proof header is present; anything else is a malformed proof.
        let (Some(dpop), Some(proof)) = (&self.dpop, &request.credentials.proof) else {
            return Err(invalid_proof(super::error::ProofError::Malformed));
        };
        let now = unix_now();
        let checked = dpop
            .check(&ProofRequest {
                proof,
                method: request.method.as_str(),
                url: request.url.as_deref(),
                access_token: &request.credentials.token,
                now,
            })
            .map_err(invalid_proof)?;
        // RFC 9449 §4.3 check 12: the token is bound to this very key.
        if checked.jkt != jkt {
            return Err(self.invalid_token(Scheme::DPoP, TokenError::WrongKeyBinding));
        }
        dpop.check_nonce(&checked, now)
            .map_err(|nonce| AuthError::UseDpopNonce {
                nonce,
                challenge: challenge(),
            })?;
        dpop.check_replay(&checked, now)
            .await
            .map_err(|refusal| match refusal {
                ReplayRefusal::Proof(reason) => invalid_proof(reason),
                ReplayRefusal::Store(reason) => AuthError::ReplayStoreUnavailable {
                    reason,
                    retry_after_secs: REPLAY_STORE_RETRY_AFTER_SECS,
                    challenge: challenge(),
                },
            })
    }
}

/// How far the synchronous first step of authentication got.
#[derive(Debug)]
pub(crate) enum Step {
    /// Settled: accepted from the verified-token cache, or refused.
    Done(Result<Authenticated, AuthError>),
    /// The cache did not vouch for the token: every check is still to run.
    Validate(CacheMiss),
    /// A DPoP-bound token the cache vouched for: its proof is still to check.
    Proof(Arc<Claims>),
}

/// A request's verified identity, put on the request by the middleware.
///
/// As an extractor it answers 401 when the request has none: behind
/// [`authentication()`] a handler always finds it, and anywhere else the
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

fn authenticated(req: &HttpRequest) -> Option<Authenticated> {
    req.extensions().get::<Authenticated>().cloned()
}

/// Left on a request that [`authentication_optional()`] let through without
/// credentials, so that [`MaybeAuthenticated`] can tell "anonymous" from
/// "no authentication middleware on this route".
#[derive(Debug, Clone, Copy)]
struct Anonymous;

/// The caller's identity on a route wrapped with
/// [`authentication_optional()`]: `Some` for a caller with a valid token,
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
pub(super) fn challenge_for(req: &HttpRequest, scheme: Option<Scheme>) -> Challenge {
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
/// with [`MaybeAuthenticated`]), while one with credentials is
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
