//! Signature checks at the cost of the arithmetic alone.
//!
//! OpenSSL 3 looks up the digest and signature implementations by name each
//! time a verify operation is initialised, which costs about as much again
//! as the RSA public-key operation. Here the message is hashed once with the
//! low-level SHA-256. RS256 runs the bare RSA public operation and compares
//! the result with the one encoding a valid signature can have (RFC 8017
//! §8.2.2), so a request pays only the modular exponentiation, and a refused
//! signature costs no more than an accepted one. PS256 keeps an initialised
//! `EVP_PKEY_CTX` per key in each worker thread. ECDSA goes through the
//! low-level verify, which needs no lookup at all.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::RsaPssSaltlen;
use serde_json::{Map, Value};

use super::policy::Algorithm;
use super::token::decode_segment;

/// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used."
const MIN_RSA_BITS: u32 = 2048;

/// RSA keys above this size are refused, so that a decoded signature always
/// fits a buffer on the stack.
const MAX_RSA_BITS: u32 = 8192;

/// RSA public exponents above this size are refused.
const MAX_RSA_EXPONENT_BITS: i32 = 64;

/// The DER `DigestInfo` prefix of a SHA-256 hash (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Initialised PS256 contexts kept per worker thread. Key sets hold a
/// handful of keys, so a few slots cover rotation overlap with room to spare.
const CONTEXTS_PER_THREAD: usize = 8;

/// Identifies a key for the per-thread context slots; never reused.
static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static PSS_CONTEXTS: RefCell<Vec<(u64, PkeyCtx<Public>)>> = const { RefCell::new(Vec::new()) };
}

/// A public key bound to one JWS algorithm, built once when the key set is
/// fetched.
pub struct SignatureKey {
    alg: Algorithm,
    material: Material,
}

enum Material {
    /// RS256: the public operation alone.
    Pkcs1(Rsa<Public>),
    /// PS256: through a prepared context, `id` naming its per-thread slot.
    Pss {
        id: u64,
        key: PKey<Public>,
    },
    Ec(EcKey<Public>),
}

impl std::fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Public keys are not secret, but their numbers help nobody in a log.
        f.debug_struct("SignatureKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SignatureKey {
    /// Builds a key for `alg` from a JWK's members (RFC 7518 §6). Refuses
    /// RSA keys under 2048 or over 8192 bits or with an exponent that is
    /// even, under 3 or over 64 bits, and EC points not on P-256.
    pub fn from_jwk(jwk: &Map<String, Value>, alg: Algorithm) -> Result<Self, String> {
        let material = match alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                let n = BigNum::from_slice(&member(jwk, "n")?).map_err(|e| e.to_string())?;
                let e = BigNum::from_slice(&member(jwk, "e")?).map_err(|e| e.to_string())?;
                // RFC 8017 §3.1: e is at least 3 and coprime to λ(n), which is
                // even, so e is odd. e = 1 makes the public operation the
                // identity, so the padded hash itself "verifies" and anyone
                // can sign; an even e is no RSA key at all. The floor is the
                // RFC's 3 rather than FIPS 186-5's 65537: a small odd e is
                // only a risk to verifiers that parse PKCS#1 v1.5 padding
                // leniently (Bleichenbacher's e = 3 forgery), and ours
                // compares with the one valid encoding and leaves PSS to
                // OpenSSL's full check.
                if e.num_bits() < 2 || !e.is_bit_set(0) {
                    return Err("RSA exponent must be odd and at least 3 (RFC 8017 §3.1)".into());
                }
                // Honest keys use 65537; a huge exponent only makes every
                // verification slow, which matters for keys a client chooses.
                if e.num_bits() > MAX_RSA_EXPONENT_BITS {
                    return Err(format!(
                        "RSA exponent of {} bits, over the {MAX_RSA_EXPONENT_BITS} accepted",
                        e.num_bits()
                    ));
                }
                let rsa = Rsa::from_public_components(n, e).map_err(|e| e.to_string())?;
                let bits = u32::try_from(rsa.n().num_bits()).unwrap_or(0);
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "RSA key of {bits} bits, under the {MIN_RSA_BITS} RFC 7518 requires"
                    ));
                }
                if bits > MAX_RSA_BITS {
                    return Err(format!(
                        "RSA key of {bits} bits, over the {MAX_RSA_BITS} accepted"
                    ));
                }
                if alg == Algorithm::RS256 {
                    Material::Pkcs1(rsa)
                } else {
                    let key = PKey::from_rsa(rsa).map_err(|e| e.to_string())?;
                    let id = NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed);
                    Material::Pss { id, key }
                }
            }
            Algorithm::ES256 => {
                if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err("ES256 needs crv P-256".into());
                }
                let (x, y) = (member(jwk, "x")?, member(jwk, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes each".into());
                }
                let group =
                    EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(|e| e.to_string())?;
                let x = BigNum::from_slice(&x).map_err(|e| e.to_string())?;
                let y = BigNum::from_slice(&y).map_err(|e| e.to_string())?;
                // Checks the point is on the curve.
                let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y)
                    .map_err(|_| "the point is not on P-256".to_owned())?;
                Material::Ec(key)
            }
        };
        Ok(Self { alg, material })
    }

    /// The algorithm this key checks.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` is this key's signature of `message` under its
    /// algorithm. Any failure inside OpenSSL counts as "no".
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let digest = sha256(message);
        match &self.material {
            Material::Pkcs1(key) => verify_pkcs1(key, &digest, signature),
            Material::Pss { id, key } => {
                // A valid signature is exactly the modulus length (RFC 8017 §8.1.2).
                if signature.len() != key.size() {
                    return false;
                }
                with_pss_context(*id, key, |ctx| {
                    ctx.verify(&digest, signature).unwrap_or(false)
                })
                .unwrap_or(false)
            }
            Material::Ec(key) => verify_es256(key, &digest, signature),
        }
    }
}

