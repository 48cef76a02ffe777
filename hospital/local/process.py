"""Small process and readiness helpers shared by the local PostgreSQL and Kafka managers."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Callable


class ServiceError(RuntimeError):
    """A local service could not be started or stopped; the message names the log to read."""


def wait_until(ready: Callable[[], bool], *, deadline_s: float, what: str, log: Path,
               alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `ready()` every 0.25 s until it returns True.

    Raises ServiceError naming `log` if `deadline_s` passes or `alive()` turns False first.
    """
    give_up_at = time.monotonic() + deadline_s
    while time.monotonic() < give_up_at:
        if ready():
            return
        if not alive():
            raise ServiceError(f"{what} exited during start-up; see {log}\n{tail(log)}")
        time.sleep(0.25)
    raise ServiceError(f"{what} not ready after {deadline_s:.0f} s; see {log}\n{tail(log)}")


def listening(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def ensure_port_free(port: int, what: str, variable: str) -> None:
    """Fail clearly when something else already listens on 127.0.0.1:`port`."""
    if not listening(port):
        return
    raise ServiceError(f"cannot start {what}: 127.0.0.1:{port} is already in use by another process; "
                       f"stop it or choose another port with {variable}")


def tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log file, indented, or a note that it is missing."""
    if not log.is_file():
        return f"    ({log} does not exist)"
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join("    " + line for line in text)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (and is not a zombie we could reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def read_pid(pidfile: Path) -> int | None:
    """The pid recorded in `pidfile` if that process is still alive, else None."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def cmdline(pid: int) -> str:
    """The command line of a process, or '' if it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_pid(pid: int, *, grace_s: float = 20.0) -> None:
    """SIGTERM the process group of `pid`, then SIGKILL it if it has not exited after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        give_up_at = time.monotonic() + wait_s
        while time.monotonic() < give_up_at:
            if not pid_alive(pid):
                return
            time.sleep(0.1)
    raise ServiceError(f"process {pid} did not exit after SIGKILL")
