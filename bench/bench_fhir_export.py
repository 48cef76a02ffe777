"""Benchmark `hospital export-fhir` against a naive exporter built on a FHIR model library.

    python bench/bench_fhir_export.py       # needs `make up`; builds scratch warehouses of its own

1. Builds a warehouse with a one-day `hospital run` (--people people, --target-size of record
   files) in a scratch database, and a second one twice the size.
2. Exports each in a subprocess (`python -m producer.fhir_export`) and samples the peak resident
   memory of its process tree: the export streams, so the larger warehouse must not need more.
3. Side by side on the first warehouse, in this process: the exporter (dicts + orjson, line by
   line) and the baseline, which reads the same rows, builds each resource as fhirclient R4
   model objects (strict), and serialises them with `as_json()` + json.dumps, as a naive exporter
   would. Both make the same resources; resources/s is what is compared.

Last line: BENCH fhir_export resources_per_s=... baseline_resources_per_s=... peak_rss_mb=... ratio=...
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from core.logs import configure_logging
from core.settings import Settings, load
from database.schema import scratch_database, with_database
from producer import fhir_export
from producer.fhir_export import RESOURCE_TYPES, ExportOptions, Slice, export

log = logging.getLogger("bench.fhir_export")


@contextmanager
def warehouse(settings: Settings, people: int, target_size: str):
    """A scratch warehouse holding a finished one-day run; yields its settings."""
    from hospital.local import TRANSFER_PARTITIONS
    from hospital.local.kafka import ensure_topics
    from hospital.run import RunOptions, run

    admin_url = settings.require("database_admin_url")
    with scratch_database(admin_url, prefix="hospital_bench_fhir") as name, \
            tempfile.TemporaryDirectory(prefix="bench_fhir_") as tmp:
        suffix = uuid.uuid4().hex[:8]
        scratch = dataclasses.replace(
            settings, database_url=with_database(settings.database_url, name),
            database_admin_url=with_database(admin_url, name),
            analyst_database_url=with_database(settings.analyst_database_url, name), data_dir=Path(tmp) / "data",
            transfers_topic=f"bench-fhir-{suffix}", transfers_dlq_topic=f"bench-fhir-{suffix}.dlq",
            consumer_group=f"bench-fhir-{suffix}")
        ensure_topics(settings.require("kafka_bootstrap_servers"),
                      {scratch.transfers_topic: TRANSFER_PARTITIONS, scratch.transfers_dlq_topic: 1})
        run(scratch, RunOptions(days=1, speed=0, target_size=target_size, people=people), threading.Event())
        yield scratch


def export_in_subprocess(settings: Settings, out: Path) -> tuple[int, float, int]:
    """(resources, seconds, peak RSS in MB) of the exporter run as its own (single) process; the
    peak is the kernel's maximum resident set of that child (wait4), not a sample."""
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    command = [sys.executable, "-m", "producer.fhir_export", "--out", str(out), "--no-progress"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = code = os.waitstatus_to_exitcode(status)
    seconds, peak = time.perf_counter() - started, usage.ru_maxrss // 1024
    if code:
        raise RuntimeError(f"export failed with exit code {code}")
    manifest = json.loads((out / "manifest.json").read_text())
    return sum(entry["count"] for entry in manifest["output"]), seconds, peak


def _plain(value):
    """What a naive exporter does with a database value: ISO strings for times."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def baseline_export(settings: Settings, out: Path) -> int:
    """The same rows and the same resources, built as fhirclient objects and written with json."""
    out.mkdir(parents=True, exist_ok=True)
    conn = fhir_export.open_snapshot(settings, Slice())
    count = 0
    try:
        for resource_type in RESOURCE_TYPES:
            module = importlib.import_module(f"fhirclient.models.{resource_type.lower()}")
            model = getattr(module, resource_type)
            with (out / f"{resource_type}.ndjson").open("w", encoding="utf-8") as handle:
                for number, source in enumerate(fhir_export.sources()[resource_type]):
                    sql = source.sql.replace("{scope}", "TRUE")
                    for row in fhir_export.rows(conn, sql, {}, fhir_export.FETCH_ROWS, f"baseline_{number}"):
                        for resource in source.mapper({k: _plain(v) for k, v in row.items()}).resources:
                            handle.write(json.dumps(model(resource, strict=True).as_json(), ensure_ascii=False))
                            handle.write("\n")
                            count += 1
    finally:
        conn.rollback()
        conn.close()
    return count


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000, help="people in each warehouse (default 20,000)")
    parser.add_argument("--target-size", default="8MB",
                        help="record files of the smaller warehouse; the larger has twice (default 8MB)")
    args = parser.parse_args(argv)
    configure_logging()
    settings = load()
    small_mb = float(args.target_size.rstrip("MB"))
    with tempfile.TemporaryDirectory(prefix="bench_fhir_out_") as tmp:
        folder = Path(tmp)
        with warehouse(settings, args.people, f"{small_mb * 2:g}MB") as large:
            large_n, large_s, large_peak = export_in_subprocess(large, folder / "large")
        log.info("larger warehouse: %d resources in %.1f s, peak RSS %d MB", large_n, large_s, large_peak)
        with warehouse(settings, args.people, args.target_size) as small:
            small_n, small_s, small_peak = export_in_subprocess(small, folder / "small")
            log.info("smaller warehouse: %d resources in %.1f s, peak RSS %d MB", small_n, small_s, small_peak)
            started = time.perf_counter()
            ours_n = sum(e["count"] for e in export(small, ExportOptions(out_dir=folder / "ours"))["output"])
            ours = ours_n / (time.perf_counter() - started)
            log.info("exporter: %.0f resources/s", ours)
            started = time.perf_counter()
            base_n = baseline_export(small, folder / "baseline")
            baseline = base_n / (time.perf_counter() - started)
            log.info("fhirclient baseline: %.0f resources/s", baseline)
        if base_n != ours_n:
            raise RuntimeError(f"the baseline made {base_n} resources, the exporter {ours_n}")
    print(f"BENCH fhir_export resources_per_s={ours:.0f} baseline_resources_per_s={baseline:.0f} "
          f"peak_rss_mb={max(small_peak, large_peak)} ratio={ours / baseline:.1f} "
          f"small_resources={small_n} small_peak_rss_mb={small_peak} large_resources={large_n} "
          f"large_peak_rss_mb={large_peak}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
