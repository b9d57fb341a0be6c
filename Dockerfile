# The churnflow binary in a slim image: `docker compose up` runs it against PostgreSQL, MinIO and
# Mailpit (docker-compose.yml). The report template and the demo contract are compiled in; the
# image adds dags.toml, which a deployment overrides by mounting its own at /app/dags.toml.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The commit model cards record (.git is not in the build context): GIT_COMMIT=$(git rev-parse HEAD)
ARG GIT_COMMIT=""
ENV CHURNFLOW_GIT_COMMIT=$GIT_COMMIT
COPY . .
RUN cargo build --release --locked --bin churnflow

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/churnflow /usr/local/bin/churnflow
COPY dags.toml /app/dags.toml
WORKDIR /app
ENV CHURNFLOW_DAGS=/app/dags.toml \
    CHURNFLOW_STATE_DIR=/var/lib/churnflow
VOLUME /var/lib/churnflow
ENTRYPOINT ["churnflow"]
CMD ["schedule"]
