//! The OpenAPI 3.1 document served at `/openapi.json`, built at start-up
//! from the route table ([`crate::routes::ROUTES`]) and the handlers'
//! `#[utoipa::path]` attributes, so it cannot drift from what is served.
//!
//! The handlers document their success responses; everything that follows
//! from a route's [`Access`] is added here, the same way for every route:
//! the security requirement naming its permissions, the optional `DPoP`
//! header, and the error answers of the auth middleware (RFC 6750 §3,
//! RFC 9449 §7) with their `{"error", "error_description"}` body.
//!
//! It says nothing the routes themselves do not: no server URL, issuer,
//! audience or setting. In dev mode only, it says how to mint a token.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::auth::DpopMode;
use crate::routes::health::{Health, IssuerReadiness, NotReady, Ready};
use crate::routes::messages::{Notice, Profile, UserMessage};
use crate::routes::{Access, Documented, Route};

/// Name of the `http` `bearer` security scheme (RFC 6750).
pub const BEARER: &str = "bearer";
/// Name of the `http` `DPoP` security scheme (RFC 9449).
pub const DPOP: &str = "dpop";

/// What the document depends on besides the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentOptions {
    /// Which authorization schemes the API accepts.
    pub dpop: DpopMode,
    /// Whether 401 answers may carry a `DPoP-Nonce` (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// In dev mode, the port the local issuer's tokens name, so the page
    /// can say how to mint one; `None` against a real tenant.
    pub dev_port: Option<u16>,
}

/// The parts written once: info, tags and the handlers' body schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth0-actix-api",
        description = "An API protected by Auth0 access tokens (JWT), modelled on Auth0's FastAPI quickstart.\n\nSend a token as `Authorization: Bearer <token>`, or bound to a key as `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449). A refusal answers `{\"error\", \"error_description\"}` with the reason in `WWW-Authenticate`."
    ),
    components(schemas(Notice, UserMessage, Profile, Health, Ready, NotReady, IssuerReadiness)),
    tags(
        (name = "messages", description = "The quickstart's endpoints"),
        (name = "operations", description = "Probes and metrics for the platform")
    )
)]
struct Base;

/// The error codes each error status can carry, as `AuthError::code` gives
/// them; a test in this module checks every `AuthError` against this table.
pub const ERROR_CODES: [(u16, &str, &[&str]); 4] = [
    (400, "InvalidRequestError", &["invalid_request"]),
    (
        401,
        "UnauthorizedError",
        &[
            "unauthorized",
            "invalid_token",
            "invalid_dpop_proof",
            "use_dpop_nonce",
        ],
    ),
    (403, "InsufficientScopeError", &["insufficient_scope"]),
    (503, "UnavailableError", &["temporarily_unavailable"]),
];

/// Builds the document for `routes`, plus `extra` operations that are
/// public and mounted elsewhere (`/metrics` when it shares the API's port).
pub fn document(
    routes: &[Route],
    extra: &[Documented],
    options: &DocumentOptions,
) -> Result<Value, serde_json::Error> {
    let mut doc = serde_json::to_value(Base::openapi())?;
    let mut paths = Map::new();
    let entries = routes
        .iter()
        .map(|r| ((r.doc)(), r.access))
        .chain(extra.iter().map(|d| (d.clone(), Access::Public)));
    for (documented, access) in entries {
        let mut operation = serde_json::to_value(&documented.operation)?;
        secure(&mut operation, access, options);
        let item = paths
            .entry(documented.path)
            .or_insert_with(|| Value::Object(Map::new()));
        for method in &documented.methods {
            item[method_name(method)] = operation.clone();
        }
    }
    doc["paths"] = Value::Object(paths);
    // utoipa's version field would be the crate's; the API's is the binary's.
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    if let Some(port) = options.dev_port {
        if let Some(Value::String(text)) = doc["info"].get_mut("description") {
            text.push_str(&dev_hint(port));
        }
    }
    let components = &mut doc["components"];
    for (status, name, codes) in ERROR_CODES {
        components["schemas"][name] = error_schema(status, codes);
    }
    components["securitySchemes"] = security_schemes(options);
    Ok(doc)
}

