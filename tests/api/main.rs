//! One integration-test binary: the real server on a random loopback port,
//! a mock tenant, real signed tokens.

mod helpers;
mod routes;
mod key_cache;
mod validation;
mod errors;
mod cli;
