//! A DPoP proof's public key (RFC 9449 §4.3 check 7), checked once and kept
//! ready to verify. ES256, RS256 and PS256 go through the same prepared
//! verifiers as access tokens ([`SignatureKey`]), which skip OpenSSL 3's
//! per-call lookup of the digest and signature implementations; EdDSA,
//! which hashes inside the signature scheme, uses OpenSSL's one-shot verify.

use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;
use serde_json::{Map, Value};

use super::super::keys::allows_verifying;
use super::super::policy::{Algorithm, ProofAlgorithm};
use super::super::signature::SignatureKey;
use super::super::thumbprint::jwk_thumbprint;
use super::super::token::decode_segment;
use super::ProofError;

/// A proof key bound to the one algorithm its proof named, with its RFC
/// 7638 thumbprint, which the access token's `cnf.jkt` must equal.
pub struct ProofKey {
    alg: ProofAlgorithm,
    verifier: KeyVerifier,
    thumbprint: String,
}

enum KeyVerifier {
    Jws(SignatureKey),
    Edwards(PKey<Public>),
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKey")
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl ProofKey {
    /// The key a proof's `jwk` header describes, for `alg`. Refused with
    /// [`ProofError::InvalidKey`]: a key of another type or curve, a `use`,
    /// `key_ops` or `alg` member that rules out verifying with `alg`, missing
    /// or malformed members, an EC point off the curve, and RSA keys under
    /// 2048 or over 8192 bits or with an exponent that is even, under 3 or
    /// over 64 bits. Private
    /// members are the caller's to refuse first, with their own error.
    pub fn from_jwk(alg: ProofAlgorithm, jwk: &Map<String, Value>) -> Result<Self, ProofError> {
        if jwk.get("kty").and_then(Value::as_str) != Some(alg.key_type()) {
            return Err(ProofError::InvalidKey);
        }
        allows_verifying(jwk).map_err(|_| ProofError::InvalidKey)?;
        // RFC 7517 §4.4: a key that names its algorithm serves that one only.
        match jwk.get("alg") {
            None => {}
            Some(Value::String(name)) if name == alg.name() => {}
            Some(_) => return Err(ProofError::InvalidKey),
        }
        let verifier = match alg {
            ProofAlgorithm::ES256 => jws_key(jwk, Algorithm::ES256)?,
            ProofAlgorithm::RS256 => jws_key(jwk, Algorithm::RS256)?,
            ProofAlgorithm::PS256 => jws_key(jwk, Algorithm::PS256)?,
            ProofAlgorithm::EdDSA => edwards_key(jwk)?,
        };
        let thumbprint = jwk_thumbprint(jwk).ok_or(ProofError::InvalidKey)?;
        Ok(Self {
            alg,
            verifier,
            thumbprint,
        })
    }

    /// The algorithm the key verifies with.
    pub fn alg(&self) -> ProofAlgorithm {
        self.alg
    }

    /// The key's RFC 7638 SHA-256 thumbprint, base64url.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Whether `signature` is this key's signature of `message`. Any
    /// failure inside OpenSSL counts as "no".
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            KeyVerifier::Jws(key) => key.verify(message, signature),
            KeyVerifier::Edwards(key) => Verifier::new_without_digest(key)
                .and_then(|mut verifier| verifier.verify_oneshot(signature, message))
                .unwrap_or(false),
        }
    }
}

fn jws_key(jwk: &Map<String, Value>, alg: Algorithm) -> Result<KeyVerifier, ProofError> {
    SignatureKey::from_jwk(jwk, alg)
        .map(KeyVerifier::Jws)
        .map_err(|_| ProofError::InvalidKey)
}