/// Runs `check` with this thread's initialised context for the key,
/// creating it on first use.
fn with_pss_context(
    id: u64,
    key: &PKey<Public>,
    check: impl FnOnce(&mut PkeyCtx<Public>) -> bool,
) -> Option<bool> {
    PSS_CONTEXTS
        .try_with(|slots| {
            let mut slots = slots.try_borrow_mut().ok()?;
            let index = match slots.iter().position(|(slot, _)| *slot == id) {
                Some(index) => index,
                None => {
                    let ctx = pss_context(key).ok()?;
                    if slots.len() >= CONTEXTS_PER_THREAD {
                        // The oldest slot most likely belongs to a retired key.
                        slots.remove(0);
                    }
                    slots.push((id, ctx));
                    slots.len() - 1
                }
            };
            let (_, ctx) = slots.get_mut(index)?;
            Some(check(ctx))
        })
        .ok()
        .flatten()
}

/// A PS256 verify context with its padding and digests set, ready for any
/// number of `EVP_PKEY_verify` calls.
fn pss_context(key: &PKey<Public>) -> Result<PkeyCtx<Public>, openssl::error::ErrorStack> {
    let mut ctx = PkeyCtx::new(key)?;
    ctx.verify_init()?;
    let md = openssl::md::Md::sha256();
    ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
    ctx.set_rsa_mgf1_md(md)?;
    // RFC 7518 §3.5: the salt is as long as the hash.
    ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
    ctx.set_signature_md(md)?;
    Ok(ctx)
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2.2): the public operation
/// on the signature must give exactly `00 01 FF..FF 00 DigestInfo(digest)`.
/// Comparing with the one valid encoding, rather than parsing the result, is
/// the RFC's own advice. Everything compared is public, so the comparison
/// need not be constant-time.
fn verify_pkcs1(key: &Rsa<Public>, digest: &[u8; 32], signature: &[u8]) -> bool {
    let size = key.size() as usize;
    let mut buffer = [0u8; MAX_RSA_BITS as usize / 8];
    if signature.len() != size || size > buffer.len() {
        return false;
    }
    let decoded = &mut buffer[..size];
    // Fails only for a signature not below the modulus; the openssl crate
    // takes the error off the thread's queue.
    if !matches!(key.public_decrypt(signature, decoded, Padding::NONE), Ok(n) if n == size) {
        return false;
    }
    let tail = SHA256_DIGEST_INFO.len() + digest.len();
    let Some(padding_end) = size.checked_sub(tail + 1) else {
        return false;
    };
    let (head, rest) = decoded.split_at(padding_end);
    head.len() >= 10
        && head[..2] == [0x00, 0x01]
        && head[2..].iter().all(|&b| b == 0xff)
        && rest[0] == 0x00
        && rest[1..=SHA256_DIGEST_INFO.len()] == SHA256_DIGEST_INFO
        && rest[1 + SHA256_DIGEST_INFO.len()..] == digest[..]
}

