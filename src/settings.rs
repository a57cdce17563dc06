//! Settings: `config/base.toml`, the overlay named by `APP_ENVIRONMENT`, then
//! the environment (`APP_SECTION__KEY`, plus the quickstart's `AUTH0_DOMAIN`,
//! `AUTH0_AUDIENCE`, `AUTH0_ISSUER_BASE_URL` and `PORT`). Validation turns
//! them into the auth core's policy types or one line saying what to fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use url::Url;

use crate::auth::{
    Algorithm, DpopMode, DpopPolicy, KeyCachePolicy, NoncePolicy, ProofAlgorithm, RequestUrlSource,
    ValidationPolicy,
};

/// The settings files compiled into the binary, used when no `config/`
/// directory is found, so the binary runs from anywhere.
const EMBEDDED: [(&str, &str); 3] = [
    ("base", include_str!("../config/base.toml")),
    ("local", include_str!("../config/local.toml")),
    ("production", include_str!("../config/production.toml")),
];

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
    pub format: crate::ops::telemetry::LogFormat,
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
    /// Loads settings from `config_dir` (or the embedded copies when it does
    /// not exist) and `env`, the environment as a map, so tests never touch
    /// the process environment.
    pub fn load(config_dir: &Path, env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let environment = env
            .get("APP_ENVIRONMENT")
            .map(|e| e.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "local".into());
        if !matches!(environment.as_str(), "local" | "production") {
            return fail(format!(
                "APP_ENVIRONMENT is {environment:?}; set it to \"local\" or \"production\""
            ));
        }
        let mut builder = Config::builder();
        for name in ["base", environment.as_str()] {
            let path = config_dir.join(format!("{name}.toml"));
            builder = if config_dir.is_dir() {
                builder.add_source(
                    File::from(path)
                        .format(FileFormat::Toml)
                        .required(name == "base"),
                )
            } else {
                let text = EMBEDDED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| *t)
                    .unwrap_or("");
                builder.add_source(File::from_str(text, FileFormat::Toml))
            };
        }
        let app_env: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("APP_")
                    && k.as_str() != "APP_ENVIRONMENT"
                    && k.as_str() != "APP_CONFIG_DIR"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("APP")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("auth0.audience")
                .with_list_parse_key("validation.algorithms")
                .with_list_parse_key("dpop.algorithms")
                .with_list_parse_key("cors.allowed_origins")
                .try_parsing(true)
                .source(Some(app_env)),
        );
        let quickstart_names = [
            ("AUTH0_DOMAIN", "auth0.domain"),
            ("AUTH0_ISSUER_BASE_URL", "auth0.issuer_base_url"),
            ("PORT", "application.port"),
        ];
        let set = |b: config::ConfigBuilder<config::builder::DefaultState>,
                   key: &str,
                   value: config::Value| {
            b.set_override(key, value)
                .map_err(|e| SettingsError(format!("cannot apply {key}: {e}")))
        };
        for (var, key) in quickstart_names {
            if let Some(value) = env.get(var).filter(|v| !v.trim().is_empty()) {
                builder = set(builder, key, value.trim().into())?;
            }
        }
        if let Some(audience) = env.get("AUTH0_AUDIENCE").filter(|v| !v.trim().is_empty()) {
            let list: Vec<String> = audience
                .split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            builder = set(builder, "auth0.audience", list.into())?;
        }
        let config = builder
            .build()
            .map_err(|e| SettingsError(format!("cannot read settings: {e}")))?;
        let mut settings: Settings = config.try_deserialize().map_err(|e| {
            SettingsError(format!(
                "a setting has the wrong type: {e} (check the environment variable or config file that sets it)"
            ))
        })?;
        settings.environment = environment;
        settings.check_common()?;
        Ok(settings)
    }

    fn check_common(&self) -> Result<(), SettingsError> {
        self.algorithms()?;
        self.dpop_policy()?;
        self.cors_origins()?;
        if self.jwks.min_ttl_secs > self.jwks.max_ttl_secs {
            return fail("jwks.min_ttl_secs is above jwks.max_ttl_secs; make the floor lower than the ceiling");
        }
        if self.jwks.ttl_secs == 0
            || self.jwks.request_timeout_ms == 0
            || self.jwks.connect_timeout_ms == 0
        {
            return fail("jwks.ttl_secs, jwks.request_timeout_ms and jwks.connect_timeout_ms must be above 0");
        }
        if self.jwks.max_body_bytes < 1024 {
            return fail("jwks.max_body_bytes is below 1024; a JWKS needs more room (the default is 1048576)");
        }
        Ok(())
    }

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

    /// The accepted issuers, in the order given: `https://{domain}/` for each
    /// comma-separated entry of `AUTH0_DOMAIN`, or each entry of
    /// `AUTH0_ISSUER_BASE_URL` when that is set (an Auth0 tenant's canonical
    /// domain beside its custom domains, say). An empty or malformed entry,
    /// or one issuer listed twice, is one line naming it: a list that is
    /// half right must not start and then refuse every token of the wrong
    /// half.
    pub fn tenant_issuers(&self) -> Result<Vec<String>, SettingsError> {
        let base_url = self.auth0.issuer_base_url.trim();
        let (name, list, issuer_from): (_, _, fn(&str, &str) -> _) = if !base_url.is_empty() {
            ("AUTH0_ISSUER_BASE_URL", base_url, base_url_entry)
        } else {
            let domain = self.auth0.domain.trim();
            if domain.is_empty() {
                return fail(
                    "AUTH0_DOMAIN is not set; set it to your tenant's domain (e.g. AUTH0_DOMAIN=dev-abc123.us.auth0.com) in the environment or .env, or run `cargo run -- dev` to try the API with a local issuer",
                );
            }
            ("AUTH0_DOMAIN", domain, domain_entry)
        };
        let entries: Vec<&str> = list.split(',').map(str::trim).collect();
        let count = entries.len();
        let mut issuers: Vec<String> = Vec::with_capacity(count);
        for (index, entry) in entries.into_iter().enumerate() {
            let position = index + 1;
            // A lone value keeps the plain wording; a list entry says which.
            let label = if count == 1 {
                format!("{name} is")
            } else {
                format!("{name} entry {position} of {count} is")
            };
            if entry.is_empty() {
                return fail(format!(
                    "{name} has an empty entry ({position} of {count}); separate issuers with single commas and no trailing comma, e.g. tenant.us.auth0.com,login.example.com"
                ));
            }
            let issuer = issuer_from(&label, entry)?;
            if let Some(first) = issuers.iter().position(|i| *i == issuer) {
                return fail(format!(
                    "{name} lists the issuer {issuer} twice (entries {} and {position} of {count}); list each issuer once",
                    first + 1
                ));
            }
            issuers.push(issuer);
        }
        Ok(issuers)
    }

    /// The accepted audiences of the Auth0 API.
    pub fn tenant_audiences(&self) -> Result<Vec<String>, SettingsError> {
        let audiences: Vec<String> = self
            .auth0
            .audience
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return fail(
                "AUTH0_AUDIENCE is not set; set it to your API's identifier from the Auth0 Dashboard (e.g. AUTH0_AUDIENCE=https://my-api), comma-separated for several",
            );
        }
        Ok(audiences)
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
}

