# Kaika's production image: the `kaika` binary built without the sandbox (the cargo feature `sandbox`,
# default for `cargo run`, holds the WeChat simulator and the demo journey), as a non-root user.
#
# Base images are pinned by exact version tag; no digest is pinned because none could be checked where this
# file was written. To pin one: `docker buildx imagetools inspect rust:1.95.0-slim-bookworm` and append
# `@sha256:…` to the tag. Keep the two Debian releases equal (the binary links the build image's glibc).
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:12.12-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the crates.io downloads and the compiled dependencies between builds on one
# builder: a change to Kaika recompiles Kaika's crates only. The target directory is a cache, not a layer,
# so the binary is copied out in the same step. Cache mounts need BuildKit (Docker's default builder since
# 23.0), whose built-in frontend has them: no `# syntax=` line, so no unpinned frontend image is pulled.
# scripts/test reads the flags below and checks that feature set in the dev profile (clippy, library tests).
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p kaika-server --no-default-features \
    && cp target/release/kaika /usr/local/bin/kaika

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin kaika \
    && mkdir -p /data \
    && chown kaika:kaika /data
COPY --from=build /usr/local/bin/kaika /usr/local/bin/kaika
USER kaika
WORKDIR /data
ENV KAIKA__SERVER__LISTEN=0.0.0.0:8080 \
    KAIKA__DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["kaika", "healthcheck"]
ENTRYPOINT ["kaika"]
CMD ["serve"]
