"""A local single-node Apache Kafka broker (KRaft, combined broker + controller) from Maven jars.

`make setup` collects the jars into .local/kafka/libs (services/kafka/pom.xml). This module
writes server.properties, formats the log directory once, starts `kafka.Kafka` with a bounded
heap, and waits until an AdminClient can list topics.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka import KafkaException, KafkaError

from hospital.local.process import (ServiceError, cmdline, ensure_port_free, listening, pid_alive, read_pid,
                                    stop_pid, wait_until)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG4J_CONFIG = REPO_ROOT / "services" / "kafka" / "log4j2.properties"
HEAP_OPTS = ["-Xms256m", "-Xmx512m"]


@dataclass(frozen=True)
class LocalKafka:
    """One checkout's broker. `state_dir` is the checkout's .local directory."""

    state_dir: Path
    port: int
    controller_port: int

    @property
    def home(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def pidfile(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def version(self) -> str:
        """The broker version, read from the kafka_2.13-<version>.jar that setup collected."""
        for jar in self.libs.glob("kafka_2.13-*.jar"):
            match = re.fullmatch(r"kafka_2\.13-(.+)\.jar", jar.name)
            if match:
                return match.group(1)
        raise ServiceError(f"no kafka_2.13 jar in {self.libs}; run `make setup`")

    def _classpath(self) -> str:
        jars = sorted(self.libs.glob("*.jar"))
        if not jars:
            raise ServiceError(f"no Kafka jars in {self.libs}; run `make setup`")
        return ":".join(str(jar) for jar in jars)

    def _java(self, main_class: str, *args: str) -> list[str]:
        return ["java", *HEAP_OPTS, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                f"-Dkafka.logs.dir={self.log_dir}", "-cp", self._classpath(), main_class, *args]

    def _write_config(self) -> None:
        data = self.home / "data"
        self.config_file.write_text("\n".join([
            "# Written by `make up`: a single combined KRaft node on loopback.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # A restart on existing data re-registers in ~5 s instead of ~13 s.
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=500",
            "auto.create.topics.enable=false",
            "",
        ]))

    def _format_storage(self) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = subprocess.run(self._java("kafka.tools.StorageTool", "random-uuid"),
                                    capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        result = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                           "-c", str(self.config_file)), capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"formatting Kafka storage failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}")

    def running_pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        if pid is not None and str(self.config_file) in cmdline(pid):
            return pid
        return None

    def is_ready(self) -> bool:
        """True once the port accepts connections and the broker answers a metadata request."""
        if not listening(self.port):
            return False
        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000,
                                 "log_level": 2})
            admin.list_topics(timeout=2)
            return True
        except KafkaException:
            return False

    def start(self) -> str:
        """Start the broker unless it already runs; wait until it answers; return its version."""
        for path in (self.home / "data", self.log_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.running_pid() is None:
            ensure_port_free(self.port, "Kafka", "HOSPITAL_KAFKA_PORT")
            ensure_port_free(self.controller_port, "Kafka", "HOSPITAL_KAFKA_CONTROLLER_PORT")
            self._write_config()
            self._format_storage()
            with (self.log_dir / "stdout.log").open("ab") as out:
                process = subprocess.Popen(self._java("kafka.Kafka", str(self.config_file)),
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            self.pidfile.write_text(f"{process.pid}\n")
            wait_until(self.is_ready, deadline_s=90, what="Kafka", log=self.log_file,
                       alive=lambda: process.poll() is None)
        else:
            wait_until(self.is_ready, deadline_s=60, what="Kafka", log=self.log_file)
        return self.version()

    def kill(self) -> int | None:
        """SIGKILL the broker, as a crash would (no controlled shutdown; the next start recovers its
        logs); returns the pid it had, or None if it was not running."""
        pid = self.running_pid()
        if pid is None:
            return None
        try:
            os.killpg(pid, signal.SIGKILL)  # its own session (see start), so the group is the broker
        except ProcessLookupError:
            pass
        # The pid reads as gone (a zombie) as soon as the JVM's main thread is; its other threads
        # hold the ports a moment longer, and a new broker cannot bind them until they let go.
        wait_until(lambda: not (pid_alive(pid) or listening(self.port) or listening(self.controller_port)),
                   deadline_s=30, what="the killed Kafka broker's exit", log=self.log_file)
        self.pidfile.unlink(missing_ok=True)
        return pid

    def stop(self) -> bool:
        """Stop the broker if it runs (SIGTERM, then SIGKILL); True if something was stopped."""
        pid = self.running_pid()
        if pid is None:
            return False
        stop_pid(pid, grace_s=30)
        self.pidfile.unlink(missing_ok=True)
        return True


def ensure_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create each topic with the given partition count (replication 1) unless it exists."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(name, num_partitions=partitions, replication_factor=1)
              for name, partitions in topics.items() if name not in existing]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ServiceError(f"creating topic {name} failed: {exc}") from exc
