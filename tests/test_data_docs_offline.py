"""The GX Data Docs site works offline: real GX validations of a real DuckDB file build it, and
every file of the site is parsed as a browser would load it.

A browser fetches `script[src]`, `link[href]`, `img[src|srcset]`, `iframe|embed|source|
video|audio|track[src]`, `object[data]`, `input[type=image][src]` and CSS `url()` / `@import`
(in `<style>`, `style=` and stylesheets). None of them may leave the machine; each local one
must exist. Links (`a[href]`) are navigation, not fetches.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
import pytest

from orchestration.quality.runner import PartitionFilter, validate_table
from orchestration.quality.suites import parse_suite

SUITE = {
    "asset": ["raw", "orders"],
    "table": "raw.orders",
    "severity": "error",
    "partition_column": "order_date",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}},
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "channel", "value_set": ["tmall", "jd"]},
        },
    ],
}
FETCHING = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "object": ("data",),
}
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)|@import\s+["']([^"']+)""", re.IGNORECASE)


class Fetches(HTMLParser):
    """The URLs a browser would fetch to show a page, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in FETCHING.get(tag, ()):
            if values.get(name):
                self.fetched += [part.split()[0] for part in values[name].split(",")]
        if tag == "input" and (values.get("type") or "").lower() == "image" and values.get("src"):
            self.fetched.append(values["src"])
        if values.get("style"):
            self.fetched += css_urls(values["style"])
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.fetched += css_urls(data)
        self.text.append(data)


def css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css)]


def is_remote(url: str) -> bool:
    return urlsplit(url.strip()).scheme in ("http", "https") or url.strip().startswith("//")


def parse(page: Path) -> Fetches:
    parser = Fetches()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def local_target(page: Path, url: str) -> Path:
    return (page.parent / unquote(urlsplit(url).path)).resolve()


@pytest.fixture()
def db(tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("""
            CREATE SCHEMA raw;
            CREATE TABLE raw.orders AS
            SELECT i AS order_id, DATE '2024-01-01' + (i % 40)::INT AS order_date,
                   CASE WHEN i = 7 THEN 'kuaishou' WHEN i % 2 = 0 THEN 'tmall' ELSE 'jd' END
                       AS channel
            FROM range(1, 61) r(i)
        """)
    return path


def month(start: str, end: str) -> PartitionFilter:
    return PartitionFilter("order_date", start=start, end=end)


def test_data_docs_site_fetches_nothing_remote_and_lists_the_results(db, tmp_path):
    docs, store = tmp_path / "data_docs", tmp_path / "gx"
    suite = parse_suite(SUITE, Path("raw_orders.yml"))
    # January holds the bad channel (order 7): fails; February passes
    january = validate_table(
        db,
        suite,
        partition=month("2024-01-01", "2024-02-01"),
        data_docs_dir=docs,
        gx_store_dir=store,
    )
    february = validate_table(
        db,
        suite,
        partition=month("2024-02-01", "2024-03-01"),
        data_docs_dir=docs,
        gx_store_dir=store,
    )
    assert not january.success and february.success
    assert january.data_docs_error is None and february.data_docs_error is None

    site = sorted(docs.rglob("*.html"))
    assert docs / "index.html" in site and len(site) >= 4  # index, 2 results, the suite
    for page in site:
        parsed = parse(page)
        remote = [url for url in parsed.fetched if is_remote(url)]
        assert remote == [], f"{page.relative_to(docs)} fetches {remote}"
        missing = [u for u in parsed.fetched if not local_target(page, u).exists()]
        assert missing == [], f"{page.relative_to(docs)} refers to missing {missing}"
    for sheet in docs.rglob("*.css"):
        remote = [url for url in css_urls(sheet.read_text()) if is_remote(url)]
        assert remote == [], f"{sheet.relative_to(docs)} fetches {remote}"

    # the index lists both results, the failed one with its expectation, and links their pages
    index = parse(docs / "index.html")
    text = " ".join(index.text)
    assert "2 stored results, 1 failed" in " ".join(text.split())
    assert "raw.orders@" in text and "FAILED" in text and "passed" in text
    assert "expect_column_values_to_be_in_set(channel)" in text
    pages = {local_target(docs / "index.html", href) for href in index.links}
    assert january.data_docs_path.resolve() in pages
    assert february.data_docs_path.resolve() in pages
    assert all(page.exists() for page in pages)
    # the result pages keep their content (server-rendered tables)
    assert "kuaishou" in january.data_docs_path.read_text()


def test_results_pruned_from_the_store_leave_the_index_and_their_pages_go(db, tmp_path):
    docs, store = tmp_path / "data_docs", tmp_path / "gx"
    suite = parse_suite(SUITE, Path("raw_orders.yml"))
    first = validate_table(db, suite, data_docs_dir=docs, gx_store_dir=store, keep_results=1)
    second = validate_table(db, suite, data_docs_dir=docs, gx_store_dir=store, keep_results=1)
    assert first.data_docs_path != second.data_docs_path
    assert second.data_docs_path.is_file() and not first.data_docs_path.exists()
    index = parse(docs / "index.html")
    assert "1 stored results" in " ".join(" ".join(index.text).split())
    linked = {local_target(docs / "index.html", href) for href in index.links}
    assert second.data_docs_path.resolve() in linked
    assert first.data_docs_path.resolve() not in linked
