//! The issuer side of the core: OIDC discovery and JWKS fetching
//! ([`upstream`]), the key cache with background refresh ([`jwks`]), one
//! cache per accepted issuer ([`issuers`]), corporate proxies ([`proxy`])
//! and the https-only transport rule they all follow ([`transport`]).
//!
//! Dependencies point down: `issuers` → `jwks` → `upstream` → `proxy`, and
//! each of them → `transport`.

pub mod issuers;
pub mod jwks;
pub mod proxy;
pub mod transport;
pub mod upstream;
