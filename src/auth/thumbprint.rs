//! JWK thumbprints (RFC 7638): SHA-256 over the key's required members in
//! lexicographic order, base64url without padding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// An RFC 7638 SHA-256 thumbprint as raw bytes, before base64url.
pub type KeyThumbprint = [u8; 32];

/// The RFC 7638 SHA-256 thumbprint of a public JWK (`RSA`, `EC` or `OKP`),
/// or `None` when a required member is missing or not a string.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    jwk_thumbprint_digest(jwk).map(|digest| URL_SAFE_NO_PAD.encode(digest))
}

/// [`jwk_thumbprint`] as raw bytes, which compare without allocating.
pub fn jwk_thumbprint_digest(jwk: &Map<String, Value>) -> Option<KeyThumbprint> {
    let kty = jwk.get("kty")?.as_str()?;
    let members: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    // serde_json escapes strings exactly as RFC 7638 §3.3 asks, and the
    // members are already in lexicographic order.
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&serde_json::to_string(name).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(super::signature::sha256(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn missing_members_give_none() {
        let jwk: Map<String, Value> =
            serde_json::from_str(r#"{"kty":"EC","crv":"P-256","x":"abc"}"#).unwrap();
        assert_eq!(jwk_thumbprint(&jwk), None);
    }
}
