"""docker-compose.yml checked statically (no Docker engine runs here): it parses, has every
service the pipeline needs, waits on health, passes only settings the code reads, mounts the
schema, pins its images, and takes passwords only from .env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hospital.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PIPELINE_SERVICES = {name: svc for name, svc in SERVICES.items() if svc.get("build")}


def settings_variables() -> set[str]:
    """Environment names core/settings.py reads, found by a regex over its source."""
    source = (ROOT / "core" / "settings.py").read_text()
    return set(re.findall(r'env\.get\("([A-Z_]+)"', source))


def test_every_service_the_pipeline_needs_is_there():
    assert {"postgres", "kafka", "kafka-topics", "population", "stream-producer", "stream-consumer",
            "batch-writer", "batch-ingest"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dependency_waits_on_a_condition(name):
    depends = SERVICES[name].get("depends_on", {})
    assert isinstance(depends, dict), f"{name}: depends_on must use the long form with a condition"
    for target, rule in depends.items():
        assert target in SERVICES
        assert rule.get("condition") in ("service_healthy", "service_completed_successfully"), (name, target)
        if rule["condition"] == "service_healthy":
            assert "healthcheck" in SERVICES[target], f"{target} is waited on for health but has no healthcheck"


@pytest.mark.parametrize("name", sorted(PIPELINE_SERVICES))
def test_pipeline_services_pass_only_settings_the_code_reads(name):
    passed = set(PIPELINE_SERVICES[name]["environment"])
    assert passed <= settings_variables(), passed - settings_variables()
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATA_DIR"} <= passed


@pytest.mark.parametrize("name", sorted(PIPELINE_SERVICES))
def test_pipeline_services_run_real_hospital_commands(name):
    command = PIPELINE_SERVICES[name]["command"]
    assert command[0] in COMMANDS, f"{name} runs `hospital {command[0]}`, which is not a command"


def test_init_db_sql_is_mounted_into_the_entrypoint_folder():
    volumes = SERVICES["postgres"]["volumes"]
    assert any(v.startswith("./init_db.sql:/docker-entrypoint-initdb.d/") for v in volumes)
    for volume in volumes:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"mounted file {source} is missing"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_images_are_pinned(name):
    image = SERVICES[name].get("image")
    if image is None:
        assert "build" in SERVICES[name]
        return
    repository, _, tag = image.rpartition(":")
    assert repository and tag and tag != "latest" and re.search(r"\d", tag), image


def test_passwords_come_only_from_the_environment_and_are_required():
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in ("POSTGRES_PASSWORD", "HOSPITAL_INGEST_PASSWORD", "HOSPITAL_ANALYST_PASSWORD"):
        uses = re.findall(r"\$\{" + variable + r"([^}]*)\}", text)
        assert uses, variable
        assert all(use.startswith(":?") for use in uses), f"{variable} must be required (${{{variable}:?...}})"


def test_databases_and_brokers_report_health():
    for name in ("postgres", "kafka"):
        assert SERVICES[name]["healthcheck"]["test"]


# Where each image writes what must outlive its container: (environment variable that moves it,
# the image's default). Volumes are only useful mounted exactly there.
WRITES = {
    "postgres": ("PGDATA", "/var/lib/postgresql/data"),          # postgres image
    "kafka": ("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs"),     # apache/kafka image (log.dirs)
}


def written_directory(name: str) -> str:
    """The directory service `name` keeps its data in, as its environment (or image default) says."""
    environment = SERVICES[name].get("environment", {})
    if name in PIPELINE_SERVICES:
        return environment["DATA_DIR"]
    variable, default = WRITES[name]
    return environment.get(variable, default)


def named_mounts(name: str) -> dict[str, str]:
    """Named volume -> mount point in service `name` (bind mounts of ./files are not volumes)."""
    mounts = {}
    for volume in SERVICES[name].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source in COMPOSE.get("volumes", {}):
            mounts[source] = target
    return mounts


@pytest.mark.parametrize("name", sorted(n for n in SERVICES if named_mounts(n)))
def test_every_named_volume_is_mounted_where_the_service_writes(name):
    assert set(named_mounts(name).values()) == {written_directory(name)}, (name, named_mounts(name))


def test_the_broker_log_lives_on_the_kafka_data_volume():
    assert SERVICES["kafka"]["environment"]["KAFKA_LOG_DIRS"] == named_mounts("kafka")["kafka-data"]


def test_every_named_volume_is_used():
    used = {volume for name in SERVICES for volume in named_mounts(name)}
    assert used == set(COMPOSE["volumes"])


def test_published_ports_are_loopback_only_and_movable():
    """make up owns 55432 and 19092; compose publishes the same by default, on 127.0.0.1 only, and
    POSTGRES_HOST_PORT / KAFKA_HOST_PORT move them (make compose-test runs beside make test)."""
    assert SERVICES["postgres"]["ports"] == ["127.0.0.1:${POSTGRES_HOST_PORT:-55432}:5432"]
    assert SERVICES["kafka"]["ports"] == ["127.0.0.1:${KAFKA_HOST_PORT:-19092}:9092"]
    # The broker tells clients outside the stack to come back on the port it is published on.
    assert "HOST://127.0.0.1:${KAFKA_HOST_PORT:-19092}" in SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert all("ports" not in svc for name, svc in SERVICES.items() if name not in ("postgres", "kafka"))


def test_every_part_runs_the_same_window():
    """The window's length, size and population reach every service that needs them, as the one
    set of `hospital run` options reaches its parts."""
    for name in ("stream-consumer", "stream-producer", "batch-writer", "batch-ingest", "window"):
        command = SERVICES[name]["command"]
        assert command[command.index("--days") + 1] == "${SIM_DAYS:-9}", name
    for name in ("batch-writer", "window"):
        command = SERVICES[name]["command"]
        assert command[command.index("--target-size") + 1] == "${TARGET_SIZE:-5GB}", name
    for name, option in (("population", "--people"), ("window", "--people")):
        command = SERVICES[name]["command"]
        assert command[command.index(option) + 1] == "${PEOPLE:-5000000}", name


def test_the_window_service_waits_for_what_it_follows():
    depends = SERVICES["window"]["depends_on"]
    assert depends["population"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_every_variable_the_compose_file_reads_is_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    read = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", text))  # $${NAME} is the container's own, not compose's
    documented = set(re.findall(r"^#?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read <= documented, read - documented


def public_images() -> set[str]:
    """The images compose and the Dockerfile name that come from a registry (not built here)."""
    names = {svc["image"] for svc in SERVICES.values() if "image" in svc and "build" not in svc}
    names |= set(re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M))
    return names


def test_every_public_image_has_a_stand_in_under_its_own_name():
    from hospital.local.compose import STAND_INS
    built = {s.tag.removeprefix("docker.io/").removeprefix("library/"): s for s in STAND_INS}
    assert public_images() <= set(built), public_images() - set(built)
    for stand_in in STAND_INS:
        dockerfile = (ROOT / "services" / "images" / stand_in.folder / "Dockerfile").read_text()
        header = dockerfile.split("FROM", 1)[0]
        short = stand_in.tag.removeprefix("docker.io/").removeprefix("library/")
        assert "STAND-IN" in header and short in header, stand_in.folder
