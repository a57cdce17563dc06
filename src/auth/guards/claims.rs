//! Requirements on single claims: equal to a value, including values, or
//! passing a named predicate, as Auth0's Node SDK offers them
//! (`claimEquals`, `claimIncludes`, `claimCheck`), but answered with 403.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ClaimGuard, GuardError};
use crate::auth::claims::Claims;
use crate::auth::error::{ClaimCheck, ClaimMismatch};

type Predicate = dyn Fn(&Claims) -> Result<bool, ClaimMismatch> + Send + Sync;

/// Middleware that lets a request through only when one claim of its
/// verified token is as the route needs: equal to a value, including
/// values, or passing a named predicate over all the claims. Wrap it inside
/// the authentication middleware, like [`RequireScopes`](super::RequireScopes).
///
/// A claim that is absent or of another JSON type than expected is a
/// refusal like a wrong value: 403, never a 500. The refusal names the kind
/// of check and the claim (for a predicate, only the kind: its name goes to
/// the logs), never the claim's value.
///
/// Values are JSON primitives (strings, numbers, booleans, null) as in
/// Auth0's Node SDK; numbers compare by value, so `1` equals `1.0`.
///
/// ```
/// use auth0_actix_api::auth::guards::RequireClaim;
/// use auth0_actix_api::auth::Claims;
/// use serde_json::json;
///
/// let claims = Claims::from_payload(br#"{"iss":"i","aud":"a","exp":2,"iat":1,
///     "https://example.com/org":"acme","https://example.com/groups":["eng","ops"]}"#).unwrap();
///
/// let org = RequireClaim::equals("https://example.com/org", "acme");
/// assert!(org.is_satisfied_by(&claims));
/// let groups = RequireClaim::includes("https://example.com/groups", ["eng", "ops"]);
/// assert!(groups.is_satisfied_by(&claims));
/// let any = RequireClaim::includes_any("https://example.com/groups", ["sales", "ops"]);
/// assert!(any.is_satisfied_by(&claims));
/// let recent = RequireClaim::check("issued_recently", |c: &Claims| c.iat >= 1);
/// assert!(recent.is_satisfied_by(&claims));
///
/// // Misconfiguration is found when the guard is built.
/// assert!(RequireClaim::try_equals("https://example.com/org", json!(["acme"])).is_err());
/// assert!(RequireClaim::try_includes("https://example.com/groups", Vec::<&str>::new()).is_err());
/// ```
#[derive(Clone)]
pub struct RequireClaim {
    /// The claim's name, or the predicate's name.
    name: Arc<str>,
    rule: Arc<Rule>,
}

enum Rule {
    Equals(Value),
    Includes { values: Vec<Value>, all: bool },
    Check(Box<Predicate>),
}

impl fmt::Debug for RequireClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Expected values are configuration, not token contents.
        let mut out = f.debug_struct("RequireClaim");
        out.field("name", &self.name);
        match &*self.rule {
            Rule::Equals(value) => out.field("equals", value),
            Rule::Includes { values, all: true } => out.field("includes", values),
            Rule::Includes { values, all: false } => out.field("includes_any", values),
            Rule::Check(_) => out.field("check", &"<predicate>"),
        };
        out.finish()
    }
}

impl RequireClaim {
    /// Requires `claim` to equal `value` (Node SDK: `claimEquals`).
    ///
    /// # Panics
    ///
    /// When the claim name is empty or `value` is an array or an object
    /// (see [`GuardError`]): a mistake in the route table, found at
    /// start-up. [`Self::try_equals`] returns the error instead.
    pub fn equals(claim: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::try_equals(claim, value).unwrap_or_else(|e| panic!("RequireClaim::equals: {e}"))
    }

    /// Requires `claim` to hold every one of `values` (Node SDK:
    /// `claimIncludes`). The claim may be an array, or a space-delimited
    /// string like `scope`.
    ///
    /// # Panics
    ///
    /// As [`Self::equals`], and when `values` is empty;
    /// [`Self::try_includes`] returns the error instead.
    pub fn includes<I: IntoIterator<Item = V>, V: Into<Value>>(
        claim: impl Into<String>,
        values: I,
    ) -> Self {
        Self::try_includes(claim, values).unwrap_or_else(|e| panic!("RequireClaim::includes: {e}"))
    }

