"""The dbt project, built for real on a small hand-written raw schema.

One `dbt build` per module (models, seeds, data tests, unit tests) on a copy of dbt_project/
in a temporary folder, against a new DuckDB file holding the rows of tests/dbt_samples.py.
The expected values below were computed by hand from those rows (see the comments there),
not read back from the models.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest

try:
    from tests import dbt_samples
except ImportError:  # tests/ is not a package: pytest puts it on sys.path itself
    import dbt_samples

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")


def _copy_project(destination: Path, cities_csv: str | None) -> Path:
    project = destination / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=IGNORED)
    if cities_csv is not None:
        (project / "seeds" / "ref_cities.csv").write_text(cities_csv, encoding="utf-8")
    return project


def _run_dbt(project: Path, db_path: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "WAREHOUSE_DB": str(db_path),
        "DUCKDB_THREADS": "2",
        "DUCKDB_MEMORY_LIMIT": "1GB",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("DBT_PROFILES_DIR", None)
    return subprocess.run(
        [
            str(DBT_EXECUTABLE),
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the whole project once; yield (db_path, run_results)."""
    work = tmp_path_factory.mktemp("dbt_build")
    project = _copy_project(work, dbt_samples.TEST_CITIES_CSV)
    db_path = work / "warehouse.duckdb"
    dbt_samples.create_raw_schema(db_path)
    result = _run_dbt(project, db_path, work, "build")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    return db_path, run_results


@pytest.fixture(scope="module")
def query(built):
    db_path, _ = built

    def _query(sql: str, *params) -> list[tuple]:
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    return _query


def _altered_copy(built, folder: Path, *statements: str) -> Path:
    """A copy of the built warehouse in `folder`, the statements run on it."""
    db_path, _ = built
    copy = folder / "warehouse.duckdb"
    shutil.copyfile(db_path, copy)
    con = duckdb.connect(str(copy))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    return copy


def _test_statuses(
    project: Path, db_path: Path, work: Path, *args: str, returncode: int
) -> dict[str, str]:
    """Run dbt (which must exit with `returncode`): the status of each test it ran, by name."""
    result = _run_dbt(project, db_path, work, *args)
    assert result.returncode == returncode, result.stdout[-4000:]
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    return {
        r["unique_id"].split(".")[2]: r["status"]
        for r in run_results["results"]
        if r["unique_id"].startswith("test.")  # not the on-run-start hook
    }


def _one(rows: list[tuple]) -> tuple:
    assert len(rows) == 1, rows
    return rows[0]


# --- the build itself ---------------------------------------------------------------------


def test_build_runs_every_node_without_error(built):
    _, run_results = built
    statuses = {}
    for result in run_results["results"]:
        statuses.setdefault(result["status"], []).append(result["unique_id"])
    assert set(statuses) <= {"success", "pass", "warn"}, statuses
    unit_tests = [r for r in run_results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 5
    assert all(r["status"] == "pass" for r in unit_tests)
    # the sample data has deliberate data issues: the warning test must report them
    warned = {uid.split(".")[-1] for uid in statuses.get("warn", [])}
    assert "assert_no_rejected_data_issues" in warned
    # ... and the reconciliation tests must have passed
    passed = {
        r["unique_id"].split(".")[-1] for r in run_results["results"] if r["status"] == "pass"
    }
    assert {
        "assert_channel_performance_reconciles_to_sales_lines",
        "assert_no_sales_line_lost",
        "assert_net_sales_equals_components",
    } <= passed


def test_models_land_in_their_schemas(query):
    schemas = dict(
        query(
            "select table_name, table_schema from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts', 'seeds')"
        )
    )
    assert schemas["stg_store__pos_lines"] == "staging"
    assert schemas["int_sales_lines_unioned"] == "intermediate"
    for mart in (
        "channel_performance",
        "regional_coverage",
        "target_attainment",
        "dim_date",
        "dim_product",
        "dim_geography",
        "dim_channel",
        "dim_store",
        "dim_distributor",
    ):
        assert schemas[mart] == "marts"
    assert schemas["ref_cities"] == "seeds"


def test_money_columns_of_marts_are_decimal(query):
    rows = query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and column_name in "
        "('gross_sales', 'net_sales', 'cogs', 'target', 'actual', 'coverage_rate')"
    )
    assert rows
    for table, column, data_type in rows:
        assert data_type.startswith("DECIMAL"), (table, column, data_type)


