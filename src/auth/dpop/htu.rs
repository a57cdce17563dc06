//! The request URL a proof's `htu` must match (RFC 9449 §4.3 check 9), and
//! the normalisation both sides go through: scheme and host lower-cased, the
//! default port dropped, dot segments resolved and percent-encoding
//! normalised (RFC 3986 §6.2.2), query and fragment left out (RFC 9449 §4.2).

use std::net::Ipv6Addr;

use actix_web::http::header::{HeaderMap, HOST};
use actix_web::HttpRequest;
use url::Url;

use super::super::policy::RequestUrlSource;

/// `htu` (or a request URL) in normal form, or `None` when it is not an
/// absolute `http`/`https` URL with a host and no user information.
pub fn normalize(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return None;
    }
    // The URL parser lower-cases the scheme and host, drops the scheme's
    // default port and resolves `.` and `..` segments (also `%2e`).
    let host = parsed.host_str().filter(|h| !h.is_empty())?;
    let mut out = format!("{}://{host}", parsed.scheme());
    if let Some(port) = parsed.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    push_normalized_path(&mut out, parsed.path());
    Some(out)
}

/// RFC 3986 §6.2.2.1-2: percent-encoded unreserved characters are decoded,
/// every other escape is upper-cased. The parser already escaped anything
/// outside ASCII, so the path is ASCII here. Hand-written because
/// `percent-encoding` decodes every escape, and decoding `%2F` or `%3F`
/// would change what the path means rather than normalise it.
fn push_normalized_path(out: &mut String, path: &str) {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        // Two hex digits exactly: `from_str_radix` alone would also take a
        // sign, reading `%+5` as the escape of 0x05.
        let escape = (byte == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(decoded) if is_unreserved(decoded) => {
                out.push(char::from(decoded));
                i += 3;
            }
            Some(decoded) => {
                out.push_str(&format!("%{decoded:02X}"));
                i += 3;
            }
            // A `%` that starts no escape stands for itself, which RFC 3986
            // §2.4 writes `%25`. Left bare, it could pair with the escape
            // after it into a new one (`%%614` gave `%a4`, which normalises
            // to `%A4`), and the normal form would not be one.
            None if byte == b'%' => {
                out.push_str("%25");
                i += 1;
            }
            None => {
                out.push(char::from(byte));
                i += 1;
            }
        }
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The normalised URL of `req` as `source` says to build it, or `None` when
/// no well-formed URL can be made (then no proof matches).
pub fn request_url(source: &RequestUrlSource, req: &HttpRequest) -> Option<String> {
    let path = req.uri().path();
    let raw = match source {
        RequestUrlSource::PublicBaseUrl(base) => {
            format!("{}{path}", base.as_str().trim_end_matches('/'))
        }
        RequestUrlSource::Connection => {
            format!(
                "{}://{}{path}",
                connection_scheme(req),
                connection_host(req)?
            )
        }
        RequestUrlSource::TrustedProxy => {
            let headers = req.headers();
            let scheme = nearest_value(headers, "x-forwarded-proto")
                .and_then(forwarded_proto)
                .unwrap_or_else(|| connection_scheme(req));
            let host = match nearest_value(headers, "x-forwarded-host").filter(|h| is_authority(h))
            {
                Some(host) => host.to_owned(),
                None => connection_host(req)?,
            };
            let prefix = nearest_value(headers, "x-forwarded-prefix")
                .and_then(forwarded_prefix)
                .unwrap_or("");
            format!("{scheme}://{host}{prefix}{path}")
        }
    };
    normalize(&raw)
}

/// The scheme of the connection itself. Deliberately not actix's
/// `ConnectionInfo`, which believes `Forwarded` and `X-Forwarded-*` headers
/// from anyone.
fn connection_scheme(req: &HttpRequest) -> &'static str {
    if req.app_config().secure() {
        "https"
    } else {
        "http"
    }
}

