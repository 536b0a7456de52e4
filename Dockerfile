# syntax=docker/dockerfile:1
#
# Causeway's container image: the one `causeway` binary, its role chosen by arguments
# (`causeway migrate`, `causeway serve --roles relay`, ...). docs/adr/0007-deployment.md.
#
#   docker build -t causeway:dev .
#
# Stages: chef (Rust, the C toolchain librdkafka needs, cargo-chef); planner (a recipe of
# the workspace's dependencies, from the manifests only); builder (the dependencies, a layer
# cached until Cargo.toml or Cargo.lock change, then the workspace); runtime (Debian slim,
# the binary, user 1000). migrations/, schemas/ and config/default.toml are compiled into
# the binary, so the runtime image holds no other file of the repository, and no secret:
# settings come from CAUSEWAY_* variables at run time.

ARG RUST_VERSION=1.95
# Builder and runtime share one Debian release, so the binary finds the libssl it linked.
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
# rdkafka builds librdkafka from source (its configure wants a C++ compiler too), linked
# to the system's OpenSSL and zlib; cmake in case the rdkafka crate's cmake build is chosen.
# Unpinned Debian packages: the release above pins them, and versions leave its mirrors.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make cmake pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}"
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
# Only the dependencies (librdkafka included): rebuilt only when the recipe changes.
RUN cargo chef cook --release --locked --package causeway --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package causeway --bin causeway \
 && install -D -m 0755 target/release/causeway /out/causeway

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# What the binary links dynamically (libssl, zlib) and trusts (CA certificates); bash stays
# in the base image for compose.yaml's health checks. The user matches the manifests'
# runAsUser 1000.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 causeway \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin causeway
COPY --from=builder /out/causeway /usr/local/bin/causeway
USER 1000:1000
# A container is reached from outside itself, and its logs are read by machines.
ENV CAUSEWAY_HTTP__HOST=0.0.0.0 \
    CAUSEWAY_TELEMETRY__LOG_FORMAT=json \
    CAUSEWAY_PROFILE=production
# mimalloc hands freed memory back at once instead of keeping it committed (ADR 0021):
# peak RSS in scripts/bench overload 304 -> 169 MB, throughput unchanged.
ENV MIMALLOC_PURGE_DELAY=0 \
    MIMALLOC_ARENA_EAGER_COMMIT=0
EXPOSE 8080 9464
ENTRYPOINT ["causeway"]
# Every role in one process; compose.yaml and k8s/ run one role per container.
CMD ["serve"]