# --- staging: renaming, dedupe, time zones -------------------------------------------------


def test_redelivered_rows_count_once(query):
    assert (
        _one(query("select count(*) from staging.stg_online__order_lines where order_id = 'TM2'"))[
            0
        ]
        == 1
    )
    assert (
        _one(query("select count(*) from staging.stg_store__pos_lines where receipt_no = 'R3'"))[0]
        == 1
    )
    # the corrected March report of D001 replaces the first delivery
    assert query(
        "select quantity, invoiced_amount, _source_file "
        "from staging.stg_distributor__sell_in_lines "
        "where distributor_id = 'D001' and report_month = '2023-03-01'"
    ) == [(200, D("20000.00"), "distributor/202303/D001_202303_v2.xlsx")]


def test_online_business_dates_are_shanghai_dates(query):
    # created 2023-04-01 00:30 +08:00 = 2023-03-31 UTC
    assert (
        _one(
            query(
                "select distinct order_date from staging.stg_online__order_lines "
                "where order_id = 'TM1'"
            )
        )[0].isoformat()
        == "2023-04-01"
    )
    # refunded 2023-07-01 01:00 +08:00 = 2023-06-30 UTC
    assert (
        _one(query("select refund_date from staging.stg_online__refunds where refund_id = 'RF1'"))[
            0
        ].isoformat()
        == "2023-07-01"
    )


# --- intermediate: rules and rejections ----------------------------------------------------


def test_rejected_lines_with_reasons(query):
    rows = dict(
        query("select sales_line_id, reject_reason from intermediate.int_sales_lines_rejected")
    )
    assert rows == {
        "online-sale-TM3-1": "cancelled_order",
        "online-refund-RF3": "unknown_order",
        "store-S9999-R4-1": "unknown_store",
        "store-S0003-R5-1": "unknown_sku",
        "distributor-D999-2023-02-01-6": "unknown_distributor",
        "shopee-th-SP3-S1": "cancelled_order",
        "lazada-th-LZ3": "missing_fx_rate",
    }


def test_online_discount_allocation(query):
    rows = dict(
        query(
            "select sales_line_id, discounts from intermediate.int_sales_lines_unioned "
            "where order_id = 'TM1' and line_type = 'sale'"
        )
    )
    assert rows == {
        "online-sale-TM1-1": D("0.83"),
        "online-sale-TM1-2": D("58.34"),
        "online-sale-TM1-3": D("0.83"),
    }


def test_refund_booked_on_refund_date_with_order_date_cost(query):
    row = _one(
        query(
            "select business_date, channel, returns, net_sales, net_units, unit_cost, cogs "
            "from intermediate.int_sales_lines_unioned where sales_line_id = 'online-refund-RF1'"
        )
    )
    assert row[0].isoformat() == "2023-07-01"
    assert row[1:] == ("jd", D("1000.00"), D("-1000.00"), -1, D("600.00"), D("-600.00"))


def test_overseas_conversion(query):
    rows = {
        r[0]: r[1:]
        for r in query(
            "select sales_line_id, fx_rate, gross_sales, discounts, returns, net_sales "
            "from intermediate.int_sales_lines_unioned where channel_group = 'overseas'"
        )
    }
    assert rows["shopee-th-SP1-A1"] == (
        D("0.2"),
        D("2000.00"),
        D("230.00"),
        D("0.00"),
        D("1770.00"),
    )
    assert rows["shopee-th-SP2-S1"] == (D("0.21"), D("70.00"), D("0.00"), D("23.33"), D("46.67"))
    assert rows["lazada-vn-LZ2"] == (D("7.1"), D("99.40"), D("7.10"), D("92.30"), D("0.00"))


def test_tiered_extra_rebate(query):
    rows = query(
        "select month, ytd_purchases, accrued_extra_rebate, extra_rebate "
        "from intermediate.int_distributor_rebates_computed "
        "where distributor_id = 'D001' order by month"
    )
    assert [(m.isoformat(), y, a, e) for m, y, a, e in rows] == [
        ("2023-01-01", D("4500000.00"), D("0.00"), D("0.00")),
        ("2023-02-01", D("5100000.00"), D("255000.00"), D("255000.00")),
        ("2023-03-01", D("5120000.00"), D("256000.00"), D("1000.00")),
    ]


# --- marts ---------------------------------------------------------------------------------

