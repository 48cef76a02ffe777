"""`hospital report` and the analytics views, after a one-day run at a small scale."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta
from html.parser import HTMLParser

import psycopg2
import pytest
from matplotlib import image as mpimg

from database.connection import connect
from hospital.report import write_report
from hospital.run import RunOptions, run
from hospital.status import collect, render

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VIEWS = ("bed_occupancy", "transfers_by_ward", "staff_shift", "admissions_by_icd10_chapter")
PERSONAL_COLUMN = re.compile(r"first_name|last_name|sa_id|passport|phone|email|address|persal|hpcsa|hospital_number")


class ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


@pytest.fixture()
def one_day_run(run_settings):
    """Settings of a finished one-day run (20,000 people, 4 MB of records) in a database of its own."""
    settings = run_settings
    run(settings, RunOptions(days=1, speed=0, target_size="4MB", people=20_000), threading.Event())
    return settings


def test_report_writes_a_page_whose_charts_are_valid_pngs_and_whose_summary_is_the_status(one_day_run, tmp_path):
    page = write_report(one_day_run, tmp_path / "report", target_bytes=4_000_000)

    text = page.read_text(encoding="utf-8")
    parser = ImageSources()
    parser.feed(text)
    pngs = sorted(p.name for p in page.parent.glob("*.png"))
    assert len(pngs) == 6 and sorted(parser.sources) == pngs
    for name in pngs:
        data = (page.parent / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        height, width = mpimg.imread(page.parent / name).shape[:2]
        assert width >= 400 and height >= 200, name

    status = collect(one_day_run, days=1)
    assert html.escape(render(status)) in text
    assert f"({status['window']['days']} days)" in text and "finished" in text
    # The lag chart covers every stored event, so each one carried its Kafka timestamp.
    assert f"over {status['transfers']['events_stored']:,} events" in text
    conn = connect(one_day_run.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT count(*), count(produced_at), count(*) FILTER (WHERE produced_at > received_at),
                                  max(received_at - produced_at) FROM stream.transfer_event""")
            events, produced, out_of_order, longest = cur.fetchone()
    finally:
        conn.close()
    assert events == produced == 3 * 480 and out_of_order == 0 and longest < timedelta(minutes=5)


def test_the_analyst_reads_every_view_and_sees_no_personal_identifiers(one_day_run):
    conn = psycopg2.connect(one_day_run.analyst_database_url)
    try:
        with conn.cursor() as cur:
            for view in VIEWS:
                cur.execute(f"SELECT * FROM analytics.{view}")  # noqa: S608 - fixed names
                rows = cur.fetchall()
                columns = [c.name for c in cur.description]
                assert rows, view
                assert not [c for c in columns if PERSONAL_COLUMN.search(c)], (view, columns)
                values = " ".join(str(v) for row in rows[:2000] for v in row)
                assert not re.search(r"\+27[0-9]{9}|\b[0-9]{13}\b", values), view
            cur.execute("SELECT count(*) FROM analytics.staff_on_shift(%s)",
                        (one_day_run.sim_start + timedelta(hours=10),))
            on_shift = cur.fetchone()[0]
            cur.execute("SELECT sum(occupied) FROM analytics.bed_occupancy")
            occupied = cur.fetchone()[0]
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT count(*) FROM core.person")
    finally:
        conn.close()

    # Independent counts, as the pipeline role on the base tables.
    conn = connect(one_day_run.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM core.staff_assignment WHERE shift_start <= %(at)s AND %(at)s < shift_end",
                        {"at": one_day_run.sim_start + timedelta(hours=10)})
            assert cur.fetchone()[0] == on_shift > 0
            cur.execute("SELECT count(*) FROM core.patient WHERE current_ward_code IS NOT NULL")
            assert cur.fetchone()[0] == occupied
    finally:
        conn.close()
