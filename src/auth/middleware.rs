//! The `actix-web-httpauth` middleware that authenticates a request and puts
//! its verified claims on it, and the extractor handlers use to read them.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use actix_web_httpauth::middleware::HttpAuthentication;
use futures_util::future::LocalBoxFuture;

use super::claims::Claims;
use super::error::AuthError;
use super::scheme::{parse_credentials, Challenge, Credentials, HeaderError, Scheme};
use super::validator::{Rejection, Validator};

/// Everything the middleware needs, built once and registered as
/// `web::Data<Authenticator>` so every worker shares it.
#[derive(Debug, Clone)]
pub struct Authenticator {
    validator: Validator,
    realm: Arc<str>,
}

impl Authenticator {
    /// An authenticator for `validator`, naming `realm` in its challenges.
    pub fn new(validator: Validator, realm: impl Into<Arc<str>>) -> Self {
        Self {
            validator,
            realm: realm.into(),
        }
    }

    /// The validator behind the middleware.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// A challenge for a request that used `scheme`.
    pub fn challenge(&self, scheme: Scheme) -> Challenge {
        Challenge::new(Arc::clone(&self.realm), scheme)
    }

    /// Validates `credentials`, mapping every failure to its HTTP answer.
    pub async fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> Result<Authenticated, AuthError> {
        let challenge = self.challenge(credentials.scheme);
        let claims =
            self.validator.validate(&credentials.token).await.map_err(
                |rejection| match rejection {
                    Rejection::Token(reason) => AuthError::InvalidToken {
                        reason,
                        challenge: challenge.clone(),
                    },
                    Rejection::KeysUnavailable(k) => AuthError::KeysUnavailable {
                        retry_after_secs: k.retry_after_secs,
                    },
                },
            )?;
        // RFC 9449 §7.2: a token bound to a DPoP key is useless as a bearer token.
        if credentials.scheme == Scheme::Bearer && claims.jkt.is_some() {
            return Err(AuthError::InvalidToken {
                reason: super::error::TokenError::BoundTokenAsBearer,
                challenge,
            });
        }
        Ok(Authenticated {
            claims: Arc::new(claims),
            scheme: credentials.scheme,
        })
    }
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
                    challenge: challenge_for(req, Scheme::Bearer),
                }),
        )
    }
}

fn challenge_for(req: &HttpRequest, scheme: Scheme) -> Challenge {
    match req.app_data::<web::Data<Authenticator>>() {
        Some(auth) => auth.challenge(scheme),
        None => Challenge::new(Arc::from("api"), scheme),
    }
}

/// The credentials of a request, as the middleware's extractor reads them.
/// Extraction fails (and the middleware answers) for missing or malformed
/// credentials, before any token work.
#[derive(Debug, Clone)]
pub struct RequestCredentials(pub Credentials);

impl FromRequest for RequestCredentials {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            parse_credentials(req.headers(), req.query_string())
                .map(RequestCredentials)
                .map_err(|e| {
                    let challenge = challenge_for(req, Scheme::Bearer);
                    match e {
                        HeaderError::Missing => AuthError::MissingCredentials { challenge },
                        HeaderError::Malformed(reason) => {
                            AuthError::InvalidRequest { reason, challenge }
                        }
                    }
                }),
        )
    }
}

/// The future the middleware's validation function returns.
pub type AuthFuture =
    LocalBoxFuture<'static, Result<ServiceRequest, (actix_web::Error, ServiceRequest)>>;

/// The middleware type: `HttpAuthentication` with our extractor and validator.
pub type AuthMiddleware =
    HttpAuthentication<RequestCredentials, fn(ServiceRequest, RequestCredentials) -> AuthFuture>;

/// The authentication middleware. Wrap each protected resource with it; it
/// needs `web::Data<Authenticator>` in the app.
pub fn authentication() -> AuthMiddleware {
    HttpAuthentication::with_fn(
        authenticate as fn(ServiceRequest, RequestCredentials) -> AuthFuture,
    )
}

fn authenticate(req: ServiceRequest, credentials: RequestCredentials) -> AuthFuture {
    Box::pin(async move {
        let Some(authenticator) = req.app_data::<web::Data<Authenticator>>().cloned() else {
            log::error!("the authentication middleware is used without web::Data<Authenticator>");
            return Err((
                actix_web::error::ErrorInternalServerError("authentication is not configured"),
                req,
            ));
        };
        match authenticator.authenticate(&credentials.0).await {
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
    })
}

/// The label of why authentication failed, left on the request for logs and metrics.
#[derive(Debug, Clone, Copy)]
pub struct AuthOutcome(pub &'static str);
