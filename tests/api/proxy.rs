//! Corporate proxies: the real binary reaches an https tenant through a
//! `CONNECT` proxy when `HTTPS_PROXY` is set, goes around it for hosts in
//! `NO_PROXY`, and answers 503 (never 401) when the proxy will not tunnel.
//!
//! Everything runs on loopback with random ports: a self-signed TLS tenant
//! (trusted by the child through `SSL_CERT_FILE`), a tiny proxy on std
//! threads, and the binary with its own environment; the test process's
//! environment is never touched.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{TestKey, TokenBuilder};
use crate::process::Service;

/// Largest request head either mock server reads.
const MAX_HEAD: usize = 16 * 1024;
/// How many connections either mock server accepts before it stops: far
/// more than one test needs, and a bound on the threads it can start.
const MAX_CONNECTIONS: usize = 64;
/// Socket read/write timeout in the mock servers, so no thread outlives a
/// test by much.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads byte by byte up to the blank line that ends an HTTP head, so no
/// byte after it is swallowed (the tunnel needs them all).
fn read_head(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

/// The value of header `name` in `head` (case-insensitive name).
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, as
/// `openssl req -x509` would make it.
fn self_signed_localhost() -> (X509, PKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    let now = crate::helpers::now();
    cert.set_not_before(&Asn1Time::from_unix(now - 3600).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::from_unix(now + 86_400).unwrap())
        .unwrap();
    cert.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (cert.build(), key)
}

/// A tenant on `https://localhost:<port>/`: discovery and one key set over
/// TLS, one request per connection, requests counted.
struct TlsTenant {
    port: u16,
    issuer: String,
    hits: Arc<AtomicUsize>,
    /// Holds `cert.pem`, the file the child trusts.
    dir: TempDir,
}

impl TlsTenant {
    fn start(key: &TestKey) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, private_key) = self_signed_localhost();
        std::fs::write(dir.path().join("cert.pem"), cert.to_pem().unwrap()).unwrap();
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor.set_private_key(&private_key).unwrap();
        acceptor.set_certificate(&cert).unwrap();
        acceptor.check_private_key().unwrap();
        let acceptor = Arc::new(acceptor.build());

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("https://localhost:{port}/");
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        })
        .to_string();
        let jwks = json!({ "keys": [key.public_jwk] }).to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let (acceptor, counter) = (Arc::clone(&acceptor), Arc::clone(&counter));
                let (discovery, jwks) = (discovery.clone(), jwks.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                    let Ok(mut tls) = acceptor.accept(stream) else {
                        return;
                    };
                    let Some(head) = read_head(&mut tls) else {
                        return;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    let path = head.split_whitespace().nth(1).unwrap_or_default();
                    let (status, body) = match path {
                        "/.well-known/openid-configuration" => ("200 OK", discovery.as_str()),
                        "/.well-known/jwks.json" => ("200 OK", jwks.as_str()),
                        _ => ("404 Not Found", "{}"),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes());
                    let _ = tls.shutdown();
                });
            }
        });
        Self {
            port,
            issuer,
            hits,
            dir,
        }
    }

    fn cert_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// What the proxy does with a `CONNECT`.
#[derive(Debug, Clone, Copy)]
enum ProxyMode {
    /// 200, then bytes both ways (loopback targets only).
    Tunnel,
    /// This status and a closed connection.
    Refuse(u16),
    /// Reads the `CONNECT`, then says nothing until its socket times out.
    Silent,
}

/// One `CONNECT` the proxy received.
#[derive(Debug, Clone)]
struct Connect {
    target: String,
    host: Option<String>,
    authorization: Option<String>,
}

/// A tiny HTTP `CONNECT` proxy on `127.0.0.1:<port>` that records every
/// request it gets.
struct ConnectProxy {
    port: u16,
    seen: Arc<Mutex<Vec<Connect>>>,
}

