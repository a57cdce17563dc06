//! What every example reads from the environment, as the service does:
//! `AUTH0_DOMAIN` (or `AUTH0_ISSUER_BASE_URL`), `AUTH0_AUDIENCE` and `PORT`,
//! from the environment or a `.env` file, and the `HttpServer` start. Kept
//! apart so that each example shows only the auth core's own calls: the
//! authenticator in app data, and the middleware and guards on routes.

use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use auth0_actix_api::auth::{Authenticator, KeyCache, KeyCachePolicy, ValidationPolicy, Validator};

/// Where tokens come from and where the example listens.
pub struct Tenant {
    /// `https://{AUTH0_DOMAIN}/`, or `AUTH0_ISSUER_BASE_URL` with a trailing `/`.
    pub issuer: String,
    /// `AUTH0_AUDIENCE`: the API identifier tokens must name in `aud`.
    pub audience: String,
    /// `PORT` on 127.0.0.1, 3000 when unset.
    pub port: u16,
}

/// Reads the tenant from the environment (and `.env`), with one clear line
/// for what is missing, and starts logging at the level `RUST_LOG` sets.
pub fn tenant_from_env() -> anyhow::Result<Tenant> {
    // A missing .env is normal; the environment alone is enough.
    let _ = dotenvy::dotenv();
    env_logger::init();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let issuer = match (var("AUTH0_ISSUER_BASE_URL"), var("AUTH0_DOMAIN")) {
        (Some(base), _) => format!("{}/", base.trim().trim_end_matches('/')),
        (None, Some(domain)) => {
            let host = domain.trim();
            let host = host.strip_prefix("https://").unwrap_or(host);
            format!("https://{}/", host.trim_end_matches('/'))
        }
        (None, None) => bail!(
            "AUTH0_DOMAIN is not set; set it to your tenant's domain (e.g. dev-abc123.us.auth0.com)"
        ),
    };
    let Some(audience) = var("AUTH0_AUDIENCE") else {
        bail!("AUTH0_AUDIENCE is not set; set it to your API's identifier (e.g. https://my-api)");
    };
    let port = match var("PORT") {
        Some(port) => port.parse().context("PORT is not a port number")?,
        None => 3000,
    };
    Ok(Tenant {
        issuer,
        audience,
        port,
    })
}

impl Tenant {
    /// The authenticator for this tenant: one key cache (one background
    /// fetcher) and one validator, built once and shared by every worker.
    pub fn authenticator(&self) -> anyhow::Result<Authenticator> {
        let keys = KeyCache::start(KeyCachePolicy::new(self.issuer.as_str()))
            .context("the key cache cannot start")?;
        let policy = ValidationPolicy::new(self.issuer.as_str(), vec![self.audience.clone()]);
        Ok(Authenticator::new(Validator::new(policy, keys), "api"))
    }
}

/// Serves the app `configure` builds on 127.0.0.1 at the tenant's port, with
/// as many workers as cores; each worker calls `configure` once. Returns
/// when the server stops (Ctrl-C).
pub async fn serve<F>(tenant: &Tenant, configure: F) -> anyhow::Result<()>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    println!("listening on http://127.0.0.1:{}", tenant.port);
    HttpServer::new(move || App::new().configure(configure.clone()))
        .bind(("127.0.0.1", tenant.port))?
        .run()
        .await?;
    Ok(())
}
