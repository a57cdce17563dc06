//! The HTTP side of the key cache: one pooled awc client with connect and
//! total timeouts, `HTTPS_PROXY` / `NO_PROXY` support, size-capped bodies,
//! and error messages that tell an operator what to fix. Runs on the fetcher
//! thread only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use awc::http::header::{HeaderMap, CACHE_CONTROL};
use awc::{Client, Connector};
use openssl::ssl::{SslConnector, SslMethod};
use serde_json::Value;
use url::Url;

use super::proxy::{ProxyConfig, ProxyConnector, Route};
use super::transport::check_transport;
use crate::auth::keys::KeySet;
use crate::auth::policy::KeyCachePolicy;

/// How much longer awc's own connect timeout is than ours. The
/// [`ProxyConnector`] enforces the configured connect timeout itself, with
/// an error that names the proxy; awc's is only a backstop and must not win
/// the race with a vaguer message.
const CONNECT_BACKSTOP: Duration = Duration::from_secs(1);

/// How a fetch failed, in words that are safe to show anyone: the kind of
/// failure only, never a URL, host, port or upstream error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No answer: DNS, connection, proxy, TLS or timeout.
    Unreachable,
    /// An answer with a non-success HTTP status.
    HttpError,
    /// An answer that cannot be used: not JSON, too large, wrong issuer, no
    /// usable key.
    Unusable,
}

/// A failed fetch, split by which document failed. The message is the
/// operator's detail, for logs; [`Self::kind`] is what may be shown.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The discovery document could not be had or is wrong.
    #[error("OIDC discovery failed: {1}")]
    Discovery(FailureKind, String),
    /// The key set could not be had or has no usable key.
    #[error("JWKS fetch failed: {1}")]
    Jwks(FailureKind, String),
}

impl TenantError {
    /// How the fetch failed.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Discovery(kind, _) | Self::Jwks(kind, _) => *kind,
        }
    }

    /// The failure in words, for a readiness probe or a status page.
    pub fn summary(&self) -> &'static str {
        match (self, self.kind()) {
            (_, FailureKind::Unreachable) => "tenant unreachable",
            (_, FailureKind::HttpError) => "tenant answers with HTTP errors",
            (Self::Discovery(..), FailureKind::Unusable) => "tenant's discovery document unusable",
            (Self::Jwks(..), FailureKind::Unusable) => "tenant's key set unusable",
        }
    }
}

type Failure = (FailureKind, String);

/// The tenant as seen by the fetcher.
pub struct Tenant {
    client: Client,
    issuer: String,
    discovery_url: Url,
    jwks_uri: Option<Url>,
    policy: KeyCachePolicy,
}

type Fetched = (KeySet, Vec<String>, Option<Duration>);

impl Tenant {
    /// Builds the client: system trust roots (and `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`, which OpenSSL reads itself), no redirects, and the
    /// proxy settings read from the environment once, here
    /// (see [`ProxyConfig::from_env`]).
    pub fn new(policy: &KeyCachePolicy, discovery_url: Url) -> Result<Self, String> {
        Self::with_proxy(policy, discovery_url, ProxyConfig::from_env())
    }

    /// Like [`Self::new`], with the proxy settings given instead of read from
    /// the environment.
    pub fn with_proxy(
        policy: &KeyCachePolicy,
        discovery_url: Url,
        proxy: ProxyConfig,
    ) -> Result<Self, String> {
        log_proxy_route(&proxy, &discovery_url);
        let mut tls = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
        tls.set_default_verify_paths().map_err(|e| e.to_string())?;
        let connector = Connector::new()
            .connector(ProxyConnector::new(proxy, policy.connect_timeout))
            // Saturating: a policy's Duration::MAX must not panic the fetcher.
            .timeout(policy.connect_timeout.saturating_add(CONNECT_BACKSTOP))
            .handshake_timeout(policy.connect_timeout)
            .openssl(tls.build());
        let client = Client::builder()
            .connector(connector)
            .timeout(policy.request_timeout)
            .disable_redirects()
            .add_default_header(("Accept", "application/json"))
            .finish();
        Ok(Self {
            client,
            issuer: policy.issuer.clone(),
            discovery_url,
            jwks_uri: None,
            policy: policy.clone(),
        })
    }

