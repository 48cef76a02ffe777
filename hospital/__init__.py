"""The top floor: the `hospital` command and the operations only it uses (run, prepare, status,
report, deliverables, follow-window, prune, chaos, local services). See docs/ARCHITECTURE.md."""

from core import __version__

__all__ = ["__version__"]
