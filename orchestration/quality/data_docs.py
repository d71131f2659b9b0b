"""The Data Docs site, readable offline: the project's own index, GX's pages without CDNs.

GX renders its pages with templates that load Bootstrap, jQuery, bootstrap-table, Vega and
Font Awesome from CDNs, and an image from GX's S3 bucket (with the data context id in its
URL). Offline (a machine with no internet, as this project's are) the index is an empty,
unstyled list, because bootstrap-table fills it from JavaScript; and online, opening a page
fetches from five third-party hosts. So:

- GX builds the pages of a validation and of its suite (`build_index=False`: its index is
  not used); `make_pages_offline` then removes from them everything a browser would fetch
  from elsewhere (external scripts and stylesheets, images, the newsletter form) and the
  inline scripts that drove those libraries, and adds a small stylesheet of its own (GX's
  local stylesheet loses its S3 background image). The pages' content is server-rendered
  HTML tables: nothing of it is lost.
- `write_index` writes `index.html` from the validation results GX stored (`gx_store_dir`),
  newest first: when, suite, batch (asset and partition), passed or failed, counts, the
  failed expectations, and a link to the page when one was built. Self-contained: inline CSS,
  no script. Pages whose result was pruned from the store are deleted (what GX's own index
  builder did). A summary per result is cached in `_results.json`, so a build reads only the
  new results.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

INDEX_NAME = "index.html"
CACHE_NAME = "_results.json"
OFFLINE_MARK = "<!-- warehouse: offline page -->"
MTIME_SLACK_SECONDS = 2.0

_EXTERNAL = r"""(?:https?:)?//"""
# a script element, its content included: external ones fetch, inline ones drive the removed
# libraries (jQuery, bootstrap-table, Vega) and would only throw
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_LINK_EXTERNAL = re.compile(
    rf"""<link\b[^>]*\bhref\s*=\s*["']?\s*{_EXTERNAL}[^>]*>""", re.IGNORECASE
)
# GX's favicon link climbs one folder too few from pages of dotted suite names (a 404): cosmetic
_LINK_ICON = re.compile(r"""<link\b[^>]*\brel\s*=\s*["'][^"']*\bicon\b[^>]*>""", re.IGNORECASE)
_IMG_EXTERNAL = re.compile(rf"""<img\b[^>]*\bsrc\s*=\s*["']?\s*{_EXTERNAL}[^>]*>""", re.IGNORECASE)
_FORM_EXTERNAL = re.compile(
    rf"""<form\b[^>]*\baction\s*=\s*["']?\s*{_EXTERNAL}.*?</form\s*>""",
    re.IGNORECASE | re.DOTALL,
)
_CSS_EXTERNAL = re.compile(
    rf"""@import\s+(?:url\()?\s*["']?{_EXTERNAL}[^;]*;|url\(\s*["']?{_EXTERNAL}[^)]*\)""",
    re.IGNORECASE,
)

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em;
       color: #1f2328; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.failed { color: #b42318; font-weight: 600; } .passed { color: #1a7f37; }