/// The authority the client addressed: the HTTP/2 `:authority` (or an
/// absolute-form request target), else the `Host` header (RFC 9110 §7.2),
/// else the local socket for an HTTP/1.0 request without one.
fn connection_host(req: &HttpRequest) -> Option<String> {
    if let Some(authority) = req.uri().authority() {
        return is_authority(authority.as_str()).then(|| authority.as_str().to_owned());
    }
    let mut hosts = req.headers().get_all(HOST);
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => host
            .to_str()
            .ok()
            .filter(|h| is_authority(h))
            .map(str::to_owned),
        // RFC 9112 §3.2: more than one Host header is a bad request.
        (Some(_), Some(_)) => None,
        (None, _) => Some(req.app_config().local_addr().to_string()),
    }
}

/// The value the nearest proxy set: the last field line of the header, and
/// its right-most comma-separated member, trimmed. A proxy that appends
/// instead of overwriting leaves whatever the client sent to its left, so
/// only the right-most value is the trusted proxy's own; the left-most one
/// is the client's to choose.
fn nearest_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get_all(name).last()?.to_str().ok()?;
    let nearest = value.rsplit(',').next()?.trim();
    (!nearest.is_empty()).then_some(nearest)
}

/// `X-Forwarded-Proto`: `http` or `https` only.
fn forwarded_proto(value: &str) -> Option<&'static str> {
    if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// `X-Forwarded-Prefix`: a plain absolute path, else ignored. Anything that
/// could climb out of it (`..`, encoded dots), start another authority
/// (`//`, `:`), end the path (`?`, `#`) or confuse a parser (NUL, `\`) makes
/// it untrustworthy.
pub fn forwarded_prefix(value: &str) -> Option<&str> {
    let lower = value.to_ascii_lowercase();
    let refused = !value.starts_with('/')
        || value.starts_with("//")
        || value.contains("..")
        || lower.contains("%2e")
        || value.contains([':', '\0', '?', '#', '\\']);
    (!refused).then(|| value.trim_end_matches('/'))
}

