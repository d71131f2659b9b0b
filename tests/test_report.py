"""The channel review, rendered after each publish in a run of its own (asset
publish/channel_review, launched by the review sensor and by `warehouse run`) and by
`warehouse report`, checked from the outside on the session's small warehouse (four months
across the 2023/2024 year end).

- its numbers (headline table, KPI tiles, the monthly chart's data, the online share chart's
  labels) are recomputed here from the served marts with SQL of this file;
- the page requests no URL: no external reference in the HTML, and headless Chromium (driven
  over the DevTools pipe, networking off) records no request but the file and data: URLs;
- every character on the page is in the embedded font (no missing glyph), and it prints to PDF;
- a failed publish leaves the last good report in place and requests no review; a good one
  requests one review run (real Dagster runs, the real sensor).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from html import unescape
from pathlib import Path

import duckdb
import pytest
from conftest import BuiltWarehouse, copy_of

RUNNING_YEAR, COMPLETE_YEAR = 2024, 2023  # data ends 2024-02-29: 2024 is year to date
SECTION_IDS = [
    "headline",
    "mix",
    "online",
    "stores",
    "coverage",
    "distributors",
    "products",
    "overseas",
    "quality",
]


@pytest.fixture(scope="module")
def built(small_warehouse: BuiltWarehouse) -> BuiltWarehouse:
    return small_warehouse


def report_path(built: BuiltWarehouse, year: int) -> Path:
    return built.state_dir / "reports" / f"channel_review_{year}.html"


def served(built: BuiltWarehouse, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(built.serving_db), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of a table of the report, as cell texts."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table, f"no table {table_id}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S).group(1)
    rows = re.findall(r"<tr.*?</tr>", body, re.S)
    cells = [re.findall(r"<td.*?</td>", row, re.S) for row in rows]
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row] for row in cells]


def figure_svg(html: str, chart_id: str) -> str:
    figure = re.search(rf'<figure class="chart" id="{chart_id}">(.*?)</figure>', html, re.S)
    assert figure, f"no chart {chart_id}"
    return figure.group(1)


def test_run_renders_the_review_of_every_year_served(built: BuiltWarehouse) -> None:
    for year in (COMPLETE_YEAR, RUNNING_YEAR):
        html = report_path(built, year).read_text(encoding="utf-8")
        assert f"{year}年度渠道管理与业绩复盘" in html
        for section in SECTION_IDS:
            assert f'<section class="review-section" id="{section}">' in html
        (publish_id,) = served(built, "SELECT publish_id FROM marts.publish_info")[0]
        assert publish_id in html  # the version it was rendered from is named on it
    running = report_path(built, RUNNING_YEAR).read_text(encoding="utf-8")
    assert "年初至今" in running and "year to date (2024-02-29)" in running


def test_headline_figures_match_the_marts(built: BuiltWarehouse) -> None:
    html = report_path(built, RUNNING_YEAR).read_text(encoding="utf-8")
    (net, margin) = served(
        built,
        "SELECT sum(net_sales), sum(gross_margin) FROM marts.channel_performance "
        "WHERE year(month) = 2024",
    )[0]
    (target, attainment, status) = served(
        built,
        "SELECT target, attainment_rate, status FROM marts.target_attainment "
        "WHERE period_type = 'year' AND period_start = DATE '2024-01-01' AND region = 'all' "
        "AND channel_group = 'all' AND product_line = 'all' AND series = 'all'",
    )[0]
    total = table_rows(html, "headline-table")[-1]
    assert total[0] == "全渠道 All channels"
    assert total[1] == f"{float(net):,.0f}"
    assert total[2] == f"{float(target):,.0f}"
    assert total[3] == f"{float(attainment):.1%}"
    assert (
        total[4]
        == {"met": "达成 met", "at_risk": "风险 at risk", "missed": "未达成 missed"}[status]
    )
    assert total[7] == f"{float(margin) / float(net):.1%}"
    # the KPI tile: net sales in 万元 (10,000 CNY)
    assert f"{float(net) / 1e4:,.1f}万元" in html

    groups = served(
        built,
        "SELECT channel_group, sum(net_sales) FROM marts.channel_performance "
        "WHERE year(month) = 2024 GROUP BY 1",
    )
    rows = {row[0].split(" ")[-1]: row for row in table_rows(html, "headline-table")[:-1]}
    names = {
        "online": "Online",
        "store": "Stores",
        "distributor": "Distributors",
        "overseas": "Overseas",
    }
    assert len(rows) == len(groups)
    for group, group_net in groups:
        assert rows[names[group]][1] == f"{float(group_net):,.0f}"


def test_a_charts_data_and_labels_match_the_marts(built: BuiltWarehouse) -> None:
    """The monthly chart's data (its Vega-Lite spec), and the labels drawn in the online
    share chart's SVG, against SQL written here."""
    from orchestration.report.charts import spec_of
    from orchestration.report.data import Served
    from orchestration.report.model import Review
    from orchestration.report.sections_sales import channel_mix

    with Served(built.serving_db) as reader:
        review = Review(reader, reader.period(COMPLETE_YEAR), reader.version())
        section = channel_mix(review)
    monthly = next(
        b.chart for b in section.blocks if b.chart and b.chart.chart_id == "chart-monthly"
    )
    spec = spec_of(monthly, validate=True)
    values = next(iter(spec["datasets"].values()))
    charted = {(v["channel_group"], v["month"]): round(v["net_wan"] * 1e4, 2) for v in values}
    expected = served(
        built,
        "SELECT channel_group, month(month) || '月', sum(net_sales) FROM marts.channel_performance "
        "WHERE year(month) = 2023 GROUP BY ALL",
    )
    assert charted == {(g, m): round(float(n), 2) for g, m, n in expected}

    html = report_path(built, RUNNING_YEAR).read_text(encoding="utf-8")
    svg_text = " ".join(
        re.findall(r"<text[^>]*>([^<]*)</text>", figure_svg(html, "chart-online-share"))
    )
    shares = served(
        built,
        "SELECT channel, sum(gross_sales) / sum(sum(gross_sales)) OVER () "
        "FROM marts.channel_performance WHERE channel_group = 'online' "
        "AND year(month) = 2024 GROUP BY channel",
    )
    assert shares
    for channel, share in shares:
        assert f"{float(share):.1%} · " in unescape(svg_text), channel


