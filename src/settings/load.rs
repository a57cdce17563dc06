//! Where the settings come from: `config/base.toml` and the overlay named by
//! `APP_ENVIRONMENT` (files on disk, or the copies compiled in), then
//! `APP_SECTION__KEY` variables and the quickstart's names, with `.env`
//! loaded first by [`process_environment`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};

use super::{fail, Settings, SettingsError};

/// The settings files compiled into the binary, used when no `config/`
/// directory is found, so the binary runs from anywhere.
const EMBEDDED: [(&str, &str); 3] = [
    ("base", include_str!("../../config/base.toml")),
    ("local", include_str!("../../config/local.toml")),
    ("production", include_str!("../../config/production.toml")),
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{env, load};

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
}