/// Adds what `access` implies to `operation`: who may call it, the `DPoP`
/// header, and the auth middleware's error answers.
fn secure(operation: &mut Value, access: Access, options: &DocumentOptions) {
    let permissions: &[&str] = match access {
        Access::Public => return,
        Access::Token => &[],
        Access::Permissions(permissions) => permissions,
    };
    // One requirement per accepted scheme: either one will do. OpenAPI 3.1
    // lets non-OAuth schemes list the roles they need, here the permissions.
    operation["security"] = schemes(options.dpop)
        .iter()
        .map(|scheme| json!({ *scheme: permissions }))
        .collect();
    if options.dpop.accepts_dpop() {
        operation["parameters"] = json!([{
            "name": "DPoP",
            "in": "header",
            "required": false,
            "description": "A DPoP proof for this request (RFC 9449 §4), with `Authorization: DPoP`.",
            // A JWS in compact serialisation (RFC 7515 §7.1).
            "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" }
        }]);
    }
    let responses = &mut operation["responses"];
    let challenge = json!({
        "description": "The challenge: the accepted schemes and, after an error, its code (RFC 6750 §3, RFC 9449 §7.1)",
        "required": true,
        "schema": { "type": "string" }
    });
    responses["400"] = error_response(
        "Malformed request: e.g. a scheme with no token, or two Authorization headers",
        "InvalidRequestError",
        json!({ "WWW-Authenticate": challenge }),
    );
    let mut unauthorized_headers = json!({ "WWW-Authenticate": challenge });
    if options.dpop_nonce {
        unauthorized_headers["DPoP-Nonce"] = json!({
            "description": "The nonce to put in the next DPoP proof (RFC 9449 §8)",
            "schema": { "type": "string" }
        });
    }
    responses["401"] = error_response(
        "No token, or a token or DPoP proof that is not valid",
        "UnauthorizedError",
        unauthorized_headers,
    );
    if !permissions.is_empty() {
        responses["403"] = error_response(
            &format!(
                "The token lacks a permission: needs {}",
                permissions.join(" ")
            ),
            "InsufficientScopeError",
            json!({ "WWW-Authenticate": challenge }),
        );
    }
    responses["503"] = error_response(
        "Tokens or DPoP proofs cannot be checked right now (signing keys or the replay store unavailable); retry later",
        "UnavailableError",
        json!({ "Retry-After": {
            "description": "Seconds to wait before retrying",
            "required": true,
            "schema": { "type": "string", "pattern": "^[0-9]+$" }
        }}),
    );
}

fn error_response(description: &str, schema: &str, headers: Value) -> Value {
    json!({
        "description": description,
        "headers": headers,
        "content": { "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{schema}") }
        }}
    })
}

fn error_schema(status: u16, codes: &[&str]) -> Value {
    json!({
        "description": format!("The body of a {status} answer"),
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {
                "description": "The error code (RFC 6750 §3.1, RFC 9449 §7.1 and §9)",
                "type": "string",
                "enum": codes
            },
            "error_description": {
                "description": "Why, in a short sentence; never the token",
                "type": "string"
            }
        }
    })
}

/// The schemes `mode` accepts, by name.
fn schemes(mode: DpopMode) -> Vec<&'static str> {
    let mut schemes = Vec::new();
    if mode.accepts_bearer() {
        schemes.push(BEARER);
    }
    if mode.accepts_dpop() {
        schemes.push(DPOP);
    }
    schemes
}

fn security_schemes(options: &DocumentOptions) -> Value {
    let mut out = Map::new();
    for scheme in schemes(options.dpop) {
        let value = if scheme == BEARER {
            let mut description = String::from(
                "An access token (JWT) in `Authorization: Bearer <token>` (RFC 6750).",
            );
            if let Some(port) = options.dev_port {
                description.push_str(&format!(
                    " Dev mode: paste the output of `{}`.",
                    token_command(port)
                ));
            }
            json!({
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": description
            })
        } else {
            // utoipa's scheme enum predates RFC 9449, which registers `DPoP`
            // in the HTTP Authentication Scheme registry, hence plain JSON.
            json!({
                "type": "http",
                "scheme": "DPoP",
                // No `bearerFormat`: OpenAPI allows it on `bearer` only.
                "description": "A DPoP-bound access token (JWT) in `Authorization: DPoP <token>`, with a proof of possession of its key in the `DPoP` header, made afresh for each request (RFC 9449)."
            })
        };
        out.insert(scheme.to_owned(), value);
    }
    Value::Object(out)
}

/// The command that mints a token the dev server on `port` accepts.
fn token_command(port: u16) -> String {
    format!("PORT={port} cargo run -q -- token --scope read:messages")
}

fn dev_hint(port: u16) -> String {
    format!(
        "\n\n**Dev mode.** Mint a token with `{}` (run it with the same settings as the server), click **Authorize**, paste it as the bearer token, then use **Try it out** on any route. Leave out `--scope` to see a 403 from `/api/private-scoped`.",
        token_command(port)
    )
}

