"""What a dbt build selects and in what order, read from the project's manifest: the full
build's exclusions are covered by other tests, and an order-only dependency orders dbt's
build without showing in Dagster's lineage."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from dagster import AssetKey

from orchestration.dbt.assets import FULL_BUILD_EXCLUDED, TRANSLATOR, dbt_command, dbt_models
from orchestration.dbt.project import ensure_manifest
from orchestration.dbt.translator import TESTS_LEFT_TO_DBT
from orchestration.dbt.window import BuildPlan

KEY_QUERY = "assert_incremental_keys_are_unique"
UNIONED_KEY_TEST = "unique_int_sales_lines_unioned_sales_line_id"
CHECKED_KEY_TEST = "unique_int_sales_lines_checked_sales_line_id"
CHECKED_PREFIX_TEST = "unique_int_sales_lines_checked_distributor_sales_line_id"
# the channel models int_sales_lines_checked unions, the prefixes of their keys
CHANNEL_KEY_PREFIXES = {
    "int_online_sales_lines": ["online-sale-"],
    "int_online_refund_lines": ["online-refund-"],
    "int_store_sales_lines": ["store-"],
    "int_distributor_sales_lines": ["distributor-"],
    "int_overseas_sales_lines": ["shopee-", "lazada-"],
}
SHARED_PREFIX = "distributor-"
# staging view, its key, the channel model built from it, the prefix of the model's key
STAGING_KEYS = [
    ("stg_online__order_lines", "order_line_id", "int_online_sales_lines", "online-sale-"),
    ("stg_store__pos_lines", "pos_line_id", "int_store_sales_lines", "store-"),
]
STAGING_KEY_TESTS = [
    f"{test}_{view}_{key}" for view, key, _, _ in STAGING_KEYS for test in ("unique", "not_null")
]


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(ensure_manifest().read_text())


def generic_tests_by_column(manifest: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(model, column) -> names of the generic tests on it."""
    tests: dict[tuple[str, str], set[str]] = {}
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata")
        if node["resource_type"] != "test" or not metadata or not node.get("column_name"):
            continue
        model = node["attached_node"].rsplit(".", 1)[-1]
        tests.setdefault((model, node["column_name"]), set()).add(metadata["name"])
    return tests


def test_the_full_build_leaves_out_only_the_covered_tests() -> None:
    full = dbt_command(BuildPlan("full", "test", None, ""))
    assert full[:4] == ["build", "--target", "dev", "--full-refresh"]
    # one flag per test: dagster-dbt reads the flags of a process build one value each
    assert full[4:] == FULL_BUILD_EXCLUDED
    assert (UNIONED_KEY_TEST, CHECKED_KEY_TEST, *STAGING_KEY_TESTS) == TESTS_LEFT_TO_DBT
    left_out = [KEY_QUERY, *TESTS_LEFT_TO_DBT]
    assert [arg for test in left_out for arg in ("--exclude", test)] == FULL_BUILD_EXCLUDED
    window = dbt_command(BuildPlan("window", "test", None, ""))
    assert KEY_QUERY not in window  # a window build runs the query (and no generic test)


def test_the_full_build_covers_the_window_key_query(manifest: dict[str, Any]) -> None:
    # every (model, key) the query checks over a window has unique and not_null tests, which
    # a full build runs over every row
    node = manifest["nodes"][f"test.channel_warehouse.{KEY_QUERY}"]
    keys = re.findall(r"\(ref\('(\w+)'\),\s*'(\w+)'", node["raw_code"])
    assert len(keys) >= 10, node["raw_code"]
    tests = generic_tests_by_column(manifest)
    for model, column in keys:
        assert {"unique", "not_null"} <= tests.get((model, column), set()), (model, column)


def sql_without_comments(raw_code: str) -> str:
    """The model's SQL, lower case, comments dropped and whitespace collapsed."""
    code = re.sub(r"--[^\n]*", " ", raw_code)
    return " ".join(code.lower().split())


def test_the_full_build_covers_the_unioned_key(manifest: dict[str, Any]) -> None:
    # int_sales_lines_unioned is int_sales_lines_checked less rows (one ref, a WHERE, nothing
    # that repeats or makes a row) with the key selected as it is: the checked view's unique
    # and not_null tests, which a full build runs over every row, hold for it too
    nodes = manifest["nodes"]
    unioned = nodes["model.channel_warehouse.int_sales_lines_unioned"]
    assert unioned["depends_on"]["nodes"] == ["model.channel_warehouse.int_sales_lines_checked"]
    sql = sql_without_comments(unioned["raw_code"])
    assert sql.startswith("select sales_line_id, "), sql[:80]
    assert re.search(r"from \{\{ ref\('int_sales_lines_checked'\) \}\} where [^()]+$", sql), sql
    for construct in (" join ", " union ", " group by ", " distinct ", " qualify ", "unnest"):
        assert construct not in sql, construct
    tests = generic_tests_by_column(manifest)
    assert {"unique", "not_null"} <= tests[("int_sales_lines_checked", "sales_line_id")]
    # the test stays the model's primary-key test: `dbt build` by hand runs it; no build from
    # Dagster does, so it is no asset check (which would show "skipped" after every run)
    assert {"unique", "not_null"} <= tests[("int_sales_lines_unioned", "sales_line_id")]
    assert UNIONED_KEY_TEST in TESTS_LEFT_TO_DBT
    unioned_key = AssetKey(["intermediate", "int_sales_lines_unioned"])
    checks = {key.name for key in dbt_models.check_keys if key.asset_key == unioned_key}
    assert UNIONED_KEY_TEST not in checks
    assert "not_null_int_sales_lines_unioned_sales_line_id" in checks
    assert any(
        unique_id.startswith(f"test.channel_warehouse.{UNIONED_KEY_TEST}.") for unique_id in nodes
    )


