"""docker-compose.yml run for real: Docker Compose v2 on Podman, with images built here (`make compose-test`).

The harness behind tests/compose/test_compose_run.py. In order:

1. the engine: Podman and friends from Debian if missing (hospital/local/podman.py), configured
   with its storage under .local/compose, its Docker API served on a private socket, and a
   stand-in for the engine's healthcheck scheduler;
2. the real Docker Compose v2, built once from its Go module into the user's cache folder
   (~/.cache/jhb-hospital, kept across clones, keyed by version) and offered to the `docker` CLI
   as a plugin through a DOCKER_CONFIG of its own (the user's ~/.docker is not touched);
3. the images the compose file names, built locally because nothing can be pulled: stand-ins for
   the public images (services/images/*), each under the public name and tag, and the pipeline's
   image from the repo's Dockerfile, lent the host's CA bundle for pip (`--volume`, never baked in);
4. `docker compose` commands on the repo's own docker-compose.yml, with an env file of the test's
   own, so a developer's .env plays no part.

`python -m hospital.local.compose stop` removes the stack and stops the engine whatever state
a run left them in (the Makefile runs it after the test, even when the test was killed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic_write import replacing
from hospital.local import host_network
from hospital.local.podman import HealthChecks, Podman, ServiceError, install_packages

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = REPO_ROOT / ".local" / "compose"
COMPOSE_VERSION = "v2.40.3"
COMPOSE_MODULE = "github.com/docker/compose/v2"
# Lent to the builds that run pip: this machine kind's registries are signed by a CA that only the
# host's bundle holds. Mounted for the build steps only; the images keep their own bundle.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PROJECT_NAME = "jhb-hospital"
NETWORK = f"{PROJECT_NAME}_default"  # the network Compose makes for the project
STARTED = time.monotonic()


def cache_dir() -> Path:
    """Where the Compose binary and the Go caches live across clones: $XDG_CACHE_HOME or ~/.cache."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jhb-hospital"


