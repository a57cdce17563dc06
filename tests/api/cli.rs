//! The real binary, as a new user runs it: `dev`, `token`, `inspect`,
//! `healthcheck`, and the one-line errors for bad input. Each test runs the
//! binary in its own temporary directory (so no `.env` or key file is
//! shared, and the embedded default settings are used) on its own port.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_auth0-actix-api");

/// A child process that is killed when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(dir: &Path, port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn");
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `dev` and returns it with the banner's lines once printed.
fn start_dev(dir: &Path, port: u16) -> (Running, Vec<String>) {
    let mut child = command(dir, port, &["dev"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading to the end, so the child never writes to a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let running = Running(child);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let last = line.starts_with("====")
            && lines
                .iter()
                .filter(|l: &&String| l.starts_with("===="))
                .count()
                == 2;
        lines.push(line);
        if last {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.starts_with("curl")),
        "no banner: {lines:?}"
    );
    (running, lines)
}

fn run(dir: &Path, port: u16, args: &[&str]) -> Output {
    command(dir, port, args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.unwrap();
    let body = response.body().await.unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[actix_web::test]
async fn dev_mode_printout_promises_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_dev, lines) = start_dev(dir.path(), 0);
    let mut checked = 0;
    for pair in lines.windows(2) {
        let Some(expect) = pair[0].strip_prefix("# expect ") else {
            continue;
        };
        let status: u16 = expect[..3].parse().unwrap();
        let mut words = pair[1].split_whitespace();
        assert_eq!(words.next(), Some("curl"), "{pair:?}");
        assert_eq!(words.next(), Some("-i"));
        let url = words.next().unwrap();
        let token = pair[1]
            .split("Bearer ")
            .nth(1)
            .map(|t| t.trim_end_matches('\''));
        let (got, body) = get(url, token).await;
        assert_eq!(got, status, "{expect}: {body}");
        checked += 1;
    }
    assert_eq!(checked, 8, "every example was checked");
    assert!(
        lines.iter().any(|l| l.contains("DEV MODE")),
        "dev mode announces itself"
    );
}

#[actix_web::test]
async fn a_minted_token_is_accepted_by_the_dev_server_and_carries_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_dev, _) = start_dev(dir.path(), port);
    let out = run(
        dir.path(),
        port,
        &[
            "token",
            "--sub",
            "user-42",
            "--scope",
            "read:messages",
            "--permissions",
            "write:messages,delete:messages",
            "--claim",
            "https://myapp.example.com/roles=[\"admin\"]",
            "--expires-in",
            "15m",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], "user-42");
    assert_eq!(claims["scope"], "read:messages");
    assert_eq!(
        claims["permissions"],
        serde_json::json!(["write:messages", "delete:messages"])
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let base = format!("http://127.0.0.1:{port}");
    let (status, body) = get(&format!("{base}/api/private-scoped"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "user-42");
    let (status, body) = get(&format!("{base}/api/profile"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["custom_claims"]["https://myapp.example.com/roles"],
        serde_json::json!(["admin"])
    );
}

#[test]
fn inspect_accepts_a_valid_token_and_names_each_failing_check() {
    let dir = tempfile::tempdir().unwrap();
    let port = 8080;
    let mint = |args: &[&str]| {
        let out = run(dir.path(), port, &[&["token"], args].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let valid = mint(&["--scope", "read:messages"]);
    let out = run(dir.path(), port, &["inspect", &valid]);
    assert!(out.status.success(), "valid token: {}", text(&out.stdout));
    assert!(text(&out.stdout).contains("Result: ACCEPTED"));

    let expired = mint(&["--expires-in", "-1h"]);
    let foreign = mint(&["--aud", "https://other.example"]);
    // A token from another issuer's key: a second key file in another directory.
    let other_dir = tempfile::tempdir().unwrap();
    let out = run(other_dir.path(), port, &["token"]);
    let other_key = text(&out.stdout).trim().to_owned();
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let other_sig = other_key.split('.').nth(2).unwrap().to_owned();
    parts[2] = other_sig;
    let bad_signature = parts.join(".");

    let cases = [
        (expired, "[FAIL] expiry"),
        (
            foreign,
            "[FAIL] audience: the token says [\"https://other.example\"], the API expects",
        ),
        (bad_signature, "[FAIL] signature: does not verify"),
    ];
    for (token, expected) in cases {
        let out = run(dir.path(), port, &["inspect", &token]);
        let stdout = text(&out.stdout);
        assert!(
            !out.status.success(),
            "{expected}: exit status {:?}",
            out.status
        );
        assert!(
            stdout.contains(expected),
            "expected {expected:?} in:\n{stdout}"
        );
        assert!(stdout.contains("REJECTED"), "{stdout}");
    }

    // Unknown kid: the other issuer's token has a kid this issuer lacks.
    let out = run(dir.path(), port, &["inspect", &other_key]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("no key with kid"),
        "{}",
        text(&out.stdout)
    );

    let out = run(dir.path(), port, &["inspect", "garbage"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("not a JWT"), "{stderr}");
}

#[test]
fn bad_input_is_one_line_of_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    // (arguments, environment, what the one line must say)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["token", "--bogus"], &[], "unknown flag"),
        (&["token", "--claim", "novalue"], &[], "must be key=json"),
        (&["token", "--expires-in", "soon"], &[], "not a duration"),
        (&["frobnicate"], &[], "unknown command"),
        (
            &["dev"],
            &[("APP_APPLICATION__HOST", "0.0.0.0")],
            "loopback only",
        ),
        (
            &["dev"],
            &[("APP_ENVIRONMENT", "production")],
            "refuses to run with APP_ENVIRONMENT=production",
        ),
        (&["serve"], &[], "AUTH0_DOMAIN is not set"),
        (
            &["serve"],
            &[("AUTH0_DOMAIN", "dev.example.com")],
            "AUTH0_AUDIENCE is not set",
        ),
        (
            &["serve"],
            &[
                ("AUTH0_DOMAIN", "http://dev.example.com"),
                ("AUTH0_AUDIENCE", "x"),
            ],
            "AUTH0_DOMAIN",
        ),
        (
            &["serve"],
            &[
                ("AUTH0_DOMAIN", "dev.example.com,dev example.com"),
                ("AUTH0_AUDIENCE", "x"),
            ],
            "AUTH0_DOMAIN entry 2 of 2 is \"dev example.com\", which is not a host name",
        ),
        (
            &["serve"],
            &[
                ("AUTH0_ISSUER_BASE_URL", "https://a.example/,https://A.example"),
                ("AUTH0_AUDIENCE", "x"),
            ],
            "AUTH0_ISSUER_BASE_URL lists the issuer https://a.example/ twice (entries 1 and 2 of 2)",
        ),
        (&["serve"], &[("PORT", "eighty")], "port"),
        (
            &["serve"],
            &[
                ("AUTH0_DOMAIN", "dev.example.com"),
                ("AUTH0_AUDIENCE", "x"),
                ("APP_DPOP__NONCE_SECRET", "replace-with-openssl-rand-base64-32"),
            ],
            "APP_DPOP__NONCE_SECRET) is the placeholder shipped in deploy/kubernetes/secret.yaml; generate one with `openssl rand -base64 32`",
        ),
        (
            &["serve"],
            &[
                ("AUTH0_DOMAIN", "dev.example.com"),
                ("AUTH0_AUDIENCE", "x"),
                ("APP_DPOP__REPLAY_STORE", "redis-cluster:6379"),
            ],
            "dpop.replay_store (APP_DPOP__REPLAY_STORE) has scheme \"redis-cluster\", not redis:// or rediss://; set it to \"memory\"",
        ),
    ];
    for (args, env, expected) in cases {
        let mut cmd = command(dir.path(), 0, args);
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} succeeded");
        assert!(stderr.contains(expected), "{args:?} {env:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line, got {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn healthcheck_exits_0_against_a_running_server_and_1_when_none_listens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = run(dir.path(), port, &["healthcheck"]);
    assert_eq!(out.status.code(), Some(1), "nothing listens yet");
    let (_dev, _) = start_dev(dir.path(), port);
    let out = run(dir.path(), port, &["healthcheck"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_dev_key_is_kept_so_tokens_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = text(&run(dir.path(), 8080, &["token"]).stdout);
    let second = text(&run(dir.path(), 8080, &["token"]).stdout);
    let kid = |t: &str| {
        let header = t.split('.').next().unwrap();
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()["kid"]
            .clone()
    };
    assert_eq!(kid(&first), kid(&second), "same key across runs");
    assert!(dir.path().join(".dev/issuer-key.pem").exists());
}

#[actix_web::test]
async fn a_dpop_bound_token_and_proof_from_the_cli_are_accepted_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_dev, _) = start_dev(dir.path(), port);
    let key = dir.path().join("client.pem");
    let key = key.to_str().unwrap();
    let out = run(dir.path(), port, &["token", "--dpop-key", key]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let jkt = claims_of(&token)["cnf"]["jkt"]
        .as_str()
        .expect("cnf.jkt")
        .to_owned();
    assert_eq!(jkt.len(), 43, "a SHA-256 thumbprint");

    let url = format!("http://127.0.0.1:{port}/api/private");
    let out = run(
        dir.path(),
        port,
        &["proof", "--key", key, "--url", &url, "--token", &token],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let proof = text(&out.stdout).trim().to_owned();

    let client = awc::Client::default();
    let send = || {
        client
            .get(&url)
            .insert_header(("Authorization", format!("DPoP {token}")))
            .insert_header(("DPoP", proof.clone()))
            .send()
    };
    assert_eq!(send().await.unwrap().status().as_u16(), 200, "first use");
    let replay = send().await.unwrap();
    assert_eq!(replay.status().as_u16(), 401, "second use");
    let challenge = replay
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );

    let out = run(dir.path(), port, &["proof", "--url", "not-a-url"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--url"), "{}", text(&out.stderr));
}
