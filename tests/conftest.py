"""Shared fixtures. Unit tests start nothing; integration tests use the real PostgreSQL and
Kafka that `make up` (or `make test`) started. If those are not reachable the integration
tests fail with a message saying so: they never skip."""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import psycopg2
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from core.settings import load
from database.connection import connect
from database.schema import scratch_database, with_database

SERVICES_HINT = "start the services with `make up` (or run the whole suite with `make test`)"

# The tests' own window: they name instants inside it (events, record times, partitions), so it
# is pinned here for every test and every child process they start, whatever the product's
# default SIM_START or the user's environment says. Tests of another window replace `sim_start`.
TEST_WINDOW_START = "2026-03-02T00:00:00+02:00"
os.environ["SIM_START"] = TEST_WINDOW_START


def pytest_report_header(config):
    """Name the real servers the integration tests will talk to."""
    settings = load()
    lines = []
    try:
        with psycopg2.connect(settings.database_url or "", connect_timeout=3) as conn, conn.cursor() as cur:
            cur.execute("SELECT version()")
            lines.append(f"postgresql: {cur.fetchone()[0]}")
        conn.close()
    except psycopg2.Error:
        lines.append("postgresql: not reachable (integration tests will fail; run `make up`)")
    from hospital.local import LocalServices
    services = LocalServices.from_environment()
    if services.kafka.running_pid() is not None:
        lines.append(f"kafka: Apache Kafka {services.kafka.version()} (KRaft) at {services.kafka.bootstrap}")
    elif settings.kafka_bootstrap_servers:
        lines.append(f"kafka: {settings.kafka_bootstrap_servers} (not started by this checkout)")
    return lines


@pytest.fixture(scope="session")
def settings():
    return load()


@pytest.fixture()
def services():
    """The local PostgreSQL and Kafka of this checkout, for tests that restart them; both are
    running again afterwards, whatever the test did, for the tests after it."""
    from hospital.local import LocalServices
    local = LocalServices.from_environment(Path(__file__).resolve().parents[1] / ".local")
    yield local
    local.postgres.start()
    local.kafka.start()


def _require_url(settings, name: str) -> str:
    value = getattr(settings, name)
    if not value:
        pytest.fail(f"{name.upper()} is not set: {SERVICES_HINT}", pytrace=False)
    return value


@pytest.fixture(scope="session")
def database_url(settings) -> str:
    url = _require_url(settings, "database_url")
    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at DATABASE_URL ({exc}): {SERVICES_HINT}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def admin_url(settings, database_url) -> str:
    return _require_url(settings, "database_admin_url")


@pytest.fixture(scope="session")
def analyst_url(settings, database_url) -> str:
    return _require_url(settings, "analyst_database_url")


@pytest.fixture()
def db(database_url):
    """A connection as the pipeline role, rolled back and closed after the test."""
    conn = connect(database_url)
    yield conn
    conn.rollback()
    conn.close()


@pytest.fixture()
def admin_db(admin_url):
    conn = connect(admin_url)
    yield conn
    conn.rollback()
    conn.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings) -> str:
    bootstrap = _require_url(settings, "kafka_bootstrap_servers")
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    try:
        admin.list_topics(timeout=10)
    except Exception as exc:  # noqa: BLE001 - any failure here means "broker not there"
        pytest.fail(f"Kafka is not reachable at {bootstrap} ({exc}): {SERVICES_HINT}", pytrace=False)
    return bootstrap


@pytest.fixture()
def fresh_topic(kafka_bootstrap):
    """A new, uniquely named topic with 3 partitions; deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture()
def isolated_settings(settings, admin_url):
    """Settings pointing at a brand-new database with the schema applied, dropped after the test.

    Use it for any test that writes: tests never share rows, and may run beside a live demo.
    """
    with scratch_database(admin_url, prefix="hospital_test") as name:
        yield dataclasses.replace(
            settings,
            database_url=with_database(settings.database_url, name),
            database_admin_url=with_database(admin_url, name),
            analyst_database_url=with_database(settings.analyst_database_url, name),
        )


@pytest.fixture()
def run_settings(isolated_settings, kafka_bootstrap, tmp_path):
    """Settings for a whole `hospital run` of its own: a fresh database, its own topics (the ADT
    relay's too: one warehouse per ADT topic), consumer group and data folder. Tests that move the window start replace `sim_start` themselves."""
    from hospital.local import TRANSFER_PARTITIONS
    from hospital.local.kafka import ensure_topics

    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(isolated_settings, data_dir=tmp_path / "data",
                                   transfers_topic=f"run-{suffix}", transfers_dlq_topic=f"run-{suffix}.dlq",
                                   consumer_group=f"run-{suffix}", adt_topic=f"adt-{suffix}")
    ensure_topics(kafka_bootstrap, {settings.transfers_topic: TRANSFER_PARTITIONS, settings.transfers_dlq_topic: 1})
    return settings
