"""The data-quality summary published with the marts, so that readers of the serving database
(the channel review first) see how far to trust the numbers without opening the warehouse.

At publish time, on the warehouse connection of the publish step, `stage_data_quality` writes
three tables into schema `publish` of the warehouse; `build_publish_asset(..., extras=[...])`
then copies them into schema `marts` of the serving file with the marts (same version, same
audit, same Parquet export):

- `data_quality_feeds`: one row per raw feed: files and rows read, loaded and quarantined
  (raw.load_log), sales lines rejected as data issues or excluded by rule
  (intermediate.int_sales_lines_rejected, whose `source_table` is the feed's name);
- `data_quality_issues`: one row per feed x kind (quarantined / rejected / excluded) x reason
  x year of the business date (null for quarantined rows, which have no readable date);
- `data_quality_checks`: one row per asset check of the code location (Great Expectations
  suites and dbt tests) with its latest evaluation, read from the Dagster instance of the
  step's context (`context.instance.get_latest_asset_check_evaluation_record`). Which checks
  exist comes from the code location's definitions (a run's own job holds only the checks of
  the assets it selected).

Wiring: `build_publish_asset(..., extras=[data_quality_extra(lambda: <check keys>)])`.

A table without rows is not published (the publish audit refuses empty tables): no
`data_quality_issues` in the serving file means no issue, no `data_quality_checks` no check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
from dagster import AssetCheckEvaluation, AssetCheckKey, AssetExecutionContext, DagsterInstance

from orchestration.event_log import latest_completed_check_execution

QUALITY_SCHEMA = "publish"
FEEDS_TABLE = f"{QUALITY_SCHEMA}.data_quality_feeds"
ISSUES_TABLE = f"{QUALITY_SCHEMA}.data_quality_issues"
CHECKS_TABLE = f"{QUALITY_SCHEMA}.data_quality_checks"
DETAILS_MAX_CHARS = 600  # a check's details column: enough for three failed expectations

_FEEDS_SQL = f"""
CREATE OR REPLACE TABLE {FEEDS_TABLE} AS
WITH loads AS (
    SELECT feed, count(DISTINCT _source_file) AS files, sum(rows_read) AS rows_read,
           sum(rows_loaded) AS rows_loaded, sum(rows_quarantined) AS rows_quarantined,
           max(_loaded_at) AS last_loaded_at
    FROM raw.load_log GROUP BY feed
),
rejections AS (
    SELECT source_table AS feed,
           count(*) FILTER (WHERE reject_kind = 'data_issue') AS lines_rejected,
           count(*) FILTER (WHERE reject_kind = 'excluded_by_rule') AS lines_excluded
    FROM intermediate.int_sales_lines_rejected GROUP BY source_table
)
SELECT coalesce(l.feed, r.feed) AS feed,
       coalesce(l.files, 0)::BIGINT AS files,
       coalesce(l.rows_read, 0)::BIGINT AS rows_read,
       coalesce(l.rows_loaded, 0)::BIGINT AS rows_loaded,
       coalesce(l.rows_quarantined, 0)::BIGINT AS rows_quarantined,
       (coalesce(l.rows_quarantined, 0) / nullif(l.rows_read, 0))::DECIMAL(18,6)
           AS quarantine_rate,
       coalesce(r.lines_rejected, 0)::BIGINT AS lines_rejected,
       coalesce(r.lines_excluded, 0)::BIGINT AS lines_excluded,
       l.last_loaded_at
FROM loads l FULL JOIN rejections r ON l.feed = r.feed
ORDER BY feed
"""

_ISSUES_SQL = f"""
CREATE OR REPLACE TABLE {ISSUES_TABLE} AS
SELECT feed, 'quarantined' AS issue_kind, field || ': ' || reason AS reason,
       NULL::INTEGER AS year, count(*)::BIGINT AS row_count
FROM raw.quarantine GROUP BY ALL
UNION ALL
SELECT source_table, CASE WHEN reject_kind = 'data_issue' THEN 'rejected' ELSE 'excluded' END,
       reject_reason, year(business_date)::INTEGER, count(*)::BIGINT