/// Whether `value` is `host[:port]`: a DNS name or IPv4 address, or an IPv6
/// address in brackets, with an optional decimal port. Anything else (a
/// path, user information, spaces) is refused.
pub fn is_authority(value: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (ip.parse::<Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        };
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        (name_ok, port)
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn urls_are_compared_in_normal_form() {
        let cases = [
            ("https://api.example.com/a/b", "https://api.example.com/a/b"),
            ("HTTPS://API.Example.COM/a/b", "https://api.example.com/a/b"),
            (
                "https://api.example.com:443/a/b",
                "https://api.example.com/a/b",
            ),
            ("http://api.example.com:80/a", "http://api.example.com/a"),
            (
                "http://api.example.com:8080/a",
                "http://api.example.com:8080/a",
            ),
            (
                "https://api.example.com/a/b?x=1#frag",
                "https://api.example.com/a/b",
            ),
            ("https://api.example.com", "https://api.example.com/"),
            (
                "https://api.example.com/%7euser/%61",
                "https://api.example.com/~user/a",
            ),
            (
                "https://api.example.com/a%2fb",
                "https://api.example.com/a%2Fb",
            ),
            (
                "https://api.example.com/x/../a/./b",
                "https://api.example.com/a/b",
            ),
            (
                "https://api.example.com/x/%2e%2E/a",
                "https://api.example.com/a",
            ),
            ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ];
        for (given, normal) in cases {
            assert_eq!(normalize(given).as_deref(), Some(normal), "{given}");
        }
    }

    #[test]
    fn what_is_not_an_http_url_has_no_normal_form() {
        for given in [
            "",
            "/api/private",
            "api.example.com/a",
            "ftp://api.example.com/a",
            "https://user:pw@api.example.com/a",
            "https://user@api.example.com/a",
        ] {
            assert_eq!(normalize(given), None, "{given:?}");
        }
    }

    #[test]
    fn only_plain_authorities_pass() {
        for good in [
            "api.example.com",
            "api.example.com:8443",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "my_host",
        ] {
            assert!(is_authority(good), "{good}");
        }
        for bad in [
            "",
            "evil.com/path",
            "evil.com:80:80",
            "user@evil.com",
            "evil.com:",
            "evil.com:99999",
            "evil.com:8o",
            "[::1",
            "[not-ip]",
            "[::1]x",
            "evil .com",
            "evil.com?x",
        ] {
            assert!(!is_authority(bad), "{bad}");
        }
    }

    #[test]
    fn dangerous_prefixes_are_ignored() {
        assert_eq!(forwarded_prefix("/api"), Some("/api"));
        assert_eq!(forwarded_prefix("/api/"), Some("/api"));
        for bad in [
            "api",
            "//evil.com",
            "/a/../b",
            "/a/%2e%2e",
            "/a/%2E",
            "/a:b",
            "/a\0",
            "/a?x",
            "/a#x",
            "/a\\b",
        ] {
            assert_eq!(forwarded_prefix(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn forwarded_headers_count_only_behind_a_trusted_proxy() {
        let req = TestRequest::get()
            .uri("/api/private")
            .insert_header(("host", "127.0.0.1:8080"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("x-forwarded-host", "client-chosen.example, api.example.com"))
            .insert_header(("x-forwarded-prefix", "/v1"))
            .insert_header(("forwarded", "proto=https;host=forwarded.example"))
            .to_http_request();
        assert_eq!(
            request_url(&RequestUrlSource::Connection, &req).as_deref(),
            Some("http://127.0.0.1:8080/api/private"),
            "without trust, only the connection and Host count"
        );
        assert_eq!(
            request_url(&RequestUrlSource::TrustedProxy, &req).as_deref(),
            Some("https://api.example.com/v1/api/private"),
            "behind a trusted proxy, the values the nearest proxy set count"
        );
        let base = Url::parse("https://public.example/base/").unwrap();
        assert_eq!(
            request_url(&RequestUrlSource::PublicBaseUrl(base), &req).as_deref(),
            Some("https://public.example/base/api/private"),
            "a public base URL wins over everything"
        );
    }

    #[test]
    fn appended_forwarded_values_count_only_what_the_nearest_proxy_set() {
        // A client sends its own X-Forwarded-* headers; a proxy that appends
        // adds its values to the right, or as a field line of its own.
        let cases: [(&[&str], &[&str], &str); 4] = [
            (
                &["evil.example, api.example.com"],
                &["http, https"],
                "https://api.example.com/api/private",
            ),
            (
                &["evil.example", "api.example.com"],
                &["http", "https"],
                "https://api.example.com/api/private",
            ),
            (
                &["evil.example", "other.example, api.example.com:8443"],
                &["https, http"],
                "http://api.example.com:8443/api/private",
            ),
            (
                // The nearest value is unusable: the connection counts, not
                // the client's value further left.
                &["evil.example, bad/host"],
                &["https"],
                "https://127.0.0.1:8080/api/private",
            ),
        ];
        for (hosts, protos, expected) in cases {
            let mut req = TestRequest::get()
                .uri("/api/private")
                .insert_header(("host", "127.0.0.1:8080"));
            for host in hosts {
                req = req.append_header(("x-forwarded-host", *host));
            }
            for proto in protos {
                req = req.append_header(("x-forwarded-proto", *proto));
            }
            let req = req.to_http_request();
            assert_eq!(
                request_url(&RequestUrlSource::TrustedProxy, &req).as_deref(),
                Some(expected),
                "hosts {hosts:?}, protos {protos:?}"
            );
        }
    }

    #[test]
    fn bad_forwarded_values_fall_back_to_the_connection() {
        let req = TestRequest::get()
            .uri("/api/private")
            .insert_header(("host", "127.0.0.1:8080"))
            .insert_header(("x-forwarded-proto", "ftp"))
            .insert_header(("x-forwarded-host", "evil.com/path"))
            .insert_header(("x-forwarded-prefix", "/../admin"))
            .to_http_request();
        assert_eq!(
            request_url(&RequestUrlSource::TrustedProxy, &req).as_deref(),
            Some("http://127.0.0.1:8080/api/private")
        );
    }

    #[test]
    fn a_bad_host_header_gives_no_url() {
        let req = TestRequest::get()
            .uri("/api/private")
            .insert_header(("host", "evil.com/path"))
            .to_http_request();
        assert_eq!(request_url(&RequestUrlSource::Connection, &req), None);
    }
}
