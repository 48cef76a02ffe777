"""The local PostgreSQL cluster belongs to one checkout: a fresh clone at the path of a deleted
one gets a cluster of its own (the old one's passwords went with the old checkout: CI clones to
the same folder every time, and `make test` met "password authentication failed"), and the
clusters of checkouts that are gone are removed, unless their server still runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hospital.local.postgres import CLUSTER_PREFIX, OWNER_FILE, LocalPostgres, remove_abandoned_clusters


def test_a_fresh_clone_at_the_same_path_gets_a_cluster_of_its_own(tmp_path):
    state_dir = tmp_path / "checkout" / ".local"
    first = LocalPostgres(state_dir, 55432).cluster_dir
    assert LocalPostgres(state_dir, 55432).cluster_dir == first  # the same checkout keeps it
    shutil.rmtree(tmp_path / "checkout")  # the clone is deleted, and cloned again at its path
    assert LocalPostgres(state_dir, 55432).cluster_dir != first


def cluster(root: Path, name: str, owner: tuple[Path, str] | None, pid: int | None = None) -> Path:
    folder = root / f"{CLUSTER_PREFIX}{name}"
    (folder / "data").mkdir(parents=True)
    if owner is not None:
        (folder / OWNER_FILE).write_text(f"{owner[0]}\n{owner[1]}\n")
    if pid is not None:
        (folder / "data" / "postmaster.pid").write_text(f"{pid}\n/data\n")
    return folder


def test_only_the_clusters_of_checkouts_that_are_gone_are_removed(tmp_path):
    temp = tmp_path / "tmp"
    live = tmp_path / "live" / ".local"
    live.mkdir(parents=True)
    (live / "cluster-id").write_text("aaaa\n")
    recloned = tmp_path / "recloned" / ".local"
    recloned.mkdir(parents=True)
    (recloned / "cluster-id").write_text("new-identity\n")
    kept = {
        "live": cluster(temp, "live", (live, "aaaa")),
        "legacy": cluster(temp, "legacy", None),  # no owner file: not ours to judge
        "running": cluster(temp, "running", (tmp_path / "deleted", "cccc"), pid=os.getpid()),
        "current": cluster(temp, "current", (tmp_path / "deleted", "dddd")),
    }
    gone = {
        "deleted": cluster(temp, "deleted", (tmp_path / "deleted", "bbbb")),
        "recloned": cluster(temp, "recloned", (recloned, "old-identity")),
    }
    removed = remove_abandoned_clusters(keep=kept["current"], root=temp)
    assert set(removed) == set(gone.values())
    assert all(folder.exists() for folder in kept.values())
    assert not any(folder.exists() for folder in gone.values())
