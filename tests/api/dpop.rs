//! DPoP (SPEC "DPoP", RFC 9449): real DPoP-bound tokens from the mock tenant
//! and real proofs signed with ES256, RS256, PS256 and Ed25519 keys, every
//! proof check in both directions, the three modes, replays, nonces and the
//! request URL behind proxies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use auth0_actix_api::settings::Settings;
use auth0_actix_api::startup::{Application, Mode};
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{EdDSA, JwsSigner, ES256, PS256, RS256};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{json, Map, Value};

use crate::errors::assert_invalid_token;
use crate::helpers::{
    b64, now, spawn_app, spawn_app_with, test_settings, MockTenant, Reply, TestApp,
};

const PRIVATE: &str = "/api/private";
const SCOPED: &str = "/api/private-scoped";
const MIXED_BARE: &str = "Bearer realm=\"api\", DPoP algs=\"ES256\"";
const PRIVATE_BODY: &str =
    "Hello from a private endpoint! You need to be authenticated to see this.";

/// Extra request headers as `(name, value)` pairs.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// A key a client signs its proofs with.
#[derive(Clone)]
pub(crate) struct ProofKey {
    alg: &'static str,
    signer: Arc<dyn JwsSigner>,
    /// The public JWK, as a proof's `jwk` header carries it.
    jwk: Map<String, Value>,
    /// The private JWK, for the "private members" case.
    private_jwk: Map<String, Value>,
}

impl ProofKey {
    pub(crate) fn es256() -> Self {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let signer = ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        Self::from_pair("ES256", Arc::new(signer), &pair)
    }

    fn ed25519() -> Self {
        let pair = EdKeyPair::generate(EdCurve::Ed25519).unwrap();
        let signer = EdDSA.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        Self::from_pair("EdDSA", Arc::new(signer), &pair)
    }

    fn rs256() -> Self {
        let pair = rsa_pair();
        let signer = RS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        Self::from_pair("RS256", Arc::new(signer), &pair)
    }

    fn ps256() -> Self {
        let pair = rsa_pair();
        let signer = PS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        Self::from_pair("PS256", Arc::new(signer), &pair)
    }

    fn from_pair(alg: &'static str, signer: Arc<dyn JwsSigner>, pair: &impl KeyPair) -> Self {
        Self {
            alg,
            signer,
            jwk: pair.to_jwk_public_key().as_ref().clone(),
            private_jwk: pair.to_jwk_private_key().as_ref().clone(),
        }
    }

    /// The RFC 7638 thumbprint, computed here independently of the crate:
    /// the required members in lexicographic order, no whitespace.
    pub(crate) fn thumbprint(&self) -> String {
        let member = |name: &str| self.jwk[name].as_str().unwrap().to_owned();
        let canonical = match member("kty").as_str() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                member("crv"),
                member("x"),
                member("y")
            ),
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                member("e"),
                member("n")
            ),
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                member("crv"),
                member("x")
            ),
            other => panic!("no thumbprint for kty {other}"),
        };
        b64(openssl::sha::sha256(canonical.as_bytes()))
    }
}

/// One RSA-2048 key for the RS256 and PS256 cases, generated once.
fn rsa_pair() -> RsaKeyPair {
    static PEM: OnceLock<Vec<u8>> = OnceLock::new();
    let pem = PEM.get_or_init(|| RsaKeyPair::generate(2048).unwrap().to_pem_private_key());
    RsaKeyPair::from_pem(pem).unwrap()
}

/// A fresh `jti` for every proof.
fn unique_jti() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("jti-{}-{}", now(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// base64url(SHA-256(token)), the proof's `ath` (RFC 9449 §4.2).
fn ath(token: &str) -> String {
    b64(openssl::sha::sha256(token.as_bytes()))
}

/// A DPoP proof: valid for `method` on `url` with `token` by default, every
/// part editable.
#[derive(Clone)]
pub(crate) struct Proof {
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl Proof {
    pub(crate) fn new(key: &ProofKey, method: &str, url: &str, token: &str) -> Self {
        let header = json!({"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk});
        let claims = json!({
            "jti": unique_jti(),
            "htm": method,
            "htu": url,
            "iat": now(),
            "ath": ath(token),
        });
        Self {
            header: header.as_object().unwrap().clone(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            b64(Value::Object(self.header.clone()).to_string()),
            b64(Value::Object(self.claims.clone()).to_string())
        )
    }

    pub(crate) fn sign(&self, key: &ProofKey) -> String {
        let input = self.signing_input();
        format!(
            "{input}.{}",
            b64(key.signer.sign(input.as_bytes()).unwrap())
        )
    }
}

/// GET `path` with exactly these headers.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    app.get_with(path, headers).await
}

/// GET `path` with `Authorization: DPoP <token>` and `DPoP: <proof>`, plus `extra`.
async fn get_dpop(
    app: &TestApp,
    path: &str,
    token: &str,
    proof: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let authorization = format!("DPoP {token}");
    let mut headers = vec![("Authorization", authorization.as_str()), ("DPoP", proof)];
    headers.extend_from_slice(extra);
    get(app, path, &headers).await
}

/// The URL a client of `app` puts in `htu` for `path`.
fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address)
}

/// The port `app` listens on, from its address.
fn port_of(app: &TestApp) -> &str {
    app.address.rsplit(':').next().unwrap()
}

/// A token from `app`'s tenant bound to `key` (`cnf.jkt`, RFC 9449 §6.1).
fn bound_token(app: &TestApp, key: &ProofKey) -> String {
    app.token()
        .claim("cnf", json!({"jkt": key.thumbprint()}))
        .sign(&app.key)
}

/// A valid proof for GET `path` on `app` with `token`.
fn proof_for(app: &TestApp, key: &ProofKey, path: &str, token: &str) -> Proof {
    Proof::new(key, "GET", &url(app, path), token)
}

/// Asserts a 200 from `/api/private` with its exact body and no challenge.
fn assert_accepted(reply: &Reply, case: &str) {
    assert_eq!(
        reply.status, 200,
        "{case}: should be accepted, got {reply:?}"
    );
    assert_eq!(
        reply.www_authenticate, None,
        "{case}: a success carries no challenge"
    );
    assert_eq!(
        reply.body,
        json!({"message": PRIVATE_BODY, "user_id": "auth0|user-1"}),
        "{case}: body"
    );
}

/// Asserts an error in the DPoP challenge: status, exact challenge with
/// `algs` followed by the Bearer challenge (mixed mode offers both,
/// RFC 9449 §7.1), and the same code and description as the JSON body.
fn assert_dpop_error(
    reply: &Reply,
    status: u16,
    code: &str,
    description: &str,
    algs: &str,
    case: &str,
) {
    assert_eq!(reply.status, status, "{case}: status, got {reply:?}");
    let challenge = format!(
        "DPoP error=\"{code}\", error_description=\"{description}\", algs=\"{algs}\", Bearer realm=\"api\""
    );
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(challenge.as_str()),
        "{case}: WWW-Authenticate"
    );
    assert_eq!(
        reply.body,
        json!({"error": code, "error_description": description}),
        "{case}: body"
    );
}

/// Asserts a 401 `invalid_dpop_proof` with `description` (default algs).
fn assert_invalid_proof(reply: &Reply, description: &str, case: &str) {
    assert_dpop_error(reply, 401, "invalid_dpop_proof", description, "ES256", case);
}

/// Asserts a 401 with the bare challenge `challenge` and no error code.
fn assert_bare(reply: &Reply, challenge: &str, case: &str) {
    assert_eq!(reply.status, 401, "{case}: status, got {reply:?}");
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(challenge),
        "{case}: a bare challenge"
    );
    assert_eq!(
        reply.body["error"], "unauthorized",
        "{case}: body {:?}",
        reply.body
    );
}

/// An HMAC-SHA256 "signature", as an attacker would forge it.
fn hmac_signed(input: &str) -> String {
    let key = PKey::hmac(b"attacker secret").unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signer.sign_to_vec().unwrap()))
}