def test_every_chart_spec_is_valid_vega_lite(built: BuiltWarehouse) -> None:
    from orchestration.report.charts import spec_of
    from orchestration.report.data import Served
    from orchestration.report.model import Review
    from orchestration.report.render import SECTIONS

    with Served(built.serving_db) as reader:
        for year in (COMPLETE_YEAR, RUNNING_YEAR):
            review = Review(reader, reader.period(year), reader.version())
            charts = [
                block.chart
                for section in (build(review) for build in SECTIONS)
                if section is not None
                for block in section.blocks
                if block.chart is not None
            ]
            assert len(charts) >= 12
            for chart in charts:
                spec_of(chart, validate=True)  # raises on a spec the schema refuses


def test_the_page_references_no_url(built: BuiltWarehouse) -> None:
    for year in (COMPLETE_YEAR, RUNNING_YEAR):
        html = report_path(built, year).read_text(encoding="utf-8")
        assert not re.search(r"(?i)https?:|ftp:|file:|//[a-z0-9.-]+\.[a-z]{2,}/", html)
        assert not re.search(r"(?i)<(script|link|iframe|img|object|embed|video|audio)\b", html)
        assert not re.search(r"(?i)\bsrc(set)?\s*=|@import", html)
        for target in re.findall(r'(?i)href\s*=\s*"([^"]*)"', html):
            assert target.startswith("#"), target
        for target in re.findall(r"(?i)url\(\s*([^)]{0,40})", html):
            assert target.startswith(("data:", "#")), target


