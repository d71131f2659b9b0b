"""The suite YAML format and its loader (orchestration.quality.suites)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestration.quality.suites import (
    SuiteError,
    load_suite,
    load_suites,
    validate_suites_dir,
)
from orchestration.settings import EXPECTATIONS_DIR

GOOD = {
    "asset": ["raw", "orders"],
    "table": "raw.orders",
    "severity": "error",
    "partition_column": "order_date",
    "expectations": [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "order_id"},
            "description": "orders need ids",
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "min_value": 0},
            "severity": "warn",
        },
    ],
}


def write(tmp_path: Path, data, name="s.yml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def test_good_suite_parses_with_defaults(tmp_path):
    s = load_suite(write(tmp_path, GOOD))
    assert s.asset_key == ("raw", "orders")
    assert (s.schema, s.table) == ("raw", "orders")
    assert s.blocking is True  # default for error suites
    assert s.check_name == "gx_raw_orders"
    assert [e.severity for e in s.expectations] == ["error", "warn"]
    assert s.expectations[0].column == "order_id"
    warn = load_suite(write(tmp_path, {**GOOD, "severity": "warn"}, "w.yml"))
    assert warn.blocking is False


def test_to_gx_suite_builds_gx_objects(tmp_path):
    gx_suite = load_suite(write(tmp_path, GOOD)).to_gx_suite()
    assert gx_suite.name == "raw.orders"
    assert [e.expectation_type for e in gx_suite.expectations] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
    ]
    assert gx_suite.expectations[0].notes == "orders need ids"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": "orders"}, "'table' must be 'schema.table'"),
        ({"severity": "fatal"}, "'severity' must be one of"),
        ({"asset": []}, "'asset' must be a non-empty list"),
        ({"blocking": "yes"}, "'blocking' must be true or false"),
        ({"colour": "red"}, "unknown keys ['colour']"),
        ({"expectations": []}, "'expectations' must be a non-empty list"),
        ({"partition_grain": "week"}, "'partition_grain' must be one of"),
        ({"partition_grain": "month", "partition_column": None}, "'partition_grain' must be"),
    ],
)
def test_structural_errors_name_the_file(tmp_path, change, message):
    p = write(tmp_path, {**GOOD, **change})
    with pytest.raises(SuiteError) as exc:
        load_suite(p)
    assert str(p) in str(exc.value)
    assert message in str(exc.value)


def test_expectation_errors_name_the_index(tmp_path):
    bad = {**GOOD, "expectations": [GOOD["expectations"][0], {"type": "expect_x", "kwargz": {}}]}
    with pytest.raises(SuiteError, match=r"expectation #1 \(expect_x\): unknown keys \['kwargz'\]"):
        load_suite(write(tmp_path, bad))
    bad = {
        **GOOD,
        "expectations": [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "severity": "panic",
            }
        ],
    }
    with pytest.raises(SuiteError, match=r"expectation #0 .*'severity'"):
        load_suite(write(tmp_path, bad))


def test_gx_rejects_unknown_type_and_bad_kwargs_with_index(tmp_path):
    unknown = {
        **GOOD,
        "expectations": [GOOD["expectations"][0], {"type": "expect_the_moon", "kwargs": {}}],
    }
    with pytest.raises(SuiteError, match=r"s\.yml: expectation #1 \(expect_the_moon\): GX rejects"):
        load_suite(write(tmp_path, unknown)).to_gx_suite()
    bad_kwargs = {
        **GOOD,
        "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"colum": "x"}}],
    }
    with pytest.raises(SuiteError, match=r"expectation #0 \(expect_column_values_to_be_between\)"):
        load_suite(write(tmp_path, bad_kwargs, "k.yml")).to_gx_suite()


SQL = {
    "type": "unexpected_rows_expectation",
    "kwargs": {
        "unexpected_rows_query": "SELECT * FROM staging.orders WHERE "
        "{window:s.order_date} AND amount < 0"
    },
}


def test_unexpected_rows_expectation_is_run_for_its_row_count_only(tmp_path):
    (gx_exp,) = (
        load_suite(write(tmp_path, {**GOOD, "expectations": [SQL]})).to_gx_suite().expectations
    )
    # the same query and verdict, without GX's second run of the query for rows it drops
    assert gx_exp.expectation_type == "unexpected_row_count_expectation"
    assert type(gx_exp).metric_dependencies == ("unexpected_rows_query.row_count",)
    assert gx_exp.unexpected_rows_query == SQL["kwargs"]["unexpected_rows_query"]


def test_window_placeholder_is_the_partition_window_or_true(tmp_path):
    spec = load_suite(write(tmp_path, {**GOOD, "expectations": [SQL]}))
    calls = []

    def condition(column: str, grain: str) -> str:
        calls.append((column, grain))
        return f"({column} = 'D')"

    query = spec.with_window(condition).expectations[0].kwargs["unexpected_rows_query"]
    assert query.endswith("WHERE (s.order_date = 'D') AND amount < 0")
    assert calls == [("s.order_date", "day")]
    months = {**SQL, "kwargs": {"unexpected_rows_query": "SELECT 1 WHERE {window_months:m}"}}
    spec = load_suite(write(tmp_path, {**GOOD, "expectations": [months]}))
    assert spec.with_window(condition).expectations[0].kwargs["unexpected_rows_query"] == (
        "SELECT 1 WHERE (m = 'D')"
    )
    assert calls[-1] == ("m", "month")
    lookback = {
        **SQL,
        "kwargs": {"unexpected_rows_query": "SELECT 1 WHERE {window_and_7_days_before:o}"},
    }
    lookback_spec = load_suite(write(tmp_path, {**GOOD, "expectations": [lookback]}))
    assert (
        lookback_spec.with_window(lambda column, grain, days: f"({column} {grain} {days})")
        .expectations[0]
        .kwargs["unexpected_rows_query"]
        == "SELECT 1 WHERE (o day 7)"
    )
    assert lookback_spec.with_window(None).expectations[0].kwargs["unexpected_rows_query"] == (
        "SELECT 1 WHERE (true)"
    )
    # no partition: the whole table, so every window condition is true
    assert spec.with_window(None).expectations[0].kwargs["unexpected_rows_query"] == (
        "SELECT 1 WHERE (true)"
    )
    # literal (doubled) braces are not a placeholder
    literal = {**SQL, "kwargs": {"unexpected_rows_query": "SELECT '{{window:x}}' FROM {batch}"}}
    spec = load_suite(write(tmp_path, {**GOOD, "expectations": [literal]}))
    assert spec.with_window(condition).expectations[0].kwargs == literal["kwargs"]


def test_window_placeholder_needs_a_partition_column(tmp_path):
    unpartitioned = {**GOOD, "partition_column": None, "expectations": [SQL]}
    with pytest.raises(SuiteError, match=r"expectation #0 .*'\{window:...\}' needs"):
        load_suite(write(tmp_path, unpartitioned))


def test_invalid_yaml(tmp_path):
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(write(tmp_path, "asset: [raw\n  table: :"))


def test_folder_loading_skips_underscore_folders_and_rejects_duplicates(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "_examples").mkdir()
    write(tmp_path / "raw", GOOD, "orders.yml")
    write(tmp_path / "_examples", GOOD, "orders.yml")
    assert len(load_suites(tmp_path)) == 1
    write(tmp_path / "raw", GOOD, "orders_again.yml")
    with pytest.raises(SuiteError, match="also used by"):
        load_suites(tmp_path)


def test_repository_suites_and_examples_are_valid():
    """Every suite in expectations/ (and the documented examples) builds with GX."""
    validate_suites_dir(EXPECTATIONS_DIR)
    examples = EXPECTATIONS_DIR / "_examples"
    if examples.is_dir():
        for p in sorted(examples.rglob("*.yml")):
            load_suite(p).to_gx_suite()


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        # the file, the suite (its table) and the key, in the file's words
        (
            {"kwargs": {"column": "a"}},
            "suite raw.orders: expectation #1: missing required key 'type'",
        ),
        (
            {"type": "expect_x", "kwargs": [1, 2]},
            "suite raw.orders: expectation #1 (expect_x): 'kwargs' must be a mapping",
        ),
        (
            {"type": "expect_x", "kwargs": {"result_format": "SUMMARY"}},
            "expectation #1 (expect_x): kwargs ['result_format'] are set by the runner",
        ),
        (
            {"type": "expect x", "kwargs": {}},
            "expectation #1 (expect x): 'type' must be a GX expectation name, got 'expect x'",
        ),
        ("expect_x", "suite raw.orders: expectation #1: must be a mapping"),
    ],
)
def test_expectation_errors_name_the_file_the_suite_and_the_key(tmp_path, expectation, message):
    path = write(tmp_path, {**GOOD, "expectations": [GOOD["expectations"][0], expectation]})
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert message in str(exc.value)


def test_suite_key_of_a_wrong_type_is_named_with_its_value(tmp_path):
    path = write(tmp_path, {**GOOD, "partition_column": 5})
    with pytest.raises(
        SuiteError, match=r"'partition_column': input should be a valid string, got 5"
    ):
        load_suite(path)
    path = write(tmp_path, {key: value for key, value in GOOD.items() if key != "table"})
    with pytest.raises(SuiteError, match=r"missing required key 'table'"):
        load_suite(path)
