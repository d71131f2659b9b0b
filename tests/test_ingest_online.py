"""Online JSONL feeds: nested order lines, malformed records, reconciliation, re-loads."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal

from conftest_ingest import assert_reconciles, count, quarantined
from ingest_samples import order, order_line, refund, write_online_orders, write_online_refunds

from orchestration.ingest import load_online_orders, load_online_refunds

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]

FILE = "online/tmall/tmall_orders_20230101.jsonl"


def test_orders_are_flattened_to_lines_with_types_and_lineage(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1", [order_line(1), order_line(2, "A1")]), order("TM2")])

    result = load_online_orders(conn, raw_dir, batch_id="b1")

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 2, 0)
    rows = conn.execute(
        """SELECT order_id, line_no, sku, unit_price, coupon_amount, created_at,
                  _source_file, _source_row, _load_batch
           FROM raw.online_order_lines ORDER BY order_id, line_no"""
    ).fetchall()
    assert [(r[0], r[1], r[2], r[7]) for r in rows] == [
        ("TM1", 1, "C1", 1), ("TM1", 2, "A1", 1), ("TM2", 1, "C1", 2)
    ]  # fmt: skip
    assert rows[0][3] == Decimal("2999.00") and rows[0][4] == Decimal("20.00")
    assert rows[0][5] == datetime(2023, 1, 1, 2, 23, 45, tzinfo=UTC)
    assert rows[0][6] == FILE and rows[0][8] == "b1"
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'online_order_lines'"
        ).fetchall()
    )
    assert (
        types["unit_price"] == "DECIMAL(18,2)" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    )
    assert_reconciles(conn, result)


def test_malformed_orders_go_to_quarantine_with_field_and_reason(conn, raw_dir):
    write_online_orders(
        raw_dir,
        [
            order("TM1"),
            order("TM2", [order_line(1), order_line(2, quantity="two")]),  # one bad line
            "{not json",
            "",  # a blank line is not a record
            order("TM3", []),
            order("TM4", unit_price=None, created_at="2023-01-01 10:00:00"),  # no UTC offset
            order("TM5", coupon_amount=12.345),  # more than two decimals
            order("TM6", [order_line(1, quantity=1.5)]),
        ],
    )

    result = load_online_orders(conn, raw_dir)

    assert quarantined(conn, "online_order_lines") == [
        (2, "quantity", 'cannot read "two" as a whole number'),
        (3, "<record>", "not a JSON object"),
        (5, "lines", "array has no elements"),
        (6, "created_at",
         'cannot read "2023-01-01 10:00:00" as an ISO 8601 timestamp with UTC offset'),
        (7, "coupon_amount", 'cannot read "12.345" as a number with at most 2 decimals'),
        (8, "quantity", 'cannot read "1.5" as a whole number'),
    ]  # fmt: skip
    # the whole order TM2 is quarantined, not only its bad line
    assert conn.execute("SELECT DISTINCT order_id FROM raw.online_order_lines").fetchall() == [
        ("TM1",)
    ]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (7, 1, 6)
    raw_record = conn.execute(
        "SELECT raw_record FROM raw.quarantine WHERE _source_row = 2"
    ).fetchone()[0]
    assert json.loads(raw_record)["order_id"] == "TM2"
    assert_reconciles(conn, result)


def test_malformed_lines_and_arrays_keep_their_line_numbers(conn, raw_dir):
    no_lines = {k: v for k, v in order("TM3").items() if k != "lines"}
    write_online_orders(
        raw_dir,
        [
            order("TM1"),
            "",  # blank: not a record, but it still counts as a line
            "   ",  # whitespace only: a record that is not JSON
            "[1, 2]",  # valid JSON, not an object
            ' {"order_id": "TM2"}',  # an object after a space: not read as one
            no_lines,
            order("TM4") | {"lines": "abc"},
            order("TM5") | {"lines": None},
            order("TM6", [5, order_line(2)]),
            order("TM7", [None]),
            order("TM8", [order_line(1, quantity="x"), order_line(2, unit_price="y")]),
            order("TM9", [order_line(1), order_line(2)]),
            order("TM10", platform="\u3000"),  # an ideographic space is blank too
        ],
    )

    result = load_online_orders(conn, raw_dir)

    assert quarantined(conn, "online_order_lines") == [
        (3, "<record>", "not a JSON object"),
        (4, "<record>", "not a JSON object"),
        (5, "<record>", "not a JSON object"),
        (6, "lines", "missing or not an array"),
        (7, "lines", "missing or not an array"),
        (8, "lines", "missing or not an array"),
        (9, "lines", "element is not a JSON object"),
        (10, "lines", "element is not a JSON object"),
        # errors of several lines of an order are listed in the order of its lines
        (11, "quantity", 'cannot read "x" as a whole number (also: unit_price)'),
        (13, "platform", "missing value"),
    ]  # fmt: skip
    assert conn.execute(
        "SELECT order_id, line_no, _source_row FROM raw.online_order_lines ORDER BY ALL"
    ).fetchall() == [("TM1", 1, 1), ("TM9", 1, 12), ("TM9", 2, 12)]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (12, 2, 10)
    assert_reconciles(conn, result)


def test_quarantined_crlf_records_are_kept_as_delivered_without_the_cr(conn, raw_dir):
    path = raw_dir / "online" / "jd" / "jd_orders_20230101.jsonl"
    path.parent.mkdir(parents=True)
    bad = json.dumps(order("JD2", platform="jd", coupon_amount="many"), ensure_ascii=False)
    lines = [json.dumps(order("JD1", platform="jd")), "", bad]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())

    result = load_online_orders(conn, raw_dir)

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert conn.execute("SELECT _source_row, raw_record FROM raw.quarantine").fetchall() == [
        (3, bad)
    ]


def test_reloading_a_file_replaces_its_rows(conn, raw_dir):
    path = write_online_orders(raw_dir, [order("TM1"), "{bad"])
    first = load_online_orders(conn, raw_dir)

    again = load_online_orders(conn, raw_dir)
    assert again.files == 0 and again.files_skipped == [FILE]

    forced = load_online_orders(conn, raw_dir, force=True)
    assert forced.files == 1
    assert count(conn, "online_order_lines") == 1
    assert len(quarantined(conn, "online_order_lines")) == 1

    write_online_orders(raw_dir, [order("TM1"), order("TM9")])  # corrected re-delivery
    corrected = load_online_orders(conn, raw_dir, [path])
    assert corrected.files == 1 and corrected.rows_quarantined == 0
    assert count(conn, "online_order_lines") == 2
    assert quarantined(conn, "online_order_lines") == []
    assert first.batch_id != corrected.batch_id
    assert conn.execute("SELECT count(*) FROM raw.load_log").fetchone()[0] == 3


def _logged_stat(conn) -> tuple[int, int]:
    return conn.execute(
        "SELECT file_size, file_mtime_ns FROM raw.load_log ORDER BY _loaded_at DESC LIMIT 1"
    ).fetchone()


def test_a_file_with_its_logged_size_and_mtime_is_not_hashed_again(conn, raw_dir):
    path = write_online_orders(raw_dir, [order("TM1")])
    load_online_orders(conn, raw_dir)
    stat = path.stat()
    assert _logged_stat(conn) == (stat.st_size, stat.st_mtime_ns)

    # the same size and mtime: the logged sha256 stands, so even other bytes are not read
    # (what make and rsync assume too); force=True hashes and loads it
    path.write_bytes(path.read_bytes().replace(b"TM1", b"TM7"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_online_orders(conn, raw_dir).files_skipped == [FILE]
    assert load_online_orders(conn, raw_dir, force=True).files == 1
    assert conn.execute("SELECT order_id FROM raw.online_order_lines").fetchall() == [("TM7",)]

    # touched, content unchanged: hashed once, skipped, and its new mtime logged
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_online_orders(conn, raw_dir).files_skipped == [FILE]
    assert _logged_stat(conn) == (stat.st_size, stat.st_mtime_ns + 10**9)

    # a new delivery under the same name (new mtime) is hashed and loaded
    write_online_orders(raw_dir, [order("TM8")])
    assert load_online_orders(conn, raw_dir).files == 1
    assert conn.execute("SELECT order_id FROM raw.online_order_lines").fetchall() == [("TM8",)]


def test_the_same_content_under_another_name_lands_twice(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1")], day="20230101")
    write_online_orders(raw_dir, [order("TM1")], day="20230102")
    result = load_online_orders(conn, raw_dir)
    assert result.files == 2 and count(conn, "online_order_lines") == 2


def test_extra_keys_are_reported_not_loaded(conn, raw_dir):
    write_online_orders(raw_dir, [order("TM1", [order_line(gift=True)], note="vip")])
    write_online_orders(raw_dir, [order("TM2")], day="20230102")  # no extra key in this one
    result = load_online_orders(conn, raw_dir)
    assert result.rows_loaded == 2
    assert result.extra_columns == {"lines.gift": [FILE], "note": [FILE]}


def test_crlf_line_ends_are_accepted(conn, raw_dir):
    path = raw_dir / "online" / "jd" / "jd_orders_20230101.jsonl"
    path.parent.mkdir(parents=True)
    lines = [json.dumps(order("JD1", platform="jd")), json.dumps(order("JD2", platform="jd"))]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    result = load_online_orders(conn, raw_dir)
    assert result.rows_loaded == 2 and result.rows_quarantined == 0


def test_refunds(conn, raw_dir):
    write_online_refunds(
        raw_dir, [refund("RF1"), refund("RF2", refund_type="partial", refund_quantity=0,
                                         refund_amount=50.5), refund("RF3", refund_amount="x")]
    )  # fmt: skip
    result = load_online_refunds(conn, raw_dir)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    assert conn.execute(
        "SELECT refund_id, refund_quantity, refund_amount FROM raw.online_refunds ORDER BY 1"
    ).fetchall() == [("RF1", 1, Decimal("2664.00")), ("RF2", 0, Decimal("50.50"))]
    assert quarantined(conn, "online_refunds") == [
        (3, "refund_amount", 'cannot read "x" as a number with at most 2 decimals')
    ]
    assert_reconciles(conn, result)
