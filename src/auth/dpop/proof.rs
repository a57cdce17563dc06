//! The checks on one DPoP proof (RFC 9449 §4.3), in the RFC's order, with
//! `alg` against the allow-list before any key or signature work.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::super::policy::{DpopPolicy, ProofAlgorithm};
use super::htu;
use super::proof_key::ProofKey;
use super::verifiers::VerifierCache;
use super::ProofError;

/// Largest proof accepted. An honest proof with an RSA-4096 key is under
/// 2 KiB; this bounds the work a junk header can cause.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2,
/// §6.3.2, §6.4; RFC 8037 §2). A proof carries its public key only (RFC 9449
/// §4.3 check 7).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a proof is checked against: the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The `DPoP` header's value.
    pub proof: &'a str,
    /// The request's method, compared with `htm`.
    pub method: &'a str,
    /// The request's URL in normal form (see [`htu::normalize`]), compared
    /// with `htu`; `None` when it could not be determined, so nothing matches.
    pub url: Option<&'a str>,
    /// The access token from `Authorization`, whose hash `ath` must be.
    pub access_token: &'a str,
    /// The current time, seconds since the Unix epoch.
    pub now: i64,
}

/// A proof that passed every check of its own. Whether its key is the
/// token's, its nonce and its freshness against replays are checked after.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The RFC 7638 thumbprint of the proof's key, for `cnf.jkt`.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`, seconds since the Unix epoch.
    pub iat: i64,
    /// The proof's `nonce`, when it has one.
    pub nonce: Option<String>,
}

impl std::fmt::Debug for CheckedProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Identifiers only; nothing here would let anyone forge a proof, but
        // the log has no use for the nonce either.
        f.debug_struct("CheckedProof")
            .field("jkt", &self.jkt)
            .field("iat", &self.iat)
            .finish_non_exhaustive()
    }
}

/// Runs RFC 9449 §4.3 checks 2 to 12 on `request.proof` under `policy`
/// (check 1, exactly one `DPoP` header, is the header parser's), with the
/// proof's key from `verifiers` when the same header was checked before.
pub fn check_proof(
    request: &ProofRequest<'_>,
    policy: &DpopPolicy,
    verifiers: &VerifierCache,
) -> Result<CheckedProof, ProofError> {
    let proof = request.proof;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::Malformed);
    }
    // Check 2: a well-formed JWS compact serialisation.
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let payload_bytes = decode(payload_b64)?;
    let signature = decode(signature_b64)?;
    // Checks 2 (the header), 4, 5 and 7, done once per distinct header.
    let key = verifiers.get_or_build(header_b64, || key_from_header(header_b64, policy))?;
    // A remembered header passed check 5 under whichever policy built it;
    // the allow-list that counts is this one.
    if !policy.algorithms.contains(&key.alg()) {
        return Err(ProofError::UnsupportedAlgorithm);
    }

    // Check 6: the signature, over exactly the bytes that were sent.
    let signing_input = proof
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(ProofError::Malformed)?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(ProofError::BadSignature);
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload_bytes).map_err(|_| ProofError::Malformed)?;

    // Check 3: the required claims, each of the right type. `ath` is
    // required because a resource server always receives a token (§7).
    let jti = required_string(&claims, "jti")?;
    if jti.is_empty() {
        return Err(ProofError::InvalidClaim("jti"));
    }
    let htm = required_string(&claims, "htm")?;
    let htu_claim = required_string(&claims, "htu")?;
    let iat = numeric_date(&claims, "iat")?;
    let ath = required_string(&claims, "ath")?;
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(nonce)) => Some(nonce.clone()),
        Some(_) => return Err(ProofError::InvalidClaim("nonce")),
    };

    // Check 8: methods are case-sensitive (RFC 9110 §9.1).
    if htm != request.method {
        return Err(ProofError::WrongMethod);
    }
    // Check 9: both sides in normal form, without query and fragment.
    match (htu::normalize(htu_claim), request.url) {
        (Some(claimed), Some(actual)) if claimed == actual => {}
        _ => return Err(ProofError::WrongUrl),
    }
    // Check 11: within the acceptance window.
    let leeway = seconds(policy.iat_leeway);
    let offset = seconds(policy.iat_offset);
    if iat > request.now.saturating_add(leeway) {
        return Err(ProofError::IssuedInFuture);
    }
    if iat < request.now.saturating_sub(offset) {
        return Err(ProofError::TooOld);
    }
    // Check 12, first half: `ath` is base64url(SHA-256(token)) (§4.2).
    let expected_ath = URL_SAFE_NO_PAD.encode(super::super::signature::sha256(
        request.access_token.as_bytes(),
    ));
    if ath != expected_ath {
        return Err(ProofError::WrongTokenHash);
    }
    // The other half, the key binding, needs the token: the caller compares.
    Ok(CheckedProof {
        jkt: key.thumbprint().to_owned(),
        jti: jti.to_owned(),
        iat,
        nonce,
    })
}

