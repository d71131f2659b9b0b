"""How dbt nodes appear in Dagster: keyed and grouped by layer, with kinds.

A model under models/<layer>/ gets the key [<layer>, <model>] and the group <layer>; seeds go
to the group `seeds`. Sources keep dagster-dbt's default key [<source>, <table>], which for
source `raw` is exactly the key of the ingestion asset that loads the table: one lineage
graph from the raw files to the marts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

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

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return layer_of(dbt_resource_props) or super().get_group_name(dbt_resource_props)