CP_COLUMNS = (
    "gross_sales, discounts, returns, rebates, net_sales, cogs, gross_margin, "
    "gross_margin_rate, orders, units, customers, avg_order_value, share_of_group, "
    "share_of_total, yoy_growth_rate, active_stores, sales_per_store_month, "
    "active_distributors, channel_name_zh"
)


def _cp(query, month: str, channel: str) -> tuple:
    return _one(
        query(
            f"select {CP_COLUMNS} from marts.channel_performance "
            "where month = ?::date and channel = ?",
            month,
            channel,
        )
    )


def test_channel_performance_tmall_april_2023(query):
    assert _cp(query, "2023-04-01", "tmall") == (
        D("1200.00"),
        D("60.00"),
        D("100.00"),
        D("0.00"),
        D("1040.00"),
        D("640.00"),
        D("400.00"),
        D("0.384615"),  # 400 / 1040
        1,
        3,
        1,
        D("1040.00"),
        D("1.000000"),  # only online channel that month
        D("0.157815"),  # 1040 / (1040 + 5550)
        D("0.040000"),  # (1040 - 1000) / 1000 vs 2022-04
        None,
        None,
        None,
        "天猫旗舰店",
    )


def test_channel_performance_stores_april_2023(query):
    assert _cp(query, "2023-04-01", "store") == (
        D("7100.00"),
        D("600.00"),
        D("950.00"),
        D("0.00"),
        D("5550.00"),
        D("4120.00"),
        D("1430.00"),
        D("0.257658"),  # 1430 / 5550
        2,
        3,
        0,
        D("2775.00"),  # receipts R1 and R3; 5550 / 2
        D("1.000000"),
        D("0.842185"),  # 5550 / 6590
        None,  # no store sales in 2022-04
        2,
        D("3550.00"),  # 7100 / 2 store-months
        None,
        "直营门店",
    )


def test_channel_performance_distributors_february_2023(query):
    row = _cp(query, "2023-02-01", "distributor")
    # gross 700,000 + 1,000; discount 50; return 100,000; extra rebate 255,000
    assert row[:6] == (
        D("701000.00"),
        D("50.00"),
        D("100000.00"),
        D("255000.00"),
        D("345950.00"),
        D("360200.00"),
    )
    assert row[8] == 2  # invoices INV2 and INV9 (the return is not an order)
    assert row[14] == D("344.950000")  # (345,950 - 1,000) / 1,000 vs 2022-02
    assert row[15:18] == (None, None, 2)


def test_channel_performance_refund_month_has_no_orders(query):
    row = _cp(query, "2023-07-01", "jd")
    assert row[:6] == (D("0.00"), D("0.00"), D("1000.00"), D("0.00"), D("-1000.00"), D("-600.00"))
    assert row[8:12] == (0, -1, 0, None)


def test_channel_performance_overseas_january_2024(query):
    shopee = _cp(query, "2024-01-01", "shopee")
    lazada = _cp(query, "2024-01-01", "lazada")
    assert shopee[:6] == (
        D("2070.00"),
        D("230.00"),
        D("23.33"),
        D("0.00"),
        D("1816.67"),
        D("1020.00"),
    )
    assert lazada[:6] == (D("198.80"), D("14.20"), D("92.30"), D("0.00"), D("92.30"), D("20.00"))
    assert (shopee[8], lazada[8]) == (2, 1)
    assert shopee[12] == D("0.951649")  # 1816.67 / 1908.97


def test_fy2023_totals(query):
    total = _one(
        query(
            "select sum(net_sales) from marts.channel_performance "
            "where month between '2023-01-01' and '2023-12-01'"
        )
    )[0]
    assert total == D("4827840.00")  # online 2040 + store 5850 + distributor 4,819,950


REGIONAL_COLUMNS = (
    "cities_total, cities_covered, coverage_rate, blank_rate, active_stores, "
    "active_distributors, distributor_target, net_sales, store_net_sales, "
    "share_of_store_sales, region_name_zh"
)


def _rc(query, period_type: str, start: str, region: str, tier: str) -> tuple:
    return _one(
        query(
            f"select {REGIONAL_COLUMNS} from marts.regional_coverage "
            "where period_type = ? and period_start = ?::date and region = ? "
            "and city_tier = ?",
            period_type,
            start,
            region,
            tier,
        )
    )


