# syntax=docker/dockerfile:1
# Build: docker build -t auth0-actix-api .   (BuildKit, Docker's default builder)
# Run:   docker run --rm -p 8080:8080 -e AUTH0_DOMAIN=... -e AUTH0_AUDIENCE=... auth0-actix-api
# docs/container.md explains both stages. scripts/container-check.sh reads
# this file and replays it without a Docker engine, so keep to what it
# understands: WORKDIR, COPY, ENV, RUN (cache mounts only), USER, EXPOSE,
# HEALTHCHECK, ENTRYPOINT, CMD; no ARG, no build-stage RUN with absolute paths.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build

# One COPY of the whole context (.dockerignore decides what is in it) and
# BuildKit cache mounts for the cargo registry and the target directory,
# instead of the usual dependency layer built from stub sources. The stub
# layer has to name every target Cargo.toml declares (lib, bin, each bench,
# test and example), so it breaks the day one is added: it did, when
# benches/request_path.rs came and cargo stopped at "can't find
# `request_path` bench" (issue 14). Here there is nothing to keep in step
# with Cargo.toml, and the cache mounts keep compiled dependencies between
# builds, so a source change recompiles only this crate.
COPY . .
# A cache mount is not part of the image, so the binary is copied out of
# target/ in the same RUN that builds it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin auth0-actix-api \
 && mkdir -p dist \
 && cp target/release/auth0-actix-api dist/auth0-actix-api

FROM debian:bookworm-slim
# ldd of the binary: libssl.so.3 and libcrypto.so.3 (libssl3) beyond the
# libc and libgcc_s of the base image; ca-certificates for https to the
# tenant (it pulls in the openssl command, a dependency of Debian's package).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /build/dist/auth0-actix-api /usr/local/bin/auth0-actix-api
COPY config ./config
ENV APP_ENVIRONMENT=production \
    PORT=8080 \
    RUST_LOG=info
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["auth0-actix-api", "healthcheck"]
ENTRYPOINT ["auth0-actix-api"]
CMD ["serve"]
