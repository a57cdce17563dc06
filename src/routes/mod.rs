//! HTTP handlers. They receive verified claims from the auth middleware,
//! never raw tokens.

pub mod health;
pub mod messages;
