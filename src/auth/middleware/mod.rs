//! The `actix-web-httpauth` middleware that authenticates a request and puts
//! its verified claims on it, in a required and an optional mode, and the
//! extractors handlers use to read them.
//!
//! Here: the [`Authenticator`], which runs the checks. The middleware layer
//! is in `layer.rs`, the extractors in `extractors.rs`.

use std::sync::Arc;

use super::body::{ErrorBodyFormat, Refusal};
use super::claims::Claims;
use super::dpop::{DpopVerifier, ProofRequest, ReplayRefusal};
use super::error::{AuthError, TokenError};
use super::policy::DpopMode;
use super::scheme::{Challenge, Scheme};
use super::validator::{unix_now, CacheMiss, Rejection, Validator};

mod extractors;
mod layer;

pub(in crate::auth) use extractors::challenge_for;
pub use extractors::{
    Authenticated, MaybeAuthenticated, PresentedCredentials, RequestCredentials, TypedClaims,
};
pub use layer::{
    authentication, authentication_optional, AuthFuture, AuthOutcome, AuthResult, Authentication,
    AuthenticationMiddleware,
};

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
