//! Settings: `config/base.toml`, the overlay named by `APP_ENVIRONMENT`, then
//! the environment (`APP_SECTION__KEY`, plus the quickstart's `AUTH0_DOMAIN`,
//! `AUTH0_AUDIENCE`, `AUTH0_ISSUER_BASE_URL` and `PORT`). Validation turns
//! them into the auth core's policy types or one line saying what to fix.
//!
//! The types are here; [`load`](Settings::load) and the environment are in
//! `load.rs`, the tenant's issuers and audiences in `tenant.rs`, and the
//! `[dpop]` section's checks in `dpop.rs`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::auth::{Algorithm, KeyCachePolicy, ValidationPolicy};

mod dpop;
mod load;
mod tenant;

pub use dpop::{ReplayStoreSetting, PLACEHOLDER_NONCE_SECRET};
pub use load::{config_dir, process_environment};
pub use tenant::issuer_from_domain;

/// All settings of the service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Which overlay was applied (`local` or `production`).
    #[serde(skip)]
    pub environment: String,
    /// Listening and HTTP settings.
    pub application: ApplicationSettings,
    /// The Auth0 tenant and API.
    pub auth0: Auth0Settings,
    /// Token checks.
    pub validation: ValidationSettings,
    /// The key cache.
    pub jwks: JwksSettings,
    /// The local issuer of `dev`, `token` and `inspect`.
    pub dev: DevSettings,
    /// DPoP (RFC 9449).
    pub dpop: DpopSettings,
    /// Cross-origin requests from browsers.
    pub cors: CorsSettings,
    /// Log format.
    pub logging: LoggingSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// The OpenAPI document and its interactive UI.
    pub docs: DocsSettings,
    /// Graceful shutdown.
    pub shutdown: ShutdownSettings,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApplicationSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Realm named in challenges.
    pub realm: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
}

/// `[auth0]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Auth0Settings {
    /// Tenant host (`AUTH0_DOMAIN`).
    pub domain: String,
    /// Full issuer URL (`AUTH0_ISSUER_BASE_URL`), standing in for the domain.
    pub issuer_base_url: String,
    /// Accepted audiences (`AUTH0_AUDIENCE`).
    pub audience: Vec<String>,
}

/// `[validation]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidationSettings {
    /// Accepted algorithm names.
    pub algorithms: Vec<String>,
    /// Clock skew for time checks, seconds.
    pub leeway_secs: u64,
    /// Strict RFC 9068 profile.
    pub strict_rfc9068: bool,
    /// Verified tokens remembered by hash; 0 disables.
    pub verified_cache_entries: usize,
}

/// `[jwks]`.
#[derive(Debug, Clone, Deserialize)]
pub struct JwksSettings {
    /// Refresh interval, seconds.
    pub ttl_secs: u64,
    /// Floor for `Cache-Control: max-age`, seconds.
    pub min_ttl_secs: u64,
    /// Ceiling for `Cache-Control: max-age`, seconds.
    pub max_ttl_secs: u64,
    /// Minimum time between unknown-`kid` refetches, seconds.
    pub cooldown_secs: u64,
    /// Stale-if-error limit, seconds.
    pub max_stale_secs: u64,
    /// Connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Total request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// Body size cap, bytes.
    pub max_body_bytes: usize,
    /// First retry delay, milliseconds.
    pub min_backoff_ms: u64,
    /// Longest retry delay, seconds.
    pub max_backoff_secs: u64,
}

/// `[dev]`.
#[derive(Debug, Clone, Deserialize)]
pub struct DevSettings {
    /// PEM file of the local issuer's RSA key.
    pub key_file: PathBuf,
    /// Audience of minted tokens.
    pub audience: String,
    /// Lifetime of minted tokens, seconds.
    pub token_lifetime_secs: u64,
}

/// `[dpop]`. Debug-printing shows the nonce secret as stars.
#[derive(Clone, Deserialize)]
pub struct DpopSettings {
    /// Accept the DPoP scheme.
    pub enabled: bool,
    /// Refuse Bearer tokens.
    pub required: bool,
    /// Future skew allowed for a proof's `iat`, seconds.
    pub iat_leeway_secs: u64,
    /// Age allowed for a proof's `iat`, seconds.
    pub iat_offset_secs: u64,
    /// Proof algorithm names.
    pub algorithms: Vec<String>,
    /// Require server nonces.
    pub nonce: bool,
    /// Nonce rotation interval, seconds.
    pub nonce_rotation_secs: u64,
    /// Nonce HMAC secret; empty means random per process.
    pub nonce_secret: String,
    /// Capacity of the in-memory replay store.
    pub replay_cache_entries: usize,
    /// `memory`, or a `redis://` / `rediss://` URL of a store shared by
    /// every replica. Debug-printing hides a password in it.
    pub replay_store: String,
    /// How long a shared store gets to answer, milliseconds.
    pub replay_store_timeout_ms: u64,
    /// Trust `X-Forwarded-*` headers for `htu`.
    pub trust_proxy: bool,
    /// Public base URL for `htu`; empty means unset.
    pub public_base_url: String,
}

