//! Property tests of the pure parsers, where they are cheaper than fuzzing:
//! the `Authorization`/`DPoP` header grammar (RFC 6750 §2.1, RFC 9449 §7.1),
//! `htu` normalisation (RFC 9449 §4.3 check 9, RFC 3986 §6.2.2) and scope
//! strings (RFC 6749 §3.3, RFC 8693 §4.2). Case counts are bounded so the
//! whole file runs in a few seconds.

use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use auth0_actix_api::auth::dpop::htu::normalize;
use auth0_actix_api::auth::scheme::{parse_credentials, HeaderError, Scheme, DPOP};
use auth0_actix_api::auth::{Claims, DpopMode, RequireScopes, Requirement, TokenError};
use proptest::prelude::*;
use serde_json::{json, Value};

const MODES: [DpopMode; 3] = [DpopMode::Disabled, DpopMode::Optional, DpopMode::Required];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Bytes a header value may hold (RFC 9110 §5.5: field-vchar, SP, HTAB and
/// obs-text); anything else never reaches the parser.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
        0..max,
    )
}

/// A token: base64url characters and dots, never empty (RFC 6750 §2.1's
/// `b64token` minus the characters JWS never uses).
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,80}"
}

/// `name` with each letter's case chosen by `mask`.
fn recase(name: &str, mask: u8) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask & (1 << (i % 8)) != 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn headers(authorization: &[&[u8]], proofs: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in authorization {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(AUTHORIZATION, value);
        }
    }
    for value in proofs {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(DPOP, value);
        }
    }
    map
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_header_parser_never_panics(
        authorization in prop::collection::vec(header_bytes(96), 0..3),
        proofs in prop::collection::vec(header_bytes(48), 0..3),
        query in ".{0,40}",
        mode in 0..3usize,
    ) {
        let authorization: Vec<&[u8]> = authorization.iter().map(Vec::as_slice).collect();
        let proofs: Vec<&[u8]> = proofs.iter().map(Vec::as_slice).collect();
        let map = headers(&authorization, &proofs);
        if let Ok(credentials) = parse_credentials(&map, &query, MODES[mode]) {
            // Whatever passes is one non-empty token without blanks.
            prop_assert!(!credentials.token.is_empty());
            prop_assert!(!credentials.token.contains([' ', '\t']));
        }
    }

    #[test]
    fn a_well_formed_header_round_trips_whatever_the_scheme_case_and_spacing(
        token in token(),
        dpop in any::<bool>(),
        mask in any::<u8>(),
        spaces in 1..6usize,
        lead in "[ \t]{0,3}",
        trail in "[ \t]{0,3}",
    ) {
        // RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §2.1: 1*SP.
        let (name, scheme) = if dpop { ("dpop", Scheme::DPoP) } else { ("bearer", Scheme::Bearer) };
        let value = format!("{lead}{}{}{token}{trail}", recase(name, mask), " ".repeat(spaces));
        let proof: &[&[u8]] = if dpop { &[b"a.b.c"] } else { &[] };
        let map = headers(&[value.as_bytes()], proof);
        let credentials = parse_credentials(&map, "", DpopMode::Optional);
        prop_assert!(credentials.is_ok(), "{value:?} gave {credentials:?}");
        let credentials = credentials.unwrap();
        prop_assert_eq!(credentials.scheme, scheme);
        prop_assert_eq!(&credentials.token, &token);
        prop_assert_eq!(credentials.proof.as_deref(), dpop.then_some("a.b.c"));
    }

    #[test]
    fn a_token_with_a_blank_inside_is_never_accepted(
        before in token(),
        blanks in "[ \t]{1,3}",
        after in token(),
        dpop in any::<bool>(),
    ) {
        let name = if dpop { "DPoP" } else { "Bearer" };
        let value = format!("{name} {before}{blanks}{after}");
        let proof: &[&[u8]] = if dpop { &[b"a.b.c"] } else { &[] };
        for mode in MODES {
            let got = parse_credentials(&headers(&[value.as_bytes()], proof), "", mode);
            prop_assert!(
                matches!(got, Err(HeaderError::Malformed { .. } | HeaderError::Missing)),
                "{value:?} in {mode:?} gave {got:?}"
            );
        }
    }

    #[test]
    fn other_schemes_count_as_missing_credentials(
        name in "[A-Za-z][A-Za-z0-9-]{0,10}",
        token in token(),
    ) {
        prop_assume!(!name.eq_ignore_ascii_case("bearer") && !name.eq_ignore_ascii_case("dpop"));
        let value = format!("{name} {token}");
        for mode in MODES {
            let got = parse_credentials(&headers(&[value.as_bytes()], &[]), "", mode);
            prop_assert_eq!(got, Err(HeaderError::Missing), "{} in {:?}", value, mode);
        }
    }

    #[test]
    fn only_the_schemes_of_the_mode_exist(token in token(), mask in any::<u8>()) {
        let bearer = format!("{} {token}", recase("bearer", mask));
        let dpop = format!("{} {token}", recase("dpop", mask));
        let required = parse_credentials(&headers(&[bearer.as_bytes()], &[]), "", DpopMode::Required);
        prop_assert_eq!(required, Err(HeaderError::Missing));
        let disabled = parse_credentials(&headers(&[dpop.as_bytes()], &[b"a.b.c"]), "", DpopMode::Disabled);
        prop_assert_eq!(disabled, Err(HeaderError::Missing));
    }

    #[test]
    fn htu_normalisation_never_panics_and_is_idempotent(url in url_like()) {
        if let Some(normal) = normalize(&url) {
            prop_assert_eq!(normalize(&normal), Some(normal.clone()), "from {:?}", url);
        }
    }

    #[test]
    fn normal_htus_have_no_query_fragment_or_default_port(
        https in any::<bool>(),
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,2}",
        path in "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,8}){0,4}",
        query in "[A-Za-z0-9=&]{0,10}",
        fragment in "[A-Za-z0-9]{0,10}",
    ) {
        let scheme = if https { "https" } else { "http" };
        let url = format!("{scheme}://{host}{path}?{query}#{fragment}");
        if let Some(normal) = normalize(&url) {
            prop_assert!(!normal.contains(['?', '#']), "{url:?} gave {normal:?}");
            prop_assert!(normal.starts_with(&format!("{scheme}://{host}/")), "{url:?} gave {normal:?}");
            prop_assert_eq!(normalize(&normal), Some(normal.clone()));
        }
    }

    #[test]
    fn htu_comparison_ignores_scheme_and_host_case_default_ports_and_escaped_unreserved_characters(
        https in any::<bool>(),
        host in "[a-z][a-z0-9-]{0,10}\\.example",
        segments in prop::collection::vec("[A-Za-z0-9_~-]{1,8}", 0..4),
        mask in any::<u8>(),
        escape in any::<u8>(),
    ) {
        // RFC 3986 §6.2.2.1 (case) and §6.2.2.2 (percent-encoding), §6.2.3 (port).
        let scheme = if https { "https" } else { "http" };
        let port = if https { 443 } else { 80 };
        let path: String = segments.iter().map(|s| format!("/{s}")).collect();
        let plain = format!("{scheme}://{host}{path}");
        // The same URL with the default port, its scheme and host in other
        // cases, and some unreserved characters percent-encoded.
        let escaped: String = path
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if c != '/' && escape & (1 << (i % 8)) != 0 {
                    format!("%{:02x}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect();
        let variant = format!("{}://{}:{port}{escaped}", recase(scheme, mask), recase(&host, !mask));
        prop_assert_eq!(normalize(&variant), normalize(&plain), "{} vs {}", variant, plain);
        prop_assert!(normalize(&plain).is_some());
    }

    #[test]
    fn the_claims_reader_never_panics_on_any_payload(payload in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Claims::from_payload(&payload);
    }

    #[test]
    fn the_claims_reader_never_panics_on_any_scope_value(scope in json_value()) {
        let mut payload = base_claims();
        payload["scope"] = scope.clone();
        let strings = scope
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string));
        match (Claims::from_payload(payload.to_string().as_bytes()), &scope) {
            // A string is split on spaces, and no piece is empty.
            (Ok(claims), Value::String(text)) => prop_assert_eq!(
                claims.scope,
                text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>()
            ),
            // An array of strings is taken as it is.
            (Ok(claims), _) => {
                prop_assert!(strings, "{} was read as a scope", scope);
                prop_assert_eq!(json!(claims.scope), scope);
            }
            // Anything else is a scope of the wrong type: 401, never a panic.
            (Err(error), _) => {
                prop_assert!(!scope.is_string() && !strings, "{} was refused", scope);
                prop_assert_eq!(error, TokenError::InvalidClaim("scope"));
            }
        }
    }

    #[test]
    fn a_scope_string_splits_into_its_tokens_whatever_the_spacing(
        tokens in prop::collection::vec(scope_token(), 0..6),
        gaps in prop::collection::vec(1..4usize, 6),
        as_array in any::<bool>(),
    ) {
        // RFC 6749 §3.3: scope = scope-token *( SP scope-token ).
        let value = if as_array {
            json!(tokens)
        } else {
            let mut text = " ".repeat(gaps[5] - 1);
            for (i, token) in tokens.iter().enumerate() {
                text.push_str(token);
                text.push_str(&" ".repeat(gaps[i]));
            }
            json!(text)
        };
        let mut payload = base_claims();
        payload["scope"] = value;
        let claims = Claims::from_payload(payload.to_string().as_bytes());
        prop_assert!(claims.is_ok(), "{payload}");
        let claims = claims.unwrap();
        prop_assert_eq!(&claims.scope, &tokens);
        for token in &tokens {
            prop_assert!(claims.has_permission(token));
        }
        if !tokens.is_empty() {
            // A route needing exactly these permissions, in any order, is satisfied.
            let mut reversed = tokens.clone();
            reversed.reverse();
            let requirement = RequireScopes::try_all(reversed.clone());
            prop_assert!(requirement.is_ok());
            let requirement = requirement.unwrap();
            prop_assert!(requirement.is_satisfied_by(&claims));
            // The challenge's scope lists each permission once, in the order written.
            let mut once: Vec<&str> = Vec::new();
            for token in &reversed {
                if !once.contains(&token.as_str()) {
                    once.push(token);
                }
            }
            prop_assert_eq!(requirement.scope().split(' ').collect::<Vec<_>>(), once);
        }
    }

    #[test]
    fn a_nested_scope_guard_holds_as_its_structure_says_and_its_scope_always_suffices(
        requirement in requirement_tree(),
        granted in prop::collection::btree_set("[a-f]", 0..6),
    ) {
        let guard = RequireScopes::try_new(requirement.clone());
        prop_assert!(guard.is_ok(), "{:?}", requirement);
        let guard = guard.unwrap();
        let with_scope = |scope: &str| {
            let mut payload = base_claims();
            payload["scope"] = json!(scope);
            Claims::from_payload(payload.to_string().as_bytes()).unwrap()
        };
        let granted: Vec<String> = granted.into_iter().collect();
        prop_assert_eq!(
            guard.is_satisfied_by(&with_scope(&granted.join(" "))),
            holds(&requirement, &granted),
            "{:?} with {:?}", requirement, granted
        );
        // RFC 6750 §3: the challenge's scope is what would have sufficed.
        prop_assert!(guard.is_satisfied_by(&with_scope(guard.scope())), "{:?}", requirement);
    }

    #[test]
    fn a_permission_with_a_blank_is_never_a_requirement(
        before in scope_token(),
        blank in "[ \t]",
        after in scope_token(),
    ) {
        let permission = format!("{before}{blank}{after}");
        prop_assert!(RequireScopes::try_all([permission.clone()]).is_err());
        prop_assert!(RequireScopes::try_any([permission]).is_err());
    }
}

