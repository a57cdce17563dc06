//! A tenant's signing keys (RFC 7517 JWK Set), turned into verifiers once per
//! key and algorithm so that a request only pays for the signature check.

use std::time::Instant;

use serde_json::Value;

use super::policy::Algorithm;
use super::signature::SignatureKey;
use super::thumbprint::{jwk_thumbprint_digest, KeyThumbprint};

/// One verifier, ready to use: a key of the set bound to one allowed algorithm.
#[derive(Debug)]
pub struct VerifyingKey {
    /// The key's `kid`, if the JWK had one.
    pub kid: Option<String>,
    key: SignatureKey,
    thumbprint: KeyThumbprint,
}

impl VerifyingKey {
    /// The algorithm this verifier checks.
    pub fn alg(&self) -> Algorithm {
        self.key.alg()
    }

    /// The RFC 7638 thumbprint of the key material: what stays the same
    /// when the same key is fetched again, and changes when a `kid` is
    /// republished with another key.
    pub fn thumbprint(&self) -> &KeyThumbprint {
        &self.thumbprint
    }

    /// Checks `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify(message, signature)
    }
}

/// A parsed key set, immutable once built; the cache swaps whole sets.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    /// When the set was fetched.
    pub fetched_at: Instant,
}

impl KeySet {
    /// Parses a JWK Set document, keeping only keys usable for signature
    /// checks with an allowed algorithm. Returns the set and one line per
    /// skipped key saying why (for a warning in the log). A document with no
    /// usable key is an error, so the caller keeps its previous set.
    pub fn from_jwks(body: &[u8], allowed: &[Algorithm]) -> Result<(Self, Vec<String>), String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("the JWKS is not JSON ({e})"))?;
        let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
            return Err("the JWKS has no \"keys\" array".into());
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match verifiers_for(entry, allowed) {
                Ok(mut built) => keys.append(&mut built),
                Err(why) => skipped.push(format!("key #{index}: {why}")),
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "the JWKS has no usable signing key for {} ({} keys skipped: {})",
                names(allowed),
                skipped.len(),
                skipped.join("; ")
            ));
        }
        Ok((
            Self {
                keys,
                fetched_at: Instant::now(),
            },
            skipped,
        ))
    }

    /// The verifier for a token's `kid` and `alg`. A token without `kid` is
    /// matched only when exactly one key serves its algorithm, so there is
    /// never a guess between keys.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&VerifyingKey> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.alg() == alg && k.kid.as_deref() == Some(kid)),
            None => {
                let mut matching = self.keys.iter().filter(|k| k.alg() == alg);
                match (matching.next(), matching.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
        }
    }

    /// Whether the set has a key with this `kid` (for any algorithm).
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Whether the key a token naming `kid` and `alg` would be checked with
    /// now ([`Self::find`]) is the key material with this thumbprint. A
    /// `kid` republished with another key answers no.
    pub fn publishes(&self, kid: &str, alg: Algorithm, thumbprint: &KeyThumbprint) -> bool {
        self.find(Some(kid), alg)
            .is_some_and(|key| key.thumbprint == *thumbprint)
    }

    /// Number of verifiers in the set.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (never true for a set built by `from_jwks`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn names(algs: &[Algorithm]) -> String {
    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

fn verifiers_for(entry: &Value, allowed: &[Algorithm]) -> Result<Vec<VerifyingKey>, String> {
    let map = entry.as_object().ok_or("not a JSON object")?;
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("kid is not a string".into()),
    };
    let label = kid.as_deref().unwrap_or("(no kid)").to_owned();
    allows_verifying(map).map_err(|e| format!("{label}: {e}"))?;
    // RFC 7517 §4.4: when a key names its algorithm, it serves that one only.
    let candidates: Vec<Algorithm> = match map.get("alg") {
        None => allowed.to_vec(),
        Some(Value::String(name)) => match Algorithm::from_name(name) {
            Some(alg) if allowed.contains(&alg) => vec![alg],
            _ => return Err(format!("{label}: alg {name} is not allowed")),
        },
        Some(_) => return Err(format!("{label}: alg is not a string")),
    };
    let kty = map.get("kty").and_then(Value::as_str).unwrap_or_default();
    // The members a thumbprint covers are the ones a verifier is built from,
    // so a key without a thumbprint would not build either.
    let thumbprint = jwk_thumbprint_digest(map)
        .ok_or_else(|| format!("{label}: the key members are missing or not strings"))?;
    let mut built = Vec::new();
    let mut last_error = None;
    for alg in candidates.into_iter().filter(|a| a.key_type() == kty) {
        match SignatureKey::from_jwk(map, alg) {
            Ok(key) => built.push(VerifyingKey {
                kid: kid.clone(),
                key,
                thumbprint,
            }),
            Err(e) => last_error = Some(e),
        }
    }
    if built.is_empty() {
        return Err(match last_error {
            Some(e) => format!("{label}: {e}"),
            None => format!("{label}: kty {kty:?} serves none of {}", names(allowed)),
        });
    }
    Ok(built)
}

/// Whether a JWK's `use` and `key_ops` members, when present, allow
/// verifying signatures (RFC 7517 §4.2, §4.3); the error says which does not.
pub(crate) fn allows_verifying(jwk: &serde_json::Map<String, Value>) -> Result<(), String> {
    if let Some(key_use) = jwk.get("use") {
        if key_use != "sig" {
            return Err(format!("use is {key_use}, not \"sig\""));
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verifies {
            return Err(format!("key_ops {ops} does not include \"verify\""));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::KeyPair;

    fn jwks(kid: &str, pair: &EcKeyPair) -> Vec<u8> {
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        serde_json::json!({"keys": [Value::Object(jwk.as_ref().clone())]})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_kid_publishes_a_key_only_while_it_names_the_same_material() {
        let (first, second) = (
            EcKeyPair::generate(EcCurve::P256).unwrap(),
            EcKeyPair::generate(EcCurve::P256).unwrap(),
        );
        let es256 = [Algorithm::ES256];
        let (before, _) = KeySet::from_jwks(&jwks("k1", &first), &es256).unwrap();
        let thumbprint = *before
            .find(Some("k1"), Algorithm::ES256)
            .unwrap()
            .thumbprint();
        assert!(before.publishes("k1", Algorithm::ES256, &thumbprint));
        assert!(
            !before.publishes("k2", Algorithm::ES256, &thumbprint),
            "another kid"
        );
        assert!(
            !before.publishes("k1", Algorithm::RS256, &thumbprint),
            "another alg"
        );

        let (refetched, _) = KeySet::from_jwks(&jwks("k1", &first), &es256).unwrap();
        assert!(
            refetched.publishes("k1", Algorithm::ES256, &thumbprint),
            "the same key fetched again is the same key"
        );
        let (republished, _) = KeySet::from_jwks(&jwks("k1", &second), &es256).unwrap();
        assert!(
            !republished.publishes("k1", Algorithm::ES256, &thumbprint),
            "the same kid for other key material is another key"
        );
        assert!(
            republished.contains_kid("k1"),
            "while the kid alone matches"
        );
    }
}
