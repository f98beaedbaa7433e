# v2client container image.
#   docker build -t v2client .
#   docker run -p 8080:8080 -v v2client-data:/data -e DATABASE_URL=postgres://… v2client
# Without DATABASE_URL it serves on SQLite in the /data volume.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer, so code changes do not rebuild them.
# The test-image crate is a workspace member: its manifest must be there, its code is not
# built (only the server package is).
COPY Cargo.toml Cargo.lock ./
COPY crates/testkit/Cargo.toml crates/testkit/
RUN mkdir -p src benches crates/testkit/src \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs crates/testkit/src/lib.rs \
    && echo 'fn main() {}' > benches/pipeline.rs && echo 'fn main() {}' > benches/faces.rs \
    && cargo build --release --locked --package v2client \
    && rm -rf src benches crates/testkit/src
# The face models under assets/models/ are embedded in the binary: the image needs no
# other file and fetches nothing at run time.
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --package v2client

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin v2client \
    && mkdir -p /data && chown v2client:v2client /data && chmod 0700 /data
COPY --from=build /src/target/release/v2client /usr/local/bin/v2client
USER v2client
WORKDIR /data
ENV V2CLIENT_BIND=0.0.0.0:8080 \
    V2CLIENT_DATA_DIR=/data \
    V2CLIENT_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["v2client", "healthcheck"]
ENTRYPOINT ["v2client"]
CMD ["serve"]