fn method_name(method: &utoipa::openapi::path::HttpMethod) -> &'static str {
    use utoipa::openapi::path::HttpMethod;
    match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Delete => "delete",
        HttpMethod::Options => "options",
        HttpMethod::Head => "head",
        HttpMethod::Patch => "patch",
        HttpMethod::Trace => "trace",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::ResponseError;

    use super::*;
    use crate::auth::error::{ProofError, TokenError};
    use crate::auth::scheme::{Challenge, Scheme};
    use crate::auth::AuthError;
    use crate::routes::ROUTES;

    fn options() -> DocumentOptions {
        DocumentOptions {
            dpop: DpopMode::Optional,
            dpop_nonce: false,
            dev_port: None,
        }
    }

    /// One of each `AuthError` variant. The match makes a new variant a
    /// compile error here until it is added, and so documented.
    fn every_auth_error() -> Vec<AuthError> {
        let challenge = Challenge::new(Arc::from("api"), Scheme::Bearer);
        let all = vec![
            AuthError::MissingCredentials {
                challenge: challenge.clone(),
            },
            AuthError::InvalidRequest {
                reason: "bad",
                challenge: challenge.clone(),
            },
            AuthError::InvalidToken {
                reason: TokenError::Expired,
                challenge: challenge.clone(),
            },
            AuthError::InvalidProof {
                reason: ProofError::Replayed,
                challenge: challenge.clone(),
            },
            AuthError::UseDpopNonce {
                nonce: "n".into(),
                challenge: challenge.clone(),
            },
            AuthError::InsufficientScope {
                required: Arc::from("read:messages"),
                needs: Arc::from("read:messages"),
                challenge: challenge.clone(),
            },
            AuthError::ClaimCheckFailed {
                check: crate::auth::ClaimCheck::Roles,
                claim: Arc::from("https://example.com/roles"),
                mismatch: crate::auth::ClaimMismatch::Value,
                challenge: challenge.clone(),
            },
            AuthError::KeysUnavailable {
                retry_after_secs: 1,
                challenge: challenge.clone(),
            },
            AuthError::ReplayStoreUnavailable {
                reason: crate::auth::ReplayStoreError::Unavailable,
                retry_after_secs: 1,
                challenge,
            },
        ];
        for error in &all {
            match error {
                AuthError::MissingCredentials { .. }
                | AuthError::InvalidRequest { .. }
                | AuthError::InvalidToken { .. }
                | AuthError::InvalidProof { .. }
                | AuthError::UseDpopNonce { .. }
                | AuthError::InsufficientScope { .. }
                | AuthError::ClaimCheckFailed { .. }
                | AuthError::KeysUnavailable { .. }
                | AuthError::ReplayStoreUnavailable { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_auth_error_is_documented_under_its_status() {
        for error in every_auth_error() {
            let status = error.status_code().as_u16();
            let documented = ERROR_CODES
                .iter()
                .find(|(s, _, _)| *s == status)
                .map(|(_, _, codes)| *codes)
                .unwrap_or_default();
            assert!(
                documented.contains(&error.code()),
                "{} answers {status}, whose documented codes are {documented:?}",
                error.code()
            );
        }
    }

    #[test]
    fn the_scoped_route_requires_its_permission_under_each_scheme() {
        let doc = document(ROUTES, &[], &options()).unwrap();
        assert_eq!(
            doc["paths"]["/api/private-scoped"]["get"]["security"],
            json!([{ "bearer": ["read:messages"] }, { "dpop": ["read:messages"] }]),
            "both schemes, naming the permission"
        );
        assert_eq!(
            doc["paths"]["/api/private"]["get"]["security"],
            json!([{ "bearer": [] }, { "dpop": [] }]),
            "a token, no permission"
        );
        assert!(
            doc["paths"]["/api/public"]["get"].get("security").is_none(),
            "public needs nothing"
        );
        let responses = |path: &str| {
            let mut codes: Vec<String> = doc["paths"][path]["get"]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            codes.sort();
            codes
        };
        assert_eq!(
            responses("/api/private-scoped"),
            ["200", "400", "401", "403", "503"]
        );
        assert_eq!(responses("/api/private"), ["200", "400", "401", "503"]);
        assert_eq!(responses("/api/public"), ["200"]);
    }

    #[test]
    fn security_schemes_follow_the_dpop_mode() {
        for (mode, expected) in [
            (DpopMode::Disabled, vec!["bearer"]),
            (DpopMode::Optional, vec!["bearer", "dpop"]),
            (DpopMode::Required, vec!["dpop"]),
        ] {
            let doc = document(
                ROUTES,
                &[],
                &DocumentOptions {
                    dpop: mode,
                    ..options()
                },
            )
            .unwrap();
            let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
            let names: Vec<&str> = schemes.keys().map(String::as_str).collect();
            assert_eq!(names, expected, "{mode:?}");
            let has_dpop_header = doc["paths"]["/api/private"]["get"]
                .get("parameters")
                .is_some();
            assert_eq!(has_dpop_header, mode.accepts_dpop(), "{mode:?}");
        }
        let doc = document(ROUTES, &[], &options()).unwrap();
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"],
            json!({
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An access token (JWT) in `Authorization: Bearer <token>` (RFC 6750)."
            })
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["dpop"]["scheme"],
            "DPoP"
        );
    }

    #[test]
    fn only_dev_mode_says_how_to_mint_a_token() {
        let tenant = document(ROUTES, &[], &options()).unwrap().to_string();
        assert!(!tenant.contains("cargo run"), "{tenant}");
        let dev = document(
            ROUTES,
            &[],
            &DocumentOptions {
                dev_port: Some(4321),
                ..options()
            },
        )
        .unwrap();
        let description = dev["info"]["description"].as_str().unwrap();
        assert!(
            description.contains("PORT=4321 cargo run -q -- token --scope read:messages"),
            "{description}"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document(ROUTES, &[], &options()).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let pointer = reference.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{reference} resolves");
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
