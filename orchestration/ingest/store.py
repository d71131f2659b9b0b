"""Store POS daily exports: CSV in GB18030 with Chinese headers and CRLF line ends."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from orchestration.ingest.core import LoadResult, run_load
from orchestration.ingest.staging import csv_stager
from orchestration.ingest.tables import STORE_POS_LINES

# DuckDB's CSV reader has no GB18030 decoder offline: files are decoded in Python
POS_ENCODING = "gb18030"


def load_store_pos(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load POS exports into raw.store_pos_lines (columns a file has beyond the contract are
    reported in the result, not loaded)."""
    return run_load(
        conn,
        raw_dir,
        STORE_POS_LINES,
        csv_stager(POS_ENCODING),
        files,
        batch_id=batch_id,
        force=force,
    )
