//! One integration-test binary: the real server on a random loopback port,
//! a mock tenant, real signed tokens.

mod cli;
mod cors;
mod docs;
mod dpop;
mod error_bodies;
mod errors;
mod guards;
mod helpers;
mod issuers;
mod key_cache;
mod ops;
mod process;
mod proxy;
mod replay_store;
mod routes;
mod validation;
