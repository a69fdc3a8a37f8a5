# The project image: drctl, the Dagster code location, webserver, daemon and the API.
FROM python:3.11-slim-bookworm

# pg_dump/pg_restore must match (or be newer than) the servers being backed up; isolated
# drills start a throwaway server of each backup's major version (initdb, pg_ctl), so the
# server package too, without the cluster Debian would otherwise create.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 postgresql-15 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dr_assets ./dr_assets
COPY graphql_api ./graphql_api
RUN pip install --no-cache-dir .
COPY dr.toml workspace.yaml ./
COPY dagster_home/dagster.yaml /opt/dagster/dagster_home/dagster.yaml

ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    DR_CONFIG=/app/dr.toml \
    PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 dr && mkdir -p /var/lib/dr && chown dr /var/lib/dr
USER dr
EXPOSE 3000 8080
CMD ["uvicorn", "--factory", "graphql_api.app:create_app", "--host", "0.0.0.0", "--port", "8080"]
