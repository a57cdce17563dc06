//! Typed access-token claims (RFC 7519 §4.1, RFC 9068 §2.2, Auth0 RBAC), with
//! every registered claim type-checked and custom claims kept untouched.
//!
//! [`Claims`] is what handlers see; `registered` reads and type-checks the
//! registered claims out of the payload, and `readings` keeps the claims
//! read as callers' own types with the verified token.

mod readings;
mod registered;

use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use self::readings::Readings;
use self::registered::{
    audiences, claim, confirmation_thumbprint, numeric_date, object, representable_claims, scope,
    Registered,
};
use super::error::{ClaimMismatch, TokenError};

/// The verified claims of an access token, as handlers see them.
#[derive(Debug, Clone)]
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
    /// The payload as it came, for the claims read by name.
    payload: Box<str>,
    /// The payload as a map, built the first time a claim is read by name:
    /// most requests never do, and a verified token keeps it once built.
    raw: OnceLock<Map<String, Value>>,
    /// The claims read as callers' own types, each built the first time it
    /// is asked for and kept with the verified token, like `raw`.
    typed: Readings,
}

/// The token's claims did not fit the caller's type in [`Claims::typed`] or
/// [`Claims::deserialize`]. Deliberately without serde's message: it quotes
/// the offending value, which is token content and must not reach a log or
/// a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token's claims do not fit {type_name}")]
pub struct ClaimsShapeError {
    /// The Rust type the claims were read as.
    pub type_name: &'static str,
}

impl Claims {
    /// Reads and type-checks the claims of a JSON payload. Presence rules for
    /// `sub`, `client_id` and `jti` depend on the policy and are checked by
    /// the validator; `iss`, `aud`, `exp` and `iat` are always required.
    pub fn from_payload(payload: &[u8]) -> Result<Self, TokenError> {
        let payload = std::str::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let c: Registered<'_> = object(payload).ok_or(TokenError::Malformed)?;
        Ok(Self {
            sub: claim(c.sub, "sub")?,
            iss: claim(c.iss, "iss")?.ok_or(TokenError::MissingClaim("iss"))?,
            aud: audiences(c.aud)?,
            exp: numeric_date(c.exp, "exp")?.ok_or(TokenError::MissingClaim("exp"))?,
            iat: numeric_date(c.iat, "iat")?.ok_or(TokenError::MissingClaim("iat"))?,
            nbf: numeric_date(c.nbf, "nbf")?,
            scope: scope(c.scope)?,
            permissions: claim(c.permissions, "permissions")?.unwrap_or_default(),
            jkt: confirmation_thumbprint(c.cnf)?,
            client_id: match claim(c.client_id, "client_id")? {
                Some(id) => Some(id),
                None => claim(c.azp, "azp")?,
            },
            jti: claim(c.jti, "jti")?,
            payload: payload.into(),
            raw: OnceLock::new(),
            typed: Readings::default(),
        })
    }

