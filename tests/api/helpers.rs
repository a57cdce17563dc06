//! Test helpers: a mock Auth0 tenant on a random loopback port, a token
//! builder that signs real tokens, and `spawn_app()`, the real server on
//! 127.0.0.1:0 pointed at the mock tenant.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::Method;
use actix_web::{web, App, HttpResponse, HttpServer};
use auth0_actix_api::auth::{Authenticator, KeyCache, KeyCachePolicy, ValidationPolicy, Validator};
use auth0_actix_api::settings::Settings;
use auth0_actix_api::startup::{Application, Mode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{JwsSigner, ES256, PS256, RS256};
use serde_json::{json, Map, Value};

/// The API identifier the test app accepts.
pub const AUDIENCE: &str = "https://api.test.example";

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: &'static str,
    signer: Arc<dyn JwsSigner>,
    pub public_jwk: Value,
}

impl TestKey {
    /// An RSA-2048 key. Key pairs are generated once per test binary and
    /// reused under different kids, since generation is the slow part.
    pub fn rsa(kid: &str) -> Self {
        Self::rsa_from_pool(kid, 0)
    }

    /// A second, different RSA key (for "signed by another key" cases).
    pub fn other_rsa(kid: &str) -> Self {
        Self::rsa_from_pool(kid, 1)
    }

    /// An RSA-2048 key published for PS256 (RSASSA-PSS).
    pub fn ps256(kid: &str) -> Self {
        let pem = &Self::rsa_pool()[2];
        let pair = RsaKeyPair::from_pem(pem).unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        jwk.set_algorithm("PS256");
        Self {
            kid: kid.into(),
            alg: "PS256",
            signer: Arc::new(PS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap()),
            public_jwk: Value::Object(jwk.as_ref().clone()),
        }
    }

    fn rsa_pool() -> &'static [Vec<u8>] {
        static POOL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        POOL.get_or_init(|| {
            (0..3)
                .map(|_| RsaKeyPair::generate(2048).unwrap().to_pem_private_key())
                .collect()
        })
    }

    fn rsa_from_pool(kid: &str, index: usize) -> Self {
        let pem = &Self::rsa_pool()[index];
        let pair = RsaKeyPair::from_pem(pem).unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        jwk.set_algorithm("RS256");
        let mut signer = RS256.signer_from_pem(pem).unwrap();
        signer.set_key_id(kid);
        Self {
            kid: kid.into(),
            alg: "RS256",
            signer: Arc::new(signer),
            public_jwk: Value::Object(jwk.as_ref().clone()),
        }
    }

    /// A P-256 key for ES256.
    pub fn ec(kid: &str) -> Self {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let pem = pair.to_pem_private_key();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        jwk.set_algorithm("ES256");
        let signer = ES256.signer_from_pem(&pem).unwrap();
        Self {
            kid: kid.into(),
            alg: "ES256",
            signer: Arc::new(signer),
            public_jwk: Value::Object(jwk.as_ref().clone()),
        }
    }

    /// Signs `input` (the JWS signing input).
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        self.signer.sign(input).unwrap()
    }
}