/// RFC 8037 §2: an `OKP` key names its curve in `crv` and carries the raw
/// public key in `x`.
fn edwards_key(jwk: &Map<String, Value>) -> Result<KeyVerifier, ProofError> {
    let (id, length) = match jwk.get("crv").and_then(Value::as_str) {
        Some("Ed25519") => (Id::ED25519, 32),
        Some("Ed448") => (Id::ED448, 57),
        _ => return Err(ProofError::InvalidKey),
    };
    let x = jwk
        .get("x")
        .and_then(Value::as_str)
        .and_then(|x| decode_segment(x).ok())
        .filter(|x| x.len() == length)
        .ok_or(ProofError::InvalidKey)?;
    PKey::public_key_from_raw_bytes(&x, id)
        .map(KeyVerifier::Edwards)
        .map_err(|_| ProofError::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use josekit::jwk::KeyPair;
    use josekit::jws::{EdDSA, JwsSigner, ES256, PS256, RS256};

    /// An algorithm, a public key for it, and a signer with its private half.
    type Case = (ProofAlgorithm, Map<String, Value>, Box<dyn JwsSigner>);

    fn public(pair: &impl KeyPair) -> Map<String, Value> {
        pair.to_jwk_public_key().as_ref().clone()
    }

    #[test]
    fn each_algorithm_verifies_its_own_signatures_only() {
        let ec = EcKeyPair::generate(EcCurve::P256).unwrap();
        let rsa = RsaKeyPair::generate(2048).unwrap();
        let ed25519 = EdKeyPair::generate(EdCurve::Ed25519).unwrap();
        let ed448 = EdKeyPair::generate(EdCurve::Ed448).unwrap();
        let cases: Vec<Case> = vec![
            (
                ProofAlgorithm::ES256,
                public(&ec),
                Box::new(ES256.signer_from_jwk(&ec.to_jwk_private_key()).unwrap()),
            ),
            (
                ProofAlgorithm::RS256,
                public(&rsa),
                Box::new(RS256.signer_from_jwk(&rsa.to_jwk_private_key()).unwrap()),
            ),
            (
                ProofAlgorithm::PS256,
                public(&rsa),
                Box::new(PS256.signer_from_jwk(&rsa.to_jwk_private_key()).unwrap()),
            ),
            (
                ProofAlgorithm::EdDSA,
                public(&ed25519),
                Box::new(
                    EdDSA
                        .signer_from_jwk(&ed25519.to_jwk_private_key())
                        .unwrap(),
                ),
            ),
            (
                ProofAlgorithm::EdDSA,
                public(&ed448),
                Box::new(EdDSA.signer_from_jwk(&ed448.to_jwk_private_key()).unwrap()),
            ),
        ];
        for (alg, jwk, signer) in cases {
            let key = ProofKey::from_jwk(alg, &jwk).unwrap();
            let signature = signer.sign(b"header.payload").unwrap();
            assert!(key.verify(b"header.payload", &signature), "{alg}");
            assert!(
                !key.verify(b"header.payloaD", &signature),
                "{alg}: other message"
            );
            let mut flipped = signature.clone();
            flipped[5] ^= 1;
            assert!(!key.verify(b"header.payload", &flipped), "{alg}: altered");
            assert!(!key.verify(b"header.payload", &[]), "{alg}: empty");
            assert_eq!(
                Some(key.thumbprint()),
                jwk_thumbprint(&jwk).as_deref(),
                "{alg}"
            );
            assert_eq!(key.alg(), alg);
        }
    }

    #[test]
    fn an_rsa_key_with_exponent_1_is_refused_since_anyone_can_sign_for_it() {
        // With e = 1 the public operation is the identity, so the one valid
        // RSASSA-PKCS1-v1_5 encoding of a message (RFC 8017 §9.2) is itself a
        // "signature" that verifies: no private key needed. Anyone who saw a
        // proof, or the token's cnf.jkt and the key, could make new proofs.
        let pair = RsaKeyPair::generate(2048).unwrap();
        let mut jwk = public(&pair);
        jwk.insert("e".into(), Value::from("AQ"));
        let message = b"header.payload";
        let digest_info: [u8; 19] = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        let mut forged = vec![0x00, 0x01];
        forged.resize(256 - 1 - digest_info.len() - 32, 0xff);
        forged.push(0x00);
        forged.extend_from_slice(&digest_info);
        forged.extend_from_slice(&crate::auth::signature::sha256(message));
        assert_eq!(forged.len(), 256);
        for alg in [ProofAlgorithm::RS256, ProofAlgorithm::PS256] {
            match ProofKey::from_jwk(alg, &jwk) {
                Err(error) => assert_eq!(error, ProofError::InvalidKey, "{alg}"),
                Ok(key) => panic!(
                    "{alg}: a key with e = 1 was accepted (the forgery verifies: {})",
                    key.verify(message, &forged)
                ),
            }
        }
    }

    #[test]
    fn keys_unfit_for_the_algorithm_are_invalid() {
        let ec = public(&EcKeyPair::generate(EcCurve::P256).unwrap());
        let p384 = public(&EcKeyPair::generate(EcCurve::P384).unwrap());
        let rsa = public(&RsaKeyPair::generate(2048).unwrap());
        let small_rsa = public(&RsaKeyPair::generate(1024).unwrap());
        let ed = public(&EdKeyPair::generate(EdCurve::Ed25519).unwrap());
        let with = |jwk: &Map<String, Value>, name: &str, value: Value| {
            let mut jwk = jwk.clone();
            jwk.insert(name.into(), value);
            jwk
        };
        let huge_exponent = with(
            &rsa,
            "e",
            Value::String(base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                [1u8, 0, 0, 0, 0, 0, 0, 0, 1],
            )),
        );
        let cases = [
            ("RSA key for ES256", ProofAlgorithm::ES256, rsa.clone()),
            ("EC key for RS256", ProofAlgorithm::RS256, ec.clone()),
            ("P-384 key for ES256", ProofAlgorithm::ES256, p384),
            ("1024-bit RSA", ProofAlgorithm::RS256, small_rsa),
            ("72-bit exponent", ProofAlgorithm::RS256, huge_exponent),
            (
                "use enc",
                ProofAlgorithm::ES256,
                with(&ec, "use", "enc".into()),
            ),
            (
                "key_ops without verify",
                ProofAlgorithm::ES256,
                with(&ec, "key_ops", serde_json::json!(["sign"])),
            ),
            (
                "alg naming another",
                ProofAlgorithm::ES256,
                with(&ec, "alg", "ES384".into()),
            ),
            (
                "numeric alg",
                ProofAlgorithm::ES256,
                with(&ec, "alg", 7.into()),
            ),
            (
                "Ed25519 named X25519",
                ProofAlgorithm::EdDSA,
                with(&ed, "crv", "X25519".into()),
            ),
            (
                "Ed25519 x too short",
                ProofAlgorithm::EdDSA,
                with(&ed, "x", "AAAA".into()),
            ),
            (
                "Ed25519 x not base64url",
                ProofAlgorithm::EdDSA,
                with(&ed, "x", "*".into()),
            ),
        ];
        for (case, alg, jwk) in cases {
            assert_eq!(
                ProofKey::from_jwk(alg, &jwk).err(),
                Some(ProofError::InvalidKey),
                "{case}"
            );
        }
        for (case, alg, jwk) in [
            (
                "use sig",
                ProofAlgorithm::ES256,
                with(&ec, "use", "sig".into()),
            ),
            (
                "key_ops verify",
                ProofAlgorithm::ES256,
                with(&ec, "key_ops", serde_json::json!(["verify"])),
            ),
            (
                "alg ES256",
                ProofAlgorithm::ES256,
                with(&ec, "alg", "ES256".into()),
            ),
        ] {
            assert!(ProofKey::from_jwk(alg, &jwk).is_ok(), "{case}");
        }
    }
}
