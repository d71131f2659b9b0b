"""The engine dbt builds the models on (WAREHOUSE_ENGINE): DuckDB, or Spark through dbt-spark.

On DuckDB, dbt builds in the warehouse file, where ingestion wrote the raw schema; nothing here
does anything. On Spark the same models, tests and contracts run in Spark (dbt-spark's session
mode locally, a Thrift server on a cluster), and three steps wrap the build:

1. **Landing**: the raw rows the build reads are written to Parquet (orchestration/ingest/
   landing.py), partitioned by business date: every day for a full build, the window's days
   for a window build. dbt's on-run-start hook points Spark's `raw` schema at those files.
2. **Build**: `dbt build --target spark`. Spark's tables are Parquet folders under
   `$WAREHOUSE_STATE_DIR/spark/warehouse/<schema>.db/<table>`.
3. **Mirror**: the tables Spark built are copied into the warehouse file (DuckDB reads Spark's
   Parquet directly), the marts cast to the types of their contract. The Great Expectations
   checks and the publish step then read them exactly as after a DuckDB build, so the checks
   judge what Spark computed, and BI tools get the same serving file, with the same types,
   whichever engine built it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from orchestration.ingest.landing import land_raw_tables
from orchestration.settings import Settings

DBT_TARGETS = {"duckdb": "dev", "spark": "spark"}
# dbt materializations whose relation Spark stores as files (a view is only a query)
STORED_MATERIALIZATIONS = {"table", "incremental", "seed"}


def dbt_target(settings: Settings) -> str:
    return DBT_TARGETS[settings.engine]


def engine_environment(settings: Settings) -> dict[str, str]:
    """What the dbt process needs to know of the engine's files (profiles.yml reads them)."""
    if settings.engine != "spark":
        return {}
    spark_dir = settings.spark_dir.resolve()
    return {
        "RAW_LANDING_DIR": str(settings.raw_landing_dir.resolve()),
        "SPARK_WAREHOUSE_DIR": str(spark_dir / "warehouse"),
        "SPARK_METASTORE_DIR": str(spark_dir / "metastore"),
    }


def days_of(window: tuple[date, date]) -> list[date]:
    first, last = window
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def land_for_build(settings: Settings, window: tuple[date, date] | None) -> list[str]:
    """Land the raw rows a build reads (Spark only): every day without a window."""
    if settings.engine != "spark":
        return []
    days = days_of(window) if window is not None else None
    return land_raw_tables(settings.warehouse_db, settings.raw_landing_dir, days=days)


def stored_relations(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The models and seeds of a manifest that Spark stores as files."""
    return [
        node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") in ("model", "seed")
        and node.get("config", {}).get("materialized") in STORED_MATERIALIZATIONS
    ]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_list(node: Mapping[str, Any]) -> str:
    """`*`, or for a contracted model each column cast to its contract's type (Spark's own
    types differ: decimal sums are narrower, integer widths differ)."""
    enforced = node.get("config", {}).get("contract", {}).get("enforced")
    columns = node.get("columns", {})
    if not enforced or not columns:
        return "*"
    return ", ".join(
        f"CAST({_quoted(name)} AS {column['data_type']}) AS {_quoted(name)}"
        for name, column in columns.items()
    )


def spark_table_folder(settings: Settings, node: Mapping[str, Any]) -> Path:
    return settings.spark_dir / "warehouse" / f"{node['schema']}.db" / node["alias"]


def mirror_spark_tables(settings: Settings, manifest: Mapping[str, Any]) -> list[str]:
    """Copy every table Spark built into the warehouse file (one transaction); returns
    `schema.table` of each. A table Spark has no folder for (not built) is left as it is."""
    if settings.engine != "spark":
        return []
    mirrored: list[str] = []
    with duckdb.connect(str(settings.warehouse_db)) as conn:
        conn.execute("BEGIN")
        for node in stored_relations(manifest):
            folder = spark_table_folder(settings, node)
            if not folder.exists():
                continue
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(node['schema'])}")
            _mirror_table(conn, node, folder)
            mirrored.append(f"{node['schema']}.{node['alias']}")
        conn.execute("COMMIT")
    return mirrored


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    query = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?"
    return conn.execute(query, [schema, name]).fetchone()[0] > 0


def _documented_columns(node: Mapping[str, Any], folder: Path) -> str:
    """`name type, ...` of a model whose every column has a documented data_type."""
    columns = node.get("columns", {})
    if not columns or any(not column.get("data_type") for column in columns.values()):
        raise RuntimeError(
            f"{node['schema']}.{node['alias']}: Spark stored no Parquet file in {folder}, the "
            "warehouse has no earlier version of it and its columns have no data_type to "
            "create it empty from"
        )
    return ", ".join(f"{_quoted(name)} {column['data_type']}" for name, column in columns.items())


def _mirror_table(conn: duckdb.DuckDBPyConnection, node: Mapping[str, Any], folder: Path) -> None:
    relation = f"{_quoted(node['schema'])}.{_quoted(node['alias'])}"
    if not any(folder.rglob("*.parquet")):
        # Spark writes no file for an empty partitioned table: the table is empty, with the
        # columns the warehouse already knows (its previous version) or, on a first build,
        # the model's documented column types
        if _table_exists(conn, node["schema"], node["alias"]):
            conn.execute(f"DELETE FROM {relation}")
        else:
            conn.execute(f"CREATE TABLE {relation} ({_documented_columns(node, folder)})")
        return
    files = str(folder / "**" / "*.parquet").replace("'", "''")
    conn.execute(
        f"CREATE OR REPLACE TABLE {relation} AS SELECT {_select_list(node)} "
        f"FROM read_parquet('{files}', hive_partitioning = true)"
    )
