"""Dagster assets of the raw layer: one per raw table, loading its feed's files.

The dated feeds (daily exports and monthly distributor workbooks) are partitioned by business
month (orchestration.partitions.feed_months): a materialization of a month, or of a range of
months in one run (BackfillPolicy.single_run), loads the files whose date falls in it.
Reference snapshots are not partitioned: a materialization loads the current snapshot.
Loading is idempotent: a file whose content was loaded before is skipped (sha256), a changed
file replaces its earlier rows. Each month of a range gets its own metadata (files and rows of
that month), so the UI shows what every partition holds.
"""

# No `from __future__ import annotations` here: Dagster inspects the type hints of the asset
# function (context, resources) at definition time and rejects string annotations.

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset,
)
from dagster_duckdb import DuckDBResource

from orchestration.ingest.core import LoadResult
from orchestration.ingest.files import FEED_LAYOUTS, file_period, list_feed_files, relative_path
from orchestration.ingest.loaders import FEED_LOADERS
from orchestration.ingest.tables import LOAD_LOG_TABLE, RAW_SCHEMA, RAW_TABLES, RawTable
from orchestration.partitions import (
    feed_months,
    month_key,
    single_run_backfill,
    window_dates,
)
from orchestration.resources import RawFilesResource, WarehouseDuckDBResource

RAW_GROUP = "raw"
# metadata lists (files with an extra column, rejected files) are cut to stay readable
METADATA_LIST_LIMIT = 20

DATED_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period is not None)
DAILY_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period == "day")
MONTHLY_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period == "month")
REFERENCE_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period is None)


def raw_key(table: str) -> AssetKey:
    return AssetKey([RAW_SCHEMA, table])


def file_month(table: str, relative: str) -> str | None:
    """The partition key (month) of a feed file, None for an undated one."""
    period = file_period(table, relative)
    return None if period is None else month_key(period)


def feed_files_in_months(raw_dir: Path, table: str, first: date, last: date) -> list[Path]:
    """The feed's files whose business date (or month) falls in the months of [first, last]."""
    low, high = month_key(first), month_key(last)
    return [
        path
        for path in list_feed_files(raw_dir, table)
        if low <= (file_month(table, relative_path(raw_dir, path)) or "") <= high
    ]


def months_with_files(raw_dir: Path, table: str) -> list[str]:
    """The partition keys (months) the feed has files for, sorted."""
    months = {
        file_month(table, relative_path(raw_dir, path)) for path in list_feed_files(raw_dir, table)
    }
    return sorted(month for month in months if month is not None)


class IngestConfig(Config):
    """Launchpad config of a raw asset."""

    # load the files again even if their content was loaded before: their rows are replaced
    # and dbt rebuilds the business dates they hold (e.g. to rebuild a month after restoring
    # lost rows downstream, or after a change of ingestion code)
    reload: bool = False


def column_schema(table: RawTable) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=column.name,
                type=column.sql_type,
                description=column.description or None,
                constraints=TableColumnConstraints(nullable=not column.required),
            )
            for column in table.all_columns
        ]
    )


def load_metadata(result: LoadResult) -> dict:
    """What one load did (all files of the run)."""
    return {
        "files": result.files,
        "files_skipped": len(result.files_skipped),
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "reconciles": result.reconciles,
        "extra_columns": MetadataValue.json(
            {
                column: sorted(files)[:METADATA_LIST_LIMIT]
                for column, files in sorted(result.extra_columns.items())
            }
        ),
        "files_rejected": MetadataValue.json(
            dict(sorted(result.files_rejected.items())[:METADATA_LIST_LIMIT])
        ),
        # files in the feed's folder that match no feed: never read (a WARN check reports them)
        "unrecognized_files": MetadataValue.json(
            sorted(result.unrecognized_files)[:METADATA_LIST_LIMIT]
        ),
        "load_batch": result.batch_id,
    }


def _latest_loads(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, int]]:
    """Per file of the feed, from the load log: the batch of its latest load and the raw rows
    that load left (a load replaces the file's rows). The raw table is not read: counting it
    per file scanned the whole history every run (0.06 s over the six dated feeds at 30M lines
    with a warm cache, 2026-12-06; it grows with the history and costs more from disk)."""
    return conn.execute(
        f"""SELECT _source_file, arg_max(_load_batch, _loaded_at),
                   arg_max(rows_in_raw, _loaded_at)
        FROM {RAW_SCHEMA}.{LOAD_LOG_TABLE} WHERE feed = ? GROUP BY ALL""",
        [table],
    ).fetchall()


