"""The raw landing that other engines read: the typed `raw` tables as Parquet files.

Ingestion loads, types and quarantines every feed in DuckDB (the warehouse file); the Spark
engine (WAREHOUSE_ENGINE=spark) builds the dbt models from these files instead of from the
DuckDB tables, so both engines start from the same rows, lineage columns included.

Layout under the landing folder (RAW_LANDING_DIR), one folder per raw table:

- a dated table is partitioned by business date, the hive way:
  `<table>/_business_date=YYYY-MM-DD/*.parquet`, so a daily run rewrites only its days and
  Spark prunes by date;
- a reference snapshot is one file, `<table>/snapshot.parquet`;
- every table also holds an empty file with its schema (`<table>/_business_date=
  __HIVE_DEFAULT_PARTITION__/` for dated tables): Spark needs a file to know a table's columns,
  and a feed may have no rows yet. Spark reads that folder as the NULL partition; it holds no
  rows.

DuckDB writes the files (COPY ... PARTITION_BY), set-based. A day is replaced whole: its new
files are written next to the table, then swapped in folder by folder, so a re-run changes
nothing and a day whose rows were all removed loses its folder.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import duckdb

from orchestration.ingest.tables import BUSINESS_DATE_COLUMN as _DATE_COLUMN
from orchestration.ingest.tables import RAW_SCHEMA, RAW_TABLES, RawTable

BUSINESS_DATE_COLUMN = _DATE_COLUMN.name

EMPTY_PARTITION = f"{BUSINESS_DATE_COLUMN}=__HIVE_DEFAULT_PARTITION__"
SNAPSHOT_FILE = "snapshot.parquet"


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _partition_folder(day: date) -> str:
    return f"{BUSINESS_DATE_COLUMN}={day.isoformat()}"


def _write_schema_file(conn: duckdb.DuckDBPyConnection, table: RawTable, folder: Path) -> None:
    """A dated table's empty file with its columns (the partition column excepted: Spark takes
    it from the folder names). A snapshot's own file carries its schema, rows or not."""
    target = folder / EMPTY_PARTITION
    target.mkdir(parents=True, exist_ok=True)
    conn.execute(
        f"COPY (SELECT * EXCLUDE ({BUSINESS_DATE_COLUMN}) FROM {table.qualified_name} LIMIT 0) "
        f"TO {_sql_path(target / 'schema.parquet')} (FORMAT parquet)"
    )


def _land_snapshot(conn: duckdb.DuckDBPyConnection, table: RawTable, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".{SNAPSHOT_FILE}.{uuid.uuid4().hex}"
    conn.execute(
        f"COPY (SELECT * FROM {table.qualified_name}) TO {_sql_path(staged)} (FORMAT parquet)"
    )
    staged.replace(folder / SNAPSHOT_FILE)


def _land_days(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    folder: Path,
    days: list[date] | None,
) -> None:
    """Rewrite the given business days of a dated table (all of them when days is None)."""
    staged = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
    where = "true" if days is None else f"{BUSINESS_DATE_COLUMN} IN (SELECT unnest(?))"
    params = [] if days is None else [days]
    try:
        conn.execute(
            f"COPY (SELECT * FROM {table.qualified_name} WHERE {where}) TO {_sql_path(staged)} "
            f"(FORMAT parquet, PARTITION_BY ({BUSINESS_DATE_COLUMN}), OVERWRITE_OR_IGNORE)",
            params,
        )
        folder.mkdir(parents=True, exist_ok=True)
        if days is None:
            replaced = [p.name for p in folder.iterdir() if p.name.startswith(BUSINESS_DATE_COLUMN)]
        else:
            replaced = [_partition_folder(day) for day in days]
        for name in replaced:
            if name == EMPTY_PARTITION:
                continue
            shutil.rmtree(folder / name, ignore_errors=True)
            if (staged / name).exists():
                (staged / name).rename(folder / name)
        if days is None and staged.exists():
            for written in staged.iterdir():  # days the table did not have before
                written.rename(folder / written.name)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    _write_schema_file(conn, table, folder)


def land_raw_tables(
    database: Path,
    landing_dir: Path,
    days: Iterable[date] | None = None,
    tables: Iterable[str] | None = None,
) -> list[str]:
    """Write the raw tables (all, or the named ones) of the warehouse file to the landing
    folder: the given business days of the dated tables (every day when days is None) and
    every reference snapshot whole. Returns the tables landed."""
    names = list(tables) if tables is not None else list(RAW_TABLES)
    day_list = sorted(set(days)) if days is not None else None
    landing_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database), read_only=True) as conn:
        for name in names:
            table = RAW_TABLES[name]
            folder = landing_dir / name
            if table.business_date_sql:
                _land_days(conn, table, folder, day_list)
            else:
                _land_snapshot(conn, table, folder)
    return names


def landed_rows(landing_dir: Path, name: str) -> int:
    """Rows of one landed table, read back from its files (for reconciliation and tests)."""
    pattern = landing_dir / name / "**" / "*.parquet"
    with duckdb.connect() as conn:
        return conn.execute(
            f"SELECT count(*) FROM read_parquet({_sql_path(pattern)}, hive_partitioning = false)"
        ).fetchone()[0]


__all__ = ["RAW_SCHEMA", "land_raw_tables", "landed_rows"]
