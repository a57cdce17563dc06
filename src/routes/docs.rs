//! `GET /openapi.json` and `GET /docs`: the OpenAPI document and Swagger UI.
//!
//! Swagger UI's files come from the `utoipa-swagger-ui` crate, which builds
//! them into the binary (from its `vendored` companion crate, so building
//! needs no network beyond crates.io). Everything is rendered once at
//! start-up; a request only looks a file up. The pages run under a strict
//! Content-Security-Policy: scripts, styles and requests from this origin
//! only, so the page cannot send a pasted token anywhere else.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, HttpResponseBuilder};
use anyhow::Context;
use serde_json::Value;
use utoipa_swagger_ui::Config;

/// The policy of the Swagger UI pages. Swagger UI needs `data:` images (the
/// icons in its stylesheet) and nothing from elsewhere; `connect-src 'self'`
/// keeps "Try it out" (and the token it carries) on this origin.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The Swagger UI files served, by name under `/docs/`. The crate ships a
/// few more (other bundles, the OAuth2 redirect page) that this page does
/// not use; those are not served.
const FILES: [&str; 8] = [
    "index.html",
    "index.css",
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-initializer.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
];

/// One file, ready to send.
#[derive(Debug, Clone)]
struct File {
    bytes: Bytes,
    content_type: HeaderValue,
}

/// The document and the Swagger UI files, rendered once at start-up and
/// shared by every worker.
#[derive(Debug)]
pub struct Docs {
    openapi: Bytes,
    files: HashMap<&'static str, File>,
}

impl Docs {
    /// Renders `document` and Swagger UI's files, configured to load it.
    pub fn new(document: &Value) -> anyhow::Result<Self> {
        let openapi =
            serde_json::to_vec_pretty(document).context("cannot serialise the OpenAPI document")?;
        // Relative to /docs/, so the page keeps working behind a path prefix.
        let config = Arc::new(
            Config::new(["../openapi.json"])
                // No top bar: it offers to load any URL, which this page has no use for.
                .use_base_layout()
                // Swagger UI would otherwise send the document to an online validator.
                .validator_url("none")
                .display_request_duration(true),
        );
        let mut files = HashMap::new();
        for name in FILES {
            let file = utoipa_swagger_ui::serve(name, Arc::clone(&config))
                .map_err(|e| anyhow::anyhow!("cannot render Swagger UI's {name}: {e}"))?
                .with_context(|| format!("Swagger UI has no {name}"))?;
            let bytes = match file.bytes {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            };
            let bytes = if name == "index.html" {
                retitle(&bytes)
            } else {
                bytes
            };
            let content_type = HeaderValue::from_str(&file.content_type)
                .with_context(|| format!("Swagger UI's {name} has no usable content type"))?;
            files.insert(
                name,
                File {
                    bytes,
                    content_type,
                },
            );
        }
        Ok(Self {
            openapi: Bytes::from(openapi),
            files,
        })
    }

    /// Mounts `/openapi.json`, `/docs` and `/docs/{file}`; the app must
    /// hold a `web::Data<Docs>`.
    pub fn configure(cfg: &mut web::ServiceConfig) {
        cfg.route("/openapi.json", web::get().to(openapi_json))
            .route("/docs", web::get().to(docs_root))
            .route("/docs/{file}", web::get().to(docs_file))
            .route("/docs/", web::get().to(docs_index));
    }
}

/// Names the page after the API instead of "Swagger UI".
fn retitle(index: &Bytes) -> Bytes {
    let text = String::from_utf8_lossy(index);
    let titled = text.replace(
        "<title>Swagger UI</title>",
        "<title>auth0-actix-api: API documentation</title>",
    );
    Bytes::from(titled)
}

/// `GET /openapi.json`: the OpenAPI 3.1 document.
async fn openapi_json(docs: web::Data<Docs>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    hardened(&mut response);
    response
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(docs.openapi.clone())
}

/// `GET /docs`: to `/docs/`, so the page's relative links resolve.
async fn docs_root() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        // Relative (RFC 9110 §10.2.2), so a path prefix in front of us is kept.
        .insert_header((LOCATION, HeaderValue::from_static("docs/")))
        .finish()
}

/// `GET /docs/`: the page.
async fn docs_index(docs: web::Data<Docs>) -> HttpResponse {
    send(&docs, "index.html")
}

/// `GET /docs/{file}`: one of Swagger UI's files.
async fn docs_file(docs: web::Data<Docs>, file: web::Path<String>) -> HttpResponse {
    send(&docs, file.as_str())
}

fn send(docs: &Docs, name: &str) -> HttpResponse {
    let Some(file) = docs.files.get(name) else {
        return HttpResponse::NotFound().finish();
    };
    let mut response = HttpResponse::Ok();
    hardened(&mut response);
    // The page and its configuration change with the binary; the bundles
    // are large and change only with the crate, so browsers may keep them.
    let cache = if name == "index.html" || name == "swagger-initializer.js" {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    response
        .insert_header((CONTENT_TYPE, file.content_type.clone()))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static(cache)))
        .body(file.bytes.clone())
}

fn hardened(response: &mut HttpResponseBuilder) {
    response
        .insert_header((
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ))
        .insert_header((X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((REFERRER_POLICY, HeaderValue::from_static("no-referrer")));
}
