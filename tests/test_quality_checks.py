"""GX suites as Dagster asset checks (orchestration.quality.checks), run by materialize()."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DailyPartitionsDefinition,
    asset,
    materialize,
)
from dagster_duckdb import DuckDBResource

from orchestration.quality.checks import build_gx_asset_checks

CONFIG = {"threads": 1}


def write_suite(folder: Path, name: str, **data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.yml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_STATE_DIR", str(tmp_path / "state"))
    db = tmp_path / "wh.duckdb"
    return {
        "db": db,
        "suites": tmp_path / "expectations",
        "resource": DuckDBResource(database=str(db), connection_config=CONFIG),
    }


def make_assets(bad: bool):
    @asset(key=["raw", "orders"])
    def raw_orders(duckdb: DuckDBResource) -> None:
        with duckdb.get_connection() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            con.execute(
                "CREATE OR REPLACE TABLE raw.orders AS SELECT i AS order_id, "
                "CASE WHEN i = 3 AND ? THEN NULL ELSE 'tmall' END AS channel "
                "FROM range(10) r(i)",
                [bad],
            )

    @asset(key=["staging", "orders"], deps=[raw_orders])
    def staging_orders(duckdb: DuckDBResource) -> None:
        with duckdb.get_connection() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS staging")
            con.execute("CREATE OR REPLACE TABLE staging.orders AS SELECT * FROM raw.orders")

    return raw_orders, staging_orders


NOT_NULL = [
    {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "channel"},
        "description": "every order line has a channel",
    }
]


def run(env, assets, checks):
    return materialize(
        [*assets, *checks],
        resources={"duckdb": env["resource"]},
        raise_on_error=False,
    )


def check_eval(result, name):
    (ev,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return ev


def materialized(result) -> set[AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def test_failed_check_has_metadata_and_blocking_error_stops_downstream(env):
    write_suite(
        env["suites"] / "raw",
        "orders",
        asset=["raw", "orders"],
        table="raw.orders",
        severity="error",
        expectations=NOT_NULL,
    )
    checks = build_gx_asset_checks(env["suites"])
    assert len(checks) == 1
    result = run(env, make_assets(bad=True), checks)
    ev = check_eval(result, "gx_raw_orders")
    assert ev.passed is False
    assert ev.severity == AssetCheckSeverity.ERROR
    md = ev.metadata
    assert md["gx_could_not_run"].value is False
    (failed,) = md["failed_expectations"].value
    assert failed["type"] == "expect_column_values_to_not_be_null"
    assert failed["column"] == "channel"
    assert failed["unexpected_count"] == 1
    assert failed["sample"] == [None]
    assert md["unexpected_total"].value == 1
    assert md["data_docs"].value.startswith("file://")
    assert Path(md["data_docs_path"].value).is_file()
    assert "data_docs" in str(Path(md["data_docs_path"].value))
    # blocking ERROR: the downstream asset did not run
    assert materialized(result) == {AssetKey(["raw", "orders"])}


def test_passing_blocking_check_lets_downstream_run(env):
    write_suite(
        env["suites"] / "raw",
        "orders",
        asset=["raw", "orders"],
        table="raw.orders",
        severity="error",
        expectations=NOT_NULL,
    )
    result = run(env, make_assets(bad=False), build_gx_asset_checks(env["suites"], data_docs=False))
    assert check_eval(result, "gx_raw_orders").passed is True
    assert materialized(result) == {AssetKey(["raw", "orders"]), AssetKey(["staging", "orders"])}


def test_warn_check_failing_does_not_block(env):
    write_suite(
        env["suites"] / "raw",
        "orders",
        asset=["raw", "orders"],
        table="raw.orders",
        severity="warn",
        expectations=NOT_NULL,
    )
    result = run(env, make_assets(bad=True), build_gx_asset_checks(env["suites"], data_docs=False))
    ev = check_eval(result, "gx_raw_orders")
    assert ev.passed is False and ev.severity == AssetCheckSeverity.WARN
    assert materialized(result) == {AssetKey(["raw", "orders"]), AssetKey(["staging", "orders"])}


def test_could_not_run_is_a_check_error_not_a_data_failure(env):
    write_suite(
        env["suites"] / "raw",
        "orders",
        asset=["raw", "orders"],
        table="raw.orders",
        severity="error",
        expectations=[
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}
        ],
    )
    result = run(env, make_assets(bad=False), build_gx_asset_checks(env["suites"], data_docs=False))
    ev = check_eval(result, "gx_raw_orders")
    assert ev.passed is False and ev.severity == AssetCheckSeverity.ERROR
    assert ev.metadata["gx_could_not_run"].value is True
    (err,) = ev.metadata["gx_errors"].value
    assert "could not run" in err and "no_such_column" in err
    assert "failed_expectations" not in ev.metadata
    assert materialized(result) == {AssetKey(["raw", "orders"])}


def test_partitioned_check_validates_its_partition_only(env):
    days = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-04")

    @asset(key=["raw", "daily"], partitions_def=days)
    def raw_daily(context, duckdb: DuckDBResource) -> None:
        with duckdb.get_connection() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            con.execute("CREATE TABLE IF NOT EXISTS raw.daily (day DATE, amount INT)")
            # a bad row exists on another day, never on the day being materialized
            con.execute("DELETE FROM raw.daily")
            con.execute("INSERT INTO raw.daily VALUES (DATE '2024-01-01', -1)")
            con.execute(
                "INSERT INTO raw.daily VALUES (CAST(? AS DATE), 5)", [context.partition_key]
            )

    write_suite(
        env["suites"] / "raw",
        "daily",
        asset=["raw", "daily"],
        table="raw.daily",
        severity="error",
        partition_column="day",
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "amount", "min_value": 0},
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 1}},
        ],
    )
    checks = build_gx_asset_checks(
        env["suites"], partitions_defs={"raw/daily": days}, data_docs=False
    )
    ok = materialize(
        [raw_daily, *checks],
        resources={"duckdb": env["resource"]},
        partition_key="2024-01-02",
        raise_on_error=False,
    )
    ev = check_eval(ok, "gx_raw_daily")
    assert ev.passed is True, ev.metadata["summary"].value
    assert ev.metadata["partition"].value.startswith("[2024-01-02")
    bad = materialize(
        [raw_daily, *checks],
        resources={"duckdb": env["resource"]},
        partition_key="2024-01-01",
        raise_on_error=False,
    )
    ev = check_eval(bad, "gx_raw_daily")
    assert ev.passed is False
    failed = ev.metadata["failed_expectations"].value
    # 2024-01-01 holds the bad row and, this time, the new row too: 2 rows
    assert [(f["type"], f.get("unexpected_count"), f.get("observed_value")) for f in failed] == [
        ("expect_column_values_to_be_between", 1, None),
        ("expect_table_row_count_to_equal", None, 2),
    ]


def test_partition_grain_month_checks_the_whole_month_of_a_daily_run(env):
    days = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")

    @asset(key=["intermediate", "monthly"], partitions_def=days)
    def monthly(context, duckdb: DuckDBResource) -> None:
        # a table rebuilt by whole month: one row per month, January's total is wrong
        with duckdb.get_connection() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
            con.execute(
                "CREATE OR REPLACE TABLE intermediate.monthly AS SELECT * FROM (VALUES "
                "(DATE '2024-01-01', -1), (DATE '2024-02-01', 5)) t(month, total)"
            )

    write_suite(
        env["suites"] / "intermediate",
        "monthly",
        asset=["intermediate", "monthly"],
        table="intermediate.monthly",
        severity="error",
        partition_column="month",
        partition_grain="month",
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "total", "min_value": 0},
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 1}},
        ],
    )
    checks = build_gx_asset_checks(
        env["suites"], partitions_defs={"intermediate/monthly": days}, data_docs=False
    )
    for day, passed in (("2024-01-17", False), ("2024-02-17", True)):
        result = materialize(
            [monthly, *checks],
            resources={"duckdb": env["resource"]},
            partition_key=day,
            raise_on_error=False,
        )
        ev = check_eval(result, "gx_intermediate_monthly")
        assert ev.passed is passed, (day, ev.metadata["summary"].value)
        assert ev.metadata["partition"].value.startswith(f"[{day}")


@pytest.mark.parametrize(
    ("policy", "page_expected"), [("failures", False), ("always", True), ("never", False)]
)
def test_data_docs_policy_for_a_passing_check(env, monkeypatch, policy, page_expected):
    # A Data Docs page costs ~0.6 s: by default only failed checks get one.
    monkeypatch.setenv("WAREHOUSE_DATA_DOCS", policy)
    write_suite(
        env["suites"] / "raw",
        "orders",
        asset=["raw", "orders"],
        table="raw.orders",
        severity="error",
        expectations=NOT_NULL,
    )
    result = run(env, make_assets(bad=False), build_gx_asset_checks(env["suites"]))
    ev = check_eval(result, "gx_raw_orders")
    assert ev.passed is True
    assert ("data_docs_path" in ev.metadata) is page_expected
    if page_expected:
        assert Path(ev.metadata["data_docs_path"].value).is_file()


def test_failed_check_gets_no_page_when_data_docs_are_off(env, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_DATA_DOCS", "never")
    write_suite(
        env["suites"] / "raw",
        "orders",
        asset=["raw", "orders"],
        table="raw.orders",
        severity="error",
        expectations=NOT_NULL,
    )
    result = run(env, make_assets(bad=True), build_gx_asset_checks(env["suites"]))
    ev = check_eval(result, "gx_raw_orders")
    assert ev.passed is False
    assert "data_docs_path" not in ev.metadata
