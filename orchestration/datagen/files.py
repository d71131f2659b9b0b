"""Writing the feeds in their source systems' formats, with DuckDB doing the formatting.

Each feed's records are handed to DuckDB as Arrow, rendered there into one text line (or one
spreadsheet row) per record in a deterministic order, and cut into files in Python. The
per-file loop only joins and writes; no record is formatted in a Python loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.datagen.xlsx import write_xlsx_sheet_data

Columns = dict[str, np.ndarray]

MACROS = """
CREATE OR REPLACE MACRO money_text(cents) AS
    CASE WHEN cents < 0 THEN '-' ELSE '' END || (abs(cents) // 100)::VARCHAR || '.'
    || lpad((abs(cents) % 100)::VARCHAR, 2, '0');
CREATE OR REPLACE MACRO money(cents) AS CAST(money_text(cents) AS DECIMAL(18, 2));
CREATE OR REPLACE MACRO ymd(d) AS strftime(d, '%Y%m%d');
CREATE OR REPLACE MACRO xml_text(s) AS
    replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;');
CREATE OR REPLACE MACRO xstr(ref, s) AS
    CASE WHEN s IS NULL OR s = '' THEN ''
         ELSE '<c r="' || ref || '" t="inlineStr"><is><t>' || xml_text(s) || '</t></is></c>' END;
CREATE OR REPLACE MACRO xnum(ref, v) AS
    CASE WHEN v IS NULL THEN '' ELSE '<c r="' || ref || '"><v>' || v::VARCHAR || '</v></c>' END;
CREATE OR REPLACE MACRO xmoney(ref, v) AS
    CASE WHEN v IS NULL THEN ''
         ELSE '<c r="' || ref || '" s="2"><v>' || v::VARCHAR || '</v></c>' END;
CREATE OR REPLACE MACRO xdate(ref, d) AS
    '<c r="' || ref || '" s="1"><v>' || (d - DATE '1899-12-30')::VARCHAR || '</v></c>';
"""


def connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    connection.execute(MACROS)
    return connection


def register(connection: duckdb.DuckDBPyConnection, name: str, columns: Columns) -> None:
    arrays = {"_seq": pa.array(np.arange(len(next(iter(columns.values())))))}
    for key, values in columns.items():
        if values.dtype == object:
            values = values.astype(str)
        arrays[key] = pa.array(values)
    connection.register(name, pa.table(arrays))


def write_text_files(connection: duckdb.DuckDBPyConnection, sql: str, out_dir: Path,
                     header: str = "", encoding: str = "utf-8", newline: str = "\n") -> int:
    """Run `sql` (columns: file, line; ordered) and write each file's lines."""
    table = connection.sql(sql).fetch_arrow_table()
    files = table.column("file").to_numpy(zero_copy_only=False)
    lines = table.column("line").to_pylist()
    bounds = np.flatnonzero(files[1:] != files[:-1]) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(files)]])
    for start, end in zip(starts, ends, strict=True):
        path = out_dir / files[start]
        path.parent.mkdir(parents=True, exist_ok=True)
        body = newline.join(lines[start:end]) + newline
        path.write_bytes(((header + newline) if header else "").encode(encoding)
                         + body.encode(encoding))
    return len(starts)


