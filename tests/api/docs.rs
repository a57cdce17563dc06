//! `/openapi.json` and `/docs`: the document lists exactly the routes the
//! app serves, each answer the routes give is one the document describes,
//! and the pages add nothing but documentation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use actix_web::{test as actix_test, web, App, HttpRequest, HttpResponse};
use auth0_actix_api::settings::Settings;
use auth0_actix_api::startup::{api_routes, Application, Mode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, test_settings, TestApp, AUDIENCE};

/// A raw answer: status, headers (lower-case names) and body.
struct Raw {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

async fn request(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.append_header((*name, *value));
    }
    let mut response = request.send().await.expect("request failed");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response.body().limit(8 << 20).await.unwrap().to_vec();
    Raw {
        status: response.status().as_u16(),
        headers,
        body,
    }
}

async fn document(app: &TestApp) -> Value {
    let reply = request(app, "GET", "/openapi.json", &[]).await;
    assert_eq!(reply.status, 200, "/openapi.json is served");
    assert_eq!(reply.headers["content-type"], "application/json");
    serde_json::from_slice(&reply.body).expect("/openapi.json is JSON")
}

/// `(path, method)` of every operation in `doc`.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            out.insert((path.clone(), method.clone()));
        }
    }
    out
}

/// The paths `api_routes` registers, read from actix's own resource map
/// (its `Debug` form: actix offers no other way to list them).
async fn registered_paths() -> BTreeSet<String> {
    async fn dump(req: HttpRequest) -> HttpResponse {
        HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
    }
    let app = actix_test::init_service(
        App::new()
            .configure(api_routes)
            .default_service(web::to(dump)),
    )
    .await;
    let map = actix_test::call_and_read_body(
        &app,
        actix_test::TestRequest::get()
            .uri("/no-such-route")
            .to_request(),
    )
    .await;
    let text = String::from_utf8_lossy(&map).into_owned();
    // Each resource appears as `Single("/path")` or `Prefix("/path")`.
    text.split(['"'])
        .filter(|s| s.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

/// A token from the app's tenant granting `scope`.
fn token(app: &TestApp, scope: &str) -> String {
    app.token().claim("scope", json!(scope)).sign(&app.key)
}

#[actix_web::test]
async fn the_document_lists_exactly_the_routes_the_app_serves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented: BTreeSet<String> = operations(&doc).into_iter().map(|(p, _)| p).collect();

    // Every route `api_routes` registers is documented, and every documented
    // route but /metrics (mounted by startup when it shares the port) is one
    // of them.
    let registered = registered_paths().await;
    assert!(
        registered.contains("/api/private-scoped"),
        "the resource map was read: {registered:?}"
    );
    let mut expected = registered.clone();
    expected.insert("/metrics".into());
    assert_eq!(documented, expected, "documented vs registered routes");
    for route in [
        "/api/public",
        "/api/private",
        "/api/private-scoped",
        "/api/protected",
        "/api/profile",
    ] {
        assert!(documented.contains(route), "{route} is documented");
    }

    // Every documented operation is served, and no other method is.
    let granted = token(&app, "read:messages");
    let bearer = format!("Bearer {granted}");
    for (path, method) in operations(&doc) {
        let reply = request(
            &app,
            &method.to_uppercase(),
            &path,
            &[("Authorization", &bearer)],
        )
        .await;
        assert_eq!(reply.status, 200, "{method} {path} with a granted token");
        for other in ["POST", "PUT", "DELETE", "PATCH"] {
            let reply = request(&app, other, &path, &[("Authorization", &bearer)]).await;
            assert_eq!(reply.status, 405, "{other} {path} is not served");
            if path != "/metrics" {
                assert_eq!(
                    reply.headers.get("allow").map(String::as_str),
                    Some(method.to_uppercase().as_str()),
                    "{other} {path}: the 405 names the served method"
                );
            }
        }
    }
}

#[actix_web::test]
async fn every_answer_the_routes_give_is_documented_and_conforms() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let granted = format!("Bearer {}", token(&app, "read:messages"));
    let ungranted = format!("Bearer {}", token(&app, "write:messages"));
    let expired = format!(
        "Bearer {}",
        app.token()
            .claim("exp", json!(crate::helpers::now() - 3600))
            .sign(&app.key)
    );
    let credentials: [(&str, Vec<(&str, &str)>); 6] = [
        ("no token", vec![]),
        ("a granted token", vec![("Authorization", &granted)]),
        (
            "a token without the permission",
            vec![("Authorization", &ungranted)],
        ),
        ("an expired token", vec![("Authorization", &expired)]),
        ("a scheme with no token", vec![("Authorization", "Bearer")]),
        (
            "a DPoP proof that is no JWS",
            vec![("Authorization", &granted), ("DPoP", "not-a-proof")],
        ),
    ];
    let mut seen = BTreeSet::new();
    for (path, method) in operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        for (what, headers) in &credentials {
            let reply = request(&app, &method.to_uppercase(), &path, headers).await;
            let status = reply.status.to_string();
            let documented = &operation["responses"][&status];
            assert!(
                documented.is_object(),
                "{method} {path} with {what} answers {status}, which is not documented"
            );
            seen.insert(status.clone());
            for (name, header) in documented["headers"].as_object().into_iter().flatten() {
                if header["required"] == json!(true) {
                    assert!(
                        reply.headers.contains_key(&name.to_ascii_lowercase()),
                        "{method} {path} with {what}: {status} lacks its {name} header"
                    );
                }
            }
            let (media, content) = documented["content"]
                .as_object()
                .and_then(|c| c.iter().next())
                .expect("a documented body");
            let content_type = reply
                .headers
                .get("content-type")
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                content_type.split(';').next(),
                media.split(';').next(),
                "{method} {path} with {what}: content type"
            );
            if media == "application/json" {
                let body: Value = serde_json::from_slice(&reply.body).unwrap();
                if let Err(why) = conforms(&doc, &content["schema"], &body) {
                    panic!("{method} {path} with {what}: {status} body {body} {why}");
                }
            }
        }
    }
    // The cases above reach every documented error status but 503, which
    // the key cache tests provoke.
    for status in ["200", "400", "401", "403"] {
        assert!(seen.contains(status), "a case answered {status}: {seen:?}");
    }
}

