//! Corporate proxies for the tenant requests: `HTTPS_PROXY`, `HTTP_PROXY` and
//! `NO_PROXY` read once, and an awc TCP connector that reaches proxied hosts
//! through an HTTP `CONNECT` tunnel (RFC 9110 §9.3.6).
//!
//! The tunnel carries raw bytes, so awc still does TLS to the tenant inside
//! it and verifies the tenant's certificate as usual: the proxy learns the
//! host name and port, never the documents. Only `http://` proxy URLs are
//! supported; the hop to the proxy is plain TCP, which is what the
//! quickstart's troubleshooting (and nearly every corporate proxy) uses.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use url::Url;

use super::transport::is_loopback_host;

mod connector;
mod no_proxy;

pub use connector::{ProxyConnector, TunnelError};
pub use no_proxy::NoProxy;

/// A proxy variable that cannot be used. Found at start-up, reported on
/// every request that would have used it, so the key cache's readiness
/// reason names the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyConfigError {
    /// The value is not a URL (the value itself is not repeated: it may hold
    /// a password).
    #[error("{var} is not a valid proxy URL ({reason})")]
    InvalidUrl {
        /// The environment variable, e.g. `HTTPS_PROXY`.
        var: &'static str,
        /// Why it does not parse.
        reason: String,
    },
    /// A scheme other than `http://`.
    #[error(
        "{var} names a {scheme}:// proxy; only http:// proxy URLs are supported \
         (the connection to the tenant inside the tunnel is still TLS)"
    )]
    UnsupportedScheme {
        /// The environment variable, e.g. `HTTPS_PROXY`.
        var: &'static str,
        /// The scheme found.
        scheme: String,
    },
}

/// An `http://` proxy: where it is and, when the URL has `user:password@`,
/// the `Proxy-Authorization` value (RFC 9110 §11.7.2, Basic per RFC 7617).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    var: &'static str,
    host: String,
    port: u16,
    authorization: Option<String>,
}

impl ProxyUrl {
    /// Parses a proxy variable's value. A value without a scheme is taken as
    /// `http://` (as curl does); without a port, 80. Credentials may be
    /// percent-encoded (`p%40ss` for `p@ss`).
    pub fn parse(var: &'static str, value: &str) -> Result<Self, ProxyConfigError> {
        let value = value.trim();
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("http://{value}")
        };
        // url's parse errors never quote the input, so a password cannot leak
        // into a log line through them.
        let url = Url::parse(&with_scheme).map_err(|e| ProxyConfigError::InvalidUrl {
            var,
            reason: e.to_string(),
        })?;
        if url.scheme() != "http" {
            return Err(ProxyConfigError::UnsupportedScheme {
                var,
                scheme: url.scheme().to_owned(),
            });
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => {
                return Err(ProxyConfigError::InvalidUrl {
                    var,
                    reason: "no host".into(),
                })
            }
        };
        let authorization = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let mut credentials = percent_decode(url.username());
            credentials.push(b':');
            credentials.extend(percent_decode(url.password().unwrap_or_default()));
            format!("Basic {}", STANDARD.encode(credentials))
        });
        Ok(Self {
            var,
            host,
            port: url.port_or_known_default().unwrap_or(80),
            authorization,
        })
    }

    /// The environment variable this proxy came from.
    pub fn source(&self) -> &'static str {
        self.var
    }

    /// Whether the URL carried credentials (which are never displayed).
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }

    /// `http://host:port (VAR)`, for error messages.
    fn describe(&self) -> String {
        format!("{self} (from {})", self.var)
    }
}

impl fmt::Display for ProxyUrl {
    /// `http://host:port`, never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "http://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets print as stars.
        f.debug_struct("ProxyUrl")
            .field("var", &self.var)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "******"),
            )
            .finish()
    }
}

