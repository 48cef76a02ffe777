"""`hospital report`: an HTML page with PNG charts of the run, all computed from the database.

    hospital report                          # DATA_DIR/report/index.html and its charts
    hospital report --out /tmp/report --target-size 200MB

Charts: transfer events and batch rows per simulated hour, cumulative GB against the target,
batch load durations, consumer lag, quarantine counts by reason, bed occupancy by ward. The
page starts with the run's window and the summary of `hospital status`. Everything is read as
the pipeline role (DATABASE_URL); nothing is taken from a process's memory or log.
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402 - must follow the backend choice
import numpy as np  # noqa: E402
import psycopg2  # noqa: E402

from core.clock import BATCH_INTERVAL, WINDOW_DAYS  # noqa: E402
from core.logs import configure_logging  # noqa: E402
from core.settings import Settings, SettingsError, load  # noqa: E402
from core.sizes import parse_size  # noqa: E402
from database.connection import connect  # noqa: E402
from hospital import status as status_module  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_TARGET = "5GB"
TOP_REASONS = 15
TICKS_PER_HOUR = timedelta(hours=1) // BATCH_INTERVAL

RUN_SQL = "SELECT run_id, status, window_start, window_end FROM ops.run_state ORDER BY updated_at DESC LIMIT 1"

EVENTS_SQL = """
SELECT floor(extract(epoch FROM event_time - %(start)s) / 3600)::integer AS hour,
       extract(epoch FROM received_at - produced_at) * 1000 AS lag_ms
FROM stream.transfer_event
WHERE event_time >= %(start)s AND event_time < %(end)s
"""

# The writer names every file after its tick (..._t0029.csv); files without one (dropped in by
# hand) still count for durations, quarantine and bytes, but not per hour.
FILES_SQL = """
SELECT substring(file_name FROM '_t([0-9]+)\\.csv$')::integer AS tick, coalesce(file_kind, '?'), status,
       size_bytes, coalesce(rows_loaded, 0), extract(epoch FROM finished_at - claimed_at)
