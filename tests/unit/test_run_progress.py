"""`hospital run` off a terminal (`make full > log`, CI): the live bar gives way to one plain log
line at most every 10 s of the run's clock, and the last tick always gets its line."""

from __future__ import annotations

import logging

from hospital.run import PLAIN_PROGRESS_EVERY_S, Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_line_comes_every_ten_seconds_and_at_the_end(caplog):
    clock = Clock()
    progress = Progress(total=4320, clock=clock)  # pytest's captured stderr is not a terminal
    assert progress.plain
    with caplog.at_level(logging.INFO, logger="hospital.run"):
        for second in range(0, 61, 2):  # the run polls its status every 2 s
            clock.now = float(second)
            progress.update(ticks=second * 10, figures=f"files {second}")
        clock.now = 61.0
        progress.update(ticks=4320, figures="files done")
    progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "hospital.run"]
    assert lines == [f"tick {s * 10}/4320 | files {s}" for s in range(0, 61, 10)] + ["tick 4320/4320 | files done"]
    assert PLAIN_PROGRESS_EVERY_S == 10.0