#[actix_web::test]
async fn proofs_from_es256_rs256_ps256_and_ed25519_keys_are_accepted_when_allowed() {
    let app = spawn_app_with(|s| {
        s.dpop.algorithms = ["ES256", "RS256", "PS256", "EdDSA"]
            .map(String::from)
            .to_vec();
    })
    .await;
    for key in [
        ProofKey::es256(),
        ProofKey::rs256(),
        ProofKey::ps256(),
        ProofKey::ed25519(),
    ] {
        let token = bound_token(&app, &key);
        let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_accepted(&reply, key.alg);
    }
    let bare = get(&app, PRIVATE, &[]).await;
    assert_bare(
        &bare,
        "Bearer realm=\"api\", DPoP algs=\"ES256 RS256 PS256 EdDSA\"",
        "algs lists every allowed algorithm",
    );
}

#[actix_web::test]
async fn only_allowed_proof_algorithms_are_accepted() {
    // RFC 9449 §4.3 check 5; the default allow-list is ES256 only.
    let app = spawn_app().await;
    let not_allowed = "The DPoP proof's signing algorithm is not allowed";
    for key in [ProofKey::rs256(), ProofKey::ed25519()] {
        let token = bound_token(&app, &key);
        let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_invalid_proof(&reply, not_allowed, key.alg);
    }
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let base = proof_for(&app, &key, PRIVATE, &token);
    let none = format!(
        "{}.",
        base.clone().header("alg", json!("none")).signing_input()
    );
    let none_signed = format!(
        "{}.{}",
        base.clone().header("alg", json!("none")).signing_input(),
        b64("sig")
    );
    let hs256 = hmac_signed(&base.clone().header("alg", json!("HS256")).signing_input());
    let es256_lower = base.clone().header("alg", json!("es256")).sign(&key);
    let numeric_alg = base.clone().header("alg", json!(256)).sign(&key);
    let cases = [
        (
            "alg none, empty signature",
            none,
            "The DPoP proof is malformed",
        ),
        ("alg none, with a signature", none_signed, not_allowed),
        ("alg HS256 (symmetric)", hs256, not_allowed),
        (
            "alg es256 (names are case-sensitive)",
            es256_lower,
            not_allowed,
        ),
        ("alg not a string", numeric_alg, not_allowed),
    ];
    for (case, proof, description) in cases {
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_invalid_proof(&reply, description, case);
    }
}

#[actix_web::test]
async fn proof_headers_are_checked() {
    // RFC 9449 §4.3 checks 4, 6 and 7, and RFC 7515 §4.1.11 for `crit`.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let other = ProofKey::es256();
    let token = bound_token(&app, &key);
    let base = || proof_for(&app, &key, PRIVATE, &token);
    let mut without_y = key.jwk.clone();
    without_y.remove("y");
    let mut bad_x = key.jwk.clone();
    bad_x.insert("x".into(), json!(5));
    let rsa_jwk = ProofKey::rs256().jwk;
    let tampered_signature = {
        let proof = base().sign(&key);
        let (input, _) = proof.rsplit_once('.').unwrap();
        format!("{input}.{}", b64([7u8; 64]))
    };
    let signed_for_other_payload = {
        let proof = base().sign(&key);
        let (_, signature) = proof.rsplit_once('.').unwrap();
        format!(
            "{}.{signature}",
            base().claim("htm", json!("GET")).signing_input()
        )
    };
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("typ dpop+jwt", base().sign(&key), None),
        (
            "typ application/dpop+jwt (RFC 7515 §4.1.9)",
            base()
                .header("typ", json!("application/dpop+jwt"))
                .sign(&key),
            None,
        ),
        (
            "no typ",
            base().without_header("typ").sign(&key),
            Some("The DPoP proof's typ header must be dpop+jwt"),
        ),
        (
            "typ JWT",
            base().header("typ", json!("JWT")).sign(&key),
            Some("The DPoP proof's typ header must be dpop+jwt"),
        ),
        (
            "no jwk",
            base().without_header("jwk").sign(&key),
            Some("The DPoP proof's jwk header is not a usable public key"),
        ),
        (
            "jwk is a string",
            base().header("jwk", json!("key")).sign(&key),
            Some("The DPoP proof's jwk header is not a usable public key"),
        ),
        (
            "jwk with the private key (d)",
            base()
                .header("jwk", Value::Object(key.private_jwk.clone()))
                .sign(&key),
            Some("The DPoP proof's jwk header must not contain a private key"),
        ),
        (
            "symmetric jwk (kty oct, k)",
            base()
                .header("jwk", json!({"kty": "oct", "k": "c2VjcmV0"}))
                .sign(&key),
            Some("The DPoP proof's jwk header must not contain a private key"),
        ),
        (
            "symmetric jwk (kty oct)",
            base().header("jwk", json!({"kty": "oct"})).sign(&key),
            Some("The DPoP proof's jwk header is not a usable public key"),
        ),
        (
            "EC jwk without y",
            base().header("jwk", Value::Object(without_y)).sign(&key),
            Some("The DPoP proof's jwk header is not a usable public key"),
        ),
        (
            "EC jwk with a numeric x",
            base().header("jwk", Value::Object(bad_x)).sign(&key),
            Some("The DPoP proof's jwk header is not a usable public key"),
        ),
        (
            "RSA jwk with alg ES256",
            base().header("jwk", Value::Object(rsa_jwk)).sign(&key),
            Some("The DPoP proof's jwk header is not a usable public key"),
        ),
        (
            "another key's jwk",
            base()
                .header("jwk", Value::Object(other.jwk.clone()))
                .sign(&key),
            Some("The DPoP proof's signature is invalid"),
        ),
        (
            "a forged signature",
            tampered_signature,
            Some("The DPoP proof's signature is invalid"),
        ),
        (
            "a signature over another payload",
            signed_for_other_payload,
            Some("The DPoP proof's signature is invalid"),
        ),
        (
            "crit header",
            base().header("crit", json!(["exp"])).sign(&key),
            Some("The DPoP proof names a critical header extension that is not supported"),
        ),
        (
            // RFC 7515 §4.1.11: null is not an array of names, nor absent.
            "crit null",
            base().header("crit", Value::Null).sign(&key),
            Some("The DPoP proof names a critical header extension that is not supported"),
        ),
    ];
    for (case, proof, expected) in cases {
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        match expected {
            None => assert_accepted(&reply, case),
            Some(description) => assert_invalid_proof(&reply, description, case),
        }
    }
}

