//! The client side of DPoP, for trying it with curl: an ES256 key kept in a
//! file, the `cnf.jkt` that binds a local token to it, and proofs (RFC 9449
//! §4.2) for one request each.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::KeyPair;
use josekit::jws::{JwsSigner, ES256};
use serde_json::{json, Map, Value};

use crate::auth::signature::sha256;
use crate::auth::thumbprint::jwk_thumbprint;
use crate::auth::validator::unix_now;
use crate::dev::issuer::{load_or_create_pem, sign_compact};

/// A client's DPoP key.
#[derive(Debug)]
pub struct ClientKey {
    public_jwk: Map<String, Value>,
    jkt: String,
    signer: Box<dyn JwsSigner>,
}

impl ClientKey {
    /// Loads the P-256 key at `path`, creating it on first use.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let pem = load_or_create_pem(path, "--dpop-key", || {
            let pair = EcKeyPair::generate(EcCurve::P256).context("cannot generate a P-256 key")?;
            Ok(pair.to_pem_private_key())
        })?;
        let pair = EcKeyPair::from_pem(&pem, Some(EcCurve::P256))
            .with_context(|| format!("{} is not a P-256 private key in PEM", path.display()))?;
        let public_jwk = pair.to_jwk_public_key().as_ref().clone();
        let jkt = jwk_thumbprint(&public_jwk).context("cannot compute the key's thumbprint")?;
        let signer = ES256
            .signer_from_pem(&pem)
            .context("cannot build a signer from the DPoP key")?;
        Ok(Self {
            public_jwk,
            jkt,
            signer: Box::new(signer),
        })
    }

    /// The RFC 7638 thumbprint a bound token carries as `cnf.jkt`.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// A proof for one `method` request to `url`, for `access_token` when
    /// given (as `ath`), with the server's `nonce` when it asked for one.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut jti = [0u8; 16];
        openssl::rand::rand_bytes(&mut jti).context("no randomness for jti")?;
        // RFC 9449 §4.2: htu is the URL without query and fragment.
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        claims.insert("htm".into(), json!(method.to_ascii_uppercase()));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(unix_now()));
        if let Some(token) = access_token {
            claims.insert(
                "ath".into(),
                json!(URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()))),
            );
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk});
        sign_compact(&header, &Value::Object(claims), self.signer.as_ref())
    }
}