/// `%XX` escapes in URL userinfo, decoded to bytes; anything malformed is
/// kept as written (the `percent-encoding` crate's behaviour, which the
/// `url` crate already brings in).
fn percent_decode(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}

/// How one connection is made.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// No proxy is configured for this scheme.
    Direct,
    /// A proxy is configured, but `NO_PROXY` lists the host.
    Excluded,
    /// Through this proxy.
    Via(&'a ProxyUrl),
    /// The proxy variable for this scheme is unusable: fail, never go direct
    /// behind the operator's back.
    Misconfigured(&'a ProxyConfigError),
}

/// The proxy settings for the tenant requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    https: Option<Result<ProxyUrl, ProxyConfigError>>,
    http: Option<Result<ProxyUrl, ProxyConfigError>>,
    no_proxy: NoProxy,
}

impl ProxyConfig {
    /// No proxy at all: every connection is direct.
    pub fn direct() -> Self {
        Self::default()
    }

    /// Reads `HTTPS_PROXY` (for https URLs), `HTTP_PROXY` (for http URLs) and
    /// `NO_PROXY` from the process environment; each upper-case name wins
    /// over its lower-case twin, and an empty value counts as unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Self::from_env`], with the variables looked up by `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                get(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        Self {
            https: first(["HTTPS_PROXY", "https_proxy"])
                .map(|(var, value)| ProxyUrl::parse(var, &value)),
            http: first(["HTTP_PROXY", "http_proxy"])
                .map(|(var, value)| ProxyUrl::parse(var, &value)),
            no_proxy: first(["NO_PROXY", "no_proxy"])
                .map(|(_, value)| NoProxy::parse(&value))
                .unwrap_or_default(),
        }
    }

    /// How a connection for a URL with `scheme` to `host:port` is made.
    pub fn route(&self, scheme: &str, host: &str, port: u16) -> Route<'_> {
        let proxy = if scheme.eq_ignore_ascii_case("https") {
            &self.https
        } else if scheme.eq_ignore_ascii_case("http") {
            // Plain http is only ever allowed to this machine (the local
            // issuer, tests), which no proxy can reach: a developer's
            // HTTP_PROXY must not break `dev` mode.
            if is_loopback_host(host) {
                return Route::Direct;
            }
            &self.http
        } else {
            &None
        };
        match proxy {
            None => Route::Direct,
            Some(_) if self.no_proxy.matches(host, port) => Route::Excluded,
            Some(Ok(proxy)) => Route::Via(proxy),
            Some(Err(error)) => Route::Misconfigured(error),
        }
    }

    /// The parsed `NO_PROXY` list.
    pub fn no_proxy(&self) -> &NoProxy {
        &self.no_proxy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(value: &str) -> Result<ProxyUrl, ProxyConfigError> {
        ProxyUrl::parse("HTTPS_PROXY", value)
    }

    #[test]
    fn proxy_urls_parse_to_host_port_and_basic_credentials() {
        let cases = [
            ("http://proxy.corp:3128", "http://proxy.corp:3128", None),
            ("http://proxy.corp", "http://proxy.corp:80", None),
            ("proxy.corp:8080", "http://proxy.corp:8080", None),
            (
                "  http://PROXY.corp:3128/  ",
                "http://proxy.corp:3128",
                None,
            ),
            ("http://10.0.0.1:3128", "http://10.0.0.1:3128", None),
            ("http://[::1]:3128", "http://[::1]:3128", None),
            (
                "http://alice:s3cret@proxy.corp:3128",
                "http://proxy.corp:3128",
                Some("alice:s3cret"),
            ),
            (
                "http://d%5Calice:p%40ss%3Aw@proxy.corp:3128",
                "http://proxy.corp:3128",
                Some("d\\alice:p@ss:w"),
            ),
            (
                "http://alice@proxy.corp:3128",
                "http://proxy.corp:3128",
                Some("alice:"),
            ),
        ];
        for (value, shown, credentials) in cases {
            let parsed = proxy(value).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(parsed.to_string(), shown, "display of {value}");
            let expected = credentials.map(|c| format!("Basic {}", STANDARD.encode(c)));
            assert_eq!(parsed.authorization, expected, "credentials of {value}");
            assert_eq!(parsed.source(), "HTTPS_PROXY");
        }
    }

    #[test]
    fn unusable_proxy_urls_are_errors_that_name_the_variable() {
        let cases = [
            ("https://proxy.corp:3128", "https://"),
            ("socks5://proxy.corp:1080", "socks5://"),
            ("http://", "not a valid proxy URL"),
            ("http://proxy.corp:99999", "not a valid proxy URL"),
        ];
        for (value, expected) in cases {
            let error = proxy(value).expect_err(value).to_string();
            assert!(error.contains("HTTPS_PROXY"), "{value}: {error}");
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn credentials_never_appear_in_display_debug_or_errors() {
        let parsed = proxy("http://alice:s3cret@proxy.corp:3128").expect("valid");
        for shown in [parsed.to_string(), format!("{parsed:?}"), parsed.describe()] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(!shown.contains("alice"), "{shown}");
        }
        let error = proxy("http://alice:s3cret@proxy.corp:notaport").expect_err("bad port");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    fn config(vars: &[(&str, &str)]) -> ProxyConfig {
        ProxyConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_environment_picks_a_proxy_per_scheme() {
        let vars = [
            ("HTTPS_PROXY", "http://secure-proxy:3128"),
            ("https_proxy", "http://ignored:1"),
            ("http_proxy", "http://plain-proxy:8080"),
            ("no_proxy", "internal.corp"),
        ];
        let config = config(&vars);
        let shown = |route: Route<'_>| match route {
            Route::Via(proxy) => format!("via {proxy} ({})", proxy.source()),
            other => format!("{other:?}"),
        };
        let cases = [
            (
                "https",
                "tenant.auth0.com",
                "via http://secure-proxy:3128 (HTTPS_PROXY)",
            ),
            (
                "http",
                "tenant.auth0.com",
                "via http://plain-proxy:8080 (http_proxy)",
            ),
            ("https", "keys.internal.corp", "Excluded"),
            ("ftp", "tenant.auth0.com", "Direct"),
            ("http", "127.0.0.1", "Direct"),
            ("http", "localhost", "Direct"),
            ("http", "[::1]", "Direct"),
        ];
        for (scheme, host, expected) in cases {
            assert_eq!(
                shown(config.route(scheme, host, 443)),
                expected,
                "{scheme}://{host}"
            );
        }
    }

    #[test]
    fn empty_or_absent_variables_mean_direct_connections() {
        assert_eq!(config(&[]), ProxyConfig::direct(), "nothing set");
        let blank = config(&[("HTTPS_PROXY", "  "), ("NO_PROXY", "*")]);
        assert_eq!(
            blank.route("https", "tenant.auth0.com", 443),
            Route::Direct,
            "a blank HTTPS_PROXY is unset"
        );
        let lower_case = config(&[("HTTPS_PROXY", ""), ("https_proxy", "http://p:1")]);
        assert!(
            matches!(lower_case.route("https", "t", 443), Route::Via(p) if p.source() == "https_proxy"),
            "an empty upper-case variable falls through to the lower-case one"
        );
    }

    #[test]
    fn a_broken_proxy_variable_fails_instead_of_going_direct() {
        let config = config(&[("HTTPS_PROXY", "socks5://p:1080"), ("NO_PROXY", "ok.corp")]);
        assert!(
            matches!(
                config.route("https", "tenant.auth0.com", 443),
                Route::Misconfigured(_)
            ),
            "a proxied host fails"
        );
        assert_eq!(
            config.route("https", "ok.corp", 443),
            Route::Excluded,
            "NO_PROXY still applies"
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%40b%zz%4"), b"a@b%zz%4");
    }
}