#[actix_web::test]
async fn proof_claims_are_checked() {
    // RFC 9449 §4.3 checks 3, 8, 9, 11 and 12.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let other_token = app
        .token()
        .claim("cnf", json!({"jkt": key.thumbprint()}))
        .claim("x", json!(1))
        .sign(&app.key);
    let base = || proof_for(&app, &key, PRIVATE, &token);
    let port = port_of(&app);
    let mut cases: Vec<(String, Proof, &str)> = Vec::new();
    for claim in ["jti", "htm", "htu", "iat", "ath"] {
        let description = match claim {
            "jti" => "The DPoP proof has no jti claim",
            "htm" => "The DPoP proof has no htm claim",
            "htu" => "The DPoP proof has no htu claim",
            "iat" => "The DPoP proof has no iat claim",
            _ => "The DPoP proof has no ath claim",
        };
        cases.push((format!("no {claim}"), base().without(claim), description));
    }
    let wrong_method = "The DPoP proof's htm does not match the request method";
    let wrong_url = "The DPoP proof's htu does not match the request URL";
    let more: Vec<(&str, Proof, &str)> = vec![
        (
            "empty jti",
            base().claim("jti", json!("")),
            "The DPoP proof's jti claim is invalid",
        ),
        (
            "numeric jti",
            base().claim("jti", json!(7)),
            "The DPoP proof's jti claim is invalid",
        ),
        ("htm POST", base().claim("htm", json!("POST")), wrong_method),
        (
            "htm get (methods are case-sensitive)",
            base().claim("htm", json!("get")),
            wrong_method,
        ),
        (
            "htm not a string",
            base().claim("htm", json!(5)),
            "The DPoP proof's htm claim is invalid",
        ),
        (
            "htm an array",
            base().claim("htm", json!(["GET"])),
            "The DPoP proof's htm claim is invalid",
        ),
        (
            "htu another path",
            base().claim("htu", json!(url(&app, "/api/public"))),
            wrong_url,
        ),
        (
            "htu another host",
            base().claim("htu", json!(format!("http://evil.example:{port}{PRIVATE}"))),
            wrong_url,
        ),
        (
            "htu https",
            base().claim("htu", json!(format!("https://127.0.0.1:{port}{PRIVATE}"))),
            wrong_url,
        ),
        (
            "htu another port",
            base().claim("htu", json!(format!("http://127.0.0.1:1{PRIVATE}"))),
            wrong_url,
        ),
        (
            "htu a bare path",
            base().claim("htu", json!(PRIVATE)),
            wrong_url,
        ),
        (
            "htu not a string",
            base().claim("htu", json!(7)),
            "The DPoP proof's htu claim is invalid",
        ),
        (
            "iat 400 s old",
            base().claim("iat", json!(now() - 400)),
            "The DPoP proof is too old",
        ),
        (
            "iat 120 s ahead",
            base().claim("iat", json!(now() + 120)),
            "The DPoP proof was issued in the future",
        ),
        (
            "iat a string",
            base().claim("iat", json!("now")),
            "The DPoP proof's iat claim is invalid",
        ),
        (
            "ath of another token",
            base().claim("ath", json!(ath(&other_token))),
            "The DPoP proof's ath does not match the access token",
        ),
        (
            "ath padded",
            base().claim("ath", json!(format!("{}=", ath(&token)))),
            "The DPoP proof's ath does not match the access token",
        ),
        (
            "ath not a string",
            base().claim("ath", json!(1)),
            "The DPoP proof's ath claim is invalid",
        ),
        (
            "nonce not a string",
            base().claim("nonce", json!(1)),
            "The DPoP proof's nonce claim is invalid",
        ),
    ];
    cases.extend(more.into_iter().map(|(c, p, d)| (c.to_owned(), p, d)));
    for (case, proof, description) in cases {
        let reply = get_dpop(&app, PRIVATE, &token, &proof.sign(&key), &[]).await;
        assert_invalid_proof(&reply, description, &case);
    }
}

#[actix_web::test]
async fn htu_is_compared_in_normal_form_without_query_and_fragment() {
    // RFC 9449 §4.3 check 9; RFC 3986 §6.2.2.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let port = port_of(&app);
    let cases = [
        (
            "query and fragment in htu",
            PRIVATE,
            format!("http://127.0.0.1:{port}{PRIVATE}?a=1#frag"),
        ),
        (
            "query on the request only",
            "/api/private?a=1",
            url(&app, PRIVATE),
        ),
        (
            "upper-case scheme and host",
            PRIVATE,
            format!("HTTP://127.0.0.1:{port}{PRIVATE}"),
        ),
        (
            "escaped unreserved characters",
            PRIVATE,
            format!("http://127.0.0.1:{port}/api/%70rivate"),
        ),
        (
            "dot segments",
            PRIVATE,
            format!("http://127.0.0.1:{port}/api/./x/../private"),
        ),
        ("escaped request path", "/api/%70rivate", url(&app, PRIVATE)),
    ];
    for (case, path, htu) in cases {
        let proof = Proof::new(&key, "GET", &htu, &token).sign(&key);
        let reply = get_dpop(&app, path, &token, &proof, &[]).await;
        assert_accepted(&reply, case);
    }
}

#[actix_web::test]
async fn iat_may_be_300_s_old_or_30_s_ahead() {
    // SPEC: within 300 s in the past and 30 s in the future.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    for (case, iat) in [
        ("280 s old", now() - 280),
        ("20 s ahead", now() + 20),
        ("fractional", now()),
    ] {
        let iat = if case == "fractional" {
            json!(iat as f64 + 0.5)
        } else {
            json!(iat)
        };
        let proof = proof_for(&app, &key, PRIVATE, &token)
            .claim("iat", iat)
            .sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_accepted(&reply, case);
    }
}

