"""`warehouse run` on a few months of generated data, checked from the outside.

The marts are compared with an independent computation from the raw files (DuckDB SQL and
openpyxl written here, not the project's loaders or models), to the cent; the defect
manifest is checked against quarantine and rejections; a re-run changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import openpyxl
import pytest
from conftest import BuiltWarehouse, build_warehouse

SMALL = {"scale": 0.2, "start": "2023-12-01", "end": "2024-02-29", "seed": 5}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    return build_warehouse(tmp_path_factory.mktemp("e2e"), **SMALL)


@pytest.fixture(scope="module")
def independent(built: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """(channel_group, month) -> (gross, net) computed straight from the raw files."""
    work = tmp_path_factory.mktemp("independent")
    connection = duckdb.connect()
    raw = built.raw_dir
    connection.execute(f"""
        CREATE TABLE products AS SELECT * FROM read_csv('{raw}/reference/products.csv',
            types={{'list_price': 'DECIMAL(18,2)', 'unit_cost': 'DECIMAL(18,2)'}});
        CREATE TABLE stores AS SELECT * FROM read_csv('{raw}/reference/stores.csv');
        CREATE TABLE fx AS SELECT rate_date, currency, cny_per_unit::DECIMAL(18,10) AS rate
            FROM read_csv('{raw}/reference/fx_rates.csv', all_varchar=true);
    """)
    totals: dict[tuple[str, str], list] = {}
    for group, rows in (
        ("online", _online(connection, raw)),
        ("store", _store(connection, raw, work)),
        ("distributor", _distributor(raw)),
        ("overseas", _overseas(connection, raw)),
    ):
        for month, gross, net in rows:
            totals[(group, str(month)[:7])] = [round(float(gross), 2), round(float(net), 2)]
    return totals


def _online(connection: duckdb.DuckDBPyConnection, raw: Path) -> list[tuple]:
    return connection.execute(f"""
        WITH orders AS (
            SELECT DISTINCT ON (order_id) *
            FROM read_json('{raw}/online/*/*_orders_*.jsonl', format='newline_delimited',
                           ignore_errors=true, columns={{order_id: 'VARCHAR', status: 'VARCHAR',
                           created_at: 'VARCHAR', coupon_amount: 'DECIMAL(18,2)',
                           platform_subsidy: 'DECIMAL(18,2)',
                           lines: 'STRUCT(line_no INT, sku VARCHAR, quantity VARCHAR,
                                          unit_price DECIMAL(18,2),
                                          promo_discount DECIMAL(18,2))[]'}})
            WHERE status = 'completed'
        ),
        lines AS (
            SELECT order_id, left(created_at, 7) AS month, unnest(lines, recursive := true)
            FROM orders
        ),
        valid_orders AS (  -- every line a known SKU with a whole quantity
            SELECT order_id FROM lines
            GROUP BY order_id
            HAVING bool_and(sku IN (SELECT sku FROM products)
                            AND try_cast(quantity AS INTEGER) IS NOT NULL)
        ),
        sales AS (
            SELECT l.month, sum(quantity::INTEGER * unit_price) AS gross,
                   sum(promo_discount) AS promo
            FROM lines l JOIN valid_orders USING (order_id) GROUP BY 1
        ),
        order_discounts AS (
            SELECT left(created_at, 7) AS month, sum(coupon_amount + platform_subsidy) AS d
            FROM orders JOIN valid_orders USING (order_id) GROUP BY 1
        ),
        refunds AS (
            SELECT DISTINCT ON (refund_id) *
            FROM read_json('{raw}/online/*/*_refunds_*.jsonl', format='newline_delimited',
                           columns={{refund_id: 'VARCHAR', order_id: 'VARCHAR',
                                     refund_amount: 'DECIMAL(18,2)', refunded_at: 'VARCHAR'}})
        ),
        returns AS (
            SELECT left(refunded_at, 7) AS month, sum(refund_amount) AS r
            FROM refunds JOIN valid_orders USING (order_id) GROUP BY 1
        )
        SELECT month, gross, gross - promo - coalesce(d, 0) - coalesce(r, 0)
        FROM sales LEFT JOIN order_discounts USING (month) LEFT JOIN returns USING (month)
    """).fetchall()


def _store(connection: duckdb.DuckDBPyConnection, raw: Path, work: Path) -> list[tuple]:
    for path in sorted((raw / "store").glob("pos_*.csv")):
        (work / path.name).write_text(path.read_bytes().decode("gb18030"), encoding="utf-8")
    return connection.execute(f"""
        WITH rows AS (
            SELECT try_cast("销售日期" AS DATE) AS day, "门店编号" AS store_id,
                   "商品编码" AS sku, try_cast("数量" AS INTEGER) AS quantity,
                   "零售价"::DECIMAL(18,2) AS price, "折扣金额"::DECIMAL(18,2) AS discount,
                   "实收金额"::DECIMAL(18,2) AS paid
            FROM read_csv('{work}/pos_*.csv', all_varchar=true, union_by_name=true)
        ),
        valid AS (
            SELECT * FROM rows
            WHERE day IS NOT NULL AND quantity IS NOT NULL
              AND store_id IN (SELECT store_id FROM stores)
              AND sku IN (SELECT sku FROM products)
        )
        SELECT strftime(day, '%Y-%m') AS month,
               sum(CASE WHEN quantity > 0 THEN quantity * price ELSE 0 END) AS gross,
               sum(CASE WHEN quantity > 0 THEN quantity * price - discount ELSE paid END)
        FROM valid GROUP BY 1
    """).fetchall()


def _distributor(raw: Path) -> list[tuple]:
    """Sell-in reports via openpyxl; the tiered extra rebate by its YTD rule."""
    monthly: dict[str, list[float]] = {}
    invoiced: dict[tuple[str, str], float] = {}
    for path in sorted((raw / "distributor").rglob("*.xlsx")):
        rows = list(
            openpyxl.load_workbook(path, read_only=True).active.iter_rows(
                min_row=6, max_col=9, values_only=True
            )
        )[:-1]  # the last row is the total
        for row in rows:
            day, document, _sku, _name, quantity, price, _rate, amount, _note = [
                *row,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ][:9]
            month = day.strftime("%Y-%m")
            gross_net = monthly.setdefault(month, [0.0, 0.0])
            if quantity and quantity > 0:
                gross_net[0] += quantity * price
            gross_net[1] += amount  # goods and returns as invoiced, rebates negative
            if not str(document).startswith("FL"):
                key = (path.stem.split("_")[0], month)
                invoiced[key] = invoiced.get(key, 0.0) + amount
    for (distributor, month), _ in sorted(invoiced.items()):
        ytd = sum(
            v
            for (d, m), v in invoiced.items()
            if d == distributor and m[:4] == month[:4] and m <= month
        )
        previous = ytd - invoiced[(distributor, month)]
        extra = (0.05 * ytd if ytd > 5_000_000 else 0) - (
            0.05 * previous if previous > 5_000_000 else 0
        )
        monthly[month][1] -= round(extra, 2)
    return [(month, gross, net) for month, (gross, net) in monthly.items()]


def _overseas(connection: duckdb.DuckDBPyConnection, raw: Path) -> list[tuple]:
    if not list((raw / "overseas").rglob("*.csv")):
        return []
    return connection.execute(f"""
        WITH shopee AS (
            SELECT "Order Creation Date"::DATE AS day,
                   CASE split_part(filename, '/', -2) WHEN 'th' THEN 'THB' WHEN 'vn' THEN 'VND'
                        ELSE 'MYR' END AS currency,
                   "Original Price" * "Quantity" AS gross,
                   ("Original Price" - "Deal Price") * "Quantity" + "Seller Voucher"
                       + "Shopee Voucher" AS discounts,
                   "Refund Amount" AS returns
            FROM read_csv('{raw}/overseas/shopee/*/*.csv', filename=true, all_varchar=true,
                          types={{'Original Price': 'DECIMAL(18,2)', 'Deal Price': 'DECIMAL(18,2)',
                                  'Seller Voucher': 'DECIMAL(18,2)',
                                  'Shopee Voucher': 'DECIMAL(18,2)',
                                  'Refund Amount': 'DECIMAL(18,2)', 'Quantity': 'INTEGER',
                                  'Order Creation Date': 'TIMESTAMP'}})
            WHERE "Order Status" <> 'Cancelled'
        ),
        lazada AS (
            SELECT strptime(createTime, '%d %b %Y %H:%M:%S')::DATE AS day, currency,
                   unitPrice::DECIMAL(18,2) AS gross,
                   unitPrice::DECIMAL(18,2) - paidPrice::DECIMAL(18,2) AS discounts,
                   CASE WHEN status = 'returned' THEN paidPrice::DECIMAL(18,2) ELSE 0 END
                       AS returns
            FROM read_csv('{raw}/overseas/lazada/*/*.csv', all_varchar=true)
            WHERE status <> 'canceled'
        ),
        lines AS (SELECT * FROM shopee UNION ALL SELECT * FROM lazada),
        converted AS (
            SELECT day, round(gross * rate, 2) AS gross, round(discounts * rate, 2) AS d,
                   round(returns * rate, 2) AS r
            FROM lines JOIN fx ON fx.rate_date::DATE = lines.day AND fx.currency = lines.currency
        )
        SELECT strftime(day, '%Y-%m'), sum(gross), sum(gross - d - r) FROM converted GROUP BY 1
    """).fetchall()


def test_marts_agree_with_an_independent_computation_to_the_cent(
    built: BuiltWarehouse, independent: dict
) -> None:
    with duckdb.connect(str(built.serving_db), read_only=True) as connection:
        rows = connection.execute("""
            SELECT channel_group, strftime(month, '%Y-%m'), sum(gross_sales), sum(net_sales)
            FROM marts.channel_performance GROUP BY 1, 2
        """).fetchall()
    marts = {(g, m): [round(float(gross), 2), round(float(net), 2)] for g, m, gross, net in rows}
    assert set(marts) == set(independent)
    differences = {
        key: (marts[key], independent[key])
        for key in marts
        if abs(marts[key][0] - independent[key][0]) > 0.005
        or abs(marts[key][1] - independent[key][1]) > 0.005
    }
    assert not differences


def test_every_file_reconciles_read_loaded_quarantined(built: BuiltWarehouse) -> None:
    with duckdb.connect(str(built.warehouse_db), read_only=True) as connection:
        unbalanced = connection.execute("""
            SELECT _source_file FROM raw.load_log
            WHERE rows_read <> rows_loaded + rows_quarantined
        """).fetchall()
        files = connection.execute("SELECT count(DISTINCT _source_file) FROM raw.load_log")
        n_files = files.fetchone()[0]
    on_disk = sum(
        1
        for p in built.raw_dir.rglob("*")
        if p.is_file() and not p.relative_to(built.raw_dir).parts[0].startswith("_")
    )
    assert unbalanced == []
    assert n_files == on_disk


def _manifest(built: BuiltWarehouse) -> list[dict]:
    return json.loads((built.raw_dir / "_manifest" / "defects.json").read_text())["defects"]


def test_malformed_rows_are_quarantined_with_file_row_field_and_reason(
    built: BuiltWarehouse,
) -> None:
    declared = [
        (d["file"], row)
        for d in _manifest(built)
        if d["defect"] == "malformed_rows"
        for row in d["rows"]
    ]
    assert declared
    with duckdb.connect(str(built.warehouse_db), read_only=True) as connection:
        quarantined = {
            (f, r): (field, reason)
            for f, r, field, reason in connection.execute(
                "SELECT _source_file, _source_row, field, reason FROM raw.quarantine"
            ).fetchall()
        }
    for key in declared:
        assert key in quarantined, key
        field, reason = quarantined[key]
        assert field and reason


def test_unknown_references_are_rejected_with_a_reason(built: BuiltWarehouse) -> None:
    with duckdb.connect(str(built.warehouse_db), read_only=True) as connection:
        reasons = {
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT reject_reason FROM intermediate.int_sales_lines_rejected"
            ).fetchall()
        }
    assert {"unknown_sku", "unknown_store", "unknown_order"} <= reasons


def _mart_checksums(serving_db: Path) -> dict[str, tuple]:
    with duckdb.connect(str(serving_db), read_only=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'marts' AND table_name NOT LIKE 'publish%'"
            ).fetchall()
        ]
        return {
            t: connection.execute(
                f"SELECT count(*), sum(hash(t)) FROM (FROM marts.{t} {RUN_COLUMNS.get(t, '')}) AS t"
            ).fetchone()
            for t in tables
        }


# Columns that say which run last evaluated a check: a re-run re-evaluates the checks, so they
# change; every other column (status, severity, partition, failed count) must not.
RUN_COLUMNS = {"data_quality_checks": "SELECT * EXCLUDE (evaluated_at, run_id)"}


def test_rerunning_changes_no_mart(built: BuiltWarehouse) -> None:
    """A re-run loads nothing (every file is known by its sha256) and rebuilds nothing; a
    forced full rebuild of the models from the same raw rows gives the same marts."""
    before = _mart_checksums(built.serving_db)
    rerun = built.run_cli("run", "--quiet")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "dbt_models: done" in rerun.stdout  # the step ran and found nothing to build
    assert _mart_checksums(built.serving_db) == before
    rebuilt = built.run_cli("run", "--quiet", "--full-refresh")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:] + rebuilt.stderr[-3000:]
    assert "publish__serving_db: done" in rebuilt.stdout
    assert _mart_checksums(built.serving_db) == before


def test_dagster_records_every_month_the_feeds_hold(built: BuiltWarehouse, monkeypatch) -> None:
    """The build went through the code location's refresh job: Dagster's records say which
    months are materialized. The monthly workbooks: exactly the months delivered. The daily
    feeds: every month the daily files hold (a marketplace that opened later has its earlier
    months materialized empty: there was nothing to deliver); the unpartitioned assets once.
    The channel review in a run of its own job, after the refresh runs, of their publish."""
    from dagster import AssetKey, DagsterInstance

    from orchestration.automation.refresh import REFRESH_JOB
    from orchestration.automation.review import REVIEW_JOB
    from orchestration.ingest.assets import (
        DAILY_TABLES,
        MONTHLY_TABLES,
        months_with_files,
        raw_key,
    )

    daily_months = sorted({m for t in DAILY_TABLES for m in months_with_files(built.raw_dir, t)})
    assert daily_months == ["2023-12-01", "2024-01-01", "2024-02-01"]
    monkeypatch.setenv("DAGSTER_HOME", built.env["DAGSTER_HOME"])
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()  # newest first
        assert runs and {run.job_name for run in runs} == {REFRESH_JOB, REVIEW_JOB}
        # a build ends with its review, of the publish of one of its refresh runs (a test below
        # runs `warehouse run` again: each build has its review)
        review = runs[0]
        assert review.job_name == REVIEW_JOB
        published = instance.get_latest_materialization_event(AssetKey(["publish", "serving_db"]))
        assert review.tags["warehouse/publish_run"] == published.run_id
        refresh_runs = {run.run_id for run in runs if run.job_name == REFRESH_JOB}
        reviews = [run for run in runs if run.job_name == REVIEW_JOB]
        assert all(run.tags["warehouse/publish_run"] in refresh_runs for run in reviews)
        reviewed = instance.get_latest_materialization_event(
            AssetKey(["publish", "channel_review"])
        )
        assert reviewed is not None and reviewed.run_id == review.run_id
        for table in MONTHLY_TABLES:
            months = months_with_files(built.raw_dir, table)
            assert sorted(instance.get_materialized_partitions(raw_key(table))) == months
        for table in DAILY_TABLES:
            materialized = sorted(instance.get_materialized_partitions(raw_key(table)))
            assert materialized == daily_months, table
        for key in (
            AssetKey(["marts", "channel_performance"]),
            AssetKey(["publish", "serving_db"]),
        ):
            assert instance.get_latest_materialization_event(key) is not None, key