    /// Requires `claim` to hold at least one of `values`; otherwise as
    /// [`Self::includes`].
    ///
    /// # Panics
    ///
    /// As [`Self::includes`]; [`Self::try_includes_any`] returns the error
    /// instead.
    pub fn includes_any<I: IntoIterator<Item = V>, V: Into<Value>>(
        claim: impl Into<String>,
        values: I,
    ) -> Self {
        Self::try_includes_any(claim, values)
            .unwrap_or_else(|e| panic!("RequireClaim::includes_any: {e}"))
    }

    /// Requires `predicate` to hold for the verified claims (Node SDK:
    /// `claimCheck`). `name` is what the logs say refused a request; the
    /// client only learns that a claim check failed.
    ///
    /// # Panics
    ///
    /// When `name` is empty; [`Self::try_check`] returns the error instead.
    pub fn check<F>(name: impl Into<String>, predicate: F) -> Self
    where
        F: Fn(&Claims) -> bool + Send + Sync + 'static,
    {
        Self::try_check(name, predicate).unwrap_or_else(|e| panic!("RequireClaim::check: {e}"))
    }

    /// Requires `predicate` to hold for the custom claims read as the
    /// caller's own type `T` (see [`Claims::typed`]). Claims that do not
    /// fit `T` are a refusal like a false predicate; `T` is read once per
    /// verified token, not per request.
    ///
    /// # Panics
    ///
    /// When `name` is empty; [`Self::try_check_as`] returns the error
    /// instead.
    pub fn check_as<T, F>(name: impl Into<String>, predicate: F) -> Self
    where
        T: DeserializeOwned + Send + Sync + 'static,
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        Self::try_check_as(name, predicate)
            .unwrap_or_else(|e| panic!("RequireClaim::check_as: {e}"))
    }

    /// [`Self::equals`], returning misconfiguration as an error.
    pub fn try_equals(
        claim: impl Into<String>,
        value: impl Into<Value>,
    ) -> Result<Self, GuardError> {
        let claim = non_empty(claim.into(), GuardError::EmptyClaimName)?;
        let value = primitive(&claim, value.into())?;
        Ok(Self::build(claim, Rule::Equals(value)))
    }

    /// [`Self::includes`], returning misconfiguration as an error.
    pub fn try_includes<I: IntoIterator<Item = V>, V: Into<Value>>(
        claim: impl Into<String>,
        values: I,
    ) -> Result<Self, GuardError> {
        Self::included(claim.into(), values, true)
    }

    /// [`Self::includes_any`], returning misconfiguration as an error.
    pub fn try_includes_any<I: IntoIterator<Item = V>, V: Into<Value>>(
        claim: impl Into<String>,
        values: I,
    ) -> Result<Self, GuardError> {
        Self::included(claim.into(), values, false)
    }

    /// [`Self::check`], returning misconfiguration as an error.
    pub fn try_check<F>(name: impl Into<String>, predicate: F) -> Result<Self, GuardError>
    where
        F: Fn(&Claims) -> bool + Send + Sync + 'static,
    {
        let name = non_empty(name.into(), GuardError::EmptyCheckName)?;
        let predicate = move |claims: &Claims| Ok(predicate(claims));
        Ok(Self::build(name, Rule::Check(Box::new(predicate))))
    }

    /// [`Self::check_as`], returning misconfiguration as an error.
    pub fn try_check_as<T, F>(name: impl Into<String>, predicate: F) -> Result<Self, GuardError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let name = non_empty(name.into(), GuardError::EmptyCheckName)?;
        let predicate = move |claims: &Claims| match claims.typed::<T>() {
            Ok(typed) => Ok(predicate(&typed)),
            Err(_) => Err(ClaimMismatch::WrongType),
        };
        Ok(Self::build(name, Rule::Check(Box::new(predicate))))
    }

    fn included<I: IntoIterator<Item = V>, V: Into<Value>>(
        claim: String,
        values: I,
        all: bool,
    ) -> Result<Self, GuardError> {
        let claim = non_empty(claim, GuardError::EmptyClaimName)?;
        let values = values
            .into_iter()
            .map(|v| primitive(&claim, v.into()))
            .collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() {
            return Err(GuardError::Empty);
        }
        Ok(Self::build(claim, Rule::Includes { values, all }))
    }

    fn build(name: String, rule: Rule) -> Self {
        Self {
            name: name.into(),
            rule: Arc::new(rule),
        }
    }

    /// The claim this guard reads, or the predicate's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `claims` satisfy this guard.
    pub fn is_satisfied_by(&self, claims: &Claims) -> bool {
        self.verdict(claims).is_ok()
    }
}