#[actix_web::test]
async fn malformed_proofs_are_401_never_500() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let valid = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let (header, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let sign_raw = |header: &str, payload: &str| {
        let input = format!("{}.{}", b64(header), b64(payload));
        format!(
            "{input}.{}",
            b64(key.signer.sign(input.as_bytes()).unwrap())
        )
    };
    let typed_header = Value::Object(proof_for(&app, &key, PRIVATE, &token).header).to_string();
    let malformed = "The DPoP proof is malformed";
    let cases: Vec<(&str, String, &str)> = vec![
        ("not a JWS", "not-a-jws".into(), malformed),
        ("two segments", format!("{header}.{payload}"), malformed),
        ("four segments", format!("{valid}.e30"), malformed),
        ("empty signature", format!("{header}.{payload}."), malformed),
        (
            "bad base64 header",
            format!("@@@.{payload}.{signature}"),
            malformed,
        ),
        (
            "padded header",
            format!("{header}=.{payload}.{signature}"),
            malformed,
        ),
        (
            "bad base64 payload",
            format!("{header}.@@@.{signature}"),
            malformed,
        ),
        (
            "bad base64 signature",
            format!("{header}.{payload}.@@@"),
            malformed,
        ),
        (
            "header is a JSON array",
            format!("{}.{payload}.{signature}", b64("[1,2]")),
            malformed,
        ),
        (
            "header is not JSON",
            format!("{}.{payload}.{signature}", b64("{oops")),
            malformed,
        ),
        (
            "payload is a JSON array",
            sign_raw(&typed_header, "[1]"),
            malformed,
        ),
        (
            "payload is a JSON string",
            sign_raw(&typed_header, "\"x\""),
            malformed,
        ),
        (
            "payload is not JSON",
            sign_raw(&typed_header, "{oops"),
            malformed,
        ),
        (
            "a 9 KB proof",
            format!("{header}.{}.{signature}", "A".repeat(9 * 1024)),
            malformed,
        ),
        ("non-ASCII bytes", "proof-\u{e9}".into(), malformed),
    ];
    for (case, proof, description) in cases {
        let value = actix_web::http::header::HeaderValue::from_bytes(proof.as_bytes()).unwrap();
        let authorization = format!("DPoP {token}");
        let mut response = app
            .client
            .get(url(&app, PRIVATE))
            .insert_header(("Authorization", authorization))
            .insert_header(("DPoP", value))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        let reply = Reply {
            status,
            www_authenticate: challenge,
            retry_after: None,
            dpop_nonce: None,
            cache_control: None,
            content_type: None,
            body,
        };
        assert_invalid_proof(&reply, description, case);
    }
    // Random printable proofs, some with dots: always a 401, never a 500.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..100 {
        let len = 1 + (next() % 200) as usize;
        let proof: String = (0..len)
            .map(|_| match next() % 6 {
                0 => '.',
                _ => char::from(b'!' + (next() % 94) as u8),
            })
            .collect();
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_eq!(
            reply.status, 401,
            "round {round}: proof {proof:?} gave {reply:?}"
        );
        assert_eq!(
            reply.body["error"], "invalid_dpop_proof",
            "round {round}: {reply:?}"
        );
    }
}

#[actix_web::test]
async fn a_proof_key_with_rsa_exponent_1_cannot_be_used_to_forge_proofs() {
    // RFC 8017 §3.1: e is odd and at least 3. With e = 1 the padded hash
    // (RFC 8017 §9.2) is its own signature, so anyone who knows the key,
    // and a thief of a token bound to it does, can make proofs for it.
    let app = spawn_app_with(|s| s.dpop.algorithms = vec!["RS256".into()]).await;
    let mut key = ProofKey::rs256();
    key.jwk.insert("e".into(), json!("AQ"));
    let token = bound_token(&app, &key);
    let input = proof_for(&app, &key, PRIVATE, &token).signing_input();
    let digest_info = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let mut forged = vec![0x00, 0x01];
    forged.resize(256 - 1 - digest_info.len() - 32, 0xff);
    forged.push(0x00);
    forged.extend_from_slice(&digest_info);
    forged.extend_from_slice(&openssl::sha::sha256(input.as_bytes()));
    let proof = format!("{input}.{}", b64(&forged));
    let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
    assert_dpop_error(
        &reply,
        401,
        "invalid_dpop_proof",
        "The DPoP proof's jwk header is not a usable public key",
        "RS256",
        "a forged proof for an e = 1 key",
    );
}

#[actix_web::test]
async fn the_token_must_be_bound_to_the_proof_key() {
    // RFC 9449 §4.3 check 12 and §7.1: binding errors are invalid_token.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let cases = [
        (
            "token bound to another key",
            bound_token(&app, &ProofKey::es256()),
            "The access token is bound to another DPoP key",
        ),
        (
            "token bound to nothing",
            app.token().sign(&app.key),
            "The access token is not bound to a DPoP key",
        ),
    ];
    for (case, token, description) in cases {
        let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_dpop_error(&reply, 401, "invalid_token", description, "ES256", case);
    }
    let expired = app
        .token()
        .claim("cnf", json!({"jkt": key.thumbprint()}))
        .claim("exp", json!(now() - 3600))
        .sign(&app.key);
    let proof = proof_for(&app, &key, PRIVATE, &expired).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &expired, &proof, &[]).await;
    assert_dpop_error(
        &reply,
        401,
        "invalid_token",
        "The access token expired",
        "ES256",
        "a bad token goes into the DPoP challenge",
    );
}

#[actix_web::test]
async fn a_token_with_a_confirmation_method_we_cannot_check_is_refused() {
    // SPEC: a sender-constrained token must never pass as a plain Bearer
    // token. We can check `jkt` (RFC 9449 §6.1) only; `x5t#S256` (RFC 8705
    // §3.1), `jwk`, `jwe`, `jku` or `kid` (RFC 7800 §3) would need checks we
    // do not have, so a `cnf` naming any of them is refused.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let x5t = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";
    let unsupported = "The token's cnf claim names a confirmation method that is not supported";
    let invalid = "The token's cnf claim is invalid";
    let bearer_cases = [
        ("x5t#S256", json!({"x5t#S256": x5t}), unsupported),
        (
            "jwk",
            json!({"jwk": Value::Object(key.jwk.clone())}),
            unsupported,
        ),
        ("kid", json!({"kid": "client-key-1"}), unsupported),
        (
            "jkt beside x5t#S256",
            json!({"jkt": key.thumbprint(), "x5t#S256": x5t}),
            unsupported,
        ),
        ("cnf a string", json!("x5t#S256"), invalid),
        ("cnf an array", json!([{"jkt": key.thumbprint()}]), invalid),
        ("jkt a number", json!({"jkt": 5}), invalid),
        ("jkt null", json!({"jkt": null}), invalid),
    ];
    for (case, cnf, description) in bearer_cases {
        let token = app.token().claim("cnf", cnf).sign(&app.key);
        let reply = app.get_bearer(PRIVATE, &token).await;
        assert_invalid_token(&reply, description, &format!("Bearer, cnf {case}"));
    }
    // The DPoP scheme with a valid proof for the `jkt` does not excuse the
    // method we cannot check either.
    let token = app
        .token()
        .claim("cnf", json!({"jkt": key.thumbprint(), "x5t#S256": x5t}))
        .sign(&app.key);
    let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
    assert_dpop_error(
        &reply,
        401,
        "invalid_token",
        unsupported,
        "ES256",
        "DPoP, cnf with jkt and x5t#S256",
    );
    // An empty `cnf` confirms nothing, so there is nothing to check: the
    // token is an ordinary Bearer token.
    let token = app.token().claim("cnf", json!({})).sign(&app.key);
    assert_accepted(&app.get_bearer(PRIVATE, &token).await, "Bearer, cnf {}");
}

