"""The daily refresh end to end: real Dagster runs of the code location's refresh job, real dbt,
real DuckDB files, no mocks.

One small generated data set (scale 0.05, 2024-01-01..2024-02-29) whose last day's files are
held back, built in full first by the production path (orchestration.build, as `warehouse
run`), a test instance. Then, through Dagster's own APIs:
- the 06:00 Asia/Shanghai schedule asks for the month that holds the previous day, without the
  monthly workbooks;
- delivering the held-back day and running what the schedule asks rebuilds that day only (a
  dbt window of one day, no unit tests), and gives the tables of a full rebuild, cell for cell;
- running it again loads nothing and rebuilds nothing;
- a month reloaded (config `reload`) after its rows were lost downstream gives the tables of a
  full rebuild; incremental tables missing from the warehouse are created whole by it;
- a build of some models only gets the window but leaves it to the next whole build (dbt as a
  process, dagster-dbt choosing the nodes; a whole build runs dbt in the run's process);
- a model dbt fails to build fails the dbt step, naming dbt's error, keeps what dbt did build
  recorded, and keeps publish from running;
- a corrected distributor workbook of January, run as the sensor asks, moves the tiered rebate
  of February too; a re-delivered reference snapshot then rebuilds the whole project, with the
  same tables;
- the file-arrival sensor requests exactly the feeds and months a new file touches.
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

from orchestration.datagen.generate import generate
from orchestration.partitions import SHANGHAI, range_tags

START, END, HELD_BACK = "2024-01-01", "2024-02-29", "20240229"
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
ONLINE_ORDERS = AssetKey(["raw", "online_order_lines"])
DISTRIBUTOR = AssetKey(["raw", "distributor_sell_in"])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """Generated raw data (the last day held back), a fully built warehouse, its tables as a
    full build leaves them, and a test instance."""
    saved = {name: os.environ.get(name) for name in ENV}
    root = tmp_path_factory.mktemp("daily")
    raw_dir, held = root / "raw", root / "held_back"
    generate(raw_dir, scale=0.05, start=START, end=END, seed=5, progress=None)
    for path in sorted(raw_dir.rglob(f"*_{HELD_BACK}*")):
        target = held / path.relative_to(raw_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    for name in ENV:
        os.environ.pop(name, None)
    os.environ.update(
        {
            "RAW_DIR": str(raw_dir),
            "WAREHOUSE_STATE_DIR": str(root / "state"),
            "FILE_SENSOR_SETTLE_SECONDS": "0",
        }
    )
    from orchestration.build import build_warehouse

    with instance_for_test() as instance:
        assert build_warehouse(raw_dir, progress=lambda _: None, instance=instance)
        yield {
            "root": root,
            "raw_dir": raw_dir,
            "held_back": held,
            "db": root / "state" / "warehouse.duckdb",
            "instance": instance,
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


def run_refresh(instance, partition_key=None, selection=None, run_config=None, tags=None):
    from orchestration.automation.refresh import REFRESH_JOB

    job = code_location().resolve_job_def(REFRESH_JOB)
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        asset_selection=selection,
        run_config=run_config,
        tags=tags,
        raise_on_error=False,
    )


def succeeded(result):
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def logs_of(instance, result) -> str:
    return "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))


def reload_config(*tables: str) -> dict:
    return {"ops": {f"raw__{t}": {"config": {"reload": True}} for t in tables}}


def daily_selection():
    from orchestration.automation.refresh import daily_selection as selection

    return selection(code_location().resolve_asset_graph())


def full_rebuild(warehouse) -> dict[str, dict]:
    """The intermediate tables and marts of a full rebuild of every model from the raw tables:
    the dbt step of the refresh job alone, with `full_refresh` (as `warehouse run
    --full-refresh` runs it; ingestion, publish and the review are not what is compared)."""
    from orchestration.dbt.assets import dbt_models

    full_refresh = {"ops": {dbt_models.op.name: {"config": {"full_refresh": True}}}}
    result = succeeded(
        run_refresh(warehouse["instance"], selection=list(dbt_models.keys), run_config=full_refresh)
    )
    assert "dbt: full build" in logs_of(warehouse["instance"], result)
    return {schema: tables(warehouse["db"], schema) for schema in ("intermediate", "marts")}


def assert_same(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"{name} differs"


def test_schedule_asks_for_the_month_of_the_previous_shanghai_day(warehouse):
    from orchestration.automation.refresh import daily_refresh_schedule

    assert daily_refresh_schedule.cron_schedule == "0 6 * * *"
    assert daily_refresh_schedule.execution_timezone == "Asia/Shanghai"
    # 06:00 in Shanghai on 1 Feb is 22:00 UTC on 31 Jan: yesterday is 31 Jan, in January
    tick = datetime(2024, 2, 1, 6, 0, tzinfo=SHANGHAI)
    context = build_schedule_context(
        instance=warehouse["instance"],
        scheduled_execution_time=tick,
        repository_def=code_location().get_repository_def(),
    )
    (request,) = daily_refresh_schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-01-01"
    assert request.run_key == "daily:2024-01-31"
    assert ONLINE_ORDERS in request.asset_selection
    assert AssetKey(["publish", "serving_db"]) in request.asset_selection
    assert DISTRIBUTOR not in request.asset_selection  # its workbook comes after the month
    # reference snapshots come at no fixed time: the file sensor loads them when they arrive
    assert AssetKey(["raw", "products"]) not in request.asset_selection
    assert AssetKey(["raw", "fx_rates"]) not in request.asset_selection


def test_a_delivered_day_is_rebuilt_alone_and_equals_a_full_rebuild(warehouse):
    instance = warehouse["instance"]
    for path in sorted(warehouse["held_back"].rglob("*.*")):
        target = warehouse["raw_dir"] / path.relative_to(warehouse["held_back"])
        shutil.copyfile(path, target)
    started = time.perf_counter()
    result = succeeded(run_refresh(instance, "2024-02-01", daily_selection()))
    print(f"one-day refresh: {time.perf_counter() - started:.1f} s")
    logs = logs_of(instance, result)
    assert "dbt window 2024-02-29..2024-02-29" in logs, logs
    commands = [line for line in logs.splitlines() if line.startswith("dbt command:")]
    assert commands and all("--exclude-resource-type unit_test" in c for c in commands)
    assert all("--exclude test_type:generic" in c for c in commands)
    # a dbt table reports its row count; a view does not (counting it would run it)
    row_counts = {
        e.asset_key: e.materialization.metadata.get("dagster/row_count")
        for e in result.get_asset_materialization_events()
    }
    # the models of reference data stay as the full build made them; the dimensions the
    # publish step reads are rebuilt, and the publish ran
    from orchestration.dbt.assets import REFERENCE_ONLY_SELECTORS
    from orchestration.publish.assets import PUBLISH_ASSET_KEY

    assert all(" ".join(REFERENCE_ONLY_SELECTORS) in c for c in commands)
    for left_alone in (["seeds", "ref_cities"], ["staging", "stg_reference__stores"]):
        assert AssetKey(left_alone) not in row_counts
    assert AssetKey(["intermediate", "int_stores_located"]) not in row_counts
    assert {AssetKey(["marts", "dim_store"]), PUBLISH_ASSET_KEY} <= set(row_counts)
    assert row_counts[AssetKey(["marts", "channel_performance"])].value > 0
    assert row_counts[AssetKey(["intermediate", "int_sales_lines_unioned"])] is None
    windowed = {schema: tables(warehouse["db"], schema) for schema in ("intermediate", "marts")}
    rebuilt = full_rebuild(warehouse)
    assert_same(windowed["intermediate"], rebuilt["intermediate"])
    assert_same(windowed["marts"], rebuilt["marts"])
    warehouse["reference"] = rebuilt


def test_rerunning_a_day_rebuilds_nothing(warehouse):
    instance = warehouse["instance"]
    result = succeeded(run_refresh(instance, "2024-02-01", daily_selection()))
    assert "dbt: nothing to build" in logs_of(instance, result)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert ONLINE_ORDERS in materialized  # the month was looked at: its files are all known
    assert AssetKey(["marts", "channel_performance"]) not in materialized
    assert_same(tables(warehouse["db"], "marts"), warehouse["reference"]["marts"])


def test_a_reloaded_month_after_lost_rows_equals_a_full_rebuild(warehouse):
    # lose January from every incremental channel model, spoil a mart, and drop tables as if
    # their models were added since: a reload of January's files rebuilds its window and
    # creates the missing incremental tables whole
    with duckdb.connect(str(warehouse["db"])) as conn:
        for name in (
            "int_online_sales_lines",
            "int_online_refund_lines",
            "int_store_sales_lines",
            "int_overseas_sales_lines",
        ):
            conn.execute(
                f"DELETE FROM intermediate.{name} "
                "WHERE business_date BETWEEN '2024-01-01' AND '2024-01-31'"
            )
        conn.execute("DELETE FROM marts.channel_performance WHERE month = '2024-01-01'")
        conn.execute("DROP TABLE intermediate.int_channel_months_aggregated")
        conn.execute("DROP TABLE staging.stg_online__superseded_order_lines")
    daily_feeds = ("online_order_lines", "online_refunds", "store_pos_lines")
    overseas = ("shopee_orders", "lazada_orders")
    result = succeeded(
        run_refresh(
            warehouse["instance"],
            "2024-01-01",
            daily_selection(),
            run_config=reload_config(*daily_feeds, *overseas),
        )
    )
    assert "dbt window 2024-01-" in logs_of(warehouse["instance"], result)
    assert_same(tables(warehouse["db"], "intermediate"), warehouse["reference"]["intermediate"])
    assert_same(tables(warehouse["db"], "marts"), warehouse["reference"]["marts"])


def test_a_build_of_some_models_leaves_the_window_to_the_next_whole_build(warehouse):
    # February's online files are reloaded by a run of that feed alone (no dbt), then the
    # marts alone are built: they get February's window, but the models they read were not
    # rebuilt, so the build is not recorded and the next build of the whole project rebuilds
    # February again.
    from orchestration.dbt.assets import dbt_models

    instance = warehouse["instance"]
    marts = [key for key in dbt_models.keys if key.path[0] == "marts"]
    succeeded(
        run_refresh(
            instance, "2024-02-01", [ONLINE_ORDERS], run_config=reload_config("online_order_lines")
        )
    )
    subset = logs_of(instance, succeeded(run_refresh(instance, selection=marts)))
    assert "dbt window 2024-02-01..2024-02-29" in subset
    assert "a subset of the models was built; the build is not recorded" in subset
    # dagster-dbt's process route computes a subset's selection; a whole build runs in-process
    assert "(as a process)" in subset and "(in the run's process)" not in subset
    whole = logs_of(instance, succeeded(run_refresh(instance, "2024-02-01", daily_selection())))
    assert "dbt window 2024-02-01..2024-02-29" in whole
    assert "(in the run's process)" in whole
    assert_same(tables(warehouse["db"], "marts"), warehouse["reference"]["marts"])


def test_a_failed_model_fails_the_dbt_step_by_name_and_keeps_what_dbt_built(
    warehouse, tmp_path, monkeypatch
):
    # On a copy of the warehouse (and a fresh instance), a raw column the refunds' staging
    # model reads is renamed: a full build in the run's process fails that model and skips
    # what reads it; the step fails naming dbt's error, the models dbt did build are recorded,
    # and publish does not run.
    from orchestration.dbt.assets import dbt_models
    from orchestration.publish.assets import PUBLISH_ASSET_KEY

    state = tmp_path / "state"
    shutil.copytree(warehouse["root"] / "state", state)
    monkeypatch.setenv("WAREHOUSE_STATE_DIR", str(state))
    with duckdb.connect(str(state / "warehouse.duckdb")) as conn:
        conn.execute("ALTER TABLE raw.online_refunds RENAME COLUMN refund_amount TO amount")
    full_refresh = {"ops": {dbt_models.op.name: {"config": {"full_refresh": True}}}}
    with instance_for_test() as instance:
        result = run_refresh(
            instance, selection=[*dbt_models.keys, PUBLISH_ASSET_KEY], run_config=full_refresh
        )
        logs = logs_of(instance, result)
    assert not result.success
    assert "(in the run's process)" in logs
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == dbt_models.op.name
    message = str(failure.event_specific_data.error.message)
    assert "stg_online__refunds" in message and "refund_amount" in message, message
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert AssetKey(["staging", "stg_store__pos_lines"]) in materialized
    assert AssetKey(["staging", "stg_online__refunds"]) not in materialized
    assert AssetKey(["marts", "channel_performance"]) not in materialized  # reads the refunds
    assert PUBLISH_ASSET_KEY not in materialized


def test_corrected_workbook_moves_the_rebates_of_later_months_of_its_year(warehouse):
    # A corrected January workbook takes its distributor over the tiered-rebate threshold
    # (5,000,000 CNY a year): 5% of the year accrues from January on, so the extra rebate of
    # February moves too, although no February file changed. The run the sensor asks for (the
    # month's workbooks and everything downstream) rebuilds the rebates from January to the end
    # of the year (int_distributor_rebates_allocated, window_grain rest_of_year): the
    # intermediate tables and marts are those of a full rebuild.
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
    from orchestration.automation.refresh import Touched, run_requests_for

    touched = Touched()
    touched.add("distributor_sell_in", "2024-01-01")
    (request,) = run_requests_for(touched, code_location().resolve_asset_graph(), "t")
    result = succeeded(
        run_refresh(warehouse["instance"], request.partition_key, request.asset_selection)
    )
    assert "dbt window 2024-01-" in logs_of(warehouse["instance"], result)
    after = february_extra_rebates()
    assert after and after != before
    windowed = {schema: tables(warehouse["db"], schema) for schema in ("intermediate", "marts")}

    # a re-delivered reference snapshot (same rows, another order: another file) is loaded by
    # the file sensor's run, so every model that reads it is rebuilt: the whole project, the
    # same as the window build
    products = raw_dir / "reference" / "products.csv"
    header, *rows = products.read_text(encoding="utf-8").splitlines()
    products.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")
    snapshot = Touched()
    snapshot.reference_tables.add("products")
    (request,) = run_requests_for(snapshot, code_location().resolve_asset_graph(), "t")
    rebuilt = succeeded(run_refresh(warehouse["instance"], None, request.asset_selection))
    logs = logs_of(warehouse["instance"], rebuilt)
    assert "dbt: full build (reference snapshot(s) loaded since: products)" in logs
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


def test_file_sensor_requests_exactly_the_touched_feeds_and_months(warehouse):
    from orchestration.automation.refresh import build_raw_file_sensor, requested_partitions

    raw_dir: Path = warehouse["raw_dir"]
    sensor = build_raw_file_sensor(raw_dir=raw_dir)
    requests, cursor = _sensor_tick(sensor, warehouse, None)
    assert requests == []  # the first tick only sets where it starts
    time.sleep(0.05)

    # a re-delivered refund file: its month, refunds and what is downstream of them only
    refunds = sorted((raw_dir / "online" / "tmall").glob("tmall_refunds_2024020*.jsonl"))[0]
    shutil.copyfile(refunds, refunds.with_name(refunds.stem + "_resend.jsonl"))
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert [requested_partitions(r) for r in requests] == [["2024-02-01"]]
    selected = set(requests[0].asset_selection)
    assert AssetKey(["raw", "online_refunds"]) in selected
    assert AssetKey(["marts", "channel_performance"]) in selected
    assert AssetKey(["raw", "store_pos_lines"]) not in selected

    # nothing new: nothing requested
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert requests == []

    # a late POS file of 1 Feb carrying receipts of 30 Jan: both months, in one run
    source = raw_dir / "store" / "pos_20240130.csv"
    lines = source.read_bytes().decode("gb18030").splitlines(keepends=True)
    late = raw_dir / "store" / "pos_20240201_late.csv"
    late.write_bytes(
        (lines[0] + "".join(_new_receipt(line) for line in lines[1:6])).encode("gb18030")
    )
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert [requested_partitions(r) for r in requests] == [["2024-01-01", "2024-02-01"]]
    assert (
        requests[0].tags.items()
        >= {
            "warehouse/trigger": "new files",
            **range_tags("2024-01-01", "2024-02-01"),
        }.items()
    )

    # the run loads the late file and brings its rows into the fact on their own date
    succeeded(
        run_refresh(
            warehouse["instance"],
            selection=list(requests[0].asset_selection),
            tags=range_tags("2024-01-01", "2024-02-01"),
        )
    )
    with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
        dates = conn.execute(
            "SELECT DISTINCT business_date FROM intermediate.int_sales_lines_unioned "
            "WHERE _source_file = 'store/pos_20240201_late.csv'"
        ).fetchall()
    assert [str(d[0]) for d in dates] == ["2024-01-30"]

    # a corrected distributor workbook: its month, the workbooks and what is downstream
    workbook = sorted((raw_dir / "distributor" / "202401").glob("*.xlsx"))[0]
    workbook.write_bytes(workbook.read_bytes())
    requests, cursor = _sensor_tick(sensor, warehouse, cursor)
    assert [requested_partitions(r) for r in requests] == [["2024-01-01"]]
    selected = set(requests[0].asset_selection)
    assert DISTRIBUTOR in selected and AssetKey(["publish", "serving_db"]) in selected
    assert ONLINE_ORDERS not in selected


def _new_receipt(line: str) -> str:
    """The same POS line under a new receipt number (a sale the earlier file did not have)."""
    fields = line.split(",")
    fields[1] = "LATE" + fields[1]
    return ",".join(fields)
