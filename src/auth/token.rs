//! Splitting a JWS compact serialisation (RFC 7515 §7.1) into its parts,
//! strictly: three base64url segments without padding, a JSON-object header.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::error::TokenError;

/// The protected header fields the validator looks at. Unknown fields are
/// ignored; `jwk`, `jku`, `x5u` and `x5c` are never read, so a token cannot
/// bring its own key (RFC 8725 §3.10).
#[derive(Debug, Deserialize)]
pub struct Header {
    /// The signature algorithm the token claims; only selects from the allow-list.
    pub alg: String,
    /// The key id, matched against the tenant's key set.
    #[serde(default)]
    pub kid: Option<String>,
    /// The media type, `JWT` or `at+jwt` (RFC 9068 §2.1).
    #[serde(default)]
    pub typ: Option<String>,
    /// Critical extensions; any is refused since we implement none. A
    /// `"crit": null` is `Some(Value::Null)`, not `None`: RFC 7515 §4.1.11
    /// allows only an array of names, so a null `crit` is present and wrong,
    /// never a way to pass as a header without one.
    #[serde(default, deserialize_with = "present")]
    pub crit: Option<serde_json::Value>,
}

/// Any value, `null` included, is `Some`, where serde's own `Option` would
/// read `null` as an absent member.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// A token split into its parts, signature not yet checked.
#[derive(Debug)]
pub struct CompactJws<'a> {
    /// `BASE64URL(header) . BASE64URL(payload)`: the bytes that were signed.
    pub signing_input: &'a str,
    /// The decoded protected header.
    pub header: Header,
    /// The decoded payload bytes (JSON, not yet parsed).
    pub payload: Vec<u8>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Splits and decodes `token`. Any deviation from the compact form is
    /// [`TokenError::Malformed`].
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
            return Err(TokenError::Malformed);
        }
        let header_bytes = decode_segment(header_b64)?;
        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|_| TokenError::Malformed)?;
        let payload = decode_segment(payload_b64)?;
        let signature = decode_segment(signature_b64)?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        Ok(Self {
            signing_input,
            header,
            payload,
            signature,
        })
    }
}

/// Strict base64url without padding and with canonical trailing bits
/// (RFC 7515 §2), so one token has exactly one spelling.
pub fn decode_segment(segment: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn well_formed_token_splits() {
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k1"}"#),
            b64("{}"),
            b64("sig")
        );
        let jws = CompactJws::parse(&token).unwrap();
        assert_eq!(jws.header.alg, "RS256");
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.signature, b"sig");
        assert_eq!(jws.signing_input, &token[..token.rfind('.').unwrap()]);
    }

    #[test]
    fn a_null_crit_is_present_not_absent() {
        let p = b64("{}");
        let parse = |header: &str| {
            let token = format!("{}.{p}.c2ln", b64(header));
            CompactJws::parse(&token).map(|jws| jws.header.crit)
        };
        assert_eq!(parse(r#"{"alg":"RS256"}"#), Ok(None), "no crit");
        assert_eq!(
            parse(r#"{"alg":"RS256","crit":null}"#),
            Ok(Some(serde_json::Value::Null)),
            "crit: null"
        );
    }

    #[test]
    fn deviations_from_the_compact_form_are_malformed() {
        let h = b64(r#"{"alg":"RS256"}"#);
        let p = b64("{}");
        let cases = [
            String::new(),
            "garbage".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.c2ln.x.y"),
            format!("{h}.{p}."),
            format!("{h}=.{p}.c2ln"),
            format!("{h}.{p}.c2ln="),
            format!("{}.{p}.c2ln", b64("[1]")),
            format!("{}.{p}.c2ln", b64(r#"{"alg":5}"#)),
            format!("{}.{p}.c2ln", b64(r#"{"alg":"RS256","alg":"none"}"#)),
            format!("{h}.{p}.c2l+"),
        ];
        for case in cases {
            assert_eq!(
                CompactJws::parse(&case).unwrap_err(),
                TokenError::Malformed,
                "case {case:?}"
            );
        }
    }
}
