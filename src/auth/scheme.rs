//! Parsing the `Authorization` header (RFC 6750 §2.1, RFC 7235 §2.1) and
//! describing `WWW-Authenticate` challenges (RFC 6750 §3).

use std::sync::Arc;

use actix_web::http::header::{HeaderMap, AUTHORIZATION};

/// The authentication schemes the middleware understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <token>` (RFC 6750).
    Bearer,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
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
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets print as stars, so a stray `{:?}` cannot leak a token.
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("token", &"******")
            .finish()
    }
}

/// Why the `Authorization` header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// No credentials at all, or a scheme we do not support (answered with a
    /// bare challenge, RFC 6750 §3.1).
    Missing,
    /// The request itself is malformed (RFC 6750 `invalid_request`); the text
    /// is safe to send to the client.
    Malformed(&'static str),
}

/// Reads the credentials of a request from its headers and query string.
///
/// The scheme name is case-insensitive, one or more spaces separate it from
/// the token (RFC 6750 `1*SP`), and whitespace around the field value is
/// ignored. Two `Authorization` headers, an empty token, several tokens, or a
/// token in the query string (RFC 6750 §2.3, which we refuse because URLs end
/// up in logs) make the request malformed.
pub fn parse_credentials(headers: &HeaderMap, query: &str) -> Result<Credentials, HeaderError> {
    if has_query_token(query) {
        return Err(HeaderError::Malformed(
            "Send the access token in the Authorization header, never in the URL",
        ));
    }
    let mut values = headers.get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(HeaderError::Missing);
    };
    if values.next().is_some() {
        return Err(HeaderError::Malformed(
            "Send exactly one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| HeaderError::Malformed("The Authorization header is malformed"))?
        .trim_matches(|c| c == ' ' || c == '\t');

    let (scheme_name, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme_name.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else {
        return Err(HeaderError::Missing);
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(HeaderError::Malformed(
            "The Authorization header has a scheme but no token",
        ));
    }
    if token.contains([' ', '\t']) {
        return Err(HeaderError::Malformed(
            "The Authorization header must hold exactly one token",
        ));
    }
    Ok(Credentials {
        scheme,
        token: token.to_owned(),
    })
}

fn has_query_token(query: &str) -> bool {
    !query.is_empty()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "access_token")
}

/// What a `WWW-Authenticate` header offers: the realm, and the scheme whose
/// challenge carries an error (the one the client used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: Arc<str>,
    scheme: Scheme,
}

impl Challenge {
    /// A challenge for `realm`, answering a request made with `scheme`.
    pub fn new(realm: Arc<str>, scheme: Scheme) -> Self {
        Self { realm, scheme }
    }

    /// The challenge without an error code, for requests without credentials
    /// (RFC 6750 §3.1: "SHOULD NOT include an error code").
    pub fn render_bare(&self) -> String {
        format!("{} realm=\"{}\"", self.scheme.name(), quoted(&self.realm))
    }

    /// The challenge with an RFC 6750 error code and description, plus the
    /// `scope` the resource needs for `insufficient_scope`.
    pub fn render_error(&self, code: &str, description: &str, scope: Option<&str>) -> String {
        let mut out = format!(
            "{} realm=\"{}\", error=\"{}\", error_description=\"{}\"",
            self.scheme.name(),
            quoted(&self.realm),
            quoted(code),
            quoted(description)
        );
        if let Some(scope) = scope {
            out.push_str(", scope=\"");
            out.push_str(&quoted(scope));
            out.push('"');
        }
        out
    }
}

/// Makes `value` safe inside an RFC 7230 quoted-string: `"` and `\` would end
/// or escape it, and CR, LF, other controls and non-ASCII bytes would break
/// the header line (a newline in a header made the reference's server drop
/// the connection).
pub fn quoted(value: &str) -> String {
    value
        .chars()
        .filter_map(|c| match c {
            '"' => Some('\''),
            '\\' => Some('/'),
            ' '..='~' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn scheme_is_case_insensitive_and_spaces_are_tolerated() {
        for value in ["Bearer abc", "bearer abc", "BEARER   abc", "  Bearer abc  "] {
            let creds = parse_credentials(&headers(&[value]), "").unwrap();
            assert_eq!(creds.token, "abc", "value {value:?}");
        }
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        let cases: &[&[&str]] = &[
            &["Bearer"],
            &["Bearer   "],
            &["Bearer a b"],
            &["Bearer a", "Bearer b"],
        ];
        for case in cases {
            let got = parse_credentials(&headers(case), "");
            assert!(
                matches!(got, Err(HeaderError::Malformed(_))),
                "case {case:?} gave {got:?}"
            );
        }
    }

    #[test]
    fn other_schemes_count_as_missing() {
        for value in ["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"] {
            assert_eq!(
                parse_credentials(&headers(&[value]), ""),
                Err(HeaderError::Missing),
                "{value}"
            );
        }
    }

    #[test]
    fn token_in_query_is_refused() {
        let got = parse_credentials(&headers(&["Bearer abc"]), "x=1&access_token=abc");
        assert!(matches!(got, Err(HeaderError::Malformed(_))));
    }

    #[test]
    fn quoted_strips_what_would_break_a_header() {
        assert_eq!(quoted("a\"b\\c\r\nd\u{e9}"), "a'b/cd");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let creds = Credentials {
            scheme: Scheme::Bearer,
            token: "secret-token".into(),
        };
        assert!(!format!("{creds:?}").contains("secret"));
    }
}