/// Checks `value` against `schema`, for the JSON Schema keywords the
/// document uses: `$ref`, `type`, `required`, `properties`, `items`,
/// `additionalProperties` and `enum`.
fn conforms(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = doc
            .pointer(reference.trim_start_matches('#'))
            .ok_or(format!("has a dangling {reference}"))?;
        return conforms(doc, target, value);
    }
    let type_name = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    // An integer is a number too (JSON Schema §6.1.1).
    let typed = types.is_empty()
        || types.contains(&type_name)
        || (type_name == "integer" && types.contains(&"number"));
    if !typed {
        return Err(format!("is {type_name}, not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("is {value}, not one of {allowed:?}"));
        }
    }
    if let Value::Object(object) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("lacks the required {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, item) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => {
                    conforms(doc, property, item).map_err(|e| format!("{name} {e}"))?
                }
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => return Err(format!("has an undocumented {name}")),
                    extra @ Value::Object(_) => conforms(doc, extra, item)?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(schema)) = (value, schema.get("items")) {
        for item in items {
            conforms(doc, schema, item)?;
        }
    }
    Ok(())
}

#[actix_web::test]
async fn docs_are_served_under_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let root = awc::Client::builder()
        .disable_redirects()
        .finish()
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 308, "/docs moves to /docs/");
    assert_eq!(
        root.headers().get("location").unwrap(),
        "docs/",
        "relative, so a path prefix is kept"
    );

    let page = request(&app, "GET", "/docs/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].starts_with("text/html"));
    let policy = &page.headers["content-security-policy"];
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "nothing unsafe in {policy}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("swagger-ui-bundle.js"),
        "the page loads Swagger UI"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no asset from elsewhere: {html}"
    );

    for (file, content_type) in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("swagger-initializer.js", "text/javascript"),
    ] {
        let reply = request(&app, "GET", &format!("/docs/{file}"), &[]).await;
        assert_eq!(reply.status, 200, "{file}");
        assert!(
            reply.headers["content-type"].starts_with(content_type),
            "{file}"
        );
        assert!(reply.body.len() > 100, "{file} has content");
    }
    let initializer = request(&app, "GET", "/docs/swagger-initializer.js", &[]).await;
    let script = String::from_utf8_lossy(&initializer.body);
    assert!(script.contains("\"url\": \"../openapi.json\""), "{script}");
    assert!(script.contains("\"validatorUrl\": \"none\""), "{script}");

    for missing in [
        "oauth2-redirect.html",
        "swagger-ui.js",
        "..%2FCargo.toml",
        "nope",
    ] {
        let reply = request(&app, "GET", &format!("/docs/{missing}"), &[]).await;
        assert_eq!(reply.status, 404, "{missing} is not served");
    }
}

