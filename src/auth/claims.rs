//! Typed access-token claims (RFC 7519 §4.1, RFC 9068 §2.2, Auth0 RBAC), with
//! every registered claim type-checked and custom claims kept untouched.

use serde_json::{Map, Value};

use super::error::TokenError;

/// The verified claims of an access token, as handlers see them.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `sub`: the user or client the token was issued for; absent for some
    /// machine tokens.
    pub sub: Option<String>,
    /// `iss`: the issuer, already checked against the configured one.
    pub iss: String,
    /// `aud`: always a list, whether the token held a string or an array.
    pub aud: Vec<String>,
    /// `exp` as seconds since the Unix epoch.
    pub exp: i64,
    /// `iat` as seconds since the Unix epoch.
    pub iat: i64,
    /// `nbf` as seconds since the Unix epoch, when present.
    pub nbf: Option<i64>,
    /// `scope`, split on spaces (also accepted as an array of strings).
    pub scope: Vec<String>,
    /// `permissions`: Auth0 RBAC's array of granted permissions.
    pub permissions: Vec<String>,
    /// `cnf.jkt`: the RFC 7638 thumbprint of the DPoP key the token is bound to.
    pub jkt: Option<String>,
    /// `client_id` (RFC 9068) or Auth0's `azp`.
    pub client_id: Option<String>,
    /// `jti`, when present.
    pub jti: Option<String>,
    raw: Map<String, Value>,
}

impl Claims {
    /// Reads and type-checks the claims of a JSON payload. Presence rules for
    /// `sub`, `client_id` and `jti` depend on the policy and are checked by
    /// the validator; `iss`, `aud`, `exp` and `iat` are always required.
    pub fn from_payload(payload: &[u8]) -> Result<Self, TokenError> {
        let raw: Map<String, Value> =
            serde_json::from_slice(payload).map_err(|_| TokenError::Malformed)?;
        Ok(Self {
            sub: optional_string(&raw, "sub")?,
            iss: optional_string(&raw, "iss")?.ok_or(TokenError::MissingClaim("iss"))?,
            aud: audiences(&raw)?,
            exp: numeric_date(&raw, "exp")?.ok_or(TokenError::MissingClaim("exp"))?,
            iat: numeric_date(&raw, "iat")?.ok_or(TokenError::MissingClaim("iat"))?,
            nbf: numeric_date(&raw, "nbf")?,
            scope: scope(&raw)?,
            permissions: string_array(&raw, "permissions")?,
            jkt: confirmation_thumbprint(&raw)?,
            client_id: match optional_string(&raw, "client_id")? {
                Some(id) => Some(id),
                None => optional_string(&raw, "azp")?,
            },
            jti: optional_string(&raw, "jti")?,
            raw,
        })
    }

    /// Whether `permission` was granted, in `scope` or in `permissions`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.scope.iter().any(|s| s == permission)
            || self.permissions.iter().any(|p| p == permission)
    }

    /// Any claim by name, exactly as the token carried it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw.get(name)
    }

    /// All claims, exactly as the token carried them.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// Namespaced custom claims (names that are URLs, as Auth0 requires for
    /// claims added by Actions), untouched.
    pub fn custom(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.raw
            .iter()
            .filter(|(name, _)| name.starts_with("https://") || name.starts_with("http://"))
    }
}

fn optional_string(
    raw: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match raw.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional.
fn numeric_date(raw: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, TokenError> {
    match raw.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // Beyond ±2^53 a float is not a meaningful date.
                Some(f) if f.is_finite() && f.abs() < 9.0e15 => Ok(Some(f.floor() as i64)),
                _ => Err(TokenError::InvalidClaim(name)),
            }
        }
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

fn audiences(raw: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
    match raw.get("aud") {
        None => Err(TokenError::MissingClaim("aud")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(TokenError::InvalidClaim("aud"))
            })
            .collect(),
        Some(_) => Err(TokenError::InvalidClaim("aud")),
    }
}

/// `scope` is a space-delimited string (RFC 8693 §4.2); some issuers send an array.
fn scope(raw: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
    match raw.get("scope") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(_)) => string_array(raw, "scope"),
        Some(_) => Err(TokenError::InvalidClaim("scope")),
    }
}

fn string_array(raw: &Map<String, Value>, name: &'static str) -> Result<Vec<String>, TokenError> {
    match raw.get(name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(TokenError::InvalidClaim(name))
            })
            .collect(),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// RFC 9449 §6.1: `cnf` is an object whose `jkt` is a string.
fn confirmation_thumbprint(raw: &Map<String, Value>) -> Result<Option<String>, TokenError> {
    match raw.get("cnf") {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            None => Ok(None),
            Some(Value::String(jkt)) => Ok(Some(jkt.clone())),
            Some(_) => Err(TokenError::InvalidClaim("cnf")),
        },
        Some(_) => Err(TokenError::InvalidClaim("cnf")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Result<Claims, TokenError> {
        Claims::from_payload(value.to_string().as_bytes())
    }

    fn base() -> Value {
        json!({"iss": "https://t/", "aud": "api", "exp": 2_000_000_000, "iat": 1_000_000_000})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    #[test]
    fn scope_string_array_and_permissions_all_count() {
        let c = claims(with("scope", json!("openid read:messages"))).unwrap();
        assert!(c.has_permission("read:messages"));
        let c = claims(with("scope", json!(["read:messages"]))).unwrap();
        assert!(c.has_permission("read:messages"));
        let c = claims(with("permissions", json!(["read:messages"]))).unwrap();
        assert!(c.has_permission("read:messages"));
        assert!(!c.has_permission("write:messages"));
    }

    #[test]
    fn claims_of_the_wrong_type_are_invalid() {
        let cases = [
            ("sub", json!(5), "sub"),
            ("iss", json!(["x"]), "iss"),
            ("aud", json!(7), "aud"),
            ("aud", json!([]), "aud"),
            ("aud", json!(["a", 1]), "aud"),
            ("exp", json!("soon"), "exp"),
            ("iat", json!(true), "iat"),
            ("nbf", json!({}), "nbf"),
            ("scope", json!(12), "scope"),
            ("scope", json!([1]), "scope"),
            ("permissions", json!("read:messages"), "permissions"),
            ("permissions", json!([null]), "permissions"),
            ("cnf", json!("x"), "cnf"),
            ("cnf", json!({"jkt": 1}), "cnf"),
            ("exp", json!(1e300), "exp"),
        ];
        for (key, value, name) in cases {
            assert_eq!(
                claims(with(key, value.clone())),
                Err(TokenError::InvalidClaim(name)),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn required_claims_must_be_present() {
        for name in ["iss", "aud", "exp", "iat"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(name);
            assert_eq!(claims(v), Err(TokenError::MissingClaim(name)), "{name}");
        }
    }

    #[test]
    fn fractional_dates_are_floored_and_custom_claims_kept() {
        let mut v = with("exp", json!(1_999_999_999.7));
        v["https://myapp.example.com/roles"] = json!(["admin"]);
        let c = claims(v).unwrap();
        assert_eq!(c.exp, 1_999_999_999);
        let custom: Vec<_> = c.custom().collect();
        assert_eq!(custom.len(), 1);
        assert_eq!(custom[0].1, &json!(["admin"]));
    }
}
