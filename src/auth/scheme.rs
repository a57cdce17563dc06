//! Parsing the `Authorization` and `DPoP` headers (RFC 6750 §2.1,
//! RFC 9449 §4.1 and §7.1, RFC 7235 §2.1) and describing `WWW-Authenticate`
//! challenges (RFC 6750 §3, RFC 9449 §7.1).

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderName, AUTHORIZATION};

use super::body::ErrorBodyFormat;
use super::policy::DpopMode;

/// The `DPoP` request header that carries the proof (RFC 9449 §4.1).
pub const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The authentication schemes the middleware understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <token>` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP <token>` plus a `DPoP: <proof>` header (RFC 9449 §7.1).
    DPoP,
}

impl Scheme {
    /// The scheme's name as challenges spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::DPoP => "DPoP",
        }
    }
}

/// Credentials read from a well-formed `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The scheme the client used.
    pub scheme: Scheme,
    /// The access token, exactly as sent. Never logged.
    pub token: String,
    /// The `DPoP` header's proof, with the DPoP scheme only. Never logged.
    pub proof: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets print as stars, so a stray `{:?}` cannot leak a token or proof.
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("token", &"******")
            .field("proof", &self.proof.as_ref().map(|_| "******"))
            .finish()
    }
}

/// Why the `Authorization` header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// No credentials at all, or a scheme we do not accept (answered with a
    /// bare challenge, RFC 6750 §3.1).
    Missing,
    /// The request itself is malformed (RFC 6750 `invalid_request`).
    Malformed {
        /// What is wrong, safe to send to the client.
        reason: &'static str,
        /// The scheme the client used, when it got that far, so the error
        /// goes into that scheme's challenge.
        scheme: Option<Scheme>,
    },
}

fn malformed(reason: &'static str, scheme: Option<Scheme>) -> HeaderError {
    HeaderError::Malformed { reason, scheme }
}

