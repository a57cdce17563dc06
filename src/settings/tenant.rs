//! The tenant: the accepted issuers (from `AUTH0_DOMAIN` or
//! `AUTH0_ISSUER_BASE_URL`, normalised) and audiences (`AUTH0_AUDIENCE`).

use url::Url;

use super::{fail, Settings, SettingsError};

impl Settings {
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
    use crate::settings::testing::load;

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
