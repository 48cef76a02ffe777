"""docker-compose.yml run for real (`make compose-test`): Docker Compose v2 on Podman, images built here.

The repo's own compose file runs a short window (2 simulated days from 31 March, so the 1 April
retirements fall inside it; 2,880x; 20,000 people; 20 MB of records) with a `docker compose down`
and `up` a third of the way in. The outcome is counted from inside the stack, by `hospital
status --json` in one of its containers, and must be exact: every tick, every event produced
and stored once, every landed file loaded and reconciled, the retirements applied, the run
finished. Then from the host, through the published ports, as a Docker user would look.

What this proves: the compose file, the project's Dockerfile and the project's code in
containers. What it does not: the public images themselves (postgres, apache/kafka, python are
stand-ins built from services/images/, see the README).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hospital.local import host_network
from hospital.local.compose import NETWORK, REPO_ROOT, Harness, say
from hospital.local.podman import BASE_IMAGE, Podman

START = "2026-03-31T00:00:00+02:00"
DAYS = 2
WINDOW = {"SIM_START": START, "SIM_DAYS": str(DAYS), "SIM_SPEED": "2880", "PEOPLE": "20000",
          "TARGET_SIZE": "20MB", "SEED": "20260302"}
STREAM_TICKS = DAYS * 480
BATCH_TICKS = DAYS * 96
EVENTS = 3 * STREAM_TICKS
# The whole test, images included; each wait below also has its own limit.
TIMEOUT_S = float(os.environ.get("COMPOSE_TEST_TIMEOUT", "2400"))
DEADLINE = time.monotonic() + TIMEOUT_S
STATUS = ["hospital", "status", "--json", "--days", str(DAYS)]


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens on 127.0.0.1 there, else a free port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def compose_variables() -> dict[str, str]:
    """The test's env file: fresh passwords, ports that are not `make up`'s, the short window."""
    return {"POSTGRES_PASSWORD": secrets.token_hex(16), "HOSPITAL_INGEST_PASSWORD": secrets.token_hex(16),
            "HOSPITAL_ANALYST_PASSWORD": secrets.token_hex(16),
            "POSTGRES_HOST_PORT": str(free_port(int(os.environ.get("COMPOSE_TEST_PG_PORT", "55532")))),
            "KAFKA_HOST_PORT": str(free_port(int(os.environ.get("COMPOSE_TEST_KAFKA_PORT", "19192")))),
            **WINDOW}


@pytest.fixture(scope="module")
def stack(request):
    compose_file = Path(os.environ.get("COMPOSE_TEST_FILE", REPO_ROOT / "docker-compose.yml"))
    harness = Harness(compose_file=compose_file)
    harness.write_env_file(compose_variables())
    try:
        harness.start()
        yield harness
    finally:
        if harness.podman.service_pid() is not None:
            saved = harness.save_logs()
            if request.session.testsfailed:
                say(f"a test failed: the last lines of every service (all of them in {saved})")
                harness.compose("logs", "--no-color", "--tail", "20", check=False, timeout=120)
        harness.stop()


def remaining(limit_s: float) -> float:
    """Seconds to wait: `limit_s`, or less if the whole test's deadline comes first."""
    left = DEADLINE - time.monotonic()
    if left <= 0:
        pytest.fail(f"the compose test ran out of its {TIMEOUT_S:.0f} s (COMPOSE_TEST_TIMEOUT)")
    return min(limit_s, left)


def status_inside(stack: Harness, attempts: int = 1) -> dict | None:
    """`hospital status --json` in the stream-consumer container; None (and a line saying why) while
    it cannot be had, after `attempts` tries 3 s apart."""
    for attempt in range(1, attempts + 1):
        result = stack.compose("exec", "-T", "stream-consumer", *STATUS, check=False, capture=True, timeout=120)
        if result.returncode == 0:
            return json.loads(result.stdout)
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        say(f"status inside the stack not available (try {attempt} of {attempts}): {why}")
        if attempt < attempts:
            time.sleep(3)
    return None


def progress(current: dict | None) -> str:
    if current is None:
        return "pipeline not up yet"
    w, t, b = current["window"], current["transfers"], current["batch"]
    return (f"stream {w['stream_ticks']}/{w['stream_ticks_expected']} ticks, events {t['events_stored']}"
            f"/{t['events_produced']} (lag {t['consumer_lag']}), files {b['files_loaded']}/{b['files_written']}")


def psql(stack: Harness, query: str) -> str:
    result = stack.compose("exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "hospital", "-tA", "-c", query,
                           capture=True, timeout=120)
    return result.stdout.strip()


def window_state(stack: Harness) -> dict | None:
    return next((c for c in stack.containers() if c.get("Service") == "window"), None)


