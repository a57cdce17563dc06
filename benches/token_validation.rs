//! What one token costs: validation of distinct and repeated tokens, each
//! cheap rejection, a DPoP proof check, the key lookup, and the crypto
//! library's own RSA and ECDSA verifies beside them, so the overhead reads
//! as a ratio.
//!
//! Run: `cargo bench --bench token_validation`.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use auth0_actix_api::auth::dpop::ProofRequest;
use auth0_actix_api::auth::keys::KeySet;
use auth0_actix_api::auth::signature::SignatureKey;
use auth0_actix_api::auth::{
    Algorithm, Claims, KeyCache, KeyCachePolicy, ValidationPolicy, Validator,
};
use auth0_actix_api::auth::{DpopPolicy, DpopVerifier};
use auth0_actix_api::dpop_client::ClientKey;
use auth0_actix_api::issuer::sign_compact;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{JwsVerifier, RS256};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Public;
use serde_json::{json, Value};

#[path = "support/paired.rs"]
mod paired;
use paired::{paired_ratio, PAIRED_BATCHES};

const ISSUER: &str = "https://tenant.example/";
const AUDIENCE: &str = "https://api.example";

struct Fixture {
    jwks: String,
    pem: Vec<u8>,
    public_jwk: josekit::jwk::Jwk,
}

fn fixture() -> Fixture {
    let pair = RsaKeyPair::generate(2048).expect("key");
    let mut public_jwk = pair.to_jwk_public_key();
    public_jwk.set_key_id("k1");
    public_jwk.set_algorithm("RS256");
    let jwks = json!({"keys": [Value::Object(public_jwk.as_ref().clone())]}).to_string();
    Fixture {
        jwks,
        pem: pair.to_pem_private_key(),
        public_jwk,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn token(f: &Fixture, claims: Value) -> String {
    let signer = RS256.signer_from_pem(&f.pem).expect("signer");
    sign_compact(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}),
        &claims,
        &signer,
    )
    .expect("sign")
}

fn claims(i: usize) -> Value {
    json!({"iss": ISSUER, "sub": format!("user-{i}"), "aud": AUDIENCE, "iat": now(), "exp": now() + 3600,
           "scope": "read:messages", "azp": "client"})
}

fn validator(f: &Fixture, verified_cache: usize) -> Validator {
    let (set, _) = KeySet::from_jwks(f.jwks.as_bytes(), &[Algorithm::RS256]).expect("jwks");
    let keys = KeyCache::with_keys(KeyCachePolicy::new(ISSUER), set);
    let mut policy = ValidationPolicy::new(ISSUER, vec![AUDIENCE.into()]);
    policy.verified_cache_entries = verified_cache;
    Validator::new(policy, keys)
}

