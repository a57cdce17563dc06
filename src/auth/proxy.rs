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
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use std::rc::Rc;
use std::time::Duration;

use super::jwks::is_loopback_host;
use actix_rt::net::TcpStream;
use actix_tls::connect::{
    ConnectError as TcpConnectError, ConnectInfo, Connection as TcpConnection,
    Connector as TcpConnector, ConnectorService, Resolver,
};
use actix_web::dev::Service;
use awc::http::{StatusCode, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// Largest `CONNECT` response head read from a proxy; a real one is a few
/// hundred bytes, so anything bigger is not a proxy we can talk to.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;

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

/// Reaching a host through the proxy failed. Per request; becomes the I/O
/// error awc reports, so its text ends up in the fetch error and `/readyz`.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// The proxy variable is unusable.
    #[error("{0}; fix it or unset it")]
    Misconfigured(ProxyConfigError),
    /// No TCP connection to the proxy.
    #[error("cannot connect to proxy {proxy}: {source}")]
    Connect {
        /// The proxy and the variable it came from.
        proxy: String,
        /// The socket error.
        source: io::Error,
    },
    /// Connecting and the `CONNECT` exchange took longer than the connect timeout.
    #[error("proxy {proxy} did not open a tunnel to {target} within {timeout:?}")]
    Timeout {
        /// The proxy and the variable it came from.
        proxy: String,
        /// `host:port` of the tenant.
        target: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// The proxy answered `CONNECT` with a non-2xx status.
    #[error("proxy {proxy} refused CONNECT {target} with HTTP {status}{hint}")]
    Refused {
        /// The proxy and the variable it came from.
        proxy: String,
        /// `host:port` of the tenant.
        target: String,
        /// Status code and canonical reason, e.g. `407 Proxy Authentication Required`.
        status: String,
        /// What to check, when the status says.
        hint: String,
    },
    /// The proxy's answer is not an HTTP/1.x response head we can use.
    #[error("proxy {proxy} answered CONNECT {target} with {what}")]
    Protocol {
        /// The proxy and the variable it came from.
        proxy: String,
        /// `host:port` of the tenant.
        target: String,
        /// What was wrong with the answer.
        what: &'static str,
    },
    /// Reading or writing the proxy connection failed.
    #[error("talking to proxy {proxy} about {target} failed: {source}")]
    Io {
        /// The proxy and the variable it came from.
        proxy: String,
        /// `host:port` of the tenant.
        target: String,
        /// The socket error.
        source: io::Error,
    },
}

impl TunnelError {
    /// As the I/O error the TCP connector contract asks for; the kind keeps
    /// timeouts recognisable.
    fn into_connect_error(self) -> TcpConnectError {
        let kind = match &self {
            Self::Timeout { .. } => io::ErrorKind::TimedOut,
            Self::Connect { source, .. } | Self::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        TcpConnectError::Io(io::Error::new(kind, self))
    }
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

/// The `NO_PROXY` list, curl-style: comma-separated entries, each a host
/// name (matching itself and its subdomains, with or without a leading
/// dot), an IP address, a CIDR range, or `*` for every host; any of them
/// may end in `:port` (IPv6 in brackets then). Case-insensitive. Loopback
/// is not exempt unless listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    rules: Vec<Rule>,
    ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A host name and its subdomains, lowercase, no leading or trailing dot.
    Domain(String),
    /// One address.
    Ip(IpAddr),
    /// A CIDR range.
    Net(IpNet),
}

impl NoProxy {
    /// Parses a `NO_PROXY` value; entries that are none of the above are
    /// skipped and listed by [`Self::ignored`].
    pub fn parse(list: &str) -> Self {
        let mut no_proxy = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.all = true;
            } else if let Some(rule) = Rule::parse(&entry.to_ascii_lowercase()) {
                no_proxy.rules.push(rule);
            } else {
                no_proxy.ignored.push(entry.to_owned());
            }
        }
        no_proxy
    }

    /// Whether a connection to `host:port` skips the proxy. `host` is as in a
    /// URL: IPv6 in brackets or not, any case, an optional trailing dot.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.rules.iter().any(|rule| {
            let host_matches = match (&rule.pattern, ip) {
                (Pattern::Ip(listed), Some(ip)) => *listed == ip,
                (Pattern::Net(network), Some(ip)) => network.contains(&ip),
                (Pattern::Domain(domain), None) => {
                    host == *domain
                        || host
                            .strip_suffix(domain.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                _ => false,
            };
            host_matches && rule.port.is_none_or(|p| p == port)
        })
    }

    /// Entries that were not understood, for a start-up warning.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