#[actix_web::test]
async fn the_dpop_scheme_needs_exactly_one_proof_and_bearer_none() {
    // RFC 9449 §4.3 check 1 and §7.1; SPEC: two DPoP headers are invalid_request.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let dpop = format!("DPoP {token}");
    let cases: [(&str, Vec<(&str, &str)>); 2] = [
        ("no DPoP header", vec![("Authorization", dpop.as_str())]),
        (
            "two DPoP headers",
            vec![
                ("Authorization", dpop.as_str()),
                ("DPoP", proof.as_str()),
                ("DPoP", proof.as_str()),
            ],
        ),
    ];
    for (case, headers) in cases {
        let reply = get(&app, PRIVATE, &headers).await;
        assert_dpop_error(
            &reply,
            400,
            "invalid_request",
            "Send exactly one DPoP header with the DPoP scheme",
            "ES256",
            case,
        );
    }
    let unbound = app.token().sign(&app.key);
    let bearer = format!("Bearer {unbound}");
    let reply = get(
        &app,
        PRIVATE,
        &[("Authorization", &bearer), ("DPoP", &proof)],
    )
    .await;
    assert_eq!(
        reply.status, 400,
        "Bearer with a DPoP header: status, got {reply:?}"
    );
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some("Bearer realm=\"api\", error=\"invalid_request\", error_description=\"A DPoP header needs the DPoP authorization scheme\", DPoP algs=\"ES256\""),
        "Bearer with a DPoP header: the error is in the Bearer challenge"
    );
    assert_eq!(
        reply.body,
        json!({"error": "invalid_request", "error_description": "A DPoP header needs the DPoP authorization scheme"}),
        "Bearer with a DPoP header: body"
    );
}

#[actix_web::test]
async fn the_dpop_scheme_name_is_case_insensitive() {
    // RFC 9110 §11.1: auth-scheme names are case-insensitive.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    for scheme in ["DPoP", "dpop", "DPOP"] {
        let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
        let authorization = format!("{scheme}   {token}");
        let reply = get(
            &app,
            PRIVATE,
            &[("Authorization", &authorization), ("DPoP", &proof)],
        )
        .await;
        assert_accepted(&reply, scheme);
    }
}

#[actix_web::test]
async fn each_mode_offers_its_own_schemes() {
    // Mixed (the default), required and disabled.
    let key = ProofKey::es256();
    let modes: [(&str, bool, bool, &str); 3] = [
        ("mixed", true, false, MIXED_BARE),
        ("required", true, true, "DPoP algs=\"ES256\""),
        ("disabled", false, false, "Bearer realm=\"api\""),
    ];
    for (mode, enabled, required, bare) in modes {
        let app = spawn_app_with(|s| {
            s.dpop.enabled = enabled;
            s.dpop.required = required;
        })
        .await;
        let reply = get(&app, PRIVATE, &[]).await;
        assert_bare(&reply, bare, &format!("{mode}: no credentials"));

        let unbound = format!("Bearer {}", app.token().sign(&app.key));
        let reply = get(&app, PRIVATE, &[("Authorization", &unbound)]).await;
        if required {
            assert_bare(&reply, bare, &format!("{mode}: Bearer is not offered"));
        } else {
            assert_accepted(&reply, &format!("{mode}: Bearer"));
        }

        let token = bound_token(&app, &key);
        let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        if enabled {
            assert_accepted(&reply, &format!("{mode}: DPoP"));
        } else {
            assert_bare(&reply, bare, &format!("{mode}: DPoP is not offered"));
        }
    }
    // With DPoP disabled, a stray DPoP header on a Bearer request means nothing.
    let app = spawn_app_with(|s| s.dpop.enabled = false).await;
    let bearer = format!("Bearer {}", app.token().sign(&app.key));
    let reply = get(
        &app,
        PRIVATE,
        &[("Authorization", &bearer), ("DPoP", "x.y.z")],
    )
    .await;
    assert_accepted(&reply, "disabled: the DPoP header is ignored");
}

#[actix_web::test]
async fn dpop_required_with_dpop_disabled_refuses_to_start() {
    let tenant = MockTenant::start();
    let mut settings: Settings = test_settings(&tenant.issuer);
    settings.dpop.enabled = false;
    settings.dpop.required = true;
    let error = match Application::build(&settings, Mode::Tenant) {
        Ok(_) => panic!("the app started with dpop.enabled=false and dpop.required=true"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("dpop.enabled is false but dpop.required is true"),
        "the error names both settings: {error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
}

#[actix_web::test]
async fn a_proof_is_accepted_only_once() {
    // RFC 9449 §11.1: the reference accepts the same proof twice; we do not.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let first = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
    assert_accepted(&first, "first use");
    let replay = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
    assert_invalid_proof(&replay, "The DPoP proof was already used", "replay");
    let fresh = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &fresh, &[]).await;
    assert_accepted(&reply, "a new proof from the same key");
}

#[actix_web::test]
async fn a_remembered_token_still_answers_to_its_binding() {
    // Once accepted, a token is answered from the verified-token cache,
    // before any proof work: its scheme must still match its binding, and a
    // bound token still needs a proof from its own key.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let bound = bound_token(&app, &key);
    let proof = proof_for(&app, &key, PRIVATE, &bound).sign(&key);
    assert_accepted(
        &get_dpop(&app, PRIVATE, &bound, &proof, &[]).await,
        "first use",
    );

    let bearer = format!("Bearer {bound}");
    let reply = get(&app, PRIVATE, &[("Authorization", &bearer)]).await;
    assert_invalid_token(
        &reply,
        "A DPoP-bound token must be sent with the DPoP scheme",
        "remembered bound token as Bearer",
    );

    let other = ProofKey::es256();
    let proof = proof_for(&app, &other, PRIVATE, &bound).sign(&other);
    let reply = get_dpop(&app, PRIVATE, &bound, &proof, &[]).await;
    assert_dpop_error(
        &reply,
        401,
        "invalid_token",
        "The access token is bound to another DPoP key",
        "ES256",
        "remembered bound token with another key's proof",
    );

    let unbound = app.token().sign(&app.key);
    let bearer = format!("Bearer {unbound}");
    let reply = get(&app, PRIVATE, &[("Authorization", &bearer)]).await;
    assert_eq!(reply.status, 200, "unbound token as Bearer: {reply:?}");
    let proof = proof_for(&app, &key, PRIVATE, &unbound).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &unbound, &proof, &[]).await;
    assert_dpop_error(
        &reply,
        401,
        "invalid_token",
        "The access token is not bound to a DPoP key",
        "ES256",
        "remembered unbound token with the DPoP scheme",
    );

    let proof = proof_for(&app, &key, PRIVATE, &bound).sign(&key);
    assert_accepted(
        &get_dpop(&app, PRIVATE, &bound, &proof, &[]).await,
        "the remembered bound token with a fresh proof from its key",
    );
}