fn validate(v: &Validator, token: &str) -> bool {
    v.validate(token)
        .now_or_never()
        .expect("keys are local, so validation never waits")
        .is_ok()
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let distinct: Vec<String> = (0..1000).map(|i| token(&f, claims(i))).collect();
    let repeated = distinct[0].clone();
    let uncached = validator(&f, 0);
    let cached = validator(&f, 10_000);

    let mut crypto = c.benchmark_group("crypto");
    let verifier = RS256.verifier_from_jwk(&f.public_jwk).expect("verifier");
    let (input, signature) = repeated.rsplit_once('.').expect("three parts");
    let signature = auth0_actix_api::auth::token::decode_segment(signature).expect("b64");
    crypto.bench_function("rsa2048_verify_josekit", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(input.as_bytes()), black_box(&signature))
                .is_ok()
        })
    });
    // The floor: what `openssl speed rsa2048` measures, one public-key
    // operation on a prepared context over a ready digest.
    let public = openssl::pkey::PKey::public_key_from_der(
        &openssl::pkey::PKey::private_key_from_pem(&f.pem)
            .expect("pem")
            .public_key_to_der()
            .expect("der"),
    )
    .expect("public key");
    let mut prepared = openssl::pkey_ctx::PkeyCtx::new(&public).expect("ctx");
    prepared.verify_init().expect("init");
    prepared
        .set_rsa_padding(openssl::rsa::Padding::PKCS1)
        .expect("padding");
    prepared
        .set_signature_md(openssl::md::Md::sha256())
        .expect("md");
    let digest = openssl::sha::sha256(input.as_bytes());
    crypto.bench_function("rsa2048_verify_openssl_prepared", |b| {
        b.iter(|| {
            prepared
                .verify(black_box(&digest), black_box(&signature))
                .unwrap_or(false)
        })
    });
    let ours = SignatureKey::from_jwk(f.public_jwk.as_ref(), Algorithm::RS256).expect("key");
    crypto.bench_function("rsa2048_verify_signature_key", |b| {
        b.iter(|| ours.verify(black_box(input.as_bytes()), black_box(&signature)))
    });
    crypto.bench_function("rsa2048_verifier_from_jwk", |b| {
        b.iter(|| RS256.verifier_from_jwk(black_box(&f.public_jwk)).is_ok())
    });
    crypto.finish();

    let mut valid = c.benchmark_group("validate");
    let mut i = 0;
    valid.bench_function("distinct_tokens", |b| {
        b.iter(|| {
            i = (i + 1) % distinct.len();
            assert!(validate(&uncached, black_box(&distinct[i])));
        })
    });
    // The payload of a typical Auth0 access token, custom claims included.
    let payload = json!({"iss": ISSUER, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": [AUDIENCE, "https://tenant.example/userinfo"], "iat": now(), "exp": now() + 86400,
        "scope": "openid profile email read:messages", "azp": "client-id-0123456789",
        "permissions": ["read:messages", "write:messages"],
        "https://myapp.example.com/roles": ["admin", "editor"],
        "https://myapp.example.com/email": "user@example.com"})
    .to_string();
    valid.bench_function("claims_from_payload", |b| {
        b.iter(|| Claims::from_payload(black_box(payload.as_bytes())).is_ok())
    });
    assert!(validate(&cached, &repeated));
    valid.bench_function("repeated_token_cached", |b| {
        b.iter(|| assert!(validate(&cached, black_box(&repeated))))
    });
    valid.finish();

    let mut reject = c.benchmark_group("reject");
    let malformed = "eyJhbGciOiJSUzI1NiJ9.not-base64!.x";
    let expired = token(
        &f,
        json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now() - 7200, "exp": now() - 3600}),
    );
    let wrong_aud = token(
        &f,
        json!({"iss": ISSUER, "aud": "https://other", "iat": now(), "exp": now() + 3600}),
    );
    let (head, _) = repeated.rsplit_once('.').expect("three parts");
    let bad_signature = format!(
        "{head}.{}",
        distinct[1].rsplit_once('.').expect("three parts").1
    );
    for (name, token) in [
        ("malformed", malformed.to_owned()),
        ("expired", expired),
        ("wrong_audience", wrong_aud),
        ("bad_signature", bad_signature),
    ] {
        reject.bench_function(name, |b| {
            b.iter(|| assert!(!validate(&uncached, black_box(&token))))
        });
    }
    reject.finish();

    // A DPoP proof (ES256, the default proof algorithm): every check of RFC
    // 9449 §4.3 but the replay record, with the proof key's verifier cached
    // as it is for a client that sends many proofs.
    let dir = tempfile::tempdir().expect("tempdir");
    let client = ClientKey::load_or_create(&dir.path().join("dpop.pem")).expect("client key");
    let url = "https://api.example/api/private";
    let proof = client
        .proof("GET", url, Some(&repeated), None)
        .expect("proof");
    let dpop = DpopVerifier::new(DpopPolicy::default()).expect("dpop policy");
    let check_dpop = || {
        assert!(dpop
            .check(&ProofRequest {
                proof: black_box(&proof),
                method: "GET",
                url: Some(url),
                access_token: &repeated,
                now: now(),
            })
            .is_ok())
    };
    c.bench_function("dpop/check_es256_proof", |b| b.iter(check_dpop));
    // The ES256 floor: one ECDSA verify of the proof with its key and
    // signature parsed and its digest ready, as `openssl speed ecdsap256`.
    let es256 = Es256Floor::of(&proof);
    c.bench_function("dpop/es256_verify_openssl_prepared", |b| {
        b.iter(|| es256.verify())
    });

    let (set, _) = KeySet::from_jwks(f.jwks.as_bytes(), &[Algorithm::RS256]).expect("jwks");
    c.bench_function("keys/find_kid", |b| {
        b.iter(|| set.find(black_box(Some("k1")), Algorithm::RS256).is_some())
    });
    c.bench_function("keys/current_set", |b| {
        let keys = KeyCache::with_keys(
            KeyCachePolicy::new(ISSUER),
            KeySet::from_jwks(f.jwks.as_bytes(), &[Algorithm::RS256])
                .expect("jwks")
                .0,
        );
        b.iter_batched(|| (), |_| keys.current().is_some(), BatchSize::SmallInput)
    });

    // The ratios that matter, each pair alternating batch by batch so that
    // the machine's drift between benchmarks does not enter them.
    println!(
        "\npaired: time per call of the first over the second, \
         the median of {PAIRED_BATCHES} alternating batches"
    );
    let mut floor = || {
        black_box(prepared.verify(black_box(&digest), black_box(&signature))).ok();
    };
    let ratio = paired_ratio(
        || assert!(ours.verify(black_box(input.as_bytes()), black_box(&signature))),
        &mut floor,
        200,
    );
    println!("  our verify, hashing included / the prepared OpenSSL verify: {ratio:.2}");
    let mut i = 0;
    let ratio = paired_ratio(
        || {
            i = (i + 1) % distinct.len();
            assert!(validate(&uncached, black_box(&distinct[i])));
        },
        &mut floor,
        200,
    );
    println!("  a distinct token, every check / the prepared OpenSSL verify: {ratio:.2}");
    let forged = format!("{head}.{}", distinct[1].rsplit_once('.').expect("parts").1);
    let mut i = 0;
    let ratio = paired_ratio(
        || assert!(!validate(&uncached, black_box(&forged))),
        || {
            i = (i + 1) % distinct.len();
            assert!(validate(&uncached, black_box(&distinct[i])));
        },
        200,
    );
    println!("  a bad signature / a distinct valid token: {ratio:.2}");
    let ratio = paired_ratio(check_dpop, || assert!(es256.verify()), 100);
    println!("  a DPoP proof, every check / the prepared OpenSSL ES256 verify: {ratio:.2}");
}

