//! What operators rely on: probes, metrics, request ids, logs that never
//! hold a token, graceful shutdown of the real binary, and Kubernetes
//! manifests that match the service.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auth0_actix_api::startup::{Application, Mode};
use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::{
    metric, now, spawn_app, spawn_app_for, test_settings, MockTenant, Reply, TenantMode, TestKey,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth0-actix-api");

#[actix_web::test]
async fn healthz_is_200_even_when_the_tenant_is_down() {
    let tenant = MockTenant::start();
    tenant.set_mode(TenantMode::Down);
    let app = spawn_app_for(tenant, TestKey::rsa("key-1"), |_| {}).await;
    let reply = app.get_with("/healthz", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"status": "ok"}));
    assert_eq!(
        app.get_with("/readyz", &[]).await.status,
        503,
        "not ready without keys"
    );
}

#[actix_web::test]
async fn readyz_turns_200_once_keys_are_loaded() {
    let app = spawn_app().await;
    assert!(
        crate::helpers::eventually(|| app.tenant.jwks_hits() == 1).await,
        "warm-up fetch"
    );
    let mut ready = app.get_with("/readyz", &[]).await;
    for _ in 0..50 {
        if ready.status == 200 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        ready = app.get_with("/readyz", &[]).await;
    }
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body["status"], "ready");
}

#[actix_web::test]
async fn metrics_count_exactly_the_requests_that_were_made() {
    let app = spawn_app().await;
    let valid = app.token().sign(&app.key);
    let expired = app.token().claim("exp", json!(now() - 3600)).sign(&app.key);
    let no_scope = app.token().sign(&app.key);
    for _ in 0..3 {
        assert_eq!(app.get_bearer("/api/private", &expired).await.status, 401);
    }
    for _ in 0..2 {
        assert_eq!(app.get_bearer("/api/private", &valid).await.status, 200);
    }
    assert_eq!(app.get_with("/api/private", &[]).await.status, 401);
    assert_eq!(
        app.get_bearer("/api/private-scoped", &no_scope)
            .await
            .status,
        403
    );
    assert_eq!(
        app.get_with("/api/nowhere/secret-path", &[]).await.status,
        404
    );

    let text = app.scrape().await;
    let expect = [
        ("auth_outcomes_total{reason=\"expired\"}", 3.0),
        ("auth_outcomes_total{reason=\"ok\"}", 2.0),
        ("auth_outcomes_total{reason=\"missing\"}", 1.0),
        ("auth_outcomes_total{reason=\"insufficient_scope\"}", 1.0),
        (
            "http_requests_total{route=\"/api/private\",method=\"GET\",status=\"401\"}",
            4.0,
        ),
        (
            "http_requests_total{route=\"/api/private\",method=\"GET\",status=\"200\"}",
            2.0,
        ),
        (
            "http_requests_total{route=\"/api/private-scoped\",method=\"GET\",status=\"403\"}",
            1.0,
        ),
        (
            "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}",
            1.0,
        ),
        (
            "http_request_duration_seconds_count{route=\"/api/private\"}",
            6.0,
        ),
    ];
    let issuer = format!("{{issuer=\"{}\"}}", app.tenant.issuer);
    let per_issuer = [
        ("jwks_requests_total", 1.0),
        ("jwks_discovery_requests_total", 1.0),
        ("jwks_ready", 1.0),
    ];
    let per_issuer: Vec<(String, f64)> = per_issuer
        .into_iter()
        .map(|(name, value)| (format!("{name}{issuer}"), value))
        .collect();
    let expect = expect
        .into_iter()
        .map(|(series, value)| (series.to_owned(), value))
        .chain(per_issuer);
    for (series, value) in expect {
        assert_eq!(metric(&text, &series), Some(value), "{series} in:\n{text}");
    }
    assert!(
        !text.contains("secret-path"),
        "raw paths never become labels"
    );
    assert!(!text.contains(&valid), "no token in metrics");
    assert!(!text.contains("auth0|user-1"), "no sub in metrics");
}

