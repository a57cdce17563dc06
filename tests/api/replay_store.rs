//! The DPoP replay store (SPEC "DPoP", RFC 9449 §11.1) where users run it:
//! two replicas sharing one real Redis, Redis going away and coming back,
//! and the memory store at capacity. Every test starts its own
//! `redis-server` on a free loopback port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;

use crate::dpop::{Proof, ProofKey};
use crate::helpers::{metric, spawn_app_with, MockTenant, Reply, TestKey};
use crate::process::Service;

const PRIVATE: &str = "/api/private";
/// The one URL clients use, as behind a load balancer in front of replicas.
const PUBLIC: &str = "https://api.example.com";

/// A real `redis-server` on a free loopback port, stopped when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        redis.resume();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port, and waits for its PONG.
    fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server; .ci/run installs it)");
        self.child = Some(child);
        for _ in 0..250 {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// Stops the server, as an outage would.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A DPoP client: its key, a token bound to it, and fresh proofs for the
/// public URL.
struct Client {
    key: ProofKey,
    token: String,
}

impl Client {
    fn new(tenant: &MockTenant, signing: &TestKey) -> Self {
        let key = ProofKey::es256();
        let token = tenant
            .token(signing)
            .claim("cnf", json!({"jkt": key.thumbprint()}))
            .sign(signing);
        Self { key, token }
    }

    fn proof(&self) -> String {
        Proof::new(&self.key, "GET", &format!("{PUBLIC}{PRIVATE}"), &self.token).sign(&self.key)
    }

    async fn call(&self, service: &Service, proof: &str) -> Reply {
        let authorization = format!("DPoP {}", self.token);
        service
            .get_with(
                PRIVATE,
                &[("Authorization", authorization.as_str()), ("DPoP", proof)],
            )
            .await
    }
}

/// A replica: the real binary sharing `redis`, behind [`PUBLIC`].
async fn replica(tenant: &MockTenant, redis: &Redis) -> Service {
    let url = redis.url();
    let service = Service::start(
        &tenant.issuer,
        &[
            ("APP_DPOP__REPLAY_STORE", url.as_str()),
            ("APP_DPOP__PUBLIC_BASE_URL", PUBLIC),
            ("APP_DPOP__REPLAY_STORE_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    let (status, body) = service.readyz_until(|status, _| status == 200).await;
    assert_eq!(
        status,
        200,
        "the replica is ready: {body}\n{}",
        service.log()
    );
    service
}

fn assert_replay(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {reply:?}");
    assert_eq!(
        reply.body["error"], "invalid_dpop_proof",
        "{case}: {reply:?}"
    );
    assert_eq!(
        reply.body["error_description"], "The DPoP proof was already used",
        "{case}: {reply:?}"
    );
}

fn assert_store_unavailable(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 503, "{case}: fails closed: {reply:?}");
    assert_eq!(reply.body["error"], "temporarily_unavailable", "{case}");
    assert_eq!(
        reply.retry_after.as_deref(),
        Some("1"),
        "{case}: Retry-After"
    );
    assert_eq!(
        reply.www_authenticate, None,
        "{case}: no challenge, the client did nothing wrong"
    );
}

#[actix_web::test]
async fn a_proof_used_at_one_replica_is_a_replay_at_the_other() {
    let redis = Redis::start();
    let tenant = MockTenant::start();
    let signing = TestKey::rsa("key-1");
    tenant.publish(&[&signing]);
    let (a, b) = (
        replica(&tenant, &redis).await,
        replica(&tenant, &redis).await,
    );
    let client = Client::new(&tenant, &signing);

    let first = client.proof();
    let reply = client.call(&a, &first).await;
    assert_eq!(
        reply.status, 200,
        "replica A takes a fresh proof: {reply:?}"
    );
    assert_replay(&client.call(&b, &first).await, "A's proof replayed at B");
    assert_replay(&client.call(&a, &first).await, "A's proof replayed at A");

    let second = client.proof();
    let reply = client.call(&b, &second).await;
    assert_eq!(
        reply.status, 200,
        "replica B takes its own fresh proof: {reply:?}"
    );
    assert_replay(&client.call(&a, &second).await, "B's proof replayed at A");

    // Both race for the same fresh proof: Redis lets exactly one win.
    let third = client.proof();
    let (ra, rb) =
        futures_util::future::join(client.call(&a, &third), client.call(&b, &third)).await;
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 401],
        "one of two concurrent uses wins: {ra:?} {rb:?}"
    );
}

#[actix_web::test]
async fn when_redis_is_down_dpop_fails_closed_bearer_is_served_and_both_recover() {
    let mut redis = Redis::start();
    let tenant = MockTenant::start();
    let signing = TestKey::rsa("key-1");
    tenant.publish(&[&signing]);
    let service = replica(&tenant, &redis).await;
    let client = Client::new(&tenant, &signing);
    let bearer = tenant.token(&signing).sign(&signing);
    let bearer_header = format!("Bearer {bearer}");
    let bearer_headers = [("Authorization", bearer_header.as_str())];

    assert_eq!(
        client.call(&service, &client.proof()).await.status,
        200,
        "up"
    );
    redis.stop();

    let reply = client.call(&service, &client.proof()).await;
    assert_store_unavailable(&reply, "Redis down");
    assert_eq!(
        service.get_with(PRIVATE, &bearer_headers).await.status,
        200,
        "Bearer needs no store"
    );
    let ready = service.get_with("/readyz", &[]).await;
    assert_eq!(
        ready.status, 200,
        "readiness stays green, so a Redis hiccup never takes every pod out: {ready:?}"
    );
    let metrics = service.get_with("/metrics", &[]).await.body;
    let metrics = metrics.as_str().unwrap_or_default();
    assert_eq!(
        metric(metrics, "dpop_replay_store_up"),
        Some(0.0),
        "gauge down"
    );
    assert!(
        metric(metrics, "dpop_replay_store_errors_total").unwrap_or(0.0) >= 1.0,
        "errors counted"
    );

    redis.resume();
    let mut last = None;
    for _ in 0..50 {
        let reply = client.call(&service, &client.proof()).await;
        if reply.status == 200 {
            last = None;
            break;
        }
        last = Some(reply);
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last.is_none(), "DPoP recovers without a restart: {last:?}");
    let used = client.proof();
    assert_eq!(client.call(&service, &used).await.status, 200);
    assert_replay(&client.call(&service, &used).await, "replays refused again");
    let metrics = service.get_with("/metrics", &[]).await.body;
    let metrics = metrics.as_str().unwrap_or_default();
    assert_eq!(
        metric(metrics, "dpop_replay_store_up"),
        Some(1.0),
        "gauge up"
    );
    assert!(
        service
            .log()
            .contains("the DPoP replay store at redis://127.0.0.1"),
        "the outage and the recovery are logged:\n{}",
        service.log()
    );
}

#[actix_web::test]
async fn a_full_memory_store_refuses_new_proofs_and_still_refuses_replays() {
    let app = spawn_app_with(|s| {
        s.dpop.replay_cache_entries = 3;
        s.dpop.public_base_url = PUBLIC.into();
    })
    .await;
    let client = Client::new(&app.tenant, &app.key);
    let call = |proof: String| {
        let authorization = format!("DPoP {}", client.token);
        let app = &app;
        async move {
            app.get_with(
                PRIVATE,
                &[
                    ("Authorization", authorization.as_str()),
                    ("DPoP", proof.as_str()),
                ],
            )
            .await
        }
    };
    let victim = client.proof();
    assert_eq!(call(victim.clone()).await.status, 200, "the victim's proof");
    for i in 0..2 {
        assert_eq!(call(client.proof()).await.status, 200, "fresh proof {i}");
    }
    for i in 0..5 {
        assert_store_unavailable(&call(client.proof()).await, &format!("flood proof {i}"));
    }
    let replay = call(victim).await;
    assert_eq!(
        replay.body["error_description"], "The DPoP proof was already used",
        "after the flood the victim's proof is still remembered: {replay:?}"
    );
    let metrics = app.scrape().await;
    assert_eq!(
        metric(&metrics, "dpop_replay_store_full_total"),
        Some(5.0),
        "refusals counted"
    );
    let bearer = app.token().sign(&app.key);
    assert_eq!(
        app.get_bearer(PRIVATE, &bearer).await.status,
        200,
        "Bearer is unaffected by a full store"
    );
}
