"""The pictures of project_brief.pdf, drawn with matplotlib: the architecture diagram and the charts
of the measured figures in docs/results.json. Each function writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.ticker import StrMethodFormatter  # noqa: E402

DPI = 200
OURS, BASELINE, ACCENT = "#2f6f9f", "#b8b8b8", "#c0504d"
PART, STORE, TOPIC, CLOCK = "#dbe8f4", "#f3f3f3", "#fbe5c8", "#e4f1dc"
# Fixed PNG metadata, so the same results give the same bytes.
PNG_METADATA = {"Software": None}


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
    return path


def box(ax, x, y, w, h, title, detail="", color=PART, size=8.5):
    """A rounded box with a bold title and smaller detail lines; (x, y) is its lower-left corner."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.3,rounding_size=1",
                                facecolor=color, edgecolor="#555555", linewidth=0.8))
    if detail:
        ax.text(x + w / 2, y + h * 0.66, title, ha="center", va="center", fontsize=size, fontweight="bold")
        ax.text(x + w / 2, y + h * 0.3, detail, ha="center", va="center", fontsize=size - 1.8,
                color="#333333", linespacing=1.2)
    else:
        ax.text(x + w / 2, y + h / 2, title, ha="center", va="center", fontsize=size, fontweight="bold")


def arrow(ax, start, end, label="", dashed=False, label_offset=(0, 1.2)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, linewidth=1.0,
                                 color="#444444", linestyle=(0, (4, 3)) if dashed else "-"))
    if label:
        ax.text((start[0] + end[0]) / 2 + label_offset[0], (start[1] + end[1]) / 2 + label_offset[1], label,
                ha="center", va="bottom", fontsize=6.3, color="#333333")


def architecture(path: Path) -> Path:
    """Three lanes (population, stream, batch) flowing left to right into the warehouse's schemas."""
    fig, ax = plt.subplots(figsize=(10, 6.2))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 62)
    ax.axis("off")
    # Left column: what makes the data.
    box(ax, 1, 46, 19, 10, "generators/", "people, patients,\nstaff, doctors, roster")
    box(ax, 1, 28, 19, 10, "stream_producer", "producer/  3 events\nper 3-min tick")
    box(ax, 1, 17.5, 19, 7, "core/clock.py", "one simulated clock", color=CLOCK)
    box(ax, 1, 4, 19, 10, "batch_writer", "producer/  record files\nper 15-min tick")
    # Middle: where it waits.
    box(ax, 27, 46, 20, 10, "CSV files", "people.csv, hospital_patients.csv,\nstaff.csv, doctors.csv,\n"
        "assigned_staff.csv", color=STORE)
    box(ax, 27, 28, 20, 10, "patient-transfers", "Kafka topic, 6 partitions,\nkeyed by transfer_id", color=TOPIC)
    box(ax, 27, 18.5, 20, 5.5, "patient-transfers.dlq", color=TOPIC, size=7.5)
    box(ax, 27, 4, 20, 10, "DATA_DIR/landing/", "*.tmp, then rename;\narchive/, quarantine/", color=STORE)
    # Right: what loads it.
    box(ax, 54, 46, 18, 10, "load-population", "hospital prepare:\nCOPY into core")
    box(ax, 54, 28, 18, 10, "stream_consumer", "consumer/  version-guarded\nupsert + offsets, one txn")
    box(ax, 54, 4, 18, 10, "batch_ingest", "database/  SHA-256 ledger,\nstaging, SQL checks, merge")
    # The warehouse and its schemas.
    ax.add_patch(FancyBboxPatch((78, 1), 21, 59, boxstyle="round,pad=0.3,rounding_size=1.5",
                                facecolor="#fafafa", edgecolor="#333333", linewidth=1.1))
    ax.text(88.5, 57.3, "PostgreSQL", ha="center", fontsize=9.5, fontweight="bold")
    schemas = [(48, "core", "person, patient, staff, roster"), (40, "reference", "wards, specialities, ICD-10"),
               (30, "stream", "transfer, transfer_event"), (20.5, "ops", "ledger, offsets, quarantine"),
               (4.5, "clinical", "6 record tables, by day"), (12.5, "analytics", "masked views")]
    for y, name, detail in schemas:
        box(ax, 79.5, y, 18, 6, name, detail, color=PART if name != "analytics" else CLOCK, size=8)
    # Flows.
    arrow(ax, (20.3, 51), (26.7, 51), "write")
    arrow(ax, (47.3, 51), (53.7, 51), "read")
    arrow(ax, (72.3, 51), (79.2, 51), "COPY")
    arrow(ax, (20.3, 33), (26.7, 33), "produce")
    arrow(ax, (47.3, 33), (53.7, 33), "poll")
    arrow(ax, (72.3, 33), (79.2, 33), "upsert")
    arrow(ax, (58, 27.7), (47.3, 21.5), "bad events", label_offset=(1.5, 0.6))
    arrow(ax, (72.3, 31), (79.2, 23.5))
    arrow(ax, (20.3, 9), (26.7, 9), "write")
    arrow(ax, (47.3, 9), (53.7, 9), "claim")
    arrow(ax, (72.3, 7.5), (79.2, 7.5), "merge")
    arrow(ax, (72.3, 11), (79.2, 22), dashed=True)
    arrow(ax, (10.5, 24.8), (10.5, 27.7), dashed=True)
    arrow(ax, (10.5, 17.2), (10.5, 14.3), dashed=True)
    return save(fig, path)


