"""GX validation on real DuckDB files (orchestration.quality.runner), no mocks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.quality.runner import PartitionFilter, validate_table
from orchestration.quality.suites import parse_suite

ROWS = """
    CREATE SCHEMA raw;
    CREATE TABLE raw.orders AS
    SELECT i AS order_id,
           'o' || i AS order_ref,
           (DATE '2024-01-01' + (i % 3)::INT) AS order_date,
           CAST(10 * i AS DECIMAL(18, 2)) AS amount,
           CASE WHEN i % 2 = 0 THEN 'tmall' ELSE 'jd' END AS channel
    FROM range(1, 31) r(i);
"""

LOCAL_DATE = "cast(timezone('Asia/Shanghai', created_at) as date)"


def suite(expectations, **extra):
    data = {
        "asset": ["raw", "orders"],
        "table": "raw.orders",
        "severity": "error",
        "partition_column": "order_date",
        "expectations": expectations,
        **extra,
    }
    return parse_suite(data, Path("test_suite.yml"))


GOOD_SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "channel", "value_set": ["tmall", "jd"]},
    },
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 1000}},
]


@pytest.fixture()
def db(tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(ROWS)
    return path


def add_bad_rows(db: Path, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


def test_known_good_table_passes(db):
    outcome = validate_table(db, suite(GOOD_SUITE))
    assert outcome.error is None, outcome.error
    assert outcome.errors == []
    assert [e.success for e in outcome.expectations] == [True] * len(GOOD_SUITE)
    assert outcome.success and outcome.severity is None
    # ~0.3 s budget from the stack notes; generous bound for slow CI machines
    assert outcome.run_seconds < 3


def test_known_bad_rows_fail_exactly_the_expected_expectation(db):
    add_bad_rows(
        db,
        "INSERT INTO raw.orders VALUES "
        "(100, 'x', DATE '2024-01-01', 5, 'pinduoduo'),"
        "(101, 'y', DATE '2024-01-02', 6, 'pinduoduo'),"
        "(102, 'z', DATE '2024-01-02', 7, 'wechat')",
    )
    outcome = validate_table(db, suite(GOOD_SUITE))
    assert outcome.errors == []
    assert not outcome.success
    failed = outcome.failures
    assert [e.index for e in failed] == [2]
    (bad,) = failed
    assert bad.type == "expect_column_values_to_be_in_set"
    assert bad.column == "channel"
    assert bad.unexpected_count == 3
    assert sorted(bad.sample) == ["pinduoduo", "pinduoduo", "wechat"]
    assert outcome.severity == "error"


def test_sample_is_partial(db):
    add_bad_rows(db, "UPDATE raw.orders SET channel = 'bad' || order_id")
    outcome = validate_table(db, suite(GOOD_SUITE), sample_size=3)
    (bad,) = outcome.failures
    assert bad.unexpected_count == 30
    assert len(bad.sample) == 3


def test_missing_column_is_could_not_run_not_a_data_failure(db):
    exps = [
        *GOOD_SUITE,
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_col"}},
    ]
    outcome = validate_table(db, suite(exps))
    assert outcome.failures == []  # nothing is blamed on the data
    broken = outcome.expectations[-1]
    assert broken.could_not_run and broken.success is None
    assert "no_such_col" in broken.error
    assert len(outcome.errors) == 1 and "could not run" in outcome.errors[0]
    assert not outcome.success
    assert outcome.severity == "error"
    # the other expectations really ran
    assert all(e.success for e in outcome.expectations[:-1])


def test_missing_table_is_a_validation_error(db):
    s = parse_suite(
        {
            "asset": ["raw", "nope"],
            "table": "raw.nope",
            "severity": "warn",
            "expectations": GOOD_SUITE[:1],
        },
        Path("nope.yml"),
    )
    outcome = validate_table(db, s)
    assert outcome.error and "nope" in outcome.error
    assert not outcome.success and outcome.severity == "error"


def test_warn_override_gives_warn_severity(db):
    exps = [dict(GOOD_SUITE[2], severity="warn"), GOOD_SUITE[0]]
    add_bad_rows(db, "INSERT INTO raw.orders VALUES (100, 'x', DATE '2024-01-01', 5, 'ks')")
    outcome = validate_table(db, suite(exps))
    assert [e.index for e in outcome.failures] == [0]
    assert outcome.severity == "warn"


def test_partition_filter_restricts_to_the_partition(db):
    # A bad row in the 2024-01-02 partition only.
    add_bad_rows(db, "INSERT INTO raw.orders VALUES (100, 'x', DATE '2024-01-02', -5, 'jd')")
    s = suite(GOOD_SUITE)
    clean = validate_table(db, s, partition=PartitionFilter("order_date", value="2024-01-01"))
    assert clean.success, clean.failures
    assert clean.partition == "2024-01-01"
    dirty = validate_table(db, s, partition=PartitionFilter("order_date", value="2024-01-02"))
    (bad,) = dirty.failures
    assert bad.type == "expect_column_values_to_be_between" and bad.unexpected_count == 1
    assert [float(v) for v in bad.sample] == [-5.0]
    # table-level expectations see the partition's rows only
    count = [{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 11}}]
    by_day = validate_table(
        db, suite(count), partition=PartitionFilter("order_date", value="2024-01-02")
    )
    assert by_day.success, by_day.expectations
    window = validate_table(
        db,
        suite([{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 21}}]),
        partition=PartitionFilter("order_date", start="2024-01-01", end="2024-01-03"),
    )
    assert window.success, window.expectations


def test_unexpected_rows_expectation_reconciles_across_tables(db):
    add_bad_rows(
        db,
        """
        CREATE SCHEMA staging;
        CREATE TABLE staging.orders AS SELECT * FROM raw.orders;
        UPDATE staging.orders SET amount = amount + 1 WHERE order_id = 7;
        """,
    )
    reconcile = {
        "type": "unexpected_rows_expectation",
        "kwargs": {
            "unexpected_rows_query": """
                SELECT r.order_date, r.net, s.net
                FROM (SELECT order_date, sum(amount) AS net FROM {batch} GROUP BY 1) r
                FULL JOIN (SELECT order_date, sum(amount) AS net FROM staging.orders
                           GROUP BY 1) s USING (order_date)
                WHERE r.net IS DISTINCT FROM s.net
            """
        },
        "description": "net sales in raw and staging must agree per day",
    }
    outcome = validate_table(db, suite([reconcile]))
    (bad,) = outcome.failures
    assert bad.unexpected_count == 1
    assert bad.sample and bad.sample[0]["order_date"] == "2024-01-02"


def test_file_lock_released_for_another_process(db):
    outcome = validate_table(db, suite(GOOD_SUITE[:1]))
    assert outcome.success
    # A second process can open the file read-write right away.
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
        "c.execute('CREATE TABLE raw.lock_probe(i INT)'); c.close(); print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_file_lock_released_after_a_failed_setup_too(db):
    s = parse_suite(
        {
            "asset": ["raw", "nope"],
            "table": "raw.nope",
            "severity": "error",
            "expectations": GOOD_SUITE[:1],
        },
        Path("nope.yml"),
    )
    assert validate_table(db, s).error
    proc = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_shares_the_instance_with_an_open_connection_of_the_same_config(db):
    config = {"custom_user_agent": "dagster", "threads": 1}
    with duckdb.connect(str(db), config=config) as held:
        held.execute("SELECT 1").fetchall()
        outcome = validate_table(db, suite(GOOD_SUITE[:1]), duckdb_config=config)
        assert outcome.success, outcome.error
        # A different config is refused by DuckDB: reported, not raised.
        other = validate_table(db, suite(GOOD_SUITE[:1]), duckdb_config={"threads": 2})
        assert other.error and "different configuration" in other.error


def test_data_docs_page_is_built(db, tmp_path):
    docs = tmp_path / "data_docs"
    store = tmp_path / "gx"
    add_bad_rows(db, "INSERT INTO raw.orders VALUES (100, 'x', DATE '2024-01-01', 5, 'ks')")
    outcome = validate_table(db, suite(GOOD_SUITE), data_docs_dir=docs, gx_store_dir=store)
    assert outcome.data_docs_error is None
    page = outcome.data_docs_path
    assert page is not None and page.is_file() and page.suffix == ".html"
    assert docs in page.parents
    assert outcome.data_docs_url.startswith("file://")
    html = page.read_text()
    assert "channel" in html
    assert (docs / "index.html").is_file()
    # a second validation keeps the first page and lists both in the index
    second = validate_table(db, suite(GOOD_SUITE), data_docs_dir=docs, gx_store_dir=store)
    assert second.data_docs_path != page and page.is_file()


def test_validation_time(db):
    s = suite(GOOD_SUITE)
    validate_table(db, s)  # warm-up (GX metric registry, SQLAlchemy dialect)
    t = time.perf_counter()
    for _ in range(3):
        validate_table(db, s)
    per_run = (time.perf_counter() - t) / 3
    print(f"validation of {len(GOOD_SUITE)} expectations: {per_run:.3f} s")
    assert per_run < 2


@pytest.mark.parametrize(
    "partition",
    [
        PartitionFilter("created_at", value="2024-01-02", expression=LOCAL_DATE),
        PartitionFilter("created_at", values=("2024-01-02",), expression=LOCAL_DATE),
        PartitionFilter("created_at", start="2024-01-02", end="2024-01-03", expression=LOCAL_DATE),
    ],
)
def test_partition_expression_keeps_every_row_of_the_local_day(db, partition):
    # UTC timestamps on both sides of Shanghai midnight (UTC+8): the column range added for
    # speed must not drop rows whose local date is the partition's but UTC date is not
    add_bad_rows(
        db,
        """
        CREATE TABLE raw.events AS SELECT * FROM (VALUES
            (1, TIMESTAMPTZ '2024-01-01 15:59:59+00'),  -- 2024-01-01 23:59:59 local: out
            (2, TIMESTAMPTZ '2024-01-01 16:00:00+00'),  -- 2024-01-02 00:00 local: in
            (3, TIMESTAMPTZ '2024-01-02 15:59:59+00'),  -- 2024-01-02 23:59:59 local: in
            (4, TIMESTAMPTZ '2024-01-02 16:00:00+00')   -- 2024-01-03 00:00 local: out
        ) AS t(event_id, created_at);
        """,
    )
    events = parse_suite(
        {
            "asset": ["raw", "events"],
            "table": "raw.events",
            "severity": "error",
            "partition_column": "created_at",
            "partition_expression": LOCAL_DATE,
            "expectations": [
                {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 2}},
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "event_id", "value_set": [2, 3]},
                },
            ],
        },
        Path("events.yml"),
    )
    outcome = validate_table(db, events, partition=partition)
    assert outcome.success, [e.to_dict() for e in outcome.expectations]


def test_partition_grain_month_validates_the_whole_months_of_the_window(db):
    # raw.orders holds 2024-01-01..03; a day of January at grain month is all of January
    s = suite(
        [{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 30}}],
        partition_grain="month",
    )
    for partition in (
        PartitionFilter("order_date", value="2024-01-02", grain="month"),
        PartitionFilter("order_date", start="2024-01-31", end="2024-02-01", grain="month"),
    ):
        outcome = validate_table(db, s, partition=partition)
        assert outcome.success, [e.to_dict() for e in outcome.expectations]
    february = validate_table(
        db,
        s,
        partition=PartitionFilter(
            "order_date", start="2024-02-01", end="2024-02-02", grain="month"
        ),
    )
    assert [e.observed_value for e in february.failures] == [0]
    # an end within a day includes that day's month; a midnight end does not
    widened = PartitionFilter("d", start="2024-01-15", end="2024-03-01 06:00:00", grain="month")
    assert widened.sql() == "\"d\" >= '2024-01-01' AND \"d\" < '2024-04-01'"
    assert PartitionFilter("d", start="2024-01-15", end="2024-03-01", grain="month").sql() == (
        "\"d\" >= '2024-01-01' AND \"d\" < '2024-03-01'"
    )
    # {window:...} stays at the partition's days, {window_months:...} takes the whole months
    day = PartitionFilter("d", value="2024-01-02", grain="month")
    assert day.condition("x") == "(x = '2024-01-02')"
    assert day.condition("x", "month") == "(x >= '2024-01-01' AND x < '2024-02-01')"
    # {window_and_N_days_before:...} starts N days before the window's first day
    assert day.condition("x", "day", 92) == "(x >= '2023-10-02' AND x < '2024-01-03')"
    week = PartitionFilter("d", start="2024-03-01", end="2024-03-08")
    assert week.condition("x", "day", 1) == "(x >= '2024-02-29' AND x < '2024-03-08')"


def test_window_placeholder_filters_other_tables_to_the_partition(db):
    add_bad_rows(
        db,
        """
        CREATE SCHEMA staging;
        CREATE TABLE staging.orders AS SELECT * FROM raw.orders;
        UPDATE staging.orders SET amount = -1 WHERE order_id = 2;  -- order_date 2024-01-03
        """,
    )
    negative = [
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {
                "unexpected_rows_query": (
                    "SELECT order_id, amount FROM staging.orders"
                    " WHERE {window:order_date} AND amount < 0"
                )
            },
        }
    ]
    s = suite(negative)
    clean = validate_table(db, s, partition=PartitionFilter("order_date", value="2024-01-02"))
    assert clean.success, clean.expectations
    dirty = validate_table(db, s, partition=PartitionFilter("order_date", value="2024-01-03"))
    (bad,) = dirty.failures
    assert bad.unexpected_count == 1 and bad.sample == [{"order_id": 2, "amount": "-1.00"}]
    # the query as run (and shown) holds the window, not the placeholder
    assert "{window" not in bad.kwargs["unexpected_rows_query"]
    assert "order_date = '2024-01-03'" in bad.kwargs["unexpected_rows_query"]
    whole_table = validate_table(db, s)
    assert [e.unexpected_count for e in whole_table.failures] == [1]


def test_unexpected_rows_query_runs_once_and_a_failure_still_has_its_sample(db):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def log(conn, cursor, statement, *args):
        statements.append(statement)

    marker = "gx_runs_me_once"
    query = f"SELECT order_id, '{marker}' AS m FROM {{batch}} WHERE amount > 250"
    s = suite([{"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": query}}])
    event.listen(Engine, "before_cursor_execute", log)
    try:
        outcome = validate_table(db, s)
    finally:
        event.remove(Engine, "before_cursor_execute", log)
    assert [st for st in statements if marker in st] == [
        next(st for st in statements if marker in st)
    ]  # one statement: the row count
    (bad,) = outcome.failures
    assert bad.unexpected_count == 50 // 10 and len(bad.sample) == 5  # amounts 260..300
    assert {row["m"] for row in bad.sample} == {marker}


def test_data_docs_page_of_an_sql_expectation(db, tmp_path):
    s = suite(
        [
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE amount > 250"},
                "description": "no large orders",
            }
        ]
    )
    outcome = validate_table(db, s, data_docs_dir=tmp_path / "docs", gx_store_dir=tmp_path / "gx")
    assert outcome.data_docs_error is None
    assert outcome.failures and outcome.data_docs_path.is_file()
    assert "amount &gt; 250" in outcome.data_docs_path.read_text() or (
        "amount > 250" in outcome.data_docs_path.read_text()
    )