FROM ops.file_ledger
ORDER BY tick NULLS LAST, file_id
"""

QUARANTINE_SQL = """
SELECT 'event: ' || split_part(reason, ':', 1), count(*) FROM ops.quarantined_event GROUP BY 1
UNION ALL
SELECT 'row: ' || reason, count(*) FROM ops.rejected_row GROUP BY 1
UNION ALL
SELECT 'file: ' || coalesce(error, 'unreadable'), count(*) FROM ops.file_ledger WHERE status = 'quarantined' GROUP BY 1
ORDER BY 2 DESC, 1
"""

OCCUPANCY_SQL = """
SELECT w.ward_code, w.bed_count, count(p.patient_id)
FROM reference.ward w LEFT JOIN core.patient p ON p.current_ward_code = w.ward_code
GROUP BY w.ward_code ORDER BY w.ward_code
"""


@dataclass
class RunData:
    """What the charts are drawn from, as read from the database."""

    run: tuple | None
    start: datetime
    hours: int
    event_hours: np.ndarray  # simulated hour of each stored event
    lags: list[tuple[int, float]]  # (simulated hour, lag ms) of events with a produce time
    files: list[tuple]  # (tick, kind, status, size_bytes, rows_loaded, duration_s)
    quarantine: list[tuple[str, int]]  # ('source: reason', count)
    occupancy: list[tuple[str, int, int]]  # (ward, beds, occupied)


def fetch(settings: Settings, start: datetime, days: int) -> RunData:
    end = start + timedelta(days=days)
    conn = connect(settings.require("database_url"))
    try:
        with conn.cursor() as cur:
            cur.execute(RUN_SQL)
            run = cur.fetchone()
            cur.execute(EVENTS_SQL, {"start": start, "end": end})
            events = cur.fetchall()
            cur.execute(FILES_SQL)
            files = [(tick, kind, status, size, rows, float(seconds or 0))
                     for tick, kind, status, size, rows, seconds in cur.fetchall()]
            cur.execute(QUARANTINE_SQL)
            quarantine = cur.fetchall()
            cur.execute(OCCUPANCY_SQL)
            occupancy = cur.fetchall()
    finally:
        conn.close()
    return RunData(run=run, start=start, hours=days * 24,
                   event_hours=np.array([hour for hour, _ in events], dtype=int),
                   lags=[(hour, float(lag)) for hour, lag in events if lag is not None],
                   files=files, quarantine=quarantine, occupancy=occupancy)


# -- charts: each draws one PNG and returns its one-line caption --------------------------------------

def _per_hour(hours: np.ndarray, weights: np.ndarray | None, total_hours: int) -> np.ndarray:
    inside = (hours >= 0) & (hours < total_hours)
    return np.bincount(hours[inside], weights=None if weights is None else weights[inside],
                       minlength=total_hours)


def chart_throughput(data: RunData, axes) -> str:
    events = _per_hour(data.event_hours, None, data.hours)
    ticked = [f for f in data.files if f[0] is not None]
    hours = np.array([f[0] // TICKS_PER_HOUR for f in ticked], dtype=int)
    rows = _per_hour(hours, np.array([f[4] for f in ticked], dtype=float), data.hours)
    x = np.arange(data.hours)
    top, bottom = axes
    top.step(x, events, where="post", color="tab:blue")
    top.set_ylabel("transfer events")
    top.set_ylim(bottom=0, top=max(events.max(initial=0) * 1.2, 1))
    bottom.step(x, rows, where="post", color="tab:orange")
    bottom.set_ylabel("batch rows loaded")
    bottom.set_ylim(bottom=0, top=max(rows.max(initial=0) * 1.2, 1))
    bottom.set_xlabel("simulated hour of the window")
    return (f"Transfer events (top, {int(events.sum()):,} in all, by event time) and batch rows loaded "
            f"(bottom, {int(rows.sum()):,}, by the file's tick) per simulated hour.")


def chart_cumulative_bytes(data: RunData, ax, target_bytes: int) -> str:
    ticked = sorted((f[0], f[3]) for f in data.files if f[0] is not None)
    hours = np.array([tick / TICKS_PER_HOUR for tick, _ in ticked])
    gigabytes = np.cumsum([size for _, size in ticked]) / 1e9
    ax.step(hours, gigabytes, where="post", label="processed")
    ax.plot([0, data.hours], [0, target_bytes / 1e9], linestyle=":", color="grey", label="even pace to target")
    ax.axhline(target_bytes / 1e9, color="tab:red", linestyle="--", label=f"target {target_bytes / 1e9:g} GB")
    ax.set_xlabel("simulated hour of the window")
    ax.set_ylabel("GB processed (cumulative)")
    ax.legend(loc="upper left")
    total = sum(f[3] for f in data.files) / 1e9
    return (f"Cumulative size of the batch files processed by simulated time: {total:.2f} GB against a "
            f"target of {target_bytes / 1e9:g} GB ({100 * total * 1e9 / target_bytes:.0f}%).")


def chart_durations(data: RunData, ax) -> str:
    kinds = sorted({f[1] for f in data.files})
    samples = [[f[5] for f in data.files if f[1] == kind] for kind in kinds]
    if kinds:
        ax.boxplot(samples, tick_labels=kinds, showfliers=True)
    ax.set_ylabel("seconds from claim to ledger row")
    ax.set_xlabel("file kind")
    all_s = np.array([f[5] for f in data.files])
    if not len(all_s):
        return "Batch load durations: no files loaded yet."
    return (f"Batch load durations per file (ops.file_ledger claimed_at to finished_at), by kind: median "
            f"{np.median(all_s):.2f} s, p95 {np.percentile(all_s, 95):.2f} s, longest {all_s.max():.2f} s.")


def chart_lag(data: RunData, ax) -> str:
    if not data.lags:
        ax.text(0.5, 0.5, "no produce times recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ("Consumer lag: no event has a produce time (stream.transfer_event.produced_at is filled "
                "by consumers from this version on).")
    hours = np.array([h for h, _ in data.lags])
    lags = np.maximum(np.array([lag for _, lag in data.lags]), 0.1)
    ax.scatter(hours, lags, s=4, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("simulated hour of the event")
    ax.set_ylabel("received_at - produced_at (ms)")
    return (f"Consumer lag per event, Kafka produce time to the row's commit: median {np.median(lags):.0f} ms, "
            f"p99 {np.percentile(lags, 99):.0f} ms, over {len(lags):,} events.")


def chart_quarantine(data: RunData, ax) -> str:
    shown = data.quarantine[:TOP_REASONS]
    total = sum(count for _, count in data.quarantine)
    if not shown:
        shown = [("event", 0), ("row", 0), ("file", 0)]
    labels = [label if len(label) <= 60 else label[:57] + "..." for label, _ in shown]
    ax.barh(labels[::-1], [count for _, count in shown][::-1], color="tab:red")
    ax.set_xlabel("count")
    if total == 0:
        return "Quarantine: no stream event, batch row or batch file was quarantined."
    return (f"Quarantined stream events (by category), rejected batch rows and quarantined files, by reason: "
            f"{total:,} in all (top {len(shown)} reasons shown).")


def chart_occupancy(data: RunData, ax) -> str:
    wards = [ward for ward, _, _ in data.occupancy]
    percent = [100 * occupied / beds if beds else 0 for _, beds, occupied in data.occupancy]
    ax.bar(wards, percent, color=["tab:red" if p > 100 else "tab:green" for p in percent])
    ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
    ax.set_ylabel("occupied beds (%)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    beds = sum(b for _, b, _ in data.occupancy)
    occupied = sum(o for _, _, o in data.occupancy)
    return (f"Bed occupancy by ward now (patients whose current ward it is, over commissioned beds; red above "
            f"100%): {occupied:,} patients in {beds:,} beds.")


def draw(out_dir: Path, name: str, title: str, plot, width: float = 10, height: float = 4.5,
         panels: int = 1) -> tuple[str, str, str]:
    """Save one chart as out_dir/name; `plot` draws on the axes (an array when panels > 1)."""
    fig, ax = plt.subplots(panels, 1, figsize=(width, height), sharex=True)
    try:
        caption = plot(ax)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)
    finally:
        plt.close(fig)
    log.info("drew %s", name)
    return name, title, caption


# -- the page ----------------------------------------------------------------------------------------

def render_page(status: dict, run: tuple | None, charts: list[tuple[str, str, str]]) -> str:
    window = status["window"]
    run_line = (f"run {html.escape(run[0])}: <strong>{html.escape(run[1])}</strong>" if run
                else "no run recorded in ops.run_state")
    figures = "\n".join(
        f'<figure><h2>{html.escape(title)}</h2><img src="{html.escape(name)}" alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>" for name, title, caption in charts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Johannesburg hospital pipeline: run report</title>
<style>
body {{ font-family: sans-serif; max-width: 1040px; margin: 2em auto; color: #222; }}
pre {{ background: #f4f4f4; padding: 1em; overflow-x: auto; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; }} figcaption {{ color: #555; }}
</style>
</head>
<body>
<h1>Johannesburg hospital pipeline: run report</h1>
<p>Simulated window {html.escape(window['start'])} to {html.escape(window['end'])} ({window['days']} days);
{run_line}. Generated {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} from the warehouse.</p>
<h2>Status</h2>
<pre>{html.escape(status_module.render(status))}</pre>
{figures}
</body>
</html>
"""


