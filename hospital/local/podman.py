"""Podman as the container engine of `make compose-test`, on machines without Docker.

Everything it keeps lives under one state folder (.local/compose): its configuration, the image
and volume storage and the network definitions, so nothing reaches a user's own container engine
or /etc/containers. The runtime folder (sockets, locks) is a short path under the system temp dir,
keyed by the state folder, because Unix socket paths are limited to about 100 bytes.

The engine answers the Docker API on a Unix socket (`podman system service`), which is what
Docker Compose v2 talks to. Without systemd Podman never runs a container's healthcheck by
itself, so `HealthChecks` does: it runs `podman healthcheck run` for each running container that
has one, at the container's own interval, which is all `depends_on: service_healthy` waits for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hospital.local.process import ServiceError, cmdline, pid_alive, read_pid, stop_pid, tail, wait_until

log = logging.getLogger(__name__)

# Debian bookworm's Podman 4.3 with netavark and aardvark-dns (service names resolve between
# containers); runc because crun refuses this machine kind's cgroup setup; mmdebstrap makes the
# base image's root file system from the Debian mirror.
PACKAGES = ("podman", "runc", "mmdebstrap", "uidmap", "slirp4netns", "fuse-overlayfs")
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
HEALTHCHECK_POLL_S = 2.0


def install_packages() -> None:
    """Install the engine's Debian packages that are missing (root only)."""
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ServiceError(f"{', '.join(missing)} not found; install them with "
                           f"`sudo apt-get install -y {' '.join(PACKAGES)}`, then run `make compose-test` again")
    log.info("installing %s from Debian", " ".join(PACKAGES))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")