/// Nested all-of / any-of requirements over a few permissions, no group empty.
fn requirement_tree() -> impl Strategy<Value = Requirement> {
    let leaf = "[a-f]".prop_map(Requirement::One);
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Requirement::All),
            prop::collection::vec(inner, 1..4).prop_map(Requirement::Any),
        ]
    })
}

/// What a requirement means, written out independently of the guard.
fn holds(requirement: &Requirement, granted: &[String]) -> bool {
    match requirement {
        Requirement::One(name) => granted.contains(name),
        Requirement::All(group) => group.iter().all(|r| holds(r, granted)),
        Requirement::Any(group) => group.iter().any(|r| holds(r, granted)),
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,12}"
}

/// The registered claims a payload needs, without `scope`.
fn base_claims() -> Value {
    json!({"iss": "https://t/", "aud": "api", "exp": 2_000_000_000, "iat": 1_000_000_000})
}

/// Small JSON values of every type, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        "[ a-z:]{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings that often are URLs, and often almost are: schemes in any case,
/// user information, IP literals, ports, escapes, dot segments and
/// backslashes, as well as any text at all.
fn url_like() -> impl Strategy<Value = String> {
    let structured = (
        prop_oneof![8 => "(https?|HTTPS?|hTtP)", 1 => "(ftp|mailto|)"],
        prop_oneof![8 => Just("://".to_owned()), 1 => "(:/|//|:)"],
        prop_oneof![6 => Just(String::new()), 1 => "[a-z]{1,4}(:[a-z]{0,3})?@"],
        "([A-Za-z0-9-]{1,8}(\\.[A-Za-z0-9-]{1,8}){0,2}|\\[::1\\]|127\\.0\\.0\\.1|%41|xn--[a-z]{1,6}|)",
        prop_oneof![3 => Just(String::new()), 2 => "(:[0-9]{0,4})", 1 => "(:[0-9]{5,6})"],
        prop::collection::vec("[/\\\\]([A-Za-z0-9._~-]|%[0-9a-fA-F]{2}|%|\\.\\.|\\.|%2[eE]|[ !$&'()*+,;=:@|{}^`\\[\\]\"<>])*", 0..5),
        "(\\?[ -~]{0,8})?(#[ -~]{0,8})?",
    )
        .prop_map(|(scheme, sep, user, host, port, path, rest)| {
            format!("{scheme}{sep}{user}{host}{port}{}{rest}", path.concat())
        });
    prop_oneof![3 => structured, 1 => "\\PC{0,40}"]
}