def say(message: str) -> None:
    """One progress line, with the seconds since the harness was imported, so a CI log shows where time goes."""
    print(f"[compose-test {time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def go_environment() -> dict[str, str]:
    cache = cache_dir()
    return dict(os.environ, GOMODCACHE=str(cache / "go-mod"), GOCACHE=str(cache / "go-build"),
                GOPATH=str(cache / "go-path"), GOTOOLCHAIN="local", GOFLAGS="-modcacherw", CGO_ENABLED="0")


def compose_binary(version: str = COMPOSE_VERSION) -> Path:
    """The Docker Compose v2 binary, built from its Go module the first time (about 10 min of CPU on
    2 cores, run under `nice` so other work keeps its share; seconds once the Go caches are warm)."""
    binary = cache_dir() / f"docker-compose-{version}" / "docker-compose"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = shutil.which("go")
    if go is None:
        raise ServiceError("Go is needed to build Docker Compose v2 (not packaged for Debian bookworm); install Go 1.24+")
    env = go_environment()
    say(f"building Docker Compose {version} from its Go module (once; cached in {binary.parent})")
    download = subprocess.run(["nice", "-n", "10", go, "mod", "download", "-json", f"{COMPOSE_MODULE}@{version}"],
                              env=env, capture_output=True, text=True)
    if download.returncode != 0:
        raise ServiceError(f"go mod download {COMPOSE_MODULE}@{version} failed:\n{download.stdout[-1500:]}{download.stderr[-1500:]}")
    source = Path(json.loads(download.stdout)["Dir"])
    binary.parent.mkdir(parents=True, exist_ok=True)
    with replacing(binary) as partial:  # a build cut short never leaves a broken binary behind
        build = subprocess.run(["nice", "-n", "10", go, "build", "-trimpath",
                                "-ldflags", f"-w -X {COMPOSE_MODULE}/internal.Version={version}",
                                "-o", str(partial), "./cmd"], cwd=source, env=env, capture_output=True, text=True)
        if build.returncode != 0:
            raise ServiceError(f"go build of Docker Compose failed:\n{build.stderr[-3000:]}")
    return binary


@dataclass(frozen=True)
class StandIn:
    """An image the compose file or the Dockerfile names, built here under the same name and tag."""

    tag: str
    folder: str          # under services/images/
    jars: bool = False   # the build context needs the Maven jars of services/images/kafka/pom.xml


STAND_INS = (
    StandIn("docker.io/library/postgres:15-bookworm", "postgres"),
    StandIn("docker.io/apache/kafka:4.3.1", "kafka", jars=True),
    StandIn("docker.io/library/python:3.11-slim-bookworm", "python"),
)
PIPELINE_IMAGE = "docker.io/library/jhb-hospital-pipeline:0.1.0"


@dataclass
class Harness:
    """The engine, the Compose tool and the images of one checkout, and the stack they run."""

    state_dir: Path = STATE_DIR
    compose_file: Path = REPO_ROOT / "docker-compose.yml"
    env: dict[str, str] = field(default_factory=dict)  # the compose env file's variables
    podman: Podman = field(init=False)
    healthchecks: HealthChecks = field(init=False)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.podman = Podman(self.state_dir)
        self.healthchecks = HealthChecks(self.podman)

    @property
    def env_file(self) -> Path:
        return self.state_dir / "compose-test.env"

    @property
    def docker_config(self) -> Path:
        return self.state_dir / "docker-config"

    # -- set-up and tear-down ------------------------------------------------------------------

    def start(self) -> None:
        """Install what is missing, start the engine and its healthchecks, build the images."""
        previous = self.lock_machine()
        install_packages()
        self.podman.write_config()
        say(f"engine: podman {self.podman.version()} (storage {self.state_dir / 'storage'})")
        self.reclaim_host(previous)
        binary = compose_binary()
        plugins = self.docker_config / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        link = plugins / "docker-compose"
        link.unlink(missing_ok=True)
        link.symlink_to(binary)
        pid = self.podman.start_service()
        say(f"Podman API service pid {pid} on {self.podman.docker_host}")
        self.healthchecks.start()
        say(self.compose("version", capture=True).stdout.strip())
        self.build_images()

    def lock_machine(self, wait_s: float = 1800) -> Path | None:
        """One compose test per machine at a time: every rootful Podman shares the host's bridges,
        firewall and address allocations (/run/containers/networks), so two stacks of the same
        project would claim the same network. Held until this process exits. Returns the state
        folder of the engine that held it last (the lock file names it), if that was another's."""
        import fcntl
        self._lock = open(Path(tempfile.gettempdir()) / "hospital-compose-test.lock", "a+")  # noqa: SIM115
        give_up_at = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > give_up_at:
                    raise ServiceError("another `make compose-test` has held this machine for too long") from None
                say("another `make compose-test` runs on this machine; waiting for it")
                time.sleep(30)
        self._lock.seek(0)
        last_holder = self._lock.read().split(maxsplit=1)
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"{os.getpid()} {self.state_dir.resolve()}\n")
        self._lock.flush()
        previous = Path(last_holder[1].strip()) if len(last_holder) == 2 else None
        return previous if previous is not None and previous != self.state_dir.resolve() else None

    def reclaim_host(self, previous: Path | None) -> None:
        """Remove what a killed run left: the containers of the engine that ran last (this one or
        another checkout's, through its own configuration, so Podman tears their networks down),
        then any host network state of the project's network that no engine holds any more
        (hospital/local/host_network.py; e.g. a killed run whose checkout has since been deleted)."""
        for state_dir in {self.state_dir.resolve(), previous} - {None}:
            if (state_dir / "containers.conf").is_file():
                engine = Podman(state_dir)
                if engine.run("ps", "--all", "--quiet", check=False).stdout.split():
                    say(f"removing the containers a killed run left in {state_dir}")
                engine.remove_everything()
        if self.podman.run("network", "exists", NETWORK, check=False).returncode != 0:
            leftover = host_network.sweep(NETWORK)
            if leftover is not None:
                say(f"removed the host network state a killed run left: {leftover.describe()}")

    def stop(self) -> None:
        """`docker compose down -v`, then remove whatever is left and stop the engine, each step
        attempted even when an earlier one fails."""
        self.healthchecks.stop()
        if self.podman.service_pid() is not None and (self.docker_config / "cli-plugins" / "docker-compose").exists():
            try:
                self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("docker compose down failed: %s", exc)
        if shutil.which("podman"):
            self.podman.write_config()
            self.podman.remove_everything()
            self.podman.run("volume", "prune", "--force", check=False, timeout=60)
            if self.podman.run("network", "exists", NETWORK, check=False).returncode != 0:
                host_network.sweep(NETWORK)
        if self.podman.stop_service():
            say("Podman API service stopped")

    # -- images ----------------------------------------------------------------------------------

    def build_images(self) -> None:
        builds = self.state_dir / "builds"
        builds.mkdir(exist_ok=True)
        started = time.monotonic()
        if self.podman.ensure_base_image():
            say(f"base image debian:bookworm-slim made with mmdebstrap in {time.monotonic() - started:.0f} s")
        for stand_in in STAND_INS:
            started = time.monotonic()
            context = self.build_context(stand_in, builds)
            self.podman.build(stand_in.tag, context, log_file=builds / f"{stand_in.folder}.log",
                              volumes=self.ca_volume())
            say(f"image {stand_in.tag} (stand-in, services/images/{stand_in.folder}) in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        self.podman.build(PIPELINE_IMAGE, REPO_ROOT, log_file=builds / "pipeline.log", volumes=self.ca_volume())
        say(f"image {PIPELINE_IMAGE} (the repo's Dockerfile) in {time.monotonic() - started:.0f} s")

    def ca_volume(self) -> tuple[str, ...]:
        return (f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro",) if HOST_CA_BUNDLE.is_file() else ()

    def build_context(self, stand_in: StandIn, builds: Path) -> Path:
        """The folder to build from: services/images/<folder>, plus the Kafka jars where needed."""
        source = REPO_ROOT / "services" / "images" / stand_in.folder
        if not stand_in.jars:
            return source
        context = builds / f"{stand_in.folder}-context"
        shutil.rmtree(context, ignore_errors=True)
        shutil.copytree(source, context, ignore=shutil.ignore_patterns("pom.xml"))
        result = subprocess.run(["mvn", "--batch-mode", "--quiet", "-f", str(source / "pom.xml"),
                                 "dependency:copy-dependencies", f"-DoutputDirectory={context / 'libs'}",
                                 "-DincludeScope=runtime"], capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"collecting the Kafka image's jars with Maven failed:\n{result.stdout[-2000:]}")
        return context

    # -- docker compose --------------------------------------------------------------------------

    def write_env_file(self, variables: dict[str, str]) -> None:
        """The variables compose interpolates, instead of the repo's .env (mode 600: passwords)."""
        self.env = dict(variables)
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in sorted(variables.items())))
        self.env_file.chmod(0o600)

    def compose_command(self) -> list[str]:
        """`docker compose` through the docker CLI when it is installed (as users run it), else the plugin itself."""
        docker = shutil.which("docker")
        tool = [docker, "compose"] if docker else [str(self.docker_config / "cli-plugins" / "docker-compose")]
        return [*tool, "--project-name", PROJECT_NAME, "--file", str(self.compose_file),
                "--project-directory", str(REPO_ROOT), "--env-file", str(self.env_file)]

    def compose_environment(self) -> dict[str, str]:
        env = self.podman.environment()
        env["DOCKER_CONFIG"] = str(self.docker_config)
        env.pop("DOCKER_CONTEXT", None)
        for name in self.env:  # the env file decides, not whatever the caller's environment holds
            env.pop(name, None)
        return env

    def compose(self, *args: str, check: bool = True, capture: bool = False,
                timeout: float | None = 900) -> subprocess.CompletedProcess:
        """Run one `docker compose` command on the repo's compose file against the private engine."""
        if not self.env_file.exists():
            self.env_file.write_text("")
        result = subprocess.run([*self.compose_command(), *args], env=self.compose_environment(), cwd=REPO_ROOT,
                                capture_output=capture, text=True, timeout=timeout)
        if check and result.returncode != 0:
            detail = f":\n{(result.stderr or '')[-3000:]}" if capture else ""
            raise ServiceError(f"docker compose {' '.join(args)} failed ({result.returncode}){detail}")
        return result

    def save_logs(self) -> Path:
        """Every service's log so far, with timestamps, into the state folder; returns the file."""
        path = self.state_dir / "compose-logs.txt"
        with path.open("w") as out:
            subprocess.run([*self.compose_command(), "logs", "--no-color", "--timestamps"],
                           env=self.compose_environment(), cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                           timeout=300)
        return path

    def containers(self) -> list[dict]:
        """`docker compose ps --all` as a list of objects (Service, State, ExitCode, ...)."""
        out = self.compose("ps", "--all", "--format", "json", capture=True).stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["stop"]:
        print("usage: python -m hospital.local.compose stop   (remove the compose-test stack, stop its engine)",
              file=sys.stderr)
        return 2
    if not STATE_DIR.exists():
        return 0
    Harness().stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
