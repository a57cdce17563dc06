//! Parsing the `Authorization` and `DPoP` headers (RFC 6750 §2.1,
//! RFC 9449 §4.1 and §7.1, RFC 7235 §2.1); the `WWW-Authenticate`
//! challenges answering them are [`Challenge`]s.

mod challenge;

pub use self::challenge::{quoted, Challenge};

use actix_web::http::header::{HeaderMap, HeaderName, AUTHORIZATION};

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
    fn debug_never_shows_the_token_or_proof() {
        let creds = Credentials {
            scheme: Scheme::DPoP,
            token: "secret-token".into(),
            proof: Some("secret-proof".into()),
        };
        assert!(!format!("{creds:?}").contains("secret"));
    }
}
