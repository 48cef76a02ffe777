"""Build project_brief.pdf from docs/brief.md, the figures in docs/results.json and the charts drawn
from them (docs/brief_figures.py).

    python docs/build_brief.py --out project_brief.pdf        # what `make brief` runs

brief.md is a small subset of Markdown: `#` title, `##` and `###` headings, paragraphs, `- ` bullets,
pipe tables, **bold**, *italic* and `code`; a line `---` starts a new page, and a line
![caption](figure:NAME) places the figure NAME drawn by brief_figures.py. A placeholder
{{path.to.value}} is replaced by that value in results.json, formatted by an optional spec:
{{full_run.people:,}} gives 5,000,000, {{full_run.wall_s:mins}} gives 9 min 36 s, and a [low, high]
range gives low-high. The same sources give the same PDF, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (Image, KeepTogether, ListFlowable, ListItem, PageBreak, Paragraph,
                                SimpleDocTemplate, Spacer, Table, TableStyle)

import brief_figures

DOCS = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_.]+)(?::([^}]*))?\}\}")
FIGURE = re.compile(r"!\[(.*)\]\(figure:([a-z_]+)\)$")
MARGIN = 18 * mm
FONT, MONO = "DejaVuSans", "DejaVuSansMono"


# ---- the source: placeholders, then Markdown blocks ----------------------------------------------

def format_value(value, spec: str) -> str:
    """One figure as text: a format spec, `mins` for seconds as "M min S s", a list as a range."""
    if isinstance(value, list):
        return "-".join(format_value(v, spec) for v in value)
    if spec == "mins":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes} min {seconds} s"
    return format(value, spec)


def fill(text: str, results: dict) -> str:
    """Replace every {{path:spec}} by its value in `results`; ValueError names an unknown path."""
    def replace(match: re.Match) -> str:
        value = results
        for key in match.group(1).split("."):
            if not isinstance(value, dict) or key not in value:
                raise ValueError(f"brief.md: {{{{{match.group(1)}}}}} is not in results.json")
            value = value[key]
        return format_value(value, match.group(2) or "")
    return PLACEHOLDER.sub(replace, text)


def blocks(text: str):
    """Yield (kind, content) for each block of the Markdown subset, in order."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.strip() == "---":
            yield "page", None
            i += 1
        elif line.startswith("#"):
            hashes, _, title = line.partition(" ")
            yield f"h{len(hashes)}", title
            i += 1
        elif FIGURE.match(line):
            caption, name = FIGURE.match(line).groups()
            yield "figure", (name, caption)
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(set(c) <= set("-: ") for c in cells):  # skip the |---| separator
                    rows.append(cells)
                i += 1
            yield "table", rows
        elif line.startswith("- "):
            items = []
            while i < len(lines) and (lines[i].startswith("- ") or lines[i].startswith("  ")):
                if lines[i].startswith("- "):
                    items.append(lines[i][2:])
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            yield "bullets", items
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ", "![")) \
                    and lines[i].strip() != "---":
                paragraph.append(lines[i].strip())
                i += 1
            yield "paragraph", " ".join(paragraph)


def inline(text: str) -> str:
    """Markdown inline marks to reportlab's paragraph markup (escaped first; code left as it is)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = text.split("`")
    for n in range(0, len(parts), 2):
        part = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", parts[n])
        parts[n] = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", part)
    for n in range(1, len(parts), 2):
        parts[n] = f'<font face="{MONO}" size="-0.5">{parts[n]}</font>'
    return "".join(parts)


# ---- layout --------------------------------------------------------------------------------------

def register_fonts() -> None:
    """DejaVu from matplotlib's own copy: full Unicode (x, -, SAST...) and the charts' typeface."""
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = {FONT: "DejaVuSans", f"{FONT}-Bold": "DejaVuSans-Bold", f"{FONT}-Oblique": "DejaVuSans-Oblique",
             f"{FONT}-BoldOblique": "DejaVuSans-BoldOblique", MONO: "DejaVuSansMono"}
    for name, file in faces.items():
        pdfmetrics.registerFont(TTFont(name, ttf / f"{file}.ttf"))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=f"{FONT}-Bold", italic=f"{FONT}-Oblique",
                                  boldItalic=f"{FONT}-BoldOblique")


def styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12.5, spaceAfter=5)
    return {
        "body": body,
        "h1": ParagraphStyle("h1", body, fontSize=20, leading=25, spaceAfter=4, fontName=f"{FONT}-Bold"),
        "h2": ParagraphStyle("h2", body, fontSize=14, leading=18, spaceBefore=6, spaceAfter=6,
                             fontName=f"{FONT}-Bold", textColor=colors.HexColor("#1f4e79")),
        "h3": ParagraphStyle("h3", body, fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=4,
                             fontName=f"{FONT}-Bold"),
        "cell": ParagraphStyle("cell", body, fontSize=7.8, leading=10, spaceAfter=0),
        "caption": ParagraphStyle("caption", body, fontSize=7.8, leading=10, alignment=TA_CENTER,
                                  textColor=colors.HexColor("#444444"), spaceAfter=8),
    }


def table(rows: list[list[str]], style: dict, width: float) -> Table:
    """A grid with a shaded header; columns as wide as their longest text suggests, within limits."""
    longest = [min(max(12, *(len(row[c]) for row in rows)), 70) + 6 for c in range(len(rows[0]))]
    widths = [width * n / sum(longest) for n in longest]
    cells = [[Paragraph(inline(f"**{c}**" if r == 0 else c), style["cell"]) for c in row]
             for r, row in enumerate(rows)]
    grid = Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
    grid.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dbe8f4")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9a9a9a")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]))
    return grid


def figure(path: Path, caption: str, style: dict, width: float) -> KeepTogether:
    pixels_wide, pixels_high = ImageReader(str(path)).getSize()
    return KeepTogether([Image(str(path), width=width, height=width * pixels_high / pixels_wide),
                         Paragraph(inline(caption), style["caption"])])


def flowables(text: str, figures: dict[str, Path], width: float) -> list:
    style = styles()
    story, headings = [], []  # a heading waits to share a page with what follows it

    def add(flowable) -> None:
        story.append(KeepTogether(headings + [flowable]) if headings else flowable)
        headings.clear()

    for kind, content in blocks(text):
        if kind == "page":
            story += headings + [PageBreak()]
            headings.clear()
        elif kind in ("h1", "h2", "h3"):
            headings.append(Paragraph(inline(content), style[kind]))
        elif kind == "paragraph":
            add(Paragraph(inline(content), style["body"]))
        elif kind == "bullets":
            items = [ListItem(Paragraph(inline(item), style["body"]), leftIndent=12) for item in content]
            add(ListFlowable(items, bulletType="bullet", start="•", leftIndent=12, bulletFontSize=8))
        elif kind == "table":
            add(table(content, style, width))
            story.append(Spacer(1, 8))
        elif kind == "figure":
            name, caption = content
            if name not in figures:
                raise ValueError(f"brief.md: no figure named {name!r} (known: {', '.join(sorted(figures))})")
            add(figure(figures[name], caption, style, width))
    return story + headings


def footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 7.5)
    canvas.setFillColor(colors.HexColor("#666666"))
    canvas.drawString(MARGIN, 10 * mm, "Johannesburg hospital records pipeline - project brief")
    canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"page {doc.page}")
    canvas.restoreState()


def build(out: Path, source: Path, results_path: Path) -> int:
    """Write the PDF to `out`; returns its number of pages."""
    results = json.loads(results_path.read_text(encoding="utf-8"))
    text = fill(source.read_text(encoding="utf-8"), results)
    register_fonts()
    doc = SimpleDocTemplate(str(out), pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + 4 * mm, title="Johannesburg hospital records pipeline",
                            subject="Project brief", author="jhb-hospital-pipeline", creator="docs/build_brief.py",
                            invariant=True)  # no timestamp or random id: same sources, same bytes
    with tempfile.TemporaryDirectory(prefix="brief-") as folder:
        figures = brief_figures.draw_all(results, Path(folder))
        doc.build(flowables(text, figures, doc.width), onFirstPage=footer, onLaterPages=footer)
    return doc.page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_brief.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--out", type=Path, required=True, help="the PDF to write, e.g. project_brief.pdf")
    parser.add_argument("--source", type=Path, default=DOCS / "brief.md", help="the text (default docs/brief.md)")
    parser.add_argument("--results", type=Path, default=DOCS / "results.json",
                        help="the measured figures (default docs/results.json)")
    args = parser.parse_args(argv)
    try:
        pages = build(args.out, args.source, args.results)
    except (OSError, ValueError) as exc:
        print(f"build_brief.py: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({pages} pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