@dataclass(frozen=True)
class Podman:
    """One checkout's private Podman: storage and configuration under `state_dir`."""

    state_dir: Path

    @property
    def run_dir(self) -> Path:
        key = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"hospital-podman-{key}"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "podman.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "service.pid"

    @property
    def service_log(self) -> Path:
        return self.state_dir / "service.log"

    def environment(self) -> dict[str, str]:
        """The variables that point podman (and Docker clients) at this private engine."""
        return dict(os.environ,
                    CONTAINERS_CONF=str(self.state_dir / "containers.conf"),
                    CONTAINERS_STORAGE_CONF=str(self.state_dir / "storage.conf"),
                    CONTAINERS_REGISTRIES_CONF=str(self.state_dir / "registries.conf"),
                    DOCKER_HOST=self.docker_host)

    def write_config(self) -> None:
        """containers.conf, storage.conf and registries.conf of this engine (rewritten every time)."""
        state, run = self.state_dir.resolve(), self.run_dir
        for folder in (state, state / "storage", state / "networks", run):
            folder.mkdir(parents=True, exist_ok=True)
        (state / "containers.conf").write_text(f"""\
# Written by hospital/local/podman.py for `make compose-test`; rewritten on every run.
[containers]
# Podman's default ulimits ask for more than this machine kind's hard limit (no CAP_SYS_RESOURCE).
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
# Bookworm's aardvark-dns (1.4) was seen to leave AAAA queries for service names unanswered for
# a minute and more after a `docker compose down` and `up`; glibc's getaddrinfo then fails the
# whole lookup ("Temporary failure in name resolution") although the A record is there. The
# stack is IPv4 only, so the containers' resolver asks for A records alone (glibc 2.36+).
dns_options = ["no-aaaa"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{run}/events.log"
# The monitor of an exec session (a healthcheck, `docker compose exec`) waits this long for its
# exit code to be read; the default 300 s leaves monitors behind for minutes after the run.
exit_command_delay = 10
tmp_dir = "{run}/libpod"
static_dir = "{state}/storage/libpod"
volume_path = "{state}/storage/volumes"

[network]
network_backend = "netavark"
network_config_dir = "{state}/networks"
""")
        (state / "storage.conf").write_text(f"""\
# Written by hospital/local/podman.py for `make compose-test`; rewritten on every run.
[storage]
driver = "overlay"
graphroot = "{state}/storage"
runroot = "{run}/storage"
""")
        # Nothing is pulled: every image is built here. Short names mean Docker Hub's, as for Docker.
        (state / "registries.conf").write_text(
            "# Written by hospital/local/podman.py for `make compose-test`.\n"
            'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n')

    def run(self, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run one `podman` command against this engine; raise ServiceError if it fails and `check`."""
        result = subprocess.run(["podman", *args], env=self.environment(), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise ServiceError(f"podman {' '.join(args)} failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-1500:]}")
        return result

    def version(self) -> str:
        return self.run("version", "--format", "{{.Client.Version}}").stdout.strip()

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False).returncode == 0

    # -- the Docker API service -------------------------------------------------------------

    def service_pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid is not None and str(self.socket_path) in cmdline(pid) else None

    def answers(self) -> bool:
        """True when the API socket answers Docker's /_ping with OK."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(2)
                client.connect(str(self.socket_path))
                client.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
                return client.recv(4096).rstrip().endswith(b"OK")
        except OSError:
            return False

    def start_service(self) -> int:
        """Start `podman system service` on the socket unless it already runs; returns its pid."""
        self.write_config()
        pid = self.service_pid()
        if pid is None:
            self.socket_path.unlink(missing_ok=True)
            with self.service_log.open("ab") as out:
                process = subprocess.Popen(["podman", "system", "service", "--time=0", self.docker_host],
                                           env=self.environment(), stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            pid = process.pid
            self.pidfile.write_text(f"{pid}\n")
            wait_until(self.answers, deadline_s=60, what="the Podman API service", log=self.service_log,
                       alive=lambda: process.poll() is None)
        return pid

    def remove_everything(self) -> None:
        """Remove every container, pod and unused network of this private engine (never a user's)."""
        self.run("rm", "--all", "--force", "--time", "5", check=False, timeout=120)
        self.run("pod", "rm", "--all", "--force", check=False, timeout=60)
        self.run("network", "prune", "--force", check=False, timeout=60)

    def stop_service(self) -> bool:
        """Stop the API service if it runs (by its pid), then any container monitor (conmon) of this
        engine still waiting out its exit delay; True if the service was running."""
        pid = self.service_pid()
        if pid is not None:
            stop_pid(pid, grace_s=20)
            self.pidfile.unlink(missing_ok=True)
        for monitor in self.monitor_pids():
            end_process(monitor)
        return pid is not None

    def monitor_pids(self) -> list[int]:
        """Processes whose command line names this engine's storage: the conmon monitors it started."""
        storage = str(self.state_dir.resolve() / "storage")
        return [int(entry.name) for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and int(entry.name) != os.getpid() and storage in cmdline(int(entry.name))]

    # -- images ----------------------------------------------------------------------------

    def ensure_base_image(self) -> bool:
        """Debian bookworm's root file system from the Debian mirror, imported as debian:bookworm-slim
        (the base of every stand-in); True if it had to be made."""
        if self.image_exists(BASE_IMAGE):
            return False
        rootfs = self.state_dir / "debian-bookworm-rootfs.tar"
        result = subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--include=ca-certificates",
             "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
             "--dpkgopt=path-include=/usr/share/doc/*/copyright", "bookworm", str(rootfs)],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"mmdebstrap failed:\n{result.stderr[-2000:]}")
        try:
            self.run("import", "--change", 'CMD ["bash"]', "--change",
                     "LABEL org.opencontainers.image.description=stand-in for debian:bookworm-slim "
                     "made by mmdebstrap (make compose-test)", str(rootfs), BASE_IMAGE)
        finally:
            rootfs.unlink(missing_ok=True)
        return True

    def build(self, tag: str, context: Path, *, dockerfile: Path | None = None,
              volumes: tuple[str, ...] = (), log_file: Path) -> None:
        """`podman build` an image from local images only (never a pull); output goes to `log_file`."""
        args = ["build", "--pull=never", "--layers", "--tag", tag]
        for volume in volumes:
            args += ["--volume", volume]
        if dockerfile is not None:
            args += ["--file", str(dockerfile)]
        with log_file.open("wb") as out:
            result = subprocess.run(["podman", *args, str(context)], env=self.environment(),
                                    stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise ServiceError(f"building {tag} failed; see {log_file}\n{tail(log_file, 25)}")


def end_process(pid: int, grace_s: float = 5.0) -> None:
    """SIGTERM one process (not its group), SIGKILL it if it is still there after `grace_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        give_up_at = time.monotonic() + grace_s
        while time.monotonic() < give_up_at and pid_alive(pid):
            time.sleep(0.1)
        if not pid_alive(pid):
            return


class HealthChecks:
    """Runs the healthchecks of running containers at their intervals, as the Docker engine would.

    Podman records the result (starting, healthy, unhealthy, with the retries and start period of
    the container's healthcheck), and the Docker API reports it to Compose."""

    def __init__(self, podman: Podman):
        self.podman = podman
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_run: dict[str, float] = {}
        self._interval: dict[str, float | None] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="healthchecks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except (ServiceError, subprocess.SubprocessError, OSError, ValueError) as exc:
                log.debug("healthcheck round failed: %s", exc)
            self._stop.wait(HEALTHCHECK_POLL_S)

    def interval_s(self, container: str) -> float | None:
        """The container's healthcheck interval in seconds (Docker's default 30 s), None without one."""
        if container not in self._interval:
            result = self.podman.run("inspect", "--format", "{{json .Config.Healthcheck}}", container, check=False)
            config = json.loads(result.stdout or "null") if result.returncode == 0 else None
            if not config or not config.get("Test") or config["Test"][0] == "NONE":
                self._interval[container] = None
            else:
                self._interval[container] = (config.get("Interval") or 30e9) / 1e9
        return self._interval[container]

    def run_due(self) -> None:
        """One round: every running container with a healthcheck whose interval has passed."""
        running = self.podman.run("ps", "--filter", "status=running", "--format", "{{.ID}}",
                                  check=False).stdout.split()
        now = time.monotonic()
        for container in running:
            interval = self.interval_s(container)
            if interval is None or now - self._last_run.get(container, float("-inf")) < interval:
                continue
            self._last_run[container] = now
            self.podman.run("healthcheck", "run", container, check=False, timeout=120)