impl Rule {
    /// One lowercase, trimmed entry other than `*`.
    fn parse(entry: &str) -> Option<Self> {
        let (host, port) = split_port(entry)?;
        let pattern = if host.contains('/') {
            // Host bits may be set (`10.1.2.3/8` means 10.0.0.0/8), as curl takes it.
            Pattern::Net(host.parse().ok()?)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            Pattern::Ip(ip)
        } else {
            // `.example.com` and `*.example.com` mean what `example.com`
            // means: the domain and everything under it.
            let domain = host.trim_start_matches("*.").trim_start_matches('.');
            let domain = domain.trim_end_matches('.');
            let valid = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !valid {
                return None;
            }
            Pattern::Domain(domain.to_owned())
        };
        Some(Self { pattern, port })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address (which
/// has more than one colon, so cannot carry a port).
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return match after {
            "" => Some((inside, None)),
            _ => Some((inside, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
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

/// awc's TCP connector with proxy support: opens a `CONNECT` tunnel for
/// proxied hosts and connects directly otherwise, both bounded by the
/// connect timeout. Plug it in with `awc::Connector::connector`.
#[derive(Clone)]
pub struct ProxyConnector {
    direct: ConnectorService,
    config: Rc<ProxyConfig>,
    connect_timeout: Duration,
}

impl ProxyConnector {
    /// A connector following `config`; DNS for direct connections goes
    /// through the same resolver awc uses by default.
    pub fn new(config: ProxyConfig, connect_timeout: Duration) -> Self {
        Self {
            direct: TcpConnector::new(Resolver::default()).service(),
            config: Rc::new(config),
            connect_timeout,
        }
    }
}

impl Service<ConnectInfo<Uri>> for ProxyConnector {
    type Response = TcpConnection<Uri, TcpStream>;
    type Error = TcpConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_web::dev::always_ready!();

    fn call(&self, request: ConnectInfo<Uri>) -> Self::Future {
        let timeout = self.connect_timeout;
        let scheme = request.request().scheme_str().unwrap_or("http");
        let target = format!("{}:{}", request.hostname(), request.port());
        match self
            .config
            .route(scheme, request.hostname(), request.port())
        {
            Route::Direct | Route::Excluded => {
                let connecting = self.direct.call(request);
                Box::pin(async move {
                    tokio::time::timeout(timeout, connecting)
                        .await
                        .unwrap_or_else(|_| {
                            Err(TcpConnectError::Io(io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("connecting to {target} timed out after {timeout:?}"),
                            )))
                        })
                })
            }
            Route::Via(proxy) => {
                let proxy = proxy.clone();
                let uri = request.request().clone();
                Box::pin(async move {
                    let stream = tokio::time::timeout(timeout, open_tunnel(&proxy, &target))
                        .await
                        .unwrap_or_else(|_| {
                            Err(TunnelError::Timeout {
                                proxy: proxy.describe(),
                                target: target.clone(),
                                timeout,
                            })
                        })
                        .map_err(TunnelError::into_connect_error)?;
                    Ok(TcpConnection::new(uri, stream))
                })
            }
            Route::Misconfigured(error) => {
                let error = TunnelError::Misconfigured(error.clone());
                Box::pin(async move { Err(error.into_connect_error()) })
            }
        }
    }
}

/// Connects to the proxy and asks it for a tunnel to `target` (`host:port`);
/// the stream is ready for awc once the proxy answers 2xx.
async fn open_tunnel(proxy: &ProxyUrl, target: &str) -> Result<TcpStream, TunnelError> {
    let mut stream = TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|source| TunnelError::Connect {
            proxy: proxy.describe(),
            source,
        })?;
    // Small request/response exchanges; do not wait to fill a segment.
    let _ = stream.set_nodelay(true);
    let io_error = |source| TunnelError::Io {
        proxy: proxy.describe(),
        target: target.to_owned(),
        source,
    };
    stream
        .write_all(connect_request(target, proxy.authorization.as_deref()).as_bytes())
        .await
        .map_err(io_error)?;
    let protocol_error = |what| TunnelError::Protocol {
        proxy: proxy.describe(),
        target: target.to_owned(),
        what,
    };
    let (head, extra) = read_response_head(&mut stream)
        .await
        .map_err(|error| match error {
            HeadError::Io(source) => io_error(source),
            HeadError::Protocol(what) => protocol_error(what),
        })?;
    let status = response_status(&head).map_err(protocol_error)?;
    if !status.is_success() {
        return Err(TunnelError::Refused {
            proxy: proxy.describe(),
            target: target.to_owned(),
            status: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ),
            hint: refusal_hint(status, proxy),
        });
    }
    // Nothing may follow a 2xx head (RFC 9110 §9.3.6): the tenant speaks only
    // after our ClientHello or request, so extra bytes mean a confused proxy.
    if extra {
        return Err(protocol_error("data after its 2xx response head"));
    }
    Ok(stream)
}

/// `CONNECT host:port HTTP/1.1` in authority form, with the `Host` header
/// RFC 9112 §3.2 asks for and, if configured, the proxy credentials.
fn connect_request(target: &str, authorization: Option<&str>) -> String {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(authorization) = authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(authorization);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

/// Why no response head could be read.
enum HeadError {
    Io(io::Error),
    Protocol(&'static str),
}

/// Reads up to the blank line ending the response head, at most
/// [`MAX_RESPONSE_HEAD`] bytes. Returns the head and whether more bytes came
/// with it.
async fn read_response_head(stream: &mut TcpStream) -> Result<(Vec<u8>, bool), HeadError> {
    let mut buffer = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await.map_err(HeadError::Io)?;
        let Some(received) = chunk.get(..read).filter(|r| !r.is_empty()) else {
            return Err(HeadError::Protocol(
                "a closed connection instead of a response",
            ));
        };
        // Search only where the terminator can newly appear.
        let from = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(received);
        if let Some(end) = buffer
            .get(from..)
            .and_then(|tail| tail.windows(4).position(|w| w == b"\r\n\r\n"))
        {
            let head_len = from + end + 4;
            let extra = buffer.len() > head_len;
            buffer.truncate(head_len);
            return Ok((buffer, extra));
        }
        if buffer.len() > MAX_RESPONSE_HEAD {
            return Err(HeadError::Protocol("a response head over 8 KiB"));
        }
    }
}

/// The status code of an `HTTP/1.x NNN reason` status line (RFC 9112 §4).
fn response_status(head: &[u8]) -> Result<StatusCode, &'static str> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| "a status line that is not text")?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err("something other than an HTTP/1.x response");
    }
    parts
        .next()
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("a status line without a valid status code")
}

/// What an operator should check for a refused tunnel.
fn refusal_hint(status: StatusCode, proxy: &ProxyUrl) -> String {
    match status.as_u16() {
        407 if proxy.has_credentials() => {
            format!("; the proxy rejected the user:password in {}", proxy.var)
        }
        407 => format!(
            "; the proxy wants credentials: put user:password@ in {}",
            proxy.var
        ),
        403 => "; the proxy does not allow this host: ask for it to be allowed, \
                or list it in NO_PROXY if it is reachable directly"
            .into(),
        _ => String::new(),
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

    #[test]
    fn no_proxy_matching_follows_the_usual_rules() {
        // (NO_PROXY, host, port, bypasses the proxy)
        let cases = [
            ("example.com", "example.com", 443, true),
            ("example.com", "api.example.com", 443, true),
            ("example.com", "EXAMPLE.com.", 443, true),
            ("example.com", "notexample.com", 443, false),
            ("example.com", "example.com.evil.net", 443, false),
            (".example.com", "example.com", 443, true),
            (".example.com", "a.b.example.com", 443, true),
            ("*.example.com", "a.example.com", 443, true),
            ("*", "anything.at.all", 443, true),
            ("other.net, *", "anything.at.all", 443, true),
            ("", "example.com", 443, false),
            ("  , ,", "example.com", 443, false),
            ("a.net , example.com ", "x.example.com", 443, true),
            ("example.com:8443", "example.com", 8443, true),
            ("example.com:8443", "example.com", 443, false),
            ("127.0.0.1", "127.0.0.1", 443, true),
            ("127.0.0.1", "127.0.0.2", 443, false),
            ("127.0.0.1:8080", "127.0.0.1", 8080, true),
            ("127.0.0.1:8080", "127.0.0.1", 8081, false),
            ("10.0.0.0/8", "10.20.30.40", 443, true),
            ("10.0.0.0/8", "11.0.0.1", 443, false),
            ("0.0.0.0/0", "192.0.2.1", 443, true),
            ("::1", "[::1]", 443, true),
            ("[::1]", "::1", 443, true),
            ("[::1]:8443", "[::1]", 8443, true),
            ("[::1]:8443", "[::1]", 443, false),
            ("fd00::/8", "[fd12::1]", 443, true),
            ("fd00::/8", "10.0.0.1", 443, false),
            // Loopback is exempt only when listed.
            ("example.com", "localhost", 443, false),
            ("example.com", "127.0.0.1", 443, false),
            ("localhost", "localhost", 443, true),
            ("localhost", "127.0.0.1", 443, false),
            // A domain pattern never matches an IP by suffix.
            ("0.1", "10.0.0.1", 443, false),
        ];
        for (list, host, port, expected) in cases {
            assert_eq!(
                NoProxy::parse(list).matches(host, port),
                expected,
                "NO_PROXY={list:?} for {host}:{port}"
            );
        }
    }

    #[test]
    fn no_proxy_entries_that_mean_nothing_are_reported() {
        let parsed = NoProxy::parse("good.example, bad host, 10.0.0.0/33, x:notaport, [::1");
        assert_eq!(
            parsed.ignored(),
            ["bad host", "10.0.0.0/33", "x:notaport", "[::1"],
            "ignored entries"
        );
        assert!(
            parsed.matches("good.example", 443),
            "the good entry still applies"
        );
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
    fn the_connect_request_has_a_host_header_and_optional_credentials() {
        assert_eq!(
            connect_request("tenant.auth0.com:443", None),
            "CONNECT tenant.auth0.com:443 HTTP/1.1\r\nHost: tenant.auth0.com:443\r\n\r\n"
        );
        assert_eq!(
            connect_request("[::1]:8443", Some("Basic YTpi")),
            "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Authorization: Basic YTpi\r\n\r\n"
        );
    }

    #[test]
    fn proxy_status_lines_are_parsed_strictly() {
        let cases: [(&[u8], Result<u16, ()>); 7] = [
            (b"HTTP/1.1 200 Connection established\r\n\r\n", Ok(200)),
            (b"HTTP/1.0 200\r\n\r\n", Ok(200)),
            (
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
                Ok(407),
            ),
            (b"HTTP/2 200\r\n\r\n", Err(())),
            (b"SSH-2.0-OpenSSH\r\n\r\n", Err(())),
            (b"HTTP/1.1 2000 OK\r\n\r\n", Err(())),
            (b"HTTP/1.1 abc\r\n\r\n", Err(())),
        ];
        for (head, expected) in cases {
            assert_eq!(
                response_status(head).map(|s| s.as_u16()).map_err(|_| ()),
                expected,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%40b%zz%4"), b"a@b%zz%4");
    }
}