FROM intermediate.int_sales_lines_rejected GROUP BY ALL
ORDER BY feed, issue_kind, year NULLS FIRST, reason
"""

_CHECKS_COLUMNS = {
    "asset_key": "VARCHAR",
    "layer": "VARCHAR",
    "check_name": "VARCHAR",
    "check_kind": "VARCHAR",
    "status": "VARCHAR",
    "severity": "VARCHAR",
    "evaluated_at": "TIMESTAMP",
    "run_id": "VARCHAR",
    "partition": "VARCHAR",
    "failed_count": "BIGINT",
    "details": "VARCHAR",
}

DOCS: dict[str, dict[str, object]] = {
    FEEDS_TABLE: {
        "description": "Data quality per raw feed at publish time: files and rows read, loaded "
        "and quarantined by ingestion (read = loaded + quarantined), and sales lines that "
        "intermediate rejected (data issues) or excluded by rule (cancelled orders).",
        "columns": {
            "feed": "Raw feed (raw table name: online_order_lines, store_pos_lines, ...).",
            "files": "Distinct files loaded.",
            "rows_read": "Rows read from the files.",
            "rows_loaded": "Rows loaded into the raw table.",
            "rows_quarantined": "Rows quarantined (raw.quarantine): unreadable or untyped.",
            "quarantine_rate": "rows_quarantined / rows_read (fraction).",
            "lines_rejected": "Sales lines rejected as data issues (unknown SKU, store, "
            "order, ...): they do not count in the marts.",
            "lines_excluded": "Sales lines excluded by rule (cancelled orders).",
            "last_loaded_at": "Latest load of the feed (UTC).",
        },
    },
    ISSUES_TABLE: {
        "description": "Quarantined rows and rejected or excluded sales lines, per feed, kind, "
        "reason and business year.",
        "columns": {
            "feed": "Raw feed.",
            "issue_kind": "quarantined (ingestion), rejected (data issue) or excluded (by rule).",
            "reason": "Field and reason of the quarantine, or the reject reason.",
            "year": "Year of the line's business date; null for quarantined rows.",
            "row_count": "Rows (quarantined) or sales lines (rejected, excluded).",
        },
    },
    CHECKS_TABLE: {
        "description": "Every asset check of the pipeline (Great Expectations suites, dbt "
        "tests) with its latest evaluation in the Dagster instance when this version was "
        "published.",
        "columns": {
            "asset_key": "Checked asset, e.g. raw/online_order_lines.",
            "layer": "First part of the asset key: raw, staging, intermediate, marts, ...",
            "check_name": "Name of the check.",
            "check_kind": "gx (a Great Expectations suite) or dbt (a dbt test).",
            "status": "passed, failed (the check's evaluation did not pass), "
            "execution_failed (the check could not run), planned or not_run.",
            "severity": "ERROR (blocks what is downstream) or WARN; null when not evaluated.",
            "evaluated_at": "When the latest evaluation was stored (UTC).",
            "run_id": "The Dagster run of the latest evaluation.",
            "partition": "Partition the latest evaluation checked, if any.",
            "failed_count": "Unexpected rows (GX) or failing rows (dbt), when reported.",
            "details": "What failed: the failed expectations' explanations, or the "
            "check's description.",
        },
    },
}


StagedTables = Mapping[str, Mapping[str, object]]


def data_quality_extra(
    check_keys: Callable[[], Iterable[AssetCheckKey]],
) -> Callable[[AssetExecutionContext, duckdb.DuckDBPyConnection], StagedTables]:
    """The publish extra (see build_publish_asset) that stages the data-quality tables;
    `check_keys` returns every asset check of the code location, called at publish time."""

    def stage(context: AssetExecutionContext, conn: duckdb.DuckDBPyConnection) -> StagedTables:
        return stage_data_quality(context.instance, conn, check_keys())

    return stage


def stage_data_quality(
    instance: DagsterInstance,
    conn: duckdb.DuckDBPyConnection,
    check_keys: Iterable[AssetCheckKey],
) -> StagedTables:
    """Write the three data-quality tables into the warehouse; return them with their docs."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {QUALITY_SCHEMA}")
    conn.execute(_FEEDS_SQL)
    conn.execute(_ISSUES_SQL)
    write_checks_table(conn, check_rows(instance, check_keys))
    # The publish audit refuses empty tables; an empty one here means "none" (no issue, no
    # check), so it is left out and readers take its absence for that.
    return {table: docs for table, docs in DOCS.items() if _has_rows(conn, table)}