impl ConnectProxy {
    fn start(mode: ProxyMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve_connect(client, mode, &log));
            }
        });
        Self { port, seen }
    }

    fn connects(&self) -> Vec<Connect> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_connect(mut client: TcpStream, mode: ProxyMode, log: &Mutex<Vec<Connect>>) {
    let _ = client.set_read_timeout(Some(IO_TIMEOUT));
    let _ = client.set_write_timeout(Some(IO_TIMEOUT));
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let mut request_line = head.split_whitespace();
    if request_line.next() != Some("CONNECT") {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let target = request_line.next().unwrap_or_default().to_owned();
    log.lock().unwrap().push(Connect {
        target: target.clone(),
        host: header(&head, "host"),
        authorization: header(&head, "proxy-authorization"),
    });
    let port = match mode {
        ProxyMode::Refuse(status) => {
            let response = format!(
                "HTTP/1.1 {status} Nope\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\
                 Content-Length: 5\r\nConnection: close\r\n\r\nnope\n"
            );
            let _ = client.write_all(response.as_bytes());
            return;
        }
        ProxyMode::Silent => {
            std::thread::sleep(IO_TIMEOUT);
            return;
        }
        ProxyMode::Tunnel => target
            .strip_prefix("localhost:")
            .or_else(|| target.strip_prefix("127.0.0.1:"))
            .and_then(|port| port.parse::<u16>().ok()),
    };
    // Only loopback: this proxy must never reach past the machine.
    let upstream = port.and_then(|port| TcpStream::connect(("127.0.0.1", port)).ok());
    let Some(upstream) = upstream else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let _ = upstream.set_read_timeout(Some(IO_TIMEOUT));
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (Ok(mut client_reader), Ok(mut upstream_writer)) =
        (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut upstream_writer);
        let _ = upstream_writer.shutdown(Shutdown::Write);
    });
    let (mut upstream_reader, mut client_writer) = (upstream, client);
    let _ = std::io::copy(&mut upstream_reader, &mut client_writer);
    let _ = client_writer.shutdown(Shutdown::Write);
    let _ = upload.join();
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[actix_web::test]
async fn the_tenant_is_reached_through_a_connect_proxy_when_https_proxy_is_set() {
    let key = TestKey::rsa("key-1");
    let tenant = TlsTenant::start(&key);
    let proxy = ConnectProxy::start(ProxyMode::Tunnel);
    let proxy_url = format!("http://alice:s3cret@127.0.0.1:{}", proxy.port);
    let cert = tenant.cert_file();
    let service = Service::start(
        &tenant.issuer,
        &[
            ("HTTPS_PROXY", proxy_url.as_str()),
            ("SSL_CERT_FILE", path_str(&cert)),
        ],
    )
    .await;

    let (status, _) = service.readyz_until(|status, _| status == 200).await;
    assert_eq!(
        status,
        200,
        "ready through the proxy; log:\n{}",
        service.log()
    );
    let token = TokenBuilder::new(&tenant.issuer, &key).sign(&key);
    let (status, challenge, body) = service.get("/api/private", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(challenge, None, "no challenge on success");

    let connects = proxy.connects();
    let target = format!("localhost:{}", tenant.port);
    assert!(!connects.is_empty(), "the proxy saw a CONNECT");
    let basic = format!("Basic {}", STANDARD.encode("alice:s3cret"));
    for connect in &connects {
        assert_eq!(
            connect.target, target,
            "CONNECT names the tenant's host and port"
        );
        assert_eq!(
            connect.host.as_deref(),
            Some(target.as_str()),
            "Host header"
        );
        assert_eq!(
            connect.authorization.as_deref(),
            Some(basic.as_str()),
            "credentials from the URL"
        );
    }
    assert!(
        tenant.hits() >= 2,
        "discovery and JWKS went through the tunnel: {}",
        tenant.hits()
    );
    let log = service.log();
    assert!(
        log.contains(&format!(
            "through the proxy http://127.0.0.1:{} (from HTTPS_PROXY",
            proxy.port
        )),
        "the proxy in use is logged:\n{log}"
    );
    assert!(
        !log.contains("s3cret"),
        "the proxy password is never logged:\n{log}"
    );
}

#[actix_web::test]
async fn a_host_in_no_proxy_is_reached_directly() {
    let key = TestKey::rsa("key-1");
    let tenant = TlsTenant::start(&key);
    let proxy = ConnectProxy::start(ProxyMode::Tunnel);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let cert = tenant.cert_file();
    let service = Service::start(
        &tenant.issuer,
        &[
            ("HTTPS_PROXY", proxy_url.as_str()),
            ("NO_PROXY", "example.com,localhost"),
            ("SSL_CERT_FILE", path_str(&cert)),
        ],
    )
    .await;

    let (status, _) = service.readyz_until(|status, _| status == 200).await;
    assert_eq!(
        status,
        200,
        "ready without the proxy; log:\n{}",
        service.log()
    );
    let token = TokenBuilder::new(&tenant.issuer, &key).sign(&key);
    let (status, _, body) = service.get("/api/private", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        proxy.connects().len(),
        0,
        "the proxy saw nothing: {:?}",
        proxy.connects()
    );
    assert!(tenant.hits() >= 2, "the tenant was reached directly");
    assert!(
        service.log().contains("matches NO_PROXY"),
        "the bypass is logged:\n{}",
        service.log()
    );
}

/// One way a proxy can fail to tunnel, and what the log must then say.
struct Refusal {
    /// The child's `HTTPS_PROXY`.
    https_proxy: String,
    /// Extra environment for the child.
    env: &'static [(&'static str, &'static str)],
    /// Both must appear in the log.
    reason: [String; 2],
    /// The proxy, when one listens, which must have been asked.
    proxy: Option<ConnectProxy>,
}

#[actix_web::test]
async fn a_proxy_that_will_not_tunnel_means_503_with_the_proxy_named_in_the_log() {
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = |status: u16, reason: &str| {
        let proxy = ConnectProxy::start(ProxyMode::Refuse(status));
        Refusal {
            https_proxy: format!("http://127.0.0.1:{}", proxy.port),
            env: &[],
            reason: [
                format!(
                    "proxy http://127.0.0.1:{} (from HTTPS_PROXY) refused CONNECT",
                    proxy.port
                ),
                reason.to_owned(),
            ],
            proxy: Some(proxy),
        }
    };
    let silent = ConnectProxy::start(ProxyMode::Silent);
    let cases = [
        refused(407, "HTTP 407 Proxy Authentication Required"),
        refused(403, "HTTP 403 Forbidden"),
        Refusal {
            https_proxy: format!("http://127.0.0.1:{closed_port}"),
            env: &[],
            reason: [
                format!("cannot connect to proxy http://127.0.0.1:{closed_port}"),
                "refused".into(),
            ],
            proxy: None,
        },
        Refusal {
            https_proxy: format!("http://127.0.0.1:{}", silent.port),
            // The connect timeout bounds the CONNECT exchange too.
            env: &[("APP_JWKS__CONNECT_TIMEOUT_MS", "300")],
            reason: [
                format!(
                    "proxy http://127.0.0.1:{} (from HTTPS_PROXY) did not open a tunnel",
                    silent.port
                ),
                "within 300ms".into(),
            ],
            proxy: Some(silent),
        },
        Refusal {
            https_proxy: format!("socks5://127.0.0.1:{closed_port}"),
            env: &[],
            reason: [
                "HTTPS_PROXY names a socks5:// proxy".into(),
                "only http://".into(),
            ],
            proxy: None,
        },
    ];
    let key = TestKey::rsa("key-1");
    for case in cases {
        let url = &case.https_proxy;
        let tenant = TlsTenant::start(&key);
        let cert = tenant.cert_file();
        let mut env = vec![
            ("HTTPS_PROXY", url.as_str()),
            ("SSL_CERT_FILE", path_str(&cert)),
        ];
        env.extend_from_slice(case.env);
        let service = Service::start(&tenant.issuer, &env).await;
        let token = TokenBuilder::new(&tenant.issuer, &key).sign(&key);
        let (status, challenge, body) = service.get("/api/private", Some(&token)).await;
        assert_eq!(
            status, 503,
            "{url}: keys are unavailable, the token is not at fault: {body}"
        );
        assert_eq!(challenge, None, "{url}: no challenge on a 503");
        assert_eq!(body["error"], "temporarily_unavailable", "{url}");

        // The public probe says what is wrong in words only; the operator's
        // detail, naming the proxy, is in the log.
        let (status, body) = service
            .readyz_until(|_, body| {
                body["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("tenant"))
            })
            .await;
        assert_eq!(status, 503, "{url}: not ready");
        let reason = body["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("tenant unreachable for "),
            "{url}: readyz reason {reason:?}"
        );
        assert!(
            !reason.contains("127.0.0.1") && !reason.contains("proxy"),
            "{url}: no host or proxy detail on the public port: {reason:?}"
        );
        let log = service.log();
        assert!(
            case.reason.iter().all(|part| log.contains(part.as_str())),
            "{url}: the log should say {:?}:\n{log}",
            case.reason
        );
        assert_eq!(
            tenant.hits(),
            0,
            "{url}: nothing reached the tenant around the proxy"
        );
        if let Some(proxy) = &case.proxy {
            let target = format!("localhost:{}", tenant.port);
            assert!(
                proxy.connects().iter().any(|c| c.target == target),
                "{url}: the proxy was asked for {target}: {:?}",
                proxy.connects()
            );
        }
    }
}
