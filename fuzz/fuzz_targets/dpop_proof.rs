//! The DPoP proof check, RFC 9449 §4.3 (src/auth/dpop/proof.rs
//! `check_proof`, with proof_key.rs, verifiers.rs and thumbprint.rs behind
//! it).
//!
//! Input: a proof, checked against a fixed request (`DPOP_METHOD` to
//! `DPOP_URL` with `DPOP_ACCESS_TOKEN`, at `NOW`) under a policy allowing
//! every proof algorithm, so every key type's parser is reachable.
#![no_main]

use auth0_actix_api::auth::dpop::htu::normalize;
use auth0_actix_api::auth::dpop::{check_proof, ProofRequest, VerifierCache};
use auth0_actix_api::auth::policy::{DpopPolicy, ProofAlgorithm};
use auth0_actix_api_fuzz::{DPOP_ACCESS_TOKEN, DPOP_METHOD, DPOP_URL, NOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = std::str::from_utf8(data) else {
        return;
    };
    let url = normalize(DPOP_URL);
    let request = ProofRequest {
        proof,
        method: DPOP_METHOD,
        url: url.as_deref(),
        access_token: DPOP_ACCESS_TOKEN,
        now: NOW,
    };
    let policy = DpopPolicy {
        algorithms: ProofAlgorithm::ALL.to_vec(),
        ..DpopPolicy::default()
    };
    // A cache of its own per input, so that an input behaves the same
    // whatever ran before it; checked twice, so the second check takes the
    // remembered key and must come to the same answer.
    let verifiers = VerifierCache::new(4);
    let first = check_proof(&request, &policy, &verifiers);
    let second = check_proof(&request, &policy, &verifiers);
    assert_eq!(first, second, "a remembered proof key changed the answer");
    if let Ok(checked) = first {
        assert!(!checked.jti.is_empty(), "a proof without jti passed");
        let window = NOW - 300..=NOW + 30;
        assert!(window.contains(&checked.iat), "iat {} passed", checked.iat);
        // RFC 7638 thumbprint: base64url of a SHA-256 digest.
        assert_eq!(checked.jkt.len(), 43, "thumbprint {:?}", checked.jkt);
    }
});
