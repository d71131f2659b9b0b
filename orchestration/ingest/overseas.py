"""Overseas marketplace exports (CSV, UTF-8): Shopee and Lazada, one folder per country.

Each marketplace keeps its own column names and local timestamp format (parsed with strptime,
see tables.py); the country comes from the file's path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from orchestration.ingest.core import LoadResult, SourceFile, run_load
from orchestration.ingest.files import path_fields
from orchestration.ingest.staging import csv_stager
from orchestration.ingest.tables import LAZADA_ORDERS, SHOPEE_ORDERS, RawTable

MARKETPLACE_ENCODING = "utf-8"


def _country_of(table: RawTable) -> Callable[[SourceFile], dict[str, str | None]]:
    """The country column of a file: the `<cc>` folder of its path."""

    def country(source: SourceFile) -> dict[str, str | None]:
        return {"country": path_fields(table.name, source.relative).get("country")}

    return country


def _load_marketplace(
    table: RawTable,
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None,
    batch_id: str | None,
    force: bool,
) -> LoadResult:
    stager = csv_stager(MARKETPLACE_ENCODING, _country_of(table))
    return run_load(conn, raw_dir, table, stager, files, batch_id=batch_id, force=force)


def load_shopee_orders(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load Shopee exports into raw.shopee_orders (`Order Creation Date` is YYYY-MM-DD HH:MM)."""
    return _load_marketplace(SHOPEE_ORDERS, conn, raw_dir, files, batch_id, force)


def load_lazada_orders(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load Lazada exports into raw.lazada_orders (`createTime` is DD Mon YYYY HH:MM:SS)."""
    return _load_marketplace(LAZADA_ORDERS, conn, raw_dir, files, batch_id, force)
