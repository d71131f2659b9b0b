"""The raw assets materialize in Dagster, with reconciled counts and a column schema; a run over
a range of months records each month with its own files and rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import AssetKey, DagsterInstance, TableSchema, materialize
from dagster_duckdb import DuckDBResource
from ingest_samples import write_sample_raw_dir

from orchestration.ingest.assets import DATED_TABLES, ingest_assets
from orchestration.partitions import feed_months, range_tags
from orchestration.resources import RawFilesResource

RAW_TABLE_NAMES = {
    "online_order_lines", "online_refunds", "store_pos_lines", "distributor_sell_in",
    "shopee_orders", "lazada_orders", "products", "stores", "distributors", "targets",
    "fx_rates",
}  # fmt: skip


def test_asset_definitions():
    assert {asset.key for asset in ingest_assets} == {
        AssetKey(["raw", name]) for name in RAW_TABLE_NAMES
    }
    for asset in ingest_assets:
        spec = next(iter(asset.specs))
        assert spec.group_name == "raw"
        assert {"duckdb", "python"} <= set(spec.kinds)
        assert spec.description
        assert asset.required_resource_keys >= {"duckdb", "raw_files"}
        assert isinstance(spec.metadata["dagster/column_schema"], TableSchema)


def test_materialize_all_raw_assets(tmp_path: Path):
    raw_dir = write_sample_raw_dir(tmp_path / "raw")
    database = tmp_path / "warehouse.duckdb"
    resources = {
        "duckdb": DuckDBResource(database=str(database)),
        "raw_files": RawFilesResource(raw_dir=str(raw_dir)),
    }

    # the sample's files are dated January 2023 (domestic) and January-March 2024 (overseas)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ingest_assets,
            resources=resources,
            instance=instance,
            tags=range_tags("2023-01-01", "2024-03-01"),
        )
        assert result.success
        events = result.get_asset_materialization_events()
        for table in DATED_TABLES:
            months = instance.get_materialized_partitions(AssetKey(["raw", table]))
            assert len(months) == 15, table  # every month of the range, in one run
    assert len(feed_months.get_partition_keys()) > 15

    # per table, the event of the month that holds its file (the reference tables: their one)
    holding = {}
    for event in events:
        values = event.materialization.metadata
        if event.partition is None or values["rows_in_raw"].value:
            holding[event.asset_key.path[-1]] = values
    assert set(holding) == RAW_TABLE_NAMES
    for name, values in holding.items():
        read, loaded = values["rows_read"].value, values["rows_loaded"].value
        assert read == loaded + values["rows_quarantined"].value, name
        assert values["files"].value == 1 and loaded >= 1, name
        assert values["dagster/row_count"].value >= loaded, name
    assert holding["online_order_lines"]["dagster/row_count"].value == 3  # two orders, 3 lines
    empty = next(
        e.materialization.metadata
        for e in events
        if e.asset_key == AssetKey(["raw", "online_order_lines"]) and e.partition == "2023-06-01"
    )
    assert empty["rows_in_raw"].value == 0 and empty["files_in_raw"].value == 0

    with duckdb.connect(str(database), read_only=True) as conn:
        batches = conn.execute("SELECT DISTINCT _load_batch FROM raw.load_log").fetchall()
        assert len(batches) == 1 and batches[0][0] == result.run_id

    # a warehouse loaded before the load log had rows_in_raw: opening it fills the column
    # from the raw tables, and the partitions' row counts read it
    from orchestration.ingest.core import ensure_raw_schema

    with duckdb.connect(str(database)) as conn:
        conn.execute("ALTER TABLE raw.load_log DROP COLUMN rows_in_raw")
        ensure_raw_schema(conn)
        for table in DATED_TABLES:
            logged = conn.execute(
                "SELECT _source_file, rows_in_raw FROM raw.load_log WHERE feed = ?", [table]
            ).fetchall()
            counted = conn.execute(
                f"SELECT _source_file, count(*) FROM raw.{table} GROUP BY ALL"
            ).fetchall()
            assert sorted(logged) == sorted(counted), table