#[actix_web::test]
async fn metrics_can_move_to_their_own_address() {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    let mut settings = test_settings(&tenant.issuer);
    settings.metrics.address = "127.0.0.1:0".into();
    let app = Application::build(&settings, Mode::Tenant).unwrap();
    let (port, metrics_port) = (app.port(), app.metrics_port().expect("a metrics listener"));
    actix_web::rt::spawn(app.run_until_stopped());
    let client = awc::Client::default();
    let main = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status().as_u16(), 404, "not on the API port");
    let mut own = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    let body = own.body().await.unwrap();
    let text = String::from_utf8_lossy(&body);
    // The API port's own 404 above is what the metrics port reports: the
    // two listeners share one set of metrics. (A family appears only once
    // it has a series, so this also depends on that request.)
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="unmatched""#)
            && l.contains(r#"status="404""#)),
        "the API port's 404 is counted: {text}"
    );
}

#[actix_web::test]
async fn request_ids_are_echoed_when_valid_and_generated_otherwise() {
    let app = spawn_app().await;
    let id_of = |response: &awc::ClientResponse<_>| {
        response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let url = format!("{}/api/public", app.address);
    let echoed = app
        .client
        .get(&url)
        .insert_header(("X-Request-Id", "abc-123.def_4"))
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&echoed).as_deref(), Some("abc-123.def_4"));

    let generated = app.client.get(&url).send().await.unwrap();
    let id = id_of(&generated).expect("an id");
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    let replaced = app
        .client
        .get(&url)
        .insert_header(("X-Request-Id", "bad id with spaces"))
        .send()
        .await
        .unwrap();
    let id = id_of(&replaced).expect("an id");
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 32);
}

