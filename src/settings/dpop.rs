//! The `[dpop]` section: the RFC 9449 policy it becomes, where the replay
//! store lives, and the checks that refuse a weak nonce secret.

use std::time::Duration;

use url::Url;

use super::{fail, DpopSettings, Settings, SettingsError};
use crate::auth::{DpopMode, DpopPolicy, NoncePolicy, ProofAlgorithm, RequestUrlSource};

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
mod tests {
    use super::*;
    use crate::settings::testing::load;

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
