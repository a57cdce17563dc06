//! Command-line parsing: `serve` (default), `dev`, `token`, `inspect`,
//! `healthcheck`. Bad arguments are one line of error, never a panic.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::dev::issuer::TokenSpec;

/// What the binary was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Serve the API against the Auth0 tenant from the settings.
    Serve,
    /// Serve the API with the local issuer, printing ready-to-paste curl commands.
    Dev,
    /// Print one token signed by the local issuer.
    Token(TokenArgs),
    /// Decode a token and explain every check.
    Inspect {
        /// The token, or `None` to read it from standard input.
        token: Option<String>,
    },
    /// Call the local `/healthz` and exit 0 or 1.
    Healthcheck,
    /// Print a DPoP proof for one request.
    Proof(ProofArgs),
    /// Print usage.
    Help,
}

/// Arguments of `token`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenArgs {
    /// `--sub`.
    pub sub: String,
    /// `--scope`.
    pub scope: Option<String>,
    /// `--permissions`, comma-separated.
    pub permissions: Vec<String>,
    /// `--claim key=json`, repeatable.
    pub claims: Map<String, Value>,
    /// `--expires-in`, seconds (`None`: the configured lifetime).
    pub expires_in: Option<i64>,
    /// `--aud`.
    pub audience: Option<String>,
    /// `--count`: how many tokens to print, one per line (for load tests).
    pub count: usize,
    /// `--dpop-key FILE`: bind the token to this DPoP key (`cnf.jkt`).
    pub dpop_key: Option<PathBuf>,
}

/// Arguments of `proof`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofArgs {
    /// `--key FILE`: the client's DPoP key (created on first use).
    pub key: PathBuf,
    /// `--url`: the request URL (`htu`).
    pub url: String,
    /// `--method`: the request method (`htm`), default GET.
    pub method: String,
    /// `--token`: the access token, for `ath`.
    pub token: Option<String>,
    /// `--nonce`: the server's `DPoP-Nonce`.
    pub nonce: Option<String>,
}

impl TokenArgs {
    /// The token to mint, with `default_lifetime` when `--expires-in` was not given.
    pub fn spec(&self, default_lifetime: i64) -> TokenSpec {
        TokenSpec {
            sub: Some(self.sub.clone()),
            scope: self.scope.clone(),
            permissions: self.permissions.clone(),
            claims: self.claims.clone(),
            expires_in: self.expires_in.unwrap_or(default_lifetime),
            audience: self.audience.clone(),
        }
    }
}

/// Usage text.
pub const USAGE: &str = "\
usage: auth0-actix-api [COMMAND]

commands:
  serve        serve the API for the Auth0 tenant in AUTH0_DOMAIN / AUTH0_AUDIENCE (default)
  dev          serve the API with a local issuer on loopback and print curl commands to try it
  token        print a token from the local issuer:
                 [--sub ID] [--scope \"a b\"] [--permissions a,b] [--claim key=json]...
                 [--expires-in 15m] [--aud AUDIENCE] [--count N] [--dpop-key FILE]
  proof        print a DPoP proof for one request:
                 --url URL [--method GET] [--token TOKEN] [--nonce NONCE] [--key FILE]
  inspect      decode a token (argument or stdin) and explain every check
  healthcheck  call the local /healthz; exit 0 when healthy, 1 otherwise
  help         print this text";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Serve);
    };
    let no_more = |name: &str| match rest.first() {
        Some(extra) => Err(format!("`{name}` takes no arguments, got {extra:?}")),
        None => Ok(()),
    };
    match command.as_str() {
        "serve" => no_more("serve").map(|_| Command::Serve),
        "dev" => no_more("dev").map(|_| Command::Dev),
        "healthcheck" => no_more("healthcheck").map(|_| Command::Healthcheck),
        "proof" => parse_proof(rest).map(Command::Proof),
        "help" | "--help" | "-h" => Ok(Command::Help),
        "token" => parse_token(rest).map(Command::Token),
        "inspect" => match rest {
            [] => Ok(Command::Inspect { token: None }),
            [token] if !token.starts_with("--") => Ok(Command::Inspect {
                token: Some(token.clone()),
            }),
            _ => Err("`inspect` takes one token (or reads it from stdin)".into()),
        },
        other => Err(format!(
            "unknown command {other:?}; run `help` to list the commands"
        )),
    }
}

