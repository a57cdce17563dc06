//! The `actix-web-httpauth` middleware that authenticates a request and puts
//! its verified claims on it, and the extractor handlers use to read them.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::HeaderValue;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use actix_web_httpauth::middleware::HttpAuthentication;
use futures_util::future::{Either, LocalBoxFuture};

use super::claims::Claims;
use super::dpop::{DpopVerifier, ProofRequest, ReplayRefusal};
use super::error::{AuthError, TokenError};
use super::policy::DpopMode;
use super::scheme::{parse_credentials, Challenge, Credentials, HeaderError, Scheme, DPOP_NONCE};
use super::validator::{unix_now, CacheMiss, Rejection, Validator};

/// `Retry-After` of a 503 from the replay store: a store that timed out is
/// asked again by the next request anyway, and a full one frees slots every
/// second as windows close, so a short wait is the honest hint.
const REPLAY_STORE_RETRY_AFTER_SECS: u64 = 1;

/// Everything the middleware needs, built once and registered as
/// `web::Data<Authenticator>` so every worker shares it.
#[derive(Debug, Clone)]
pub struct Authenticator {
    validator: Validator,
    realm: Arc<str>,
    dpop: Option<Arc<DpopVerifier>>,
}

impl Authenticator {
    /// An authenticator for `validator`, naming `realm` in its challenges.
    /// It accepts Bearer tokens only until [`Self::with_dpop`] adds DPoP.
    pub fn new(validator: Validator, realm: impl Into<Arc<str>>) -> Self {
        Self {
            validator,
            realm: realm.into(),
            dpop: None,
        }
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
        let challenge = Challenge::new(Arc::clone(&self.realm), scheme);
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
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The token's verified claims.
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
            req.extensions()
                .get::<Authenticated>()
                .cloned()
                .ok_or_else(|| AuthError::MissingCredentials {
                    challenge: challenge_for(req, None),
                }),
        )
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

impl FromRequest for RequestCredentials {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticator = req.app_data::<web::Data<Authenticator>>();
        let mode = authenticator.map_or(DpopMode::Disabled, |a| a.mode());
        let outcome = parse_credentials(req.headers(), req.query_string(), mode)
            .map(|credentials| {
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
            .map_err(|e| match e {
                HeaderError::Missing => AuthError::MissingCredentials {
                    challenge: challenge_for(req, None),
                },
                HeaderError::Malformed { reason, scheme } => AuthError::InvalidRequest {
                    reason,
                    challenge: challenge_for(req, scheme),
                },
            });
        ready(outcome)
    }
}

/// What the middleware's validation function hands back to
/// `actix-web-httpauth`: the request, or the refusal with the request.
pub type AuthResult = Result<ServiceRequest, (actix_web::Error, ServiceRequest)>;

/// The future the middleware's validation function returns: ready at once
/// when the first, synchronous step settles the request, boxed otherwise.
pub type AuthFuture = Either<Ready<AuthResult>, LocalBoxFuture<'static, AuthResult>>;

type Inner =
    HttpAuthentication<RequestCredentials, fn(ServiceRequest, RequestCredentials) -> AuthFuture>;

/// The authentication middleware: `actix-web-httpauth`'s
/// `HttpAuthentication` with our extractor and validation function, plus a
/// fresh `DPoP-Nonce` on every answer when server nonces are on (RFC 9449
/// §8.2: a server may send one in any response, which spares clients the
/// `use_dpop_nonce` round trip once they have one).
#[derive(Clone)]
pub struct Authentication {
    inner: Inner,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authentication")
    }
}

/// The authentication middleware. Wrap each protected resource with it; it
/// needs `web::Data<Authenticator>` in the app.
pub fn authentication() -> Authentication {
    Authentication {
        inner: HttpAuthentication::with_fn(
            authenticate as fn(ServiceRequest, RequestCredentials) -> AuthFuture,
        ),
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
