"""`make up` is idempotent and revives a killed service. Runs last: it kills the real services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg2
import pytest
from confluent_kafka.admin import AdminClient

from hospital.local import LocalServices
from hospital.local.process import pid_alive

pytestmark = pytest.mark.integration


def services_up() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hospital", "services", "up"],
                          capture_output=True, text=True, timeout=300)


def broker_answers(bootstrap: str) -> bool:
    return bool(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers)


def test_up_twice_is_a_no_op_that_keeps_the_same_processes(database_url, kafka_bootstrap):
    services = LocalServices.from_environment()
    before = (services.postgres.running_pid(), services.kafka.running_pid())
    result = services_up()
    assert result.returncode == 0, result.stderr
    assert (services.postgres.running_pid(), services.kafka.running_pid()) == before


def test_up_revives_a_broker_killed_with_sigkill(kafka_bootstrap):
    services = LocalServices.from_environment()
    pid = services.kafka.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    result = services_up()
    assert result.returncode == 0, result.stderr
    assert services.kafka.running_pid() not in (None, pid)
    assert broker_answers(kafka_bootstrap)


def test_up_revives_postgres_killed_with_sigkill(database_url):
    services = LocalServices.from_environment()
    pid = services.postgres.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    result = services_up()
    assert result.returncode == 0, result.stderr
    assert services.postgres.running_pid() not in (None, pid)
    psycopg2.connect(database_url, connect_timeout=5).close()
