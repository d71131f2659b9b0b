"""What a dbt build must rebuild, found from the load batches since the last build.

The dbt models are not partitioned in Dagster: whatever loaded the raw layer (a month's
partition, a range of months, a reference snapshot, a corrected workbook), the dbt step asks the
warehouse what changed since its last successful build and rebuilds exactly that:

- `full`: no build recorded yet, the dbt project changed since (models, macros, seeds: the
  incremental tables would hold rows computed by older code), a reference snapshot was loaded
  since (prices, costs, stores and FX rates reach every sales line), or a full rebuild was asked
  for. `dbt build --full-refresh`, unit tests included.
- `window`: daily or monthly feed files were (re)loaded since. The window is the range of
  business dates their rows hold now, and held before when a file was re-delivered (read from
  the sales-line fact by source file, so a corrected file that lost a day still rebuilds it).
  The incremental models delete and rebuild those dates (macros/dates.sql); the marts are
  rebuilt whole from the monthly aggregates and reconcile the months the window touched.
- `nothing`: no file was loaded since (a re-run of a day, a refresh before new files came):
  dbt is not started and the dbt assets are not materialized in that run.

"Since" is a watermark: the latest `_loaded_at` of raw.load_log when the build was planned,
recorded with the build only once `dbt build` succeeded (table orchestration.dbt_builds). A
failed build records nothing, so the next run rebuilds its window as well as the new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

import duckdb

from orchestration.ingest.files import FEED_LAYOUTS
from orchestration.ingest.tables import BUSINESS_DATE_COLUMN, LOAD_LOG_TABLE, RAW_SCHEMA
from orchestration.settings import DBT_PROJECT_DIR, load_settings

BUILDS_TABLE = "orchestration.dbt_builds"
LOAD_LOG = f"{RAW_SCHEMA}.{LOAD_LOG_TABLE}"
FACT_TABLE = "intermediate.int_sales_lines_checked"
REFERENCE_FEEDS = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period is None)

# The raw tables whose rows carry a business date (BUSINESS_DATE_COLUMN, written by ingestion:
# the one definition staging reads too).
DATED_RAW_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period)

BuildKind = Literal["full", "window", "nothing"]
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml")


def project_fingerprint() -> str:
    """sha256 over the engine (WAREHOUSE_ENGINE: a switch rebuilds everything on the new one)
    and the dbt project's source files (paths and contents)."""
    digest = hashlib.sha256()
    engine = load_settings().engine
    if engine != "duckdb":  # the DuckDB fingerprint stays what it was before engines existed
        digest.update(f"engine={engine}".encode())
    paths = [DBT_PROJECT_DIR / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        paths.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    for path in sorted(p for p in paths if p.is_file()):
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def existing_relations(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """schema.table of every table and view in the warehouse."""
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
    ).fetchall()
    return {row[0] for row in rows}


@dataclass(frozen=True)
class BuildPlan:
    kind: BuildKind
    reason: str
    # the latest _loaded_at of the load log when planned (None: nothing loaded yet)
    watermark: datetime | None
    fingerprint: str
    window: tuple[date, date] | None = None  # business dates, inclusive (kind "window")


@dataclass(frozen=True)
class RecordedBuild:
    run_id: str
    kind: str
    watermark: datetime | None
    fingerprint: str
    window: tuple[date, date] | None
    built_at: datetime


def _latest_load(conn: duckdb.DuckDBPyConnection, existing: set[str]) -> datetime | None:
    if LOAD_LOG not in existing:
        return None
    return conn.execute(f"SELECT max(_loaded_at) FROM {LOAD_LOG}").fetchone()[0]


def last_build(conn: duckdb.DuckDBPyConnection) -> RecordedBuild | None:
    """The latest successful dbt build (full or window) recorded in the warehouse."""
    if BUILDS_TABLE not in existing_relations(conn):
        return None
    row = conn.execute(
        f"""SELECT run_id, kind, watermark, fingerprint, window_start, window_end, built_at
        FROM {BUILDS_TABLE} WHERE kind <> 'nothing' ORDER BY built_at DESC LIMIT 1"""
    ).fetchone()
    return None if row is None else _recorded(row)


def build_of_run(conn: duckdb.DuckDBPyConnection, run_id: str) -> RecordedBuild | None:
    """The dbt build a Dagster run recorded (the window its checks validate), if any."""
    if BUILDS_TABLE not in existing_relations(conn):
        return None
    row = conn.execute(
        f"""SELECT run_id, kind, watermark, fingerprint, window_start, window_end, built_at
        FROM {BUILDS_TABLE} WHERE run_id = ? ORDER BY built_at DESC LIMIT 1""",
        [run_id],
    ).fetchone()
    return None if row is None else _recorded(row)


def _recorded(row: tuple) -> RecordedBuild:
    run_id, kind, watermark, fingerprint, start, end, built_at = row
    window = (start, end) if start is not None else None
    return RecordedBuild(run_id, kind, watermark, fingerprint, window, built_at)


def plan_build(conn: duckdb.DuckDBPyConnection, *, full_refresh: bool = False) -> BuildPlan:
    """What the next dbt build must do (see the module docstring)."""
    existing = existing_relations(conn)
    watermark = _latest_load(conn, existing)
    fingerprint = project_fingerprint()
    previous = last_build(conn)

    def plan(kind: BuildKind, reason: str, window: tuple[date, date] | None = None) -> BuildPlan:
        return BuildPlan(kind, reason, watermark, fingerprint, window)

    if full_refresh:
        return plan("full", "a full rebuild was asked for (config full_refresh)")
    if previous is None:
        return plan("full", "first build of this warehouse")
    if previous.fingerprint != fingerprint:
        return plan("full", f"the dbt project changed since the build of run {previous.run_id}")
    since = previous.watermark
    feeds = _feeds_loaded_since(conn, since)
    if not feeds:
        return plan("nothing", f"no file loaded since the build of run {previous.run_id}")
    reference = sorted(set(feeds) & set(REFERENCE_FEEDS))
    if reference:
        return plan("full", f"reference snapshot(s) loaded since: {', '.join(reference)}")
    window = touched_business_dates(conn, since, existing)
    if window is None:
        return plan("nothing", "the files loaded since hold no rows, now or before")
    return plan("window", f"files of {', '.join(sorted(feeds))} loaded since", window)


def _feeds_loaded_since(conn: duckdb.DuckDBPyConnection, since: datetime | None) -> list[str]:
    condition = "true" if since is None else "_loaded_at > $since"
    rows = conn.execute(
        f"SELECT DISTINCT feed FROM {LOAD_LOG} WHERE {condition}",
        {} if since is None else {"since": since},
    ).fetchall()
    return [row[0] for row in rows]


def touched_business_dates(
    conn: duckdb.DuckDBPyConnection, since: datetime | None, existing: set[str]
) -> tuple[date, date] | None:
    """Earliest and latest business date of the rows that the files loaded after `since` hold
    now in raw, or held in the fact table before they were re-loaded."""
    condition = "true" if since is None else "_loaded_at > $since"
    parts = [
        f"SELECT {BUSINESS_DATE_COLUMN.name} AS d FROM {RAW_SCHEMA}.{table} WHERE {condition}"
        for table in DATED_RAW_TABLES
        if f"{RAW_SCHEMA}.{table}" in existing
    ]
    if FACT_TABLE in existing and _readable(conn, FACT_TABLE):
        parts.append(
            f"SELECT business_date AS d FROM {FACT_TABLE} WHERE _source_file IN "
            f"(SELECT _source_file FROM {LOAD_LOG} WHERE {condition})"
        )
    if not parts:
        return None
    low, high = conn.execute(
        f"SELECT min(d), max(d) FROM ({' UNION ALL '.join(parts)})",
        {} if since is None else {"since": since},
    ).fetchone()
    return None if low is None else (low, high)


def _readable(conn: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """False for a view that no longer binds (a table under it was dropped)."""
    try:
        conn.execute(f"SELECT 1 FROM {relation} LIMIT 0")
    except duckdb.Error:
        return False
    return True


def record_build(conn: duckdb.DuckDBPyConnection, run_id: str, plan: BuildPlan) -> None:
    """Record a build that succeeded (or a run that had nothing to build)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BUILDS_TABLE.split('.')[0]}")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {BUILDS_TABLE} (
            run_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, watermark TIMESTAMP,
            fingerprint VARCHAR NOT NULL, window_start DATE, window_end DATE,
            reason VARCHAR, built_at TIMESTAMP NOT NULL)"""
    )
    start, end = plan.window or (None, None)
    conn.execute(
        f"INSERT INTO {BUILDS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            plan.kind,
            plan.watermark,
            plan.fingerprint,
            start,
            end,
            plan.reason,
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )
