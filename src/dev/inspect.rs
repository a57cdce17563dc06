//! `inspect`: decode a token, show its header and claims with times in human
//! form, then run every check of the configured validator and say, for each
//! failure, what to change. The token itself is never sent anywhere; only
//! the tenant's keys are fetched.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::auth::claims::Claims;
use crate::auth::keys::KeySet;
use crate::auth::token::{decode_segment, CompactJws};
use crate::auth::validator::{unix_now, verify_with, ClaimCheck};
use crate::auth::{Issuers, KeyCache, TokenError, Validator};
use crate::dev::issuer::local_issuer_url;
use crate::dev::issuer::LocalIssuer;
use crate::settings::Settings;

/// Prints the report for `token`; exit 0 only when the API would accept it.
pub fn run(settings: &Settings, token: &str) -> anyhow::Result<ExitCode> {
    let (report, accepted) = report(settings, token)?;
    print!("{report}");
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The report text and whether the token would be accepted. A token that is
/// not a JWT at all is an error (one line), not a report.
pub fn report(settings: &Settings, token: &str) -> anyhow::Result<(String, bool)> {
    let (header, claims) = decode_for_display(token)?;
    let now = unix_now();
    let mut out = String::new();
    let _ = writeln!(out, "Header\n{}", pretty(&header));
    let _ = writeln!(out, "Claims\n{}", pretty(&claims));
    for (name, label) in [("exp", "expires"), ("iat", "issued"), ("nbf", "valid from")] {
        if let Some(t) = claims.get(name).and_then(Value::as_f64) {
            let _ = writeln!(
                out,
                "  {name}: {} ({label} {})",
                t as i64,
                relative(t as i64 - now)
            );
        }
    }

    let (validator, target) = configured_validator(settings)?;
    let policy = validator.policy();
    let _ = writeln!(out, "\nChecks against {target}");
    let _ = writeln!(
        out,
        "  {}, audience {:?}, algorithms {:?}",
        expected_issuers(&validator),
        policy.audiences,
        policy.algorithms
    );
    let mut report = Report {
        out,
        accepted: true,
    };
    check_token(&mut report, &validator, token, now);
    let Report { mut out, accepted } = report;
    let _ = writeln!(
        out,
        "\nResult: {}",
        if accepted {
            "ACCEPTED"
        } else {
            "REJECTED (the API answers 401 invalid_token)"
        }
    );
    Ok((out, accepted))
}

/// The report being written, and whether every check passed so far.
struct Report {
    out: String,
    accepted: bool,
}

impl Report {
    fn check(&mut self, pass: bool, what: &str, detail: String) {
        self.accepted &= pass;
        let _ = writeln!(
            self.out,
            "  [{}] {what}: {detail}",
            if pass { "pass" } else { "FAIL" }
        );
    }

    fn info(&mut self, detail: String) {
        let _ = writeln!(self.out, "  [info] {detail}");
    }
}

fn check_token(report: &mut Report, validator: &Validator, token: &str, now: i64) {
    let policy = validator.policy();
    let Ok(jws) = CompactJws::parse(token) else {
        report.check(false, "structure", "not a strict JWS compact serialisation (padding, bad base64url or a non-object header)".into());
        return;
    };
    report.check(
        true,
        "structure",
        "three base64url parts, JSON header".into(),
    );
    let alg = match validator.check_header(&jws.header) {
        Ok(alg) => {
            report.check(
                true,
                "header",
                format!("alg {alg} is allowed, typ {:?}", jws.header.typ),
            );
            Some(alg)
        }
        Err(e) => {
            report.check(
                false,
                "header",
                header_advice(e, &jws.header.alg, &policy.algorithms),
            );
            None
        }
    };
    let claims = Claims::from_payload(&jws.payload);
    match &claims {
        Ok(claims) => {
            for (check, outcome) in validator.claim_checks(claims, now) {
                if check == ClaimCheck::Profile && !policy.strict_rfc9068 {
                    continue;
                }
                let detail = match outcome {
                    Ok(()) => pass_detail(check, claims),
                    Err(e) => claim_advice(e, claims, validator),
                };
                report.check(outcome.is_ok(), check_name(check), detail);
            }
            report.info(format!(
                "permissions: scope {:?}, permissions {:?}; {}",
                claims.scope,
                claims.permissions,
                if claims.has_permission("read:messages") {
                    "has read:messages for /api/private-scoped"
                } else {
                    "missing read:messages: /api/private-scoped answers 403; request it with scope=read:messages (and assign it to the user or application in the Auth0 Dashboard)"
                }
            ));
            if claims.jkt.is_some() {
                report.info(
                    "the token is DPoP-bound (cnf.jkt): send it with the DPoP scheme and a proof"
                        .into(),
                );
            }
        }
        Err(e) => report.check(
            false,
            "claims",
            format!(
                "{}; every registered claim must have its RFC 7519 type",
                e.description()
            ),
        ),
    }
    let Some(alg) = alg else { return };
    // The keys of the issuer the token names, as the API picks them; with
    // one issuer, its keys whatever the token says, to tell more than the
    // issuer check already did. Another issuer's keys are never fetched.
    let issuers = validator.issuers();
    let keys = claims
        .as_ref()
        .ok()
        .and_then(|c| issuers.get(&c.iss))
        .or_else(|| (issuers.len() == 1).then(|| issuers.first().1));
    match keys.map(|keys| signature_check(keys, &jws, alg)) {
        Some(Ok(detail)) => report.check(true, "signature", detail),
        Some(Err(detail)) => report.check(false, "signature", detail),
        None => report.info(
            "signature not checked: the token names none of the configured issuers, so no key set applies"
                .into(),
        ),
    }
}

/// `issuer "..."`, or `issuers [...]` when several are configured.
fn expected_issuers(validator: &Validator) -> String {
    let issuers: Vec<&str> = validator.issuers().iter().map(|(i, _)| i).collect();
    match issuers.as_slice() {
        [one] => format!("issuer {one:?}"),
        several => format!("issuers {several:?}"),
    }
}

fn decode_for_display(token: &str) -> anyhow::Result<(Value, Value)> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        anyhow::bail!(
            "not a JWT: expected three dot-separated parts, found {}",
            parts.len()
        );
    }
    let json = |part: &str, what: &str| -> anyhow::Result<Value> {
        let bytes = decode_segment(part)
            .map_err(|_| anyhow::anyhow!("not a JWT: the {what} is not base64url"))?;
        serde_json::from_slice(&bytes).with_context(|| format!("not a JWT: the {what} is not JSON"))
    };
    Ok((json(parts[0], "header")?, json(parts[1], "payload")?))
}

fn configured_validator(settings: &Settings) -> anyhow::Result<(Validator, String)> {
    if let (Ok(issuers), Ok(audiences)) = (settings.tenant_issuers(), settings.tenant_audiences()) {
        let target = match issuers.as_slice() {
            [one] => format!("the Auth0 tenant {one}"),
            several => format!("the issuers {}", several.join(", ")),
        };
        let policies = issuers
            .iter()
            .map(|issuer| settings.key_cache_policy(issuer))
            .collect::<Result<Vec<_>, _>>()?;
        let issuers = Issuers::start(policies)?;
        let policy = settings.validation_policy(issuers.first().0, audiences)?;
        return Ok((Validator::with_issuers(policy, issuers), target));
    }
    // The local issuer's key is read from its file, so no dev server needs
    // to be running.
    let issuer_url = local_issuer_url(&settings.application.host, settings.application.port);
    let local = LocalIssuer::load_or_create(
        &settings.dev.key_file,
        issuer_url.clone(),
        settings.dev.audience.clone(),
    )?;
    let (set, _) = KeySet::from_jwks(local.jwks().to_string().as_bytes(), &settings.algorithms()?)
        .map_err(|e| anyhow::anyhow!("the local issuer's key is unusable: {e}"))?;
    let keys = KeyCache::with_keys(settings.key_cache_policy(&issuer_url)?, set);
    let validator = Validator::new(
        settings.validation_policy(&issuer_url, vec![settings.dev.audience.clone()])?,
        keys,
    );
    Ok((
        validator,
        format!("the local issuer {issuer_url} (no AUTH0_DOMAIN/AUTH0_AUDIENCE set)"),
    ))
}