def test_every_character_on_the_page_is_in_the_embedded_font(built: BuiltWarehouse) -> None:
    from fontTools.ttLib import TTFont

    from orchestration.report.fonts import find_font

    if find_font() is None:
        pytest.skip("no CJK font on this machine (apt-get install -y fonts-noto-cjk)")
    html = report_path(built, COMPLETE_YEAR).read_text(encoding="utf-8")
    fonts = re.findall(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", html)
    assert len(fonts) == 2  # regular and bold
    visible = unescape(re.sub(r"<[^>]+>", "", re.sub(r"(?s)<style>.*?</style>", "", html)))
    needed = {c for c in visible if not c.isspace()}
    assert any("\u4e00" <= c <= "\u9fff" for c in needed)
    for data in fonts:
        font = TTFont(io.BytesIO(base64.b64decode(data)))
        assert font.flavor == "woff"
        missing = {c for c in needed if ord(c) not in font.getBestCmap()}
        assert not missing, f"no glyph for {sorted(missing)}"


def test_the_data_quality_panel_shows_the_served_quality_tables(built: BuiltWarehouse) -> None:
    html = report_path(built, RUNNING_YEAR).read_text(encoding="utf-8")
    feeds = served(built, "SELECT feed, rows_read, rows_quarantined FROM marts.data_quality_feeds")
    with duckdb.connect(str(built.warehouse_db), read_only=True) as warehouse:
        quarantined = dict(
            warehouse.execute("SELECT feed, count(*) FROM raw.quarantine GROUP BY 1").fetchall()
        )
        read = dict(
            warehouse.execute("SELECT feed, sum(rows_read) FROM raw.load_log GROUP BY 1").fetchall()
        )
    assert {f: r for f, r, _ in feeds} == read
    assert {f: q for f, _, q in feeds if q} == quarantined
    shown = {row[2]: row[4] for row in table_rows(html, "quality-feeds-table")}  # read -> quar.
    assert shown == {f"{r:,}": f"{q:,}" for _, r, q in feeds}

    checks = served(built, "SELECT status, count(*) FROM marts.data_quality_checks GROUP BY 1")
    counts = dict(checks)
    assert sum(counts.values()) > 20  # every GX suite and dbt test of the code location
    assert counts.get("not_run", 0) == 0  # `warehouse run` ran them all
    passed = counts.get("passed", 0)
    assert f"{passed} / {sum(counts.values())}" in html
    failed = served(
        built, "SELECT asset_key, check_name FROM marts.data_quality_checks WHERE status = 'failed'"
    )
    listed = {(row[0], row[1]) for row in table_rows(html, "quality-checks-table")}
    assert set(failed) == (listed - {("–", "全部通过 all passed")})


def test_warehouse_report_writes_the_year_asked_for(built: BuiltWarehouse, tmp_path) -> None:
    out = tmp_path / "review.html"
    result = built.run_cli("report", "--year", str(COMPLETE_YEAR), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(out) in result.stdout and "FY2023" in result.stdout
    assert "2023年度渠道管理与业绩复盘" in out.read_text(encoding="utf-8")

    missing = built.run_cli("report", "--year", "1999")
    assert missing.returncode == 1
    assert "no sales in 1999" in missing.stderr


class Chromium:
    """Headless Chromium driven over the DevTools pipe (fds 3 and 4), no network: the
    page's own requests are seen (Network.requestWillBeSent) apart from the browser's."""

    def __init__(self, profile: Path):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        command = [
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash puts the pipe ends on the fds Chromium reads (3) and writes (4)
        self.process = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write}',
                "-",
                *command,
            ],
            pass_fds=(to_browser_read, from_browser_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._last_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._last_id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        deadline = time.monotonic() + 60
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read(deadline))

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], deadline - time.monotonic())
            assert ready, "Chromium did not answer within 60 s"
            chunk = os.read(self._from_browser, 1 << 20)
            assert chunk, "Chromium closed the DevTools pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            self.process.wait(timeout=30)
            os.close(self._to_browser)
            os.close(self._from_browser)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="apt-get install -y chromium")
def test_chromium_offline_shows_every_section_and_fetches_nothing(
    built: BuiltWarehouse, tmp_path: Path
) -> None:
    page = report_path(built, COMPLETE_YEAR).resolve().as_uri()
    browser = Chromium(tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        browser.send("Network.enable", session=session)
        browser.send("Page.enable", session=session)
        browser.send("Page.navigate", {"url": page}, session=session)
        browser.wait_for("Page.loadEventFired")
        state = browser.send(
            "Runtime.evaluate",
            {
                "expression": "JSON.stringify({sections: [...document.querySelectorAll("
                "'section')].map(s => s.id), charts: [...document.querySelectorAll("
                "'figure.chart')].map(f => f.querySelector('svg path, svg rect') !== null), "
                "fonts: [...document.fonts].map(f => f.status)})",
                "returnByValue": True,
            },
            session=session,
        )
        shown = json.loads(state["result"]["value"])
        screenshot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=session,
        )
        pdf = browser.send("Page.printToPDF", {"preferCSSPageSize": True}, session=session)
    finally:
        browser.close()
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requests[0] == page
    assert all(url.startswith("data:") for url in requests[1:]), requests
    assert shown["sections"][: len(SECTION_IDS)] == SECTION_IDS
    assert len(shown["charts"]) >= 12 and all(shown["charts"])  # every chart has marks
    assert shown["fonts"] and all(status == "loaded" for status in shown["fonts"])
    assert len(base64.b64decode(screenshot["data"])) > 50_000
    pdf_bytes = base64.b64decode(pdf["data"])
    assert pdf_bytes.startswith(b"%PDF")
    # A4 landscape, a page at least per section
    assert len(re.findall(rb"/Type\s*/Page\b", pdf_bytes)) >= len(SECTION_IDS)


