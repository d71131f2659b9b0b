"""The dbt models as Dagster assets: one definition per layer.

Three definitions instead of one so that blocking checks between layers work: a failed
ERROR check on a staging model stops the intermediate step (within one `dbt build`, Dagster
cannot interrupt dbt; see dagster issue 19821). Row counts are read once dbt has exited,
because the dbt process holds the DuckDB file while it runs.
"""


import os
import shutil
from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetMaterialization, Output
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from orchestration.dbt.project import DBT_EXECUTABLE, dbt_environment, dbt_project
from orchestration.dbt.translator import WarehouseTranslator

LAYER_SELECTIONS = {
    "staging": "path:models/staging resource_type:seed",
    "intermediate": "path:models/intermediate",
    "marts": "path:models/marts",
}


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE,
                          profiles_dir=str(dbt_project.profiles_dir))


def _relation(event: Output | AssetMaterialization) -> str | None:
    metadata: dict[str, Any] = dict(event.metadata or {})
    relation = metadata.get("dagster/relation_identifier")
    return str(relation.value if hasattr(relation, "value") else relation) if relation else None


def _with_row_count(event: Any, duckdb: DuckDBResource) -> Any:
    if not isinstance(event, Output):
        return event
    relation = _relation(event)
    if relation is None:
        return event
    schema_table = ".".join(relation.split(".")[-2:])
    with duckdb.get_connection() as connection:
        count = connection.execute(f"SELECT count(*) FROM {schema_table}").fetchone()[0]
    return Output(value=event.value, output_name=event.output_name,
                  metadata={**event.metadata, "dagster/row_count": count},
                  data_version=event.data_version, tags=event.tags)


def run_dbt_build(context: AssetExecutionContext, dbt: DbtCliResource,
                  duckdb: DuckDBResource) -> Iterator[Any]:
    """`dbt build` of the selected models; events are replayed with row counts added."""
    os.environ.update(dbt_environment())
    target_path = dbt_project.project_dir / "target" / "runs" / context.run.run_id[:8]
    invocation = dbt.cli(["build"], context=context, target_path=target_path)
    try:
        events = list(invocation.stream())
    finally:
        shutil.rmtree(target_path, ignore_errors=True)
    for event in events:
        yield _with_row_count(event, duckdb)


def _layer_assets(layer: str):
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select=LAYER_SELECTIONS[layer],
        name=f"dbt_{layer}",
        dagster_dbt_translator=WarehouseTranslator(),
    )
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
        yield from run_dbt_build(context, dbt, duckdb)

    return _assets


dbt_staging_assets = _layer_assets("staging")
dbt_intermediate_assets = _layer_assets("intermediate")
dbt_marts_assets = _layer_assets("marts")
dbt_layer_assets = [dbt_staging_assets, dbt_intermediate_assets, dbt_marts_assets]
