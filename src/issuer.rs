//! The local issuer: a real, minimal OIDC issuer for trying the API without
//! an Auth0 account. It has its own RSA key (kept in a git-ignored file so
//! tokens survive restarts), serves discovery and JWKS, and mints RS256
//! access tokens that the API validates through the same code path as
//! Auth0's.

use std::fs;
use std::io::Write;
use std::path::Path;

use actix_web::{web, HttpResponse};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{JwsSigner, RS256};
use serde_json::{json, Map, Value};

use crate::auth::thumbprint::jwk_thumbprint;
use crate::auth::validator::unix_now;

/// What a minted token should say.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    /// `sub`; `None` leaves the claim out.
    pub sub: Option<String>,
    /// `scope`, space-delimited.
    pub scope: Option<String>,
    /// `permissions` (Auth0 RBAC).
    pub permissions: Vec<String>,
    /// Extra claims, e.g. namespaced custom claims.
    pub claims: Map<String, Value>,
    /// Lifetime in seconds from now; negative mints an expired token.
    pub expires_in: i64,
    /// Audience; `None` uses the issuer's default.
    pub audience: Option<String>,
}

/// The local issuer's key and identity.
#[derive(Debug)]
pub struct LocalIssuer {
    issuer: String,
    audience: String,
    kid: String,
    signer: Box<dyn JwsSigner>,
    jwks: Value,
}

impl LocalIssuer {
    /// Loads the key from `key_file`, creating it (RSA-2048, mode 0600) on
    /// first use, for tokens issued as `issuer` for `audience`.
    pub fn load_or_create(
        key_file: &Path,
        issuer: String,
        audience: String,
    ) -> anyhow::Result<Self> {
        let pem = load_or_create_pem(key_file, "dev.key_file", || {
            let pair = RsaKeyPair::generate(2048).context("cannot generate an RSA key")?;
            Ok(pair.to_pem_private_key())
        })?;
        let pair = RsaKeyPair::from_pem(&pem).with_context(|| {
            format!(
                "dev.key_file {} is not an RSA private key in PEM; delete it to have a new one created",
                key_file.display()
            )
        })?;
        let mut public = pair.to_jwk_public_key();
        let thumbprint =
            jwk_thumbprint(public.as_ref()).context("cannot compute the key's thumbprint")?;
        public.set_key_id(&thumbprint);
        public.set_algorithm("RS256");
        public.set_key_use("sig");
        let mut signer = RS256
            .signer_from_pem(&pem)
            .context("cannot build a signer from dev.key_file")?;
        signer.set_key_id(&thumbprint);
        Ok(Self {
            issuer,
            audience,
            kid: thumbprint,
            signer: Box::new(signer),
            jwks: json!({ "keys": [Value::Object(public.as_ref().clone())] }),
        })
    }

    /// The issuer URL (`iss`), with its trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The default audience of minted tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The signing key's `kid` (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key set, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The OIDC discovery document.
    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}.well-known/jwks.json", self.issuer),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        })
    }

    /// Signs an access token as Auth0 would shape it.
    pub fn mint(&self, spec: &TokenSpec) -> anyhow::Result<String> {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        if let Some(sub) = &spec.sub {
            claims.insert("sub".into(), json!(sub));
        }
        claims.insert(
            "aud".into(),
            json!(spec.audience.as_deref().unwrap_or(&self.audience)),
        );
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now.saturating_add(spec.expires_in)));
        claims.insert("azp".into(), json!("local-dev-client"));
        // A random jti makes every minted token distinct, even within a second.
        let mut jti = [0u8; 12];
        openssl::rand::rand_bytes(&mut jti).context("no randomness for jti")?;
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        if let Some(scope) = &spec.scope {
            claims.insert("scope".into(), json!(scope));
        }
        if !spec.permissions.is_empty() {
            claims.insert("permissions".into(), json!(spec.permissions));
        }
        for (name, value) in &spec.claims {
            claims.insert(name.clone(), value.clone());
        }
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        sign_compact(&header, &Value::Object(claims), self.signer.as_ref())
    }

    /// Serves discovery and JWKS at the issuer's root.
    pub fn configure(cfg: &mut web::ServiceConfig) {
        cfg.route(
            "/.well-known/openid-configuration",
            web::get().to(discovery),
        )
        .route("/.well-known/jwks.json", web::get().to(jwks));
    }
}

/// Signs `header` and `payload` into a JWS compact serialisation.
pub fn sign_compact(
    header: &Value,
    payload: &Value,
    signer: &dyn JwsSigner,
) -> anyhow::Result<String> {
    let mut input = URL_SAFE_NO_PAD.encode(header.to_string());
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(payload.to_string()));
    let signature = signer.sign(input.as_bytes()).context("signing failed")?;
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(input)
}

/// Reads the private key PEM at `path` (named `setting` in errors), or
/// creates it with `generate` (mode 0600) when it does not exist yet.
pub fn load_or_create_pem(
    path: &Path,
    setting: &str,
    generate: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    match fs::read(path) {
        Ok(pem) => return Ok(pem),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {setting} {}", path.display()))
        }
    }
    let pem = generate()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {} for {setting}", dir.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&pem)
                .with_context(|| format!("cannot write {setting} {}", path.display()))?;
            log::info!("created a new key in {}", path.display());
            Ok(pem)
        }
        // Another process (say `token` beside `dev`) created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::read(path).with_context(|| format!("cannot read {setting} {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {setting} {}", path.display())),
    }
}

async fn discovery(issuer: web::Data<LocalIssuer>) -> HttpResponse {
    HttpResponse::Ok().json(issuer.discovery_document())
}

async fn jwks(issuer: web::Data<LocalIssuer>) -> HttpResponse {
    HttpResponse::Ok().json(issuer.jwks())
}
