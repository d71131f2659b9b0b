"""The dbt step fails when dbt built a model whose event never reached Dagster (a lost JSON log
line would otherwise leave the asset's previous materialization standing, silently)."""

from __future__ import annotations

from dagster import AssetCheckResult, Output

from orchestration.dbt.assets import unreported_nodes


def run_results(*results: tuple[str, str]) -> dict:
    return {"results": [{"unique_id": uid, "status": status} for uid, status in results]}


def output_of(unique_id: str) -> Output:
    return Output(None, output_name=unique_id.split(".")[-1], metadata={"unique_id": unique_id})


def test_every_built_model_and_seed_reported_is_nothing_lost() -> None:
    results = run_results(
        ("model.channel_warehouse.channel_performance", "success"),
        ("seed.channel_warehouse.ref_regions", "success"),
        ("test.channel_warehouse.not_null_x", "pass"),
        ("operation.channel_warehouse.channel_warehouse-on-run-start-0", "success"),
    )
    events = [
        output_of("model.channel_warehouse.channel_performance"),
        output_of("seed.channel_warehouse.ref_regions"),
        AssetCheckResult(passed=True, check_name="not_null_x", asset_key="channel_performance"),
    ]
    assert unreported_nodes(results, events) == []


def test_a_built_model_without_its_output_is_named() -> None:
    results = run_results(
        ("model.channel_warehouse.channel_performance", "success"),
        ("model.channel_warehouse.target_attainment", "success"),
        ("model.channel_warehouse.regional_coverage", "error"),  # failed: dbt says so itself
        ("model.channel_warehouse.int_sales_days_aggregated", "skipped"),
    )
    events = [output_of("model.channel_warehouse.channel_performance")]
    assert unreported_nodes(results, events) == ["model.channel_warehouse.target_attainment"]