/// The smallest `dpop.nonce_secret` accepted: 32 bytes, as much as the
/// HMAC-SHA256 output, so the secret is not the weak link.
const MIN_NONCE_SECRET_BYTES: usize = 32;

/// The nonce secret the Kubernetes Secret ships with; refused, so a
/// deployment that forgot to replace it does not start.
pub const PLACEHOLDER_NONCE_SECRET: &str = "replace-with-openssl-rand-base64-32";

/// Where the DPoP replay store lives (`dpop.replay_store`).
#[derive(Clone, PartialEq, Eq)]
pub enum ReplayStoreSetting {
    /// In this process's memory: right for one replica.
    Memory,
    /// Redis at this URL, shared by every replica.
    Redis(String),
}

impl ReplayStoreSetting {
    /// How the setting may be shown in logs: a URL's password is starred.
    pub fn shown(&self) -> String {
        match self {
            Self::Memory => "memory".into(),
            Self::Redis(url) => match Url::parse(url) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("******"));
                    parsed.to_string()
                }
                Ok(parsed) => parsed.to_string(),
                Err(_) => "(unparsable URL)".into(),
            },
        }
    }
}

impl std::fmt::Debug for ReplayStoreSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl DpopSettings {
    /// `dpop.replay_store` checked, or one line naming the setting.
    pub fn replay_store_setting(&self) -> Result<ReplayStoreSetting, SettingsError> {
        let given = self.replay_store.trim();
        if given.is_empty() || given.eq_ignore_ascii_case("memory") {
            return Ok(ReplayStoreSetting::Memory);
        }
        let bad = |why: &str| {
            SettingsError(format!(
                "dpop.replay_store (APP_DPOP__REPLAY_STORE) {why}; set it to \"memory\" for one replica, or to the Redis all replicas share, e.g. redis://redis:6379 (rediss:// for TLS)"
            ))
        };
        let url = Url::parse(given).map_err(|_| bad("is neither \"memory\" nor a URL"))?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(bad(&format!(
                "has scheme {:?}, not redis:// or rediss://",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("names no host"));
        }
        if self.replay_store_timeout_ms == 0 {
            return fail("dpop.replay_store_timeout_ms is 0, so the store could never answer; the default is 500");
        }
        Ok(ReplayStoreSetting::Redis(given.to_owned()))
    }
}

/// Why `secret` is obviously not a random secret, if it is: the shipped
/// placeholder, a placeholder word, or too few distinct characters. A
/// base64 or hex encoding of 32 random bytes passes easily; these only
/// catch what a person typed instead of generating.
fn nonce_secret_flaw(secret: &str) -> Option<&'static str> {
    if secret == PLACEHOLDER_NONCE_SECRET {
        return Some("is the placeholder shipped in deploy/kubernetes/secret.yaml");
    }
    let lower = secret.to_ascii_lowercase();
    // Long words only: a short one turns up in a random base64 string too often.
    const WORDS: [&str; 7] = [
        "replace",
        "changeme",
        "change-me",
        "example",
        "placeholder",
        "password",
        "secret",
    ];
    if WORDS.iter().any(|w| lower.contains(w)) {
        return Some("reads like a placeholder, not a random value");
    }
    let mut seen = [false; 256];
    for byte in secret.bytes() {
        seen[usize::from(byte)] = true;
    }
    // 32 random bytes in hex use all 16 digits, in base64 about 30 symbols.
    if seen.iter().filter(|&&s| s).count() < 12 {
        return Some("uses too few distinct characters to be random");
    }
    None
}

