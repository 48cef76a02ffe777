"""A local PostgreSQL cluster from the system's server binaries: initdb and pg_ctl.

The data directory lives under the system temp dir, because the server refuses to run as root
and the `postgres` user may not be able to enter the checkout (for example under /root).
`.local/postgres` is a symlink to it. It is keyed by the checkout's path and by an identity the
checkout makes on first use (`.local/cluster-id`): a fresh clone at the path of a deleted one (CI
clones to the same folder every time) gets a cluster of its own, not the old one, whose passwords
went with the old checkout. Clusters whose checkout is gone or re-cloned are removed at the next
start of any checkout's cluster (`remove_abandoned_clusters`), unless their server still runs.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

from database.schema import apply_schema
from hospital.local.process import ServiceError, ensure_port_free, read_pid, wait_until

log = logging.getLogger(__name__)

DATABASE = "hospital"
SUPERUSER = "postgres"
# Roles the pipeline uses; init_db.sql creates them, `up` gives them passwords and LOGIN.
APP_ROLES = ("hospital_ingest", "hospital_analyst")


def find_bindir() -> Path | None:
    """The newest PostgreSQL server bin directory on this machine, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for candidate in reversed(candidates):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def install_server() -> Path:
    """Install Debian's PostgreSQL server package (root only) and return its bin directory."""
    if os.geteuid() != 0:
        raise ServiceError("PostgreSQL server binaries not found. Install them, for example "
                           "`sudo apt-get install -y postgresql`, then run `make up` again.")
    log.info("PostgreSQL server binaries not found; installing Debian's postgresql package")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    bindir = find_bindir()
    if bindir is None:
        raise ServiceError("installed postgresql but found no initdb under /usr/lib/postgresql/*/bin")
    return bindir


CLUSTER_PREFIX = "hospital-pg-"
OWNER_FILE = "owner"  # the checkout's .local path and its cluster-id, one per line


def remove_abandoned_clusters(keep: Path, root: Path | None = None) -> list[Path]:
    """Delete the clusters under `root` (the temp dir) whose owner file names a checkout that no
    longer holds that identity (deleted, or cloned afresh at the same path) and whose server is not
    running; returns them. `keep`, and clusters without an owner file, are left alone."""
    removed = []
    for cluster in sorted((root or Path(tempfile.gettempdir())).glob(f"{CLUSTER_PREFIX}*")):
        try:
            state_dir, identity = (cluster / OWNER_FILE).read_text().split()
        except (OSError, ValueError):
            continue
        id_file = Path(state_dir) / "cluster-id"
        if cluster.resolve() == keep.resolve() or (id_file.exists() and id_file.read_text().strip() == identity):
            continue
        if read_pid(cluster / "data" / "postmaster.pid") is not None:
            continue
        shutil.rmtree(cluster, ignore_errors=True)
        removed.append(cluster)
    return removed


