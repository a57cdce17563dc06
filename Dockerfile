# syntax=docker/dockerfile:1
# Build: docker build -t auth0-actix-api .
# Run:   docker run --rm -p 8080:8080 -e AUTH0_DOMAIN=... -e AUTH0_AUDIENCE=... auth0-actix-api

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build

# Dependencies first, in their own layer: it is rebuilt only when
# Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY config ./config
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/token_validation.rs \
 && cargo build --release --locked \
 && rm -rf src benches

COPY src ./src
COPY benches ./benches
# The placeholder build left newer timestamps on the fake sources' outputs.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin auth0-actix-api

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /build/target/release/auth0-actix-api /usr/local/bin/auth0-actix-api
COPY config ./config
ENV APP_ENVIRONMENT=production \
    PORT=8080 \
    RUST_LOG=info
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["auth0-actix-api", "healthcheck"]
ENTRYPOINT ["auth0-actix-api"]
CMD ["serve"]