/// A DPoP proof's ES256 signature, key and digest, parsed beforehand.
struct Es256Floor {
    key: EcKey<Public>,
    signature: EcdsaSig,
    digest: [u8; 32],
}

impl Es256Floor {
    fn of(proof: &str) -> Self {
        let decode = auth0_actix_api::auth::token::decode_segment;
        let (input, signature) = proof.rsplit_once('.').expect("three parts");
        let (header, _) = input.split_once('.').expect("three parts");
        let header: Value = serde_json::from_slice(&decode(header).expect("b64")).expect("json");
        let number = |bytes: &[u8]| BigNum::from_slice(bytes).expect("number");
        let coordinate = |name: &str| {
            number(&decode(header["jwk"][name].as_str().expect("coordinate")).expect("b64"))
        };
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let key =
            EcKey::from_public_key_affine_coordinates(&group, &coordinate("x"), &coordinate("y"))
                .expect("key");
        let raw = decode(signature).expect("b64");
        let (r, s) = raw.split_at(32);
        Self {
            key,
            signature: EcdsaSig::from_private_components(number(r), number(s)).expect("signature"),
            digest: openssl::sha::sha256(input.as_bytes()),
        }
    }

    fn verify(&self) -> bool {
        self.signature
            .verify(black_box(&self.digest), &self.key)
            .unwrap_or(false)
    }
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
