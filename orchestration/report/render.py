"""Render the review of one or more years from the serving database to HTML files.

Every file is written to a temporary name and then renamed over the old one (`os.replace`):
a reader never opens a half-written report, and a failure keeps the previous file.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from orchestration.report import fonts
from orchestration.report.charts import ChartRenderer
from orchestration.report.data import Period, Served, Version
from orchestration.report.model import Review, Section
from orchestration.report.sections_quality import data_quality, review_figures
from orchestration.report.sections_reach import (
    distributors,
    overseas,
    products,
    regional_coverage,
)
from orchestration.report.sections_sales import (
    channel_mix,
    headline,
    online_platforms,
    store_productivity,
)

log = logging.getLogger(__name__)

SECTIONS: tuple[Callable[[Review], Section | None], ...] = (
    headline,
    channel_mix,
    online_platforms,
    store_productivity,
    regional_coverage,
    distributors,
    products,
    overseas,
    data_quality,
    review_figures,
)
HIGHLIGHTS = ("headline", "mix", "online", "distributors", "coverage")
PREVIEW_CHARTS = ("chart-attainment", "chart-monthly", "chart-coverage")
TEMPLATES = Path(__file__).with_name("templates")
_XMLNS = re.compile(r'\s+xmlns(:xlink)?="[^"]*"')


REPORTS_SUBDIR = "reports"
FONT_CACHE_SUBDIR = ".font-cache"
CHART_CACHE_SUBDIR = ".chart-cache"


def reports_dir(state_dir: Path) -> Path:
    """Where the reviews go: <WAREHOUSE_STATE_DIR>/reports."""
    return Path(state_dir) / REPORTS_SUBDIR


def report_file_name(year: int) -> str:
    return f"channel_review_{year}.html"


@dataclass
class RenderedReport:
    year: int
    period: Period
    version: Version
    path: Path
    size_bytes: int
    seconds: float  # building the sections and drawing the charts (font subsetting apart)
    chart_count: int
    previews: dict[str, bytes] = field(default_factory=dict)  # chart id -> PNG


@dataclass
class _Draft:
    """A report before its font is known: the font is subset once for all drafts."""

    review: Review
    sections: list[Section]
    svgs: dict[str, str]
    previews: dict[str, bytes]
    seconds: float


def render_reviews(
    serving_db: Path,
    out_dir: Path,
    years: Sequence[int] | None = None,
    out_file: Path | None = None,
    previews_of: int | None = None,
) -> list[RenderedReport]:
    """Write the review of each year (default: the latest complete year, else the running
    year to date) to `out_dir/channel_review_<year>.html` (or `out_file`, for one year).
    The review of year `previews_of` also gets PNGs of its key charts (PREVIEW_CHARTS)."""
    font = fonts.find_font()
    if font is None:
        log.warning(
            "no CJK font found (%s): the report's Chinese text will use the reader's fonts",
            fonts.INSTALL_HINT,
        )
    renderer = ChartRenderer(
        font.family if font else fonts.FAMILY,
        [str(d) for d in font.directories] if font else (),
        cache_dir=Path(out_dir) / CHART_CACHE_SUBDIR,
    )
    with Served(serving_db) as served:
        version = served.version()
        wanted = list(years) if years else [served.default_year()]
        if out_file is not None and len(wanted) != 1:
            raise ValueError("out_file names the file of one year's review")
        drafts = [
            _draft(served, version, year, renderer, previews=year == previews_of) for year in wanted
        ]
    font_css = fonts.font_face_css(
        font, "".join(_text_of(d) for d in drafts), Path(out_dir) / FONT_CACHE_SUBDIR
    )
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    template = environment.get_template("review.html.j2")
    reports = []
    for draft in drafts:
        html = template.render(
            period=draft.review.period,
            version=version,
            sections=draft.sections,
            svgs=draft.svgs,
            highlight_keys=HIGHLIGHTS,
            font_css=font_css,
            font_stack=fonts.css_font_stack(font),
            font_note=_font_note(font),
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        )
        year = draft.review.year
        path = out_file or Path(out_dir) / report_file_name(year)
        _write_atomically(path, html)
        reports.append(
            RenderedReport(
                year,
                draft.review.period,
                version,
                path.resolve(),
                path.stat().st_size,
                draft.seconds,
                len(draft.svgs),
                draft.previews,
            )
        )
    return reports


def _draft(
    served: Served, version: Version, year: int, renderer: ChartRenderer, previews: bool
) -> _Draft:
    started = time.perf_counter()
    review = Review(served, served.period(year), version)
    sections = [s for s in (build(review) for build in SECTIONS) if s is not None]
    svgs: dict[str, str] = {}
    pngs: dict[str, bytes] = {}
    for number, section in enumerate(sections, start=1):
        section.number = number
        for block in section.blocks:
            if block.chart is None:
                continue
            # inline SVG in HTML needs no namespace declarations (and the page then holds
            # no URL at all)
            svgs[block.chart.chart_id] = _XMLNS.sub("", renderer.svg(block.chart))
            if previews and block.chart.chart_id in PREVIEW_CHARTS:
                pngs[block.chart.chart_id] = renderer.png(block.chart)
    return _Draft(review, sections, svgs, pngs, time.perf_counter() - started)


def _text_of(draft: _Draft) -> str:
    """Every character the page can show (the font subset keeps these)."""
    parts = [str(draft.review.period.label_zh), str(draft.review.version.publish_id)]
    parts += [FONT_EMBEDDED_NOTE, FONT_MISSING_NOTE]  # the colophon's font note
    for section in draft.sections:
        parts += [section.title_zh, section.title_en, section.summary_zh, section.summary_en]
        for kpi in section.kpis:
            parts += [kpi.label_zh, kpi.label_en, kpi.value, kpi.detail]
        for block in section.blocks:
            parts += [block.note_zh, block.note_en]
            if block.table is not None:
                parts += [block.table.caption_zh, block.table.caption_en]
                parts += [text for pair in block.table.columns for text in pair]
                parts += [cell for row in block.table.rows for cell in row]
    parts += [re.sub(r"<[^>]+>", "", svg) for svg in draft.svgs.values()]
    return "".join(parts) + _fixed_characters()


@functools.cache
def _fixed_characters() -> str:
    """Printable ASCII (dates, digits, the template's English) and every non-ASCII character of
    this package's code and templates: the labels a review can show whatever its data. In every
    subset, so the font cache stays valid when a page starts to use another label (the day a
    year-to-date review becomes a complete year's changes half its titles): the cache then
    misses only when the data brings a new character (a new city or product name)."""
    package = Path(__file__).parent
    sources = [*package.glob("*.py"), *TEMPLATES.glob("*")]
    text = "".join(path.read_text(encoding="utf-8") for path in sorted(sources) if path.is_file())
    non_ascii = sorted({c for c in text if ord(c) > 127})
    return "".join(chr(c) for c in range(32, 127)) + "".join(non_ascii)


FONT_EMBEDDED_NOTE = "（已嵌入子集 subset embedded）"
FONT_MISSING_NOTE = "未嵌入（使用阅读者的字体）not embedded (the reader's fonts)"


def _font_note(font: fonts.ReviewFont | None) -> str:
    return FONT_MISSING_NOTE if font is None else f"{font.family}{FONT_EMBEDDED_NOTE}"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