/// The real binary in `serve` mode against `tenant`, logs captured.
fn serve(tenant: &MockTenant, port: u16, extra_env: &[(&str, &str)]) -> Child {
    let dir = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("AUTH0_ISSUER_BASE_URL", &tenant.issuer)
        .env("AUTH0_AUDIENCE", crate::helpers::AUDIENCE)
        .env("PORT", port.to_string())
        .envs(extra_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_listening(port: u16) {
    for _ in 0..250 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not start on port {port}");
}

fn terminate(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill -TERM");
}

#[actix_web::test]
async fn sigterm_lets_in_flight_requests_finish_refuses_new_ones_and_exits_0() {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    // Keys take 2 x 700 ms to arrive, so the first request is in flight for a while.
    tenant.set_mode(TenantMode::Slow(Duration::from_millis(700)));
    let port = free_port();
    let mut child = serve(&tenant, port, &[("RUST_LOG", "info")]);
    wait_until_listening(port).await;

    let token = tenant.token(&key).sign(&key);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .finish();
    let in_flight = client
        .get(format!("http://127.0.0.1:{port}/api/private"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send();
    let in_flight =
        actix_web::rt::spawn(async move { in_flight.await.map(|r| r.status().as_u16()) });
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    terminate(&child);
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;

    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "new connections are refused after SIGTERM"
    );
    let status = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(status, 200, "the in-flight request completed");
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "exit status");
}

#[actix_web::test]
async fn readiness_turns_503_as_soon_as_shutdown_starts() {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    let port = free_port();
    let mut child = serve(&tenant, port, &[("APP_SHUTDOWN__DRAIN_DELAY_SECS", "2")]);
    wait_until_listening(port).await;
    let client = awc::Client::default();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut status = 0;
    for _ in 0..100 {
        status = client.get(&url).send().await.unwrap().status().as_u16();
        if status == 200 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "ready before shutdown");
    terminate(&child);
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let mut response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503, "draining");
    let body: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
    assert_eq!(body["reason"], "shutting down");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[actix_web::test]
async fn logs_are_json_lines_and_never_hold_a_token() {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    let other = TestKey::other_rsa("key-1");
    tenant.publish(&[&key]);
    let port = free_port();
    let mut child = serve(
        &tenant,
        port,
        &[("APP_LOGGING__FORMAT", "json"), ("RUST_LOG", "debug")],
    );
    wait_until_listening(port).await;

    let valid = tenant
        .token(&key)
        .claim("scope", json!("read:messages"))
        .sign(&key);
    let expired = tenant
        .token(&key)
        .claim("exp", json!(now() - 3600))
        .sign(&key);
    let forged = tenant.token(&key).sign(&other);
    let unscoped = tenant.token(&key).sign(&key);
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::default();
    let secrets = [
        valid.clone(),
        expired.clone(),
        forged.clone(),
        unscoped.clone(),
        "garbage-token-value".into(),
    ];
    let attempts: Vec<(String, Vec<(&str, String)>)> = vec![
        (
            "/api/private".into(),
            vec![("Authorization", format!("Bearer {valid}"))],
        ),
        (
            "/api/private".into(),
            vec![("Authorization", format!("Bearer {expired}"))],
        ),
        (
            "/api/private".into(),
            vec![("Authorization", format!("Bearer {forged}"))],
        ),
        (
            "/api/private".into(),
            vec![("Authorization", "Bearer garbage-token-value".into())],
        ),
        (
            "/api/private-scoped".into(),
            vec![("Authorization", format!("Bearer {unscoped}"))],
        ),
        (format!("/api/private?access_token={valid}"), vec![]),
        (
            "/api/private".into(),
            vec![("Authorization", format!("Basic {valid}"))],
        ),
        (
            "/api/private".into(),
            vec![
                ("Authorization", format!("Bearer {valid}")),
                ("Authorization", format!("Bearer {expired}")),
            ],
        ),
        (
            "/api/private".into(),
            vec![
                ("Authorization", format!("DPoP {valid}")),
                ("DPoP", valid.clone()),
            ],
        ),
        (
            "/api/nowhere".into(),
            vec![("Authorization", format!("Bearer {valid}"))],
        ),
    ];
    for (path, headers) in &attempts {
        let mut request = client.get(format!("{base}{path}"));
        for (name, value) in headers {
            request = request.append_header((*name, value.as_str()));
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert!(status < 500, "{path}: {status}");
    }
    terminate(&child);
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    let lines: Vec<&str> = logs.lines().collect();
    assert!(
        lines.len() >= attempts.len(),
        "one line per request at least:\n{logs}"
    );
    let mut access = 0;
    for line in &lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["ts", "level", "target", "message"] {
            assert!(entry.get(field).is_some(), "{field} missing: {line}");
        }
        if entry["target"] == "access" {
            access += 1;
            assert_eq!(
                entry["message"], "request",
                "the facts are fields, not repeated in the message: {line}"
            );
            for field in [
                "request_id",
                "method",
                "route",
                "status",
                "latency_ms",
                "auth",
            ] {
                assert!(entry.get(field).is_some(), "{field} missing: {line}");
            }
        }
    }
    assert_eq!(access, attempts.len(), "one access line per request");
    for secret in &secrets {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token leaked into the logs");
    }
    assert!(
        !logs.to_ascii_lowercase().contains("authorization:"),
        "no Authorization header in the logs"
    );
}

/// Where the manifests live, and the names they give the API's objects and
/// the Redis replay store's.
const MANIFESTS: &str = "deploy/kubernetes";
const API: &str = "auth0-actix-api";
const REDIS: &str = "auth0-actix-api-redis";
/// What secret.yaml ships as `APP_DPOP__NONCE_SECRET`. The service refuses
/// to start with exactly this value, so the two must change together.
const NONCE_SECRET_PLACEHOLDER: &str = "replace-with-openssl-rand-base64-32";

/// Every object of every `*.yaml` file in `deploy/kubernetes/`, each with
/// the file it came from; any file that does not parse, or an object without
/// `apiVersion`, `kind` and `metadata.name`, fails the test.
struct Manifests(Vec<(String, Yaml)>);

impl Manifests {
    fn load() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFESTS);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {MANIFESTS}: {e}"))
            .map(|entry| entry.unwrap().path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no manifests in {MANIFESTS}");
        let mut objects = Vec::new();
        for path in files {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
            let documents = YamlLoader::load_from_str(&text)
                .unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
            let before = objects.len();
            for object in documents.into_iter().filter(|d| !d.is_null()) {
                for field in ["apiVersion", "kind"] {
                    assert!(
                        object[field].as_str().is_some(),
                        "{file}: an object without {field}"
                    );
                }
                assert!(
                    object["metadata"]["name"].as_str().is_some(),
                    "{file}: an object without metadata.name"
                );
                objects.push((file.clone(), object));
            }
            assert!(objects.len() > before, "{file} holds no object");
        }
        Self(objects)
    }

    /// The one object of `kind` named `name`.
    fn get(&self, kind: &str, name: &str) -> &Yaml {
        let found: Vec<&Yaml> = self
            .0
            .iter()
            .map(|(_, object)| object)
            .filter(|o| {
                o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name)
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "want exactly one {kind} named {name} in {MANIFESTS}"
        );
        found[0]
    }
}

/// Whether a `matchLabels`-style selector (a map, never empty) selects a pod
/// with these labels.
fn selects(selector: &Yaml, labels: &Yaml) -> bool {
    selector
        .as_hash()
        .filter(|wanted| !wanted.is_empty())
        .is_some_and(|wanted| {
            wanted
                .iter()
                .all(|(k, v)| &labels[k.as_str().unwrap_or("")] == v)
        })
}

/// The hardening both Deployments share: non-root, read-only root file
/// system, no capabilities, resource requests and limits, both probes.
fn assert_hardened(what: &str, deployment: &Yaml) {
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(
        spec["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true),
        "{what}: the pod runs as non-root"
    );
    assert_eq!(
        security["readOnlyRootFilesystem"].as_bool(),
        Some(true),
        "{what}: the root file system is read-only"
    );
    assert_eq!(
        security["allowPrivilegeEscalation"].as_bool(),
        Some(false),
        "{what}: no privilege escalation"
    );
    assert_eq!(
        security["capabilities"]["drop"][0].as_str(),
        Some("ALL"),
        "{what}: every capability dropped"
    );
    for (kind, resource) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        assert!(
            container["resources"][kind][resource].as_str().is_some(),
            "{what}: resources.{kind}.{resource} is set"
        );
    }
    for probe in ["livenessProbe", "readinessProbe"] {
        assert!(
            container[probe].as_hash().is_some_and(|p| !p.is_empty()),
            "{what}: has a {probe}"
        );
    }
}

#[actix_web::test]
async fn kubernetes_manifests_match_the_service() {
    let manifests = Manifests::load();
    let deployment = manifests.get("Deployment", API);
    let service = manifests.get("Service", API);
    let config = manifests.get("ConfigMap", API);
    let secret = manifests.get("Secret", API);
    let pdb = manifests.get("PodDisruptionBudget", API);
    let hpa = manifests.get("HorizontalPodAutoscaler", API);
    let redis = manifests.get("Deployment", REDIS);
    let redis_service = manifests.get("Service", REDIS);
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];

    assert_eq!(
        deployment["spec"]["replicas"].as_i64(),
        Some(2),
        "two replicas until the HPA takes over"
    );
    assert_hardened("the API", deployment);
    assert_hardened("Redis", redis);
    let env_from = &container["envFrom"];
    assert_eq!(
        env_from[0]["configMapRef"]["name"], config["metadata"]["name"],
        "the API reads the ConfigMap"
    );
    assert_eq!(
        env_from[1]["secretRef"]["name"], secret["metadata"]["name"],
        "the API reads the Secret"
    );

    // The probes name the container's port, which is the port the service listens on.
    let port = container["ports"][0]["containerPort"].as_i64().unwrap();
    let port_name = container["ports"][0]["name"].as_str().unwrap();
    assert_eq!(
        config["data"]["PORT"].as_str(),
        Some(port.to_string().as_str()),
        "the ConfigMap's PORT is the container port"
    );
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some(port_name),
        "the Service targets the container's named port"
    );
    let liveness = &container["livenessProbe"]["httpGet"];
    let readiness = &container["readinessProbe"]["httpGet"];
    assert_eq!(liveness["port"].as_str(), Some(port_name), "liveness port");
    assert_eq!(
        readiness["port"].as_str(),
        Some(port_name),
        "readiness port"
    );

    // Each selector picks its own pods and never the other Deployment's: the
    // API's Service must not send requests to Redis, nor the PDB count it.
    let api_pods = &deployment["spec"]["template"]["metadata"]["labels"];
    let redis_pods = &redis["spec"]["template"]["metadata"]["labels"];
    for (what, selector, own, other) in [
        (
            "the API Deployment",
            &deployment["spec"]["selector"]["matchLabels"],
            api_pods,
            redis_pods,
        ),
        (
            "the API Service",
            &service["spec"]["selector"],
            api_pods,
            redis_pods,
        ),
        (
            "the PodDisruptionBudget",
            &pdb["spec"]["selector"]["matchLabels"],
            api_pods,
            redis_pods,
        ),
        (
            "the Redis Deployment",
            &redis["spec"]["selector"]["matchLabels"],
            redis_pods,
            api_pods,
        ),
        (
            "the Redis Service",
            &redis_service["spec"]["selector"],
            redis_pods,
            api_pods,
        ),
    ] {
        assert!(selects(selector, own), "{what} selects its own pods");
        assert!(
            !selects(selector, other),
            "{what} selects the other Deployment's pods too"
        );
    }

    // The HPA scales the API, and its minimum leaves the PDB room to evict
    // one pod during a drain.
    let min_available = pdb["spec"]["minAvailable"]
        .as_i64()
        .expect("the PodDisruptionBudget's minAvailable is a number of pods");
    assert!(
        min_available >= 1,
        "the PDB keeps at least one pod, not {min_available}"
    );
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(
        (
            target["apiVersion"].as_str(),
            target["kind"].as_str(),
            &target["name"]
        ),
        (
            Some("apps/v1"),
            Some("Deployment"),
            &deployment["metadata"]["name"]
        ),
        "the HPA scales the API's Deployment"
    );
    let min_replicas = hpa["spec"]["minReplicas"]
        .as_i64()
        .expect("the HPA sets minReplicas");
    let max_replicas = hpa["spec"]["maxReplicas"]
        .as_i64()
        .expect("the HPA sets maxReplicas");
    assert!(
        min_replicas > min_available,
        "HPA minReplicas {min_replicas} must exceed the PDB's minAvailable {min_available}, or a drain at the minimum is blocked"
    );
    assert!(
        max_replicas > min_replicas,
        "HPA maxReplicas {max_replicas} must exceed minReplicas {min_replicas}"
    );
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(0);
    assert!(
        (min_replicas..=max_replicas).contains(&replicas),
        "the Deployment's replicas {replicas} are within the HPA's {min_replicas}..={max_replicas}"
    );
    let cpu_target = hpa["spec"]["metrics"]
        .as_vec()
        .into_iter()
        .flatten()
        .find(|m| {
            m["type"].as_str() == Some("Resource") && m["resource"]["name"].as_str() == Some("cpu")
        })
        .map(|m| &m["resource"]["target"]);
    assert!(
        cpu_target.is_some_and(|t| t["type"].as_str() == Some("Utilization")
            && t["averageUtilization"]
                .as_i64()
                .is_some_and(|u| (1..=100).contains(&u))),
        "the HPA scales on CPU utilization, a percentage of the container's CPU request"
    );

    // Redis: one instance, replaced rather than rolled (two would each hold
    // half of the records), that refuses writes when full instead of evicting
    // a live record, and keeps /data in an emptyDir (no persistence needed).
    assert_eq!(
        redis["spec"]["replicas"].as_i64(),
        Some(1),
        "one Redis instance"
    );
    assert_eq!(
        redis["spec"]["strategy"]["type"].as_str(),
        Some("Recreate"),
        "Redis is recreated, never two instances at once"
    );
    let redis_spec = &redis["spec"]["template"]["spec"];
    let redis_container = &redis_spec["containers"][0];
    let args: Vec<&str> = redis_container["args"]
        .as_vec()
        .expect("Redis has args")
        .iter()
        .map(|a| a.as_str().expect("every Redis arg is a string"))
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--maxmemory-policy", "noeviction"]),
        "Redis runs with --maxmemory-policy noeviction, so a full Redis refuses a record rather than evicting a live one: {args:?}"
    );
    assert!(
        args.windows(2).any(|w| w[0] == "--maxmemory" && w[1] != "0"),
        "Redis has a maxmemory, or noeviction never applies and the kernel kills it instead: {args:?}"
    );
    let data_volume = redis_container["volumeMounts"]
        .as_vec()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"].as_str() == Some("/data"))
        .map(|m| &m["name"]);
    assert!(
        redis_spec["volumes"]
            .as_vec()
            .into_iter()
            .flatten()
            .any(|v| Some(&v["name"]) == data_volume && v["emptyDir"].as_hash().is_some()),
        "Redis's /data is an emptyDir: writable under a read-only root, and nothing to keep"
    );

    // The API finds Redis through its Service, on the port Redis listens on.
    let store = config["data"]["APP_DPOP__REPLAY_STORE"]
        .as_str()
        .expect("the ConfigMap sets APP_DPOP__REPLAY_STORE, so replicas share one replay store");
    let store = url::Url::parse(store)
        .unwrap_or_else(|e| panic!("APP_DPOP__REPLAY_STORE {store:?} is not a URL: {e}"));
    assert_eq!(
        store.scheme(),
        "redis",
        "the in-cluster replay store is Redis"
    );
    assert_eq!(
        store.host_str(),
        redis_service["metadata"]["name"].as_str(),
        "APP_DPOP__REPLAY_STORE names the Redis Service"
    );
    let redis_port = &redis_service["spec"]["ports"][0];
    assert_eq!(
        store.port().map(i64::from),
        redis_port["port"].as_i64(),
        "APP_DPOP__REPLAY_STORE uses the Redis Service's port"
    );
    let redis_container_port = &redis_container["ports"][0];
    assert_eq!(
        redis_port["targetPort"], redis_container_port["name"],
        "the Redis Service targets the Redis container's named port"
    );
    assert_eq!(
        redis_container_port["containerPort"].as_i64(),
        Some(6379),
        "the Redis container port is 6379, where redis-server listens by default"
    );
    assert!(
        !args.contains(&"--port"),
        "Redis keeps its default port: {args:?}"
    );

    // The shipped nonce secret is the placeholder the service refuses.
    assert_eq!(
        secret["stringData"]["APP_DPOP__NONCE_SECRET"].as_str(),
        Some(NONCE_SECRET_PLACEHOLDER),
        "secret.yaml ships the placeholder the service refuses to start with"
    );

    // The production settings, as the ConfigMap and Secret set them once an
    // operator has replaced the placeholder (`openssl rand -base64 32`).
    let mut env: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for source in [&config["data"], &secret["stringData"]] {
        for (k, v) in source.as_hash().unwrap() {
            env.insert(k.as_str().unwrap().into(), v.as_str().unwrap().into());
        }
    }
    env.insert(
        "APP_DPOP__NONCE_SECRET".into(),
        "svtmE5X8T6IQllBVR/c0ga4gvzl1gdVzjJPAlq7U9h8=".into(),
    );
    let settings = auth0_actix_api::settings::Settings::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        &env,
    )
    .unwrap_or_else(|e| panic!("the ConfigMap and Secret load as settings: {e}"));
    assert_eq!(settings.environment, "production", "APP_ENVIRONMENT");
    assert_eq!(
        i64::from(settings.application.port),
        port,
        "the port setting"
    );
    assert_eq!(
        settings.application.host, "0.0.0.0",
        "listens on all interfaces"
    );
    settings
        .tenant_issuers()
        .expect("the ConfigMap's AUTH0_DOMAIN is a valid setting");
    settings
        .dpop_policy()
        .unwrap_or_else(|e| panic!("the ConfigMap's DPoP settings are valid: {e}"));
    assert!(
        settings.dpop.public_base_url.starts_with("https://"),
        "APP_DPOP__PUBLIC_BASE_URL is the https URL clients use, not {:?}",
        settings.dpop.public_base_url
    );
    let grace = spec["terminationGracePeriodSeconds"].as_i64().unwrap();
    let needed = settings.shutdown.grace_secs + settings.shutdown.drain_delay_secs;
    assert!(
        grace > needed as i64,
        "terminationGracePeriodSeconds {grace} must exceed {needed}"
    );

    // And the probe paths are real, unauthenticated routes of the service.
    let app = spawn_app().await;
    for path in [
        liveness["path"].as_str().unwrap(),
        readiness["path"].as_str().unwrap(),
    ] {
        let ok = |reply: &Reply| reply.status == 200;
        let reply = app.get_until(path, &[], ok, Duration::from_secs(2)).await;
        assert_eq!(reply.status, 200, "{path} answers 200 without credentials");
    }
}

#[actix_web::test]
async fn metrics_can_be_turned_off() {
    let app = crate::helpers::spawn_app_with(|s| s.metrics.enabled = false).await;
    assert_eq!(app.get_with("/metrics", &[]).await.status, 404);
    assert_eq!(app.get_with("/healthz", &[]).await.status, 200);
}
