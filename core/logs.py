"""The one logging set-up of every command: time, level, logger name, message, on stderr."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Send log records of `level` and above to stderr in the project's format. Call it once, in
    a command's main(); library code only asks for `logging.getLogger(__name__)`."""
    logging.basicConfig(level=level, format=FORMAT)
