//! Writes the seed corpora under `fuzz/corpus/<target>/` and the public key
//! set the token target verifies with (`fuzz/keys/jwks.json`): real tokens,
//! proofs and documents, signed and shaped by the crate's own code
//! (`issuer::sign_compact`, `LocalIssuer`), for the fixed clock, issuer and
//! request of `src/lib.rs`.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//!
//! Fresh keys every run, so the seeds and `keys/jwks.json` change together;
//! the private keys are never written anywhere.

use std::fs;
use std::path::{Path, PathBuf};

use auth0_actix_api::auth::signature::sha256;
use auth0_actix_api::auth::thumbprint::jwk_thumbprint;
use auth0_actix_api::issuer::{sign_compact, LocalIssuer};
use auth0_actix_api_fuzz::{AUDIENCE, DPOP_ACCESS_TOKEN, DPOP_METHOD, DPOP_URL, ISSUER, NOW};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{EdDSA, JwsSigner, ES256, PS256, RS256};
use serde_json::{json, Map, Value};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One signing key: its signer and its public JWK as published.
struct Signer {
    alg: &'static str,
    kid: &'static str,
    signer: Box<dyn JwsSigner>,
    public: Map<String, Value>,
}

impl Signer {
    fn new(alg: &'static str, kid: &'static str, private: &Jwk, public: &Jwk) -> Result<Self> {
        let signer: Box<dyn JwsSigner> = match alg {
            "RS256" => Box::new(RS256.signer_from_jwk(private)?),
            "PS256" => Box::new(PS256.signer_from_jwk(private)?),
            "ES256" => Box::new(ES256.signer_from_jwk(private)?),
            "EdDSA" => Box::new(EdDSA.signer_from_jwk(private)?),
            other => return Err(format!("no signer for {other}").into()),
        };
        Ok(Self {
            alg,
            kid,
            signer,
            public: public.as_ref().clone(),
        })
    }

    /// The JWK as a tenant publishes it: with `kid`, `alg` and `use`.
    fn published(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk.insert("kid".into(), json!(self.kid));
        jwk.insert("alg".into(), json!(self.alg));
        jwk.insert("use".into(), json!("sig"));
        Value::Object(jwk)
    }

    fn sign(&self, header: &Value, payload: &Value) -> Result<String> {
        Ok(sign_compact(header, payload, self.signer.as_ref())?)
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "auth0|fuzz-user",
        "aud": AUDIENCE,
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "azp": "fuzz-client",
        "jti": "seed",
        "scope": "openid read:messages",
    })
}

