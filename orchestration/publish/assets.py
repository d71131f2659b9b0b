"""The `publish/serving_db` asset: write-audit-publish of the marts to the serving database.

Wiring (by the code location):

    from orchestration.publish.assets import build_publish_asset
    publish_serving_db = build_publish_asset([AssetKey(["channel_performance"]), ...])

Upstream blocking asset checks keep Dagster from running this asset when a mart check fails. The
asset also audits the copy it is about to publish (every table non-empty, no NULL key column,
caller-supplied SQL audits) and raises `Failure` if anything is wrong: nothing is published, the
serving file stays byte-identical, and the run fails (which the run-failure alert reports).
"""

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from duckdb import DuckDBPyConnection

from orchestration.publish.serving import (
    DEFAULT_STORAGE_VERSION,
    SERVING_SCHEMA,
    AuditFailedError,
    AuditQuery,
    audit,
    comments_from_manifest,
    key_columns_from_manifest,
    load_manifest,
    publish_marts,
)
from orchestration.resources import ServingResource, WarehouseDuckDBResource
from orchestration.settings import DBT_PROJECT_DIR, serving_db_problem

PUBLISH_ASSET_KEY = AssetKey(["publish", "serving_db"])
DEFAULT_MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
PARQUET_SUBDIR = "serving_parquet"

# Writes tables into the warehouse at publish time and returns them (schema-qualified) with
# their docs ({"description": ..., "columns": {...}}); they are published with the marts.
PublishExtra = Callable[
    [AssetExecutionContext, DuckDBPyConnection], Mapping[str, Mapping[str, object]]
]


def parquet_dir_for(serving: ServingResource) -> Path:
    """Where the Parquet export of the serving database goes: <state_dir>/serving_parquet."""
    return Path(serving.state_dir) / PARQUET_SUBDIR


def build_publish_asset(
    mart_keys: Sequence[AssetKey],
    *,
    source_schema: str = SERVING_SCHEMA,
    tables: Sequence[str] | None = None,
    extra_audits: Sequence[AuditQuery] = (),
    key_columns: Mapping[str, Sequence[str]] | None = None,
    business_date_sql: str | None = None,
    manifest_path: Path | None = DEFAULT_MANIFEST_PATH,
    export_parquet: bool = True,
    storage_version: str = DEFAULT_STORAGE_VERSION,
    extras: Sequence[PublishExtra] = (),
) -> AssetsDefinition:
    """Build the `publish/serving_db` asset.

    - `mart_keys`: the assets it depends on (the marts and their dimensions);
    - `source_schema` / `tables`: what to publish from the working warehouse (default: every
      table and view of schema `marts`); each lands in schema `marts` of the serving database;
    - `extra_audits`: SQL audits run on the new serving file; each returns offending rows;
    - `key_columns`: table -> key columns that must not be NULL, added to the keys found in the
      dbt manifest (not_null/unique tests, not_null/primary_key constraints, grain tests);
    - `business_date_sql`: a query on the warehouse returning one DATE, the latest business date
      (e.g. `select max(order_date) from main.fct_sales_lines`); default: the greatest DATE
      value in the published tables;
    - `manifest_path`: dbt's manifest.json, read at run time for table/column comments and keys
      (missing manifest: publish without comments);
    - `extras`: functions run on the warehouse connection before the copy, each writing tables
      to publish besides the marts (e.g. `orchestration.publish.quality.data_quality_extra`).
    """
    deps = list(mart_keys)
    fixed_tables = list(tables) if tables is not None else None
    audits = list(extra_audits)
    caller_keys = {k: list(v) for k, v in (key_columns or {}).items()}

    @asset(
        key=PUBLISH_ASSET_KEY,
        deps=deps,
        group_name="publish",
        kinds={"duckdb"},
        description=(
            "Write-audit-publish: copies the marts and their dimensions into a new serving "
            "DuckDB file (storage readable by DuckDB 1.x and 2.x), audits it, and atomically "
            "replaces SERVING_DB; also exports them as Parquet. BI tools open SERVING_DB "
            "read-only; a failed audit publishes nothing."
        ),
    )
    def serving_db(
        context: AssetExecutionContext, duckdb: WarehouseDuckDBResource, serving: ServingResource
    ) -> MaterializeResult:
        started = time.monotonic()
        # before any work: a file name that makes `marts.<table>` ambiguous fails every publish
        if problem := serving_db_problem(serving.path):
            raise Failure(
                description=f"Serving database NOT published: {serving.path}: {problem}",
                allow_retries=False,
            )
        manifest = load_manifest(manifest_path) if manifest_path else None
        comments = comments_from_manifest(manifest) if manifest else {}
        keys = _key_columns(manifest, caller_keys)
        if manifest is None:
            context.log.warning(
                f"no dbt manifest at {manifest_path}: publishing without table/column comments"
            )

        def audit_fn(conn, published: list[str]) -> list[str]:
            return audit(conn, published, keys, audits)

        parquet_dir = parquet_dir_for(serving) if export_parquet else None
        # the resource closes its connection even when the block raises (WarehouseDuckDBResource)
        with duckdb.get_connection() as conn:
            latest = _latest_business_date(conn, business_date_sql)
            extra_docs: dict[str, Mapping[str, object]] = {}
            for extra in extras:
                extra_docs.update(extra(context, conn))
            try:
                result = publish_marts(
                    warehouse_db=Path(duckdb.database),
                    serving_db=serving.path,
                    tables=fixed_tables,
                    extra_tables=list(extra_docs),
                    comments={**comments, **extra_docs},
                    latest_business_date=latest,
                    storage_version=storage_version,
                    parquet_dir=parquet_dir,
                    conn=conn,
                    source_schema=source_schema,
                    audit_fn=audit_fn,
                    dagster_run_id=context.run_id,
                )
            except AuditFailedError as error:
                context.log.error(str(error))
                raise _not_published(error, serving.path) from error

        context.log.info(
            f"published {result.publish_id} to {result.serving_db} "
            f"({sum(result.row_counts.values())} rows in {len(result.tables)} tables, "
            f"{result.duration_s:.2f}s)"
        )
        metadata = _publish_metadata(result, parquet_dir, with_comments=manifest is not None)
        metadata["duration_s"] = round(time.monotonic() - started, 3)
        return MaterializeResult(metadata=metadata)

    return serving_db