#[actix_web::test]
async fn a_refused_proof_does_not_use_up_its_jti() {
    // The replay check runs last, so a proof refused for another reason
    // (here: a wrong htm, then a token bound to another key) leaves its jti free.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let wrong_method = proof_for(&app, &key, PRIVATE, &token)
        .claim("jti", json!("fixed-jti-1"))
        .claim("htm", json!("POST"))
        .sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &wrong_method, &[]).await;
    assert_invalid_proof(
        &reply,
        "The DPoP proof's htm does not match the request method",
        "wrong htm",
    );
    let other_token = bound_token(&app, &ProofKey::es256());
    let wrong_binding = proof_for(&app, &key, PRIVATE, &other_token)
        .claim("jti", json!("fixed-jti-1"))
        .sign(&key);
    let reply = get_dpop(&app, PRIVATE, &other_token, &wrong_binding, &[]).await;
    assert_eq!(
        reply.body["error"], "invalid_token",
        "wrong binding: {reply:?}"
    );
    let right = proof_for(&app, &key, PRIVATE, &token)
        .claim("jti", json!("fixed-jti-1"))
        .sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &right, &[]).await;
    assert_accepted(&reply, "the same jti in a valid proof");
}

#[actix_web::test]
async fn server_nonces_round_trip() {
    // RFC 9449 §8 and §9.
    let app = spawn_app_with(|s| s.dpop.nonce = true).await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);

    let bare = get(&app, PRIVATE, &[]).await;
    assert_bare(&bare, MIXED_BARE, "no credentials");
    assert!(
        bare.dpop_nonce.is_some(),
        "a bare 401 already offers a nonce: {bare:?}"
    );

    let without = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &without, &[]).await;
    assert_dpop_error(
        &reply,
        401,
        "use_dpop_nonce",
        "Resource server requires nonce in DPoP proof",
        "ES256",
        "a proof without a nonce",
    );
    let nonce = reply
        .dpop_nonce
        .clone()
        .expect("use_dpop_nonce comes with a DPoP-Nonce");

    let wrong = proof_for(&app, &key, PRIVATE, &token)
        .claim("nonce", json!("bm90LXRoZS1zZXJ2ZXJzLW5vbmNl"))
        .sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &wrong, &[]).await;
    assert_eq!(
        reply.body["error"], "use_dpop_nonce",
        "a made-up nonce: {reply:?}"
    );
    assert!(
        reply.dpop_nonce.is_some(),
        "a made-up nonce: a real one comes back"
    );

    let with = proof_for(&app, &key, PRIVATE, &token)
        .claim("nonce", json!(nonce))
        .sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &with, &[]).await;
    assert_accepted(&reply, "the retry with the nonce");
    assert!(
        reply.dpop_nonce.is_some(),
        "a success carries a fresh nonce: {reply:?}"
    );
}

#[actix_web::test]
async fn nonces_from_a_shared_secret_work_on_every_replica() {
    // Stateless nonces: any replica with the same dpop.nonce_secret accepts them.
    let secret = "Jx8vQ2mZr5LkT1wBn7YcHd3FsGa9UeP0kW4";
    let configure = |s: &mut Settings| {
        s.dpop.nonce = true;
        s.dpop.nonce_secret = secret.into();
    };
    let first = spawn_app_with(configure).await;
    let second = spawn_app_with(configure).await;
    let nonce = get(&first, PRIVATE, &[])
        .await
        .dpop_nonce
        .expect("a nonce from the first replica");
    let key = ProofKey::es256();
    let token = bound_token(&second, &key);
    let proof = proof_for(&second, &key, PRIVATE, &token)
        .claim("nonce", json!(nonce))
        .sign(&key);
    let reply = get_dpop(&second, PRIVATE, &token, &proof, &[]).await;
    assert_accepted(&reply, "the second replica accepts the first one's nonce");
}

#[actix_web::test]
async fn forwarded_headers_are_ignored_without_trust_proxy() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let forwarded: &[(&str, &str)] = &[
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "api.example.com"),
        ("X-Forwarded-Prefix", "/v1"),
        ("Forwarded", "proto=https;host=api.example.com"),
    ];
    let claimed = Proof::new(
        &key,
        "GET",
        "https://api.example.com/v1/api/private",
        &token,
    )
    .sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &claimed, forwarded).await;
    assert_invalid_proof(
        &reply,
        "The DPoP proof's htu does not match the request URL",
        "the forwarded URL is not believed",
    );
    let actual = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &actual, forwarded).await;
    assert_accepted(&reply, "the connection's URL counts");
}