impl ClaimGuard for RequireClaim {
    fn checked_claim(&self) -> &Arc<str> {
        &self.name
    }

    /// `Ok` when the claims satisfy the guard, else why not. Reads the
    /// claims by name, which builds their map once per verified token; the
    /// check itself allocates nothing.
    fn verdict(&self, claims: &Claims) -> Result<(), ClaimMismatch> {
        let pass = match &*self.rule {
            Rule::Check(predicate) => predicate(claims)?,
            Rule::Equals(expected) => {
                let actual = claims.get(&self.name).ok_or(ClaimMismatch::Missing)?;
                if !same_type(actual, expected) {
                    return Err(ClaimMismatch::WrongType);
                }
                same_value(actual, expected)
            }
            Rule::Includes { values, all } => {
                let actual = claims.get(&self.name).ok_or(ClaimMismatch::Missing)?;
                let held = |expected: &Value| match actual {
                    // Like `scope` (RFC 6749 §3.3), and like the Node SDK.
                    Value::String(text) => expected
                        .as_str()
                        .is_some_and(|e| text.split(' ').any(|part| part == e)),
                    Value::Array(items) => items.iter().any(|item| same_value(item, expected)),
                    _ => false,
                };
                if !matches!(actual, Value::String(_) | Value::Array(_)) {
                    return Err(ClaimMismatch::WrongType);
                }
                if *all {
                    values.iter().all(held)
                } else {
                    values.iter().any(held)
                }
            }
        };
        if pass {
            Ok(())
        } else {
            Err(ClaimMismatch::Value)
        }
    }

    fn kind(&self) -> ClaimCheck {
        match &*self.rule {
            Rule::Equals(_) => ClaimCheck::Equals,
            Rule::Includes { .. } => ClaimCheck::Includes,
            Rule::Check(_) => ClaimCheck::Predicate,
        }
    }
}

/// `name` unless it is empty; `missing` says which name a guard lacks.
fn non_empty(name: String, missing: GuardError) -> Result<String, GuardError> {
    if name.is_empty() {
        Err(missing)
    } else {
        Ok(name)
    }
}