    /// Whether `permission` was granted, in `scope` or in `permissions`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.scope.iter().any(|s| s == permission)
            || self.permissions.iter().any(|p| p == permission)
    }

    /// Any claim by name, exactly as the token carried it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw().get(name)
    }

    /// All claims, exactly as the token carried them; a claim whose value
    /// no `Value` can hold (a number beyond `f64`, such as `1e400`) is left
    /// out, and only that claim.
    pub fn raw(&self) -> &Map<String, Value> {
        // The payload parsed as an object once already, but custom claims
        // were skipped unread, so one number out of range can still fail
        // this parse (the token fuzz target found one); it must not take
        // every other claim with it.
        self.raw.get_or_init(|| {
            serde_json::from_str(&self.payload)
                .unwrap_or_else(|_| representable_claims(&self.payload))
        })
    }

    /// The claims read as the caller's own type `T`, typically a struct of
    /// the custom claims the app uses. Read once per verified token and
    /// kept with it: a remembered token (the verified-token cache) hands
    /// every later request the same `Arc<T>`, without parsing anything or
    /// allocating. Fields `T` does not name are ignored, as serde does.
    ///
    /// ```
    /// use auth0_actix_api::auth::Claims;
    /// use serde::Deserialize;
    /// use std::sync::Arc;
    ///
    /// #[derive(Deserialize)]
    /// struct Custom {
    ///     #[serde(rename = "https://example.com/roles", default)]
    ///     roles: Vec<String>,
    ///     #[serde(rename = "https://example.com/tenant")]
    ///     tenant: Option<String>,
    /// }
    ///
    /// let claims = Claims::from_payload(br#"{"iss":"i","aud":"a","exp":2,"iat":1,
    ///     "https://example.com/roles":["admin"]}"#).unwrap();
    /// let custom = claims.typed::<Custom>().unwrap();
    /// assert_eq!(custom.roles, ["admin"]);
    /// assert_eq!(custom.tenant, None);
    /// // The second read is the first one's value.
    /// assert!(Arc::ptr_eq(&custom, &claims.typed::<Custom>().unwrap()));
    /// ```
    ///
    /// Claims that do not fit `T` (a missing field `T` requires, a claim of
    /// another JSON type) are an error, tried again on each call.
    pub fn typed<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
    ) -> Result<Arc<T>, ClaimsShapeError> {
        if let Some(kept) = self.typed.get::<T>() {
            return Ok(kept);
        }
        let value = Arc::new(self.deserialize::<T>()?);
        self.typed.keep(&value);
        Ok(value)
    }

    /// The claims read as `T` afresh, which may borrow from the payload the
    /// claims keep (`&str` fields without escapes): for a one-off read, or a
    /// type that is not `Send + Sync + 'static`. The token is not decoded
    /// again; only the kept JSON text is read. [`Self::typed`] keeps the
    /// result instead.
    ///
    /// ```
    /// use auth0_actix_api::auth::Claims;
    /// use serde::Deserialize;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Org<'a> {
    ///     #[serde(rename = "https://example.com/org", borrow)]
    ///     org: &'a str,
    /// }
    ///
    /// let claims = Claims::from_payload(br#"{"iss":"i","aud":"a","exp":2,"iat":1,
    ///     "https://example.com/org":"acme"}"#).unwrap();
    /// assert_eq!(claims.deserialize::<Org>().unwrap().org, "acme");
    /// // A claim of another type is an error that does not quote it.
    /// let wrong = Claims::from_payload(br#"{"iss":"i","aud":"a","exp":2,"iat":1,
    ///     "https://example.com/org":42}"#).unwrap();
    /// assert!(!wrong.deserialize::<Org>().unwrap_err().to_string().contains("42"));
    /// ```
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ClaimsShapeError> {
        serde_json::from_str(&self.payload).map_err(|_| ClaimsShapeError {
            type_name: std::any::type_name::<T>(),
        })
    }

    /// The role names in `claim` (an array of strings, or one string as one
    /// role), for a handler that wants to show or branch on them; a guard
    /// should use [`RequireRoles`](super::guards::RequireRoles). Auth0 puts
    /// roles in a namespaced claim an Action adds, such as
    /// `https://example.com/roles`.
    pub fn roles(&self, claim: &str) -> Result<Vec<&str>, ClaimMismatch> {
        match self.get(claim).ok_or(ClaimMismatch::Missing)? {
            Value::String(role) => Ok(vec![role.as_str()]),
            Value::Array(roles) => roles
                .iter()
                .map(|r| r.as_str().ok_or(ClaimMismatch::WrongType))
                .collect(),
            _ => Err(ClaimMismatch::WrongType),
        }
    }

    /// Namespaced custom claims (names that are URLs, as Auth0 requires for
    /// claims added by Actions), untouched.
    pub fn custom(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.raw()
            .iter()
            .filter(|(name, _)| name.starts_with("https://") || name.starts_with("http://"))
    }
}

