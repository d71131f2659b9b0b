"""How dbt nodes appear in Dagster: keyed and grouped by layer, with kinds.

A model under models/<layer>/ gets the key [<layer>, <model>] and the group <layer>; seeds go
to the group `seeds`. Sources (one per source system, all in schema `raw`) take the key set in
their meta.dagster.asset_key, ["raw", <table>]: exactly the key of the ingestion asset that
loads the table, one lineage graph from the raw files to the marts. The one edge between
partitions definitions of different grain (the monthly distributor source -> its daily staging
view) gets an explicit TimeWindowPartitionMapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, PartitionMapping
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from orchestration.automation.partitions import MONTHLY_TABLES, month_to_day_mapping

LAYERS = ("staging", "intermediate", "marts")


def layer_of(dbt_resource_props: Mapping[str, Any]) -> str | None:
    if dbt_resource_props["resource_type"] == "seed":
        return "seeds"
    if dbt_resource_props["resource_type"] != "model":
        return None
    folders = dbt_resource_props["fqn"][1:-1]
    return folders[0] if folders and folders[0] in LAYERS else None


class WarehouseTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        layer = layer_of(dbt_resource_props)
        if layer is None:
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([layer, dbt_resource_props["name"]])

    def get_partition_mapping(
        self,
        dbt_resource_props: Mapping[str, Any],
        dbt_parent_resource_props: Mapping[str, Any],
    ) -> PartitionMapping | None:
        # a daily staging view of a monthly feed: day D reads the month containing D
        if (
            dbt_parent_resource_props.get("resource_type") == "source"
            and dbt_parent_resource_props.get("name") in MONTHLY_TABLES
        ):
            return month_to_day_mapping
        return super().get_partition_mapping(dbt_resource_props, dbt_parent_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return layer_of(dbt_resource_props) or super().get_group_name(dbt_resource_props)