/// The key of a proof header, after the header's own checks in the RFC's
/// order, with `alg` against the allow-list before any key work.
fn key_from_header(header_b64: &str, policy: &DpopPolicy) -> Result<ProofKey, ProofError> {
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| ProofError::Malformed)?;
    // Check 5.
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(ProofAlgorithm::from_name)
        .filter(|a| policy.algorithms.contains(a))
        .ok_or(ProofError::UnsupportedAlgorithm)?;
    // Check 4. RFC 7515 §4.1.9: "application/" may be omitted, compared case-insensitively.
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    if !typ.eq_ignore_ascii_case("dpop+jwt") {
        return Err(ProofError::WrongType);
    }
    if header.contains_key("crit") {
        return Err(ProofError::CriticalHeader);
    }
    // Check 7: a public key of the algorithm's type, and nothing private.
    let jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        _ => return Err(ProofError::InvalidKey),
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(ProofError::PrivateKey);
    }
    ProofKey::from_jwk(alg, jwk)
}

fn decode(segment: &str) -> Result<Vec<u8>, ProofError> {
    if segment.is_empty() {
        return Err(ProofError::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ProofError::Malformed)
}

fn required_string<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, ProofError> {
    match claims.get(name) {
        None => Err(ProofError::MissingClaim(name)),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(ProofError::InvalidClaim(name)),
    }
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<i64, ProofError> {
    match claims.get(name) {
        None => Err(ProofError::MissingClaim(name)),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(i),
            // Beyond ±2^53 a float is not a meaningful date.
            (None, Some(f)) if f.is_finite() && f.abs() < 9.0e15 => Ok(f.floor() as i64),
            _ => Err(ProofError::InvalidClaim(name)),
        },
        Some(_) => Err(ProofError::InvalidClaim(name)),
    }
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::KeyPair;
    use josekit::jws::{JwsSigner, ES256};
    use serde_json::json;

    use crate::auth::signature::sha256;
    use crate::auth::thumbprint::jwk_thumbprint;

    const URL: &str = "https://api.example/api/private";

    fn proof(pair: &EcKeyPair, now: i64) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256",
                            "jwk": Value::Object(pair.to_jwk_public_key().as_ref().clone())});
        let ath = URL_SAFE_NO_PAD.encode(sha256(b"token"));
        let claims =
            json!({"jti": format!("jti-{now}"), "htm": "GET", "htu": URL, "iat": now, "ath": ath});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signer = ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        let signature = signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn a_remembered_header_still_answers_to_the_callers_allow_list() {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let cache = VerifierCache::new(8);
        let check = |proof: &str, algorithms: Vec<ProofAlgorithm>| {
            let policy = DpopPolicy {
                algorithms,
                ..DpopPolicy::default()
            };
            let request = ProofRequest {
                proof,
                method: "GET",
                url: Some(URL),
                access_token: "token",
                now: 1_800_000_000,
            };
            check_proof(&request, &policy, &cache)
        };
        let first = proof(&pair, 1_800_000_000);
        let checked = check(&first, vec![ProofAlgorithm::ES256]).unwrap();
        assert_eq!(
            Some(checked.jkt.as_str()),
            jwk_thumbprint(pair.to_jwk_public_key().as_ref()).as_deref()
        );
        assert_eq!(cache.len(), 1, "the header is remembered");
        let second = proof(&pair, 1_800_000_001);
        assert_eq!(
            check(&second, vec![ProofAlgorithm::RS256]).err(),
            Some(ProofError::UnsupportedAlgorithm),
            "a policy without ES256 refuses the remembered header"
        );
        let (input, _) = second.rsplit_once('.').unwrap();
        assert_eq!(
            check(
                &format!("{input}.{}", "A".repeat(86)),
                vec![ProofAlgorithm::ES256]
            )
            .err(),
            Some(ProofError::BadSignature),
            "a remembered header does not spare the signature check"
        );
        assert!(check(&second, vec![ProofAlgorithm::ES256]).is_ok());
    }
}