def events_stored(stack: Harness) -> int | None:
    """Events in the warehouse, read by psql inside the postgres container over its own socket:
    no service name to resolve, so the engine's DNS dropping out (seen for ~50 s) cannot hide the
    moment the test is waiting for. None while the table or the container is not there yet."""
    result = stack.compose("exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "hospital", "-tA", "-c",
                           "SELECT count(*) FROM stream.transfer_event", check=False, capture=True, timeout=60)
    return int(result.stdout) if result.returncode == 0 and result.stdout.strip().isdigit() else None


def wait_for_events(stack: Harness, events: int, limit_s: float) -> int:
    """Poll every second until at least `events` events are stored; returns the count seen."""
    give_up_at = time.monotonic() + remaining(limit_s)
    last_said = 0.0
    while time.monotonic() < give_up_at:
        stored = events_stored(stack)
        if stored is not None and stored >= events:
            return stored
        if time.monotonic() - last_said >= 10:
            say(f"window: {'pipeline not up yet' if stored is None else f'{stored} events stored'}")
            last_said = time.monotonic()
        time.sleep(1)
    pytest.fail(f"{events} events were not stored within {limit_s:.0f} s")


def wait_for_window_service(stack: Harness, limit_s: float) -> int:
    """Wait until the `window` service (hospital follow-window) has exited; returns its exit code."""
    give_up_at = time.monotonic() + remaining(limit_s)
    while time.monotonic() < give_up_at:
        state = window_state(stack)
        if state is not None and state.get("State") == "exited":
            return int(state.get("ExitCode", -1))
        say(f"window: {progress(status_inside(stack))}")
        time.sleep(10)
    pytest.fail(f"the window service did not finish within {limit_s:.0f} s")


def kill_a_run_with_a_container_up(stack: Harness, checkout: Path) -> None:
    """What a CI timeout does to a run: its container (the project's network, the published
    PostgreSQL port) loses its process and its monitor at once, so nothing tears its network down,
    and then the checkout is deleted with the engine's storage."""
    killed = Podman(checkout / ".local" / "compose")
    killed.write_config()
    mount = stack.podman.run("image", "mount", BASE_IMAGE).stdout.strip()
    try:
        killed.run("network", "create", NETWORK)
        container = killed.run("run", "--detach", "--network", NETWORK, "--network-alias", "postgres",
                               "--publish", f"127.0.0.1:{stack.env['POSTGRES_HOST_PORT']}:5432",
                               "--rootfs", f"{mount}:O", "sleep", "600").stdout.strip()
        pid, monitor = killed.run("inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}}", container).stdout.split()
        os.kill(int(monitor), signal.SIGKILL)  # the monitor first: it would clean up after its container
        os.kill(int(pid), signal.SIGKILL)
    finally:
        for mount_point in [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]:
            if mount_point.startswith((str(checkout), str(killed.run_dir))):
                subprocess.run(["umount", "--lazy", mount_point], check=False)
        stack.podman.run("image", "unmount", BASE_IMAGE, check=False)
        shutil.rmtree(checkout, ignore_errors=True)
        shutil.rmtree(killed.run_dir, ignore_errors=True)


def next_stack_works(stack: Harness) -> tuple[bool, bool]:
    """On a fresh network of the project's name: does a service name resolve inside, and does the
    published port reach the service from the host?"""
    python, port = "docker.io/library/python:3.11-slim-bookworm", stack.env["POSTGRES_HOST_PORT"]
    stack.podman.run("network", "create", NETWORK)
    try:
        stack.podman.run("run", "--detach", "--name", "probe-postgres", "--network", NETWORK, "--network-alias",
                         "postgres", "--publish", f"127.0.0.1:{port}:8000", python, "python3", "-m", "http.server")
        time.sleep(2)  # http.server's start; the port rule is in place before `run` returns
        resolves = stack.podman.run("run", "--rm", "--network", NETWORK, python, "getent", "hosts", "postgres",
                                    check=False).returncode == 0
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
            reaches = True
        except OSError:
            reaches = False
        return resolves, reaches
    finally:
        stack.podman.run("rm", "--force", "--time", "0", "probe-postgres", check=False)
        stack.podman.run("network", "rm", NETWORK, check=False)


def test_a_killed_run_leaves_nothing_that_breaks_the_next_stack(stack, tmp_path):
    """Host network state a killed run left (aardvark-dns's name table, the port rules, the bridge)
    broke every later stack on the machine; the harness removes it before `up`."""
    kill_a_run_with_a_container_up(stack, tmp_path / "killed-checkout")
    leftover = host_network.find(NETWORK)
    assert leftover is not None and len(leftover.containers) == 1
    assert next_stack_works(stack) == (False, False), "the leftover did not break a stack as it did in CI"

    stack.reclaim_host(previous=None)
    assert host_network.find(NETWORK) is None
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    assert f"--dport {stack.env['POSTGRES_HOST_PORT']} " not in nat
    assert not any(bridge in subprocess.run(["ip", "-brief", "link"], capture_output=True, text=True).stdout
                   for bridge, _ in leftover.bridges)
    assert next_stack_works(stack) == (True, True)


