//! The real binary as a child process on a random loopback port, with an
//! environment of its own: what operators run, for the tests that need a
//! process (proxies, replicas sharing a replay store).

use std::fs::File;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{Reply, AUDIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_auth0-actix-api");

/// The real binary in `serve` mode; killed when dropped, so a failed assert
/// leaves no process behind.
pub struct Service {
    /// The port it listens on.
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Service {
    /// Starts the binary against `issuer` with nothing but `env` (plus the
    /// issuer, audience and port) in its environment, logs to a file.
    pub async fn start(issuer: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("service.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("AUTH0_ISSUER_BASE_URL", issuer)
            .env("AUTH0_AUDIENCE", AUDIENCE)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let service = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        for _ in 0..250 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return service;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the service did not start on port {port}; its log:\n{}",
            service.log()
        );
    }

    /// GET `path`, with a bearer token if given: status, headers we assert
    /// on, and the JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(20))
            .finish();
        let mut request = client.get(format!("http://127.0.0.1:{}{path}", self.port));
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut response = request.send().await.expect("the service answers");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.body().await.unwrap();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (response.status().as_u16(), challenge, body)
    }

    /// GET `path` with exactly these headers (appended in order, so a
    /// header may repeat).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(20))
            .finish();
        let mut request = client.get(format!("http://127.0.0.1:{}{path}", self.port));
        for (name, value) in headers {
            request = request.append_header((*name, *value));
        }
        Reply::read(request.send().await.expect("the service answers")).await
    }

    /// Polls `/readyz` until `done` holds for its status and body (10 s at most).
    pub async fn readyz_until(&self, done: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
        let mut last = (0, Value::Null);
        for _ in 0..100 {
            let (status, _, body) = self.get("/readyz", None).await;
            last = (status, body);
            if done(last.0, &last.1) {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        last
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