fn parse_token(args: &[String]) -> Result<TokenArgs, String> {
    let mut out = TokenArgs {
        sub: "local-dev-user".into(),
        scope: None,
        permissions: Vec::new(),
        claims: Map::new(),
        expires_in: None,
        audience: None,
        count: 1,
        dpop_key: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--sub" => out.sub = value()?,
            "--scope" => out.scope = Some(value()?),
            "--permissions" => {
                out.permissions = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "--claim" => {
                let pair = value()?;
                let (key, json) = pair
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("--claim {pair:?} must be key=json, e.g. --claim 'https://myapp.example.com/roles=[\"admin\"]'"))?;
                // A bare word that is not JSON is taken as a string, so
                // `--claim email=a@b.c` works without shell quoting games.
                let parsed =
                    serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.to_owned()));
                out.claims.insert(key.to_owned(), parsed);
            }
            "--expires-in" => out.expires_in = Some(parse_duration(&value()?)?),
            "--aud" => out.audience = Some(value()?),
            "--dpop-key" => out.dpop_key = Some(PathBuf::from(value()?)),
            "--count" => {
                let text = value()?;
                out.count = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| {
                        format!("--count {text:?} must be a number from 1 to 1000000")
                    })?;
            }
            other => {
                return Err(format!(
                    "unknown flag {other:?} for `token`; run `help` for the flags"
                ))
            }
        }
    }
    Ok(out)
}

/// The default DPoP key file of `token --dpop-key` and `proof`.
pub const DEFAULT_DPOP_KEY: &str = ".dev/dpop-client-key.pem";

fn parse_proof(args: &[String]) -> Result<ProofArgs, String> {
    let mut out = ProofArgs {
        key: PathBuf::from(DEFAULT_DPOP_KEY),
        url: String::new(),
        method: "GET".into(),
        token: None,
        nonce: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--key" => out.key = PathBuf::from(value),
            "--url" => out.url = value,
            "--method" => out.method = value,
            "--token" => out.token = Some(value),
            "--nonce" => out.nonce = Some(value),
            other => {
                return Err(format!(
                    "unknown flag {other:?} for `proof`; run `help` for the flags"
                ))
            }
        }
    }
    if !(out.url.starts_with("http://") || out.url.starts_with("https://")) {
        return Err("`proof` needs --url with the full request URL, e.g. --url http://127.0.0.1:8080/api/private".into());
    }
    Ok(out)
}

/// `90`, `90s`, `15m`, `1h`, `2d`, optionally negative (an expired token).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("--expires-in {text:?} is not a duration; use e.g. 90s, 15m, 1h or 2d");
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (digits, unit) = match body.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => body.split_at(i),
        None => (body, "s"),
    };
    let number: i64 = digits.parse().map_err(|_| bad())?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    number.checked_mul(factor).map(|s| s * sign).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn token_flags_are_read() {
        let Command::Token(t) = parse(&args(&[
            "token",
            "--sub",
            "u1",
            "--scope",
            "read:messages",
            "--permissions",
            "a,b",
            "--claim",
            "https://x/roles=[\"admin\"]",
            "--claim",
            "email=a@b.c",
            "--expires-in",
            "15m",
            "--aud",
            "x",
        ]))
        .unwrap() else {
            panic!("not a token command")
        };
        assert_eq!(t.sub, "u1");
        assert_eq!(t.permissions, vec!["a", "b"]);
        assert_eq!(t.claims["https://x/roles"], serde_json::json!(["admin"]));
        assert_eq!(t.claims["email"], serde_json::json!("a@b.c"));
        assert_eq!(t.expires_in, Some(900));
        assert_eq!(t.audience.as_deref(), Some("x"));
    }

    #[test]
    fn bad_arguments_are_errors() {
        for case in [
            &["token", "--bogus"][..],
            &["token", "--claim", "novalue"],
            &["token", "--claim", "=1"],
            &["token", "--expires-in", "soon"],
            &["token", "--sub"],
            &["dev", "extra"],
            &["frobnicate"],
            &["inspect", "a", "b"],
        ] {
            assert!(parse(&args(case)).is_err(), "{case:?}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("-1h"), Ok(-3600));
        assert!(parse_duration("1y").is_err());
    }
}
