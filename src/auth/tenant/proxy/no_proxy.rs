//! `NO_PROXY`: which hosts skip the proxy.

use std::net::IpAddr;

use ipnet::IpNet;

/// The `NO_PROXY` list, curl-style: comma-separated entries, each a host
/// name (matching itself and its subdomains, with or without a leading
/// dot), an IP address, a CIDR range, or `*` for every host; any of them
/// may end in `:port` (IPv6 in brackets then). Case-insensitive. Loopback
/// is not exempt unless listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    rules: Vec<Rule>,
    ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A host name and its subdomains, lowercase, no leading or trailing dot.
    Domain(String),
    /// One address.
    Ip(IpAddr),
    /// A CIDR range.
    Net(IpNet),
}

impl NoProxy {
    /// Parses a `NO_PROXY` value; entries that are none of the above are
    /// skipped and listed by [`Self::ignored`].
    pub fn parse(list: &str) -> Self {
        let mut no_proxy = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.all = true;
            } else if let Some(rule) = Rule::parse(&entry.to_ascii_lowercase()) {
                no_proxy.rules.push(rule);
            } else {
                no_proxy.ignored.push(entry.to_owned());
            }
        }
        no_proxy
    }

    /// Whether a connection to `host:port` skips the proxy. `host` is as in a
    /// URL: IPv6 in brackets or not, any case, an optional trailing dot.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.rules.iter().any(|rule| {
            let host_matches = match (&rule.pattern, ip) {
                (Pattern::Ip(listed), Some(ip)) => *listed == ip,
                (Pattern::Net(network), Some(ip)) => network.contains(&ip),
                (Pattern::Domain(domain), None) => {
                    host == *domain
                        || host
                            .strip_suffix(domain.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                _ => false,
            };
            host_matches && rule.port.is_none_or(|p| p == port)
        })
    }

    /// Entries that were not understood, for a start-up warning.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

impl Rule {
    /// One lowercase, trimmed entry other than `*`.
    fn parse(entry: &str) -> Option<Self> {
        let (host, port) = split_port(entry)?;
        let pattern = if host.contains('/') {
            // Host bits may be set (`10.1.2.3/8` means 10.0.0.0/8), as curl takes it.
            Pattern::Net(host.parse().ok()?)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            Pattern::Ip(ip)
        } else {
            // `.example.com` and `*.example.com` mean what `example.com`
            // means: the domain and everything under it.
            let domain = host.trim_start_matches("*.").trim_start_matches('.');
            let domain = domain.trim_end_matches('.');
            let valid = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !valid {
                return None;
            }
            Pattern::Domain(domain.to_owned())
        };
        Some(Self { pattern, port })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address (which
/// has more than one colon, so cannot carry a port).
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return match after {
            "" => Some((inside, None)),
            _ => Some((inside, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matching_follows_the_usual_rules() {
        // (NO_PROXY, host, port, bypasses the proxy)
        let cases = [
            ("example.com", "example.com", 443, true),
            ("example.com", "api.example.com", 443, true),
            ("example.com", "EXAMPLE.com.", 443, true),
            ("example.com", "notexample.com", 443, false),
            ("example.com", "example.com.evil.net", 443, false),
            (".example.com", "example.com", 443, true),
            (".example.com", "a.b.example.com", 443, true),
            ("*.example.com", "a.example.com", 443, true),
            ("*", "anything.at.all", 443, true),
            ("other.net, *", "anything.at.all", 443, true),
            ("", "example.com", 443, false),
            ("  , ,", "example.com", 443, false),
            ("a.net , example.com ", "x.example.com", 443, true),
            ("example.com:8443", "example.com", 8443, true),
            ("example.com:8443", "example.com", 443, false),
            ("127.0.0.1", "127.0.0.1", 443, true),
            ("127.0.0.1", "127.0.0.2", 443, false),
            ("127.0.0.1:8080", "127.0.0.1", 8080, true),
            ("127.0.0.1:8080", "127.0.0.1", 8081, false),
            ("10.0.0.0/8", "10.20.30.40", 443, true),
            ("10.0.0.0/8", "11.0.0.1", 443, false),
            ("0.0.0.0/0", "192.0.2.1", 443, true),
            ("::1", "[::1]", 443, true),
            ("[::1]", "::1", 443, true),
            ("[::1]:8443", "[::1]", 8443, true),
            ("[::1]:8443", "[::1]", 443, false),
            ("fd00::/8", "[fd12::1]", 443, true),
            ("fd00::/8", "10.0.0.1", 443, false),
            // Loopback is exempt only when listed.
            ("example.com", "localhost", 443, false),
            ("example.com", "127.0.0.1", 443, false),
            ("localhost", "localhost", 443, true),
            ("localhost", "127.0.0.1", 443, false),
            // A domain pattern never matches an IP by suffix.
            ("0.1", "10.0.0.1", 443, false),
        ];
        for (list, host, port, expected) in cases {
            assert_eq!(
                NoProxy::parse(list).matches(host, port),
                expected,
                "NO_PROXY={list:?} for {host}:{port}"
            );
        }
    }

    #[test]
    fn no_proxy_entries_that_mean_nothing_are_reported() {
        let parsed = NoProxy::parse("good.example, bad host, 10.0.0.0/33, x:notaport, [::1");
        assert_eq!(
            parsed.ignored(),
            ["bad host", "10.0.0.0/33", "x:notaport", "[::1"],
            "ignored entries"
        );
        assert!(
            parsed.matches("good.example", 443),
            "the good entry still applies"
        );
    }
}