impl Settings {
    /// The `[dpop]` settings as the auth core's policy, or one line naming
    /// the setting to fix.
    pub fn dpop_policy(&self) -> Result<DpopPolicy, SettingsError> {
        let d = &self.dpop;
        let mode = match (d.enabled, d.required) {
            (false, true) => {
                return fail("dpop.enabled is false but dpop.required is true; enable DPoP (APP_DPOP__ENABLED=true) or stop requiring it (APP_DPOP__REQUIRED=false)")
            }
            (false, false) => DpopMode::Disabled,
            (true, false) => DpopMode::Optional,
            (true, true) => DpopMode::Required,
        };
        if d.algorithms.is_empty() {
            return fail(
                "dpop.algorithms is empty; list at least one of ES256, RS256, PS256, EdDSA",
            );
        }
        let algorithms = d
            .algorithms
            .iter()
            .map(|name| {
                ProofAlgorithm::from_name(name.trim()).ok_or_else(|| {
                    SettingsError(format!(
                        "dpop.algorithms names {name:?}; use ES256, RS256, PS256 or EdDSA (RFC 9449 proofs are never symmetric)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if d.iat_offset_secs == 0 {
            return fail(
                "dpop.iat_offset_secs is 0, so every proof would be too old; the default is 300",
            );
        }
        if d.replay_cache_entries == 0 {
            return fail("dpop.replay_cache_entries is 0, so every proof could be replayed; the default is 100000");
        }
        d.replay_store_setting()?;
        if !d.nonce_secret.is_empty() {
            if let Some(flaw) = nonce_secret_flaw(&d.nonce_secret) {
                return fail(format!(
                    "dpop.nonce_secret (APP_DPOP__NONCE_SECRET) {flaw}; generate one with `openssl rand -base64 32` and give every replica the same value, or leave it empty for a random one per process"
                ));
            }
        }
        let nonce = if d.nonce && d.enabled {
            if d.nonce_rotation_secs == 0 {
                return fail("dpop.nonce_rotation_secs must be above 0; the default is 300");
            }
            let secret = d.nonce_secret.as_bytes();
            if !secret.is_empty() && secret.len() < MIN_NONCE_SECRET_BYTES {
                return fail(format!(
                    "dpop.nonce_secret is shorter than {MIN_NONCE_SECRET_BYTES} bytes; use a long random value (e.g. `openssl rand -base64 48`), or leave it empty for a random one per process"
                ));
            }
            Some(NoncePolicy {
                rotation: Duration::from_secs(d.nonce_rotation_secs),
                secret: (!secret.is_empty()).then(|| secret.to_vec()),
            })
        } else {
            None
        };
        let base_url = d.public_base_url.trim();
        let request_url = if !base_url.is_empty() {
            RequestUrlSource::PublicBaseUrl(public_base_url(base_url)?)
        } else if d.trust_proxy {
            RequestUrlSource::TrustedProxy
        } else {
            RequestUrlSource::Connection
        };
        Ok(DpopPolicy {
            mode,
            algorithms,
            iat_leeway: Duration::from_secs(d.iat_leeway_secs),
            iat_offset: Duration::from_secs(d.iat_offset_secs),
            nonce,
            replay_cache_entries: d.replay_cache_entries,
            request_url,
        })
    }

    /// What is allowed but probably wrong, one line each, for the start-up
    /// log. In production, a DPoP proof's `htu` is the URL the client used,
    /// which behind a TLS-terminating ingress is not the URL this process
    /// sees; without a public base URL or trusted forwarded headers every
    /// honest DPoP request would fail its `htu` check.
    pub fn warnings(&self) -> Vec<String> {
        let d = &self.dpop;
        let mut warnings = Vec::new();
        if self.environment == "production"
            && d.enabled
            && !d.trust_proxy
            && d.public_base_url.trim().is_empty()
        {
            warnings.push(
                "DPoP is on but neither dpop.public_base_url nor dpop.trust_proxy is set: behind a TLS-terminating proxy or ingress, proofs carry the public https URL and would all fail their htu check; set APP_DPOP__PUBLIC_BASE_URL to the URL clients use (e.g. https://api.example.com)".to_owned(),
            );
        }
        warnings
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

/// `dpop.public_base_url`: an absolute http(s) URL, maybe with a path
/// prefix, without query, fragment or user info.
fn public_base_url(given: &str) -> Result<Url, SettingsError> {
    let bad = |why: &str| {
        SettingsError(format!(
            "dpop.public_base_url is {given:?}, {why}; set it to this API's public URL, e.g. https://api.example.com"
        ))
    };
    let url = Url::parse(given).map_err(|_| bad("which is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("which is not an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("which has a query, fragment or user info"));
    }
    Ok(url)
}

#[cfg(test)]
mod dpop_settings_tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            &env,
        )
    }

    #[test]
    fn defaults_are_optional_dpop_with_es256_and_no_nonce() {
        let policy = load(&[]).unwrap().dpop_policy().unwrap();
        assert_eq!(
            policy,
            DpopPolicy::default(),
            "base.toml matches the policy defaults"
        );
        assert!(
            load(&[]).unwrap().cors_origins().unwrap().is_empty(),
            "CORS off"
        );
    }

    #[test]
    fn settings_map_to_the_policy() {
        let s = load(&[
            ("APP_DPOP__REQUIRED", "true"),
            ("APP_DPOP__ALGORITHMS", "ES256,EdDSA"),
            ("APP_DPOP__NONCE", "true"),
            ("APP_DPOP__NONCE_ROTATION_SECS", "60"),
            ("APP_DPOP__TRUST_PROXY", "true"),
            (
                "APP_CORS__ALLOWED_ORIGINS",
                "https://app.example.com/,http://localhost:3000",
            ),
        ])
        .unwrap();
        let policy = s.dpop_policy().unwrap();
        assert_eq!(policy.mode, DpopMode::Required, "mode");
        assert_eq!(
            policy.algorithms,
            vec![ProofAlgorithm::ES256, ProofAlgorithm::EdDSA],
            "algorithms"
        );
        assert_eq!(
            policy.nonce,
            Some(NoncePolicy {
                rotation: Duration::from_secs(60),
                secret: None
            }),
            "nonce"
        );
        assert_eq!(
            policy.request_url,
            RequestUrlSource::TrustedProxy,
            "trust_proxy"
        );
        assert_eq!(
            s.cors_origins().unwrap(),
            vec!["https://app.example.com", "http://localhost:3000"],
            "origins are normalised"
        );
        let s = load(&[
            ("APP_DPOP__TRUST_PROXY", "true"),
            ("APP_DPOP__PUBLIC_BASE_URL", "https://api.example.com/v1"),
        ])
        .unwrap();
        assert!(
            matches!(s.dpop_policy().unwrap().request_url, RequestUrlSource::PublicBaseUrl(u) if u.as_str() == "https://api.example.com/v1"),
            "a public base URL wins over trust_proxy"
        );
    }

    #[test]
    fn bad_dpop_and_cors_settings_refuse_to_start_and_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[
                    ("APP_DPOP__ENABLED", "false"),
                    ("APP_DPOP__REQUIRED", "true"),
                ],
                "dpop.enabled is false but dpop.required is true",
            ),
            (&[("APP_DPOP__ALGORITHMS", "HS256")], "dpop.algorithms"),
            (&[("APP_DPOP__ALGORITHMS", "none")], "dpop.algorithms"),
            (
                &[("APP_DPOP__IAT_OFFSET_SECS", "0")],
                "dpop.iat_offset_secs",
            ),
            (
                &[("APP_DPOP__REPLAY_CACHE_ENTRIES", "0")],
                "dpop.replay_cache_entries",
            ),
            (
                &[
                    ("APP_DPOP__NONCE", "true"),
                    ("APP_DPOP__NONCE_ROTATION_SECS", "0"),
                ],
                "dpop.nonce_rotation_secs",
            ),
            (
                &[
                    ("APP_DPOP__NONCE", "true"),
                    ("APP_DPOP__NONCE_SECRET", "short"),
                ],
                "dpop.nonce_secret",
            ),
            (
                &[("APP_DPOP__PUBLIC_BASE_URL", "api.example.com")],
                "dpop.public_base_url",
            ),
            (
                &[("APP_DPOP__PUBLIC_BASE_URL", "ftp://api.example.com")],
                "dpop.public_base_url",
            ),
            (
                &[("APP_DPOP__PUBLIC_BASE_URL", "https://api.example.com/?x=1")],
                "dpop.public_base_url",
            ),
            (
                &[("APP_DPOP__NONCE_SECRET", PLACEHOLDER_NONCE_SECRET)],
                "the placeholder shipped in deploy/kubernetes/secret.yaml",
            ),
            (
                &[(
                    "APP_DPOP__NONCE_SECRET",
                    "please-change-me-before-production-ok",
                )],
                "reads like a placeholder",
            ),
            (
                &[(
                    "APP_DPOP__NONCE_SECRET",
                    "abababababababababababababababababab",
                )],
                "too few distinct characters",
            ),
            (
                &[("APP_DPOP__REPLAY_STORE", "redis-server:6379")],
                "APP_DPOP__REPLAY_STORE",
            ),
            (
                &[("APP_DPOP__REPLAY_STORE", "http://redis:6379")],
                "not redis:// or rediss://",
            ),
            (&[("APP_DPOP__REPLAY_STORE", "redis://")], "names no host"),
            (
                &[
                    ("APP_DPOP__REPLAY_STORE", "redis://redis:6379"),
                    ("APP_DPOP__REPLAY_STORE_TIMEOUT_MS", "0"),
                ],
                "dpop.replay_store_timeout_ms",
            ),
            (
                &[("APP_CORS__ALLOWED_ORIGINS", "*")],
                "cors.allowed_origins",
            ),
            (
                &[("APP_CORS__ALLOWED_ORIGINS", "https://app.example.com/path")],
                "cors.allowed_origins",
            ),
        ];
        for (pairs, expected) in cases {
            let err = load(pairs).expect_err("settings load refuses").to_string();
            assert!(err.contains(expected), "{pairs:?}: {err}");
            assert!(!err.contains('\n'), "{pairs:?}: one line: {err}");
        }
    }

    #[test]
    fn generated_nonce_secrets_and_redis_urls_are_taken() {
        for secret in [
            // `openssl rand -base64 32` and `openssl rand -hex 32`.
            "q3Vx9mR0b1Kc7ZtYw2HfLpN8sJd4GaUe6XiO5TrBnCk=",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            let s = load(&[("APP_DPOP__NONCE_SECRET", secret)]).expect("a random secret is taken");
            assert_eq!(s.dpop.nonce_secret, secret);
        }
        let s = load(&[(
            "APP_DPOP__REPLAY_STORE",
            "rediss://app:pw@redis.example:6380/2",
        )])
        .expect("a rediss URL is taken");
        assert_eq!(
            s.dpop.replay_store_setting().unwrap(),
            ReplayStoreSetting::Redis("rediss://app:pw@redis.example:6380/2".into())
        );
        let shown = format!("{:?}", s.dpop);
        assert!(!shown.contains(":pw@"), "the password is hidden: {shown}");
        assert_eq!(
            load(&[]).unwrap().dpop.replay_store_setting().unwrap(),
            ReplayStoreSetting::Memory,
            "memory by default"
        );
    }

    #[test]
    fn production_dpop_without_a_public_url_or_trusted_proxy_is_warned_about() {
        let production = [("APP_ENVIRONMENT", "production")];
        let warnings = load(&production).unwrap().warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("APP_DPOP__PUBLIC_BASE_URL"),
            "{warnings:?}"
        );
        for fix in [
            ("APP_DPOP__PUBLIC_BASE_URL", "https://api.example.com"),
            ("APP_DPOP__TRUST_PROXY", "true"),
            ("APP_DPOP__ENABLED", "false"),
        ] {
            let warnings = load(&[production[0], fix]).unwrap().warnings();
            assert!(warnings.is_empty(), "{fix:?}: {warnings:?}");
        }
        assert!(
            load(&[]).unwrap().warnings().is_empty(),
            "not in local mode, where there is no ingress"
        );
    }
}

