"""Store POS exports: GB18030, Chinese headers, CRLF; bad rows, extra and missing columns."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from conftest_ingest import assert_reconciles, count, quarantined
from ingest_samples import POS_HEADER, pos_row, write_store_pos

from orchestration.ingest import load_store_pos

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]

FILE = "store/pos_20230102.csv"


def test_gb18030_file_with_chinese_headers_and_crlf(conn, raw_dir):
    path = write_store_pos(
        raw_dir,
        [
            pos_row("R1", 1),
            pos_row("R2", 1, 数量=-1, 折扣金额="-50.00", 实收金额="-1949.00", 原小票号="R0"),
        ],
    )
    assert b"\r\n" in path.read_bytes() and "门店".encode("gb18030") in path.read_bytes()

    result = load_store_pos(conn, raw_dir)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 2, 0)
    assert conn.execute(
        """SELECT 销售日期, 小票号, 门店名称, 数量, 实收金额, 原小票号, 收银员, 交易时间,
                  _source_file, _source_row
           FROM raw.store_pos_lines ORDER BY _source_row"""
    ).fetchall() == [
        (date(2023, 1, 2), "R1", "杭州西湖店", 2, Decimal("3898.00"), None, "张三",
         datetime(2023, 1, 2, 10, 15), FILE, 1),
        (date(2023, 1, 2), "R2", "杭州西湖店", -1, Decimal("-1949.00"), "R0", "张三",
         datetime(2023, 1, 2, 10, 15), FILE, 2),
    ]  # fmt: skip
    assert_reconciles(conn, result)


def test_bad_values_and_misshapen_rows_are_quarantined(conn, raw_dir):
    path = write_store_pos(
        raw_dir,
        [pos_row("R1", 1), pos_row("R2", 1, 数量="两"), pos_row("R3", 1, 销售日期="2023-13-45")],
    )
    # a row with a missing field, as a truncated export writes it
    path.write_bytes(path.read_bytes() + "2023-01-02,R4,S0001\r\n".encode("gb18030"))

    result = load_store_pos(conn, raw_dir)

    assert quarantined(conn, "store_pos_lines") == [
        (2, "数量", 'cannot read "两" as a whole number'),
        (3, "销售日期", 'cannot read "2023-13-45" as a date YYYY-MM-DD'),
        (4, "<row>", "expected 14 fields, found 3"),
    ]
    assert conn.execute(
        "SELECT raw_record FROM raw.quarantine WHERE _source_row = 4"
    ).fetchone() == ("2023-01-02,R4,S0001",)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 1, 3)
    assert_reconciles(conn, result)


def test_bytes_that_are_not_gb18030_quarantine_their_row(conn, raw_dir):
    path = write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R2", 1, 收银员="BAD")])
    path.write_bytes(path.read_bytes().replace(b"BAD", b"\x80\x20"))
    result = load_store_pos(conn, raw_dir)
    assert result.rows_loaded == 1
    assert quarantined(conn, "store_pos_lines") == [
        (2, "收银员", "bytes that are not valid in the file's encoding")
    ]


def test_extra_column_is_reported_and_known_columns_load(conn, raw_dir):
    write_store_pos(raw_dir, [{**pos_row(), "会员号": "M001"}], header=[*POS_HEADER, "会员号"])
    result = load_store_pos(conn, raw_dir)
    assert result.rows_loaded == 1 and result.rows_quarantined == 0
    assert result.extra_columns == {"会员号": [FILE]}


def test_missing_column_quarantines_the_whole_file(conn, raw_dir):
    header = [name for name in POS_HEADER if name != "实收金额"]
    write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R1", 2)], header=header)
    result = load_store_pos(conn, raw_dir)
    assert result.rows_loaded == 0 and result.rows_quarantined == 2
    assert quarantined(conn, "store_pos_lines") == [
        (1, "实收金额", "required column missing from the file: 实收金额"),
        (2, "实收金额", "required column missing from the file: 实收金额"),
    ]
    assert result.files_rejected == {
        FILE: "实收金额: required column missing from the file: 实收金额"
    }
    assert_reconciles(conn, result)


def test_reload_does_not_duplicate(conn, raw_dir):
    write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R1", 2)])
    load_store_pos(conn, raw_dir)
    load_store_pos(conn, raw_dir, force=True)
    assert count(conn, "store_pos_lines") == 2
