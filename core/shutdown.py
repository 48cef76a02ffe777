"""How every long-running command stops: Ctrl-C and SIGTERM (what `docker stop` sends) alike."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    """An event that SIGINT or SIGTERM sets. The command finishes the batch or tick in hand,
    commits or flushes, and exits cleanly; nothing is cut off half-way."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
