"""Dagster assets of the raw layer: one per raw table, loading its feed's files.

Daily feeds are partitioned by business day (Asia/Shanghai), the distributor feed by month,
reference snapshots are not partitioned (orchestration.automation.partitions). A
materialization of a partition (or of a range, in one run: BackfillPolicy.single_run) loads
the files of those days / months (`partition_files`); loading is idempotent (a file's earlier
rows are replaced, an unchanged file is skipped by its sha256).
"""

# No `from __future__ import annotations` here: Dagster inspects the type hints of the asset
# function (context, resources) at definition time and rejects string annotations.

from collections.abc import Callable, Sequence
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset,
)
from dagster_duckdb import DuckDBResource

from orchestration.automation.partitions import (
    feed_files_between,
    partitions_def_for_table,
    single_run_backfill,
    window_dates,
)
from orchestration.ingest.core import LoadResult
from orchestration.ingest.files import FEED_LAYOUTS
from orchestration.ingest.loaders import FEED_LOADERS
from orchestration.ingest.tables import RAW_SCHEMA, RAW_TABLES, RawTable
from orchestration.resources import RawFilesResource

RAW_GROUP = "raw"
# metadata lists (files with an extra column, rejected files) are cut to stay readable
METADATA_LIST_LIMIT = 20

# Which files a materialization loads; None means every file of the feed.
FileSelector = Callable[[AssetExecutionContext, Path], Sequence[Path] | None]


def all_files(context: AssetExecutionContext, raw_dir: Path) -> Sequence[Path] | None:
    return None


def partition_files(context: AssetExecutionContext, raw_dir: Path) -> Sequence[Path] | None:
    """The files of the run's partition or partition range; every file when unpartitioned."""
    if not context.has_partition_key and not context.has_partition_key_range:
        return None
    first, last = window_dates(*context.partition_time_window)
    table = context.assets_def.key.path[-1]
    return feed_files_between(raw_dir, table, first, last)


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


def materialization_metadata(result: LoadResult, table: RawTable, row_count: int) -> dict:
    return {
        "files": result.files,
        "files_skipped": len(result.files_skipped),
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "reconciles": result.reconciles,
        "dagster/row_count": row_count,
        "extra_columns": MetadataValue.json(
            {
                column: sorted(files)[:METADATA_LIST_LIMIT]
                for column, files in sorted(result.extra_columns.items())
            }
        ),
        "files_rejected": MetadataValue.json(
            dict(sorted(result.files_rejected.items())[:METADATA_LIST_LIMIT])
        ),
        "load_batch": result.batch_id,
        "dagster/column_schema": column_schema(table),
    }


def build_ingest_asset(
    table_name: str, select_files: FileSelector | None = None, partitioned: bool = True
) -> AssetsDefinition:
    table = RAW_TABLES[table_name]
    loader = FEED_LOADERS[table_name]
    layout = FEED_LAYOUTS[table_name]
    partitions_def = partitions_def_for_table(table_name) if partitioned else None
    if select_files is None:
        select_files = partition_files if partitions_def is not None else all_files

    @asset(
        key=AssetKey([RAW_SCHEMA, table_name]),
        group_name=RAW_GROUP,
        kinds={"duckdb", "python"},
        partitions_def=partitions_def,
        backfill_policy=single_run_backfill if partitions_def is not None else None,
        description=f"{table.description} Loaded from `{layout.glob_for('*')}`.",
        metadata={
            "dagster/column_schema": column_schema(table),
            "dagster/table_name": table.qualified_name,
        },
    )
    def ingest(
        context: AssetExecutionContext, duckdb: DuckDBResource, raw_files: RawFilesResource
    ) -> MaterializeResult:
        raw_dir = raw_files.path
        files = select_files(context, raw_dir)
        if files is not None:
            context.log.info(f"{table.qualified_name}: {len(files)} files in the partition window")
        with duckdb.get_connection() as conn:
            result = loader(conn, raw_dir, files, batch_id=context.run_id)
            row_count = conn.execute(f"SELECT count(*) FROM {table.qualified_name}").fetchone()
        context.log.info(
            f"{table.qualified_name}: {result.files} files loaded, "
            f"{len(result.files_skipped)} unchanged; rows read {result.rows_read}, "
            f"loaded {result.rows_loaded}, quarantined {result.rows_quarantined}"
        )
        return MaterializeResult(
            metadata=materialization_metadata(result, table, row_count[0] if row_count else 0)
        )

    return ingest


# daily feeds by business day, the distributor feed by month, reference snapshots unpartitioned
ingest_assets: list[AssetsDefinition] = [build_ingest_asset(name) for name in RAW_TABLES]


def unpartitioned_ingest_assets() -> list[AssetsDefinition]:
    """Every raw asset without partitions, each loading all its files (tests, ad-hoc loads)."""
    return [
        build_ingest_asset(name, select_files=all_files, partitioned=False) for name in RAW_TABLES
    ]