#[actix_web::test]
async fn trusted_forwarded_headers_rebuild_the_url_when_well_formed() {
    let app = spawn_app_with(|s| s.dpop.trust_proxy = true).await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let direct = url(&app, PRIVATE);
    let cases: Vec<(&str, Headers, String)> = vec![
        (
            "proto, host and prefix",
            vec![
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "api.example.com"),
                ("X-Forwarded-Prefix", "/v1"),
            ],
            "https://api.example.com/v1/api/private".into(),
        ),
        (
            "the right-most of several hosts: the nearest proxy's",
            vec![(
                "X-Forwarded-Host",
                "client-chosen.example, api.example.com:8443",
            )],
            "http://api.example.com:8443/api/private".into(),
        ),
        (
            "the last of several field lines: the nearest proxy's",
            vec![
                ("X-Forwarded-Host", "client-chosen.example"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "api.example.com"),
                ("X-Forwarded-Proto", "https"),
            ],
            "https://api.example.com/api/private".into(),
        ),
        (
            "a host with a path is ignored",
            vec![("X-Forwarded-Host", "evil.com/path")],
            direct.clone(),
        ),
        (
            "a host with user info is ignored",
            vec![("X-Forwarded-Host", "user@evil.com")],
            direct.clone(),
        ),
        (
            "proto ftp is ignored",
            vec![("X-Forwarded-Proto", "ftp")],
            direct.clone(),
        ),
        (
            "a prefix with .. is ignored",
            vec![("X-Forwarded-Prefix", "/../admin")],
            direct.clone(),
        ),
        (
            "a prefix starting with // is ignored",
            vec![("X-Forwarded-Prefix", "//evil.com")],
            direct.clone(),
        ),
        (
            "a prefix with : is ignored",
            vec![("X-Forwarded-Prefix", "/a:b")],
            direct.clone(),
        ),
        (
            "a prefix with encoded dots is ignored",
            vec![("X-Forwarded-Prefix", "/%2e%2e/admin")],
            direct.clone(),
        ),
    ];
    for (case, headers, htu) in cases {
        let proof = Proof::new(&key, "GET", &htu, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &headers).await;
        assert_accepted(&reply, case);
    }
    let evil = Proof::new(&key, "GET", "http://evil.com/path/api/private", &token).sign(&key);
    let reply = get_dpop(
        &app,
        PRIVATE,
        &token,
        &evil,
        &[("X-Forwarded-Host", "evil.com/path")],
    )
    .await;
    assert_invalid_proof(
        &reply,
        "The DPoP proof's htu does not match the request URL",
        "X-Forwarded-Host: evil.com/path is not a host",
    );
    // A client that adds its own X-Forwarded-Host in front of the proxy's
    // cannot make its choice the URL proofs are checked against.
    let chosen = Proof::new(
        &key,
        "GET",
        "http://client-chosen.example/api/private",
        &token,
    )
    .sign(&key);
    let reply = get_dpop(
        &app,
        PRIVATE,
        &token,
        &chosen,
        &[("X-Forwarded-Host", "client-chosen.example, api.example.com")],
    )
    .await;
    assert_invalid_proof(
        &reply,
        "The DPoP proof's htu does not match the request URL",
        "the client's own left-most X-Forwarded-Host does not count",
    );
}

#[actix_web::test]
async fn a_public_base_url_wins_over_the_connection_and_forwarded_headers() {
    let app = spawn_app_with(|s| {
        s.dpop.trust_proxy = true;
        s.dpop.public_base_url = "https://api.example.com".into();
    })
    .await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let forwarded: &[(&str, &str)] = &[
        ("X-Forwarded-Host", "other.example"),
        ("X-Forwarded-Proto", "http"),
    ];
    let accepted = [
        "https://api.example.com/api/private",
        "https://API.example.com:443/api/private?x=1#y",
    ];
    for htu in accepted {
        let proof = Proof::new(&key, "GET", htu, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, forwarded).await;
        assert_accepted(&reply, htu);
    }
    let refused = [
        url(&app, PRIVATE),
        "http://other.example/api/private".to_owned(),
    ];
    for htu in refused {
        let proof = Proof::new(&key, "GET", &htu, &token).sign(&key);
        let reply = get_dpop(&app, PRIVATE, &token, &proof, forwarded).await;
        assert_invalid_proof(
            &reply,
            "The DPoP proof's htu does not match the request URL",
            &htu,
        );
    }
}

#[actix_web::test]
async fn missing_permission_with_dpop_is_a_403_in_the_dpop_challenge() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let proof = proof_for(&app, &key, SCOPED, &token).sign(&key);
    let reply = get_dpop(&app, SCOPED, &token, &proof, &[]).await;
    let description = "The access token lacks the permission this endpoint needs: read:messages";
    assert_eq!(reply.status, 403, "status, got {reply:?}");
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(format!("DPoP error=\"insufficient_scope\", error_description=\"{description}\", scope=\"read:messages\", algs=\"ES256\", Bearer realm=\"api\"").as_str()),
        "challenge"
    );
    assert_eq!(
        reply.body,
        json!({"error": "insufficient_scope", "error_description": description}),
        "body"
    );
}

#[actix_web::test]
async fn dpop_error_answers_never_echo_the_proof() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let base = || proof_for(&app, &key, PRIVATE, &token);
    let proofs = [
        base().claim("htm", json!("leak-check-method")).sign(&key),
        base()
            .claim("htu", json!("https://leak-check.example/x"))
            .sign(&key),
        base().header("typ", json!("leak-check-typ")).sign(&key),
        "leak-check-garbage-proof-0123456789".to_owned(),
    ];
    for proof in proofs {
        let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
        assert_eq!(reply.status, 401, "status, got {reply:?}");
        let body = reply.body.to_string();
        let challenge = reply.www_authenticate.clone().unwrap_or_default();
        assert!(
            !body.contains("leak-check"),
            "the body echoes the proof: {body}"
        );
        assert!(
            !challenge.contains("leak-check"),
            "the challenge echoes the proof: {challenge}"
        );
        for part in proof.split('.').filter(|p| p.len() > 8) {
            assert!(
                !body.contains(part),
                "the body echoes a proof segment: {body}"
            );
        }
    }
}

/// The `WWW-Authenticate` value of a mixed-mode refusal (RFC 9449 §7.1, SPEC
/// "DPoP"): the challenge of the scheme the client used, with the error,
/// first; then the other accepted scheme's bare challenge.
fn mixed_challenge(used: &str, code: &str, description: &str, scope: Option<&str>) -> String {
    let scope = scope.map_or(String::new(), |s| format!(", scope=\"{s}\""));
    let error = format!("error=\"{code}\", error_description=\"{description}\"{scope}");
    match used {
        "Bearer" => format!("Bearer realm=\"api\", {error}, DPoP algs=\"ES256\""),
        _ => format!("DPoP {error}, algs=\"ES256\", Bearer realm=\"api\""),
    }
}