/// `value` when it is a JSON primitive, the construction error otherwise.
fn primitive(claim: &str, value: Value) -> Result<Value, GuardError> {
    let found = match value {
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        primitive => return Ok(primitive),
    };
    Err(GuardError::UnsupportedValue {
        claim: claim.to_owned(),
        found,
    })
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// JSON equality, with numbers compared by value: serde_json keeps `1` and
/// `1.0` apart, but JSON (RFC 8259 §6) does not, and neither does the
/// JavaScript `===` of the Node SDK.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn claims(extra: Value) -> Claims {
        let mut payload = json!({"iss": "i", "aud": "a", "exp": 2, "iat": 1});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        Claims::from_payload(payload.to_string().as_bytes()).unwrap()
    }

    const ORG: &str = "https://example.com/org";

    #[test]
    fn equals_passes_only_the_same_value_of_the_same_type() {
        let guard = RequireClaim::equals(ORG, "acme");
        let cases = [
            (json!({ORG: "acme"}), Ok(())),
            (json!({ORG: "other"}), Err(ClaimMismatch::Value)),
            (json!({}), Err(ClaimMismatch::Missing)),
            (json!({ORG: ["acme"]}), Err(ClaimMismatch::WrongType)),
            (
                json!({ORG: {"name": "acme"}}),
                Err(ClaimMismatch::WrongType),
            ),
            (json!({ORG: null}), Err(ClaimMismatch::WrongType)),
            (json!({ORG: 7}), Err(ClaimMismatch::WrongType)),
        ];
        for (extra, expected) in cases {
            assert_eq!(guard.verdict(&claims(extra.clone())), expected, "{extra}");
        }
        let level = RequireClaim::equals("level", 1);
        assert_eq!(
            level.verdict(&claims(json!({"level": 1.0}))),
            Ok(()),
            "1 == 1.0"
        );
        assert_eq!(
            level.verdict(&claims(json!({"level": 2}))),
            Err(ClaimMismatch::Value)
        );
        let admin = RequireClaim::equals("admin", true);
        assert_eq!(admin.verdict(&claims(json!({"admin": true}))), Ok(()));
        assert_eq!(
            admin.verdict(&claims(json!({"admin": "true"}))),
            Err(ClaimMismatch::WrongType)
        );
    }

    #[test]
    fn includes_reads_arrays_and_space_delimited_strings() {
        let all = RequireClaim::includes("groups", ["eng", "ops"]);
        let any = RequireClaim::includes_any("groups", ["eng", "ops"]);
        let cases = [
            (json!({"groups": ["ops", "eng", "x"]}), Ok(()), Ok(())),
            (json!({"groups": "eng ops"}), Ok(()), Ok(())),
            (
                json!({"groups": ["eng"]}),
                Err(ClaimMismatch::Value),
                Ok(()),
            ),
            (json!({"groups": "eng"}), Err(ClaimMismatch::Value), Ok(())),
            (
                json!({"groups": []}),
                Err(ClaimMismatch::Value),
                Err(ClaimMismatch::Value),
            ),
            (
                json!({"groups": "engops"}),
                Err(ClaimMismatch::Value),
                Err(ClaimMismatch::Value),
            ),
            (
                json!({}),
                Err(ClaimMismatch::Missing),
                Err(ClaimMismatch::Missing),
            ),
            (
                json!({"groups": 5}),
                Err(ClaimMismatch::WrongType),
                Err(ClaimMismatch::WrongType),
            ),
            (
                json!({"groups": {"eng": true}}),
                Err(ClaimMismatch::WrongType),
                Err(ClaimMismatch::WrongType),
            ),
        ];
        for (extra, all_expected, any_expected) in cases {
            let c = claims(extra.clone());
            assert_eq!(all.verdict(&c), all_expected, "all {extra}");
            assert_eq!(any.verdict(&c), any_expected, "any {extra}");
        }
        let numbers = RequireClaim::includes("tiers", [1, 2]);
        assert_eq!(numbers.verdict(&claims(json!({"tiers": [2.0, 1]}))), Ok(()));
    }

    #[test]
    fn a_predicate_sees_the_claims_and_a_typed_one_refuses_claims_that_do_not_fit() {
        let guard = RequireClaim::check("has_subject", |c: &Claims| c.sub.is_some());
        assert_eq!(guard.verdict(&claims(json!({"sub": "u"}))), Ok(()));
        assert_eq!(guard.verdict(&claims(json!({}))), Err(ClaimMismatch::Value));

        #[derive(Deserialize)]
        struct Org {
            #[serde(rename = "https://example.com/org")]
            org: String,
        }
        let typed = RequireClaim::check_as("org_is_acme", |o: &Org| o.org == "acme");
        assert_eq!(typed.verdict(&claims(json!({ORG: "acme"}))), Ok(()));
        assert_eq!(
            typed.verdict(&claims(json!({ORG: "x"}))),
            Err(ClaimMismatch::Value)
        );
        assert_eq!(
            typed.verdict(&claims(json!({ORG: 12}))),
            Err(ClaimMismatch::WrongType)
        );
        assert_eq!(
            typed.verdict(&claims(json!({}))),
            Err(ClaimMismatch::WrongType)
        );
    }

    #[test]
    fn misconfigured_guards_are_refused_with_the_reason() {
        let none: [&str; 0] = [];
        assert_eq!(
            RequireClaim::try_equals("", "x").err(),
            Some(GuardError::EmptyClaimName)
        );
        assert_eq!(
            RequireClaim::try_includes("groups", none).err(),
            Some(GuardError::Empty)
        );
        assert_eq!(
            RequireClaim::try_includes_any("groups", none).err(),
            Some(GuardError::Empty)
        );
        assert_eq!(
            RequireClaim::try_includes("groups", [json!("a"), json!({"b": 1})]).err(),
            Some(GuardError::UnsupportedValue {
                claim: "groups".into(),
                found: "an object"
            })
        );
        let error = RequireClaim::try_equals(ORG, json!(["acme"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the guard on claim \"https://example.com/org\" expects an array, but a claim guard compares with strings, numbers, booleans or null; use RequireClaim::check for anything else"
        );
        assert_eq!(
            RequireClaim::try_check("", |_| true).err(),
            Some(GuardError::EmptyCheckName)
        );
    }

    #[test]
    #[should_panic(expected = "RequireClaim::equals: the guard on claim")]
    fn the_panicking_constructor_says_which_guard_is_wrong() {
        let _ = RequireClaim::equals("x", json!({}));
    }
}
