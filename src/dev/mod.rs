//! Dev tooling, never on the production path: the local issuer
//! ([`issuer`]), the command line ([`cli`]), token inspection ([`inspect`])
//! and the DPoP client ([`dpop_client`]).
//!
//! This module itself holds `dev` mode's start-up banner: the URLs and
//! ready-to-paste curl commands with tokens showing each of 200, 401 and 403.
//! Printed on stdout, because handing these tokens to the user is the point;
//! they are never logged.

pub mod cli;
pub mod dpop_client;
pub mod inspect;
pub mod issuer;

use std::fmt::Write;

use crate::dev::issuer::{LocalIssuer, TokenSpec};

/// One line of the walkthrough: what to run and the status it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// What the example shows.
    pub title: &'static str,
    /// The HTTP status the API answers.
    pub status: u16,
    /// Path under the API's base URL.
    pub path: &'static str,
    /// The token to send, if any.
    pub token: Option<String>,
}

/// The examples, with freshly minted tokens valid for `lifetime` seconds.
pub fn examples(issuer: &LocalIssuer, lifetime: i64) -> anyhow::Result<Vec<Example>> {
    let mint = |scope: Option<&str>, expires_in: i64, audience: Option<&str>| {
        issuer.mint(&TokenSpec {
            sub: Some("local-dev-user".into()),
            scope: scope.map(str::to_owned),
            expires_in,
            audience: audience.map(str::to_owned),
            ..TokenSpec::default()
        })
    };
    let plain = mint(None, lifetime, None)?;
    let read = mint(Some("read:messages"), lifetime, None)?;
    let read_write = mint(Some("read:messages write:messages"), lifetime, None)?;
    let expired = mint(Some("read:messages"), -3600, None)?;
    let foreign = mint(
        Some("read:messages"),
        lifetime,
        Some("https://another-api.example"),
    )?;
    Ok(vec![
        Example {
            title: "public, no token needed",
            status: 200,
            path: "/api/public",
            token: None,
        },
        Example {
            title: "private without a token",
            status: 401,
            path: "/api/private",
            token: None,
        },
        Example {
            title: "private with a token that has no permission",
            status: 200,
            path: "/api/private",
            token: Some(plain.clone()),
        },
        Example {
            title: "private-scoped without read:messages",
            status: 403,
            path: "/api/private-scoped",
            token: Some(plain),
        },
        Example {
            title: "private-scoped with read:messages",
            status: 200,
            path: "/api/private-scoped",
            token: Some(read),
        },
        Example {
            title: "profile with read:messages write:messages",
            status: 200,
            path: "/api/profile",
            token: Some(read_write),
        },
        Example {
            title: "an expired token",
            status: 401,
            path: "/api/private",
            token: Some(expired),
        },
        Example {
            title: "a token for another audience",
            status: 401,
            path: "/api/private",
            token: Some(foreign),
        },
    ])
}

/// The banner text for a server at `base_url` (no trailing slash).
pub fn banner(issuer: &LocalIssuer, base_url: &str, lifetime: i64, examples: &[Example]) -> String {
    let mut out = String::new();
    let rule = "=".repeat(72);
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(out, "DEV MODE: local issuer on loopback. Anyone here can mint tokens: never use this in production.");
    let _ = writeln!(
        out,
        "  API:       {base_url}/api/public, /api/private, /api/private-scoped, /api/profile"
    );
    let _ = writeln!(
        out,
        "  Issuer:    {} (discovery: {}.well-known/openid-configuration)",
        issuer.issuer(),
        issuer.issuer()
    );
    let _ = writeln!(out, "  Audience:  {}", issuer.audience());
    let _ = writeln!(
        out,
        "  Tokens below are valid for {} min. More: cargo run -q -- token --scope read:messages",
        lifetime / 60
    );
    let _ = writeln!(out, "{rule}");
    for example in examples {
        let _ = writeln!(out, "# expect {}: {}", example.status, example.title);
        match &example.token {
            Some(token) => {
                let _ = writeln!(
                    out,
                    "curl -i {base_url}{} -H 'Authorization: Bearer {token}'",
                    example.path
                );
            }
            None => {
                let _ = writeln!(out, "curl -i {base_url}{}", example.path);
            }
        }
    }
    let _ = writeln!(out, "{rule}");
    out
}
