"""Overseas marketplace exports: Shopee and Lazada, their own columns and local time formats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from conftest_ingest import assert_reconciles, quarantined
from ingest_samples import SHOPEE_HEADER, lazada_row, shopee_row, write_marketplace

from orchestration.ingest import load_lazada_orders, load_shopee_orders

# fixtures `conn` and `raw_dir`
pytest_plugins = ["conftest_ingest"]


def test_shopee_both_countries_with_local_time(conn, raw_dir):
    write_marketplace(raw_dir, "shopee", "th", [shopee_row("T1"), shopee_row("T2")])
    vietnam = {"Original Price": "6990000.00", "Order Creation Date": "2024-01-01 23:59"}
    write_marketplace(raw_dir, "shopee", "vn", [shopee_row("V1", **vietnam)])

    result = load_shopee_orders(conn, raw_dir)

    assert (result.files, result.rows_loaded, result.rows_quarantined) == (2, 3, 0)
    assert conn.execute(
        """SELECT country, "Order ID", "Order Creation Date", "Original Price", "Quantity"
           FROM raw.shopee_orders ORDER BY "Order ID" """
    ).fetchall() == [
        ("th", "T1", datetime(2024, 1, 1, 9, 30), Decimal("9990.00"), 1),
        ("th", "T2", datetime(2024, 1, 1, 9, 30), Decimal("9990.00"), 1),
        ("vn", "V1", datetime(2024, 1, 1, 23, 59), Decimal("6990000.00"), 1),
    ]
    assert_reconciles(conn, result)


def test_lazada_day_month_name_timestamps(conn, raw_dir):
    write_marketplace(
        raw_dir, "lazada", "vn",
        [lazada_row("L1"), lazada_row("L2", createTime="2024-03-05 14:22:10"),
         lazada_row("L3", paidPrice="")],
        day="20240305",
    )  # fmt: skip

    result = load_lazada_orders(conn, raw_dir)

    assert conn.execute(
        "SELECT country, orderItemId, createTime, unitPrice, currency FROM raw.lazada_orders"
    ).fetchall() == [("vn", "L1", datetime(2024, 3, 5, 14, 22, 10), Decimal("280.00"), "USD")]
    assert quarantined(conn, "lazada_orders") == [
        (2, "createTime", 'cannot read "2024-03-05 14:22:10" as a timestamp %d %b %Y %H:%M:%S'),
        (3, "paidPrice", "missing value"),
    ]
    assert_reconciles(conn, result)


def test_shopee_missing_column_quarantines_the_file(conn, raw_dir):
    header = [name for name in SHOPEE_HEADER if name != "Deal Price"]
    write_marketplace(raw_dir, "shopee", "th", [shopee_row()], header=header)
    result = load_shopee_orders(conn, raw_dir)
    assert result.rows_loaded == 0
    assert quarantined(conn, "shopee_orders") == [
        (1, "Deal Price", "required column missing from the file: Deal Price")
    ]
