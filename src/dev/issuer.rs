//! The local issuer: a real, minimal OIDC issuer for trying the API without
//! an Auth0 account. It has its own RSA key (kept in a git-ignored file so
//! tokens survive restarts), serves discovery and JWKS, and mints RS256
//! access tokens that the API validates through the same code path as
//! Auth0's.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use actix_web::{web, HttpResponse};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{JwsSigner, RS256};
use serde_json::{json, Map, Value};

use crate::auth::hex::hex;
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
///
/// A new key is written whole to a private temporary file beside `path`,
/// flushed to disk, and only then put in place, with `link(2)`: the
/// "rename that never replaces". So `path` never holds a partial key, not
/// after a crash and not for a process reading it meanwhile, and when
/// several processes (`dev` beside `token`) create it at once, exactly one
/// key wins and every one of them returns it. A file already at `path`,
/// even an empty or broken one, is returned as it is and never replaced:
/// deleting it is the user's call.
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
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {} for {setting}", dir.display()))?;
            dir
        }
        None => Path::new("."),
    };
    let temporary = write_private_file(dir, path, &pem)
        .with_context(|| format!("cannot write {setting} {}", path.display()))?;
    // Unlike rename, link fails when `path` exists, so a key another process
    // put there first is never replaced (its owner may have minted tokens
    // with it already); we read theirs instead, which is whole because it
    // too was linked only once written and flushed.
    let placed = fs::hard_link(&temporary, path);
    let _ = fs::remove_file(&temporary);
    match placed {
        Ok(()) => {
            sync_directory(dir);
            log::info!("created a new key in {}", path.display());
            Ok(pem)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::read(path).with_context(|| format!("cannot read {setting} {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {setting} {}", path.display())),
    }
}

/// Writes `contents` to a new file in `dir` named after `path`, readable
/// by the owner only, and flushes it to disk; returns its path. The name
/// has random bytes in it, so concurrent writers never share a file.
fn write_private_file(dir: &Path, path: &Path, contents: &[u8]) -> std::io::Result<PathBuf> {
    let mut nonce = [0u8; 8];
    openssl::rand::rand_bytes(&mut nonce).map_err(std::io::Error::other)?;
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |n| n.to_string_lossy());
    let temporary = dir.join(format!(".{name}.{}.tmp", hex(&nonce)));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    if let Err(e) = file.write_all(contents).and_then(|()| file.sync_all()) {
        let _ = fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(temporary)
}

/// Flushes `dir`'s entries, so the new name survives a crash too. Best
/// effort: the key is already whole on disk either way.
fn sync_directory(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        log::debug!("cannot flush {}: {e}", dir.display());
    }
    #[cfg(not(unix))]
    let _ = dir;
}

async fn discovery(issuer: web::Data<LocalIssuer>) -> HttpResponse {
    HttpResponse::Ok().json(issuer.discovery_document())
}

async fn jwks(issuer: web::Data<LocalIssuer>) -> HttpResponse {
    HttpResponse::Ok().json(issuer.jwks())
}

/// The local issuer lives on the API's own port, so `token` and `inspect`
/// can derive the same issuer URL from the same settings.
pub fn local_issuer_url(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("http://[{ip}]:{port}/"),
        _ => format!("http://{host}:{port}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Every file name in `dir`.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn concurrent_creators_all_get_the_one_complete_key_in_the_file() {
        // Several processes (`dev` beside `token`) may create the key at
        // once. Each must end up with the key in the file, whole: a creator
        // that lost the race must never read the winner's half-written file.
        // Large "keys" make the winner's write take long enough to be seen.
        const CREATORS: usize = 3;
        const SIZE: usize = 8 * 1024 * 1024;
        for round in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("dev.key");
            let ready = Arc::new(Barrier::new(CREATORS));
            let creators: Vec<_> = (0..CREATORS)
                .map(|i| {
                    let (path, ready) = (path.clone(), Arc::clone(&ready));
                    std::thread::spawn(move || {
                        load_or_create_pem(&path, "dev.key_file", || {
                            let pem = vec![b'a' + i as u8; SIZE];
                            // Everyone has a key in hand before anyone writes.
                            ready.wait();
                            Ok(pem)
                        })
                        .unwrap()
                    })
                })
                .collect();
            let got: Vec<Vec<u8>> = creators.into_iter().map(|t| t.join().unwrap()).collect();
            let in_file = fs::read(&path).unwrap();
            assert_eq!(in_file.len(), SIZE, "round {round}: the file is whole");
            for (i, pem) in got.iter().enumerate() {
                assert!(
                    pem == &in_file,
                    "round {round}: creator {i} got {} bytes of {:?}, not the file's key",
                    pem.len(),
                    pem.first().map(|b| char::from(*b))
                );
            }
            assert_eq!(
                names(dir.path()),
                ["dev.key"],
                "round {round}: no temporary file left behind"
            );
        }
    }

    #[test]
    fn an_existing_file_is_used_as_it_is_and_never_replaced() {
        // A partial or garbage file (a crash, a stray edit) is the user's to
        // delete: LocalIssuer then says it is no key. Silently replacing it
        // would change the key under every token minted with it.
        for existing in [&b""[..], b"-----BEGIN PRIVATE KEY-----\nMIIE", b"garbage"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("dev.key");
            fs::write(&path, existing).unwrap();
            let got = load_or_create_pem(&path, "dev.key_file", || {
                panic!("a key was generated although the file exists")
            })
            .unwrap();
            assert_eq!(got, existing, "the file's content is returned");
            assert_eq!(fs::read(&path).unwrap(), existing, "and left unchanged");
        }
    }

    #[test]
    fn a_new_key_file_is_private_complete_and_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("dev.key");
        let pem = load_or_create_pem(&path, "dev.key_file", || Ok(b"the key".to_vec())).unwrap();
        assert_eq!(pem, b"the key");
        assert_eq!(fs::read(&path).unwrap(), b"the key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "only the owner may read the key: {mode:o}");
        }
        assert_eq!(names(&dir.path().join("keys")), ["dev.key"]);
        // A failed generation leaves nothing behind.
        let other = dir.path().join("other.key");
        let error = load_or_create_pem(&other, "dev.key_file", || anyhow::bail!("no entropy"));
        assert!(error.is_err());
        assert!(!other.exists(), "no key file after a failed generation");
    }
}
