from __future__ import annotations

from datetime import timedelta

import pytest

from core import settings as settings_module
from core.settings import SettingsError, load


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SIM_START", "SIM_SPEED", "SEED", "DATA_DIR",
                 "DATABASE_ADMIN_URL", "ANALYST_DATABASE_URL", "TRANSFERS_TOPIC"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_environment_wins_over_dotenv_which_wins_over_local_env(clean_env, monkeypatch):
    (clean_env / ".local").mkdir()
    (clean_env / ".local" / "env").write_text("DATABASE_URL=from-local\nKAFKA_BOOTSTRAP_SERVERS=k-local\nSEED=1\n")
    (clean_env / ".env").write_text("# comment\nDATABASE_URL='from-dotenv'\n")
    monkeypatch.setenv("SEED", "7")
    settings = load(clean_env)
    assert settings.database_url == "from-dotenv"
    assert settings.kafka_bootstrap_servers == "k-local"
    assert settings.seed == 7


def test_missing_connection_setting_says_how_to_get_it(clean_env):
    settings = load(clean_env)
    with pytest.raises(SettingsError, match="make up"):
        settings.require("database_url")


def test_defaults_are_documented_values(clean_env):
    settings = load(clean_env)
    assert settings.transfers_topic == "patient-transfers"
    assert settings.sim_start.utcoffset() == timedelta(hours=2)
    assert settings.sim_speed == 0


@pytest.mark.parametrize("name,value", [("SIM_SPEED", "fast"), ("SEED", "-3"), ("SIM_START", "yesterday")])
def test_malformed_values_are_clear_errors(clean_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load(clean_env)


def test_env_example_documents_every_variable_the_settings_read():
    from pathlib import Path
    import re
    root = Path(settings_module.__file__).resolve().parents[1]
    read = set(re.findall(r'env\.get\("([A-Z_]+)"', Path(settings_module.__file__).read_text()))
    # Connection settings are documented commented out (see the next test); the rest are set.
    documented = set(re.findall(r"^#?([A-Z_]+)=", (root / ".env.example").read_text(), re.M))
    assert read <= documented, read - documented


def test_connection_settings_say_where_they_came_from(clean_env, monkeypatch):
    (clean_env / ".local").mkdir()
    (clean_env / ".local" / "env").write_text("DATABASE_URL=from-local\nANALYST_DATABASE_URL=a-local\n")
    (clean_env / ".env").write_text("DATABASE_URL=from-dotenv\n")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:1")
    settings = load(clean_env)
    assert settings.source("DATABASE_URL") == f"from {clean_env / '.env'}"
    assert settings.source("ANALYST_DATABASE_URL") == f"from {clean_env / '.local' / 'env'}"
    assert settings.source("KAFKA_BOOTSTRAP_SERVERS") == "from the environment"
    assert settings.source("DATABASE_ADMIN_URL") == "not set"


def test_a_copied_env_example_sets_no_connection_setting(clean_env):
    """`cp .env.example .env` (the Docker section's first step) must leave the local services'
    .local/env in charge: a placeholder URL there would outrank it."""
    from pathlib import Path
    root = Path(settings_module.__file__).resolve().parents[1]
    (clean_env / ".env").write_text((root / ".env.example").read_text())
    (clean_env / ".local").mkdir()
    (clean_env / ".local" / "env").write_text("DATABASE_URL=postgresql://local\nKAFKA_BOOTSTRAP_SERVERS=k:1\n")
    settings = load(clean_env)
    for name in settings_module.CONNECTION_SETTINGS:
        assert not settings.source(name).startswith(f"from {clean_env / '.env'}"), name
    assert settings.database_url == "postgresql://local"