/// Reads the credentials of a request from its headers and query string,
/// accepting the schemes `mode` allows.
///
/// ```
/// use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
/// use auth0_actix_api::auth::scheme::{parse_credentials, HeaderError, Scheme};
/// use auth0_actix_api::auth::DpopMode;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer   eyJ.eyJ.sig"));
/// let credentials = parse_credentials(&headers, "", DpopMode::Optional).unwrap();
/// assert_eq!(credentials.scheme, Scheme::Bearer);
/// assert_eq!(credentials.token, "eyJ.eyJ.sig");
/// // Secrets never print.
/// assert!(!format!("{credentials:?}").contains("eyJ"));
///
/// // A token in the URL is refused (RFC 6750 §2.3 allows it; URLs end up in logs).
/// assert!(matches!(
///     parse_credentials(&headers, "access_token=x", DpopMode::Optional),
///     Err(HeaderError::Malformed { .. })
/// ));
/// // Basic is not ours: the client gets a bare challenge, as with no header.
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwYXNz"));
/// assert_eq!(parse_credentials(&headers, "", DpopMode::Optional), Err(HeaderError::Missing));
/// ```
///
/// The scheme name is case-insensitive, one or more spaces separate it from
/// the token (RFC 6750 `1*SP`), and whitespace around the field value is
/// ignored. Two `Authorization` headers, an empty token, several tokens, or a
/// token in the query string (RFC 6750 §2.3, which we refuse because URLs end
/// up in logs) make the request malformed. The DPoP scheme needs exactly one
/// `DPoP` header (RFC 9449 §4.3 check 1), and a Bearer request must not carry
/// one, since the client evidently meant DPoP and would lose its binding.
pub fn parse_credentials(
    headers: &HeaderMap,
    query: &str,
    mode: DpopMode,
) -> Result<Credentials, HeaderError> {
    if has_query_token(query) {
        return Err(malformed(
            "Send the access token in the Authorization header, never in the URL",
            None,
        ));
    }
    let mut values = headers.get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(HeaderError::Missing);
    };
    if values.next().is_some() {
        return Err(malformed("Send exactly one Authorization header", None));
    }
    // UTF-8 validation is vectorised, unlike `HeaderValue::to_str`'s byte
    // loop; a token is ~1 KB on every request. Non-ASCII text passes here but
    // never the strict base64url decoding of the token.
    let value = std::str::from_utf8(value.as_bytes())
        .map_err(|_| malformed("The Authorization header is malformed", None))?
        .trim_matches(|c| c == ' ' || c == '\t');

    // The scheme is a few bytes long: a plain scan beats `split_once`'s searcher.
    let (scheme_name, rest) = value
        .bytes()
        .position(|b| b == b' ')
        .and_then(|space| value.split_at_checked(space))
        .map_or((value, ""), |(name, rest)| {
            (name, rest.strip_prefix(' ').unwrap_or(rest))
        });
    let scheme = if scheme_name.eq_ignore_ascii_case("bearer") && mode.accepts_bearer() {
        Scheme::Bearer
    } else if scheme_name.eq_ignore_ascii_case("dpop") && mode.accepts_dpop() {
        Scheme::DPoP
    } else {
        return Err(HeaderError::Missing);
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(malformed(
            "The Authorization header has a scheme but no token",
            Some(scheme),
        ));
    }
    if has_blank(token.as_bytes()) {
        return Err(malformed(
            "The Authorization header must hold exactly one token",
            Some(scheme),
        ));
    }
    let mut proofs = headers.get_all(DPOP);
    let proof = match (scheme, proofs.next(), proofs.next()) {
        (Scheme::DPoP, Some(proof), None) => {
            // A proof that is not visible ASCII cannot be a JWS: it becomes
            // one that fails to parse, so it is answered like any bad proof.
            let proof = String::from_utf8_lossy(proof.as_bytes());
            Some(proof.trim_matches(|c| c == ' ' || c == '\t').to_owned())
        }
        (Scheme::DPoP, _, _) => {
            return Err(malformed(
                "Send exactly one DPoP header with the DPoP scheme",
                Some(scheme),
            ))
        }
        (Scheme::Bearer, None, _) => None,
        // With DPoP disabled the header means nothing to us (RFC 9110 §5.1).
        (Scheme::Bearer, Some(_), _) if !mode.accepts_dpop() => None,
        (Scheme::Bearer, Some(_), _) => {
            return Err(malformed(
                "A DPoP header needs the DPoP authorization scheme",
                Some(scheme),
            ))
        }
    };
    Ok(Credentials {
        scheme,
        token: token.to_owned(),
        proof,
    })
}

/// Whether `bytes` holds a space or a tab. One pass with no early exit,
/// which the compiler vectorises: a valid token has neither, so all of it is
/// read anyway, and this takes a third of the time of two `memchr` scans
/// over a 710-byte token. Kept out of line: inlined into its caller, the
/// loop was left scalar.
#[inline(never)]
fn has_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(false, |found, &b| found | (b == b' ') | (b == b'\t'))
}