/// Builds tokens: valid by default for the mock tenant, every part editable.
#[derive(Clone)]
pub struct TokenBuilder {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

impl TokenBuilder {
    /// A valid token's header and claims for `issuer`, signed later by `key`.
    pub fn new(issuer: &str, key: &TestKey) -> Self {
        let header = json!({"alg": key.alg, "typ": "JWT", "kid": key.kid});
        let claims = json!({
            "iss": issuer,
            "sub": "auth0|user-1",
            "aud": AUDIENCE,
            "iat": now(),
            "exp": now() + 3600,
        });
        Self {
            header: header.as_object().unwrap().clone(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    /// `header.payload` (base64url, no padding).
    pub fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            b64(Value::Object(self.header.clone()).to_string()),
            b64(Value::Object(self.claims.clone()).to_string())
        )
    }

    /// The compact serialisation signed by `key`.
    pub fn sign(&self, key: &TestKey) -> String {
        let input = self.signing_input();
        format!("{input}.{}", b64(key.sign(input.as_bytes())))
    }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How the mock tenant answers.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantMode {
    Up,
    /// 503 to everything.
    Down,
    /// Never answers within any sensible timeout.
    Hang,
    /// Answers correctly, but only after this delay.
    Slow(Duration),
    /// JWKS that is not JSON.
    MalformedJwks,
    /// JWKS padded past 1 MiB.
    OversizeJwks,
    /// JWKS whose only key is for encryption.
    NoUsableKeys,
    /// Discovery naming another issuer.
    WrongIssuer,
}

#[derive(Default)]
struct TenantState {
    issuer: Mutex<String>,
    keys: Mutex<Vec<Value>>,
    mode: Mutex<Option<TenantMode>>,
    cache_control: Mutex<Option<String>>,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
}

/// A mock Auth0 tenant: discovery and JWKS on a random loopback port, with
/// keys that can be rotated, request counters, and failure modes.
#[derive(Clone)]
pub struct MockTenant {
    state: Arc<TenantState>,
    pub issuer: String,
}

impl MockTenant {
    /// Starts the tenant in the current actix system.
    pub fn start() -> Self {
        let state = Arc::new(TenantState::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/.well-known/jwks.json", web::get().to(jwks))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        let issuer = format!("http://127.0.0.1:{port}/");
        *state.issuer.lock().unwrap() = issuer.clone();
        Self { state, issuer }
    }

    /// Publishes exactly these keys.
    pub fn publish(&self, keys: &[&TestKey]) {
        *self.state.keys.lock().unwrap() = keys.iter().map(|k| k.public_jwk.clone()).collect();
    }

    pub fn set_mode(&self, mode: TenantMode) {
        *self.state.mode.lock().unwrap() = Some(mode);
    }

    pub fn set_cache_control(&self, value: &str) {
        *self.state.cache_control.lock().unwrap() = Some(value.into());
    }

    pub fn discovery_hits(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Publishes exactly `keys`, then waits until the service's background
    /// refresh has fetched them; false if it never did.
    pub async fn publish_and_await_fetch(&self, keys: &[&TestKey]) -> bool {
        self.publish(keys);
        let hits = self.jwks_hits();
        eventually(|| self.jwks_hits() > hits).await
    }

    /// A builder for a valid token from this tenant, signed by `key`.
    pub fn token(&self, key: &TestKey) -> TokenBuilder {
        TokenBuilder::new(&self.issuer, key)
    }
}

fn mode(state: &TenantState) -> TenantMode {
    state.mode.lock().unwrap().clone().unwrap_or(TenantMode::Up)
}

async fn discovery(state: web::Data<TenantState>) -> HttpResponse {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if let TenantMode::Slow(delay) = mode(&state) {
        actix_web::rt::time::sleep(delay).await;
    }
    let issuer = state.issuer.lock().unwrap().clone();
    match mode(&state) {
        TenantMode::Down => HttpResponse::ServiceUnavailable().finish(),
        TenantMode::Hang => {
            actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            HttpResponse::ServiceUnavailable().finish()
        }
        TenantMode::WrongIssuer => HttpResponse::Ok().json(json!({
            "issuer": "https://someone-else.example/",
            "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        })),
        _ => HttpResponse::Ok().json(json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        })),
    }
}

async fn jwks(state: web::Data<TenantState>) -> HttpResponse {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if let TenantMode::Slow(delay) = mode(&state) {
        actix_web::rt::time::sleep(delay).await;
    }
    let keys = state.keys.lock().unwrap().clone();
    let mut response = HttpResponse::Ok();
    if let Some(cc) = state.cache_control.lock().unwrap().clone() {
        response.insert_header(("Cache-Control", cc));
    }
    match mode(&state) {
        TenantMode::Down => HttpResponse::ServiceUnavailable().finish(),
        TenantMode::Hang => {
            actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            HttpResponse::ServiceUnavailable().finish()
        }
        TenantMode::MalformedJwks => response
            .content_type("application/json")
            .body("{\"keys\": [ oops"),
        TenantMode::OversizeJwks => {
            let padding = "x".repeat(1024 * 1024 + 10);
            response.json(json!({"keys": keys, "padding": padding}))
        }
        TenantMode::NoUsableKeys => {
            let mut key = keys.first().cloned().unwrap_or(json!({}));
            key["use"] = json!("enc");
            response.json(json!({"keys": [key]}))
        }
        _ => response.json(json!({ "keys": keys })),
    }
}

/// The API under test, running on a random loopback port.
pub struct TestApp {
    pub address: String,
    pub tenant: MockTenant,
    pub key: TestKey,
    pub client: awc::Client,
}

/// The response parts tests assert on.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<String>,
    pub dpop_nonce: Option<String>,
    pub cache_control: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Reply {
    /// The parts of `response` tests assert on; a body that is not JSON is
    /// kept as a string, an empty one is `null`.
    pub async fn read<S>(mut response: awc::ClientResponse<S>) -> Self
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
    {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let www_authenticate = header("www-authenticate");
        let retry_after = header("retry-after");
        let dpop_nonce = header("dpop-nonce");
        let cache_control = header("cache-control");
        let content_type = header("content-type");
        let status = response.status().as_u16();
        let bytes = response.body().limit(1 << 20).await.expect("body failed");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Self {
            status,
            www_authenticate,
            retry_after,
            dpop_nonce,
            cache_control,
            content_type,
            body,
        }
    }
}

impl TestApp {
    /// The app listening on loopback `port`, with its tenant and key.
    fn at(port: u16, tenant: MockTenant, key: TestKey) -> Self {
        Self {
            address: format!("http://127.0.0.1:{port}"),
            tenant,
            key,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
        }
    }

    /// The `/metrics` text, asserting a 200.
    pub async fn scrape(&self) -> String {
        let mut response = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        String::from_utf8(response.body().await.unwrap().to_vec()).unwrap()
    }

    /// GET `path` with the given headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, None).await
    }

    /// `method` on `path` with the given headers and, when given, a body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.append_header((*name, *value));
        }
        let sent = match body {
            Some(body) => request.send_body(body.to_owned()).await,
            None => request.send().await,
        };
        Reply::read(sent.expect("request failed")).await
    }

    /// GET `path` with `Authorization: Bearer <token>`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let value = format!("Bearer {token}");
        self.get_with(path, &[("Authorization", value.as_str())])
            .await
    }

    /// Sends `token` to `/api/private` twice, asserting 200 both times: the
    /// first use verifies it, the second is answered from the
    /// verified-token cache.
    pub async fn assert_remembered(&self, token: &str) {
        for case in ["first use", "remembered"] {
            let reply = self.get_bearer("/api/private", token).await;
            assert_eq!(reply.status, 200, "{case}: {reply:?}");
        }
    }

    /// GET `path` with `headers` until `done` holds for the answer, asking
    /// every 20 ms for about `within`; the last answer either way, for the
    /// caller to assert on.
    pub async fn get_until(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        done: impl Fn(&Reply) -> bool,
        within: Duration,
    ) -> Reply {
        let interval = Duration::from_millis(20);
        let mut reply = self.get_with(path, headers).await;
        for _ in 0..within.as_millis() / interval.as_millis() {
            if done(&reply) {
                break;
            }
            actix_web::rt::time::sleep(interval).await;
            reply = self.get_with(path, headers).await;
        }
        reply
    }

    /// The answer to `token` at `/api/private` once it stops being 200,
    /// asking for up to 2 s. A key set is fetched (and counted at the mock
    /// tenant) a moment before it is installed, so a refusal that follows a
    /// fetch may take a few requests to show.
    pub async fn first_refusal(&self, token: &str) -> Reply {
        let bearer = format!("Bearer {token}");
        let headers = [("Authorization", bearer.as_str())];
        let refused = |reply: &Reply| reply.status != 200;
        self.get_until("/api/private", &headers, refused, Duration::from_secs(2))
            .await
    }

    /// A valid token from the app's tenant and key.
    pub fn token(&self) -> TokenBuilder {
        self.tenant.token(&self.key)
    }
}

/// Settings for a test app pointed at `issuer`, with short timeouts.
pub fn test_settings(issuer: &str) -> Settings {
    let env: HashMap<String, String> = [
        ("AUTH0_ISSUER_BASE_URL", issuer),
        ("AUTH0_AUDIENCE", AUDIENCE),
        ("PORT", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut settings =
        Settings::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"), &env).unwrap();
    settings.application.workers = 1;
    settings.jwks.connect_timeout_ms = 500;
    settings.jwks.request_timeout_ms = 1000;
    settings.jwks.min_backoff_ms = 50;
    settings
}

/// The real server against a fresh mock tenant publishing one RSA key.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with settings changed by `customize` first.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    spawn_app_for(tenant, key, customize).await
}

/// The real server against `tenant`.
pub async fn spawn_app_for(
    tenant: MockTenant,
    key: TestKey,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let settings = test_settings(&tenant.issuer);
    spawn_app_with_settings(tenant, key, settings, customize).await
}

/// The real server accepting tokens from each of `tenants`, listed in this
/// order in `AUTH0_ISSUER_BASE_URL`. The app's own `tenant` and `key` are
/// the first tenant and `key`.
pub async fn spawn_app_for_issuers(
    tenants: &[&MockTenant],
    key: TestKey,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let issuers: Vec<&str> = tenants.iter().map(|t| t.issuer.as_str()).collect();
    let settings = test_settings(&issuers.join(","));
    spawn_app_with_settings(tenants[0].clone(), key, settings, customize).await
}

async fn spawn_app_with_settings(
    tenant: MockTenant,
    key: TestKey,
    mut settings: Settings,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    customize(&mut settings);
    let app = Application::build(&settings, Mode::Tenant).expect("the app failed to build");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp::at(port, tenant, key)
}

/// Polls `condition` every 20 ms for up to 10 s; true once it holds.
pub async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// An app built in the test with the auth core as a library, the way another
/// Actix service would: an [`Authenticator`] for a fresh mock tenant (changed
/// by `customize` first, e.g. to add a body format or DPoP), and the routes
/// `routes` registers. None of the service's own routes or settings are used.
pub async fn spawn_library_app<C, R>(customize: C, routes: R) -> TestApp
where
    C: FnOnce(Authenticator) -> Authenticator,
    R: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let tenant = MockTenant::start();
    let key = TestKey::rsa("key-1");
    tenant.publish(&[&key]);
    spawn_library_app_for(tenant, key, customize, routes).await
}

/// Like [`spawn_library_app`], against `tenant`.
pub async fn spawn_library_app_for<C, R>(
    tenant: MockTenant,
    key: TestKey,
    customize: C,
    routes: R,
) -> TestApp
where
    C: FnOnce(Authenticator) -> Authenticator,
    R: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let mut key_policy = KeyCachePolicy::new(tenant.issuer.as_str());
    key_policy.connect_timeout = Duration::from_millis(500);
    key_policy.request_timeout = Duration::from_millis(1000);
    key_policy.min_backoff = Duration::from_millis(50);
    let keys = KeyCache::start(key_policy).expect("the key cache failed to start");
    let validator = Validator::new(
        ValidationPolicy::new(tenant.issuer.as_str(), vec![AUDIENCE.into()]),
        keys,
    );
    let authenticator = web::Data::new(customize(Authenticator::new(validator, "api")));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(authenticator.clone())
            .configure(routes.clone())
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    TestApp::at(port, tenant, key)
}

/// The value of `series` (name and labels, exactly as exposed) in a
/// Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
