"""The raw landing (orchestration/ingest/landing.py): the typed raw tables as Parquet files
that Spark reads, a dated table partitioned by business date, days replaced whole."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.core import ensure_raw_schema
from orchestration.ingest.landing import EMPTY_PARTITION, land_raw_tables, landed_rows


def _add_order_lines(db: Path, day: str, count: int, order_prefix: str) -> None:
    """Rows with only the columns these tests read set (the rest NULL)."""
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            "INSERT INTO raw.online_order_lines (order_id, _business_date, _source_file) "
            "SELECT ? || i, CAST(? AS DATE), 'f.jsonl' FROM range(?) AS t(i)",
            [order_prefix, day, count],
        )


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_raw_schema(conn)
    _add_order_lines(path, "2024-01-01", 3, "a")
    _add_order_lines(path, "2024-01-02", 2, "b")
    return path


def _day_folders(landing: Path, table: str) -> list[str]:
    return sorted(p.name for p in (landing / table).iterdir())


def test_a_dated_table_lands_one_folder_per_business_day_and_a_schema_file(db, tmp_path):
    landing = tmp_path / "landing"
    land_raw_tables(db, landing)
    assert _day_folders(landing, "online_order_lines") == [
        "_business_date=2024-01-01",
        "_business_date=2024-01-02",
        EMPTY_PARTITION,
    ]
    assert landed_rows(landing, "online_order_lines") == 5
    # a table with no rows yet still has its columns on file; a snapshot is one file
    assert (landing / "online_refunds" / EMPTY_PARTITION / "schema.parquet").exists()
    assert landed_rows(landing, "online_refunds") == 0
    assert (landing / "products" / "snapshot.parquet").exists()


def test_landing_days_replaces_those_days_only_and_a_rerun_changes_nothing(db, tmp_path):
    landing = tmp_path / "landing"
    land_raw_tables(db, landing)
    first_day = landing / "online_order_lines" / "_business_date=2024-01-01"
    untouched = sorted(first_day.iterdir())
    with duckdb.connect(str(db)) as conn:
        conn.execute("DELETE FROM raw.online_order_lines WHERE _business_date = '2024-01-02'")
    _add_order_lines(db, "2024-01-02", 4, "c")
    _add_order_lines(db, "2024-01-03", 1, "d")
    days = [date(2024, 1, 2), date(2024, 1, 3)]
    land_raw_tables(db, landing, days=days, tables=["online_order_lines"])
    land_raw_tables(db, landing, days=days, tables=["online_order_lines"])
    assert sorted(first_day.iterdir()) == untouched
    assert landed_rows(landing, "online_order_lines") == 3 + 4 + 1
    with duckdb.connect() as conn:
        ids = conn.execute(
            "SELECT order_id FROM read_parquet(?, hive_partitioning = true) "
            "WHERE _business_date = DATE '2024-01-02' ORDER BY 1",
            [str(landing / "online_order_lines" / "*" / "*.parquet")],
        ).fetchall()
    assert [row[0] for row in ids] == ["c0", "c1", "c2", "c3"]


def test_a_day_whose_rows_are_gone_loses_its_folder(db, tmp_path):
    landing = tmp_path / "landing"
    land_raw_tables(db, landing)
    with duckdb.connect(str(db)) as conn:
        conn.execute("DELETE FROM raw.online_order_lines WHERE _business_date = '2024-01-01'")
    land_raw_tables(db, landing, days=[date(2024, 1, 1)], tables=["online_order_lines"])
    assert "_business_date=2024-01-01" not in _day_folders(landing, "online_order_lines")
    assert landed_rows(landing, "online_order_lines") == 2
