//! The quickstart's endpoints and their exact bodies.

use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn public_endpoint_needs_no_token() {
    let app = spawn_app().await;
    let reply = app.get_with("/api/public", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"message": "Hello from a public endpoint! You don't need to be authenticated to see this."})
    );
}

#[actix_web::test]
async fn private_endpoint_answers_with_the_tokens_sub() {
    let app = spawn_app().await;
    let token = app.token().sign(&app.key);
    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({"message": "Hello from a private endpoint! You need to be authenticated to see this.", "user_id": "auth0|user-1"})
    );
}

#[actix_web::test]
async fn user_id_is_null_when_the_token_has_no_sub() {
    let app = spawn_app().await;
    let token = app.token().without("sub").sign(&app.key);
    let reply = app.get_bearer("/api/private", &token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["user_id"], json!(null));
}

#[actix_web::test]
async fn private_scoped_needs_read_messages() {
    let app = spawn_app().await;
    let with = app
        .token()
        .claim("scope", json!("openid read:messages"))
        .sign(&app.key);
    let reply = app.get_bearer("/api/private-scoped", &with).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({"message": "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.", "user_id": "auth0|user-1"})
    );

    let without = app
        .token()
        .claim("scope", json!("write:messages"))
        .sign(&app.key);
    let reply = app.get_bearer("/api/private-scoped", &without).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some("Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"The access token lacks the permission this endpoint needs: read:messages\", scope=\"read:messages\", DPoP algs=\"ES256\""),
        "the test app runs in mixed mode, so the DPoP challenge follows (RFC 9449 §7.1)"
    );
    assert_eq!(reply.body["error"], "insufficient_scope");
}

#[actix_web::test]
async fn profile_returns_identity_permissions_and_custom_claims_untouched() {
    let app = spawn_app().await;
    let roles = json!(["admin", {"nested": [1, 2]}]);
    let token = app
        .token()
        .claim("email", json!("ada@example.com"))
        .claim("permissions", json!(["read:messages"]))
        .claim("https://myapp.example.com/roles", roles.clone())
        .sign(&app.key);
    let reply = app.get_bearer("/api/profile", &token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["user_id"], "auth0|user-1");
    assert_eq!(reply.body["email"], "ada@example.com");
    assert_eq!(reply.body["permissions"], json!(["read:messages"]));
    assert_eq!(
        reply.body["custom_claims"]["https://myapp.example.com/roles"],
        roles
    );
}

#[actix_web::test]
async fn protected_endpoint_needs_a_token_but_not_claims() {
    let app = spawn_app().await;
    assert_eq!(app.get_with("/api/protected", &[]).await.status, 401);
    let token = app.token().sign(&app.key);
    let reply = app.get_bearer("/api/protected", &token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body["message"]
        .as_str()
        .unwrap()
        .contains("protected"));
}

#[actix_web::test]
async fn unknown_paths_are_404_not_401() {
    let app = spawn_app().await;
    assert_eq!(app.get_with("/api/nope", &[]).await.status, 404);
}
