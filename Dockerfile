# Build: the same command the test suite runs (`cargo build --release --locked -p kaika-server`).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kaika-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin kaika \
    && mkdir -p /data \
    && chown kaika:kaika /data
COPY --from=build /src/target/release/kaika /usr/local/bin/kaika
USER kaika
WORKDIR /data
ENV KAIKA__SERVER__LISTEN=0.0.0.0:8080 \
    KAIKA__DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["kaika", "healthcheck"]
ENTRYPOINT ["kaika"]
CMD ["serve"]