/// ES256 signatures are R and S side by side, 32 bytes each (RFC 7518 §3.4).
fn verify_es256(key: &EcKey<Public>, digest: &[u8], signature: &[u8]) -> bool {
    if signature.len() != 64 {
        return false;
    }
    let (r, s) = signature.split_at(32);
    let Ok(sig) = BigNum::from_slice(r)
        .and_then(|r| Ok((r, BigNum::from_slice(s)?)))
        .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
    else {
        return false;
    };
    sig.verify(digest, key).unwrap_or(false)
}

/// SHA-256 through the low-level interface. OpenSSL 3's one-shot `SHA256()`
/// looks the digest up by name on every call, which costs more than hashing
/// a token.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(data);
    hasher.finish()
}

fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no \"{name}\" string"))?;
    decode_segment(text).map_err(|_| format!("\"{name}\" is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use josekit::jwk::{Jwk, KeyPair};
    use josekit::jws::{JwsSigner, ES256, PS256, RS256};
    use openssl::hash::MessageDigest;
    use openssl::sign::Signer;

    /// An algorithm, a signer for it, and the public JWK of the signer's key.
    type Case = (Algorithm, Box<dyn JwsSigner>, Map<String, Value>);

    fn members(jwk: &Jwk) -> Map<String, Value> {
        jwk.as_ref().clone()
    }

    #[test]
    fn each_algorithm_accepts_its_signature_and_nothing_else() {
        let rsa = RsaKeyPair::generate(2048).unwrap();
        let ec = EcKeyPair::generate(EcCurve::P256).unwrap();
        let message = b"header.payload";
        let cases: [Case; 3] = [
            (
                Algorithm::RS256,
                Box::new(RS256.signer_from_jwk(&rsa.to_jwk_private_key()).unwrap()),
                members(&rsa.to_jwk_public_key()),
            ),
            (
                Algorithm::PS256,
                Box::new(PS256.signer_from_jwk(&rsa.to_jwk_private_key()).unwrap()),
                members(&rsa.to_jwk_public_key()),
            ),
            (
                Algorithm::ES256,
                Box::new(ES256.signer_from_jwk(&ec.to_jwk_private_key()).unwrap()),
                members(&ec.to_jwk_public_key()),
            ),
        ];
        for (alg, signer, jwk) in cases {
            let key = SignatureKey::from_jwk(&jwk, alg).unwrap();
            let signature = signer.sign(message).unwrap();
            assert!(key.verify(message, &signature), "{alg}");
            assert!(
                !key.verify(b"header.payloaD", &signature),
                "{alg}: other message"
            );
            let mut flipped = signature.clone();
            flipped[5] ^= 0x80;
            assert!(!key.verify(message, &flipped), "{alg}: flipped bit");
            assert!(!key.verify(message, &signature[1..]), "{alg}: short");
            assert!(!key.verify(message, &[]), "{alg}: empty");
            // A failure leaves the thread's context usable.
            assert!(key.verify(message, &signature), "{alg}: after failures");
        }
        // RS256 and PS256 over the same key are not interchangeable.
        let rs = SignatureKey::from_jwk(&members(&rsa.to_jwk_public_key()), Algorithm::RS256);
        let pss = PS256.signer_from_jwk(&rsa.to_jwk_private_key()).unwrap();
        assert!(!rs.unwrap().verify(message, &pss.sign(message).unwrap()));
    }

    #[test]
    fn rs256_accepts_only_the_one_valid_encoding() {
        let pair = RsaKeyPair::generate(2048).unwrap();
        let key =
            SignatureKey::from_jwk(&members(&pair.to_jwk_public_key()), Algorithm::RS256).unwrap();
        let private = PKey::private_key_from_der(&pair.to_der_private_key()).unwrap();
        let message = b"header.payload";
        let sign = |md: MessageDigest| {
            let mut signer = Signer::new(md, &private).unwrap();
            signer.update(message).unwrap();
            signer.sign_to_vec().unwrap()
        };
        assert!(key.verify(message, &sign(MessageDigest::sha256())));
        // A valid PKCS#1 v1.5 signature of the same message under another
        // hash has the right padding but another DigestInfo.
        assert!(!key.verify(message, &sign(MessageDigest::sha384())));
        assert!(!key.verify(message, &sign(MessageDigest::sha1())));
        // A raw signature of just the hash, without its DigestInfo.
        let rsa = private.rsa().unwrap();
        let mut raw = vec![0u8; rsa.size() as usize];
        let n = rsa
            .private_encrypt(&sha256(message), &mut raw, Padding::PKCS1)
            .unwrap();
        assert!(!key.verify(message, &raw[..n]));
        // Not below the modulus, so no public operation is possible.
        assert!(!key.verify(message, &vec![0xff; rsa.size() as usize]));
        // Refusals leave nothing on the thread's OpenSSL error queue, where
        // it would be misread by the next OpenSSL call.
        assert!(openssl::error::ErrorStack::get().errors().is_empty());
    }

    #[test]
    fn weak_or_broken_keys_are_refused() {
        let small = RsaKeyPair::generate(1024).unwrap();
        let error = SignatureKey::from_jwk(&members(&small.to_jwk_public_key()), Algorithm::RS256)
            .unwrap_err();
        assert!(error.contains("1024 bits"), "{error}");
        let mut huge = members(&small.to_jwk_public_key());
        huge.insert(
            "n".into(),
            Value::from(URL_SAFE_NO_PAD.encode([0xffu8; 1025])),
        );
        let error = SignatureKey::from_jwk(&huge, Algorithm::RS256).unwrap_err();
        assert!(error.contains("8200 bits, over the 8192"), "{error}");

        let ec = members(
            &EcKeyPair::generate(EcCurve::P256)
                .unwrap()
                .to_jwk_public_key(),
        );
        let mut off_curve = ec.clone();
        off_curve.insert("y".into(), Value::from(URL_SAFE_NO_PAD.encode([7u8; 32])));
        assert!(SignatureKey::from_jwk(&off_curve, Algorithm::ES256).is_err());
        let mut other_curve = ec.clone();
        other_curve.insert("crv".into(), Value::from("P-384"));
        assert!(SignatureKey::from_jwk(&other_curve, Algorithm::ES256).is_err());
        let mut no_x = ec;
        no_x.remove("x");
        assert!(SignatureKey::from_jwk(&no_x, Algorithm::ES256).is_err());
    }

    #[test]
    fn rsa_exponents_must_be_odd_and_at_least_3() {
        let pair = RsaKeyPair::generate(2048).unwrap();
        let with_exponent = |e: &[u8]| {
            let mut jwk = members(&pair.to_jwk_public_key());
            jwk.insert("e".into(), Value::from(URL_SAFE_NO_PAD.encode(e)));
            jwk
        };
        let refused: [(&str, &[u8]); 6] = [
            ("0", &[0]),
            ("1", &[1]),
            ("1 with a leading zero byte", &[0, 1]),
            ("2", &[2]),
            ("4", &[4]),
            ("65536", &[1, 0, 0]),
        ];
        for alg in [Algorithm::RS256, Algorithm::PS256] {
            for (case, e) in refused {
                let error = SignatureKey::from_jwk(&with_exponent(e), alg)
                    .err()
                    .unwrap_or_else(|| panic!("{alg}: e = {case} was accepted"));
                assert!(error.contains("exponent"), "{alg}: e = {case}: {error}");
            }
            for (case, e) in [("3", &[3u8][..]), ("65537", &[1, 0, 1])] {
                assert!(
                    SignatureKey::from_jwk(&with_exponent(e), alg).is_ok(),
                    "{alg}: e = {case} is a valid RSA exponent"
                );
            }
        }
    }

    #[test]
    fn more_keys_than_context_slots_still_verify() {
        let message = b"rotation";
        let pair = RsaKeyPair::generate(2048).unwrap();
        let signature = PS256
            .signer_from_jwk(&pair.to_jwk_private_key())
            .unwrap()
            .sign(message)
            .unwrap();
        // Each SignatureKey has its own slot, even over the same key pair.
        let keys: Vec<SignatureKey> = (0..CONTEXTS_PER_THREAD + 3)
            .map(|_| {
                SignatureKey::from_jwk(&members(&pair.to_jwk_public_key()), Algorithm::PS256)
                    .unwrap()
            })
            .collect();
        for _ in 0..2 {
            for key in &keys {
                assert!(key.verify(message, &signature));
            }
        }
        let slots = PSS_CONTEXTS.with(|slots| slots.borrow().len());
        assert!(slots <= CONTEXTS_PER_THREAD, "{slots} slots");
    }
}