def write_online(connection: duckdb.DuckDBPyConnection, orders: Columns, refunds: Columns,
                 out_dir: Path) -> int:
    register(connection, "order_lines", orders)
    register(connection, "refund_rows", refunds)
    written = write_text_files(connection, """
        SELECT 'online/' || platform || '/' || platform || '_orders_' || ymd(day) || '.jsonl'
                   AS file,
               to_json(struct_pack(
                   order_id := order_id, platform := platform,
                   shop_id := platform || '_flagship',
                   created_at := strftime(created_at, '%Y-%m-%dT%H:%M:%S+08:00'),
                   paid_at := strftime(paid_at, '%Y-%m-%dT%H:%M:%S+08:00'),
                   status := status, buyer_id := buyer_id,
                   receiver_province := receiver_province, receiver_city := receiver_city,
                   coupon_amount := money(coupon_amount),
                   platform_subsidy := money(platform_subsidy),
                   lines := list(struct_pack(
                       line_no := line_no, sku := sku, quantity := quantity,
                       unit_price := money(unit_price),
                       promo_discount := money(promo_discount)) ORDER BY line_no)))::VARCHAR
                   AS line
        FROM order_lines
        GROUP BY platform, day, order_id, created_at, paid_at, status, buyer_id,
                 receiver_province, receiver_city, coupon_amount, platform_subsidy
        ORDER BY file, created_at, order_id
    """, out_dir)
    written += write_text_files(connection, """
        SELECT 'online/' || platform || '/' || platform || '_refunds_' || ymd(day) || '.jsonl'
                   AS file,
               to_json(struct_pack(
                   refund_id := refund_id, platform := platform, order_id := order_id,
                   line_no := line_no, sku := sku, refund_quantity := refund_quantity,
                   refund_amount := money(refund_amount), refund_type := refund_type,
                   refunded_at := strftime(refunded_at, '%Y-%m-%dT%H:%M:%S+08:00'),
                   reason := reason))::VARCHAR AS line
        FROM refund_rows
        ORDER BY file, refunded_at, refund_id
    """, out_dir)
    return written


POS_HEADER = ",".join(("销售日期", "小票号", "门店编号", "门店名称", "行号", "商品编码", "商品名称",
                       "数量", "零售价", "折扣金额", "实收金额", "原小票号", "收银员", "交易时间"))


def write_store(connection: duckdb.DuckDBPyConnection, receipts: Columns, out_dir: Path) -> int:
    register(connection, "pos_lines", receipts)
    return write_text_files(connection, """
        SELECT 'store/pos_' || ymd(day) || '.csv' AS file,
               concat_ws(',', strftime(day, '%Y-%m-%d'), receipt_no, store_id, store_name,
                         line_no, sku, sku_name, quantity, money_text(price),
                         money_text(discount), money_text(paid), original_receipt, cashier,
                         strftime(time, '%Y-%m-%d %H:%M:%S')) AS line
        FROM pos_lines
        ORDER BY file, store_id, receipt_no, line_no
    """, out_dir,
        header=POS_HEADER, encoding="gb18030", newline="\r\n")


DISTRIBUTOR_HEADER = ("日期", "单据号", "商品编码", "商品名称", "数量", "标准单价", "折扣率",
                      "进货金额", "备注")


def write_distributors(connection: duckdb.DuckDBPyConnection, sell_in: Columns,
                       out_dir: Path) -> int:
    """One workbook per distributor-month: title block, header, lines, total row."""
    register(connection, "sell_in", sell_in)
    header_cells = "".join(
        f'<c r="{chr(65 + i)}5" t="inlineStr"><is><t>{name}</t></is></c>'
        for i, name in enumerate(DISTRIBUTOR_HEADER))
    rows = connection.sql(f"""
        WITH numbered AS (
            SELECT *, strftime(day, '%Y%m') AS yyyymm,
                   row_number() OVER (PARTITION BY distributor_id, strftime(day, '%Y%m')
                                      ORDER BY day, document, sku, _seq) + 5 AS r
            FROM sell_in
        ),
        data_rows AS (
            SELECT distributor_id, yyyymm, r,
                   '<row r="' || r || '">' || xdate('A' || r, day) || xstr('B' || r, document)
                   || xstr('C' || r, sku) || xstr('D' || r, sku_name)
                   || xnum('E' || r, quantity)
                   || CASE WHEN price < 0 THEN '' ELSE xmoney('F' || r, money(price)) END
                   || CASE WHEN rate < 0 THEN '' ELSE xnum('G' || r, round(rate, 4)) END
                   || xmoney('H' || r, money(amount)) || xstr('I' || r, note) || '</row>' AS xml
            FROM numbered
        ),
        files AS (
            SELECT distributor_id, any_value(distributor_name) AS distributor_name, yyyymm,
                   max(r) + 1 AS total_row, sum(quantity) AS units, sum(amount) AS amount
            FROM numbered GROUP BY distributor_id, yyyymm
        ),
        bodies AS (
            SELECT distributor_id, yyyymm, string_agg(xml, '' ORDER BY r) AS xml
            FROM data_rows GROUP BY distributor_id, yyyymm
        )
        SELECT 'distributor/' || f.yyyymm || '/' || f.distributor_id || '_' || f.yyyymm
                   || '.xlsx' AS file,
               xstr('A1', 'XX电子 经销商月度进货报表')
                   AS title,
               '<row r="2">' || xstr('A2', '经销商：' || f.distributor_name || '（'
                   || f.distributor_id || '）') || '</row>'
               || '<row r="3">' || xstr('A3', '报表月份：' || left(f.yyyymm, 4) || '年'
                   || right(f.yyyymm, 2) || '月') || '</row>'
               || '<row r="5">{header_cells}</row>'
               || d.xml
               || '<row r="' || f.total_row || '">' || xstr('A' || f.total_row, '合计')
               || xnum('E' || f.total_row, f.units)
               || xmoney('H' || f.total_row, money(f.amount)) || '</row>' AS body
        FROM files f JOIN bodies d USING (distributor_id, yyyymm)
        ORDER BY file
    """).fetchall()
    for file, title, body in rows:
        write_xlsx_sheet_data(out_dir / file, "进货明细", f'<row r="1">{title}</row>{body}')
    return len(rows)