def write_report(settings: Settings, out_dir: Path, target_bytes: int, days: int | None = None) -> Path:
    """Write index.html and its PNG charts into `out_dir`; returns the page's path.

    `days` defaults to the window of the run in ops.run_state (9 when none is recorded).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if days is None:
        days = _run_days(settings)
    log.info("reading the run from the warehouse (%d-day window)", days)
    data = fetch(settings, settings.sim_start, days)
    status = status_module.collect(settings, days=days)
    charts = [
        draw(out_dir, "throughput.png", "Events and rows per simulated hour", lambda ax: chart_throughput(data, ax),
             height=6, panels=2),
        draw(out_dir, "cumulative_gb.png", "Cumulative GB against the target",
             lambda ax: chart_cumulative_bytes(data, ax, target_bytes)),
        draw(out_dir, "load_durations.png", "Batch load durations", lambda ax: chart_durations(data, ax)),
        draw(out_dir, "consumer_lag.png", "Consumer lag", lambda ax: chart_lag(data, ax)),
        draw(out_dir, "quarantine.png", "Quarantine counts by reason", lambda ax: chart_quarantine(data, ax)),
        draw(out_dir, "bed_occupancy.png", "Bed occupancy by ward", lambda ax: chart_occupancy(data, ax), width=14),
    ]
    page = out_dir / "index.html"
    page.write_text(render_page(status, data.run, charts), encoding="utf-8")
    log.info("wrote %s", page)
    return page


def _run_days(settings: Settings) -> int:
    conn = connect(settings.require("database_url"))
    try:
        with conn.cursor() as cur:
            cur.execute(RUN_SQL)
            run = cur.fetchone()
    finally:
        conn.close()
    return round((run[3] - run[2]) / timedelta(days=1)) if run else WINDOW_DAYS


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--out", type=Path, help="folder for index.html and the charts (default: DATA_DIR/report)")
    parser.add_argument("--target-size", type=parse_size, default=parse_size(DEFAULT_TARGET),
                        help=f"the run's target volume, drawn on the cumulative chart (default {DEFAULT_TARGET})")
    parser.add_argument("--days", type=int, help=f"days in the window (default: the recorded run's, else {WINDOW_DAYS})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    configure_logging()
    try:
        settings = load()
        page = write_report(settings, args.out or settings.data_dir / "report", args.target_size, args.days)
    except SettingsError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    except psycopg2.OperationalError as exc:
        print(f"report: cannot reach PostgreSQL at DATABASE_URL ({' '.join(str(exc).split())}); "
              "start the services with `make up`", file=sys.stderr)
        return 1
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
