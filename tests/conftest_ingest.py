"""Fixtures and assertions shared by the ingestion tests (imported by tests/test_ingest_*.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.core import LoadResult


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    path = tmp_path / "raw"
    path.mkdir()
    return path


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def quarantined(conn: duckdb.DuckDBPyConnection, feed: str) -> list[tuple[int, str, str]]:
    """(row, field, reason) of the feed's quarantined rows, by row."""
    return conn.execute(
        "SELECT _source_row, field, reason FROM raw.quarantine WHERE feed = ? ORDER BY 1",
        [feed],
    ).fetchall()


def assert_reconciles(conn: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
    """The result adds up, and so does the load log of its batch, file by file."""
    assert result.reconciles
    rows = conn.execute(
        "SELECT rows_read, rows_loaded, rows_quarantined FROM raw.load_log WHERE _load_batch = ?",
        [result.batch_id],
    ).fetchall()
    assert len(rows) == result.files
    assert all(read == loaded + quarantined for read, loaded, quarantined in rows)
    assert sum(row[0] for row in rows) == result.rows_read
    assert sum(row[2] for row in rows) == result.rows_quarantined


def count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0]
