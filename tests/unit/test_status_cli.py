"""`hospital status` with the warehouse down: one line and exit 1, no traceback."""

from __future__ import annotations

import socket

from hospital import status


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_status_with_the_warehouse_down_says_so_in_one_line(monkeypatch, capsys):
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody:secret@127.0.0.1:{port}/hospital")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{closed_port()}")
    assert status.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "cannot connect to the warehouse" in err and "make up" in err and "secret" not in err, err
    assert "Traceback" not in err