fn signature_check(
    cache: &KeyCache,
    jws: &CompactJws<'_>,
    alg: crate::auth::Algorithm,
) -> Result<String, String> {
    let set = actix_web::rt::System::new()
        .block_on(cache.load())
        .map_err(|_| {
            let why = cache.readiness().last_error.unwrap_or_default();
            format!("cannot fetch the tenant's keys to check it: {why}")
        })?;
    let kid = jws.header.kid.as_deref().unwrap_or("(none)");
    match verify_with(&set, jws, alg) {
        Ok(()) => Ok(format!("verified with key {kid}")),
        Err(TokenError::UnknownKey) => Err(format!(
            "no key with kid {kid} and alg {alg} in the issuer's key set: the token comes from another issuer or tenant, or its key was retired"
        )),
        Err(_) => Err(format!(
            "does not verify with key {kid}: the token was altered or signed with another key"
        )),
    }
}

fn check_name(check: ClaimCheck) -> &'static str {
    match check {
        ClaimCheck::Issuer => "issuer",
        ClaimCheck::Audience => "audience",
        ClaimCheck::Expiry => "expiry",
        ClaimCheck::NotBefore => "not before",
        ClaimCheck::IssuedAt => "issued at",
        ClaimCheck::Profile => "RFC 9068 profile",
    }
}

fn pass_detail(check: ClaimCheck, claims: &Claims) -> String {
    let now = unix_now();
    match check {
        ClaimCheck::Issuer => format!("{:?}", claims.iss),
        ClaimCheck::Audience => format!("{:?}", claims.aud),
        ClaimCheck::Expiry => format!("expires {}", relative(claims.exp - now)),
        ClaimCheck::NotBefore => claims.nbf.map_or("no nbf".into(), |n| {
            format!("valid from {}", relative(n - now))
        }),
        ClaimCheck::IssuedAt => format!("issued {}", relative(claims.iat - now)),
        ClaimCheck::Profile => "sub, client_id and jti present".into(),
    }
}

fn claim_advice(error: TokenError, claims: &Claims, validator: &Validator) -> String {
    let policy = validator.policy();
    let now = unix_now();
    match error {
        TokenError::WrongIssuer => {
            let slashed = format!("{}/", claims.iss);
            let hint = if validator.issuers().get(&slashed).is_some() {
                " (the token's issuer lacks the trailing slash)"
            } else {
                ""
            };
            let expected = match validator.issuers().len() {
                1 => format!("{:?}", policy.issuer),
                _ => {
                    let all: Vec<&str> = validator.issuers().iter().map(|(i, _)| i).collect();
                    format!("one of {all:?}")
                }
            };
            format!(
                "the token says {:?}, the API expects {expected}{hint}; get the token from that tenant or fix AUTH0_DOMAIN",
                claims.iss
            )
        }
        TokenError::WrongAudience => format!(
            "the token says {:?}, the API expects {:?}; request the token with audience={}",
            claims.aud,
            policy.audiences,
            policy
                .audiences
                .first()
                .map(String::as_str)
                .unwrap_or_default()
        ),
        TokenError::Expired => format!("expired {}; get a new token", relative(claims.exp - now)),
        TokenError::NotYetValid => format!(
            "not valid until {}; check this machine's clock",
            relative(claims.nbf.unwrap_or(now) - now)
        ),
        TokenError::IssuedInFuture => format!(
            "issued {}; check this machine's clock",
            relative(claims.iat - now)
        ),
        other => other.description().into_owned(),
    }
}

fn header_advice(error: TokenError, alg: &str, allowed: &[crate::auth::Algorithm]) -> String {
    match error {
        TokenError::UnsupportedAlgorithm => format!(
            "alg {alg:?} is not allowed (allowed: {allowed:?}); in the Auth0 Dashboard use RS256 as the API's signing algorithm"
        ),
        other => other.description().into_owned(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `in 12 min` / `3 min ago`, from a difference in seconds.
pub fn relative(delta: i64) -> String {
    let span = delta.unsigned_abs();
    let amount = match span {
        0..=119 => format!("{span} s"),
        120..=7199 => format!("{} min", span / 60),
        7200..=172_799 => format!("{} h", span / 3600),
        _ => format!("{} days", span / 86_400),
    };
    if delta >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}
