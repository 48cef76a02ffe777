"""`hospital run` off a terminal (`make full > log`, CI): the live bar gives way to one plain log
line at most every 10 s of the run's clock, and the last tick always gets its line."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from hospital.run import PLAIN_PROGRESS_EVERY_S, Progress, wait_showing


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_line_comes_every_five_to_ten_seconds_and_at_the_end(caplog):
    clock = Clock()
    progress = Progress(total=4320, clock=clock)  # pytest's captured stderr is not a terminal
    assert progress.plain
    with caplog.at_level(logging.INFO, logger="hospital.run"):
        for poll in range(31):  # the run polls every 2 s, and a status read takes about 2 s more
            clock.now = poll * 3.9
            progress.update(ticks=poll * 10, figures=f"files {poll}")
        clock.now = 31 * 3.9
        progress.update(ticks=4320, figures="files done")
    progress.close()
    lines = [(r.created, r.getMessage()) for r in caplog.records if r.name == "hospital.run"]
    polls = [int(message.split("files ")[1]) for _, message in lines[:-1]]
    gaps = [(b - a) * 3.9 for a, b in zip(polls, polls[1:])]
    assert polls[0] == 0 and gaps and all(PLAIN_PROGRESS_EVERY_S <= gap <= 10 for gap in gaps), gaps
    assert lines[-1][1] == "tick 4320/4320 | files done"


def test_after_the_last_tick_the_drain_keeps_the_same_cadence(caplog):
    clock = Clock()
    progress = Progress(total=4320, clock=clock)
    with caplog.at_level(logging.INFO, logger="hospital.run"):
        for poll in range(40):  # the loaders' last files: 80 s at the last tick
            clock.now = poll * 2.0
            progress.update(ticks=4320, figures=f"files {poll}")
    progress.close()
    polls = [int(r.getMessage().split("files ")[1]) for r in caplog.records if r.name == "hospital.run"]
    gaps = [(b - a) * 2.0 for a, b in zip(polls, polls[1:])]
    assert polls[0] == 0 and len(polls) >= 8 and all(PLAIN_PROGRESS_EVERY_S <= gap <= 10 for gap in gaps), polls


def test_waiting_for_the_last_passes_refreshes_the_progress_until_they_exit():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"])
    refreshed = []
    wait_showing([process], lambda: refreshed.append(time.monotonic()), every_s=0.1)
    assert process.returncode == 0 and len(refreshed) >= 5