SHOPEE_COLUMNS = ("Order ID", "Order Status", "Order Creation Date", "Username (Buyer)",
                  "SKU Reference No.", "Product Name", "Original Price", "Deal Price", "Quantity",
                  "Seller Voucher", "Shopee Voucher", "Returned Quantity", "Refund Amount")
LAZADA_COLUMNS = ("orderItemId", "orderNumber", "createTime", "sellerSku", "itemName",
                  "unitPrice", "paidPrice", "currency", "status", "buyerId")


def _local_amount(column: str) -> str:
    return f"""CASE WHEN country = 'vn' AND currency_of_row <> 'USD'
                    THEN printf('%.0f', "{column}") ELSE printf('%.2f', "{column}") END"""


def write_overseas(connection: duckdb.DuckDBPyConnection, shopee: Columns, lazada: Columns,
                   out_dir: Path) -> int:
    register(connection, "shopee_rows", shopee)
    register(connection, "lazada_rows", lazada)
    money_cols = ("Original Price", "Deal Price", "Seller Voucher", "Shopee Voucher",
                  "Refund Amount")
    shopee_fields = ", ".join(
        _local_amount(c) if c in money_cols
        else "strftime(\"Order Creation Date\", '%Y-%m-%d %H:%M')" if c == "Order Creation Date"
        else f'"{c}"' for c in SHOPEE_COLUMNS)
    written = write_text_files(connection, f"""
        SELECT 'overseas/shopee/' || country || '/shopee_' || country || '_orders_' || ymd(day)
                   || '.csv' AS file,
               concat_ws(',', {shopee_fields}) AS line
        FROM (SELECT *, 'local' AS currency_of_row FROM shopee_rows)
        ORDER BY file, "Order Creation Date", "Order ID", _seq
    """, out_dir, header=",".join(SHOPEE_COLUMNS))
    lazada_fields = ", ".join(
        _local_amount(c) if c in ("unitPrice", "paidPrice")
        else "strftime(createTime, '%d %b %Y %H:%M:%S')" if c == "createTime"
        else f'"{c}"' for c in LAZADA_COLUMNS)
    written += write_text_files(connection, f"""
        SELECT 'overseas/lazada/' || country || '/lazada_' || country || '_orders_' || ymd(day)
                   || '.csv' AS file,
               concat_ws(',', {lazada_fields}) AS line
        FROM (SELECT *, currency AS currency_of_row FROM lazada_rows)
        ORDER BY file, createTime, orderItemId, _seq
    """, out_dir, header=",".join(LAZADA_COLUMNS))
    return written


def write_csv(path: Path, header: list[str], rows: list[list[object]],
              render: Callable[[object], str] = str) -> None:
    """Small reference files (hundreds of rows): plain CSV, empty string for None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [",".join(header)] + [
        ",".join("" if value is None else render(value) for value in row) for row in rows]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