#[actix_web::test]
async fn every_refusal_in_mixed_mode_carries_both_challenges() {
    // RFC 9449 §7.1 and RFC 9110 §11.6.1: a resource that accepts Bearer
    // and DPoP says so in every challenge, so a client learns both schemes
    // whichever it tried; the error parameters go on the scheme it used.
    // Each case is sent twice: the second answer comes from the worker's
    // rendered refusals and must be the same.
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let bound = bound_token(&app, &key);
    let unbound = app.token().sign(&app.key);
    let expired = app.token().claim("exp", json!(now() - 3600)).sign(&app.key);
    let expired_bound = app
        .token()
        .claim("cnf", json!({"jkt": key.thumbprint()}))
        .claim("exp", json!(now() - 3600))
        .sign(&app.key);
    let bearer = |token: &str| format!("Bearer {token}");
    let dpop = |token: &str| format!("DPoP {token}");
    // A DPoP-bound token the verified-token cache already remembers, so
    // its refusal as Bearer is settled on the cached path.
    let proof = proof_for(&app, &key, PRIVATE, &bound).sign(&key);
    assert_accepted(
        &get_dpop(&app, PRIVATE, &bound, &proof, &[]).await,
        "warm-up",
    );

    struct Case {
        name: &'static str,
        path: &'static str,
        headers: Vec<(String, String)>,
        status: u16,
        used: &'static str,
        code: &'static str,
        description: &'static str,
        scope: Option<&'static str>,
    }
    let h = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect()
    };
    // Each DPoP case gets a fresh proof, so no case is a replay.
    let fresh = |token: &str, path: &str| proof_for(&app, &key, path, token).sign(&key);
    let lacks = "The access token lacks the permission this endpoint needs: read:messages";
    let cases = vec![
        Case {
            name: "Bearer, malformed token",
            path: PRIVATE,
            headers: h(&[("Authorization", bearer("not-a-jwt"))]),
            status: 401,
            used: "Bearer",
            code: "invalid_token",
            description: "The access token is malformed",
            scope: None,
        },
        Case {
            name: "Bearer, expired token",
            path: PRIVATE,
            headers: h(&[("Authorization", bearer(&expired))]),
            status: 401,
            used: "Bearer",
            code: "invalid_token",
            description: "The access token expired",
            scope: None,
        },
        Case {
            name: "Bearer, remembered DPoP-bound token",
            path: PRIVATE,
            headers: h(&[("Authorization", bearer(&bound))]),
            status: 401,
            used: "Bearer",
            code: "invalid_token",
            description: "A DPoP-bound token must be sent with the DPoP scheme",
            scope: None,
        },
        Case {
            name: "Bearer without a token",
            path: PRIVATE,
            headers: h(&[("Authorization", "Bearer".to_owned())]),
            status: 400,
            used: "Bearer",
            code: "invalid_request",
            description: "The Authorization header has a scheme but no token",
            scope: None,
        },
        Case {
            name: "two Authorization headers",
            path: PRIVATE,
            headers: h(&[
                ("Authorization", bearer(&unbound)),
                ("Authorization", bearer(&unbound)),
            ]),
            status: 400,
            used: "Bearer",
            code: "invalid_request",
            description: "Send exactly one Authorization header",
            scope: None,
        },
        Case {
            name: "Bearer with a DPoP header",
            path: PRIVATE,
            headers: h(&[
                ("Authorization", bearer(&unbound)),
                ("DPoP", fresh(&unbound, PRIVATE)),
            ]),
            status: 400,
            used: "Bearer",
            code: "invalid_request",
            description: "A DPoP header needs the DPoP authorization scheme",
            scope: None,
        },
        Case {
            name: "Bearer, missing permission",
            path: SCOPED,
            headers: h(&[("Authorization", bearer(&unbound))]),
            status: 403,
            used: "Bearer",
            code: "insufficient_scope",
            description: lacks,
            scope: Some("read:messages"),
        },
        Case {
            name: "DPoP without a DPoP header",
            path: PRIVATE,
            headers: h(&[("Authorization", dpop(&bound))]),
            status: 400,
            used: "DPoP",
            code: "invalid_request",
            description: "Send exactly one DPoP header with the DPoP scheme",
            scope: None,
        },
        Case {
            name: "DPoP, garbage proof",
            path: PRIVATE,
            headers: h(&[
                ("Authorization", dpop(&bound)),
                ("DPoP", "x.y.z".to_owned()),
            ]),
            status: 401,
            used: "DPoP",
            code: "invalid_dpop_proof",
            description: "The DPoP proof is malformed",
            scope: None,
        },
        Case {
            name: "DPoP, unbound token",
            path: PRIVATE,
            headers: h(&[
                ("Authorization", dpop(&unbound)),
                ("DPoP", fresh(&unbound, PRIVATE)),
            ]),
            status: 401,
            used: "DPoP",
            code: "invalid_token",
            description: "The access token is not bound to a DPoP key",
            scope: None,
        },
        Case {
            name: "DPoP, expired bound token",
            path: PRIVATE,
            headers: h(&[
                ("Authorization", dpop(&expired_bound)),
                ("DPoP", fresh(&expired_bound, PRIVATE)),
            ]),
            status: 401,
            used: "DPoP",
            code: "invalid_token",
            description: "The access token expired",
            scope: None,
        },
        Case {
            name: "DPoP, missing permission",
            path: SCOPED,
            headers: h(&[
                ("Authorization", dpop(&bound)),
                ("DPoP", fresh(&bound, SCOPED)),
            ]),
            status: 403,
            used: "DPoP",
            code: "insufficient_scope",
            description: lacks,
            scope: Some("read:messages"),
        },
    ];
    for case in cases {
        for attempt in ["first", "repeated"] {
            // A repeated DPoP case needs its own proof, or it is a replay.
            let headers: Vec<(String, String)> = case
                .headers
                .iter()
                .map(|(name, value)| {
                    let token = case.headers[0].1.split_once(' ').map(|(_, t)| t);
                    match (name.as_str(), token, attempt) {
                        ("DPoP", Some(token), "repeated") if value != "x.y.z" => {
                            (name.clone(), fresh(token, case.path))
                        }
                        _ => (name.clone(), value.clone()),
                    }
                })
                .collect();
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let reply = get(&app, case.path, &pairs).await;
            let what = format!("{} ({attempt})", case.name);
            assert_eq!(reply.status, case.status, "{what}: status, got {reply:?}");
            assert_eq!(
                reply.www_authenticate.as_deref(),
                Some(mixed_challenge(case.used, case.code, case.description, case.scope).as_str()),
                "{what}: WWW-Authenticate"
            );
            assert_eq!(
                reply.body,
                json!({"error": case.code, "error_description": case.description}),
                "{what}: body"
            );
        }
    }
}

#[actix_web::test]
async fn a_nonce_demand_in_mixed_mode_carries_both_challenges() {
    // RFC 9449 §9: use_dpop_nonce goes on the DPoP challenge; Bearer is
    // still offered beside it (§7.1).
    let app = spawn_app_with(|s| s.dpop.nonce = true).await;
    let key = ProofKey::es256();
    let token = bound_token(&app, &key);
    let proof = proof_for(&app, &key, PRIVATE, &token).sign(&key);
    let reply = get_dpop(&app, PRIVATE, &token, &proof, &[]).await;
    assert_eq!(reply.status, 401, "status, got {reply:?}");
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(
            mixed_challenge(
                "DPoP",
                "use_dpop_nonce",
                "Resource server requires nonce in DPoP proof",
                None
            )
            .as_str()
        ),
        "WWW-Authenticate"
    );
    assert!(reply.dpop_nonce.is_some(), "a nonce to use: {reply:?}");
}
