"""The checks on what ingestion reports fail as hard as the damage: the real suites of
expectations/ run by the real GX runner on raw tables the real loaders wrote from small files."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from ingest_samples import order, pos_row, write_online_orders, write_reference, write_store_pos

from orchestration.ingest import load_feed
from orchestration.quality.runner import PartitionFilter, ValidationOutcome, validate_table
from orchestration.quality.suites import SuiteSpec, load_suite
from orchestration.settings import EXPECTATIONS_DIR

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]


def suite(layer: str, table: str) -> SuiteSpec:
    return load_suite(EXPECTATIONS_DIR / layer / f"{table}.yml")


def validate(
    db: Path, spec: SuiteSpec, day: str | None = None, rule: str | None = None
) -> ValidationOutcome:
    """The suite (or only its expectation whose meta `rule` is given) on the file `db`."""
    if rule is not None:
        chosen = tuple(e for e in spec.expectations if e.meta.get("rule") == rule)
        assert chosen, f"{spec.path} has no expectation with meta rule {rule}"
        spec = dataclasses.replace(spec, expectations=chosen)
    partition = None
    if day is not None:
        end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        partition = PartitionFilter(spec.partition_column, start=day, end=end)
    return validate_table(db, spec, partition=partition)


def failed_samples(outcome: ValidationOutcome, severity: str) -> list:
    return [row for e in outcome.failures if e.severity == severity for row in e.sample]


def failed_rules(outcome: ValidationOutcome, spec: SuiteSpec) -> dict[str, tuple[str, list]]:
    """meta rule -> (severity, sample) of the failed expectations that have one."""
    rules = {e.index: e.meta.get("rule") for e in spec.expectations}
    return {rules[e.index]: (e.severity, e.sample) for e in outcome.failures if rules[e.index]}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def conn(db: Path):
    connection = duckdb.connect(str(db))
    yield connection
    connection.close()


def test_a_quarantined_reference_row_is_an_error(conn, db, raw_dir):
    write_reference(raw_dir, "fx_rates", [["2024-01-01", "THB", "0.205"], ["x", "THB", "0.2"]])
    load_feed(conn, raw_dir, "fx_rates")
    conn.close()

    outcome = validate(db, suite("raw", "fx_rates"))

    assert outcome.severity == "error"
    assert [row["_source_row"] for row in failed_samples(outcome, "error")] == [2]


def test_an_empty_daily_file_is_an_error_in_its_days_run_only(conn, db, raw_dir):
    write_online_orders(raw_dir, [order("TM1")], day="20230101")
    (raw_dir / "online" / "tmall" / "tmall_orders_20230102.jsonl").write_bytes(b"")
    load_feed(conn, raw_dir, "online_order_lines")
    conn.close()
    spec = suite("raw", "online_order_lines")

    full, its_day, other_day = (
        validate(db, spec, day) for day in (None, "2023-01-02", "2023-01-01")
    )

    for outcome in (full, its_day):
        assert outcome.severity == "error"
        (row,) = failed_samples(outcome, "error")
        assert row["_source_file"] == "online/tmall/tmall_orders_20230102.jsonl"
        assert row["reason"] == "empty file (0 bytes)"
    assert failed_samples(other_day, "error") == []


def test_a_file_whose_records_do_not_add_up_to_its_lines_is_an_error(conn, db, raw_dir):
    path = write_store_pos(raw_dir, [pos_row(f"R{i}", 1) for i in range(1, 4)])
    text = (
        path.read_bytes().decode("gb18030").replace("R2,S0001,杭州西湖店", 'R"2,S0001,"杭州西湖店')
    )
    path.write_bytes(text.encode("gb18030"))
    write_store_pos(raw_dir, [pos_row("R1", 1)], day="20230103")
    load_feed(conn, raw_dir, "store_pos_lines")
    conn.close()

    outcome = validate(db, suite("raw", "store_pos_lines"))

    assert outcome.severity == "error"
    files = {row["_source_file"] for row in failed_samples(outcome, "error")}
    assert files == {"store/pos_20230102.csv"}


def test_a_file_matching_no_feed_pattern_is_a_warning_of_its_folders_feed(conn, db, raw_dir):
    write_online_orders(raw_dir, [order("TM1")], day="20230101")
    (raw_dir / "online" / "tmall" / "tmall_orders_2023-01-02.jsonl").write_text("{}\n")
    load_feed(conn, raw_dir, "online_order_lines")
    conn.close()

    spec = suite("raw", "online_order_lines")
    outcome = validate(db, spec)

    assert outcome.severity == "warn"  # the unknown SKU is a warning too (no products loaded)
    severity, sample = failed_rules(outcome, spec)["unrecognized_files"]
    assert severity == "warn"
    assert [row["path"] for row in sample] == ["online/tmall/tmall_orders_2023-01-02.jsonl"]


def test_every_dated_raw_suite_validates_its_partition_on_the_business_date_column():
    for table in (
        "online_order_lines", "online_refunds", "store_pos_lines", "distributor_sell_in",
        "shopee_orders", "lazada_orders",
    ):  # fmt: skip
        spec = suite("raw", table)
        assert (spec.partition_column, spec.partition_expression) == ("_business_date", None)


# --- rejected sales lines: a tolerance, then an error -----------------------------------------

FACT_COLUMNS = (
    "sales_line_id VARCHAR, business_date DATE, month DATE, channel_group VARCHAR, "
    "source_table VARCHAR, gross_sales DECIMAL(18,2), returns DECIMAL(18,2), "
    "rebates DECIMAL(18,2), reject_reason VARCHAR"
)


def _fact(db: Path, groups: list[tuple[str, str, int, str | None, int]]) -> None:
    """intermediate.int_sales_lines_checked with (channel group, source table, lines,
    reject reason, of which rejected) per group, every line of March 2024, 100 CNY gross."""
    with duckdb.connect(str(db)) as connection:
        connection.execute("CREATE SCHEMA intermediate")
        connection.execute(f"CREATE TABLE intermediate.int_sales_lines_checked ({FACT_COLUMNS})")
        for group, source, lines, reason, rejected in groups:
            connection.execute(
                """INSERT INTO intermediate.int_sales_lines_checked
                SELECT $group || '-' || i, DATE '2024-03-01' + (i % 31)::INTEGER,
                       DATE '2024-03-01', $group, $source, 100, 0, 0,
                       CASE WHEN i < $rejected THEN $reason END
                FROM range($lines) AS r(i)""",
                {"group": group, "source": source, "lines": lines, "reason": reason,
                 "rejected": rejected},
            )  # fmt: skip


def test_a_month_of_overseas_lines_without_fx_rate_is_an_error(db):
    _fact(db, [("overseas", "shopee_orders", 1000, "missing_fx_rate", 254),
               ("online", "online_order_lines", 5000, None, 0)])  # fmt: skip
    outcome = validate(db, suite("intermediate", "int_sales_lines_checked"), rule="rejected_lines")
    assert outcome.severity == "error"
    ((row,),) = [e.sample for e in outcome.failures]
    assert (row["channel_group"], row["rejected_lines"]) == ("overseas", 254)


def test_the_demo_datas_unknown_keys_stay_within_the_tolerance(db):
    # at most 3 lines per month and channel group in the demo data (0.037% of its lines)
    _fact(db, [("online", "online_refunds", 8000, "unknown_order", 3),
               ("store", "store_pos_lines", 6000, "unknown_store", 2),
               ("distributor", "distributor_sell_in", 50000, "unknown_distributor", 20),
               ("overseas", "shopee_orders", 1000, "cancelled_order", 300)])  # fmt: skip
    outcome = validate(db, suite("intermediate", "int_sales_lines_checked"), rule="rejected_lines")
    assert outcome.success, outcome.failures