/// Reads the process environment, after loading `.env` when present.
pub fn process_environment() -> HashMap<String, String> {
    // A missing .env is normal; a broken one is reported by dotenvy as an
    // error we surface, since silently ignoring it hides a typo.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            log::warn!(".env could not be read: {e}");
        }
    }
    std::env::vars().collect()
}

/// The directory settings files are read from: `APP_CONFIG_DIR` or `config`.
pub fn config_dir(env: &HashMap<String, String>) -> PathBuf {
    env.get("APP_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"))
}

/// `https://{domain}/` from a bare tenant host, accepting (and noting) a
/// leading `https://` and trailing `/`.
pub fn issuer_from_domain(domain: &str) -> Result<String, SettingsError> {
    domain_entry("AUTH0_DOMAIN is", domain)
}

/// [`issuer_from_domain`] for one entry of `AUTH0_DOMAIN`, which `label`
/// names in errors (`AUTH0_DOMAIN entry 2 of 3 is`).
fn domain_entry(label: &str, domain: &str) -> Result<String, SettingsError> {
    let mut host = domain;
    if let Some(rest) = host.strip_prefix("https://") {
        host = rest;
    } else if host.starts_with("http://") {
        return fail(format!(
            "{label} {domain:?}; Auth0 tenants are https: give the bare host (e.g. dev-abc123.us.auth0.com), or set AUTH0_ISSUER_BASE_URL for a loopback http issuer"
        ));
    }
    host = host.trim_end_matches('/');
    if host != domain {
        log::info!("AUTH0_DOMAIN {domain:?} normalised to {host:?}");
    }
    let malformed = || {
        SettingsError(format!(
            "{label} {domain:?}, which is not a host name; set it to your tenant's domain, e.g. dev-abc123.us.auth0.com (a :port is allowed)"
        ))
    };
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(malformed());
    }
    let url = Url::parse(&format!("https://{host}/")).map_err(|_| malformed())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(malformed());
    }
    Ok(url.to_string())
}