#[actix_web::test]
async fn docs_can_be_turned_off() {
    let app = spawn_app_with(|s| s.docs.enabled = false).await;
    for path in [
        "/docs",
        "/docs/",
        "/docs/swagger-ui-bundle.js",
        "/openapi.json",
    ] {
        let reply = request(&app, "GET", path, &[]).await;
        assert_eq!(reply.status, 404, "{path} with docs off");
    }
    let reply = request(&app, "GET", "/api/public", &[]).await;
    assert_eq!(reply.status, 200, "the API still serves");
}

#[test]
fn docs_are_on_locally_off_in_production_and_the_environment_decides_last() {
    let load = |pairs: &[(&str, &str)]| {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"), &env)
            .unwrap()
            .docs
            .enabled
    };
    assert!(load(&[]), "on by default (local)");
    assert!(
        !load(&[("APP_ENVIRONMENT", "production")]),
        "off in production"
    );
    assert!(
        load(&[
            ("APP_ENVIRONMENT", "production"),
            ("APP_DOCS__ENABLED", "true")
        ]),
        "APP_DOCS__ENABLED turns them on in production"
    );
    assert!(!load(&[("APP_DOCS__ENABLED", "false")]), "and off locally");
}

#[actix_web::test]
async fn the_document_reveals_no_setting() {
    let app = spawn_app().await;
    let text = document(&app).await.to_string();
    let issuer = app.tenant.issuer.trim_end_matches('/');
    for secret in [
        issuer,
        AUDIENCE,
        "127.0.0.1",
        "cargo run",
        "key_file",
        ".pem",
    ] {
        assert!(!text.contains(secret), "{secret} in the document");
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc.get("servers").is_none(), "no server URL");
}

#[actix_web::test]
async fn dev_mode_docs_say_how_to_mint_a_token_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings("https://unused.example/");
    settings.dev.key_file = dir.path().join("issuer-key.pem");
    let app = Application::build(&settings, Mode::Dev).unwrap();
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = awc::Client::default();
    let mut response = client
        .get(format!("http://127.0.0.1:{port}/openapi.json"))
        .send()
        .await
        .unwrap();
    let doc: Value = response.json().limit(1 << 20).await.unwrap();
    let command = format!("PORT={port} cargo run -q -- token --scope read:messages");
    let description = doc["info"]["description"].as_str().unwrap_or_default();
    assert!(description.contains(&command), "{description}");
    let bearer = doc["components"]["securitySchemes"]["bearer"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        bearer.contains(&command),
        "the Authorize dialog says it too: {bearer}"
    );
}

#[actix_web::test]
async fn the_documented_permissions_are_the_ones_the_routes_check() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut required: BTreeMap<String, Value> = BTreeMap::new();
    for (path, method) in operations(&doc) {
        if let Some(security) = doc["paths"][&path][&method].get("security") {
            required.insert(path.clone(), security.clone());
        }
    }
    assert_eq!(
        required["/api/private-scoped"],
        json!([{ "bearer": ["read:messages"] }, { "dpop": ["read:messages"] }])
    );
    for path in ["/api/private", "/api/protected", "/api/profile"] {
        assert_eq!(
            required[path],
            json!([{ "bearer": [] }, { "dpop": [] }]),
            "{path}"
        );
    }
    // Each route with a requirement refuses an absent token; each permission
    // named is needed, and enough.
    for (path, security) in &required {
        let reply = request(&app, "GET", path, &[]).await;
        assert_eq!(reply.status, 401, "{path} without a token");
        let permissions: Vec<&str> = security[0]["bearer"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let none = format!("Bearer {}", token(&app, "openid"));
        let all = format!("Bearer {}", token(&app, &permissions.join(" ")));
        let without = request(&app, "GET", path, &[("Authorization", &none)]).await;
        let with = request(&app, "GET", path, &[("Authorization", &all)]).await;
        let expected = if permissions.is_empty() { 200 } else { 403 };
        assert_eq!(without.status, expected, "{path} without {permissions:?}");
        assert_eq!(with.status, 200, "{path} with {permissions:?}");
    }
    let public = request(&app, "GET", "/api/public", &[]).await;
    assert_eq!(public.status, 200);
    assert!(
        !required.contains_key("/api/public"),
        "public asks for nothing"
    );
}