def review_requests(instance) -> list:
    """What the code location's review sensor requests now, on `instance`."""
    from dagster import build_sensor_context

    from orchestration.automation.review import review_sensor

    return review_sensor.evaluate_tick(build_sensor_context(instance=instance)).run_requests


def test_a_failed_publish_leaves_the_last_good_report(
    small_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    """Real Dagster runs of publish, the review sensor and the review: an audit failure stops
    the publish, the sensor requests no review, the file stays byte for byte; a good publish
    gets one review run, which renders it again; then the review is up to date. On a copy: this
    publish serves the marts only, the shared warehouse keeps its full serving."""
    built = copy_of(small_warehouse, tmp_path)
    from dagster import AssetKey, DagsterInstance, materialize

    from orchestration.publish.assets import build_publish_asset
    from orchestration.publish.serving import AuditQuery
    from orchestration.report.assets import REPORT_ASSET_KEY, build_report_asset
    from orchestration.resources import ServingResource, WarehouseDuckDBResource

    resources = {
        "duckdb": WarehouseDuckDBResource(database=str(built.warehouse_db)),
        "serving": ServingResource(
            serving_db=str(built.serving_db), state_dir=str(built.state_dir)
        ),
    }
    path = report_path(built, RUNNING_YEAR)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    failing = build_publish_asset(
        [AssetKey(["channel_performance"])],
        manifest_path=None,
        extra_audits=[AuditQuery("always_fails", "SELECT 1")],
    )
    report = build_report_asset()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [failing], resources=resources, instance=instance, raise_on_error=False
        )
        assert not result.success
        assert review_requests(instance) == []
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before

        good = build_publish_asset([AssetKey(["channel_performance"])], manifest_path=None)
        published = materialize([good], resources=resources, instance=instance)
        (request,) = review_requests(instance)
        assert request.tags["warehouse/publish_run"] == published.run_id
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # not rendered yet
        result = materialize(
            [good, report], resources=resources, instance=instance, selection=[REPORT_ASSET_KEY]
        )
        (materialization,) = result.asset_materializations_for_node("publish__channel_review")
        assert review_requests(instance) == []  # the review shows the latest publish
    metadata = materialization.metadata
    assert metadata["report_path"].value == str(path.resolve())
    assert metadata["preview"].value.count("](data:image/png;base64,") == 3
    (publish_id,) = served(built, "SELECT publish_id FROM marts.publish_info")[0]
    assert metadata["publish_id"].value == publish_id
    assert publish_id in path.read_text(encoding="utf-8")


def test_a_chart_drawn_before_is_read_back_from_the_cache(built: BuiltWarehouse, tmp_path) -> None:
    """A chart whose spec did not change is not drawn again: the second render of the same
    served version reads every chart from the cache and writes the same charts."""
    from orchestration.report.render import CHART_CACHE_SUBDIR, render_reviews

    svgs = []
    for attempt in ("first", "second"):
        started = time.perf_counter()
        (report,) = render_reviews(built.serving_db, tmp_path, years=[COMPLETE_YEAR])
        print(f"{attempt} render: {time.perf_counter() - started:.1f} s")
        svgs.append(re.findall(r"(?s)<svg .*?</svg>", report.path.read_text(encoding="utf-8")))
        if attempt == "first":
            cache = sorted((tmp_path / CHART_CACHE_SUBDIR).glob("*.svg"))
            assert len(cache) == len(svgs[0]) > 5
            stamps = {path: path.stat().st_ino for path in cache}
    assert svgs[0] == svgs[1]
    # read back, not drawn again: no entry rewritten, none added
    assert {p: p.stat().st_ino for p in stamps} == stamps  # a rewrite is a new file
    assert sorted((tmp_path / CHART_CACHE_SUBDIR).glob("*.svg")) == sorted(stamps)
