"""Reference feeds (CSV, UTF-8): products, stores, distributors, targets, FX rates.

They are full snapshots: each load replaces the whole table (and the feed's quarantine).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from orchestration.ingest.core import LoadResult, run_load
from orchestration.ingest.staging import csv_stager
from orchestration.ingest.tables import RAW_TABLES

REFERENCE_ENCODING = "utf-8"
REFERENCE_TABLES = ("products", "stores", "distributors", "targets", "fx_rates")


def load_reference(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    table_name: str,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load reference/<table_name>.csv into raw.<table_name>, replacing the table."""
    if table_name not in REFERENCE_TABLES:
        raise ValueError(f"not a reference feed: {table_name}")
    return run_load(
        conn,
        raw_dir,
        RAW_TABLES[table_name],
        csv_stager(REFERENCE_ENCODING),
        files,
        batch_id=batch_id,
        force=force,
    )
