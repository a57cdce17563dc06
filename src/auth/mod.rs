//! The reusable core: validating Auth0 (or any OIDC issuer's) JWT access
//! tokens for Actix Web. It knows nothing of this service's routes or
//! settings; another Actix app can build an [`Authenticator`] from its own
//! [`ValidationPolicy`] and [`KeyCachePolicy`] (plus a [`DpopPolicy`] for
//! RFC 9449 sender-constrained tokens) and wrap its routes with
//! [`authentication()`] (or [`authentication_optional()`]) and the
//! [`guards`]: [`RequireScopes`], [`RequireClaim`] and [`RequireRoles`].
//! Several issuers (a tenant's custom domains) are accepted through
//! [`Issuers`] and [`Validator::with_issuers`]. `docs/library.md` is the
//! guide.

pub mod body;
pub mod claims;
pub mod dpop;
pub mod error;
pub mod guards;
pub(crate) mod hex;
pub mod keys;
pub mod middleware;
pub mod policy;
pub mod scheme;
pub use guards::scope;
pub mod signature;
pub mod tenant;
pub mod thumbprint;
pub mod token;
pub mod validator;
pub mod verified;

pub use tenant::{issuers, jwks, proxy, upstream};

pub use body::{ErrorBodyFormat, Refusal};
pub use claims::{Claims, ClaimsShapeError};
pub use dpop::{
    DpopSetupError, DpopVerifier, MemoryReplayCache, MemoryReplayStore, RedisReplayStore,
    ReplayCache, ReplayStore, ReplayStoreError,
};
pub use error::{AuthError, ClaimCheck, ClaimMismatch, ProofError, TokenError};
pub use guards::{all_of, any_of, GuardError, RequireClaim, RequireRoles, Requirement};
pub use issuers::{Issuers, IssuersError};
pub use jwks::{KeyCache, Readiness};
pub use middleware::{
    authentication, authentication_optional, Authenticated, Authenticator, MaybeAuthenticated,
    TypedClaims,
};
pub use policy::{
    Algorithm, DpopMode, DpopPolicy, KeyCachePolicy, NoncePolicy, PolicyError, ProofAlgorithm,
    RequestUrlSource, ValidationPolicy,
};
pub use scope::{RequireScopes, ScopeError};
pub use validator::{Rejection, Validator};