def test_regional_coverage_fy2023(query):
    # east: 5 cities; covered: 上海 (S0001), 杭州 (S0002), 苏州 (D001)
    assert _rc(query, "year", "2023-01-01", "east", "all") == (
        5,
        3,
        D("0.600000"),
        D("0.400000"),
        2,
        1,
        25,
        D("4825590.00"),  # online 1040 + store 5550 + D001 4,819,000
        D("5550.00"),
        D("0.948718"),
        "华东",
    )  # 5550 / 5850
    # east tier 2: 宁波, 苏州 -> 苏州 covered
    assert _rc(query, "year", "2023-01-01", "east", "2")[:4] == (2, 1, D("0.500000"), D("0.500000"))
    # east tier 3: 扬州, not covered
    assert _rc(query, "year", "2023-01-01", "east", "3")[:4] == (1, 0, D("0.000000"), D("1.000000"))
    assert _rc(query, "year", "2023-01-01", "south", "all") == (
        3,
        2,
        D("0.666667"),
        D("0.333333"),
        1,
        1,
        None,
        D("2250.00"),
        D("300.00"),
        D("0.051282"),
        "华南",
    )
    # the whole company, and tier 1 across regions (上海, 广州 of 上海, 广州, 北京)
    assert _rc(query, "year", "2023-01-01", "all", "all")[:8] == (
        9,
        5,
        D("0.555556"),
        D("0.444444"),
        3,
        2,
        None,
        D("4827840.00"),
    )
    assert _rc(query, "year", "2023-01-01", "all", "1")[:2] == (3, 2)
    # a region without cities in the list has no rate
    assert _rc(query, "year", "2023-01-01", "central", "all")[:4] == (0, 0, None, None)


def test_regional_coverage_quarters_and_overseas(query):
    # 2023-Q1: only D001 (苏州) and D002 (佛山) sold
    assert _rc(query, "quarter", "2023-01-01", "east", "all")[:2] == (5, 1)
    # overseas regions appear from their launch, tier 'all' only
    assert _rc(query, "year", "2024-01-01", "th", "all")[7] == D("1816.67")
    assert _rc(query, "year", "2024-01-01", "vn", "all")[7] == D("92.30")
    assert query(
        "select count(*) from marts.regional_coverage where region = 'th' "
        "and (period_start < '2024-01-01' or city_tier <> 'all')"
    ) == [(0,)]
    assert query("select count(*) from marts.regional_coverage where region = 'my'") == [(0,)]


TA_COLUMNS = "target, actual, gap, attainment_rate, yoy_growth_rate, status, period_state"


def _ta(query, period_type, start, region="all", group="all", line="all", series="all"):
    return _one(
        query(
            f"select {TA_COLUMNS} from marts.target_attainment "
            "where period_type = ? and period_start = ?::date and region = ? "
            "and channel_group = ? and product_line = ? and series = ?",
            period_type,
            start,
            region,
            group,
            line,
            series,
        )
    )


def test_target_attainment(query):
    assert query("select count(*) from marts.target_attainment") == [(7,)]  # 8 - 1 count target
    assert _ta(query, "year", "2023-01-01") == (
        D("5000000.00"),
        D("4827840.00"),
        D("-172160.00"),
        D("0.965568"),
        None,  # the data starts 2022-02-10: FY2022 is not a full prior year
        "at_risk",
        "complete",
    )
    assert _ta(query, "quarter", "2023-04-01", "east", "store") == (
        D("6000.00"),
        D("5550.00"),
        D("-450.00"),
        D("0.925000"),
        None,
        "at_risk",
        "complete",
    )
    # running on 2024-01-15: 1908.97 against 2000 x 15 / 91 = 329.67
    assert _ta(query, "quarter", "2024-01-01", group="overseas") == (
        D("2000.00"),
        D("1908.97"),
        D("-91.03"),
        D("0.954485"),
        None,
        "met",
        "running",
    )
    assert _ta(query, "month", "2023-04-01", group="online") == (
        D("1000.00"),
        D("1040.00"),
        D("40.00"),
        D("1.040000"),
        D("0.040000"),
        "met",
        "complete",
    )
    assert _ta(query, "year", "2023-01-01", line="smartphone")[1:6] == (
        D("347791.66"),
        D("47791.66"),
        D("1.159306"),
        None,
        "met",
    )
    assert _ta(query, "year", "2023-01-01", series="A")[1:6] == (
        D("347791.66"),
        D("-352208.34"),
        D("0.496845"),
        None,
        "missed",
    )
    assert _ta(query, "month", "2024-02-01")[1:] == (
        D("0.00"),
        D("-1000.00"),
        D("0.000000"),
        None,
        None,
        "future",
    )