def test_the_full_build_covers_the_checked_key(manifest: dict[str, Any]) -> None:
    # int_sales_lines_checked is a union of the channel models' rows, keys as they are. Each
    # model's key has its own unique test and fixed prefixes that no other model's key starts
    # with, but the two distributor models (the goods lines and the rebates allocated to them)
    # share one: the view's unique test filtered to that prefix covers the rest of its key
    # (tests/test_dbt_build.py puts a key in both and sees that test fail)
    nodes = manifest["nodes"]
    checked = nodes["model.channel_warehouse.int_sales_lines_checked"]
    rebates = "int_distributor_rebates_allocated"
    members = {name.rsplit(".", 1)[-1] for name in checked["depends_on"]["nodes"]}
    assert members == {*CHANNEL_KEY_PREFIXES, rebates}
    for model, prefixes in CHANNEL_KEY_PREFIXES.items():
        sql = sql_without_comments(nodes[f"model.channel_warehouse.{model}"]["raw_code"])
        keys = re.findall(r"'([a-z-]+)' \|\| [\w.]+ as sales_line_id", sql)
        assert keys == prefixes and sql.count(" as sales_line_id") == len(prefixes), model
    # the rebates' keys are their rebate's: a distributor line's key, or a prefix of its own
    sql = sql_without_comments(nodes[f"model.channel_warehouse.{rebates}"]["raw_code"])
    assert re.findall(r"([\w.'-]+(?: \|\| [\w.]+)?) as rebate_id", sql) == [
        "sales_line_id",  # of int_distributor_sales_lines
        "'distributor-extra-rebate-' || rebates.distributor_month_id",
    ]
    assert sql.count(" as sales_line_id") == 1
    assert "then rebate_id else rebate_id || '-on-row-' ||" in sql
    others = [p for ps in CHANNEL_KEY_PREFIXES.values() for p in ps if p != SHARED_PREFIX]
    for prefix in others:
        assert not any(p.startswith(prefix) for p in [*others, SHARED_PREFIX] if p != prefix)

    tests = generic_tests_by_column(manifest)
    for model in [*CHANNEL_KEY_PREFIXES, rebates]:
        assert {"unique", "not_null"} <= tests[(model, "sales_line_id")], model
    prefix_test = next(node for node in nodes.values() if node["name"] == CHECKED_PREFIX_TEST)
    assert prefix_test["attached_node"] == checked["unique_id"]
    assert prefix_test["test_metadata"]["name"] == "unique"
    assert prefix_test["config"]["where"] == f"sales_line_id like '{SHARED_PREFIX}%'"
    # the whole view's test stays its primary-key test for `dbt build` by hand: no asset check
    checked_key = AssetKey(["intermediate", "int_sales_lines_checked"])
    checks = {key.name for key in dbt_models.check_keys if key.asset_key == checked_key}
    assert CHECKED_PREFIX_TEST in checks and CHECKED_KEY_TEST not in checks
    assert any(name.startswith(f"test.channel_warehouse.{CHECKED_KEY_TEST}.") for name in nodes)


@pytest.mark.parametrize(("view", "key", "model", "prefix"), STAGING_KEYS)
def test_the_full_build_covers_the_staging_views_keys(
    manifest: dict[str, Any], view: str, key: str, model: str, prefix: str
) -> None:
    # the channel model reads the view and keeps each of its rows (left joins only) under the
    # view's key behind a fixed prefix: its own key tests fail on a duplicate or null key of
    # the view (tests/test_dbt_build.py makes one and sees them fail)
    nodes = manifest["nodes"]
    channel = nodes[f"model.channel_warehouse.{model}"]
    assert f"model.channel_warehouse.{view}" in channel["depends_on"]["nodes"]
    sql = sql_without_comments(channel["raw_code"])
    assert f"'{prefix}' || {key} as sales_line_id" in sql
    joins = re.findall(r"(\w+) join ", sql)
    assert joins and set(joins) == {"left"}, joins
    tests = generic_tests_by_column(manifest)
    assert {"unique", "not_null"} <= tests[(model, "sales_line_id")]
    # the view's key tests stay its primary-key tests for `dbt build` by hand; no build from
    # Dagster runs them, so they are no asset checks
    assert {"unique", "not_null"} <= tests[(view, key)]
    view_key = AssetKey(["staging", view])
    checks = {check.name for check in dbt_models.check_keys if check.asset_key == view_key}
    assert checks and not checks & set(STAGING_KEY_TESTS), checks


def test_an_order_only_dependency_orders_dbt_but_is_no_lineage(manifest: dict[str, Any]) -> None:
    store = manifest["nodes"]["model.channel_warehouse.int_store_sales_lines"]
    online = "model.channel_warehouse.int_online_sales_lines"
    assert store["config"]["meta"]["runs_after"] == ["int_online_sales_lines"]
    assert online in store["depends_on"]["nodes"]  # dbt builds the store lines after these

    spec = TRANSLATOR.get_asset_spec(manifest, store["unique_id"], None)
    upstream = {dep.asset_key for dep in spec.deps}
    assert AssetKey(["intermediate", "int_online_sales_lines"]) not in upstream
    assert AssetKey(["staging", "stg_store__pos_lines"]) in upstream
    # a node without meta.runs_after keeps every dependency dbt has
    online_spec = TRANSLATOR.get_asset_spec(manifest, online, None)
    online_node = manifest["nodes"][online]
    assert len(online_spec.deps) == len(set(online_node["depends_on"]["nodes"]))