def test_compose_up_runs_the_window_exactly_through_a_down_and_up(stack):
    started = time.monotonic()
    say(f"docker compose up -d: {', '.join(f'{k}={v}' for k, v in WINDOW.items())}")
    stack.compose("up", "--detach")
    before = wait_for_events(stack, EVENTS // 3, limit_s=900)
    say(f"{before} of {EVENTS} events stored after {time.monotonic() - started:.0f} s: docker compose down (volumes kept)")
    stack.compose("down", "--timeout", "30")
    volumes = stack.podman.run("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert {"jhb-hospital_postgres-data", "jhb-hospital_kafka-data", "jhb-hospital_hospital-data"} <= set(volumes)
    say("docker compose up -d again")
    stack.compose("up", "--detach")

    exit_code = wait_for_window_service(stack, limit_s=1200)
    window_log = stack.compose("logs", "--no-color", "window", capture=True, timeout=120).stdout
    assert exit_code == 0, window_log[-3000:]
    say(f"the window service finished after {time.monotonic() - started:.0f} s; its last lines:")
    print("\n".join(window_log.strip().splitlines()[-8:]), flush=True)

    final = status_inside(stack, attempts=40)  # the engine's DNS has been seen to drop out for ~50 s
    assert final is not None, "hospital status --json could not be run inside the stack"
    print(json.dumps(final, indent=2), flush=True)
    w, t, b, r = final["window"], final["transfers"], final["batch"], final["reconciliation"]
    assert (w["stream_ticks"], w["stream_ticks_expected"]) == (STREAM_TICKS, STREAM_TICKS)
    assert (w["batch_ticks"], w["batch_ticks_expected"]) == (BATCH_TICKS, BATCH_TICKS)
    # Nothing lost and nothing doubled across the down/up: the topic's log is on its volume.
    assert before < EVENTS, "the stream had finished before the down: the test did not interrupt it"
    assert (t["events_produced"], t["events_stored"]) == (EVENTS, EVENTS)
    assert (t["events_quarantined"], t["duplicates"], t["consumer_lag"], t["events_replayed"]) == (0, 0, 0, 0)
    assert t["offset_incidents"] == 0
    assert b["files_written"] == b["files_loaded"] > 0
    assert (b["files_quarantined"], b["files_waiting"], b["rows_rejected"]) == (0, 0, 0)
    assert b["rows_read"] == b["rows_loaded"] > 0
    assert r == {"files_unreconciled": 0, "transfers_accounted": True}
    assert final["people"]["persons"] == int(WINDOW["PEOPLE"])

    # What `hospital run` does besides the parts: retirements at their dates, the run finished.
    end = (datetime.fromisoformat(START) + timedelta(days=DAYS)).isoformat()
    due = int(psql(stack, "SELECT count(*) FROM core.staff WHERE retirement_date::timestamp "
                          f"AT TIME ZONE 'Africa/Johannesburg' <= '{end}'"))
    assert due > 0 and final["staff"]["retirements"] == due
    assert psql(stack, "SELECT status FROM ops.run_state") == "finished"
    # The server runs with the compose file's settings, not only its image's defaults.
    assert psql(stack, "SELECT current_setting('wal_level') || ' ' || current_setting('max_wal_senders')") == "minimal 0"
    topic_log = stack.compose("exec", "-T", "kafka", "ls", "/var/lib/kafka/data", capture=True).stdout.split()
    assert "meta.properties" in topic_log and "patient-transfers-0" in topic_log


def test_the_published_ports_serve_the_host(stack):
    """From the host, as a Docker user would: 127.0.0.1 and the ports from the env file."""
    env = stack.env
    host_env = dict(os.environ, DATABASE_URL=f"postgresql://hospital_ingest:{env['HOSPITAL_INGEST_PASSWORD']}"
                                             f"@127.0.0.1:{env['POSTGRES_HOST_PORT']}/hospital",
                    KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{env['KAFKA_HOST_PORT']}",
                    DATA_DIR=str(stack.state_dir / "no-data"), **WINDOW)
    result = subprocess.run([sys.executable, "-m", *STATUS], env=host_env, capture_output=True, text=True,
                            cwd=stack.state_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["window"]["stream_ticks"] == STREAM_TICKS
    assert (seen["transfers"]["events_produced"], seen["transfers"]["events_stored"]) == (EVENTS, EVENTS)
    # Nothing the stack publishes listens beyond loopback.
    ports = stack.compose("ps", "--format", "{{.Ports}}", capture=True).stdout
    published = [p for p in ports.replace(",", " ").split() if "->" in p]
    assert published and all(p.startswith("127.0.0.1:") for p in published), ports
