"""How dbt nodes appear in Dagster: keyed and grouped by layer, with kinds.

A model under models/<layer>/ gets the key [<layer>, <model>] and the group <layer>; seeds go
to the group `seeds`. Sources (one per source system, all in schema `raw`) take the key set in
their meta.dagster.asset_key, ["raw", <table>]: exactly the key of the ingestion asset that
loads the table, one lineage graph from the raw files to the marts.

A model may name, in `meta.runs_after`, models that dbt must build before it though it reads
nothing from them (a `-- depends_on:` comment in its SQL): dbt keeps the order, and the
lineage shown in Dagster leaves those edges out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster import AssetCheckSpec, AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

if TYPE_CHECKING:
    from dagster_dbt import DbtProject

LAYERS = ("staging", "intermediate", "marts")
# dbt tests that no build from Dagster runs: a full build leaves them out because other tests
# of the same build cover them (orchestration.dbt.assets, FULL_BUILD_EXCLUDED), and a window
# build runs no generic test. As asset checks they would show "skipped" after every run; they
# stay dbt tests, run by `dbt build` by hand and by the test suite.
TESTS_LEFT_TO_DBT = (
    "unique_int_sales_lines_unioned_sales_line_id",
    "unique_int_sales_lines_checked_sales_line_id",
    "unique_stg_online__order_lines_order_line_id",
    "not_null_stg_online__order_lines_order_line_id",
    "unique_stg_store__pos_lines_pos_line_id",
    "not_null_stg_store__pos_lines_pos_line_id",
)


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

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        """dagster-dbt's spec, less the dependencies that are an order only (meta.runs_after)."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        order_only = order_only_upstream_keys(self, manifest, unique_id)
        if not order_only:
            return spec
        return spec.replace_attributes(
            deps=[dep for dep in spec.deps if dep.asset_key not in order_only]
        )

    def get_asset_check_spec(
        self,
        asset_spec: AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetCheckSpec | None:
        """dagster-dbt's check for a dbt test, with a description in the UI for every test:
        the test's own (yml `description` or `meta.description`), else one written from what it
        tests (a generic test) or the comment that opens its SQL (a singular test). None for
        TESTS_LEFT_TO_DBT."""
        if manifest["nodes"][unique_id]["name"] in TESTS_LEFT_TO_DBT:
            return None
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=test_description(manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=spec.automation_condition,
        )


def order_only_upstream_keys(
    translator: DagsterDbtTranslator, manifest: Mapping[str, Any], unique_id: str
) -> set[AssetKey]:
    """Keys of the models a node is built after without reading them (its meta.runs_after)."""
    node = manifest["nodes"].get(unique_id, {})
    names = set(node.get("config", {}).get("meta", {}).get("runs_after", []))
    return {
        translator.get_asset_key(manifest["nodes"][upstream_id])
        for upstream_id in node.get("depends_on", {}).get("nodes", [])
        if upstream_id.startswith("model.") and manifest["nodes"][upstream_id]["name"] in names
    }


def test_description(node: Mapping[str, Any]) -> str:
    """What a dbt test checks, in one sentence (for tests whose yml gives no description)."""
    if node.get("description"):
        return node["description"]
    metadata = node.get("test_metadata")
    if metadata:
        kwargs = {k: v for k, v in metadata.get("kwargs", {}).items() if k != "model"}
        column = kwargs.pop("column_name", None)
        where = f" of column {column}" if column else ""
        details = ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
        return f"dbt test {metadata['name']}{where}" + (f" ({details})" if details else "")
    # the comment that opens the SQL (after a `{{ config(...) }}` line, if it comes first)
    comment = re.match(r"\s*(?:\{\{[^\n]*\}\}\s*)?((?:--[^\n]*\n)+)", node.get("raw_code") or "")
    if comment:
        lines = [line.strip().removeprefix("--").strip() for line in comment.group(1).splitlines()]
        return " ".join(line for line in lines if line)
    return f"dbt singular test {node['name']}"
