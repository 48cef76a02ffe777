"""The one settings object of the project, read from the environment.

Precedence, highest first:
  1. the process environment (what `docker compose` and CI pass in),
  2. `.env` in the current directory (a user's own overrides; never committed),
  3. `.local/env` in the current directory (written by `make up` for the local services).

Connection strings and passwords have no defaults in code: a missing one is a clear error
that says how to get it. Everything else has a sensible, documented default (see .env.example).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

SAST = ZoneInfo("Africa/Johannesburg")
ENV_FILES = (".env", ".local/env")
ENVIRONMENT = "the environment"


# The settings that say where the services are, and with which credentials.
CONNECTION_SETTINGS = ("DATABASE_URL", "DATABASE_ADMIN_URL", "ANALYST_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")


class SettingsError(RuntimeError):
    """A required setting is missing or malformed."""


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (comments and blank lines ignored, optional quotes stripped)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def layered_environment(base_dir: Path | None = None) -> dict[str, str]:
    """The environment with the env files underneath it (the process environment wins)."""
    return {key: value for key, (value, _) in layered_sources(base_dir).items()}


def layered_sources(base_dir: Path | None = None) -> dict[str, tuple[str, str]]:
    """Each setting's value and where it came from: "the environment" or the env file's path."""
    base_dir = base_dir or Path.cwd()
    merged: dict[str, tuple[str, str]] = {}
    for name in reversed(ENV_FILES):
        path = base_dir / name
        merged.update((key, (value, str(path))) for key, value in read_env_file(path).items())
    merged.update((key, (value, ENVIRONMENT)) for key, value in os.environ.items())
    return merged


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline's parts need to find each other. Immutable; build with `load()`."""

    database_url: str | None
    database_admin_url: str | None
    analyst_database_url: str | None
    kafka_bootstrap_servers: str | None
    transfers_topic: str
    transfers_dlq_topic: str
    consumer_group: str
    adt_topic: str
    data_dir: Path
    sim_start: datetime
    sim_speed: float
    seed: int
    # Where each connection setting came from (ENVIRONMENT or an env file's path), for error messages.
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def source(self, env_name: str) -> str:
        """Where the setting `env_name` (for example DATABASE_URL) came from, in words."""
        origin = self.sources.get(env_name)
        if origin is None:
            return "not set"
        return "from the environment" if origin == ENVIRONMENT else f"from {origin}"

    def require(self, name: str) -> str:
        """Return a connection setting or fail with a message that says how to provide it."""
        value = getattr(self, name)
        if not value:
            env_name = name.upper()
            raise SettingsError(
                f"{env_name} is not set. Run `make up` (it writes .local/env) "
                f"or set {env_name} in the environment or in .env (see .env.example)."
            )
        return value

    @property
    def landing_dir(self) -> Path:
        """Temporary storage where patient-record files arrive."""
        return self.data_dir / "landing"


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SettingsError(f"SIM_START must be an ISO date or datetime, got {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=SAST)
    return value


def _parse_number(name: str, text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {text!r}") from exc
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {text!r}")
    return value


def load(base_dir: Path | None = None) -> Settings:
    """Read the settings from the environment and the env files in `base_dir` (default: cwd)."""
    layered = layered_sources(base_dir)
    env = {key: value for key, (value, _) in layered.items()}
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        database_admin_url=env.get("DATABASE_ADMIN_URL") or None,
        analyst_database_url=env.get("ANALYST_DATABASE_URL") or None,
        kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        transfers_topic=env.get("TRANSFERS_TOPIC", "patient-transfers"),
        transfers_dlq_topic=env.get("TRANSFERS_DLQ_TOPIC", "patient-transfers.dlq"),
        consumer_group=env.get("CONSUMER_GROUP", "transfer-upserter"),
        adt_topic=env.get("ADT_TOPIC", "adt-messages"),
        data_dir=Path(env.get("DATA_DIR", "data")),
        sim_start=_parse_start(env.get("SIM_START", "2026-03-27T00:00:00+02:00")),
        sim_speed=_parse_number("SIM_SPEED", env.get("SIM_SPEED", "0"), float),
        seed=_parse_number("SEED", env.get("SEED", "20260302"), int),
        sources={key: layered[key][1] for key in CONNECTION_SETTINGS if env.get(key)},
    )