    /// Discovery (once, then remembered) and the JWKS; returns the parsed set,
    /// the reasons keys were skipped, and the response's `max-age`.
    pub async fn fetch_keys(
        &mut self,
        discovery_requests: &AtomicU64,
        jwks_requests: &AtomicU64,
    ) -> Result<Fetched, TenantError> {
        let jwks_uri = match &self.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                discovery_requests.fetch_add(1, Ordering::Relaxed);
                let uri = self
                    .discover()
                    .await
                    .map_err(|(kind, e)| TenantError::Discovery(kind, e))?;
                self.jwks_uri = Some(uri.clone());
                uri
            }
        };
        jwks_requests.fetch_add(1, Ordering::Relaxed);
        let (body, max_age) = self
            .get(&jwks_uri)
            .await
            .map_err(|(kind, e)| TenantError::Jwks(kind, e))?;
        let (keys, skipped) = KeySet::from_jwks(&body, &self.policy.algorithms)
            .map_err(|e| TenantError::Jwks(FailureKind::Unusable, e))?;
        Ok((keys, skipped, max_age))
    }

    /// Forgets the remembered `jwks_uri`, so the next fetch rediscovers it
    /// (the tenant may have moved its keys).
    pub fn forget_jwks_uri(&mut self) {
        self.jwks_uri = None;
    }

    async fn discover(&self) -> Result<Url, Failure> {
        let (body, _) = self.get(&self.discovery_url).await?;
        jwks_uri_from_discovery(&body, &self.issuer, &self.discovery_url)
            .map_err(|e| (FailureKind::Unusable, e))
    }

    async fn get(&self, url: &Url) -> Result<(Vec<u8>, Option<Duration>), Failure> {
        let request = async {
            let mut response = self.client.get(url.as_str()).send().await.map_err(|e| {
                (
                    FailureKind::Unreachable,
                    format!(
                        "cannot reach {url} ({e}); check AUTH0_DOMAIN, DNS and the network or proxy"
                    ),
                )
            })?;
            let status = response.status();
            if !status.is_success() {
                let hint = if status.as_u16() == 404 {
                    "; check AUTH0_DOMAIN"
                } else {
                    ""
                };
                return Err((
                    FailureKind::HttpError,
                    format!("{url} answered HTTP {}{hint}", status.as_u16()),
                ));
            }
            let max_age = max_age(response.headers());
            let body = response
                .body()
                .limit(self.policy.max_body_bytes)
                .await
                .map_err(|e| {
                    (
                        FailureKind::Unusable,
                        format!(
                            "reading {url} failed ({e}); the limit is {} bytes",
                            self.policy.max_body_bytes
                        ),
                    )
                })?;
            Ok((body.to_vec(), max_age))
        };
        // awc's own timeout covers the response head; this one covers the body too.
        tokio::time::timeout(self.policy.request_timeout, request)
            .await
            .map_err(|_| {
                (
                    FailureKind::Unreachable,
                    format!(
                        "{url} did not answer within {:?}",
                        self.policy.request_timeout
                    ),
                )
            })?
    }
}

/// The `jwks_uri` of the discovery document `body`, fetched from
/// `discovery_url`, after checking that it names `issuer` exactly (OIDC
/// Discovery §4.3) and that the key set is on https or loopback http.
/// Public only so that this parse of what the tenant sends can be fuzzed
/// on its own (`fuzz/fuzz_targets/jwks.rs`).
pub fn jwks_uri_from_discovery(
    body: &[u8],
    issuer: &str,
    discovery_url: &Url,
) -> Result<Url, String> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| format!("{discovery_url} is not a JSON document"))?;
    let named = doc
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if named != issuer {
        return Err(format!(
            "{discovery_url} names issuer {named:?} but the configured issuer is {issuer:?}; check AUTH0_DOMAIN \
             (Auth0 issuers are https://<domain>/ with a trailing slash)"
        ));
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{discovery_url} has no jwks_uri"))?;
    let jwks_uri =
        Url::parse(jwks_uri).map_err(|e| format!("jwks_uri {jwks_uri:?} is not a URL ({e})"))?;
    check_transport(&jwks_uri).map_err(|e| format!("refusing jwks_uri: {e}"))?;
    Ok(jwks_uri)
}

/// Says once, at start-up, how the tenant will be reached. Never logs proxy
/// credentials: [`super::proxy::ProxyUrl`] does not display them.
fn log_proxy_route(proxy: &ProxyConfig, discovery_url: &Url) {
    for entry in proxy.no_proxy().ignored() {
        log::warn!(
            "NO_PROXY entry {entry:?} is not a host name, IP address or CIDR range; ignored"
        );
    }
    let host = discovery_url.host_str().unwrap_or_default();
    let port = discovery_url.port_or_known_default().unwrap_or(443);
    match proxy.route(discovery_url.scheme(), host, port) {
        Route::Direct => log::debug!("no proxy configured; the tenant {host} is reached directly"),
        Route::Excluded => {
            log::info!("the tenant {host} matches NO_PROXY; it is reached directly")
        }
        Route::Via(via) => log::info!(
            "the tenant {host} is reached through the proxy {via} (from {}{})",
            via.source(),
            if via.has_credentials() {
                ", with credentials"
            } else {
                ""
            }
        ),
        Route::Misconfigured(error) => {
            log::error!("{error}; requests to the tenant {host} fail until it is fixed or unset")
        }
    }
}

/// `Cache-Control: max-age=N` (RFC 9111 §5.2.2.1), if present and sane.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("max-age") {
            seconds
                .trim()
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs)
        } else {
            None
        }
    })
}
