"""The daily refresh end to end: real Dagster runs, real dbt, real DuckDB files, no mocks.

One small generated data set (scale 0.05, 2024-01-01..2024-02-29) and one warehouse, built in
full first (the reference). Then, through Dagster's own APIs:
- the 06:00 Asia/Shanghai schedule asks for the previous day's partition;
- re-running one day leaves every mart identical, cell for cell;
- a backfill of a month (one run over the range) after that month's intermediate rows were
  lost gives the same intermediate tables and marts as the full rebuild;
- incremental tables missing from the warehouse (a model added since) are created whole by a
  one-day run;
- the marts step of a one-day run reconciles the marts with the sales lines of the months the
  window rebuilt, and fails on a month that does not add up;
- the reference layer (seeds, reference views) is not rebuilt by a one-day run while its inputs
  are unchanged, and is when a snapshot is re-delivered or one of its relations is missing;


- a corrected distributor workbook of January, run as the sensor asks (the month's feed, then
  January's days), moves the tiered rebate of February too, as a full rebuild does;
- the file-arrival sensor requests exactly the partitions a new file touches (a re-delivered
  refund file: its day; a POS file holding an earlier day's rows: both days; a corrected
  distributor workbook: its month, then the days of the month downstream), and the run for a
  late POS file brings the earlier day's rows into the fact table (last: it leaves files that
  no run has loaded).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, build_schedule_context, build_sensor_context, instance_for_test

from orchestration.automation.partitions import RANGE_END_TAG, RANGE_START_TAG, SHANGHAI
from orchestration.datagen.generate import generate

START, END = "2024-01-01", "2024-02-29"
ENV = (
    "RAW_DIR",
    "WAREHOUSE_STATE_DIR",
    "WAREHOUSE_DB",
    "SERVING_DB",
    "DAGSTER_HOME",
    "FILE_SENSOR_SETTLE_SECONDS",
    "ALERT_WEBHOOK_URL",
    "ALERT_SLACK_WEBHOOK_URL",
    "ALERT_SMTP_HOST",
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """Generated raw data, a fully built warehouse, its marts, and a test instance."""
    saved = {name: os.environ.get(name) for name in ENV}
    root = tmp_path_factory.mktemp("daily")
    raw_dir = root / "raw"
    generate(raw_dir, scale=0.05, start=START, end=END, seed=5, progress=None)
    for name in ENV:
        os.environ.pop(name, None)
    os.environ.update(
        {
            "RAW_DIR": str(raw_dir),
            "WAREHOUSE_STATE_DIR": str(root / "state"),
            "FILE_SENSOR_SETTLE_SECONDS": "0",
        }
    )
    from orchestration.pipeline import run_pipeline

    with instance_for_test() as instance:
        assert run_pipeline(progress=lambda _: None, instance=instance, mode="full")
        database = root / "state" / "warehouse.duckdb"
        yield {
            "raw_dir": raw_dir,
            "db": database,
            "instance": instance,
            "marts": tables(database, "marts"),
            "intermediate": tables(database, "intermediate"),
        }
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def tables(database: Path, schema: str) -> dict[str, list[tuple]]:
    """Every row of every table of the schema, sorted (cell-for-cell comparison)."""
    with duckdb.connect(str(database), read_only=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                "AND table_type = 'BASE TABLE' ORDER BY 1",
                [schema],
            ).fetchall()
        ]
        # _loaded_at changes when a file is re-loaded; everything else must be equal
        return {
            name: conn.execute(
                f"SELECT * EXCLUDE (_loaded_at) FROM {schema}.{name} ORDER BY ALL"
                if "_loaded_at"
                in [c[0] for c in conn.execute(f"DESCRIBE {schema}.{name}").fetchall()]
                else f"SELECT * FROM {schema}.{name} ORDER BY ALL"
            ).fetchall()
            for name in names
        }


def code_location():
    """The code location, built with this module's settings (reloaded if another test module
    imported it with other ones: resources are bound when the definitions are built)."""
    import importlib

    import orchestration.definitions as definitions
    from orchestration.settings import load_settings

    if definitions.defs.resources["duckdb"].database != str(load_settings().warehouse_db):
        definitions = importlib.reload(definitions)
    return definitions.defs


def run_daily(instance, partition_key=None, first=None, last=None, selection=None):
    job = code_location().get_job_def("daily_refresh")
    tags = {RANGE_START_TAG: first, RANGE_END_TAG: last} if first else {}
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags=tags,
        asset_selection=selection,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def assert_same(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"{name} differs"


def test_schedule_asks_for_the_previous_shanghai_day(warehouse):
    from orchestration.automation.refresh import daily_refresh_schedule

    assert daily_refresh_schedule.cron_schedule == "0 6 * * *"
    assert daily_refresh_schedule.execution_timezone == "Asia/Shanghai"
    # 06:00 in Shanghai on 11 Feb is 22:00 UTC on 10 Feb: the partition is still 10 Feb
    tick = datetime(2024, 2, 11, 6, 0, tzinfo=SHANGHAI)
    context = build_schedule_context(instance=warehouse["instance"], scheduled_execution_time=tick)
    requests = daily_refresh_schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2024-02-10"]


def test_rerunning_a_day_leaves_every_mart_identical(warehouse):
    started = time.perf_counter()
    result = run_daily(warehouse["instance"], partition_key="2024-02-10")
    print(f"one-day refresh: {time.perf_counter() - started:.1f} s")
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert AssetKey(["intermediate", "int_sales_lines_unioned"]) in materialized
    # a partition run leaves dbt's unit tests to full builds and CI
    commands = [
        entry.user_message
        for entry in warehouse["instance"].all_logs(result.run_id)
        if entry.user_message.startswith("Running dbt command")
    ]
    assert commands and all("--exclude-resource-type unit_test" in c for c in commands)
    # a dbt table reports its row count; a view does not (counting it would run it)
    row_counts = {
        e.asset_key: e.materialization.metadata.get("dagster/row_count")
        for e in result.get_asset_materialization_events()
    }
    assert row_counts[AssetKey(["marts", "channel_performance"])].value == len(
        warehouse["marts"]["channel_performance"]
    )
    assert row_counts[AssetKey(["intermediate", "int_sales_lines_unioned"])] is None
    assert_same(tables(warehouse["db"], "marts"), warehouse["marts"])
    assert_same(tables(warehouse["db"], "intermediate"), warehouse["intermediate"])


def test_month_backfill_in_one_run_equals_full_rebuild(warehouse):
    # lose January from every incremental model (the fact and its split are views over them)
    # and spoil a mart
    with duckdb.connect(str(warehouse["db"])) as conn:
        for name in (
            "int_online_sales_lines",
            "int_online_refund_lines",
            "int_store_sales_lines",
            "int_distributor_sales_lines",
            "int_overseas_sales_lines",
        ):
            conn.execute(
                f"DELETE FROM intermediate.{name} "
                "WHERE business_date BETWEEN '2024-01-01' AND '2024-01-31'"
            )
        conn.execute("DELETE FROM marts.channel_performance WHERE month = '2024-01-01'")
    result = run_daily(warehouse["instance"], first="2024-01-01", last="2024-01-31")
    partitions = {
        e.partition
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["intermediate", "int_sales_lines_checked"])
    }
    assert len(partitions) == 31  # one run, every day of the month
    assert_same(tables(warehouse["db"], "intermediate"), warehouse["intermediate"])
    assert_same(tables(warehouse["db"], "marts"), warehouse["marts"])


def test_a_new_incremental_model_is_complete_after_its_first_daily_run(warehouse):
    # a model added to a running warehouse (here: its tables dropped) is created by the next
    # one-day run: with the whole history, not just that day
    with duckdb.connect(str(warehouse["db"])) as conn:
        for name in ("int_channel_months_aggregated", "int_store_sales_lines"):
            conn.execute(f"DROP TABLE intermediate.{name}")
        conn.execute("DROP TABLE staging.stg_online__order_lines")
    run_daily(warehouse["instance"], partition_key="2024-02-10")
    assert_same(tables(warehouse["db"], "intermediate"), warehouse["intermediate"])
    assert_same(tables(warehouse["db"], "marts"), warehouse["marts"])


def test_marts_of_a_partition_run_are_reconciled_on_the_months_it_rebuilt(warehouse):
    # The marts step of a partition run gets the run's window too: the marts are rebuilt whole
    # from the aggregates, and their reconciliation tests read the sales lines of the months
    # that the window rebuilt (macro rebuilt_months), not the whole fact. A monthly aggregate
    # of the window's month that no longer adds up to its sales lines fails the run.
    from orchestration.dbt.assets import dbt_marts_assets

    def shift_february_aggregate(amount: str) -> None:
        with duckdb.connect(str(warehouse["db"])) as conn:
            conn.execute(
                "UPDATE intermediate.int_channel_months_aggregated "
                f"SET net_sales = net_sales + {amount} WHERE channel_month_id = ("
                "SELECT min(channel_month_id) FROM intermediate.int_channel_months_aggregated "
                "WHERE month = '2024-02-01')"
            )

    marts, instance = list(dbt_marts_assets.keys), warehouse["instance"]
    shift_february_aggregate("0.01")
    failed = (
        code_location()
        .get_job_def("daily_refresh")
        .execute_in_process(
            instance=instance,
            partition_key="2024-02-10",
            asset_selection=marts,
            raise_on_error=False,
        )
    )
    assert not failed.success
    logs = "\n".join(entry.user_message for entry in instance.all_logs(failed.run_id))
    assert "dbt window 2024-02-10..2024-02-10" in logs
    assert "assert_channel_performance_reconciles_to_sales_lines" in logs

    shift_february_aggregate("-0.01")
    run_daily(instance, partition_key="2024-02-10", selection=marts)
    assert_same(tables(warehouse["db"], "marts"), warehouse["marts"])


REFERENCE_VIEW = AssetKey(["staging", "stg_reference__products"])
REFERENCE_SEED = AssetKey(["seeds", "ref_channels"])


def _not_rebuilt(result) -> dict[AssetKey, bool]:
    """Per reference asset of the run: True if the step skipped dbt (inputs unchanged)."""
    return {
        e.asset_key: "dbt/not_rebuilt" in e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key in (REFERENCE_VIEW, REFERENCE_SEED)
    }


def test_reference_layer_is_rebuilt_only_when_its_inputs_change(warehouse):
    instance, products = warehouse["instance"], warehouse["raw_dir"] / "reference" / "products.csv"
    # nothing changed since the last build of the layer: no dbt process for it
    unchanged = run_daily(instance, partition_key="2024-02-11")
    assert _not_rebuilt(unchanged) == {REFERENCE_VIEW: True, REFERENCE_SEED: True}
    assert not [
        e for e in unchanged.get_asset_check_evaluations() if e.asset_key == REFERENCE_VIEW
    ]  # its dbt tests passed on these inputs

    # a new snapshot (same rows, another order: another file) is loaded, so the layer is
    # rebuilt and its tests run again
    header, *rows = products.read_text(encoding="utf-8").splitlines()
    products.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")
    reloaded = run_daily(instance, partition_key="2024-02-11")
    assert _not_rebuilt(reloaded) == {REFERENCE_VIEW: False, REFERENCE_SEED: False}
    assert [e for e in reloaded.get_asset_check_evaluations() if e.asset_key == REFERENCE_VIEW]

    # a relation of the layer gone from the warehouse: rebuilt, whatever the fingerprint says
    with duckdb.connect(str(warehouse["db"])) as conn:
        conn.execute("DROP VIEW staging.stg_reference__products")
    restored = run_daily(instance, partition_key="2024-02-11")
    assert _not_rebuilt(restored)[REFERENCE_VIEW] is False
    with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM staging.stg_reference__products").fetchone()[0]
    assert_same(tables(warehouse["db"], "marts"), warehouse["marts"])


def test_corrected_workbook_moves_the_rebates_of_later_months_of_its_year(warehouse):
    # A corrected January workbook takes its distributor over the tiered-rebate threshold
    # (5,000,000 CNY a year): 5% of the year accrues from January on, so the extra rebate of
    # February moves too, although no February file changed. The runs the sensor asks for (the
    # month's feed, then January's days) rebuild the rebates from January to the end of the
    # year (int_distributor_rebates_allocated, window_grain rest_of_year): the intermediate
    # tables and marts are those of a full rebuild.
    from orchestration.pipeline import run_pipeline

    raw_dir: Path = warehouse["raw_dir"]
    distributor = next(
        path.name.split("_")[0]
        for path in sorted((raw_dir / "distributor" / "202401").glob("*.xlsx"))
        if (raw_dir / "distributor" / "202402" / path.name.replace("202401", "202402")).exists()
    )

    def february_extra_rebates() -> list[tuple]:
        with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
            return conn.execute(
                "SELECT sales_line_id, rebates FROM intermediate.int_distributor_rebates_allocated "
                "WHERE line_type = 'extra_rebate' AND month = '2024-02-01' AND distributor_id = ? "
                "ORDER BY ALL",
                [distributor],
            ).fetchall()

    before = february_extra_rebates()
    _correct_first_goods_line(
        raw_dir / "distributor" / "202401" / f"{distributor}_202401.xlsx", at_least=6_000_000
    )
    monthly = code_location().get_job_def("distributor_monthly")
    assert monthly.execute_in_process(
        instance=warehouse["instance"],
        partition_key="2024-01-01",
        asset_selection=[AssetKey(["raw", "distributor_sell_in"])],
        raise_on_error=False,
    ).success
    run_daily(warehouse["instance"], first="2024-01-01", last="2024-01-31")
    after = february_extra_rebates()
    assert after and after != before
    windowed = {schema: tables(warehouse["db"], schema) for schema in ("intermediate", "marts")}

    assert run_pipeline(progress=lambda _: None, instance=warehouse["instance"], mode="full")
    assert_same(windowed["intermediate"], tables(warehouse["db"], "intermediate"))
    assert_same(windowed["marts"], tables(warehouse["db"], "marts"))


def _correct_first_goods_line(workbook: Path, at_least: float) -> None:
    """The workbook corrected in place: its first goods line now invoices at least `at_least`
    CNY (more units at the same price and discount), and its total row agrees."""
    import math

    import openpyxl

    book = openpyxl.load_workbook(workbook)
    rows = list(book["进货明细"].iter_rows())
    header = next(i for i, row in enumerate(rows) if row[0].value == "日期")
    goods = next(
        row for row in rows[header + 1 :] if isinstance(row[4].value, int) and row[4].value > 0
    )
    total = next(row for row in rows[header + 1 :] if row[0].value == "合计")
    net_unit_price = goods[5].value * (1 - goods[6].value)  # 标准单价 x (1 - 折扣率)
    quantity = math.ceil(at_least / net_unit_price)
    amount = round(quantity * net_unit_price, 2)
    total[4].value += quantity - goods[4].value  # 数量
    total[7].value = round(total[7].value + amount - goods[7].value, 2)  # 进货金额
    goods[4].value, goods[7].value = quantity, amount
    book.save(workbook)


def _sensor_tick(sensor, warehouse, cursor):
    context = build_sensor_context(
        instance=warehouse["instance"], cursor=cursor, definitions=code_location()
    )
    data = sensor.evaluate_tick(context)
    return data.run_requests or [], data.cursor


def test_file_sensor_requests_exactly_the_touched_partitions(warehouse):
    from orchestration.automation.refresh import build_raw_file_sensor, requested_partitions

    raw_dir: Path = warehouse["raw_dir"]
    sensor = build_raw_file_sensor(raw_dir=raw_dir)
    requests, cursor = _sensor_tick(sensor, warehouse, None)
    assert requests == []  # the first tick only sets where it starts
    time.sleep(0.05)

    # a re-delivered refund file: its own day, refunds and what is downstream of them only
    refunds = sorted((raw_dir / "online" / "tmall").glob("tmall_refunds_2024020*.jsonl"))[0]
    shutil.copyfile(refunds, refunds.with_name(refunds.stem + "_resend.jsonl"))
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert [requested_partitions(r) for r in requests] == [
        [f"{refunds.stem[-8:-4]}-{refunds.stem[-4:-2]}-{refunds.stem[-2:]}"]
    ]
    selected = set(requests[0].asset_selection)
    assert AssetKey(["raw", "online_refunds"]) in selected
    assert AssetKey(["marts", "channel_performance"]) in selected
    assert AssetKey(["raw", "store_pos_lines"]) not in selected

    # nothing new: nothing requested
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert requests == []

    # a late POS file of 15 Feb carrying receipts of 12 Feb: both days, as two runs
    source = raw_dir / "store" / "pos_20240212.csv"
    lines = source.read_bytes().decode("gb18030").splitlines(keepends=True)
    late_rows = [_new_receipt(line) for line in lines[1:6]]
    late = raw_dir / "store" / "pos_20240215_late.csv"
    late.write_bytes((lines[0] + "".join(late_rows)).encode("gb18030"))
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert sorted(p for r in requests for p in requested_partitions(r)) == [
        "2024-02-12",
        "2024-02-15",
    ]
    assert len(requests) == 2

    # the run of 15 Feb loads the late file and rebuilds 12 Feb too
    request = next(r for r in requests if r.partition_key == "2024-02-15")
    run_daily(
        warehouse["instance"], partition_key="2024-02-15", selection=list(request.asset_selection)
    )
    with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
        dates = conn.execute(
            "SELECT DISTINCT business_date FROM intermediate.int_sales_lines_unioned "
            "WHERE _source_file = 'store/pos_20240215_late.csv'"
        ).fetchall()
    assert [str(d[0]) for d in dates] == ["2024-02-12"]

    # a corrected distributor workbook: its month, then that month's days downstream
    workbook = sorted((raw_dir / "distributor" / "202401").glob("*.xlsx"))[0]
    workbook.write_bytes(workbook.read_bytes())
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert [
        (r.job_name, requested_partitions(r)[0], len(requested_partitions(r))) for r in requests
    ] == [("distributor_monthly", "2024-01-01", 1), ("daily_refresh", "2024-01-01", 31)]
    assert list(requests[0].asset_selection) == [AssetKey(["raw", "distributor_sell_in"])]
    assert AssetKey(["raw", "distributor_sell_in"]) not in set(requests[1].asset_selection)


def _new_receipt(line: str) -> str:
    """The same POS line under a new receipt number (a sale the earlier file did not have)."""
    fields = line.split(",")
    fields[1] = "LATE" + fields[1]
    return ",".join(fields)