def test_distributor_ranking_fy2023(query):
    rows = query(
        "select distributor_id, gross_sales, gross_sales_rank, is_top10, "
        "top10_distributor_share from marts.distributor_ranking "
        "where year_start = '2023-01-01' order by gross_sales_rank"
    )
    assert rows == [
        ("D001", D("5720000.00"), 1, True, D("1.000000")),
        ("D002", D("1000.00"), 2, True, D("1.000000")),
    ]


def test_product_line_performance_fy2023(query):
    rows = dict(
        query(
            "select product_line, net_sales from marts.product_line_performance "
            "where period_type = 'year' and period_start = '2023-01-01'"
        )
    )
    # rebates are allocated to the month's goods lines: Jan standard rebate 45,000 to B1
    # (laptop), Feb extra rebate 255,000 to A1 (smartphone), Mar extra rebate 1,000 to S1
    assert rows["smartphone"] == D("347791.66")
    assert rows["laptop"] == D("4459500.00")  # store 4500 + D001 4,500,000 - 45,000
    assert "unallocated" not in rows
    assert rows["all"] == D("4827840.00")
    assert sum(v for k, v in rows.items() if k != "all") == rows["all"]


def test_rebates_allocated_to_goods_lines(query):
    rows = query(
        "select sales_line_id, line_type, sku, rebates from intermediate.int_sales_lines_unioned "
        "where line_type in ('rebate', 'extra_rebate') order by sales_line_id"
    )
    assert rows == [
        ("distributor-D001-2023-01-01-7-on-row-6", "rebate", "B1", D("45000.00")),
        ("distributor-extra-rebate-D001-2023-02-01-on-row-6", "extra_rebate", "A1", D("255000.00")),
        ("distributor-extra-rebate-D001-2023-03-01-on-row-6", "extra_rebate", "S1", D("1000.00")),
    ]


def test_dimensions(query):
    assert query("select count(*) from marts.dim_geography") == [(12,)]  # 9 cities + 3 countries
    assert query(
        "select city_code, region, city_tier from marts.dim_store where store_id = 'S0002'"
    ) == [("330100", "east", "new1")]
    assert query(
        "select region, city_code, city_tier from marts.dim_distributor "
        "where distributor_id = 'D001'"
    ) == [("east", "320500", "2")]
    assert query(
        "select current_unit_cost, price_periods from marts.dim_product where sku = 'A1'"
    ) == [(D("500.00"), 2)]
    assert query("select count(*) from marts.dim_channel") == [(9,)]


# --- the real project (real seeds, no sample data) ------------------------------------------


def test_real_seeds_load_and_pass_their_tests(tmp_path):
    """The committed seeds (ref_cities with every city) load with their types and tests."""
    project = _copy_project(tmp_path, cities_csv=None)
    db_path = tmp_path / "reference_check.duckdb"
    result = _run_dbt(
        project,
        db_path,
        tmp_path,
        "build",
        "--select",
        "resource_type:seed",
        "--indirect-selection",
        "cautious",
    )
    assert result.returncode == 0, result.stdout[-6000:]
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'seeds' and table_name = 'ref_cities'"
            ).fetchall()
        )
        regions = con.execute("select count(distinct region) from seeds.ref_cities").fetchone()
    finally:
        con.close()
    assert types["city_code"] == "VARCHAR"
    assert types["city_tier"] == "VARCHAR"
    assert regions == (7,)


# --- partition windows ---------------------------------------------------------------------

WINDOWED_TEST = "unique_stg_online__order_lines_order_line_id"
WHOLE_TABLE_TEST = "unique_stg_reference__products_product_price_id"