fn with(mut value: Value, key: &str, member: Value) -> Value {
    value[key] = member;
    value
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), contents)?;
    Ok(())
}

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("corpus");

    // The tenant's keys: one RSA key published for RS256 and for PS256
    // under two kids, and a P-256 key for ES256.
    let rsa = RsaKeyPair::generate(2048)?;
    let ec = EcKeyPair::generate(EcCurve::P256)?;
    let rsa_private = rsa.to_jwk_private_key();
    let rsa_public = rsa.to_jwk_public_key();
    let tenant = [
        Signer::new("RS256", "fuzz-rs256", &rsa_private, &rsa_public)?,
        Signer::new("PS256", "fuzz-ps256", &rsa_private, &rsa_public)?,
        Signer::new(
            "ES256",
            "fuzz-es256",
            &ec.to_jwk_private_key(),
            &ec.to_jwk_public_key(),
        )?,
    ];
    let jwks = json!({ "keys": tenant.iter().map(Signer::published).collect::<Vec<_>>() });
    let jwks_text = serde_json::to_string_pretty(&jwks)? + "\n";
    fs::create_dir_all(root.join("keys"))?;
    fs::write(root.join("keys/jwks.json"), &jwks_text)?;

    // token: valid tokens for each algorithm, and the refusals next to them.
    let dir = corpus.join("token");
    let [rs256, ps256, es256] = &tenant;
    for signer in &tenant {
        let header = json!({"alg": signer.alg, "typ": "JWT", "kid": signer.kid});
        let name = format!("valid-{}", signer.alg.to_ascii_lowercase());
        write(&dir, &name, signer.sign(&header, &claims())?)?;
    }
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": rs256.kid});
    let cases = [
        ("expired", with(claims(), "exp", json!(NOW - 3600))),
        (
            "wrong-audience",
            with(claims(), "aud", json!("https://other.example")),
        ),
        (
            "audience-array",
            with(claims(), "aud", json!(["x", AUDIENCE])),
        ),
        ("not-yet-valid", with(claims(), "nbf", json!(NOW + 3600))),
        ("issued-in-future", with(claims(), "iat", json!(NOW + 3600))),
        ("scope-array-and-permissions", {
            let c = with(claims(), "scope", json!(["read:messages"]));
            with(c, "permissions", json!(["write:messages"]))
        }),
        (
            "dpop-bound",
            with(
                claims(),
                "cnf",
                json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            ),
        ),
        (
            "fractional-dates",
            with(claims(), "exp", json!(NOW as f64 + 0.5)),
        ),
        (
            "custom-claims",
            with(
                claims(),
                "https://myapp.example.com/roles",
                json!(["admin", {"x": [1, null]}]),
            ),
        ),
    ];
    for (name, payload) in cases {
        write(&dir, name, rs256.sign(&header, &payload)?)?;
    }
    let headers = [
        ("no-kid", json!({"alg": "ES256", "typ": "at+jwt"}), es256),
        (
            "crit",
            json!({"alg": "PS256", "kid": ps256.kid, "crit": ["exp"]}),
            ps256,
        ),
        (
            "typ-application",
            json!({"alg": "RS256", "kid": rs256.kid, "typ": "application/at+jwt"}),
            rs256,
        ),
        (
            "unknown-kid",
            json!({"alg": "RS256", "kid": "retired"}),
            rs256,
        ),
    ];
    for (name, header, signer) in headers {
        write(&dir, name, signer.sign(&header, &claims())?)?;
    }
    let valid = rs256.sign(&header, &claims())?;
    let (input, _) = valid.rsplit_once('.').ok_or("no dot")?;
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    write(&dir, "bad-signature", forged)?;
    for alg in ["none", "HS256"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        let body = URL_SAFE_NO_PAD.encode(claims().to_string());
        write(
            &dir,
            &format!("alg-{}", alg.to_ascii_lowercase()),
            format!("{header}.{body}.c2ln"),
        )?;
    }
    write(&dir, "payload.json", serde_json::to_string(&claims())?)?;
    write(
        &dir,
        "payload-null-claim.json",
        serde_json::to_string(&with(claims(), "sub", Value::Null))?,
    )?;
    // The local issuer's own minting, Auth0's shape (its key is not in the
    // fuzz key set, so these stop at the unknown kid or at exp).
    let work = std::env::temp_dir().join(format!("make-seeds-{}", std::process::id()));
    let local =
        LocalIssuer::load_or_create(&work.join("issuer.pem"), ISSUER.into(), AUDIENCE.into())?;
    let minted = local.mint(&auth0_actix_api::issuer::TokenSpec {
        sub: Some("local-dev-user".into()),
        scope: Some("read:messages".into()),
        expires_in: 3600,
        ..Default::default()
    })?;
    write(&dir, "local-issuer", &minted)?;

    // dpop_proof: a valid proof for each proof algorithm, and refusals.
    let dir = corpus.join("dpop_proof");
    let rsa_client = RsaKeyPair::generate(2048)?;
    let ec_client = EcKeyPair::generate(EcCurve::P256)?;
    let ed25519 = EdKeyPair::generate(EdCurve::Ed25519)?;
    let ed448 = EdKeyPair::generate(EdCurve::Ed448)?;
    let clients = [
        (
            "es256",
            Signer::new(
                "ES256",
                "",
                &ec_client.to_jwk_private_key(),
                &ec_client.to_jwk_public_key(),
            )?,
        ),
        (
            "rs256",
            Signer::new(
                "RS256",
                "",
                &rsa_client.to_jwk_private_key(),
                &rsa_client.to_jwk_public_key(),
            )?,
        ),
        (
            "ps256",
            Signer::new(
                "PS256",
                "",
                &rsa_client.to_jwk_private_key(),
                &rsa_client.to_jwk_public_key(),
            )?,
        ),
        (
            "ed25519",
            Signer::new(
                "EdDSA",
                "",
                &ed25519.to_jwk_private_key(),
                &ed25519.to_jwk_public_key(),
            )?,
        ),
        (
            "ed448",
            Signer::new(
                "EdDSA",
                "",
                &ed448.to_jwk_private_key(),
                &ed448.to_jwk_public_key(),
            )?,
        ),
    ];
    let ath = URL_SAFE_NO_PAD.encode(sha256(DPOP_ACCESS_TOKEN.as_bytes()));
    let proof_claims =
        json!({"jti": "seed-jti", "htm": DPOP_METHOD, "htu": DPOP_URL, "iat": NOW, "ath": ath});
    for (name, client) in &clients {
        let header = json!({"typ": "dpop+jwt", "alg": client.alg, "jwk": client.public});
        write(
            &dir,
            &format!("valid-{name}"),
            client.sign(&header, &proof_claims)?,
        )?;
    }
    let (_, es) = &clients[0];
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": es.public});
    let refusals = [
        (
            "with-nonce",
            with(proof_claims.clone(), "nonce", json!("server-nonce")),
        ),
        (
            "htu-query-and-case",
            with(
                proof_claims.clone(),
                "htu",
                json!("HTTPS://API.fuzz.example:443/api/./private?x=1#f"),
            ),
        ),
        (
            "wrong-method",
            with(proof_claims.clone(), "htm", json!("POST")),
        ),
        (
            "too-old",
            with(proof_claims.clone(), "iat", json!(NOW - 301)),
        ),
        (
            "wrong-ath",
            with(proof_claims.clone(), "ath", json!("AAAA")),
        ),
        (
            "fractional-iat",
            with(proof_claims.clone(), "iat", json!(NOW as f64 + 0.25)),
        ),
    ];
    for (name, claims) in refusals {
        write(&dir, name, es.sign(&header, &claims)?)?;
    }
    let mut private = ec_client.to_jwk_private_key().as_ref().clone();
    private.insert("alg".into(), json!("ES256"));
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private});
    write(
        &dir,
        "private-key-in-header",
        es.sign(&header, &proof_claims)?,
    )?;
    let header = json!({"typ": "JWT", "alg": "ES256", "jwk": es.public});
    write(&dir, "wrong-typ", es.sign(&header, &proof_claims)?)?;

    // scheme: the headers real clients send, and the malformed ones.
    let dir = corpus.join("scheme");
    let proof = fs::read_to_string(corpus.join("dpop_proof/valid-es256"))?;
    let scheme_seeds = [
        ("bearer", format!("A Bearer {valid}\n")),
        (
            "bearer-lowercase-spaces",
            format!("A   bearer    {valid}  \n"),
        ),
        ("dpop", format!("A DPoP {valid}\nD {proof}\n")),
        ("dpop-required-bearer", format!("M 2\nA Bearer {valid}\n")),
        ("dpop-disabled", format!("M 0\nA DPoP {valid}\nD {proof}\n")),
        (
            "two-authorization",
            format!("A Bearer {valid}\nA Bearer {valid}\n"),
        ),
        (
            "two-dpop",
            format!("A DPoP {valid}\nD {proof}\nD {proof}\n"),
        ),
        (
            "query-token",
            format!("Q x=1&access_token={valid}\nA Bearer {valid}\n"),
        ),
        ("basic", "A Basic dXNlcjpwYXNz\n".to_owned()),
        ("bearer-no-token", "A Bearer\n".to_owned()),
    ];
    for (name, text) in scheme_seeds {
        write(&dir, name, text)?;
    }

    // jwks: key sets and discovery documents as tenants serve them.
    let dir = corpus.join("jwks");
    write(&dir, "fuzz-jwks.json", &jwks_text)?;
    write(&dir, "local-issuer-jwks.json", local.jwks().to_string())?;
    write(
        &dir,
        "local-issuer-discovery.json",
        local.discovery_document().to_string(),
    )?;
    let mut auth0_style = rs256.published();
    auth0_style["x5t"] = json!("bm90LWEtcmVhbC10aHVtYnByaW50");
    auth0_style["x5c"] = json!(["MIIDHTCCAgWgAwIBAgIJ"]);
    let ec_no_alg = {
        let mut jwk = es256.public.clone();
        jwk.insert("kid".into(), json!("ec-no-alg"));
        Value::Object(jwk)
    };
    let encryption_key = with(rs256.published(), "use", json!("enc"));
    write(
        &dir,
        "mixed-keys.json",
        json!({"keys": [auth0_style, ec_no_alg, encryption_key, {"kty": "oct", "k": "c2VjcmV0"}]})
            .to_string(),
    )?;
    write(&dir, "issuer-loopback", "http://127.0.0.1:8080/\n")?;
    write(&dir, "issuer-auth0", "https://dev-abc123.us.auth0.com/\n")?;

    // htu: URLs to normalise and requests behind a proxy.
    let dir = corpus.join("htu");
    let htu_seeds = [
        (
            "normalise",
            "U HTTPS://API.Example.COM:443/a/./b/../%7euser/%2fx?q=1#f\n",
        ),
        (
            "ipv6",
            "U http://[::1]:8080/api/private\nP /api/private\nH [::1]:8080\n",
        ),
        ("connection", "P /api/private\nH 127.0.0.1:8080\n"),
        (
            "proxy",
            "P /api/private\nH 127.0.0.1:8080\nX https\nF api.example.com, other.example\nR /v1/\n",
        ),
        (
            "proxy-refused",
            "P /api/private\nH 127.0.0.1:8080\nX ftp\nF evil.com/path\nR /../admin\n",
        ),
        (
            "absolute-target",
            "P http://api.example.com:8080/a%2e%2E/b\n",
        ),
    ];
    for (name, text) in htu_seeds {
        write(&dir, name, text)?;
    }

    fs::remove_dir_all(&work)?;
    // The thumbprint printed is the ES256 client key's, for reading the seeds.
    println!(
        "seeds written under {}; DPoP ES256 client jkt {}",
        corpus.display(),
        jwk_thumbprint(&es.public).unwrap_or_default()
    );
    Ok(())
}
