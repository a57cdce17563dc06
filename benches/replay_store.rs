//! What recording one DPoP proof costs: the memory store against Redis on
//! loopback, one request at a time (the added latency of a DPoP request)
//! and 64 at once (what a busy replica sees). The Redis half starts its own
//! `redis-server` on a free loopback port, and is skipped, saying so, when
//! the machine has none.
//!
//! Run: `cargo bench --bench replay_store`.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth0_actix_api::auth::dpop::{ReplayKey, ReplayStore};
use auth0_actix_api::auth::{MemoryReplayStore, RedisReplayStore};
use criterion::{criterion_group, criterion_main, Criterion};

/// A `redis-server` of the bench's own, stopped when dropped.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Self(child, port);
        for _ in 0..250 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh key per call, as every honest proof has its own `jti`.
fn next_key(counter: &AtomicU64) -> ReplayKey {
    ReplayKey::new(
        "bench-thumbprint",
        &counter.fetch_add(1, Ordering::Relaxed).to_string(),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let counter = Arc::new(AtomicU64::new(0));
    // Room for every key a run records, so the memory store never fills.
    let memory: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(50_000_000));
    let redis_server = Redis::start();
    let redis: Option<Arc<dyn ReplayStore>> = redis_server.as_ref().map(|r| {
        let url = format!("redis://127.0.0.1:{}", r.1);
        Arc::new(RedisReplayStore::new(&url, Duration::from_secs(1)).expect("store"))
            as Arc<dyn ReplayStore>
    });
    if redis.is_none() {
        eprintln!("replay_store: no redis-server on PATH; only the memory store is measured");
    }
    let mut stores = vec![("memory", memory)];
    stores.extend(redis.map(|r| ("redis", r)));

    let mut group = c.benchmark_group("replay_store");
    for (name, store) in &stores {
        group.bench_function(format!("{name}/record_one"), |b| {
            b.iter(|| {
                let key = next_key(&counter);
                let outcome = runtime.block_on(store.record(key, now() + 330, now()));
                assert!(outcome.is_ok(), "{name}: {outcome:?}");
            })
        });
        // 64 proofs in flight at once, per proof: Redis pipelines them over
        // one multiplexed connection.
        group.bench_function(format!("{name}/record_64_concurrent_per_proof"), |b| {
            b.iter_custom(|iters| {
                let rounds = iters.div_ceil(64);
                let start = Instant::now();
                for _ in 0..rounds {
                    let batch =
                        (0..64).map(|_| store.record(next_key(&counter), now() + 330, now()));
                    let outcomes = runtime.block_on(futures_util::future::join_all(batch));
                    assert!(outcomes.iter().all(Result::is_ok), "{name}");
                }
                let per_proof = start.elapsed().as_secs_f64() / (rounds * 64) as f64;
                Duration::from_secs_f64(per_proof * iters as f64)
            })
        });
    }
    group.finish();
    drop(redis_server);
}

criterion_group!(replay_group, benches);
criterion_main!(replay_group);
