//! Project Wycheproof's vectors, run through our own verifiers: the token
//! path ([`SignatureKey`], built from a JWK as the tenant's keys are) and
//! the DPoP proof path ([`ProofKey`], built from a proof's `jwk` header).
//! Every valid vector must verify and every invalid one must be refused.
//!
//! Wycheproof also marks some vectors "acceptable": a library may accept or
//! refuse them. Each one is named below by its flag with what we do, and
//! the test holds us to it, so a change of behaviour is a visible decision.

use auth0_actix_api::auth::dpop::ProofKey;
use auth0_actix_api::auth::signature::SignatureKey;
use auth0_actix_api::auth::{Algorithm, ProofAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use wycheproof::TestResult;

/// What we do with each kind of "acceptable" vector, by suite and flag:
/// `true` accepts it, `false` refuses it.
///
/// - RSA PKCS#1 v1.5, `MissingNull`: a `DigestInfo` whose SHA-256
///   `AlgorithmIdentifier` omits the NULL parameters. RFC 8017 §9.2 note 1
///   names the form with NULL as the encoding, and our RS256 check compares
///   the decoded signature with that one encoding (no parsing, so no
///   parser leniency to exploit), so we refuse it. Signers that omit the
///   NULL are rare and non-standard for SHA-256.
const ACCEPTABLE: &[(&str, &str, bool)] = &[("RSA PKCS#1 v1.5 2048 SHA-256", "MissingNull", false)];

/// One vector, whatever its suite.
struct Vector {
    id: usize,
    comment: String,
    flags: Vec<String>,
    result: TestResult,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

/// A verifier under test, named by the path it stands for.
type Verifier = (&'static str, Box<dyn Fn(&[u8], &[u8]) -> bool>);

/// How many vectors of each kind a suite ran.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
}

/// Runs every vector of `groups` through every verifier that `verifiers`
/// builds from the group's public JWK, and returns the tally. A key we
/// refuse to build refuses all its vectors, which is our behaviour for a
/// token or proof under such a key; it must never happen to a valid one.
fn run(
    suite: &str,
    groups: Vec<(Map<String, Value>, Vec<Vector>)>,
    verifiers: impl Fn(&Map<String, Value>) -> Vec<Result<Verifier, String>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (jwk, vectors) in groups {
        let built = verifiers(&jwk);
        for vector in vectors {
            match vector.result {
                TestResult::Valid => tally.valid += 1,
                TestResult::Invalid => tally.invalid += 1,
                TestResult::Acceptable => tally.acceptable += 1,
            }
            for verifier in &built {
                let (path, accepted) = match verifier {
                    Ok((path, verify)) => (*path, verify(&vector.msg, &vector.sig)),
                    Err(why) => (why.as_str(), false),
                };
                let expected = match vector.result {
                    TestResult::Valid => true,
                    TestResult::Invalid => false,
                    TestResult::Acceptable => {
                        match ACCEPTABLE.iter().find(|(s, flag, _)| {
                            *s == suite && vector.flags.iter().any(|f| f == flag)
                        }) {
                            Some((_, _, documented)) => *documented,
                            None => {
                                failures.push(format!(
                                    "tcId {} ({}, flags {:?}) is acceptable and undocumented: \
                                     add its flag to ACCEPTABLE with what we do ({path} {})",
                                    vector.id,
                                    vector.comment,
                                    vector.flags,
                                    if accepted { "accepts it" } else { "refuses it" }
                                ));
                                continue;
                            }
                        }
                    }
                };
                if accepted != expected {
                    failures.push(format!(
                        "tcId {} ({}, {:?}, flags {:?}): {path} {}",
                        vector.id,
                        vector.comment,
                        vector.result,
                        vector.flags,
                        if accepted {
                            "accepted it"
                        } else {
                            "refused it"
                        }
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{suite}: {} vector outcomes differ from the expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    tally
}

/// Big-endian bytes without leading zeros (RFC 7518 §2, "Base64urlUInt").
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// `bytes` as a `len`-byte big-endian coordinate (RFC 7518 §6.2.1.2).
fn coordinate(bytes: &[u8], len: usize) -> Vec<u8> {
    let bytes = unsigned(bytes);
    assert!(bytes.len() <= len, "a coordinate wider than the field");
    let mut out = vec![0; len - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

/// The token path and the proof path for one JWS algorithm.
fn both_paths(
    jwk: &Map<String, Value>,
    alg: Algorithm,
    proof_alg: ProofAlgorithm,
) -> Vec<Result<Verifier, String>> {
    let token = SignatureKey::from_jwk(jwk, alg).map(|key| -> Verifier {
        (
            "SignatureKey (token path)",
            Box::new(move |m, s| key.verify(m, s)),
        )
    });
    let proof = ProofKey::from_jwk(proof_alg, jwk)
        .map(|key| -> Verifier {
            (
                "ProofKey (DPoP proof path)",
                Box::new(move |m, s| key.verify(m, s)),
            )
        })
        .map_err(|e| format!("ProofKey refused the key: {e}"));
    vec![
        token.map_err(|e| format!("SignatureKey refused the key: {e}")),
        proof,
    ]
}

macro_rules! vectors {
    ($group:expr) => {
        $group
            .tests
            .iter()
            .map(|t| Vector {
                id: t.tc_id,
                comment: t.comment.clone(),
                flags: t.flags.iter().map(|f| format!("{f:?}")).collect(),
                result: t.result,
                msg: t.msg.to_vec(),
                sig: t.sig.to_vec(),
            })
            .collect::<Vec<_>>()
    };
}

#[test]
fn rsa_pkcs1_v1_5_2048_sha256_vectors() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa2048Sha256).expect("the vectors load");
    let groups = set
        .test_groups
        .iter()
        .map(|g| {
            let jwk =
                json!({"kty": "RSA", "n": b64(unsigned(&g.key.n)), "e": b64(unsigned(&g.key.e))});
            (object(jwk), vectors!(g))
        })
        .collect();
    let tally = run("RSA PKCS#1 v1.5 2048 SHA-256", groups, |jwk| {
        both_paths(jwk, Algorithm::RS256, ProofAlgorithm::RS256)
    });
    // Pinned to the data of wycheproof 0.7.0, so a suite that silently lost
    // its vectors cannot pass.
    assert_eq!(
        tally,
        Tally {
            valid: 9,
            invalid: 249,
            acceptable: 1
        }
    );
}

#[test]
fn rsa_pss_2048_sha256_mgf1_salt_32_vectors() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::RsaPss2048Sha256Mgf1SaltLen32).expect("the vectors load");
    let groups = set
        .test_groups
        .iter()
        .map(|g| {
            // RFC 7518 §3.5: PS256 is SHA-256, MGF1 with SHA-256, 32-byte salt.
            assert_eq!(g.salt_size, 32, "every group is PS256's parameters");
            let jwk =
                json!({"kty": "RSA", "n": b64(unsigned(&g.key.n)), "e": b64(unsigned(&g.key.e))});
            (object(jwk), vectors!(g))
        })
        .collect();
    let tally = run("RSA-PSS 2048 SHA-256 MGF1 salt 32", groups, |jwk| {
        both_paths(jwk, Algorithm::PS256, ProofAlgorithm::PS256)
    });
    assert_eq!(
        tally,
        Tally {
            valid: 63,
            invalid: 45,
            acceptable: 0
        }
    );
}

#[test]
fn ecdsa_p256_sha256_p1363_vectors() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).expect("the vectors load");
    let groups = set
        .test_groups
        .iter()
        .map(|g| {
            // RFC 7518 §6.2.1: x and y are exactly 32 bytes on P-256.
            let jwk = json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(&coordinate(&g.key.affine_x, 32)),
                "y": b64(&coordinate(&g.key.affine_y, 32)),
            });
            (object(jwk), vectors!(g))
        })
        .collect();
    let tally = run("ECDSA P-256 SHA-256 P1363", groups, |jwk| {
        both_paths(jwk, Algorithm::ES256, ProofAlgorithm::ES256)
    });
    assert_eq!(
        tally,
        Tally {
            valid: 173,
            invalid: 89,
            acceptable: 0
        }
    );
}

#[test]
fn ed25519_vectors() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).expect("the vectors load");
    let groups = set
        .test_groups
        .iter()
        .map(|g| {
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&g.key.pk)});
            (object(jwk), vectors!(g))
        })
        .collect();
    // EdDSA is for proofs only: tokens are RS256, PS256 or ES256.
    let tally = run("Ed25519", groups, |jwk| {
        vec![ProofKey::from_jwk(ProofAlgorithm::EdDSA, jwk)
            .map(|key| -> Verifier {
                (
                    "ProofKey (DPoP proof path)",
                    Box::new(move |m, s| key.verify(m, s)),
                )
            })
            .map_err(|e| format!("ProofKey refused the key: {e}"))]
    });
    assert_eq!(
        tally,
        Tally {
            valid: 88,
            invalid: 63,
            acceptable: 0
        }
    );
}