def _key_columns(
    manifest: Mapping | None, caller_keys: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Per table, the key columns the audit requires non-NULL: dbt's (tests, constraints)
    and the caller's."""
    keys: dict[str, list[str]] = key_columns_from_manifest(manifest) if manifest else {}
    for table, cols in caller_keys.items():
        keys.setdefault(table, [])
        keys[table] += [c for c in cols if c not in keys[table]]
    return keys


def _latest_business_date(conn, business_date_sql: str | None) -> date | None:
    if not business_date_sql:
        return None
    row = conn.execute(business_date_sql).fetchone()
    value = row[0] if row else None
    return value.date() if isinstance(value, datetime) else value


def _not_published(error: AuditFailedError, serving_path: Path) -> Failure:
    return Failure(
        description=(
            f"Serving database NOT published: {len(error.failures)} audit "
            f"failure(s). BI tools keep the last good version at {serving_path}. "
            + "; ".join(error.failures)
        ),
        metadata={
            "audit_failures": MetadataValue.json(error.failures),
            "serving_db": MetadataValue.path(str(serving_path)),
        },
        allow_retries=False,
    )


def _publish_metadata(result, parquet_dir: Path | None, with_comments: bool) -> dict[str, object]:
    metadata: dict[str, object] = {
        "published_path": MetadataValue.path(str(result.serving_db)),
        "publish_id": result.publish_id,
        "row_counts": MetadataValue.json(result.row_counts),
        "dagster/row_count": sum(result.row_counts.values()),
        "latest_business_date": str(result.latest_business_date or ""),
        "git_commit": result.git_commit,
        "content_fingerprint": result.content_fingerprint,
        "storage_version": result.storage_version,
        "size_bytes": result.size_bytes,
        "timings": MetadataValue.json(result.timings),
        "comments_from_dbt_docs": with_comments,
    }
    if result.parquet_dir is not None and parquet_dir is not None:
        metadata["parquet_path"] = MetadataValue.path(str(parquet_dir / "current"))
    if result.previous_db is not None:
        metadata["previous_version_path"] = MetadataValue.path(str(result.previous_db))
    return metadata
