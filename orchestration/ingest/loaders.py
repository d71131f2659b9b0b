"""One entry point per raw table, so that callers (assets, CLI, tests) can load by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import duckdb

from orchestration.ingest.core import LoadResult
from orchestration.ingest.distributor import load_distributor_sell_in
from orchestration.ingest.online import load_online_orders, load_online_refunds
from orchestration.ingest.overseas import load_lazada_orders, load_shopee_orders
from orchestration.ingest.reference import REFERENCE_TABLES, load_reference
from orchestration.ingest.store import load_store_pos


class Loader(Protocol):
    def __call__(
        self,
        conn: duckdb.DuckDBPyConnection,
        raw_dir: Path,
        files: Sequence[Path] | None = None,
        *,
        batch_id: str | None = None,
        force: bool = False,
    ) -> LoadResult: ...


def _reference_loader(table_name: str) -> Loader:
    def load(
        conn: duckdb.DuckDBPyConnection,
        raw_dir: Path,
        files: Sequence[Path] | None = None,
        *,
        batch_id: str | None = None,
        force: bool = False,
    ) -> LoadResult:
        return load_reference(conn, raw_dir, table_name, files, batch_id=batch_id, force=force)

    return load


FEED_LOADERS: dict[str, Loader] = {
    "online_order_lines": load_online_orders,
    "online_refunds": load_online_refunds,
    "store_pos_lines": load_store_pos,
    "distributor_sell_in": load_distributor_sell_in,
    "shopee_orders": load_shopee_orders,
    "lazada_orders": load_lazada_orders,
    **{name: _reference_loader(name) for name in REFERENCE_TABLES},
}


def load_feed(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    table_name: str,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load one raw table's feed (all its files when `files` is None)."""
    return FEED_LOADERS[table_name](conn, raw_dir, files, batch_id=batch_id, force=force)
