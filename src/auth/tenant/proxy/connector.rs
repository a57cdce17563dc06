//! The awc TCP connector that reaches proxied hosts through an HTTP
//! `CONNECT` tunnel (RFC 9110 §9.3.6) and connects directly otherwise.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use actix_rt::net::TcpStream;
use actix_tls::connect::{
    ConnectError as TcpConnectError, ConnectInfo, Connection as TcpConnection,
    Connector as TcpConnector, ConnectorService, Resolver,
};
use actix_web::dev::Service;
use awc::http::{StatusCode, Uri};
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ProxyConfig, ProxyConfigError, ProxyUrl, Route};

/// Largest `CONNECT` response head read from a proxy; a real one is a few
/// hundred bytes, so anything bigger is not a proxy we can talk to.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;

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
}