def span(value) -> tuple[float, float]:
    """(low, high) of a figure that is one number or a [low, high] range."""
    return (value[0], value[1]) if isinstance(value, list) else (value, value)


def compared_bars(ax, title, unit, ours, baseline, ours_label, baseline_label, ratio_text):
    """Two bars, ours against the baseline; a range is drawn to its middle with a whisker to its ends."""
    for x, value, color in ((0, ours, OURS), (1, baseline, BASELINE)):
        low, high = span(value)
        middle = (low + high) / 2
        ax.bar(x, middle, width=0.6, color=color,
               yerr=[[middle - low], [high - middle]] if high > low else None, capsize=4)
        ax.text(x, high * 1.03, f"{low:,.0f}" if low == high else f"{low:,.0f}-{high:,.0f}",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks([0, 1], [ours_label, baseline_label], fontsize=8)
    ax.set_title(f"{title}\n{ratio_text}", fontsize=9.5)
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylim(0, max(span(ours)[1], span(baseline)[1]) * 1.22)
    ax.spines[["top", "right"]].set_visible(False)


def benchmarks(results: dict, path: Path) -> Path:
    generation, stream, batch = results["generation"], results["stream"], results["batch"]
    fig, axes = plt.subplots(1, 3, figsize=(8, 3.3))
    compared_bars(axes[0], "Generating people", "rows per second", generation["bench_rows_per_s"],
                  generation["faker_rows_per_s"], "ours\n(numpy)", "Faker\nrow loop", f"{generation['ratio']}x")
    low, high = span(stream["ratio"])
    compared_bars(axes[1], "Stream backfill", "events per second", stream["events_per_s"],
                  stream["baseline_events_per_s"], "ours\n(batched txn)", "row-at-a-time\nINSERT",
                  f"{low}-{high}x")
    low, high = span(batch["ratio_two_loaders"])
    compared_bars(axes[2], "Batch loading", "MB per second", batch["mb_per_s"], batch["copy_mb_per_s"],
                  "ours, two loaders\n(validated)", "plain COPY", f"{low}x" if low == high else f"{low}-{high}x")
    fig.tight_layout(w_pad=2.5)
    return save(fig, path)


def batch_ratio(results: dict, path: Path) -> Path:
    """The batch loader's speed as a fraction of plain COPY, against the 0.5 target."""
    batch = results["batch"]
    fig, ax = plt.subplots(figsize=(8, 1.9))
    rows = [("one loader", batch["ratio_one_loader"]), ("two loaders", batch["ratio_two_loaders"])]
    for y, (label, value) in enumerate(rows):
        low, high = span(value)
        ax.barh(y, high, color=OURS, height=0.5, alpha=0.35 if high > low else 1.0)
        ax.barh(y, low, color=OURS, height=0.5)
        ax.text(low - 0.01, y, f"{low}" if low == high else f"{low}-{high}", va="center", ha="right",
                fontsize=8.5, color="white", fontweight="bold")
    ax.axvline(batch["ratio_target"], color=ACCENT, linestyle="--", linewidth=1.2)
    met = span(batch["ratio_two_loaders"])[0] >= batch["ratio_target"]
    ax.text(batch["ratio_target"] + 0.01, 1.45, f"target {batch['ratio_target']}" + ("" if met else " (not met yet)"),
            color=ACCENT, fontsize=8.5, va="center")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8.5)
    ax.set_xlim(0, 1.0)
    ax.set_ylim(-0.6, 1.8)
    ax.set_xlabel("throughput as a fraction of plain COPY of the same files (1.0 = COPY)", fontsize=8.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return save(fig, path)


def full_run_time(results: dict, path: Path) -> Path:
    """Where the wall time of `make full` went, phase by phase."""
    run = results["full_run"]
    phases = run["phases"]
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    labels = [p["phase"] for p in phases][::-1]
    seconds = [p["seconds"] for p in phases][::-1]
    ax.barh(range(len(phases)), seconds, color=OURS, height=0.6)
    for y, value in enumerate(seconds):
        ax.text(value + 3, y, f"{value:.0f} s ({value / run['wall_s']:.0%})", va="center", fontsize=8)
    ax.set_yticks(range(len(phases)), labels, fontsize=8)
    ax.set_xlim(0, max(seconds) * 1.25)
    minutes, secs = divmod(run["wall_s"], 60)
    ax.set_xlabel(f"seconds of wall time (total {minutes} min {secs} s on 2 cores)", fontsize=8.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return save(fig, path)


def draw_all(results: dict, folder: Path) -> dict[str, Path]:
    """Every figure the brief can place, by the name brief.md uses for it."""
    return {
        "architecture": architecture(folder / "architecture.png"),
        "benchmarks": benchmarks(results, folder / "benchmarks.png"),
        "batch_ratio": batch_ratio(results, folder / "batch_ratio.png"),
        "full_run_time": full_run_time(results, folder / "full_run_time.png"),
    }