.muted { color: #656d76; } code { font-size: .95em; }
"""


# --------------------------------------------------------------------------------------------
# GX's pages
# --------------------------------------------------------------------------------------------


def offline_html(page: str) -> str:
    """`page` without anything a browser would fetch from another host, with our stylesheet."""
    if OFFLINE_MARK in page:
        return page
    for pattern in (
        _SCRIPT,
        _LINK_EXTERNAL,
        _LINK_ICON,
        _IMG_EXTERNAL,
        _FORM_EXTERNAL,
        _CSS_EXTERNAL,
    ):
        page = pattern.sub("", page)
    head_end = page.lower().find("</head>")
    style = f"{OFFLINE_MARK}<style>{STYLE}</style>"
    return page[:head_end] + style + page[head_end:] if head_end >= 0 else style + page


def make_pages_offline(pages: Iterable[Path]) -> None:
    for page in pages:
        text = page.read_text(encoding="utf-8")
        offline = offline_html(text)
        if offline != text:
            _write_atomically(page, offline)


def make_stylesheets_offline(docs_dir: Path) -> None:
    """GX's own stylesheet (copied into static/ at every build) loads an image from S3."""
    for sheet in (docs_dir / "static").rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        offline = _CSS_EXTERNAL.sub("none", text)
        if offline != text:
            _write_atomically(sheet, offline)


def pages_built_since(docs_dir: Path, since: float) -> list[Path]:
    """GX's pages (suites, validations) written at or after `since` (seconds since the epoch;
    a little before, for file systems that round times: a page is made offline once only)."""
    since -= MTIME_SLACK_SECONDS
    return [
        page
        for section in ("expectations", "validations")
        for page in (docs_dir / section).rglob("*.html")
        if page.stat().st_mtime >= since
    ]


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the index shows of one stored validation result."""
    meta = result.get("meta") or {}
    batch = (meta.get("active_batch_definition") or {}).get("data_asset_name") or ""
    statistics = result.get("statistics") or {}
    failed = []
    for item in result.get("results") or []:
        if item.get("success"):
            continue
        config = item.get("expectation_config") or {}
        column = (config.get("kwargs") or {}).get("column")
        name = config.get("type") or config.get("expectation_type") or "?"
        raised = (item.get("exception_info") or {}).get("raised_exception")
        failed.append(f"{name}({column})" if column else name)
        if raised:
            failed[-1] += " [could not run]"
    return {
        "suite": result.get("suite_name") or "",
        "batch": batch,
        "validated_at": meta.get("validation_time") or (meta.get("run_id") or {}).get("run_time"),
        "success": bool(result.get("success")),
        "evaluated": statistics.get("evaluated_expectations"),
        "unsuccessful": statistics.get("unsuccessful_expectations"),
        "failed": failed[:20],
    }


def _load_results(store_dir: Path, cache: dict[str, Any]) -> dict[str, Any]:
    """Summaries of every stored result, keyed by path relative to the store's validations
    folder without `.json`; results the cache already summarised are not read again."""
    root = store_dir / "validations"
    summaries = {}
    for path in root.rglob("*.json") if root.is_dir() else ():
        key = path.relative_to(root).with_suffix("").as_posix()
        mtime = path.stat().st_mtime
        cached = cache.get(key)
        if cached and cached.get("mtime") == mtime:
            summaries[key] = cached
            continue
        try:
            summary = _summary(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:  # half-written or corrupt: say so, go on
            summary = {"suite": key.split("/")[0], "error": f"{type(error).__name__}: {error}"}
        summaries[key] = {**summary, "mtime": mtime}
    return summaries


def _remove_pruned_pages(docs_dir: Path, keys: set[str]) -> None:
    """Delete validation pages whose result is no longer in the store (pruned)."""
    root = docs_dir / "validations"
    for page in root.rglob("*.html") if root.is_dir() else ():
        if page.relative_to(root).with_suffix("").as_posix() not in keys:
            with contextlib.suppress(OSError):
                page.unlink()


def _link(relative: str) -> str:
    return html.escape(quote(relative), quote=True)


def _row(key: str, summary: dict[str, Any], docs_dir: Path) -> str:
    page = f"validations/{key}.html"
    link = (
        f'<a href="{_link(page)}">page</a>'
        if (docs_dir / page).is_file()
        else '<span class="muted">none (built for failed checks;'
        " WAREHOUSE_DATA_DOCS=always builds all)</span>"
    )
    if "error" in summary:
        status, counts, failed = '<span class="failed">unreadable</span>', "", summary["error"]
    else:
        ok = summary["success"]
        status = (
            f'<span class="{"passed" if ok else "failed"}">{"passed" if ok else "FAILED"}</span>'
        )
        counts = f"{summary.get('unsuccessful') or 0} / {summary.get('evaluated') or 0}"
        failed = ", ".join(summary.get("failed") or [])
    cells = (
        html.escape(str(summary.get("validated_at") or "")),
        html.escape(summary.get("suite") or ""),
        f"<code>{html.escape(summary.get('batch') or '')}</code>",
        status,
        counts,
        html.escape(failed),
        link,
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_index(summaries: dict[str, Any], docs_dir: Path) -> str:
    ordered = sorted(
        summaries.items(), key=lambda item: str(item[1].get("validated_at") or ""), reverse=True
    )
    failing = sum(1 for _, s in ordered if s.get("success") is False or "error" in s)
    suites = sorted(
        page.relative_to(docs_dir).as_posix()
        for page in (docs_dir / "expectations").rglob("*.html")
    )
    suite_links = "".join(
        f'<li><a href="{_link(p)}">{html.escape(p[len("expectations/") : -len(".html")])}</a></li>'
        for p in suites
    )
    rows = "\n".join(_row(key, summary, docs_dir) for key, summary in ordered)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Data Docs: validation results</title>
<style>{STYLE}</style></head>
<body>
<h1>Great Expectations validation results</h1>
<p>{len(ordered)} stored results, {failing} failed (newest first; the newest 30 per suite are
kept). Failed / evaluated counts expectations. Generated {generated}.</p>
<table>
<thead><tr><th>validated at (UTC)</th><th>suite</th><th>batch</th><th>result</th>
<th>failed / evaluated</th><th>failed expectations</th><th>page</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<h2>Expectation suites</h2>
<ul>{suite_links or '<li class="muted">none rendered yet</li>'}</ul>
</body></html>
"""


def write_index(docs_dir: Path, store_dir: Path) -> Path:
    """Write `docs_dir/index.html` from the results in `store_dir`; its path."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    cache_path = docs_dir / CACHE_NAME
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    summaries = _load_results(store_dir, cache)
    _remove_pruned_pages(docs_dir, set(summaries))
    index = docs_dir / INDEX_NAME
    _write_atomically(index, render_index(summaries, docs_dir))
    _write_atomically(cache_path, json.dumps(summaries, ensure_ascii=False, default=str))
    return index


def make_site_offline(docs_dir: Path, store_dir: Path, since: float) -> Path:
    """After GX built pages (at or after `since`): make them offline, write the index."""
    make_pages_offline(pages_built_since(docs_dir, since))
    make_stylesheets_offline(docs_dir)
    return write_index(docs_dir, store_dir)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