def _compiled_test_sql(work: Path, name: str) -> str:
    matches = list((work / "target" / "compiled").rglob(f"{name}.sql"))
    assert len(matches) == 1, matches
    return matches[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("window", [("2024-03-01", "2024-03-02"), None])
def test_generic_tests_of_daily_models_look_at_the_window_only(tmp_path, monkeypatch, window):
    # A one-day refresh must not re-test the whole history (macros/test_window.sql); the window
    # reaches dbt in the environment (orchestration/dbt/assets.py), and without one every row
    # is tested.
    monkeypatch.setenv("WAREHOUSE_WINDOW_START", window[0] if window else "")
    monkeypatch.setenv("WAREHOUSE_WINDOW_END", window[1] if window else "")
    project = _copy_project(tmp_path, None)
    result = _run_dbt(
        project,
        tmp_path / "warehouse.duckdb",
        tmp_path,
        "compile",
        "--select",
        WINDOWED_TEST,
        WHOLE_TABLE_TEST,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    windowed = _compiled_test_sql(tmp_path, WINDOWED_TEST)
    whole = _compiled_test_sql(tmp_path, WHOLE_TABLE_TEST)
    if window:
        assert "order_date >= cast('2024-03-01' as date)" in windowed
        assert "order_date <= cast('2024-03-02' as date)" in windowed
    else:
        assert "dbt_subquery" not in windowed
    assert "2024-03" not in whole and "dbt_subquery" not in whole


@pytest.mark.parametrize("lookback_days", [62, 0])
def test_refunds_of_a_window_find_their_order_lines_of_any_age(
    built, tmp_path, monkeypatch, lookback_days
):
    # An incremental build looks the refunded order lines up among the orders of the last
    # refund_lookback_days before its window first, then in the whole history for the refunds
    # not found there (macro rows_referenced_by). With 0 days, RF2's order (4 days before the
    # window) and RF3's unknown one take the second way, JD1's (in the window) the first;
    # either way the rows are those of the full build.
    copy = _altered_copy(built, tmp_path)
    refund_lines = (
        "select * from intermediate.int_online_refund_lines "
        "where business_date between '2023-04-05' and '2023-07-01' order by all"
    )

    def rows(path: Path) -> list[tuple]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute(refund_lines).fetchall()
        finally:
            con.close()

    expected = rows(copy)
    assert len(expected) == 3
    monkeypatch.setenv("WAREHOUSE_WINDOW_START", "2023-04-05")
    monkeypatch.setenv("WAREHOUSE_WINDOW_END", "2023-07-01")
    project = _copy_project(tmp_path, dbt_samples.TEST_CITIES_CSV)
    result = _run_dbt(
        project,
        copy,
        tmp_path,
        "run",
        "--select",
        "int_online_refund_lines",
        "--vars",
        f"{{refund_lookback_days: {lookback_days}}}",
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert rows(copy) == expected


RECONCILIATION_TESTS = (
    "assert_channel_performance_reconciles_to_sales_lines",
    "assert_yearly_marts_reconcile_to_sales_lines",
    "assert_dim_date_covers_business_dates",
)


@pytest.mark.parametrize(
    "window, fails",
    [
        (None, True),  # no window (a full build): every month is checked
        (("2023-04-10", "2023-04-10"), True),  # the window rebuilt April 2023
        (("2024-01-10", "2024-01-10"), False),  # it rebuilt January 2024 on: 2023 is not re-read
    ],
)
def test_mart_reconciliations_check_the_months_a_window_rebuilt(
    built, tmp_path, monkeypatch, window, fails
):
    # The marts are wrong for April 2023 against its sales lines (consistently so in their
    # own roll-ups): a cent more in channel_performance and in the product-line month and
    # years, a business date of the month gone from dim_date. The singular tests that
    # reconcile the marts with the sales lines (run with the marts) read the months that a
    # build over the window rebuilt (macro rebuilt_months), every month without a window.
    copy = _altered_copy(
        built,
        tmp_path,
        "update marts.channel_performance set net_sales = net_sales + 0.01 "
        "where month = '2023-04-01' and channel = 'tmall'",
        "update marts.product_line_performance set net_sales = net_sales + 0.01 "
        "where product_line = 'all' and ((period_type, period_start) "
        "in (('month', '2023-04-01'), ('year', '2023-01-01')))",
        "update marts.regional_coverage set net_sales = net_sales + 0.01 "
        "where period_type = 'year' and period_start = '2023-01-01' "
        "and region = 'all' and city_tier = 'all'",
        "delete from marts.dim_date where date_day = '2023-04-01'",
    )
    monkeypatch.setenv("WAREHOUSE_WINDOW_START", window[0] if window else "")
    monkeypatch.setenv("WAREHOUSE_WINDOW_END", window[1] if window else "")
    project = _copy_project(tmp_path, dbt_samples.TEST_CITIES_CSV)
    statuses = _test_statuses(
        project, copy, tmp_path, "test", "--select", *RECONCILIATION_TESTS,
        returncode=1 if fails else 0,
    )  # fmt: skip
    assert statuses == {name: "fail" if fails else "pass" for name in RECONCILIATION_TESTS}


# --- the staging keys that a full build from Dagster leaves to the channel models ----------

# (view, its key tests, the channel model built from it, the raw table under the view)
STAGING_KEY_CASES = [
    (
        "stg_online__order_lines",
        "order_line_id",
        "int_online_sales_lines",
        "online_order_lines",
    ),
    ("stg_store__pos_lines", "pos_line_id", "int_store_sales_lines", "store_pos_lines"),
]


@pytest.mark.parametrize(("view", "key", "model", "raw_table"), STAGING_KEY_CASES)
def test_a_duplicate_staging_key_fails_the_full_builds_channel_key_test(
    built, tmp_path, view, key, model, raw_table
):
    # A full build from Dagster leaves out the key tests of the big staging views
    # (FULL_BUILD_EXCLUDED): the channel model's key tests must catch what they would. A raw
    # row delivered again under the next business date is a key the dedupe keeps twice.
    from orchestration.dbt.assets import FULL_BUILD_EXCLUDED

    copy = _altered_copy(
        built,
        tmp_path,
        f"insert into raw.{raw_table} select * replace (_business_date + 1 as _business_date,"
        f" _source_file || '.again' as _source_file) from raw.{raw_table} limit 1",
    )
    project = _copy_project(tmp_path, dbt_samples.TEST_CITIES_CSV)
    view_tests = [f"unique_{view}_{key}", f"not_null_{view}_{key}"]
    assert set(view_tests) <= set(FULL_BUILD_EXCLUDED)

    built_statuses = _test_statuses(
        project, copy, tmp_path, "build", "--full-refresh", "--select", view, model,
        *FULL_BUILD_EXCLUDED, returncode=1,
    )  # fmt: skip
    assert built_statuses[f"unique_{model}_sales_line_id"] == "fail", built_statuses
    assert not set(view_tests) & set(built_statuses)
    # the duplicate is one of the view's key, which the view's own test (left out) sees too
    view_statuses = _test_statuses(
        project, copy, tmp_path, "test", "--select", *view_tests, returncode=1
    )
    assert view_statuses[f"unique_{view}_{key}"] == "fail"


# --- the checked view's key, which a full build from Dagster checks by prefix --------------


def test_a_key_both_distributor_models_hold_fails_the_full_builds_prefix_test(built, tmp_path):
    # A full build leaves out the checked view's unique test (FULL_BUILD_EXCLUDED): its
    # prefix-filtered one must catch what the channel models' own key tests cannot, a key in
    # both distributor models (tests/test_dbt_selection.py pins the prefixes)
    from orchestration.dbt.assets import FULL_BUILD_EXCLUDED

    view = "int_sales_lines_checked"
    whole, by_prefix = (
        f"unique_{view}_sales_line_id",
        f"unique_{view}_distributor_sales_line_id",
    )
    assert whole in FULL_BUILD_EXCLUDED and by_prefix not in FULL_BUILD_EXCLUDED
    goods_line = (
        "select min(sales_line_id) from intermediate.int_distributor_sales_lines"
        " where line_type <> 'rebate' and reject_reason is null"
    )
    copy = _altered_copy(
        built,
        tmp_path,
        "insert into intermediate.int_distributor_rebates_allocated select * replace"
        f" (({goods_line}) as sales_line_id) from intermediate.int_distributor_rebates_allocated"
        " limit 1",
    )
    project = _copy_project(tmp_path, dbt_samples.TEST_CITIES_CSV)
    statuses = _test_statuses(
        project, copy, tmp_path, "test", "--select", view, *FULL_BUILD_EXCLUDED, returncode=1
    )
    assert statuses[by_prefix] == "fail", statuses
    assert whole not in statuses
    # each model's own key test passes: the key is unique in each, not across them
    model_statuses = _test_statuses(
        project, copy, tmp_path, "test", "--select",
        "unique_int_distributor_sales_lines_sales_line_id",
        "unique_int_distributor_rebates_allocated_sales_line_id",
        returncode=0,
    )  # fmt: skip
    assert set(model_statuses.values()) == {"pass"}, model_statuses
    assert _test_statuses(project, copy, tmp_path, "test", "--select", whole, returncode=1) == {
        whole: "fail"
    }
