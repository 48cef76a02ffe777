"""Start and stop the real services on a machine without Docker: PostgreSQL and Apache Kafka.

`make up` calls `up()`, `make down` calls `down()`. Both are idempotent: `up` starts only
what is not running (so it also revives a killed broker or database), `down` stops only what runs.
Connection settings for everything else land in .local/env.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from core.settings import load
from hospital.local.kafka import LocalKafka, ensure_topics
from hospital.local.postgres import LocalPostgres
from hospital.local.process import ServiceError

log = logging.getLogger(__name__)

STATE_DIR = Path(".local")
# Partitions of the transfer topic: enough for several consumers of one group to share it.
TRANSFER_PARTITIONS = 6

__all__ = ["ServiceError", "up", "down", "LocalServices"]


@dataclass(frozen=True)
class LocalServices:
    postgres: LocalPostgres
    kafka: LocalKafka

    @classmethod
    def from_environment(cls, state_dir: Path = STATE_DIR) -> "LocalServices":
        """Ports come from HOSPITAL_PG_PORT, HOSPITAL_KAFKA_PORT, HOSPITAL_KAFKA_CONTROLLER_PORT."""
        env = os.environ
        state_dir.mkdir(exist_ok=True)
        state_dir = state_dir.resolve()
        return cls(
            postgres=LocalPostgres(state_dir, int(env.get("HOSPITAL_PG_PORT", "55432"))),
            kafka=LocalKafka(state_dir, int(env.get("HOSPITAL_KAFKA_PORT", "19092")),
                             int(env.get("HOSPITAL_KAFKA_CONTROLLER_PORT", "19093"))),
        )

    def env_lines(self) -> list[str]:
        pg = self.postgres
        return [
            "# Written by `make up` for the local services; do not commit. Values in the",
            "# environment or in .env take precedence over these.",
            f"DATABASE_URL={pg.url('hospital_ingest', pg.password('hospital_ingest'))}",
            f"ANALYST_DATABASE_URL={pg.url('hospital_analyst', pg.password('hospital_analyst'))}",
            f"DATABASE_ADMIN_URL={pg.admin_url()}",
            f"KAFKA_BOOTSTRAP_SERVERS={self.kafka.bootstrap}",
        ]


def up(state_dir: Path = STATE_DIR) -> dict[str, str]:
    """Start whatever is not running, apply the schema, create topics, write .local/env.

    Returns the running versions, for example {"postgresql": "15.18", "kafka": "4.3.1"}.
    """
    services = LocalServices.from_environment(state_dir)
    pg_version = services.postgres.start()
    log.info("PostgreSQL %s ready on 127.0.0.1:%s (log: %s)", pg_version, services.postgres.port,
             services.postgres.log_file)
    kafka_version = services.kafka.start()
    log.info("Apache Kafka %s (KRaft) ready on %s (log: %s)", kafka_version, services.kafka.bootstrap,
             services.kafka.log_file)
    env_file = state_dir / "env"
    env_file.write_text("\n".join(services.env_lines()) + "\n")
    env_file.chmod(0o600)
    settings = load()
    ensure_topics(services.kafka.bootstrap, {settings.transfers_topic: TRANSFER_PARTITIONS,
                                             settings.transfers_dlq_topic: 1})
    return {"postgresql": pg_version, "kafka": kafka_version}


def down(state_dir: Path = STATE_DIR) -> list[str]:
    """Stop both services if they run; returns the names of those it stopped."""
    services = LocalServices.from_environment(state_dir)
    stopped = []
    if services.kafka.stop():
        stopped.append("kafka")
    if services.postgres.stop():
        stopped.append("postgresql")
    return stopped
