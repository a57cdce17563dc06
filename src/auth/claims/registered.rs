//! Reading the registered claims out of a payload, each type-checked with
//! an error naming it (RFC 7519 §4.1, RFC 9068 §2.2, RFC 9449 §6.1).

use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::auth::error::TokenError;

/// The registered claims, each kept as its raw JSON text so that its type is
/// checked below with an error naming it. Custom claims are skipped here.
/// A registered claim that appears twice makes the payload malformed rather
/// than letting one parser read the first and another the last (RFC 7519 §4).
#[derive(Deserialize)]
pub(super) struct Registered<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) sub: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) iss: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) aud: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) exp: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) iat: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) nbf: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) scope: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) permissions: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) cnf: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) client_id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) azp: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub(super) jti: Option<&'a RawValue>,
}

/// The `cnf` object (RFC 7800 §3.1): the `jkt` member of RFC 9449 §6.1,
/// the one confirmation method we can check, and whether any other member
/// was there.
struct Confirmation<'a> {
    jkt: Option<&'a RawValue>,
    /// Any other member: `x5t#S256` (RFC 8705 §3.1), `jwk`, `jwe`, `jku`,
    /// `kid` (RFC 7800 §3) or one not yet registered. Each binds the token
    /// to a key or certificate we cannot check, so the token is refused
    /// rather than served as if it were not sender-constrained.
    unsupported: bool,
}

impl<'de> Deserialize<'de> for Confirmation<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ConfirmationVisitor)
    }
}

struct ConfirmationVisitor;

impl<'de> Visitor<'de> for ConfirmationVisitor {
    type Value = Confirmation<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a cnf object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut confirmation = Confirmation {
            jkt: None,
            unsupported: false,
        };
        // An owned name, so that an escaped one (`"j\u006bt"`) is read as
        // what it spells rather than failing to borrow.
        while let Some(name) = map.next_key::<String>()? {
            if name == "jkt" {
                // Two `jkt` members would let one parser read the first and
                // another the last, as with the registered claims.
                if confirmation.jkt.is_some() {
                    return Err(de::Error::duplicate_field("jkt"));
                }
                confirmation.jkt = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
                confirmation.unsupported = true;
            }
        }
        Ok(confirmation)
    }
}

/// Any value, `null` included, is `Some`: a claim set to `null` has the wrong
/// type, where serde's own `Option` would take it for an absent claim.
fn present<'a, D: Deserializer<'a>>(deserializer: D) -> Result<Option<&'a RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// an array, by position, so anything but an object is refused first.
pub(super) fn object<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
    text.trim_start()
        .starts_with('{')
        .then(|| serde_json::from_str(text).ok())
        .flatten()
}

/// Each claim of `payload`, an object, read on its own, leaving out those
/// whose value cannot be a `Value`. A repeated name keeps its last value,
/// as the whole-map parse does.
pub(super) fn representable_claims(payload: &str) -> Map<String, Value> {
    let claims: BTreeMap<String, &RawValue> = serde_json::from_str(payload).unwrap_or_default();
    claims
        .into_iter()
        .filter_map(|(name, raw)| Some((name, serde_json::from_str(raw.get()).ok()?)))
        .collect()
}

/// The first character of a raw JSON value, which tells its type.
fn kind(raw: &RawValue) -> Option<char> {
    raw.get().trim_start().chars().next()
}

/// A claim read as `T` when present; any other JSON type is `InvalidClaim`.
pub(super) fn claim<T: DeserializeOwned>(
    raw: Option<&RawValue>,
    name: &'static str,
) -> Result<Option<T>, TokenError> {
    raw.map(|r| serde_json::from_str(r.get()).map_err(|_| TokenError::InvalidClaim(name)))
        .transpose()
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional.
pub(super) fn numeric_date(
    raw: Option<&RawValue>,
    name: &'static str,
) -> Result<Option<i64>, TokenError> {
    let Some(n) = claim::<Number>(raw, name)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // Beyond ±2^53 a float is not a meaningful date.
        Some(f) if f.is_finite() && f.abs() < 9.0e15 => Ok(Some(f.floor() as i64)),
        _ => Err(TokenError::InvalidClaim(name)),
    }
}

pub(super) fn audiences(raw: Option<&RawValue>) -> Result<Vec<String>, TokenError> {
    let raw = raw.ok_or(TokenError::MissingClaim("aud"))?;
    let audiences = match kind(raw) {
        Some('"') => claim::<String>(Some(raw), "aud")?.into_iter().collect(),
        _ => claim::<Vec<String>>(Some(raw), "aud")?.unwrap_or_default(),
    };
    if audiences.is_empty() {
        return Err(TokenError::InvalidClaim("aud"));
    }
    Ok(audiences)
}

/// `scope` is a space-delimited string (RFC 8693 §4.2); some issuers send an array.
pub(super) fn scope(raw: Option<&RawValue>) -> Result<Vec<String>, TokenError> {
    match raw {
        None => Ok(Vec::new()),
        Some(r) if kind(r) == Some('"') => Ok(claim::<String>(Some(r), "scope")?
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(r) => Ok(claim(Some(r), "scope")?.unwrap_or_default()),
    }
}

/// RFC 9449 §6.1: `cnf` is an object whose `jkt` is a string. A `cnf` with
/// any other member is refused: the token is bound by a method we cannot
/// check, and serving it as if it were unbound would let whoever holds a
/// copy use it (SPEC "DPoP"). An empty `cnf` binds nothing.
pub(super) fn confirmation_thumbprint(
    raw: Option<&RawValue>,
) -> Result<Option<String>, TokenError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let cnf: Confirmation<'_> = object(raw.get()).ok_or(TokenError::InvalidClaim("cnf"))?;
    if cnf.unsupported {
        return Err(TokenError::UnsupportedConfirmation);
    }
    claim(cnf.jkt, "cnf")
}
