//! One integration-test binary: the real server on a random loopback port,
//! a mock tenant, real signed tokens.

mod cli;
mod cors;
mod docs;
mod dpop;
mod errors;
mod helpers;
mod key_cache;
mod ops;
mod proxy;
mod routes;
mod validation;
