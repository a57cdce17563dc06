//! What may be fetched from an issuer, and how its URLs are built: https
//! everywhere, plain http only to this machine. Shared by the key cache
//! ([`super::jwks`]), the tenant client ([`super::upstream`]) and the proxy
//! connector ([`super::proxy`]), which is why it sits below all three.

use url::Url;

/// `{issuer}/.well-known/openid-configuration` (OIDC Discovery §4), after
/// checking the issuer is https, or http on a loopback host.
pub fn discovery_url(issuer: &str) -> Result<Url, String> {
    let url =
        Url::parse(issuer).map_err(|e| format!("the issuer {issuer:?} is not a URL ({e})"))?;
    check_transport(&url)?;
    // An issuer has no query or fragment (OIDC Core §2). The discovery path
    // is appended to the issuer as text, so either would swallow the path
    // and the document would be fetched from the issuer's root instead.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the issuer {issuer:?} has a query or fragment; an issuer URL has neither"
        ));
    }
    let base = issuer.trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|e| format!("cannot build the discovery URL ({e})"))
}

/// https everywhere; plain http only to this machine (tests, the local issuer).
pub fn check_transport(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(format!(
            "{url} uses http on a non-loopback host; use https (http is allowed only for 127.0.0.1, [::1] and localhost)"
        )),
        other => Err(format!("{url} has scheme {other:?}; use https")),
    }
}

/// `localhost` or a loopback IP literal (IPv6 with or without brackets):
/// the one definition of "this machine" for transport, proxy and dev-mode
/// decisions.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