def month_metadata(
    conn: duckdb.DuckDBPyConnection, table: str, batch_id: str, months: Iterable[str]
) -> dict[str, dict]:
    """Per partition key: the month's files and rows in raw now, and how many of its files
    this run loaded. Grouped by file in Python: a few thousand files, whatever the rows."""
    wanted = set(months)
    summary = {
        month: {"files_in_raw": 0, "rows_in_raw": 0, "files_loaded_now": 0} for month in wanted
    }
    for file, batch, rows_in_raw in _latest_loads(conn, table):
        month = file_month(table, file)
        if month not in wanted:
            continue
        entry = summary[month]
        entry["files_in_raw"] += 1
        entry["rows_in_raw"] += rows_in_raw or 0
        entry["files_loaded_now"] += batch == batch_id
    return {
        month: {**values, "dagster/row_count": values["rows_in_raw"]}
        for month, values in summary.items()
    }


def _run_months(context: AssetExecutionContext) -> list[str]:
    return (
        list(context.partition_keys) if context.has_partition_key_range else [context.partition_key]
    )


def _load_partitions(
    context: AssetExecutionContext,
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    raw_dir: Path,
    reload: bool,
) -> MaterializeResult:
    """Load the files of the run's months; metadata per month and for the whole load."""
    first, last = window_dates(*context.partition_time_window)
    files = feed_files_in_months(raw_dir, table.name, first, last)
    context.log.info(f"{table.qualified_name}: {len(files)} files in {first:%Y-%m}..{last:%Y-%m}")
    result = FEED_LOADERS[table.name](conn, raw_dir, files, batch_id=context.run_id, force=reload)
    _log_load(context, table, result)
    per_month = month_metadata(conn, table.name, result.batch_id, _run_months(context))
    if context.has_partition_key_range:
        for month, metadata in per_month.items():
            context.add_asset_metadata(metadata, partition_key=month)
        return MaterializeResult(metadata=load_metadata(result))
    return MaterializeResult(metadata={**load_metadata(result), **per_month[context.partition_key]})


def _load_snapshot(
    context: AssetExecutionContext,
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    raw_dir: Path,
    reload: bool,
) -> MaterializeResult:
    result = FEED_LOADERS[table.name](conn, raw_dir, None, batch_id=context.run_id, force=reload)
    _log_load(context, table, result)
    row_count = conn.execute(f"SELECT count(*) FROM {table.qualified_name}").fetchone()[0]
    return MaterializeResult(
        metadata={**load_metadata(result), "rows_in_raw": row_count, "dagster/row_count": row_count}
    )


def _log_load(context: AssetExecutionContext, table: RawTable, result: LoadResult) -> None:
    context.log.info(
        f"{table.qualified_name}: {result.files} files loaded, "
        f"{len(result.files_skipped)} unchanged; rows read {result.rows_read}, "
        f"loaded {result.rows_loaded}, quarantined {result.rows_quarantined}"
    )


def build_ingest_asset(table_name: str) -> AssetsDefinition:
    table = RAW_TABLES[table_name]
    layout = FEED_LAYOUTS[table_name]
    dated = layout.period is not None

    @asset(
        key=raw_key(table_name),
        group_name=RAW_GROUP,
        kinds={"duckdb", "python"},
        partitions_def=feed_months if dated else None,
        backfill_policy=single_run_backfill if dated else None,
        description=f"{table.description} Loaded from `{layout.glob_for('*')}`.",
        metadata={
            "dagster/column_schema": column_schema(table),
            "dagster/table_name": table.qualified_name,
        },
    )
    def ingest(
        context: AssetExecutionContext,
        config: IngestConfig,
        duckdb: DuckDBResource,
        raw_files: RawFilesResource,
    ) -> MaterializeResult:
        with duckdb.get_connection() as conn:
            load = _load_partitions if dated else _load_snapshot
            result = load(context, conn, table, raw_files.path, config.reload)
        if isinstance(duckdb, WarehouseDuckDBResource):
            duckdb.release_after_write(int(result.metadata["rows_loaded"]))
        return result

    return ingest


ingest_assets: Sequence[AssetsDefinition] = [build_ingest_asset(name) for name in RAW_TABLES]
