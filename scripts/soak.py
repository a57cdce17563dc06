#!/usr/bin/env python3
"""Soak driver for scripts/soak.sh: the release binary against a local
tenant, at a fixed rate of mixed traffic, with every answer checked.

The driver is the tenant too: it serves discovery and the JWKS on loopback,
signs access tokens (RS256) and DPoP proofs (ES256) with `cryptography`,
rotates the tenant's keys, takes the tenant down and up again and, when the
binary has a Redis replay store, restarts Redis mid-run. Signing here
rather than with the service's own CLI keeps one process per request out
of the loop and makes the checks independent of the code under test: a
bug shared by the signer and the verifier could not show.

Each request has a class (valid token, expired, garbage, DPoP replay, ...)
whose right answer follows from the state of the world (tenant up or down,
which keys are published, Redis up or down) when it was sent and when it
was answered; if the state changed in between, either answer counts. Any
other answer, transport errors included, is a wrong answer. The server's
resident memory and open descriptors are sampled from /proc once a second;
the run fails when either grows more than 10 % from just after warm-up to
the end. Only 127.0.0.1 is ever contacted, and every loop is bounded by the
run's duration and a per-request timeout.
"""

import argparse
import base64
import collections
import hashlib
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

AUDIENCE = "https://api.soak.test"
HOST = "127.0.0.1"
REQUEST_TIMEOUT = 10.0
GROWTH_LIMIT = 1.10
PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."
SCOPED_MESSAGE = (
    "Hello from a private endpoint! You need to be authenticated and have a scope "
    "of read:messages to see this."
)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint_b64u(n: int, length: int = 0) -> str:
    return b64u(n.to_bytes(length or (n.bit_length() + 7) // 8, "big"))


def compact_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"soak: {message}", flush=True)


class TenantKey:
    """One of the tenant's RS256 signing keys."""

    def __init__(self, generation: int):
        self.kid = f"soak-key-{generation}"
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.private.public_key().public_numbers()
        self.jwk = {
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
            "n": uint_b64u(numbers.n),
            "e": uint_b64u(numbers.e),
        }

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64u(compact_json(header))}.{b64u(compact_json(claims))}"
        signature = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64u(signature)}"


class DpopClient:
    """A DPoP client with its own P-256 key."""

    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": uint_b64u(numbers.x, 32),
            "y": uint_b64u(numbers.y, 32),
        }
        # RFC 7638: the required members, sorted, without whitespace.
        self.jkt = b64u(hashlib.sha256(compact_json(self.jwk)).digest())

    def proof(self, method: str, url: str, token: str) -> str:
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        claims = {
            "jti": b64u(os.urandom(16)),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
            "ath": b64u(hashlib.sha256(token.encode()).digest()),
        }
        signing_input = f"{b64u(compact_json(header))}.{b64u(compact_json(claims))}"
        der = self.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        # JWS wants r and s as two 32-byte big-endian halves (RFC 7518 §3.4), not DER.
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class Tenant:
    """Discovery and JWKS on a fixed loopback port, which can go down and up."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://{HOST}:{self.port}/"
        self.lock = threading.Lock()
        self.keys = []
        self.server = None
        self.hits = collections.Counter()

    def publish(self, keys):
        with self.lock:
            self.keys = list(keys)

    def published_kids(self):
        with self.lock:
            return frozenset(k.kid for k in self.keys)

    def start(self):
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so no kept-alive
            # connection outlives an outage.
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    doc = {"issuer": tenant.issuer, "jwks_uri": f"{tenant.issuer}.well-known/jwks.json"}
                elif self.path == "/.well-known/jwks.json":
                    with tenant.lock:
                        doc = {"keys": [k.jwk for k in tenant.keys]}
                else:
                    self.send_error(404)
                    return
                with tenant.lock:
                    tenant.hits[self.path] += 1
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer((HOST, self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Redis:
    """A redis-server on a free loopback port whose data survives a restart."""

    def __init__(self, workdir: str):
        self.port = free_port()
        self.workdir = workdir
        self.process = None

    def cli(self, *args) -> str:
        out = subprocess.run(
            ["redis-cli", "-h", HOST, "-p", str(self.port), *args],
            capture_output=True, text=True, timeout=10,
        )
        return out.stdout

    def start(self):
        # No periodic saves; `SHUTDOWN SAVE` writes the data before a restart,
        # so proofs remembered before it are still remembered after it.
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--dbfilename", "soak.rdb"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if self.cli("ping").strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.cli("shutdown", "save")
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def keys(self) -> int:
        """Keys in every database (INFO keyspace), whatever names the store uses."""
        total = 0
        for line in self.cli("info", "keyspace").splitlines():
            if line.startswith("db") and "keys=" in line:
                total += int(line.split("keys=")[1].split(",")[0])
        return total


class World:
    """What the right answers depend on, changed by the event thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tenant_up = True
        self.redis = None  # None: no Redis store; else "up", "stopping", "down" or "recovering"
        self.published = frozenset()
        self.current = None
        self.previous = None

    def snapshot(self):
        with self.lock:
            return (self.tenant_up, self.redis, self.published)