@dataclass(frozen=True)
class LocalPostgres:
    """One checkout's local cluster. `state_dir` is the checkout's .local directory."""

    state_dir: Path
    port: int

    @property
    def checkout_id(self) -> str:
        """This checkout's cluster identity, made on first use and kept in .local/cluster-id."""
        path = self.state_dir / "cluster-id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(os.urandom(8).hex() + "\n")
        return path.read_text().strip()

    @property
    def cluster_dir(self) -> Path:
        key = hashlib.sha256(f"{self.state_dir.resolve()}\0{self.checkout_id}".encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"{CLUSTER_PREFIX}{key}"

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.cluster_dir / "socket"

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.state_dir / "secrets" / "postgres_superuser"

    def admin_url(self, database: str = DATABASE) -> str:
        return self.url(SUPERUSER, self.password(SUPERUSER), database)

    def url(self, user: str, password: str, database: str = DATABASE) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def password(self, role: str) -> str:
        """The generated password of `role`, created on first use and kept in .local/secrets."""
        path = self.state_dir / "secrets" / ("postgres_superuser" if role == SUPERUSER else role)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(hashlib.sha256(os.urandom(32)).hexdigest()[:32])
            path.chmod(0o600)
        return path.read_text().strip()

    # -- running commands as the server's user ---------------------------------------

    def _as_server_user(self, command: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return command

    def _run(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self._as_server_user(command), capture_output=True, text=True, **kwargs)

    def _prepare_dirs(self) -> None:
        self.cluster_dir.mkdir(mode=0o755, exist_ok=True)
        self.socket_dir.mkdir(mode=0o755, exist_ok=True)
        (self.cluster_dir / OWNER_FILE).write_text(f"{self.state_dir.resolve()}\n{self.checkout_id}\n")
        if os.geteuid() == 0:
            shutil.chown(self.cluster_dir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        link = self.state_dir / "postgres"
        if link.is_symlink() and link.resolve() != self.cluster_dir.resolve():
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(self.cluster_dir)

    # -- lifecycle ----------------------------------------------------------------------

    def is_ready(self) -> bool:
        try:
            psycopg2.connect(self.admin_url("postgres"), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def running_pid(self) -> int | None:
        return read_pid(self.data_dir / "postmaster.pid")

    def start(self) -> str:
        """Create the cluster if needed, start it, apply init_db.sql; return the server version."""
        bindir = find_bindir() or install_server()
        for removed in remove_abandoned_clusters(keep=self.cluster_dir):
            log.info("removed the cluster of a checkout that is gone or was cloned afresh: %s", removed)
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir)
        if self.running_pid() is None:
            ensure_port_free(self.port, "PostgreSQL", "HOSPITAL_PG_PORT")
            # After a kill -9 of the postmaster its backends linger for a moment and hold the
            # old shared memory, so the first start can fail; retry until a deadline.
            wait_until(lambda: self._pg_ctl_start(bindir), deadline_s=60, what="PostgreSQL",
                       log=self.log_file)
        wait_until(self.is_ready, deadline_s=60, what="PostgreSQL", log=self.log_file,
                   alive=lambda: self.running_pid() is not None)
        self._create_database()
        self.apply_schema()
        self._enable_roles()
        self._durable_commits()
        with psycopg2.connect(self.admin_url()) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]

    def _server_options(self) -> str:
        """Command-line settings, so that they hold for clusters made by earlier releases too.

        wal_level=minimal (with no WAL senders, which it requires): no standby or archive reads
        this cluster's WAL, and PostgreSQL then writes none for a COPY into a table truncated in
        the same transaction, nor for the index builds after it: the population bulk load
        (database/load_population.py). Crash recovery is unchanged; such a table is written out
        at commit instead. A cluster already running keeps its level until it is restarted."""
        return (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
                " -c wal_level=minimal -c max_wal_senders=0")

    def _pg_ctl_start(self, bindir: Path) -> bool:
        result = self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                            "-o", self._server_options(), "-w", "-t", "60", "start"])
        if result.returncode != 0:
            log.info("pg_ctl start did not succeed yet: %s", result.stderr.strip() or result.stdout.strip())
        return result.returncode == 0

    def restart(self, mode: str = "fast") -> None:
        """Restart the running cluster with `pg_ctl restart -m <mode>` and wait until it answers.

        mode "immediate" is a crash as far as clients are concerned: every connection is cut, no
        checkpoint is written, and the server replays its WAL on start-up."""
        bindir = find_bindir()
        if bindir is None or self.running_pid() is None:
            raise ServiceError("PostgreSQL is not running here; start it with `make up`")
        result = self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                            "-o", self._server_options(), "-m", mode, "-w", "-t", "60", "restart"])
        if result.returncode != 0:
            raise ServiceError(f"pg_ctl restart -m {mode} failed: {result.stderr.strip() or result.stdout.strip()}; "
                               f"see {self.log_file}")
        wait_until(self.is_ready, deadline_s=60, what="PostgreSQL", log=self.log_file,
                   alive=lambda: self.running_pid() is not None)

    def _initdb(self, bindir: Path) -> None:
        pwfile = self.cluster_dir / "pwfile"
        pwfile.write_text(self.password(SUPERUSER) + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        result = self._run([str(bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                            "-A", "scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                            "--locale=C.UTF-8"])
        pwfile.unlink()
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stderr[-2000:]}")
        # A disposable developer cluster: it need not survive a crash of the machine, so no fsync.
        # It must survive a crash of the server itself (hospital chaos restarts it with -m immediate):
        # commits stay synchronous, see _durable_commits. Never used in compose.
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# hospital local cluster (make up): throwaway, so durability is traded for speed\n"
                       "fsync = off\nfull_page_writes = off\n"
                       "max_wal_size = 4GB\nshared_buffers = 512MB\nmax_connections = 100\n")

    def _create_database(self) -> None:
        conn = psycopg2.connect(self.admin_url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        conn.close()

    def apply_schema(self) -> None:
        """Apply init_db.sql to the hospital database as the superuser (idempotent)."""
        apply_schema(self.admin_url())

    def _durable_commits(self) -> None:
        """synchronous_commit on, also in clusters made when it was off: an acknowledged COMMIT must
        outlive a crash of the server (pg_ctl restart -m immediate). With it off the server acknowledges
        a commit while its WAL is still in shared memory, and an immediate restart lost such commits:
        a consumer batch (its events and offsets) after the consumer had moved past it, a ledger row
        after its file was archived. Without fsync the WAL still only has to reach the kernel, which
        costs little."""
        conn = psycopg2.connect(self.admin_url())
        conn.autocommit = True  # ALTER SYSTEM cannot run inside a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT setting FROM pg_settings WHERE name = 'synchronous_commit'")
                if cur.fetchone()[0] != "on":
                    cur.execute("ALTER SYSTEM SET synchronous_commit = on")
                    cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()

    def _enable_roles(self) -> None:
        with psycopg2.connect(self.admin_url()) as conn, conn.cursor() as cur:
            for role in APP_ROLES:
                cur.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(self.password(role))))
        conn.close()

    def stop(self) -> bool:
        """Stop the cluster if it runs; True if something was stopped."""
        if self.running_pid() is None:
            return False
        bindir = find_bindir()
        result = self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"])
        if result.returncode != 0 and self.running_pid() is not None:
            raise ServiceError(f"pg_ctl stop failed: {result.stderr.strip()}; see {self.log_file}")
        return True