fn has_query_token(query: &str) -> bool {
    !query.is_empty()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "access_token")
}

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
    use actix_web::http::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        with_proofs(values, &[])
    }

    fn with_proofs(authorization: &[&str], proofs: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in authorization {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        for p in proofs {
            map.append(DPOP, HeaderValue::from_str(p).unwrap());
        }
        map
    }

    fn parse(map: &HeaderMap) -> Result<Credentials, HeaderError> {
        parse_credentials(map, "", DpopMode::Optional)
    }

    #[test]
    fn scheme_is_case_insensitive_and_spaces_are_tolerated() {
        for value in ["Bearer abc", "bearer abc", "BEARER   abc", "  Bearer abc  "] {
            let creds = parse(&headers(&[value])).unwrap();
            assert_eq!(creds.token, "abc", "value {value:?}");
            assert_eq!(creds.scheme, Scheme::Bearer, "value {value:?}");
        }
        for value in ["DPoP abc", "dpop abc", "DPOP   abc"] {
            let creds = parse(&with_proofs(&[value], &["p.r.f"])).unwrap();
            assert_eq!(creds.scheme, Scheme::DPoP, "value {value:?}");
            assert_eq!(creds.proof.as_deref(), Some("p.r.f"), "value {value:?}");
        }
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        let cases: &[(&[&str], &[&str], Option<Scheme>)] = &[
            (&["Bearer"], &[], Some(Scheme::Bearer)),
            (&["Bearer   "], &[], Some(Scheme::Bearer)),
            (&["Bearer a b"], &[], Some(Scheme::Bearer)),
            (&["Bearer a\tb"], &[], Some(Scheme::Bearer)),
            (&["Bearer \ta"], &[], Some(Scheme::Bearer)),
            (&["Bearer a", "Bearer b"], &[], None),
            (&["DPoP a"], &[], Some(Scheme::DPoP)),
            (&["DPoP a"], &["p1", "p2"], Some(Scheme::DPoP)),
            (&["DPoP"], &["p1"], Some(Scheme::DPoP)),
            (&["Bearer a"], &["p1"], Some(Scheme::Bearer)),
        ];
        for (authorization, proofs, scheme) in cases {
            let got = parse(&with_proofs(authorization, proofs));
            assert!(
                matches!(got, Err(HeaderError::Malformed { scheme: s, .. }) if s == *scheme),
                "case {authorization:?} {proofs:?} gave {got:?}"
            );
        }
    }

    #[test]
    fn a_blank_anywhere_in_a_long_token_is_found() {
        let token = "eyJ".repeat(300);
        assert!(!has_blank(token.as_bytes()));
        for at in [0, 1, 15, 16, 31, 32, 450, 898, 899] {
            for blank in [b' ', b'\t'] {
                let mut bytes = token.clone().into_bytes();
                bytes[at] = blank;
                assert!(has_blank(&bytes), "{blank} at {at}");
            }
        }
        let long = format!("Bearer {}x y", "a".repeat(900));
        assert!(matches!(
            parse(&headers(&[&long])),
            Err(HeaderError::Malformed {
                scheme: Some(Scheme::Bearer),
                ..
            })
        ));
    }

    #[test]
    fn other_schemes_count_as_missing() {
        for value in ["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc", "DPoPabc"] {
            assert_eq!(
                parse(&headers(&[value])),
                Err(HeaderError::Missing),
                "{value}"
            );
        }
    }

    #[test]
    fn the_mode_decides_which_schemes_exist() {
        let dpop = with_proofs(&["DPoP abc"], &["proof"]);
        let bearer = with_proofs(&["Bearer abc"], &["proof"]);
        assert_eq!(
            parse_credentials(&dpop, "", DpopMode::Disabled),
            Err(HeaderError::Missing),
            "DPoP is an unknown scheme when disabled"
        );
        assert_eq!(
            parse_credentials(&bearer, "", DpopMode::Required),
            Err(HeaderError::Missing),
            "Bearer is an unknown scheme when DPoP is required"
        );
        let creds = parse_credentials(&bearer, "", DpopMode::Disabled).unwrap();
        assert_eq!(
            creds.proof, None,
            "a DPoP header means nothing when disabled"
        );
    }

    #[test]
    fn token_in_query_is_refused() {
        let got = parse_credentials(
            &headers(&["Bearer abc"]),
            "x=1&access_token=abc",
            DpopMode::Optional,
        );
        assert!(matches!(
            got,
            Err(HeaderError::Malformed { scheme: None, .. })
        ));
    }

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

    #[test]
    fn debug_never_shows_the_token_or_proof() {
        let creds = Credentials {
            scheme: Scheme::DPoP,
            token: "secret-token".into(),
            proof: Some("secret-proof".into()),
        };
        assert!(!format!("{creds:?}").contains("secret"));
    }
}
