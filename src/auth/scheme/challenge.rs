//! `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9449 §7.1, RFC 7235
//! §2.1): which schemes a refusal offers, and which one carries its error.

use std::borrow::Cow;
use std::sync::Arc;

use super::Scheme;
use crate::auth::body::ErrorBodyFormat;

/// What a `WWW-Authenticate` header offers: the realm, the schemes accepted
/// (with the proof algorithms for DPoP), and the scheme whose challenge
/// carries an error (the one the client used). It also carries the app's
/// [`ErrorBodyFormat`], when it has one, so that every refusal built from
/// the app's challenge answers with the app's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: Arc<str>,
    scheme: Scheme,
    bearer: bool,
    dpop_algs: Option<Arc<str>>,
    body: Option<ErrorBodyFormat>,
}

impl Challenge {
    /// A Bearer-only challenge for `realm`, answering a request made with `scheme`.
    pub fn new(realm: Arc<str>, scheme: Scheme) -> Self {
        Self {
            realm,
            scheme,
            bearer: true,
            dpop_algs: None,
            body: None,
        }
    }

    /// The same challenge, with refusals' bodies in `format` rather than
    /// the default `{"error", "error_description"}`.
    pub fn with_body_format(mut self, format: ErrorBodyFormat) -> Self {
        self.body = Some(format);
        self
    }

    /// The app's body format, when it has one.
    pub fn body_format(&self) -> Option<&ErrorBodyFormat> {
        self.body.as_ref()
    }

    /// The same challenge offering the DPoP scheme too, with `algs` (the
    /// space-separated proof algorithms, RFC 9449 §7.1), and Bearer only
    /// when `bearer` is true.
    pub fn with_dpop(mut self, algs: Arc<str>, bearer: bool) -> Self {
        self.dpop_algs = Some(algs);
        self.bearer = bearer;
        self
    }

    /// The challenge without an error code, for requests without credentials
    /// (RFC 6750 §3.1: "SHOULD NOT include an error code"): one challenge per
    /// accepted scheme, in one header value (RFC 9110 §11.6.1).
    pub fn render_bare(&self) -> String {
        let mut out = String::with_capacity(64);
        if self.bearer {
            push_param(&mut out, "Bearer realm", &self.realm);
        }
        if let Some(algs) = &self.dpop_algs {
            if !out.is_empty() {
                out.push_str(", ");
            }
            push_param(&mut out, "DPoP algs", algs);
        }
        out
    }

    /// The challenge of the scheme the client used, with an error code and
    /// description, plus the `scope` the resource needs for
    /// `insufficient_scope`; then the bare challenge of the other scheme
    /// when it is accepted too. RFC 9449 §7.1 has a resource that accepts
    /// both schemes offer both in its challenges (RFC 9110 §11.6.1: one
    /// header value may hold several), so a client that tried one still
    /// learns of the other; the error belongs to the one it used. The DPoP
    /// challenge names the accepted proof algorithms.
    pub fn render_error(&self, code: &str, description: &str, scope: Option<&str>) -> String {
        let mut out = String::with_capacity(128 + description.len());
        match self.scheme {
            Scheme::Bearer => {
                push_param(&mut out, "Bearer realm", &self.realm);
                out.push_str(", ");
            }
            Scheme::DPoP => out.push_str("DPoP "),
        }
        push_param(&mut out, "error", code);
        push_param(&mut out, ", error_description", description);
        if let Some(scope) = scope {
            push_param(&mut out, ", scope", scope);
        }
        match (self.scheme, &self.dpop_algs) {
            (Scheme::DPoP, algs) => {
                if let Some(algs) = algs {
                    push_param(&mut out, ", algs", algs);
                }
                if self.bearer {
                    push_param(&mut out, ", Bearer realm", &self.realm);
                }
            }
            (Scheme::Bearer, Some(algs)) => push_param(&mut out, ", DPoP algs", algs),
            (Scheme::Bearer, None) => {}
        }
        out
    }
}

/// Appends `name="value"`, with the value made safe by [`quoted`].
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(&quoted(value));
    out.push('"');
}

/// Makes `value` safe inside an RFC 7230 quoted-string: `"` and `\` would end
/// or escape it, and CR, LF, other controls and non-ASCII bytes would break
/// the header line (a newline in a header made the reference's server drop
/// the connection). Values that are already safe, as all of ours are, are
/// borrowed rather than copied.
///
/// ```
/// use auth0_actix_api::auth::scheme::quoted;
/// use std::borrow::Cow;
///
/// assert!(matches!(quoted("read:messages"), Cow::Borrowed("read:messages")));
/// assert_eq!(quoted("say \"hi\"\r\nX-Evil: 1"), "say 'hi'X-Evil: 1");
/// assert_eq!(quoted("caf\u{e9} C:\\x"), "caf C:/x");
/// ```
pub fn quoted(value: &str) -> Cow<'_, str> {
    let safe = |b: u8| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\';
    if value.bytes().all(safe) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .chars()
            .filter_map(|c| match c {
                '"' => Some('\''),
                '\\' => Some('/'),
                ' '..='~' => Some(c),
                _ => None,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_list_the_accepted_schemes_and_errors_go_to_the_used_one() {
        let realm: Arc<str> = Arc::from("api");
        let algs: Arc<str> = Arc::from("ES256 EdDSA");
        let mixed = Challenge::new(realm.clone(), Scheme::DPoP).with_dpop(algs.clone(), true);
        assert_eq!(
            mixed.render_bare(),
            "Bearer realm=\"api\", DPoP algs=\"ES256 EdDSA\""
        );
        assert_eq!(
            mixed.render_error("invalid_dpop_proof", "bad", None),
            "DPoP error=\"invalid_dpop_proof\", error_description=\"bad\", algs=\"ES256 EdDSA\", Bearer realm=\"api\""
        );
        let mixed_bearer =
            Challenge::new(realm.clone(), Scheme::Bearer).with_dpop(algs.clone(), true);
        assert_eq!(
            mixed_bearer.render_error("insufficient_scope", "bad", Some("read:messages")),
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"bad\", scope=\"read:messages\", DPoP algs=\"ES256 EdDSA\""
        );
        let required = Challenge::new(realm.clone(), Scheme::DPoP).with_dpop(algs, false);
        assert_eq!(required.render_bare(), "DPoP algs=\"ES256 EdDSA\"");
        assert_eq!(
            required.render_error("invalid_token", "bad", None),
            "DPoP error=\"invalid_token\", error_description=\"bad\", algs=\"ES256 EdDSA\"",
            "DPoP only: no Bearer challenge"
        );
        let bearer = Challenge::new(realm, Scheme::Bearer);
        assert_eq!(bearer.render_bare(), "Bearer realm=\"api\"");
        assert_eq!(
            bearer.render_error("invalid_token", "bad", Some("read:messages")),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"bad\", scope=\"read:messages\""
        );
    }

    #[test]
    fn quoted_strips_what_would_break_a_header() {
        assert_eq!(quoted("a\"b\\c\r\nd\u{e9}"), "a'b/cd");
    }
}
