//! The one place that builds the HTTP server: bind, build shared state once,
//! routes, middleware order.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;

pub use crate::dev::issuer::local_issuer_url;
pub use crate::ops::shutdown::ShutdownState;

use crate::auth::{Authenticator, Issuers, RedisReplayStore, Validator};
use crate::dev::issuer::LocalIssuer;
use crate::ops::metrics::Metrics;
use crate::ops::telemetry::RequestTelemetry;
use crate::routes::docs::Docs;
use crate::routes::{documented, health, OPERATIONS};
use crate::settings::{ReplayStoreSetting, Settings};

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
    metrics_server: Option<(Server, u16)>,
    authenticator: web::Data<Authenticator>,
    local_issuer: Option<Arc<LocalIssuer>>,
    shutdown: web::Data<ShutdownState>,
    drain_delay: Duration,
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

        let (issuers, audiences, local_issuer) = match mode {
            Mode::Tenant => (
                settings.tenant_issuers()?,
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
                    vec![issuer],
                    vec![settings.dev.audience.clone()],
                    Some(Arc::new(local)),
                )
            }
        };
        // Every configured issuer starts warming up now, in the background:
        // readiness can then say which issuers can verify tokens, and the
        // first token from each does not wait for its discovery. Only these
        // listed issuers are ever fetched from; a token naming another is
        // refused before any key lookup.
        let policies = issuers
            .iter()
            .map(|issuer| settings.key_cache_policy(issuer))
            .collect::<Result<Vec<_>, _>>()?;
        let issuers = Issuers::start(policies)?;
        let validator = Validator::with_issuers(
            settings.validation_policy(issuers.first().0, audiences)?,
            issuers,
        );
        let dpop = crate::auth::DpopVerifier::new(settings.dpop_policy()?)?;
        let dpop = match settings.dpop.replay_store_setting()? {
            ReplayStoreSetting::Memory => dpop,
            ReplayStoreSetting::Redis(url) => {
                let timeout = Duration::from_millis(settings.dpop.replay_store_timeout_ms);
                let store = RedisReplayStore::new(&url, timeout).map_err(|e| {
                    anyhow::anyhow!(
                        "dpop.replay_store (APP_DPOP__REPLAY_STORE) cannot be used: {e}"
                    )
                })?;
                dpop.with_replay_store(Arc::new(store))
            }
        };
        if settings.dpop.enabled {
            log::info!("DPoP replay store: {}", dpop.replay_store().describe());
        }
        if mode == Mode::Tenant {
            for warning in settings.warnings() {
                log::warn!("{warning}");
            }
        }
        let authenticator = web::Data::new(
            Authenticator::new(validator, settings.application.realm.as_str()).with_dpop(dpop),
        );
        let cors_origins = settings.cors_origins()?;
        let metrics = web::Data::new(Metrics::default());
        let shutdown = web::Data::new(ShutdownState::default());
        let metrics_on_main_port =
            settings.metrics.enabled && settings.metrics.address.trim().is_empty();
        let docs = if settings.docs.enabled {
            let dev_port = (mode == Mode::Dev).then_some(port);
            Some(web::Data::new(api_docs(
                &authenticator,
                metrics_on_main_port,
                dev_port,
            )?))
        } else {
            None
        };

        let app_authenticator = authenticator.clone();
        let app_issuer = local_issuer.clone().map(web::Data::from);
        let app_metrics = metrics.clone();
        let app_shutdown = shutdown.clone();
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .wrap(crate::ops::cors::layer(&cors_origins))
                .wrap(RequestTelemetry::new(app_metrics.clone().into_inner()))
                .app_data(app_authenticator.clone())
                .app_data(app_metrics.clone())
                .app_data(app_shutdown.clone())
                .configure(api_routes);
            if metrics_on_main_port {
                // A resource, not `App::route`, so other methods get 405, not 404.
                app = app.service(web::resource("/metrics").route(web::get().to(health::metrics)));
            }
            if let Some(docs) = &docs {
                app = app.app_data(docs.clone()).configure(Docs::configure);
            }
            if let Some(issuer) = &app_issuer {
                app = app
                    .app_data(issuer.clone())
                    .configure(LocalIssuer::configure);
            }
            app
        })
        .listen(listener)
        .context("cannot start the HTTP server")?
        // Signals are ours (see `run_until_stopped`), so readiness can turn
        // 503 before the listener closes.
        .disable_signals()
        .shutdown_timeout(settings.shutdown.grace_secs);
        if settings.application.workers > 0 {
            server = server.workers(settings.application.workers);
        }
        let metrics_server = if settings.metrics.enabled && !metrics_on_main_port {
            Some(metrics_server(settings, metrics, authenticator.clone())?)
        } else {
            None
        };
        Ok(Self {
            port,
            server: server.run(),
            metrics_server,
            authenticator,
            local_issuer,
            shutdown,
            drain_delay: Duration::from_secs(settings.shutdown.drain_delay_secs),
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate metrics listener, when one is configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// The shared authenticator (validator and key cache).
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The local issuer, in dev mode.
    pub fn local_issuer(&self) -> Option<&Arc<LocalIssuer>> {
        self.local_issuer.as_ref()
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: readiness
    /// turns 503, the drain delay passes, the listener closes, and in-flight
    /// requests get the grace period to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut handles = vec![self.server.handle()];
        if let Some((server, _)) = &self.metrics_server {
            handles.push(server.handle());
        }
        actix_web::rt::spawn(stop_on_signal(
            handles,
            self.shutdown.clone(),
            self.drain_delay,
        ));
        if let Some((metrics, _)) = self.metrics_server {
            actix_web::rt::spawn(metrics);
        }
        self.server.await
    }
}

async fn stop_on_signal(
    handles: Vec<ServerHandle>,
    shutdown: web::Data<ShutdownState>,
    drain_delay: Duration,
) {
    let signal = wait_for_signal().await;
    log::info!(
        "{signal} received: shutting down (drain {}s, then finishing in-flight requests)",
        drain_delay.as_secs()
    );
    shutdown.begin();
    actix_web::rt::time::sleep(drain_delay).await;
    for handle in handles {
        handle.stop(true).await;
    }
}

async fn wait_for_signal() -> &'static str {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot listen for SIGTERM/SIGINT; stop the process with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn metrics_server(
    settings: &Settings,
    metrics: web::Data<Metrics>,
    authenticator: web::Data<Authenticator>,
) -> anyhow::Result<(Server, u16)> {
    let address = settings.metrics.address.trim();
    let listener = TcpListener::bind(address).with_context(|| {
        format!("cannot listen on metrics.address {address:?}; use host:port, e.g. 0.0.0.0:9090")
    })?;
    let port = listener
        .local_addr()
        .context("cannot read the metrics address")?
        .port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .app_data(authenticator.clone())
            .route("/metrics", web::get().to(health::metrics))
    })
    .listen(listener)
    .context("cannot start the metrics server")?
    .workers(1)
    .disable_signals()
    .run();
    Ok((server, port))
}

/// The API's routes: [`crate::routes::ROUTES`], the table the OpenAPI
/// document is built from.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    crate::routes::configure(cfg);
}

/// `/openapi.json` and `/docs` for the routes this app serves, with the
/// schemes it accepts; in dev mode (`dev_port`) it says how to mint a token.
fn api_docs(
    authenticator: &Authenticator,
    metrics_on_main_port: bool,
    dev_port: Option<u16>,
) -> anyhow::Result<Docs> {
    let options = crate::openapi::DocumentOptions {
        dpop: authenticator.mode(),
        dpop_nonce: authenticator.dpop().is_some_and(|d| d.issues_nonces()),
        dev_port,
    };
    let mut extra = Vec::new();
    if metrics_on_main_port {
        extra.push(documented::<health::__path_metrics>(OPERATIONS));
    }
    let document = crate::openapi::document(crate::routes::ROUTES, &extra, &options)
        .context("cannot build the OpenAPI document")?;
    Docs::new(&document)
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
    if !crate::auth::tenant::transport::is_loopback_host(host) {
        anyhow::bail!(
            "dev mode binds loopback only, but application.host is {host:?}: its local issuer mints tokens for anyone; use 127.0.0.1"
        );
    }
    Ok(())
}
