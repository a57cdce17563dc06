//! The service's entry point: parse the command, then logging, settings,
//! `Application::build`, run.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use auth0_actix_api::cli::{self, Command};
use auth0_actix_api::dpop_client::ClientKey;
use auth0_actix_api::issuer::LocalIssuer;
use auth0_actix_api::settings::{self, Settings};
use auth0_actix_api::startup::{local_issuer_url, Application, Mode};
use auth0_actix_api::telemetry::{self, LogFormat};
use auth0_actix_api::{dev, healthcheck, inspect};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let env = settings::process_environment();
    // Quiet by default for the one-shot commands, whose output is for scripts.
    let default_level = match command {
        Command::Serve | Command::Dev => "info",
        _ => "warn",
    };
    // Settings are read once, before logging starts, since they name the log
    // format; an error is printed below as one line, so text logging is the
    // fallback until then.
    let settings = Settings::load(&settings::config_dir(&env), &env).map_err(anyhow::Error::from);
    let format = settings
        .as_ref()
        .map(|s| s.logging.format)
        .unwrap_or(LogFormat::Text);
    telemetry::init_logging(format, default_level);

    let outcome = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => settings.and_then(|s| serve(s, Mode::Tenant)),
        Command::Dev => settings.and_then(|s| serve(s, Mode::Dev)),
        Command::Token(args) => settings.and_then(|s| token(&s, &args)),
        Command::Inspect { token } => settings.and_then(|s| {
            let token = match token {
                Some(token) => token,
                None => read_stdin()?,
            };
            inspect::run(&s, token.trim())
        }),
        Command::Healthcheck => settings.map(|s| healthcheck::run(&s)),
        Command::Proof(args) => proof(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            // One line: the settings and start-up errors already say what to fix.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings, mode: Mode) -> anyhow::Result<ExitCode> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings, mode)?;
        let base_url = local_issuer_url(&settings.application.host, app.port());
        match app.local_issuer() {
            Some(issuer) => {
                let lifetime = i64::try_from(settings.dev.token_lifetime_secs).unwrap_or(3600);
                let examples = dev::examples(issuer, lifetime)?;
                let banner =
                    dev::banner(issuer, base_url.trim_end_matches('/'), lifetime, &examples);
                // A closed stdout (a pipe whose reader left) must not stop the server.
                let mut stdout = std::io::stdout().lock();
                let _ = stdout
                    .write_all(banner.as_bytes())
                    .and_then(|_| stdout.flush());
            }
            None => log::info!(
                "serving on {}:{} for issuer(s) {}",
                settings.application.host,
                app.port(),
                app.authenticator()
                    .validator()
                    .issuers()
                    .iter()
                    .map(|(issuer, _)| issuer)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
        app.run_until_stopped().await.context("the server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn token(settings: &Settings, args: &cli::TokenArgs) -> anyhow::Result<ExitCode> {
    let issuer = LocalIssuer::load_or_create(
        &settings.dev.key_file,
        local_issuer_url(&settings.application.host, settings.application.port),
        settings.dev.audience.clone(),
    )?;
    let lifetime = i64::try_from(settings.dev.token_lifetime_secs).unwrap_or(3600);
    let mut spec = args.spec(lifetime);
    if let Some(path) = &args.dpop_key {
        let key = ClientKey::load_or_create(path)?;
        spec.claims
            .insert("cnf".into(), serde_json::json!({ "jkt": key.jkt() }));
    }
    let mut out = std::io::stdout().lock();
    for _ in 0..args.count {
        writeln!(out, "{}", issuer.mint(&spec)?).context("cannot write to standard output")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn proof(args: &cli::ProofArgs) -> anyhow::Result<ExitCode> {
    let key = ClientKey::load_or_create(&args.key)?;
    let proof = key.proof(
        &args.method,
        &args.url,
        args.token.as_deref(),
        args.nonce.as_deref(),
    )?;
    println!("{proof}");
    Ok(ExitCode::SUCCESS)
}

fn read_stdin() -> anyhow::Result<String> {
    let mut token = String::new();
    std::io::stdin()
        .take(1024 * 1024)
        .read_to_string(&mut token)
        .context("cannot read a token from standard input")?;
    Ok(token)
}
