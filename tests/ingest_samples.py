"""Small raw files in the exact formats of data/raw/README.md, written for ingestion tests."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl

POS_HEADER = [
    "销售日期", "小票号", "门店编号", "门店名称", "行号", "商品编码", "商品名称",
    "数量", "零售价", "折扣金额", "实收金额", "原小票号", "收银员", "交易时间",
]  # fmt: skip
SELL_IN_HEADER = [
    "日期", "单据号", "商品编码", "商品名称", "数量", "标准单价", "折扣率", "进货金额", "备注",
]  # fmt: skip
SHOPEE_HEADER = [
    "Order ID", "Order Status", "Order Creation Date", "Username (Buyer)", "SKU Reference No.",
    "Product Name", "Original Price", "Deal Price", "Quantity", "Seller Voucher",
    "Shopee Voucher", "Returned Quantity", "Refund Amount",
]  # fmt: skip
LAZADA_HEADER = [
    "orderItemId", "orderNumber", "createTime", "sellerSku", "itemName", "unitPrice",
    "paidPrice", "currency", "status", "buyerId",
]  # fmt: skip
REFERENCE_HEADERS = {
    "products": ["sku", "sku_name", "series", "series_name", "product_line", "list_price",
                 "unit_cost", "valid_from", "valid_to"],
    "stores": ["store_id", "store_name", "province", "city", "opened_on", "closed_on"],
    "distributors": ["distributor_id", "distributor_name", "region", "province", "city",
                     "distributor_tier", "contract_start", "contract_end"],
    "targets": ["period_type", "period_start", "region", "channel_group", "product_line",
                "series", "metric", "target_value"],
    "fx_rates": ["rate_date", "currency", "cny_per_unit"],
}  # fmt: skip


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


# --- online -------------------------------------------------------------------------------


def order_line(line_no: int = 1, sku: str = "C1", **overrides: Any) -> dict[str, Any]:
    line = {"line_no": line_no, "sku": sku, "quantity": 1, "unit_price": 2999.00,
            "promo_discount": 300.00}  # fmt: skip
    return {**line, **overrides}


def order(order_id: str, lines: list[dict[str, Any]] | None = None, **overrides: Any) -> dict:
    record = {
        "order_id": order_id, "platform": "tmall", "shop_id": "tmall_flagship",
        "created_at": "2023-01-01T10:23:45+08:00", "paid_at": "2023-01-01T10:24:02+08:00",
        "status": "completed", "buyer_id": "tm_u_0012345",
        "receiver_province": "浙江省", "receiver_city": "杭州市",
        "coupon_amount": 20.00, "platform_subsidy": 15.00,
        "lines": lines if lines is not None else [order_line()],
    }  # fmt: skip
    return {**record, **overrides}


def refund(refund_id: str, **overrides: Any) -> dict[str, Any]:
    record = {
        "refund_id": refund_id, "platform": "tmall", "order_id": "TM230101000123",
        "line_no": 1, "sku": "C1", "refund_quantity": 1, "refund_amount": 2664.00,
        "refund_type": "full", "refunded_at": "2023-01-05T15:02:11+08:00",
        "reason": "七天无理由退货",
    }  # fmt: skip
    return {**record, **overrides}


def _jsonl(records: Sequence[dict[str, Any] | str]) -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_online_orders(
    raw_dir: Path, records: Sequence[dict[str, Any] | str], platform: str = "tmall",
    day: str = "20230101",
) -> Path:  # fmt: skip
    """Strings in `records` are written as they are (for malformed lines)."""
    path = raw_dir / "online" / platform / f"{platform}_orders_{day}.jsonl"
    return _write(path, _jsonl(records))


def write_online_refunds(
    raw_dir: Path, records: Sequence[dict[str, Any] | str], platform: str = "tmall",
    day: str = "20230105",
) -> Path:  # fmt: skip
    path = raw_dir / "online" / platform / f"{platform}_refunds_{day}.jsonl"
    return _write(path, _jsonl(records))


# --- store --------------------------------------------------------------------------------


def pos_row(receipt: str = "R0001", line_no: int = 1, **overrides: Any) -> dict[str, Any]:
    row = {
        "销售日期": "2023-01-02", "小票号": receipt, "门店编号": "S0001", "门店名称": "杭州西湖店",
        "行号": line_no, "商品编码": "A1", "商品名称": "智能手机A1", "数量": 2,
        "零售价": "1999.00", "折扣金额": "100.00", "实收金额": "3898.00", "原小票号": "",
        "收银员": "张三", "交易时间": "2023-01-02 10:15:00",
    }  # fmt: skip
    return {**row, **overrides}


def write_store_pos(
    raw_dir: Path, rows: Sequence[dict[str, Any]], day: str = "20230102",
    header: Sequence[str] = POS_HEADER,
) -> Path:  # fmt: skip
    """GB18030 with CRLF, as older Windows POS systems write it."""
    values = [[row.get(name, "") for name in header] for row in rows]
    return _write(raw_dir / "store" / f"pos_{day}.csv", _csv_bytes(header, values, "gb18030"))


# --- distributor --------------------------------------------------------------------------


def sell_in_line(**overrides: Any) -> list[Any]:
    line = {"日期": date(2023, 1, 5), "单据号": "INV0001", "商品编码": "A1",
            "商品名称": "智能手机A1", "数量": 10, "标准单价": 1999.0, "折扣率": 0.05,
            "进货金额": 18990.5, "备注": None}  # fmt: skip
    line.update(overrides)
    return [line[name] for name in SELL_IN_HEADER]


def write_sell_in(
    raw_dir: Path,
    lines: Sequence[Sequence[Any]],
    distributor_id: str = "D0001",
    month: str = "202301",
    *,
    title_id: str | None = None,
    title_month: str | None = None,
    total: tuple[float, float] | None = None,
    after_total: Sequence[Sequence[Any]] = (),
) -> Path:
    """A report as people lay it out: title block, blank row, header on row 5, total row.

    Rows in `after_total` are written below the total row. A cell text starting with `=` is
    written as a formula without a cached value (openpyxl does not calculate).
    """
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "进货明细"
    year_month = title_month or month
    sheet.append(["XX电子 经销商月度进货报表"])
    sheet.append([f"经销商：华东数码（上海）有限公司（{title_id or distributor_id}）"])
    sheet.append([f"报表月份：{year_month[:4]}年{year_month[4:]}月"])
    sheet.append([])
    sheet.append(SELL_IN_HEADER)
    for line in lines:
        sheet.append(list(line))
    if total is None:
        total = (sum(line[4] or 0 for line in lines), round(sum(line[7] or 0 for line in lines), 2))
    total_quantity, total_amount = total
    sheet.append(["合计", None, None, None, total_quantity, None, None, total_amount, None])
    for line in after_total:
        sheet.append(list(line))
    for row in sheet.iter_rows(min_row=6, max_row=5 + len(lines), max_col=1):
        row[0].number_format = "yyyy-mm-dd"
    path = raw_dir / "distributor" / month / f"{distributor_id}_{month}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


# --- overseas -----------------------------------------------------------------------------


def shopee_row(order_id: str = "2401010001", **overrides: Any) -> dict[str, Any]:
    row = {
        "Order ID": order_id, "Order Status": "Completed",
        "Order Creation Date": "2024-01-01 09:30", "Username (Buyer)": "buyer_th_1",
        "SKU Reference No.": "A1", "Product Name": "Smartphone A1", "Original Price": "9990.00",
        "Deal Price": "8990.00", "Quantity": "1", "Seller Voucher": "100.00",
        "Shopee Voucher": "50.00", "Returned Quantity": "0", "Refund Amount": "0.00",
    }  # fmt: skip
    return {**row, **overrides}


def lazada_row(item_id: str = "L1", **overrides: Any) -> dict[str, Any]:
    row = {
        "orderItemId": item_id, "orderNumber": "LZ240305001", "createTime": "05 Mar 2024 14:22:10",
        "sellerSku": "A1", "itemName": "Smartphone A1", "unitPrice": "280.00",
        "paidPrice": "260.00", "currency": "USD", "status": "delivered", "buyerId": "vn_b_1",
    }  # fmt: skip
    return {**row, **overrides}


def write_marketplace(
    raw_dir: Path, marketplace: str, country: str, rows: Sequence[dict[str, Any]],
    day: str = "20240101", header: Sequence[str] | None = None,
) -> Path:  # fmt: skip
    header = header or (SHOPEE_HEADER if marketplace == "shopee" else LAZADA_HEADER)
    values = [[row.get(name, "") for name in header] for row in rows]
    name = f"{marketplace}_{country}_orders_{day}.csv"
    path = raw_dir / "overseas" / marketplace / country / name
    return _write(path, _csv_bytes(header, values, "utf-8"))


# --- reference ----------------------------------------------------------------------------

REFERENCE_ROWS: dict[str, list[list[Any]]] = {
    "products": [["A1", "智能手机A1", "A", "A系列", "smartphone", "1999.00", "1100.00",
                  "2022-01-01", ""]],
    "stores": [["S0001", "杭州西湖店", "浙江省", "杭州市", "2021-05-01", ""]],
    "distributors": [["D0001", "华东数码", "east", "上海市", "上海市", "1", "2021-01-01", ""]],
    "targets": [["year", "2023-01-01", "all", "all", "all", "all", "net_sales", "120000000.00"]],
    "fx_rates": [["2024-01-01", "THB", "0.2050000000"], ["2024-01-01", "VND", "0.0002900000"]],
}  # fmt: skip


def write_reference(raw_dir: Path, name: str, rows: Sequence[Sequence[Any]] | None = None) -> Path:
    rows = REFERENCE_ROWS[name] if rows is None else rows
    return _write(
        raw_dir / "reference" / f"{name}.csv",
        _csv_bytes(REFERENCE_HEADERS[name], rows, "utf-8"),
    )


def write_sample_raw_dir(raw_dir: Path) -> Path:
    """One small, clean file of every feed, plus a `_manifest` folder that must be ignored."""
    write_online_orders(raw_dir, [order("TM1"), order("TM2", [order_line(1), order_line(2)])])
    write_online_refunds(raw_dir, [refund("RF1")])
    write_store_pos(raw_dir, [pos_row("R1", 1), pos_row("R1", 2)])
    write_sell_in(raw_dir, [sell_in_line()])
    write_marketplace(raw_dir, "shopee", "th", [shopee_row()])
    write_marketplace(raw_dir, "lazada", "vn", [lazada_row()], day="20240305")
    for name in REFERENCE_HEADERS:
        write_reference(raw_dir, name)
    _write(raw_dir / "_manifest" / "generation.json", json.dumps({"seed": 1}).encode())
    return raw_dir