/// The issuer of one entry of `AUTH0_ISSUER_BASE_URL`, which `label` names
/// in errors.
fn base_url_entry(label: &str, base_url: &str) -> Result<String, SettingsError> {
    let url = Url::parse(base_url).map_err(|e| {
        SettingsError(format!(
            "{label} {base_url:?}, which is not a URL ({e}); set it like https://dev-abc123.us.auth0.com/"
        ))
    })?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return fail(format!(
            "{label} {base_url:?}; remove the query, fragment or user info"
        ));
    }
    crate::auth::tenant::transport::check_transport(&url)
        .map_err(|e| SettingsError(format!("{label} {base_url:?}: {e}")))?;
    // A bare origin is Auth0's issuer form: the URL type adds the "/".
    if url.path() == "/" {
        Ok(url.to_string())
    } else {
        Ok(base_url.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            &env(pairs),
        )
    }

    #[test]
    fn quickstart_names_are_read() {
        let s = load(&[
            ("AUTH0_DOMAIN", "dev-abc.us.auth0.com"),
            ("AUTH0_AUDIENCE", "https://a, https://b"),
            ("PORT", "9000"),
        ])
        .unwrap();
        assert_eq!(
            s.tenant_issuers().unwrap(),
            vec!["https://dev-abc.us.auth0.com/"]
        );
        assert_eq!(
            s.tenant_audiences().unwrap(),
            vec!["https://a", "https://b"]
        );
        assert_eq!(s.application.port, 9000);
        assert_eq!(s.application.host, "127.0.0.1");
    }

    #[test]
    fn app_prefixed_variables_override_nested_keys() {
        let s = load(&[
            ("APP_JWKS__TTL_SECS", "42"),
            ("APP_ENVIRONMENT", "production"),
        ])
        .unwrap();
        assert_eq!(s.jwks.ttl_secs, 42);
        assert_eq!(s.application.host, "0.0.0.0");
    }

    #[test]
    fn embedded_defaults_are_used_without_a_config_dir() {
        let s = Settings::load(Path::new("/nonexistent"), &env(&[])).unwrap();
        assert_eq!(s.application.port, 8080);
        assert_eq!(s.validation.algorithms, vec!["RS256"]);
    }

    #[test]
    fn domains_are_normalised() {
        for (given, issuer) in [
            ("tenant.auth0.com", "https://tenant.auth0.com/"),
            ("https://tenant.auth0.com/", "https://tenant.auth0.com/"),
            ("tenant.example:8443", "https://tenant.example:8443/"),
        ] {
            assert_eq!(issuer_from_domain(given).unwrap(), issuer, "{given}");
        }
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "AUTH0_DOMAIN"),
            (
                &[("AUTH0_DOMAIN", "http://tenant.auth0.com")],
                "AUTH0_DOMAIN",
            ),
            (&[("AUTH0_DOMAIN", "ten ant")], "AUTH0_DOMAIN"),
            (&[("AUTH0_DOMAIN", "a.com/path")], "AUTH0_DOMAIN"),
            (
                &[("AUTH0_ISSUER_BASE_URL", "http://example.com/")],
                "AUTH0_ISSUER_BASE_URL",
            ),
        ];
        for (pairs, name) in cases {
            let s = load(pairs).unwrap();
            let err = s.tenant_issuers().unwrap_err().to_string();
            assert!(err.contains(name), "{pairs:?}: {err}");
        }
        let err = load(&[("PORT", "eighty")]).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");
        let err = load(&[("APP_VALIDATION__ALGORITHMS", "HS256")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("validation.algorithms"), "{err}");
        let err = load(&[("APP_ENVIRONMENT", "staging")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("APP_ENVIRONMENT"), "{err}");
        let s = load(&[]).unwrap();
        assert!(s
            .tenant_audiences()
            .unwrap_err()
            .to_string()
            .contains("AUTH0_AUDIENCE"));
    }

    #[test]
    fn loopback_http_issuer_is_allowed() {
        let s = load(&[("AUTH0_ISSUER_BASE_URL", "http://127.0.0.1:4000")]).unwrap();
        assert_eq!(s.tenant_issuers().unwrap(), vec!["http://127.0.0.1:4000/"]);
    }

    #[test]
    fn a_comma_separated_list_names_several_issuers_in_order() {
        let s = load(&[(
            "AUTH0_DOMAIN",
            "tenant.us.auth0.com, https://login.example.com/ ,auth.example.org:8443",
        )])
        .unwrap();
        assert_eq!(
            s.tenant_issuers().unwrap(),
            vec![
                "https://tenant.us.auth0.com/",
                "https://login.example.com/",
                "https://auth.example.org:8443/"
            ]
        );
        let s = load(&[
            ("AUTH0_DOMAIN", "ignored.example.com"),
            (
                "AUTH0_ISSUER_BASE_URL",
                "https://tenant.us.auth0.com,http://127.0.0.1:4000/,https://idp.example.com/realms/x/",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.tenant_issuers().unwrap(),
            vec![
                "https://tenant.us.auth0.com/",
                "http://127.0.0.1:4000/",
                "https://idp.example.com/realms/x/"
            ],
            "the base URL list stands in for the domain, as a single one does"
        );
    }

    #[test]
    fn a_bad_list_entry_stops_start_up_with_one_line_naming_it() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "AUTH0_DOMAIN",
                "tenant.us.auth0.com,ten ant",
                "AUTH0_DOMAIN entry 2 of 2 is \"ten ant\", which is not a host name",
            ),
            (
                "AUTH0_DOMAIN",
                "http://tenant.us.auth0.com,login.example.com",
                "AUTH0_DOMAIN entry 1 of 2 is \"http://tenant.us.auth0.com\"; Auth0 tenants are https",
            ),
            (
                "AUTH0_DOMAIN",
                "tenant.us.auth0.com,,login.example.com",
                "AUTH0_DOMAIN has an empty entry (2 of 3)",
            ),
            (
                "AUTH0_DOMAIN",
                "tenant.us.auth0.com,",
                "AUTH0_DOMAIN has an empty entry (2 of 2)",
            ),
            (
                "AUTH0_DOMAIN",
                "tenant.us.auth0.com,login.example.com,https://TENANT.us.auth0.com/",
                "AUTH0_DOMAIN lists the issuer https://tenant.us.auth0.com/ twice (entries 1 and 3 of 3)",
            ),
            (
                "AUTH0_ISSUER_BASE_URL",
                "https://tenant.us.auth0.com/,http://login.example.com/",
                "AUTH0_ISSUER_BASE_URL entry 2 of 2 is \"http://login.example.com/\"",
            ),
            (
                "AUTH0_ISSUER_BASE_URL",
                "https://tenant.us.auth0.com/,not a url",
                "AUTH0_ISSUER_BASE_URL entry 2 of 2 is \"not a url\", which is not a URL",
            ),
            (
                "AUTH0_ISSUER_BASE_URL",
                "https://a.example/?x=1,https://b.example/",
                "AUTH0_ISSUER_BASE_URL entry 1 of 2 is \"https://a.example/?x=1\"; remove the query",
            ),
            (
                "AUTH0_ISSUER_BASE_URL",
                "https://a.example,https://a.example/",
                "AUTH0_ISSUER_BASE_URL lists the issuer https://a.example/ twice (entries 1 and 2 of 2)",
            ),
        ];
        for (name, value, expected) in cases {
            let s = load(&[(name, value)]).expect("the list is only read when serving");
            let err = s.tenant_issuers().unwrap_err().to_string();
            assert!(err.contains(expected), "{name}={value:?}: {err}");
            assert!(!err.contains('\n'), "{name}={value:?}: one line: {err}");
        }
    }
}