/// Equal when the typed claims and the payload are; whether the map of
/// claims, or any typed reading, has been built yet does not count.
impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.sub == other.sub
            && self.iss == other.iss
            && self.aud == other.aud
            && self.exp == other.exp
            && self.iat == other.iat
            && self.nbf == other.nbf
            && self.scope == other.scope
            && self.permissions == other.permissions
            && self.jkt == other.jkt
            && self.client_id == other.client_id
            && self.jti == other.jti
            && self.payload == other.payload
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
            ("cnf", json!(["x"]), "cnf"),
            ("cnf", json!({"jkt": 1}), "cnf"),
            ("cnf", json!({"jkt": null}), "cnf"),
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
    fn a_cnf_with_a_method_other_than_jkt_is_unsupported() {
        for cnf in [
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            json!({"jwk": {"kty": "EC"}}),
            json!({"jku": "https://client.example/jwks"}),
            json!({"kid": "k"}),
            json!({"jkt": "thumb", "x5t#S256": "x"}),
            json!({"x5t#S256": "x", "jkt": "thumb"}),
            json!({"later-method": null}),
        ] {
            assert_eq!(
                claims(with("cnf", cnf.clone())),
                Err(TokenError::UnsupportedConfirmation),
                "cnf {cnf}"
            );
        }
        let c = claims(with("cnf", json!({"jkt": "thumb"}))).unwrap();
        assert_eq!(c.jkt.as_deref(), Some("thumb"), "jkt alone");
        let c = claims(with("cnf", json!({}))).unwrap();
        assert_eq!(c.jkt, None, "an empty cnf binds nothing");
    }

    #[test]
    fn a_cnf_with_jkt_twice_or_spelled_with_escapes_is_read_once() {
        let mut text = base().to_string();
        text.pop();
        let repeated = format!(r#"{text},"cnf":{{"jkt":"a","jkt":"b"}}}}"#);
        assert_eq!(
            Claims::from_payload(repeated.as_bytes()),
            Err(TokenError::InvalidClaim("cnf")),
            "jkt twice"
        );
        let escaped = format!(r#"{text},"cnf":{{"j\u006bt":"a"}}}}"#);
        let c = Claims::from_payload(escaped.as_bytes()).unwrap();
        assert_eq!(c.jkt.as_deref(), Some("a"), "an escaped jkt is jkt");
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
    fn only_a_json_object_without_repeated_registered_claims_is_a_payload() {
        let cases: [&[u8]; 6] = [
            br#"["https://t/", "api", 2000000000, 1000000000]"#,
            br#""iss""#,
            b"null",
            br#"{"iss": "https://t/", "aud": "api", "exp": 2000000000, "iat": 1000000000,"#,
            br#"{"iss": "https://t/", "aud": "api", "exp": 2000000000, "iat": 1000000000, "aud": "other"}"#,
            b"{\"iss\": \"https://t/\xff\", \"aud\": \"api\", \"exp\": 2000000000, \"iat\": 1000000000}",
        ];
        for payload in cases {
            assert_eq!(
                Claims::from_payload(payload),
                Err(TokenError::Malformed),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        // A repeated custom claim is not ours to judge: the last one counts.
        let mut text = base().to_string();
        text.pop();
        text.push_str(r#","https://app/x": 1, "https://app/x": 2}"#);
        let c = Claims::from_payload(text.as_bytes()).unwrap();
        assert_eq!(c.get("https://app/x"), Some(&json!(2)));
    }

    #[test]
    fn a_null_claim_has_the_wrong_type_rather_than_being_absent() {
        for name in [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "scope",
            "permissions",
            "cnf",
            "jti",
        ] {
            assert_eq!(
                claims(with(name, Value::Null)),
                Err(TokenError::InvalidClaim(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn claims_read_by_name_are_the_payload_as_sent() {
        let mut v = with("cnf", json!({"jkt": "thumb"}));
        v["https://app/tenant"] = json!({"id": 7, "name": "acme", "other": [1, {"a": null}]});
        v["azp"] = json!("client");
        let c = claims(v.clone()).unwrap();
        let copy = c.clone();
        assert_eq!(c.jkt.as_deref(), Some("thumb"));
        assert_eq!(c.client_id.as_deref(), Some("client"));
        assert_eq!(Value::Object(c.raw().clone()), v);
        assert_eq!(c.get("https://app/tenant"), Some(&v["https://app/tenant"]));
        // Whether the map was built yet does not make two claims differ.
        assert_eq!(c, copy);
    }

    #[test]
    fn typed_claims_are_read_once_per_type_and_shape_errors_quote_nothing() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Org {
            #[serde(rename = "https://app/org")]
            org: String,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct Subject {
            sub: String,
        }
        let mut v = with("sub", json!("u1"));
        v["https://app/org"] = json!("acme");
        let c = claims(v).unwrap();
        let org = c.typed::<Org>().unwrap();
        let subject = c.typed::<Subject>().unwrap();
        assert_eq!(org.org, "acme");
        assert_eq!(subject.sub, "u1");
        assert!(
            Arc::ptr_eq(&org, &c.typed::<Org>().unwrap()),
            "kept per type"
        );
        assert!(Arc::ptr_eq(&subject, &c.typed::<Subject>().unwrap()));
        // A copy keeps what was read, and still equals the original.
        let copy = c.clone();
        assert!(Arc::ptr_eq(&org, &copy.typed::<Org>().unwrap()));
        assert_eq!(copy, c);

        let wrong = claims(with("https://app/org", json!("not-a-list"))).unwrap();
        #[derive(Debug, Deserialize)]
        struct Listed {
            #[serde(rename = "https://app/org")]
            #[allow(dead_code)]
            org: Vec<String>,
        }
        let error = wrong.typed::<Listed>().unwrap_err();
        assert!(error.type_name.ends_with("Listed"), "{error}");
        assert!(!error.to_string().contains("not-a-list"), "{error}");
        assert!(wrong.typed::<Listed>().is_err(), "a failure is not kept");
    }

    #[test]
    fn roles_are_a_string_list_or_one_string() {
        let c = claims(with("https://app/roles", json!(["a", "b c"]))).unwrap();
        assert_eq!(c.roles("https://app/roles"), Ok(vec!["a", "b c"]));
        let c = claims(with("https://app/roles", json!("b c"))).unwrap();
        assert_eq!(c.roles("https://app/roles"), Ok(vec!["b c"]));
        let c = claims(with("https://app/roles", json!(["a", 1]))).unwrap();
        assert_eq!(c.roles("https://app/roles"), Err(ClaimMismatch::WrongType));
        assert_eq!(c.roles("https://app/other"), Err(ClaimMismatch::Missing));
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
