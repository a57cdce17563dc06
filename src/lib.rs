//! An Actix Web API protected by Auth0-issued JWT access tokens.
//!
//! [`auth`] is the reusable core and depends on nothing else here; the rest
//! is the service around it: settings, start-up, routes, the local issuer
//! and the command-line tools.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod auth;
pub mod dev;
pub mod openapi;
pub mod ops;
pub mod routes;
pub mod settings;
pub mod startup;

pub use dev::{cli, dpop_client, inspect, issuer};
pub use ops::{cors, healthcheck, metrics, telemetry};
