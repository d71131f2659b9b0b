"""The raw assets materialize in Dagster, with reconciled counts and a column schema."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import AssetKey, DagsterInstance, TableSchema, materialize
from dagster_duckdb import DuckDBResource
from ingest_samples import write_sample_raw_dir

from orchestration.ingest.assets import ingest_assets, unpartitioned_ingest_assets
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

    with DagsterInstance.ephemeral() as instance:
        result = materialize(unpartitioned_ingest_assets(), resources=resources, instance=instance)
        assert result.success
        events = result.get_asset_materialization_events()
        metadata = {event.asset_key.path[-1]: event.materialization.metadata for event in events}

    assert set(metadata) == RAW_TABLE_NAMES
    for name, values in metadata.items():
        read, loaded = values["rows_read"].value, values["rows_loaded"].value
        assert read == loaded + values["rows_quarantined"].value, name
        assert values["files"].value == 1 and loaded >= 1, name
        assert values["dagster/row_count"].value >= loaded, name
        column_names = [c.name for c in values["dagster/column_schema"].schema.columns]
        assert column_names[-4:] == ["_source_file", "_source_row", "_loaded_at", "_load_batch"]
    assert metadata["online_order_lines"]["dagster/row_count"].value == 3  # two orders, 3 lines

    with duckdb.connect(str(database), read_only=True) as conn:
        batches = conn.execute("SELECT DISTINCT _load_batch FROM raw.load_log").fetchall()
        assert len(batches) == 1 and batches[0][0] == result.run_id
