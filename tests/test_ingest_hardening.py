"""Hostile deliveries (the "Hardening" issue): every file is read as exactly the file it is,
every physical record is counted and either loaded or quarantined with its reason, and one bad
file never stops the feed. Real files in tmp_path, the real loaders, a real DuckDB file."""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal

import duckdb
import openpyxl
import pytest
from conftest_ingest import assert_reconciles, count, quarantined
from ingest_samples import (
    REFERENCE_HEADERS,
    lazada_row,
    order,
    order_line,
    pos_row,
    refund,
    sell_in_line,
    shopee_row,
    write_marketplace,
    write_online_orders,
    write_online_refunds,
    write_reference,
    write_sell_in,
    write_store_pos,
)

from orchestration.ingest import (
    list_feed_files,
    load_distributor_sell_in,
    load_feed,
    load_online_orders,
    load_reference,
    load_store_pos,
)
from orchestration.ingest.files import FEED_LAYOUTS
from orchestration.ingest.lines import blank_line_numbers, join_lines, record_counts

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]

BOM = b"\xef\xbb\xbf"


def load_log(conn: duckdb.DuckDBPyConnection, feed: str) -> dict[str, tuple]:
    """_source_file -> (rows_read, rows_loaded, rows_quarantined, records_in_file)."""
    rows = conn.execute(
        """SELECT _source_file, rows_read, rows_loaded, rows_quarantined, records_in_file
           FROM raw.load_log WHERE feed = ? ORDER BY 1""",
        [feed],
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


# --- silent loss or wrong numbers -----------------------------------------------------------


def test_an_unbalanced_quote_costs_its_own_line_only(conn, raw_dir):
    # one stray quote used to swallow every following line into one quarantined cell
    rows = [[f"2024-01-{day:02d}", "THB", "0.2050000000"] for day in range(1, 11)]
    path = write_reference(raw_dir, "fx_rates", rows)
    text = path.read_text().replace("2024-01-03,THB,0.2050000000", '2024-01-03,THB,"0.205')
    path.write_text(text)

    result = load_reference(conn, raw_dir, "fx_rates")

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (10, 9, 1)
    ((row, field, reason),) = quarantined(conn, "fx_rates")
    assert (row, field) == (3, "<row>") and "quote" in reason
    assert conn.execute("SELECT raw_record FROM raw.quarantine").fetchone() == (
        '2024-01-03,THB,"0.205',
    )
    assert load_log(conn, "fx_rates") == {"reference/fx_rates.csv": (10, 9, 1, 10)}
    assert_reconciles(conn, result)


def test_quoting_that_joins_lines_is_caught_by_the_line_count(conn, raw_dir):
    # a quote inside an unquoted value, then a quoted value: each line has an even number of
    # quotes, yet the CSV parser reads the quoted value on over the next lines
    path = write_store_pos(raw_dir, [pos_row(f"R{i}", 1) for i in range(1, 6)])
    text = path.read_bytes().decode("gb18030")
    text = text.replace("R2,S0001,杭州西湖店", 'R"2,S0001,"杭州西湖店', 1)
    path.write_bytes(text.encode("gb18030"))

    result = load_store_pos(conn, raw_dir)

    assert result.rows_loaded == 0
    ((row, field, reason),) = quarantined(conn, "store_pos_lines")
    assert (row, field) == (0, "<file>")
    assert "5 records" in reason and "lines" in reason
    assert_reconciles(conn, result)


def test_an_empty_daily_file_is_quarantined_not_taken_as_no_sales(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1")], day="20230101")
    empty = raw_dir / "online" / "tmall" / "tmall_orders_20230102.jsonl"
    empty.write_bytes(b"")
    (raw_dir / "store").mkdir()
    (raw_dir / "store" / "pos_20230102.csv").write_bytes(b"")

    orders = load_online_orders(conn, raw_dir)
    pos = load_store_pos(conn, raw_dir)

    assert (orders.files, orders.rows_loaded, orders.rows_quarantined) == (2, 1, 1)
    assert quarantined(conn, "online_order_lines") == [(0, "<file>", "empty file (0 bytes)")]
    assert orders.files_rejected == {
        "online/tmall/tmall_orders_20230102.jsonl": "<file>: empty file (0 bytes)"
    }
    assert (pos.rows_read, pos.rows_quarantined) == (1, 1)
    assert quarantined(conn, "store_pos_lines") == [(0, "<file>", "empty file (0 bytes)")]
    assert_reconciles(conn, orders)
    assert_reconciles(conn, pos)


def test_a_jsonl_file_of_blank_lines_is_as_empty_as_a_0_byte_one(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1")], day="20230101")
    (raw_dir / "online" / "tmall" / "tmall_orders_20230102.jsonl").write_bytes(BOM + b"\n\r\n")
    result = load_online_orders(conn, raw_dir)
    assert quarantined(conn, "online_order_lines") == [
        (0, "<file>", "empty file (no record, blank lines only)")
    ]
    assert_reconciles(conn, result)


def test_a_byte_order_mark_on_jsonl_is_stripped(conn, raw_dir):
    path = write_online_orders(raw_dir, [order("TM1"), order("TM2")])
    path.write_bytes(BOM + path.read_bytes())

    result = load_online_orders(conn, raw_dir)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 2, 0)
    assert conn.execute(
        "SELECT order_id, _source_row FROM raw.online_order_lines ORDER BY 1"
    ).fetchall() == [("TM1", 1), ("TM2", 2)]


def test_file_names_with_glob_characters_are_read_as_the_files_they_are(conn, raw_dir):
    folder = raw_dir / "online" / "douyin"
    names = {
        "douyin_orders_20240112.jsonl": "DY0",
        "douyin_orders_20240112_1.jsonl": "DY1",
        "douyin_orders_20240112_[1].jsonl": "DY2",
        "douyin_orders_20240112_*.jsonl": "DY3",
        "douyin_orders_20240112_?.jsonl": "DY4",
    }
    for name, order_id in names.items():
        folder.mkdir(parents=True, exist_ok=True)
        record = order(order_id, platform="douyin", shop_id="douyin_flagship")
        (folder / name).write_text(json.dumps(record, ensure_ascii=False) + "\n")
    (raw_dir / "store").mkdir()
    write_store_pos(raw_dir, [pos_row("R1", 1)], day="20230102")
    (raw_dir / "store" / "pos_20230102.csv").rename(raw_dir / "store" / "pos_20230102_[a].csv")

    result = load_online_orders(conn, raw_dir)
    pos = load_store_pos(conn, raw_dir)

    loaded = conn.execute(
        "SELECT _source_file, order_id FROM raw.online_order_lines ORDER BY 1"
    ).fetchall()
    assert sorted(loaded) == sorted(
        (f"online/douyin/{name}", order_id) for name, order_id in names.items()
    )
    assert result.files == 5 and result.rows_loaded == 5
    assert pos.rows_loaded == 1
    assert conn.execute("SELECT DISTINCT _source_file FROM raw.store_pos_lines").fetchall() == [
        ("store/pos_20230102_[a].csv",)
    ]


def test_a_row_after_the_total_row_is_read_and_quarantined(conn, raw_dir):
    late_line = sell_in_line(单据号="INV0009", 数量=3, 进货金额=5697.15)
    write_sell_in(raw_dir, [sell_in_line()], after_total=[late_line])

    result = load_distributor_sell_in(conn, raw_dir)

    # the lines above the total still add up to it: they load; the row below is not lost
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    ((row, field, reason),) = quarantined(conn, "distributor_sell_in")
    assert (row, field) == (8, "<row>") and "after the total row" in reason
    assert load_log(conn, "distributor_sell_in")["distributor/202301/D0001_202301.xlsx"] == (
        2,
        1,
        1,
        2,
    )
    assert_reconciles(conn, result)


def test_a_jsonl_record_missing_a_key_is_quarantined_not_loaded_as_null(conn, raw_dir):
    no_shop = {k: v for k, v in order("TM2").items() if k != "shop_id"}
    line_without_discount = {k: v for k, v in order_line().items() if k != "promo_discount"}
    refund_without_reason = {k: v for k, v in refund("RF2").items() if k != "reason"}
    write_online_orders(
        raw_dir, [order("TM1"), no_shop, order("TM3", [order_line(1), line_without_discount])]
    )
    write_online_refunds(raw_dir, [refund("RF1"), refund_without_reason])

    orders = load_online_orders(conn, raw_dir)
    refunds = load_feed(conn, raw_dir, "online_refunds")

    assert quarantined(conn, "online_order_lines") == [
        (2, "shop_id", "key missing from the record"),
        (3, "promo_discount", "key missing from an element of lines"),
    ]
    assert quarantined(conn, "online_refunds") == [(2, "reason", "key missing from the record")]
    assert (orders.rows_loaded, refunds.rows_loaded) == (1, 1)
    assert_reconciles(conn, orders)
    assert_reconciles(conn, refunds)


def test_nul_bytes_in_a_text_field_are_quarantined(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1"), order("TM2", buyer_id="tm_u\u00001")])
    path = write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R2", 1, 收银员="BAD")])
    path.write_bytes(path.read_bytes().replace(b"BAD", b"Li\x00Si"))

    load_online_orders(conn, raw_dir)
    load_store_pos(conn, raw_dir)

    assert quarantined(conn, "online_order_lines") == [(2, "buyer_id", "holds a NUL byte")]
    assert quarantined(conn, "store_pos_lines") == [(2, "收银员", "holds a NUL byte")]
    assert count(conn, "online_order_lines") == 1 and count(conn, "store_pos_lines") == 1


def test_a_formula_without_a_cached_value_is_quarantined_not_loaded_as_null(conn, raw_dir):
    # openpyxl writes formulas without calculating them, as a script-made workbook arrives
    write_sell_in(raw_dir, [sell_in_line(), sell_in_line(单据号="INV0002", 标准单价="=1999*1")])

    result = load_distributor_sell_in(conn, raw_dir)

    ((row, field, reason),) = quarantined(conn, "distributor_sell_in")
    assert (row, field) == (7, "标准单价")
    assert reason == "formula =1999*1 has no cached value (the workbook was saved uncalculated)"
    assert result.rows_loaded == 1
    assert_reconciles(conn, result)


def test_a_formula_without_a_value_is_found_in_a_workbook_of_several_sheets(conn, raw_dir):
    path = write_sell_in(raw_dir, [sell_in_line(), sell_in_line(单据号="INV0002", 商品编码="=A1")])
    workbook = openpyxl.load_workbook(path)
    workbook.create_sheet("说明", 0)["A1"] = "=TODAY()"  # a formula in another sheet: no matter
    workbook.save(path)

    load_distributor_sell_in(conn, raw_dir)

    assert [(row, field) for row, field, _ in quarantined(conn, "distributor_sell_in")] == [
        (7, "商品编码")
    ]


def test_files_matching_no_feed_pattern_are_recorded(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1")])
    stray = {
        "online/tmall/tmall_orders_2023-01-02.jsonl": b"{}\n",
        "online/tmall/orders.jsonl.part": b"{",
        "overseas/lazada/vn/lazada_vn_20240101.csv": b"a\n",
        "reference/fx_rates_old.csv": b"",
    }
    for relative, data in stray.items():
        (raw_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (raw_dir / relative).write_bytes(data)
    (raw_dir / "online" / "tmall" / ".DS_Store").write_bytes(b"x")  # hidden: not a delivery
    (raw_dir / "_manifest").mkdir()
    (raw_dir / "_manifest" / "notes.txt").write_bytes(b"x")
    (raw_dir / "README.txt").write_bytes(b"x")  # not under a feed's folder

    orders = load_online_orders(conn, raw_dir)
    lazada = load_feed(conn, raw_dir, "lazada_orders")
    load_reference(conn, raw_dir, "fx_rates")

    assert orders.unrecognized_files == [
        "online/tmall/orders.jsonl.part",
        "online/tmall/tmall_orders_2023-01-02.jsonl",
    ]
    assert lazada.unrecognized_files == ["overseas/lazada/vn/lazada_vn_20240101.csv"]
    assert conn.execute(
        "SELECT path, folder, feed, size FROM raw.unrecognized_files ORDER BY path"
    ).fetchall() == [
        ("online/tmall/orders.jsonl.part", "online", "online_order_lines", 1),
        ("online/tmall/tmall_orders_2023-01-02.jsonl", "online", "online_order_lines", 3),
        ("overseas/lazada/vn/lazada_vn_20240101.csv", "overseas", "lazada_orders", 2),
        ("reference/fx_rates_old.csv", "reference", "products", 0),
    ]
    # a stray file that is taken away disappears from the table at the folder's next load
    (raw_dir / "online" / "tmall" / "orders.jsonl.part").unlink()
    assert load_online_orders(conn, raw_dir).unrecognized_files == [
        "online/tmall/tmall_orders_2023-01-02.jsonl"
    ]
    assert conn.execute(
        "SELECT count(*) FROM raw.unrecognized_files WHERE folder = 'online'"
    ).fetchone() == (1,)


# --- one bad file stops nothing -------------------------------------------------------------


def test_a_jsonl_file_that_is_not_utf8_is_quarantined_whole_and_the_feed_goes_on(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1")], day="20230101")
    gb18030 = raw_dir / "online" / "tmall" / "tmall_orders_20230102.jsonl"
    gb18030.write_bytes((json.dumps(order("TM2"), ensure_ascii=False) + "\n").encode("gb18030"))

    result = load_online_orders(conn, raw_dir)

    assert (result.files, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    ((row, field, reason),) = quarantined(conn, "online_order_lines")
    assert (row, field) == (0, "<file>")
    assert reason.startswith("not UTF-8: byte 0x") and "JSON Lines must be UTF-8" in reason
    assert_reconciles(conn, result)


def test_a_link_leaving_raw_dir_is_quarantined_whole_and_the_feed_goes_on(conn, raw_dir, tmp_path):
    write_store_pos(raw_dir, [pos_row("R1", 1)], day="20230102")
    outside = write_store_pos(tmp_path / "elsewhere", [pos_row("R9", 1)], day="20230103")
    link = raw_dir / "store" / "pos_20230103.csv"
    os.symlink(outside, link)
    inside_link = raw_dir / "store" / "pos_20230104.csv"
    os.symlink(raw_dir / "store" / "pos_20230102.csv", inside_link)

    assert len(list_feed_files(raw_dir, "store_pos_lines")) == 3
    result = load_store_pos(conn, raw_dir)

    assert quarantined(conn, "store_pos_lines") == [
        (0, "<file>", f"symbolic link to {outside.resolve()}, outside RAW_DIR: not read")
    ]
    # a link that stays inside RAW_DIR is read, under its own name
    assert conn.execute(
        "SELECT _source_file, 小票号 FROM raw.store_pos_lines ORDER BY 1"
    ).fetchall() == [("store/pos_20230102.csv", "R1"), ("store/pos_20230104.csv", "R1")]
    assert result.files_rejected == {
        "store/pos_20230103.csv": f"<file>: symbolic link to {outside.resolve()}, "
        "outside RAW_DIR: not read"
    }
    assert_reconciles(conn, result)


# --- counts independent of the parser -------------------------------------------------------


def test_the_load_log_holds_a_record_count_independent_of_the_parser(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1"), "", order("TM2", [order_line(1), order_line(2)])])
    path = write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R2", 1)])
    path.write_bytes(path.read_bytes() + b"\r\n")  # a trailing blank line is not a record
    write_sell_in(raw_dir, [sell_in_line(), sell_in_line(单据号="INV0002")])

    for name in ("online_order_lines", "store_pos_lines", "distributor_sell_in"):
        load_feed(conn, raw_dir, name)

    assert load_log(conn, "online_order_lines") == {
        "online/tmall/tmall_orders_20230101.jsonl": (2, 2, 0, 2)
    }
    assert load_log(conn, "store_pos_lines") == {"store/pos_20230102.csv": (2, 2, 0, 2)}
    assert load_log(conn, "distributor_sell_in") == {
        "distributor/202301/D0001_202301.xlsx": (2, 2, 0, 2)
    }


def test_a_bare_carriage_return_inside_a_csv_value_rejects_its_file_by_the_line_count(
    conn, raw_dir
):
    path = write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R2", 1, 商品名称="AB")])
    path.write_bytes(path.read_bytes().replace(b"AB", b"A\rB"))
    result = load_store_pos(conn, raw_dir)
    assert result.rows_loaded == 0
    assert [(row, field) for row, field, _ in quarantined(conn, "store_pos_lines")] == [
        (0, "<file>")
    ]
    assert_reconciles(conn, result)


# --- the business date, declared once -------------------------------------------------------


def test_every_dated_raw_table_carries_the_business_date_staging_uses(conn, raw_dir):
    # 00:15 in Shanghai is still the previous day in UTC: the business date is Shanghai's
    write_online_orders(raw_dir, [order("TM1", created_at="2023-01-01T00:15:00+08:00")])
    write_online_refunds(raw_dir, [refund("RF1", refunded_at="2023-01-05T23:30:00+07:00")])
    write_store_pos(raw_dir, [pos_row("R1", 1, 销售日期="2023-01-01")], day="20230102")
    write_sell_in(raw_dir, [sell_in_line(日期=date(2023, 1, 20))])
    write_marketplace(
        raw_dir, "shopee", "th", [shopee_row(**{"Order Creation Date": "2024-01-01 23:59"})]
    )
    write_marketplace(raw_dir, "lazada", "vn", [lazada_row()], day="20240305")
    for name in REFERENCE_HEADERS:
        write_reference(raw_dir, name)

    for name in (
        "online_order_lines",
        "online_refunds",
        "store_pos_lines",
        "distributor_sell_in",
        "shopee_orders",
        "lazada_orders",
        "fx_rates",
    ):
        load_feed(conn, raw_dir, name)

    business_dates = {
        table: conn.execute(f"SELECT DISTINCT _business_date FROM raw.{table}").fetchall()
        for table in (
            "online_order_lines",
            "online_refunds",
            "store_pos_lines",
            "distributor_sell_in",
            "shopee_orders",
            "lazada_orders",
        )
    }
    assert business_dates == {
        "online_order_lines": [(date(2023, 1, 1),)],
        "online_refunds": [(date(2023, 1, 6),)],  # 23:30 at +07:00 is 00:30 in Shanghai
        "store_pos_lines": [(date(2023, 1, 1),)],
        "distributor_sell_in": [(date(2023, 1, 20),)],
        "shopee_orders": [(date(2024, 1, 1),)],
        "lazada_orders": [(date(2024, 3, 5),)],
    }
    columns = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'raw' "
            "AND column_name = '_business_date'"
        ).fetchall()
    }
    assert columns == set(business_dates)  # reference snapshots are not dated


def test_rows_are_stored_in_business_date_order_whatever_the_order_files_come_in(conn, raw_dir):
    # files given newest first (as a sensor may list them), of two platforms whose names sort
    # the other way ('jd' < 'tmall'): stored by date across platforms, so that the zone maps
    # of _business_date let a day's query skip the other row groups
    days = {"tmall": (3, 1), "jd": (4, 2)}
    paths = [
        write_online_orders(
            raw_dir,
            [order(f"{platform}{day}", created_at=f"2023-01-0{day}T10:00:00+08:00")],
            platform=platform,
            day=f"2023010{day}",
        )
        for platform, platform_days in days.items()
        for day in platform_days
    ]
    load_online_orders(conn, raw_dir, paths)
    assert conn.execute(
        "SELECT _business_date, split_part(_source_file, '/', 2) FROM raw.online_order_lines "
        "ORDER BY rowid"
    ).fetchall() == [
        (date(2023, 1, 1), "tmall"),
        (date(2023, 1, 2), "jd"),
        (date(2023, 1, 3), "tmall"),
        (date(2023, 1, 4), "jd"),
    ]


def test_an_existing_raw_table_gets_the_business_date_added(conn, raw_dir):
    # a warehouse built before the column existed: the column is added and filled
    write_store_pos(raw_dir, [pos_row("R1", 1)])
    load_store_pos(conn, raw_dir)
    conn.execute("ALTER TABLE raw.store_pos_lines DROP COLUMN _business_date")
    conn.execute("ALTER TABLE raw.load_log DROP COLUMN records_in_file")
    write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R2", 1)], day="20230103")
    load_store_pos(conn, raw_dir)
    assert conn.execute("SELECT DISTINCT _business_date FROM raw.store_pos_lines").fetchall() == [
        (date(2023, 1, 2),)
    ]
    assert count(conn, "store_pos_lines") == 3


def test_decimal_values_still_load_exactly(conn, raw_dir):
    # a guard for the rewritten CSV reader: values are text until typed, exactly as delivered
    write_marketplace(
        raw_dir, "shopee", "vn", [shopee_row("V1", **{"Original Price": "6990000.00"})]
    )
    load_feed(conn, raw_dir, "shopee_orders")
    assert conn.execute('SELECT "Original Price" FROM raw.shopee_orders').fetchone() == (
        Decimal("6990000.00"),
    )


@pytest.mark.parametrize("name", ["products", "stores", "distributors", "targets", "fx_rates"])
def test_a_reference_file_with_blank_lines_loads_its_records(conn, raw_dir, name):
    path = write_reference(raw_dir, name)
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r\n\r\n", 1))
    result = load_reference(conn, raw_dir, name)
    assert result.rows_quarantined == 0 and result.rows_loaded >= 1
    assert_reconciles(conn, result)


@pytest.mark.parametrize(
    "text",
    [b"", b"a", b"a\n", b"a\n\nb", b"\na\n", b"a\r\n\r\nb\r\n", b"a\n\r", b"\r", b"\n\n\n", b" \n"],
)
def test_the_record_count_is_the_lines_that_are_not_blank(text):
    # the parser-independent count, against the plainest reading of a line
    lines = text.split(b"\n")
    if text.endswith(b"\n"):
        lines = lines[:-1]
    expected = sum(1 for line in lines if line not in (b"", b"\r")) if text else 0
    joined, offsets = join_lines([b"x\n", text, b"y"])
    assert record_counts(joined, offsets).tolist() == [1, expected, 1]
    blank = [i for i, line in enumerate(lines, start=1) if line in (b"", b"\r")] if text else []
    assert blank_line_numbers(text).tolist() == blank == blank_line_numbers(text.decode()).tolist()


HOSTILE_CONTENTS = {
    "random bytes": bytes(range(256)) * 4,
    "lone CR line ends": b"a,b,c\r1,2,3\r4,5,6\r",
    "NUL bytes": b"\x00" * 64 + b"\n" + b"\x00,\x00\n",
    "a truncated zip": b"PK\x03\x04" + b"\x14\x00" * 20,
    "a BOM only": BOM,
    "one quote": b'"',
}


@pytest.mark.parametrize("content", list(HOSTILE_CONTENTS.values()), ids=list(HOSTILE_CONTENTS))
@pytest.mark.parametrize(
    "name",
    [
        "online/tmall/tmall_orders_20230102.jsonl",
        "online/jd/jd_refunds_20230102.jsonl",
        "store/pos_20230102.csv",
        "distributor/202301/D0009_202301.xlsx",
        "overseas/shopee/th/shopee_th_orders_20240102.csv",
        "overseas/lazada/vn/lazada_vn_orders_20240102.csv",
        "reference/targets.csv",
    ],
)
def test_a_hostile_file_never_stops_its_feed(conn, raw_dir, name, content):
    path = raw_dir / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    feed = next(table for table, layout in FEED_LAYOUTS.items() if layout.matches(name))

    result = load_feed(conn, raw_dir, feed)

    assert result.files == 1 and result.rows_loaded == 0 and result.rows_quarantined >= 1
    assert_reconciles(conn, result)
