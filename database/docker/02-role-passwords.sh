#!/usr/bin/env bash
# Runs once, after 01-init_db.sql, when the postgres container initialises an empty volume:
# gives the pipeline and analyst roles their passwords (from .env, never from the repo) and LOGIN.
set -euo pipefail
: "${HOSPITAL_INGEST_PASSWORD:?HOSPITAL_INGEST_PASSWORD must be set (see .env.example)}"
: "${HOSPITAL_ANALYST_PASSWORD:?HOSPITAL_ANALYST_PASSWORD must be set (see .env.example)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v ingest_password="$HOSPITAL_INGEST_PASSWORD" -v analyst_password="$HOSPITAL_ANALYST_PASSWORD" <<'SQL'
ALTER ROLE hospital_ingest LOGIN PASSWORD :'ingest_password';
ALTER ROLE hospital_analyst LOGIN PASSWORD :'analyst_password';
SQL