impl std::fmt::Debug for DpopSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopSettings")
            .field("enabled", &self.enabled)
            .field("required", &self.required)
            .field("iat_leeway_secs", &self.iat_leeway_secs)
            .field("iat_offset_secs", &self.iat_offset_secs)
            .field("algorithms", &self.algorithms)
            .field("nonce", &self.nonce)
            .field("nonce_rotation_secs", &self.nonce_rotation_secs)
            .field("nonce_secret", &"******")
            .field("replay_cache_entries", &self.replay_cache_entries)
            .field(
                "replay_store",
                &self.replay_store_setting().map(|s| s.shown()),
            )
            .field("replay_store_timeout_ms", &self.replay_store_timeout_ms)
            .field("trust_proxy", &self.trust_proxy)
            .field("public_base_url", &self.public_base_url)
            .finish()
    }
}

/// `[cors]`.
#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    /// Allowed origins; empty disables CORS.
    pub allowed_origins: Vec<String>,
}

/// `[logging]`.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggingSettings {
    /// `text` (human-readable) or `json` (one object per line).
    pub format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// env_logger's human-readable lines.
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `message`, and the
    /// request fields as keys.
    Json,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Serve it on this `host:port` instead of the API's port; empty means the API's port.
    pub address: String,
}

/// `[docs]`.
#[derive(Debug, Clone, Deserialize)]
pub struct DocsSettings {
    /// Serve the OpenAPI document at `/openapi.json` and Swagger UI at `/docs`.
    pub enabled: bool,
}

/// `[shutdown]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ShutdownSettings {
    /// Seconds in-flight requests get to finish after SIGTERM / SIGINT.
    pub grace_secs: u64,
    /// Seconds to keep serving, with `/readyz` at 503, before stopping to
    /// accept, so load balancers notice first.
    pub drain_delay_secs: u64,
}

/// A setting is missing or wrong; the message names it and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, SettingsError> {
    Err(SettingsError(message.into()))
}

impl Settings {
    /// The configured algorithm allow-list.
    pub fn algorithms(&self) -> Result<Vec<Algorithm>, SettingsError> {
        if self.validation.algorithms.is_empty() {
            return fail(
                "validation.algorithms is empty; list at least one of RS256, PS256, ES256",
            );
        }
        self.validation
            .algorithms
            .iter()
            .map(|name| {
                Algorithm::from_name(name.trim()).ok_or_else(|| {
                    SettingsError(format!(
                        "validation.algorithms names {name:?}; use RS256, PS256 or ES256 (symmetric algorithms and none are never accepted)"
                    ))
                })
            })
            .collect()
    }

    /// The validation policy for `issuer` and `audiences`.
    pub fn validation_policy(
        &self,
        issuer: &str,
        audiences: Vec<String>,
    ) -> Result<ValidationPolicy, SettingsError> {
        Ok(ValidationPolicy {
            issuer: issuer.to_owned(),
            audiences,
            algorithms: self.algorithms()?,
            leeway: Duration::from_secs(self.validation.leeway_secs),
            strict_rfc9068: self.validation.strict_rfc9068,
            verified_cache_entries: self.validation.verified_cache_entries,
        })
    }

    /// The key cache policy for `issuer`.
    pub fn key_cache_policy(&self, issuer: &str) -> Result<KeyCachePolicy, SettingsError> {
        let j = &self.jwks;
        Ok(KeyCachePolicy {
            issuer: issuer.to_owned(),
            algorithms: self.algorithms()?,
            ttl: Duration::from_secs(j.ttl_secs),
            min_ttl: Duration::from_secs(j.min_ttl_secs),
            max_ttl: Duration::from_secs(j.max_ttl_secs),
            cooldown: Duration::from_secs(j.cooldown_secs),
            max_stale: Duration::from_secs(j.max_stale_secs),
            connect_timeout: Duration::from_millis(j.connect_timeout_ms),
            request_timeout: Duration::from_millis(j.request_timeout_ms),
            max_body_bytes: j.max_body_bytes,
            min_backoff: Duration::from_millis(j.min_backoff_ms.max(1)),
            max_backoff: Duration::from_secs(j.max_backoff_secs.max(1)),
        })
    }

    /// `cors.allowed_origins` as the exact origins browsers send
    /// (`scheme://host[:port]`, no path), or one line naming the bad entry.
    /// A trailing `/` is accepted and dropped.
    pub fn cors_origins(&self) -> Result<Vec<String>, SettingsError> {
        self.cors
            .allowed_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .map(|given| {
                let bad = || {
                    SettingsError(format!(
                        "cors.allowed_origins names {given:?}, which is not an origin; write it like https://app.example.com (scheme, host, optional port; no path, no *)"
                    ))
                };
                let url = Url::parse(given).map_err(|_| bad())?;
                let plain = matches!(url.scheme(), "http" | "https")
                    && url.username().is_empty()
                    && url.password().is_none()
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.fragment().is_none();
                if !plain {
                    return Err(bad());
                }
                Ok(url.origin().ascii_serialization())
            })
            .collect()
    }
}

/// Test helpers shared by the settings tests.
#[cfg(test)]
mod testing {
    use std::collections::HashMap;
    use std::path::Path;

    use super::{Settings, SettingsError};

    /// `pairs` as an environment map.
    pub(super) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The repository's `config/` with `pairs` as the environment.
    pub(super) fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            &env(pairs),
        )
    }
}
