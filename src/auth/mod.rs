//! The reusable core: validating Auth0 (or any OIDC issuer's) JWT access
//! tokens for Actix Web. It knows nothing of this service's routes or
//! settings; another Actix app can build an [`Authenticator`] from its own
//! [`ValidationPolicy`] and [`KeyCachePolicy`] and wrap its routes with
//! [`authentication()`] and [`RequireScopes`].

pub mod claims;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod middleware;
pub mod policy;
pub mod scheme;
pub mod scope;
pub mod thumbprint;
pub mod token;
pub mod upstream;
pub mod validator;

pub use claims::Claims;
pub use error::{AuthError, TokenError};
pub use jwks::{KeyCache, Readiness};
pub use middleware::{authentication, Authenticated, Authenticator};
pub use policy::{Algorithm, KeyCachePolicy, ValidationPolicy};
pub use scope::RequireScopes;
pub use validator::{Rejection, Validator};
