//! The one place that builds the HTTP server: bind, build shared state once,
//! routes, middleware order.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::Logger;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::auth::{authentication, Authenticator, KeyCache, RequireScopes, Validator};
use crate::issuer::LocalIssuer;
use crate::routes::{health, messages};
use crate::settings::Settings;

/// Where tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The Auth0 tenant from the settings.
    Tenant,
    /// The local issuer, served by this same process on loopback.
    Dev,
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    authenticator: web::Data<Authenticator>,
    local_issuer: Option<Arc<LocalIssuer>>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one), builds the key cache,
    /// validator and, in dev mode, the local issuer, and wires the routes.
    /// Must run inside an actix system. Never waits on the tenant.
    pub fn build(settings: &Settings, mode: Mode) -> anyhow::Result<Self> {
        let host = settings.application.host.as_str();
        if mode == Mode::Dev {
            check_dev_bind(settings)?;
        }
        let listener = TcpListener::bind((host, settings.application.port)).with_context(|| {
            format!(
                "cannot listen on {host}:{}; set PORT (or application.host) to a free address",
                settings.application.port
            )
        })?;
        let port = listener
            .local_addr()
            .context("cannot read the bound address")?
            .port();

        let (issuer, audiences, local_issuer) = match mode {
            Mode::Tenant => (
                settings.tenant_issuer()?,
                settings.tenant_audiences()?,
                None,
            ),
            Mode::Dev => {
                let issuer = local_issuer_url(host, port);
                let local = LocalIssuer::load_or_create(
                    &settings.dev.key_file,
                    issuer.clone(),
                    settings.dev.audience.clone(),
                )?;
                (
                    issuer,
                    vec![settings.dev.audience.clone()],
                    Some(Arc::new(local)),
                )
            }
        };
        let keys = KeyCache::start(settings.key_cache_policy(&issuer)?)?;
        let validator = Validator::new(settings.validation_policy(&issuer, audiences)?, keys);
        let authenticator = web::Data::new(Authenticator::new(
            validator,
            settings.application.realm.as_str(),
        ));

        let app_authenticator = authenticator.clone();
        let app_issuer = local_issuer.clone().map(web::Data::from);
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .wrap(request_logger())
                .app_data(app_authenticator.clone())
                .configure(api_routes);
            if let Some(issuer) = &app_issuer {
                app = app
                    .app_data(issuer.clone())
                    .configure(LocalIssuer::configure);
            }
            app
        })
        .listen(listener)
        .context("cannot start the HTTP server")?;
        if settings.application.workers > 0 {
            server = server.workers(settings.application.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            authenticator,
            local_issuer,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared authenticator (validator and key cache).
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The local issuer, in dev mode.
    pub fn local_issuer(&self) -> Option<&Arc<LocalIssuer>> {
        self.local_issuer.as_ref()
    }

    /// Serves until the server is stopped (SIGINT / SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// The running server, for callers that drive it themselves.
    pub fn into_server(self) -> Server {
        self.server
    }
}

/// The API's routes. Each protected resource is wrapped on its own, so an
/// unknown path is a 404, not a 401.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    let auth = authentication();
    cfg.service(
        web::scope("/api")
            .route("/public", web::get().to(messages::public))
            .service(
                web::resource("/private")
                    .wrap(auth.clone())
                    .route(web::get().to(messages::private)),
            )
            .service(
                web::resource("/private-scoped")
                    // The last `wrap` runs first: authenticate, then check permissions.
                    .wrap(RequireScopes::all(["read:messages"]))
                    .wrap(auth.clone())
                    .route(web::get().to(messages::private_scoped)),
            )
            .service(
                web::resource("/protected")
                    .wrap(auth.clone())
                    .route(web::get().to(messages::protected)),
            )
            .service(
                web::resource("/profile")
                    .wrap(auth)
                    .route(web::get().to(messages::profile)),
            ),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz));
}

/// One line per request: peer, method, path (never the query string, which
/// could hold a token), status, size, latency. Probes are not logged.
fn request_logger() -> Logger {
    Logger::new("%a \"%{method}xi %U\" %s %b %Dms")
        .custom_request_replace("method", |req| req.method().to_string())
        .exclude("/healthz")
        .exclude("/readyz")
}

/// The local issuer lives on the API's own port, so `token` and `inspect`
/// can derive the same issuer URL from the same settings.
pub fn local_issuer_url(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("http://[{ip}]:{port}/"),
        _ => format!("http://{host}:{port}/"),
    }
}

/// Dev mode signs tokens anyone can mint: it must never be reachable from
/// another machine, nor run with production settings.
pub fn check_dev_bind(settings: &Settings) -> anyhow::Result<()> {
    if settings.environment == "production" {
        anyhow::bail!(
            "dev mode refuses to run with APP_ENVIRONMENT=production: its local issuer mints tokens for anyone; run without `dev` to use your Auth0 tenant"
        );
    }
    let host = settings.application.host.as_str();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        anyhow::bail!(
            "dev mode binds loopback only, but application.host is {host:?}: its local issuer mints tokens for anyone; use 127.0.0.1"
        );
    }
    Ok(())
}