def _has_rows(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return conn.execute(f"SELECT EXISTS (FROM {table})").fetchone()[0]  # type: ignore[index]


def check_rows(instance: DagsterInstance, check_keys: Iterable[AssetCheckKey]) -> pd.DataFrame:
    """The latest evaluation of every check, one row each (a check never run: not_run)."""
    rows = [_check_row(instance, key) for key in check_keys]
    frame = pd.DataFrame(rows, columns=list(_CHECKS_COLUMNS))
    return frame.sort_values(["layer", "asset_key", "check_name"], ignore_index=True)


def write_checks_table(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in _CHECKS_COLUMNS.items())
    conn.execute(f"CREATE OR REPLACE TABLE {CHECKS_TABLE} ({columns})")
    if not frame.empty:
        conn.register("_data_quality_checks", frame)
        try:
            conn.execute(f"INSERT INTO {CHECKS_TABLE} SELECT * FROM _data_quality_checks")
        finally:
            conn.unregister("_data_quality_checks")


def _check_row(instance: DagsterInstance, key: AssetCheckKey) -> dict[str, Any]:
    asset = key.asset_key.to_user_string()
    row: dict[str, Any] = {
        "asset_key": asset,
        "layer": key.asset_key.path[0] if len(key.asset_key.path) > 1 else "",
        "check_name": key.name,
        "check_kind": "gx" if key.name.startswith("gx_") else "dbt",
        "status": "not_run",
        "severity": None,
        "evaluated_at": None,
        "run_id": None,
        "partition": None,
        "failed_count": None,
        "details": None,
    }
    record = _latest_evaluated_record(instance, key)
    if record is None:
        return row
    row["run_id"] = record.run_id
    row["evaluated_at"] = _utc(record.event.timestamp if record.event else record.create_timestamp)
    row["status"] = {"SUCCEEDED": "passed", "PLANNED": "planned"}.get(record.status.value, "failed")
    evaluation = record.evaluation
    if not isinstance(evaluation, AssetCheckEvaluation):
        if row["status"] == "failed":
            row["status"] = "execution_failed"
        return row
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    row["severity"] = evaluation.severity.value
    row["partition"] = evaluation.partition
    row["failed_count"] = _failed_count(metadata)
    if not evaluation.passed:
        row["details"] = _details(metadata, evaluation.description)
    return row


HISTORY_LOOKBACK = 50  # executions of a check searched for its latest evaluation


def _latest_evaluated_record(instance: DagsterInstance, key: AssetCheckKey):
    """The check's latest execution that evaluated it, else its latest execution. A run plans
    every check of its assets, and some are never evaluated in it: the dbt tests a window
    build leaves out, the checks of a step that did not run. Their planned records must not
    hide the last real result."""
    completed = latest_completed_check_execution(instance, key)
    if completed is not None and isinstance(completed.evaluation, AssetCheckEvaluation):
        return completed  # the usual case, in one query
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=HISTORY_LOOKBACK
    )
    evaluated = (r for r in history if isinstance(r.evaluation, AssetCheckEvaluation))
    return next(evaluated, history[0] if history else None)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def _failed_count(metadata: Mapping[str, Any]) -> int | None:
    for name in ("unexpected_total", "dagster_dbt/failed_row_count"):
        value = metadata.get(name)
        if isinstance(value, int | float):
            return int(value)
    return None


def _details(metadata: Mapping[str, Any], description: str | None) -> str:
    """The failed expectations' explanations (GX), else the description, else dbt's status."""
    failed = metadata.get("failed_expectations")
    if isinstance(failed, str):
        try:
            failed = json.loads(failed)
        except ValueError:
            failed = [failed]
    parts = []
    for item in failed if isinstance(failed, list) else []:
        if isinstance(item, Mapping):
            what = item.get("why") or item.get("type") or item.get("expectation") or "failed"
            count = item.get("unexpected_count")
            parts.append(f"{what} ({count} unexpected)" if count is not None else str(what))
        else:
            parts.append(str(item))
    if not parts:
        parts.append(description or f"dbt test status: {metadata.get('status', 'failed')}")
    text = "; ".join(parts)
    return text if len(text) <= DETAILS_MAX_CHARS else text[: DETAILS_MAX_CHARS - 1] + "…"