class Server:
    def __init__(self, binary: str, env: dict, workdir: str, name: str):
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.stderr_path = os.path.join(workdir, f"{name}.log")
        env = dict(os.environ, **env, PORT=str(self.port))
        self.process = subprocess.Popen(
            [binary, "serve"], env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "w"),
        )

    def wait_ready(self, seconds: float) -> bool:
        deadline = time.time() + seconds
        while time.time() < deadline and self.process.poll() is None:
            try:
                status, _, _ = get(self.port, "/readyz", {})
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        with open(self.stderr_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def get(port: int, path: str, headers: dict, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        if own:
            conn.close()


def metric(port: int, name: str) -> float:
    """The sum of every series of `name`, labelled (one per issuer, as the
    jwks_* families are) or not."""
    _, _, body = get(port, "/metrics", {})
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    ]
    if not values:
        raise KeyError(name)
    return sum(values)


def outcome(status: int, headers: dict, body: bytes, path: str, sub) -> str:
    """A response as a label such as `200` or `401:invalid_token`, after
    checking the parts the spec fixes (body, challenge, Retry-After)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{status}:not-json"
    if status == 200:
        if path == "/api/public":
            return "200" if doc == {"message": PUBLIC_MESSAGE} else "200:wrong-body"
        message = SCOPED_MESSAGE if path == "/api/private-scoped" else PRIVATE_MESSAGE
        return "200" if doc == {"message": message, "user_id": sub} else "200:wrong-body"
    error = doc.get("error") if isinstance(doc, dict) else None
    if not (isinstance(doc, dict) and isinstance(doc.get("error_description"), str)):
        return f"{status}:no-error-description"
    challenge = headers.get("www-authenticate", "")
    if status == 401 and error == "unauthorized" and challenge and "error=" not in challenge:
        return "401:bare"
    if status == 401 and error in ("invalid_token", "invalid_dpop_proof") and f'error="{error}"' in challenge:
        return f"401:{error}"
    if status == 403 and error == "insufficient_scope" and 'error="insufficient_scope"' in challenge \
            and 'scope="read:messages"' in challenge:
        return "403:insufficient_scope"
    if status == 400 and error == "invalid_request":
        return "400:invalid_request"
    if status == 503 and error == "temporarily_unavailable" and headers.get("retry-after", "").isdigit():
        return "503:temporarily_unavailable"
    return f"{status}:{error}"


class Job:
    """One request: its class, how to build it, and who the token is for."""

    def __init__(self, kind, path, build, sub=None, kid=None, dpop=False):
        self.kind, self.path, self.build = kind, path, build
        self.sub, self.kid, self.dpop = sub, kid, dpop

    def expected(self, world):
        # Whether the tenant is up changes no answer: a cached key keeps
        # serving through an outage, and no key is rotated during one.
        _tenant_up, redis, published = world
        key_gone = self.kid is not None and self.kid not in published
        fixed = {
            "public": {"200"},
            "expired": {"401:invalid_token"},
            "wrong_audience": {"401:invalid_token"},
            "garbage": {"401:invalid_token"},
            "no_credentials": {"401:bare"},
            "malformed_header": {"400:invalid_request"},
            "bound_as_bearer": {"401:invalid_token"},
        }
        if self.kind in fixed:
            return fixed[self.kind]
        if self.kind == "forbidden":
            answers = {"403:insufficient_scope"}
        elif self.kind == "dpop_replay":
            answers = {"401:invalid_dpop_proof"}
        else:
            answers = {"200"}
        # A token of a key the tenant has just withdrawn is good until the
        # service next reads the key set (never sent after the withdrawal;
        # only requests in flight then can see this).
        if key_gone:
            answers.add("401:invalid_token")
        # The replay store fails closed while Redis is down, and may while
        # it is stopping or until the service has reconnected.
        if self.dpop and redis == "down":
            answers = {"503:temporarily_unavailable"} | (answers - {"200"})
        elif self.dpop and redis in ("stopping", "recovering"):
            answers.add("503:temporarily_unavailable")
        return answers


class Soak:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(20261202)
        self.tenant = Tenant()
        self.world = World()
        self.results = collections.Counter()
        self.wrong = []
        self.lock = threading.Lock()
        self.replayable = collections.deque(maxlen=200)
        self.retries = 0
        self.max_lag = 0.0
        self.samples = []
        self.failures = []
        self.events = []
        self.clients = [DpopClient() for _ in range(3)]
        self.server = None
        self.redis = None

    # ---- tokens -------------------------------------------------------
    def claims(self, sub, scope="read:messages", lifetime=None, **extra):
        now = int(time.time())
        claims = {
            "iss": self.tenant.issuer,
            "sub": sub,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + (lifetime if lifetime is not None else self.args.seconds + 3600),
            "azp": "soak-client",
            "jti": b64u(os.urandom(9)),
        }
        if scope:
            claims["scope"] = scope
        claims.update(extra)
        return claims

    def mint_pools(self, key):
        """Tokens clients keep using until they expire, as real clients do
        (a few per kind, so the verified-token cache sees repeats)."""
        pools = {
            "valid": [], "forbidden": [], "expired": [], "wrong_audience": [], "bound": [],
        }
        for i in range(8):
            sub = f"soak|user-{key.kid}-{i}"
            pools["valid"].append((key.sign(self.claims(sub)), sub))
        for i in range(3):
            sub = f"soak|noscope-{i}"
            pools["forbidden"].append((key.sign(self.claims(sub, scope="openid")), sub))
            pools["expired"].append((key.sign(self.claims(sub, lifetime=-3600)), sub))
            pools["wrong_audience"].append(
                (key.sign(self.claims(sub, aud="https://another-api.example")), sub)
            )
        for i, client in enumerate(self.clients):
            sub = f"soak|dpop-{i}"
            token = key.sign(self.claims(sub, cnf={"jkt": client.jkt}))
            pools["bound"].append((token, sub, client))
        return pools

    def rotate(self):
        """Auth0's rotation: the new key is published beside the current
        one and signs from now on; the key before that is withdrawn."""
        generation = 0 if self.world.current is None else int(self.world.current[0].kid.rsplit("-", 1)[1]) + 1
        key = TenantKey(generation)
        pools = self.mint_pools(key)
        with self.world.lock:
            keys = [k for k in (self.world.current and self.world.current[0], key) if k]
        self.tenant.publish(keys)
        with self.world.lock:
            self.world.published = frozenset(k.kid for k in keys)
            self.world.previous = self.world.current
            self.world.current = (key, pools)
        return key.kid

    # ---- traffic ------------------------------------------------------
    def next_job(self):
        with self.world.lock:
            current, previous = self.world.current, self.world.previous
        key, pools = current
        rng = self.rng
        kinds = [
            ("public", 4), ("valid", 16), ("valid_scoped", 8), ("previous_key", 6),
            ("fresh_token", 3), ("expired", 7), ("wrong_audience", 6), ("garbage", 7),
            ("no_credentials", 3), ("malformed_header", 2), ("forbidden", 8),
            ("bound_as_bearer", 3), ("dpop_fresh", 16), ("dpop_replay", 7),
        ]
        kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        if kind == "previous_key" and previous is None:
            kind = "valid"
        if kind == "dpop_replay" and not self.replayable:
            kind = "dpop_fresh"

        def bearer(token):
            return lambda: {"Authorization": f"Bearer {token}"}

        if kind == "public":
            return Job(kind, "/api/public", lambda: {})
        if kind in ("valid", "valid_scoped", "previous_key"):
            token, sub = rng.choice((previous if kind == "previous_key" else current)[1]["valid"])
            source = previous[0] if kind == "previous_key" else key
            path = "/api/private-scoped" if kind == "valid_scoped" else "/api/private"
            return Job(kind, path, bearer(token), sub=sub, kid=source.kid)
        if kind == "fresh_token":
            sub = f"soak|fresh-{rng.randrange(1_000_000)}"
            token = key.sign(self.claims(sub))
            return Job(kind, "/api/private", bearer(token), sub=sub, kid=key.kid)
        if kind in ("expired", "wrong_audience", "forbidden"):
            token, sub = rng.choice(pools[kind])
            path = "/api/private-scoped" if kind == "forbidden" else "/api/private"
            return Job(kind, path, bearer(token), sub=sub, kid=key.kid)
        if kind == "garbage":
            parts = [b64u(os.urandom(rng.randrange(1, 200))) for _ in range(rng.choice((1, 2, 3, 3, 3, 4)))]
            return Job(kind, "/api/private", bearer(".".join(parts)))
        if kind == "no_credentials":
            header = rng.choice(({}, {"Authorization": "Basic dXNlcjpwYXNz"}))
            return Job(kind, "/api/private", lambda: header)
        if kind == "malformed_header":
            return Job(kind, "/api/private", lambda: {"Authorization": "Bearer two tokens"})
        if kind == "bound_as_bearer":
            token, sub, _ = rng.choice(pools["bound"])
            return Job(kind, "/api/private", bearer(token), sub=sub, kid=key.kid)
        if kind == "dpop_fresh":
            token, sub, client = rng.choice(pools["bound"])
            url = f"{self.server.base}/api/private"
            job = Job(kind, "/api/private", None, sub=sub, kid=key.kid, dpop=True)

            def build():
                # A new proof on every attempt: a retried proof is a replay.
                job.proof = client.proof("GET", url, token)
                return {"Authorization": f"DPoP {token}", "DPoP": job.proof}

            job.build = build
            job.token = token
            return job
        # dpop_replay: a proof the service has already accepted once.
        with self.lock:
            token, proof, sub, kid = rng.choice(self.replayable)
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
        return Job(kind, "/api/private", lambda: headers, sub=sub, kid=kid, dpop=True)

    def send(self, job, conn_holder):
        """Sends `job`; retries once on a fresh connection when a kept-alive
        connection turns out to be closed before any answer came back."""
        for attempt in (0, 1):
            reused = conn_holder[0] is not None
            if conn_holder[0] is None:
                conn_holder[0] = http.client.HTTPConnection(HOST, self.server.port, timeout=REQUEST_TIMEOUT)
            try:
                return get(self.server.port, job.path, job.build(), conn_holder[0])
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn_holder[0].close()
                conn_holder[0] = None
                if not reused or attempt == 1:
                    raise
                with self.lock:
                    self.retries += 1
        raise AssertionError("unreachable")

    def worker(self, jobs):
        conn = [None]
        while True:
            item = jobs.get()
            if item is None:
                if conn[0] is not None:
                    conn[0].close()
                break
            due, job = item
            lag = time.time() - due
            before = self.world.snapshot()
            try:
                status, headers, body = self.send(job, conn)
                label = outcome(status, headers, body, job.path, job.sub)
            except Exception as e:  # every failure to get an answer is a wrong answer
                label = f"error:{type(e).__name__}"
                if conn[0] is not None:
                    conn[0].close()
                    conn[0] = None
            after = self.world.snapshot()
            expected = job.expected(before) | job.expected(after)
            with self.lock:
                self.max_lag = max(self.max_lag, lag)
                self.results[(job.kind, label)] += 1
                if label not in expected:
                    self.wrong.append((time.time() - self.t0, job.kind, label, sorted(expected)))
                if job.kind == "dpop_fresh" and label == "200":
                    self.replayable.append((job.token, job.proof, job.sub, job.kid))

    # ---- events and sampling ----------------------------------------
    def event(self, what):
        self.events.append(f"{time.time() - self.t0:7.1f}s {what}")
        log(what)

    def sample(self):
        pid = self.server.process.pid
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            return
        self.samples.append((time.time() - self.t0, rss, fds))

    def timeline(self):
        t = self.args.seconds
        warmup = min(max(10.0, 0.15 * t), 120.0)
        plan = [(warmup, "warmup_end"), (0.30 * t, "rotate")]
        plan += [(0.45 * t, "tenant_down"), (0.55 * t, "tenant_up")]
        if self.redis:
            plan.append((0.70 * t, "redis_restart"))
        # Another rotation only when the service's unknown-kid refetch
        # cooldown (30 s) is surely over since the first.
        if 0.55 * t >= 40:
            plan.append((0.85 * t, "rotate"))
        return warmup, sorted(plan)

    def run_events(self, plan, stop):
        for at, what in plan:
            while time.time() - self.t0 < at:
                if stop.wait(0.2):
                    return
            if what == "warmup_end":
                self.event("warm-up over; memory and descriptors measured from here")
            elif what == "rotate":
                self.event(f"tenant rotates to {self.rotate()}")
            elif what == "tenant_down":
                self.failures_before = metric(self.server.port, "jwks_refresh_failures_total")
                with self.world.lock:
                    self.world.tenant_up = False
                self.tenant.stop()
                self.event("tenant down")
            elif what == "tenant_up":
                failures = metric(self.server.port, "jwks_refresh_failures_total")
                if failures <= self.failures_before:
                    self.failures.append("the service never tried the tenant while it was down")
                self.tenant.start()
                with self.world.lock:
                    self.world.tenant_up = True
                self.successes_after_outage = metric(self.server.port, "jwks_refresh_successes_total")
                self.event(f"tenant up (refresh failures during the outage: {failures - self.failures_before:.0f})")
            elif what == "redis_restart":
                self.redis_keys_before_restart = self.redis.keys()
                # Redis answers until its shutdown completes, and again as
                # soon as it is spawned, before start() has seen it answer:
                # "down" holds only strictly between the two.
                with self.world.lock:
                    self.world.redis = "stopping"
                self.redis.stop()
                with self.world.lock:
                    self.world.redis = "down"
                self.event(f"redis down ({self.redis_keys_before_restart} keys saved)")
                if stop.wait(min(10.0, max(3.0, 0.01 * self.args.seconds))):
                    return
                with self.world.lock:
                    self.world.redis = "recovering"
                self.redis.start()
                self.event(f"redis up ({self.redis.keys()} keys loaded)")
                timer = threading.Timer(10.0, self.redis_recovered)
                timer.daemon = True
                timer.start()

    def redis_recovered(self):
        with self.world.lock:
            if self.world.redis == "recovering":
                self.world.redis = "up"

    # ---- the run ------------------------------------------------------
    def server_env(self, replay_store=None):
        env = {
            "APP_ENVIRONMENT": "local",
            "AUTH0_ISSUER_BASE_URL": self.tenant.issuer,
            "AUTH0_DOMAIN": "",
            "AUTH0_AUDIENCE": AUDIENCE,
            "APP_APPLICATION__HOST": HOST,
            "RUST_LOG": "warn",
            # Refresh every 5 s, so an outage is noticed within seconds,
            # and retry at least every 5 s once it is over.
            "APP_JWKS__TTL_SECS": "5",
            "APP_JWKS__MAX_BACKOFF_SECS": "5",
            # A small verified-token cache fills during warm-up and then
            # evicts; at the default 10,000 entries a cache still filling
            # at the end of a short run would look like a leak.
            "APP_VALIDATION__VERIFIED_CACHE_ENTRIES": "256",
            "APP_SHUTDOWN__GRACE_SECS": "5",
        }
        if replay_store:
            env["APP_DPOP__REPLAY_STORE"] = replay_store
        # --server-env: to check that the soak catches a broken setting.
        env.update(item.split("=", 1) for item in self.args.server_env)
        return env

    def probe_redis_support(self) -> bool:
        """Whether the binary uses APP_DPOP__REPLAY_STORE (issue 14): with it
        pointing at a closed port, a binary that has the store refuses to
        start or refuses DPoP requests (it fails closed); one without it
        ignores the variable and accepts the request."""
        server = Server(self.args.binary, self.server_env(f"redis://{HOST}:{free_port()}"),
                        self.workdir, "probe")
        self.server = server
        try:
            if not server.wait_ready(30):
                return server.process.poll() is not None
            job = self.next_job()
            while job.kind != "dpop_fresh":
                job = self.next_job()
            status, headers, body = get(server.port, job.path, job.build())
            label = outcome(status, headers, body, job.path, job.sub)
            if label not in ("200", "503:temporarily_unavailable"):
                raise RuntimeError(f"the probe's DPoP request got {label}")
            return label != "200"
        finally:
            server.stop()
            self.server = None

    def run(self) -> int:
        args = self.args
        self.rotate()
        self.tenant.start()
        self.replayable.clear()

        use_redis = False
        if args.redis != "off":
            supported = self.probe_redis_support()
            log(f"APP_DPOP__REPLAY_STORE {'is' if supported else 'is not'} supported by this binary")
            if args.redis == "on" and not supported:
                log("SOAK_REDIS=on, but the binary ignores APP_DPOP__REPLAY_STORE")
                return 1
            use_redis = supported
        if use_redis:
            if shutil.which("redis-server") is None:
                log("installing redis-server")
                subprocess.run(["apt-get", "update", "-q"], check=True)
                subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"],
                               check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            self.redis = Redis(self.workdir)
            self.redis.start()
            self.world.redis = "up"
        store = f"redis://{HOST}:{self.redis.port}" if self.redis else None
        self.server = Server(args.binary, self.server_env(store), self.workdir, "server")
        if not self.server.wait_ready(60):
            log("the server did not become ready:\n" + self.server.tail())
            return 1
        log(f"server pid {self.server.process.pid} on port {self.server.port}; tenant on "
            f"{self.tenant.port}; replay store: {'redis on port %d' % self.redis.port if self.redis else 'in memory'}; "
            f"{args.rate} req/s for {args.seconds} s")

        self.t0 = time.time()
        warmup, plan = self.timeline()
        stop = threading.Event()
        jobs = queue.Queue()
        workers = [threading.Thread(target=self.worker, args=(jobs,), daemon=True) for _ in range(args.workers)]
        for w in workers:
            w.start()
        events = threading.Thread(target=self.run_events, args=(plan, stop), daemon=True)
        events.start()

        # Fixed rate: request i is due at t0 + i / rate, however late the
        # answers are; the count is bounded by rate x duration.
        total = int(args.rate * args.seconds)
        next_sample = self.t0
        for i in range(total):
            due = self.t0 + i / args.rate
            while True:
                now = time.time()
                if now >= next_sample:
                    self.sample()
                    next_sample += 1.0
                if now >= due:
                    break
                time.sleep(min(due - now, max(0.0, next_sample - now), 0.05))
            if self.server.process.poll() is not None:
                self.failures.append(f"the server exited with {self.server.process.returncode}")
                break
            jobs.put((due, self.next_job()))
        for _ in workers:
            jobs.put(None)
        deadline = time.time() + REQUEST_TIMEOUT * 3
        for w in workers:
            w.join(max(0.1, deadline - time.time()))
        stop.set()
        events.join(15)

        # Checks on the run as a whole.
        if self.server.process.poll() is not None:
            self.failures.append(f"the server died (exit {self.server.process.returncode})")
        elif hasattr(self, "successes_after_outage"):
            successes = metric(self.server.port, "jwks_refresh_successes_total")
            if successes <= self.successes_after_outage:
                self.failures.append("the service never reloaded the keys after the outage")
        rotations = sum(1 for _, what in plan if what == "rotate")
        accepted_new = sum(n for (kind, label), n in self.results.items()
                           if kind in ("valid", "fresh_token") and label == "200")
        if rotations and not any(e.endswith(f"rotates to soak-key-{rotations}") for e in self.events):
            self.failures.append("a planned rotation did not happen")
        if accepted_new == 0:
            self.failures.append("no valid token was ever accepted")
        if self.redis:
            if self.redis_keys_before_restart == 0:
                self.failures.append("the Redis replay store held no key before its restart")
        alive = any(w.is_alive() for w in workers)
        if alive:
            self.failures.append("requests were still outstanding after the run")

        start = [s for s in self.samples if warmup <= s[0] <= warmup + 5]
        end = self.samples[-5:]
        rss0, rss1 = (statistics.median_low([s[1] for s in w]) if w else 0 for w in (start, end))
        fd0, fd1 = (statistics.median_low([s[2] for s in w]) if w else 0 for w in (start, end))
        if not start or not end:
            self.failures.append("too few memory samples")
        if rss1 > rss0 * GROWTH_LIMIT:
            self.failures.append(f"resident memory grew from {rss0} to {rss1} KiB (over 10 %)")
        if fd1 > fd0 * GROWTH_LIMIT:
            self.failures.append(f"open descriptors grew from {fd0} to {fd1} (over 10 %)")
        code = self.server.stop()
        if code != 0:
            self.failures.append(f"the server exited with {code} after SIGTERM")
        if self.redis:
            self.redis.stop()

        requests = sum(self.results.values())
        print()
        print("events:")
        for e in self.events:
            print(f"  {e}")
        print("answers by class:")
        by_kind = collections.defaultdict(list)
        for (kind, label), n in sorted(self.results.items()):
            by_kind[kind].append(f"{label} x{n}")
        for kind, labels in by_kind.items():
            print(f"  {kind:<18} {', '.join(labels)}")
        peak = max((s[1] for s in self.samples), default=0)
        print(f"tenant requests: {dict(self.tenant.hits)}; connection retries: {self.retries}; "
              f"max scheduling lag {self.max_lag:.2f} s; peak rss {peak} KiB")
        for t, kind, label, expected in self.wrong[:20]:
            print(f"  WRONG at {t:7.1f}s: {kind} got {label}, expected one of {expected}")
        if self.wrong:
            self.failures.append(f"{len(self.wrong)} wrong answers")
        for failure in self.failures:
            print(f"  FAILED: {failure}")
        print(f"requests {requests}, wrong answers: {len(self.wrong)}, rss start/end {rss0}/{rss1} KiB, "
              f"fds start/end {fd0}/{fd1}")
        if requests == 0:
            return 1
        return 1 if self.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", "40")))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--redis", choices=("auto", "on", "off"), default=os.environ.get("SOAK_REDIS", "auto"))
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra server setting, e.g. APP_JWKS__MAX_STALE_SECS=1 to see an outage fail the run")
    args = parser.parse_args()
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    if args.seconds < 20:
        parser.error("--seconds must be at least 20 (warm-up, rotation and outage need room)")
    workdir = tempfile.mkdtemp(prefix="soak-")
    soak = Soak(args, workdir)
    # soak.sh's time limit sends SIGTERM: stop the server and Redis too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    try:
        return soak.run()
    finally:
        for process in (soak.server and soak.server.process, soak.redis and soak.redis.process):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        soak.tenant.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
