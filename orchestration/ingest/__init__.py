"""Ingestion: raw feed files into the DuckDB schema `raw` (see RAW_TABLES.md)."""

from orchestration.ingest.core import LoadResult, ensure_raw_schema
from orchestration.ingest.distributor import load_distributor_sell_in
from orchestration.ingest.files import file_period, list_feed_files
from orchestration.ingest.loaders import FEED_LOADERS, load_feed
from orchestration.ingest.online import load_online_orders, load_online_refunds
from orchestration.ingest.overseas import load_lazada_orders, load_shopee_orders
from orchestration.ingest.reference import load_reference
from orchestration.ingest.store import load_store_pos

__all__ = [
    "FEED_LOADERS",
    "LoadResult",
    "ensure_raw_schema",
    "file_period",
    "list_feed_files",
    "load_distributor_sell_in",
    "load_feed",
    "load_lazada_orders",
    "load_online_orders",
    "load_online_refunds",
    "load_reference",
    "load_shopee_orders",
    "load_store_pos",
]
