"""Reference snapshots, and the choice of files (by date, ignored `_` folders)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from conftest_ingest import assert_reconciles, count, quarantined
from ingest_samples import (
    order,
    sell_in_line,
    write_online_orders,
    write_reference,
    write_sample_raw_dir,
    write_sell_in,
)

from orchestration.ingest import file_period, list_feed_files, load_feed, load_reference
from orchestration.ingest.tables import RAW_TABLES

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]


def test_reference_snapshot_replaces_the_table(conn, raw_dir):
    write_reference(raw_dir, "fx_rates")
    first = load_reference(conn, raw_dir, "fx_rates")
    assert first.rows_loaded == 2
    assert conn.execute(
        "SELECT cny_per_unit FROM raw.fx_rates WHERE currency = 'VND'"
    ).fetchone() == (Decimal("0.0002900000"),)

    write_reference(raw_dir, "fx_rates", [["2024-01-02", "THB", "0.2060000000"], ["x", "THB", "1"]])
    second = load_reference(conn, raw_dir, "fx_rates")
    assert count(conn, "fx_rates") == 1
    assert quarantined(conn, "fx_rates") == [
        (2, "rate_date", 'cannot read "x" as a date YYYY-MM-DD')
    ]
    assert_reconciles(conn, second)


def test_every_reference_feed_loads(conn, raw_dir):
    write_sample_raw_dir(raw_dir)
    for name in ("products", "stores", "distributors", "targets", "fx_rates"):
        result = load_reference(conn, raw_dir, name)
        assert result.rows_quarantined == 0 and result.rows_loaded >= 1, name
    assert conn.execute("SELECT target_value FROM raw.targets").fetchone() == (
        Decimal("120000000.00"),
    )
    assert conn.execute("SELECT closed_on, opened_on FROM raw.stores").fetchone() == (
        None,
        date(2021, 5, 1),
    )


def test_files_are_listed_by_business_date_and_underscores_are_ignored(raw_dir):
    for day in ("20230101", "20230102", "20230201"):
        write_online_orders(raw_dir, [order("TM1")], day=day)
    write_online_orders(raw_dir, [order("JD1")], platform="jd", day="20230101")
    (raw_dir / "online" / "_old").mkdir()
    (raw_dir / "online" / "_old" / "_old_orders_20230101.jsonl").write_text("{}\n")
    write_sell_in(raw_dir, [sell_in_line()], month="202301")

    new_year = list_feed_files(raw_dir, "online_order_lines", day=date(2023, 1, 1))
    relative = [path.relative_to(raw_dir).as_posix() for path in new_year]
    assert relative == [
        "online/jd/jd_orders_20230101.jsonl",
        "online/tmall/tmall_orders_20230101.jsonl",
    ]
    assert len(list_feed_files(raw_dir, "online_order_lines", month=date(2023, 1, 1))) == 3
    assert len(list_feed_files(raw_dir, "online_order_lines")) == 4
    assert len(list_feed_files(raw_dir, "distributor_sell_in", day=date(2023, 1, 15))) == 1
    assert file_period("online_order_lines", relative[0]) == date(2023, 1, 1)
    assert file_period("distributor_sell_in", "distributor/202301/D0001_202301.xlsx") == date(
        2023, 1, 1
    )


def test_load_feed_by_name_for_every_table(conn, raw_dir):
    write_sample_raw_dir(raw_dir)
    for name in RAW_TABLES:
        result = load_feed(conn, raw_dir, name)
        assert result.files == 1 and result.rows_quarantined == 0, (name, result)
        assert_reconciles(conn, result)


def test_a_redelivered_file_with_a_suffix_is_loaded_as_its_own_file(conn, raw_dir):
    path = write_online_orders(raw_dir, [order("TM1")], day="20230813")
    path.with_name("tmall_orders_20230813_resend.jsonl").write_bytes(path.read_bytes())
    assert len(list_feed_files(raw_dir, "online_order_lines", day=date(2023, 8, 13))) == 2
    result = load_feed(conn, raw_dir, "online_order_lines")
    assert result.files == 2 and count(conn, "online_order_lines") == 2
