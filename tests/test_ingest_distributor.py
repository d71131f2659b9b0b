"""Distributor sell-in reports (.xlsx): title block, header on row 5, total row checked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from conftest_ingest import assert_reconciles, count, quarantined
from ingest_samples import sell_in_line, write_sell_in

from orchestration.ingest import distributor, load_distributor_sell_in
from orchestration.ingest.core import SourceFile
from orchestration.ingest.distributor import read_workbooks_here
from orchestration.ingest.tables import DISTRIBUTOR_SELL_IN

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]

FILE = "distributor/202301/D0001_202301.xlsx"
GOODS = sell_in_line()
RETURN = sell_in_line(单据号="INV0002", 数量=-1, 折扣率=0, 进货金额=-1999.0, 备注="退货")
REBATE = sell_in_line(
    单据号="FL0001", 商品编码=None, 商品名称=None, 数量=0, 标准单价=None, 折扣率=None,
    进货金额=-500.0, 备注="月度返利",
)  # fmt: skip


def test_report_lines_load_with_title_block_and_excel_row_numbers(conn, raw_dir):
    write_sell_in(raw_dir, [GOODS, RETURN, REBATE])

    result = load_distributor_sell_in(conn, raw_dir)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 3, 0)
    assert conn.execute(
        """SELECT distributor_id, report_month, 日期, 单据号, 商品编码, 数量, 标准单价, 折扣率,
                  进货金额, 备注, _source_file, _source_row
           FROM raw.distributor_sell_in ORDER BY _source_row"""
    ).fetchall() == [
        ("D0001", date(2023, 1, 1), date(2023, 1, 5), "INV0001", "A1", 10, Decimal("1999.00"),
         Decimal("0.0500"), Decimal("18990.50"), None, FILE, 6),
        ("D0001", date(2023, 1, 1), date(2023, 1, 5), "INV0002", "A1", -1, Decimal("1999.00"),
         Decimal("0.0000"), Decimal("-1999.00"), "退货", FILE, 7),
        ("D0001", date(2023, 1, 1), date(2023, 1, 5), "FL0001", None, 0, None, None,
         Decimal("-500.00"), "月度返利", FILE, 8),
    ]  # fmt: skip
    assert_reconciles(conn, result)


def test_total_that_does_not_match_quarantines_the_whole_file(conn, raw_dir):
    write_sell_in(raw_dir, [GOODS, RETURN], total=(9, 99999.0))
    result = load_distributor_sell_in(conn, raw_dir)
    assert result.rows_loaded == 0 and result.rows_quarantined == 2
    rows = quarantined(conn, "distributor_sell_in")
    assert [(row, field) for row, field, _ in rows] == [(6, "合计"), (7, "合计")]
    assert rows[0][2] == (
        "total row says 数量 9 and 进货金额 99999, the lines add up to 9 and 16991.50"
    )
    assert FILE in result.files_rejected
    assert_reconciles(conn, result)


def test_title_block_must_match_the_file_name(conn, raw_dir):
    write_sell_in(raw_dir, [GOODS], title_id="D0002")
    write_sell_in(raw_dir, [GOODS], distributor_id="D0003", title_month="202302")
    result = load_distributor_sell_in(conn, raw_dir)
    assert result.rows_loaded == 0
    assert conn.execute(
        "SELECT _source_file, field, reason FROM raw.quarantine ORDER BY 1"
    ).fetchall() == [
        ("distributor/202301/D0001_202301.xlsx", "distributor_id",
         "title block names D0002, the file name D0001"),
        ("distributor/202301/D0003_202301.xlsx", "report_month",
         "title block says 2023-02, the path says 202301"),
    ]  # fmt: skip


def test_bad_cell_quarantines_its_line_when_the_total_still_adds_up(conn, raw_dir):
    write_sell_in(raw_dir, [GOODS, sell_in_line(单据号="INV0003", 日期="5号")])
    result = load_distributor_sell_in(conn, raw_dir)
    assert quarantined(conn, "distributor_sell_in") == [
        (7, "日期", 'cannot read "5号" as a date YYYY-MM-DD')
    ]
    assert result.rows_loaded == 1
    assert_reconciles(conn, result)


def test_bad_amount_cell_fails_the_total_and_the_whole_file(conn, raw_dir):
    write_sell_in(raw_dir, [GOODS, sell_in_line(单据号="INV0003", 数量="ten")], total=(20, 37981))
    result = load_distributor_sell_in(conn, raw_dir)
    rows = quarantined(conn, "distributor_sell_in")
    assert [(row, field) for row, field, _ in rows] == [(6, "合计"), (7, "数量")]
    assert rows[1][2] == 'cannot read "ten" as a whole number (also: 合计)'
    assert result.rows_loaded == 0
    assert_reconciles(conn, result)


def test_missing_column_and_unreadable_workbook(conn, raw_dir):
    path = write_sell_in(raw_dir, [GOODS])
    broken = path.with_name("D0009_202301.xlsx")
    broken.write_bytes(b"not a zip file")
    result = load_distributor_sell_in(conn, raw_dir)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    row, field, reason = quarantined(conn, "distributor_sell_in")[0]
    assert (row, field) == (0, "<file>") and reason.startswith("cannot read workbook")
    assert_reconciles(conn, result)


def test_reload_does_not_duplicate(conn, raw_dir):
    write_sell_in(raw_dir, [GOODS, RETURN])
    load_distributor_sell_in(conn, raw_dir)
    load_distributor_sell_in(conn, raw_dir, force=True)
    assert count(conn, "distributor_sell_in") == 2


def test_a_chunk_read_by_two_processes_stages_what_one_process_does(raw_dir):
    """The second reader (its own process) returns the rows and what it learned exactly as
    the loading process would: good, quarantined and unreadable workbooks alike."""
    write_sell_in(raw_dir, [GOODS, RETURN, REBATE])
    write_sell_in(raw_dir, [GOODS], distributor_id="D0002", total=(9, 99999.0))
    write_sell_in(raw_dir, [GOODS, sell_in_line(单据号="INV0003", 日期="5号")], "D0003")
    write_sell_in(raw_dir, [GOODS], "D0004", after_total=[RETURN])
    write_sell_in(raw_dir, [GOODS, sell_in_line(标准单价="=1999*1")], "D0005", month="202302")
    (raw_dir / "distributor/202302/D0006_202302.xlsx").write_bytes(b"not a zip file")
    workbooks = sorted((raw_dir / "distributor").rglob("*.xlsx"))
    files = [
        SourceFile(path, path.relative_to(raw_dir).as_posix(), "sha", path.stat().st_size, None, 1)
        for path in workbooks
    ]

    one_stage, one_info = read_workbooks_here(DISTRIBUTOR_SELL_IN, files)
    two_stage, two_info = distributor._read_in_two_processes(DISTRIBUTOR_SELL_IN, files)

    assert one_stage.num_rows == 10 and one_info.unreadable  # every kind of workbook is there
    assert two_stage.equals(one_stage)
    assert two_info == one_info


def test_a_large_chunk_loads_through_the_second_reader(conn, raw_dir, monkeypatch):
    for number in range(1, 7):
        write_sell_in(raw_dir, [GOODS, RETURN], f"D{number:04d}")
    write_sell_in(raw_dir, [GOODS, RETURN], "D0007", total=(9, 99999.0))
    monkeypatch.setattr(distributor, "SECOND_READER_FROM_FILES", 2)

    result = load_distributor_sell_in(conn, raw_dir)

    assert (result.files, result.rows_loaded, result.rows_quarantined) == (7, 12, 2)
    assert conn.execute(
        "SELECT DISTINCT distributor_id FROM raw.distributor_sell_in ORDER BY 1"
    ).fetchall() == [(f"D{number:04d}",) for number in range(1, 7)]
    assert_reconciles(conn, result)
