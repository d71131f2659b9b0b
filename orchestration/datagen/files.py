"""Writing the feeds in their source systems' formats, with DuckDB doing the formatting.

Each feed's numeric records are handed to DuckDB as Arrow together with small lookup tables;
DuckDB composes identifiers and text, renders one line (or spreadsheet row) per record and
aggregates each file's content in a deterministic order. Python only writes the finished
files, a month at a time and on a few threads (file creation dominates on slow disks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.datagen.xlsx import write_xlsx_sheet_data

Columns = dict[str, np.ndarray]
# The business dates a writer keeps (first, last), None for all: a year after the plan years
# is drawn whole and written up to the run's end date.
Window = tuple[np.datetime64, np.datetime64] | None
WRITER_THREADS = 4
FILES_PER_BATCH = 64

MACROS = r"""
CREATE OR REPLACE MACRO money_text(cents) AS
    CASE WHEN cents < 0 THEN '-' ELSE '' END || (abs(cents) // 100)::VARCHAR || '.'
    || lpad((abs(cents) % 100)::VARCHAR, 2, '0');
CREATE OR REPLACE MACRO money(cents) AS CAST(money_text(cents) AS DECIMAL(18, 2));
CREATE OR REPLACE MACRO at_time(d, seconds) AS d::TIMESTAMP + to_seconds(seconds);
CREATE OR REPLACE MACRO local_amount(v, decimals) AS
    CASE WHEN decimals = 0 THEN printf('%.0f', v) ELSE printf('%.2f', v) END;
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
    connection.execute("SET preserve_insertion_order = false")
    connection.execute(MACROS)
    return connection


def register(
    connection: duckdb.DuckDBPyConnection, name: str, columns: Columns, row_numbers: bool = True
) -> None:
    """Expose numpy columns to SQL; `_seq` (the row's position) breaks ties deterministically."""
    arrays = {key: pa.array(values) for key, values in columns.items()}
    if row_numbers:
        arrays["_seq"] = pa.array(np.arange(len(next(iter(columns.values())))))
    connection.register(name, pa.table(arrays))


def register_all(
    connection: duckdb.DuckDBPyConnection, tables: dict[str, Columns], row_numbers: bool = True
) -> None:
    for name, columns in tables.items():
        register(connection, name, columns, row_numbers)


def _months(connection: duckdb.DuckDBPyConnection, table: str, window: Window) -> list[str]:
    """First days of the months `table` has rows in (inside the window).

    The daily feeds are composed a month at a time: DuckDB holds every line's text and then
    every file's while it composes, a year of that at benchmark scale is gigabytes.
    """
    rows = connection.sql(
        f"SELECT DISTINCT date_trunc('month', day)::DATE FROM {table} "
        f"WHERE {_within('day', window)} ORDER BY 1"
    ).fetchall()
    return [row[0].isoformat() for row in rows]


def _within(column: str, window: Window) -> str:
    """SQL: `column` (a date) falls inside the window. Identifiers (order ids, receipt and
    document numbers) are numbered before this filter, so they do not depend on the window."""
    if window is None:
        return "TRUE"
    return f"{column} BETWEEN DATE '{window[0]}' AND DATE '{window[1]}'"


def _in_month(column: str, month: str) -> str:
    """SQL: `column` (a date) falls in the month starting on `month` (a plain range, which
    DuckDB pushes into the scan)."""
    return f"{column} >= DATE '{month}' AND {column} < DATE '{month}' + INTERVAL 1 MONTH"


def _file_batches(
    connection: duckdb.DuckDBPyConnection, sql: str
) -> Iterator[list[tuple[str, str]]]:
    reader = connection.sql(sql).fetch_arrow_reader(FILES_PER_BATCH)
    for batch in reader:
        yield list(
            zip(batch.column("file").to_pylist(), batch.column("content").to_pylist(), strict=True)
        )


def write_files(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    out_dir: Path,
    encode: Callable[[str], bytes] = str.encode,
) -> int:
    """Run `sql` (columns file, content) and write every file; returns how many."""
    written = 0

    def write(item: tuple[str, str]) -> None:
        path = out_dir / item[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(item[1]))

    with ThreadPoolExecutor(WRITER_THREADS) as pool:
        for batch in _file_batches(connection, sql):
            list(pool.map(write, batch))
            written += len(batch)
    return written


def _per_file(lines_sql: str, order_by: str) -> str:
    """Wrap a query of (file, line, sort keys...) into one row per file with its content."""
    return f"""
        SELECT file, string_agg(line, chr(10) ORDER BY {order_by}) || chr(10) AS content
        FROM ({lines_sql}) GROUP BY file ORDER BY file"""


ORDER_IDS = """
CREATE OR REPLACE TEMP TABLE order_ids AS
SELECT order_idx, prefix || strftime(day, '%y%m%d') || lpad((dense_rank() OVER (
           PARTITION BY platform, day, cancelled ORDER BY seconds, order_idx)
           + CASE WHEN cancelled THEN 900000 ELSE 0 END)::VARCHAR, 6, '0') AS order_id
FROM (SELECT DISTINCT order_idx, platform, day, seconds, cancelled FROM online_lines)
JOIN platforms USING (platform)
"""


def write_online(
    connection: duckdb.DuckDBPyConnection, out_dir: Path, window: Window = None
) -> int:
    connection.execute(ORDER_IDS)
    written = 0
    for month in _months(connection, "online_lines", window):
        written += write_files(
            connection,
            _per_file(
                f"""
            SELECT 'online/' || platform_name || '/' || platform_name || '_orders_'
                       || strftime(day, '%Y%m%d') || '.jsonl' AS file,
                   to_json(struct_pack(
                       order_id := order_id, platform := platform_name,
                       shop_id := platform_name || '_flagship',
                       created_at := strftime(at_time(day, seconds), '%Y-%m-%dT%H:%M:%S+08:00'),
                       paid_at := CASE WHEN cancelled THEN NULL ELSE strftime(
                           at_time(day, seconds + pay_delay), '%Y-%m-%dT%H:%M:%S+08:00') END,
                       status := CASE WHEN cancelled THEN 'cancelled' ELSE 'completed' END,
                       buyer_id := lower(prefix) || '_u_' || lpad(buyer::VARCHAR, 7, '0'),
                       receiver_province := province_zh, receiver_city := city_zh,
                       coupon_amount := money(coupon_amount),
                       platform_subsidy := money(platform_subsidy),
                       lines := list(struct_pack(
                           line_no := line_no, sku := sku_code, quantity := quantity,
                           unit_price := money(unit_price),
                           promo_discount := money(promo_discount)) ORDER BY line_no)))::VARCHAR
                       AS line,
                   seconds, order_id
            FROM online_lines
            JOIN order_ids USING (order_idx) JOIN platforms USING (platform)
            JOIN cities USING (city) JOIN skus USING (sku)
            WHERE {_in_month("day", month)} AND {_within("day", window)}
            GROUP BY ALL
        """.replace(
                    "GROUP BY ALL",
                    "GROUP BY platform_name, day, order_id, seconds, pay_delay, "
                    "cancelled, prefix, buyer, province_zh, city_zh, coupon_amount, "
                    "platform_subsidy",
                ),
                "seconds, order_id",
            ),
            out_dir,
        )
    for month in _months(connection, "refund_rows", window):
        written += write_files(
            connection,
            _per_file(
                f"""
            SELECT 'online/' || platform_name || '/' || platform_name || '_refunds_'
                       || strftime(day, '%Y%m%d') || '.jsonl' AS file,
                   to_json(struct_pack(
                       refund_id := 'RF' || prefix || strftime(day, '%y%m%d') || lpad(
                           row_number() OVER (PARTITION BY platform, day
                                              ORDER BY seconds, refund_idx)::VARCHAR, 5, '0'),
                       platform := platform_name, order_id := order_id, line_no := line_no,
                       sku := sku_code, refund_quantity := refund_quantity,
                       refund_amount := money(refund_amount),
                       refund_type := CASE WHEN "full" THEN 'full' ELSE 'partial' END,
                       refunded_at := strftime(at_time(day, seconds), '%Y-%m-%dT%H:%M:%S+08:00'),
                       reason := reason_text))::VARCHAR AS line,
                   seconds, refund_idx
            FROM refund_rows
            JOIN order_ids USING (order_idx) JOIN platforms USING (platform)
            JOIN skus USING (sku) JOIN reasons USING (reason)
            WHERE {_in_month("day", month)} AND {_within("day", window)}
        """,
                "seconds, refund_idx",
            ),
            out_dir,
        )
    return written


POS_HEADER = ",".join(
    (
        "销售日期",
        "小票号",
        "门店编号",
        "门店名称",
        "行号",
        "商品编码",
        "商品名称",
        "数量",
        "零售价",
        "折扣金额",
        "实收金额",
        "原小票号",
        "收银员",
        "交易时间",
    )
)


def _pos_bytes(content: str) -> bytes:
    """Older Windows POS systems: GB18030, CRLF line ends, a header row."""
    return (POS_HEADER + "\r\n" + content.replace("\n", "\r\n")).encode("gb18030")


RECEIPT_IDS = """
CREATE OR REPLACE TEMP TABLE receipt_ids AS
SELECT receipt_idx, store_id || strftime(day, '%Y%m%d') || CASE WHEN is_return
           THEN 'R' || lpad(dense_rank() OVER (PARTITION BY store, day, is_return
                                             ORDER BY seconds, receipt_idx)::VARCHAR, 3, '0')
           ELSE lpad(dense_rank() OVER (PARTITION BY store, day, is_return
                                        ORDER BY seconds, receipt_idx)::VARCHAR, 4, '0') END
           AS receipt_no
FROM (SELECT DISTINCT receipt_idx, store, day, is_return, seconds FROM pos_lines)
JOIN stores USING (store)
"""


def write_store(connection: duckdb.DuckDBPyConnection, out_dir: Path, window: Window = None) -> int:
    connection.execute(RECEIPT_IDS)
    written = 0
    for month in _months(connection, "pos_lines", window):
        written += write_files(
            connection,
            _per_file(
                f"""
            SELECT 'store/pos_' || strftime(p.day, '%Y%m%d') || '.csv' AS file,
                   concat_ws(',', strftime(p.day, '%Y-%m-%d'), r.receipt_no, store_id,
                             store_name, line_no, sku_code, sku_name, quantity, money_text(price),
                             money_text(discount), money_text(paid),
                             coalesce(o.receipt_no, ''), cashier_name,
                             strftime(at_time(p.day, seconds), '%Y-%m-%d %H:%M:%S')) AS line,
                   store_id, r.receipt_no, line_no
            FROM pos_lines p
            JOIN receipt_ids r USING (receipt_idx)
            LEFT JOIN receipt_ids o ON o.receipt_idx = p.original_receipt_idx
            JOIN stores USING (store) JOIN skus USING (sku) JOIN cashiers USING (cashier)
            WHERE {_in_month("p.day", month)} AND {_within("p.day", window)}
        """,
                "store_id, receipt_no, line_no",
            ),
            out_dir,
            encode=_pos_bytes,
        )
    return written


DISTRIBUTOR_HEADER = (
    "日期",
    "单据号",
    "商品编码",
    "商品名称",
    "数量",
    "标准单价",
    "折扣率",
    "进货金额",
    "备注",
)
SELL_IN_LINES = """
-- document numbers before the window filter, spreadsheet rows after it
WITH documents AS (
    SELECT s.*, distributor_id, distributor_name, strftime(day, '%Y%m') AS yyyymm,
           CASE kind
               WHEN 0 THEN 'XS' || strftime(day, '%Y%m%d') || lpad(dense_rank() OVER (
                   PARTITION BY distributor, strftime(day, '%Y%m'), kind
                   ORDER BY day)::VARCHAR, 4, '0')
               WHEN 1 THEN 'TH' || strftime(day, '%Y%m%d') || lpad(row_number() OVER (
                   PARTITION BY distributor, strftime(day, '%Y%m'), kind
                   ORDER BY day, _seq)::VARCHAR, 4, '0')
               ELSE 'FL' || distributor_id || strftime(day, '%Y%m') END AS document
    FROM sell_in s JOIN distributors USING (distributor)
)
SELECT d.*, coalesce(sku_code, '') AS sku_text,
       CASE WHEN kind = 2 THEN '月度返利' ELSE sku_name END AS name_text,
       CASE kind WHEN 1 THEN '退货' WHEN 2 THEN '月度返利' ELSE '' END AS note,
       row_number() OVER (PARTITION BY distributor, yyyymm
                          ORDER BY day, document, sku, _seq) + 5 AS r
FROM documents d LEFT JOIN skus USING (sku)
WHERE {window}
"""


def write_distributors(
    connection: duckdb.DuckDBPyConnection, out_dir: Path, window: Window = None
) -> int:
    """One workbook per distributor-month: title block, header, lines, total row."""
    header_cells = "".join(
        f'<c r="{chr(65 + i)}5" t="inlineStr"><is><t>{name}</t></is></c>'
        for i, name in enumerate(DISTRIBUTOR_HEADER)
    )
    sell_in_lines = SELL_IN_LINES.format(window=_within("d.day", window))
    connection.execute(f"CREATE OR REPLACE TEMP TABLE sell_in_rows AS {sell_in_lines}")
    sql = f"""
        WITH data_rows AS (
            SELECT distributor_id, yyyymm, r,
                   '<row r="' || r || '">' || xdate('A' || r, day) || xstr('B' || r, document)
                   || xstr('C' || r, sku_text) || xstr('D' || r, name_text)
                   || xnum('E' || r, quantity)
                   || CASE WHEN price < 0 THEN '' ELSE xmoney('F' || r, money(price)) END
                   || CASE WHEN rate_bp < 0 THEN ''
                           ELSE xnum('G' || r, (rate_bp / 10000.0)::DECIMAL(6, 4)) END
                   || xmoney('H' || r, money(amount)) || xstr('I' || r, note) || '</row>' AS xml
            FROM sell_in_rows
        ),
        files AS (
            SELECT distributor_id, any_value(distributor_name) AS distributor_name, yyyymm,
                   max(r) + 1 AS total_row, sum(quantity) AS units, sum(amount) AS amount
            FROM sell_in_rows GROUP BY distributor_id, yyyymm
        ),
        bodies AS (
            SELECT distributor_id, yyyymm, string_agg(xml, '' ORDER BY r) AS xml
            FROM data_rows GROUP BY distributor_id, yyyymm
        )
        SELECT 'distributor/' || f.yyyymm || '/' || f.distributor_id || '_' || f.yyyymm
                   || '.xlsx' AS file,
               '<row r="1">' || xstr('A1', 'XX电子 经销商月度进货报表') || '</row>'
               || '<row r="2">' || xstr('A2', '经销商：' || f.distributor_name || '（'
                   || f.distributor_id || '）') || '</row>'
               || '<row r="3">' || xstr('A3', '报表月份：' || left(f.yyyymm, 4) || '年'
                   || right(f.yyyymm, 2) || '月') || '</row>'
               || '<row r="5">{header_cells}</row>' || d.xml
               || '<row r="' || f.total_row || '">' || xstr('A' || f.total_row, '合计')
               || xnum('E' || f.total_row, f.units)
               || xmoney('H' || f.total_row, money(f.amount)) || '</row>' AS content
        FROM files f JOIN bodies d USING (distributor_id, yyyymm)
        ORDER BY file
    """
    written = 0
    with ThreadPoolExecutor(WRITER_THREADS) as pool:
        for batch in _file_batches(connection, sql):
            list(
                pool.map(
                    lambda item: write_xlsx_sheet_data(out_dir / item[0], "进货明细", item[1]),
                    batch,
                )
            )
            written += len(batch)
    return written


SHOPEE_COLUMNS = (
    "Order ID",
    "Order Status",
    "Order Creation Date",
    "Username (Buyer)",
    "SKU Reference No.",
    "Product Name",
    "Original Price",
    "Deal Price",
    "Quantity",
    "Seller Voucher",
    "Shopee Voucher",
    "Returned Quantity",
    "Refund Amount",
)
LAZADA_COLUMNS = (
    "orderItemId",
    "orderNumber",
    "createTime",
    "sellerSku",
    "itemName",
    "unitPrice",
    "paidPrice",
    "currency",
    "status",
    "buyerId",
)


def _csv_bytes(header: tuple[str, ...]) -> Callable[[str], bytes]:
    return lambda content: (",".join(header) + "\n" + content).encode("utf-8")


def write_overseas(
    connection: duckdb.DuckDBPyConnection, out_dir: Path, window: Window = None
) -> int:
    written = write_files(
        connection,
        _per_file(
            f"""
        SELECT 'overseas/shopee/' || country_code || '/shopee_' || country_code || '_orders_'
                   || strftime(day, '%Y%m%d') || '.csv' AS file,
               concat_ws(',',
                   upper(country_code) || lpad((order_no + 240000000000)::VARCHAR, 14, '0')
                       || CASE WHEN copy THEN 'C' ELSE '' END,
                   CASE status WHEN 0 THEN 'Completed' WHEN 1 THEN 'Cancelled'
                               ELSE 'Return/Refund' END,
                   strftime(at_time(day, seconds), '%Y-%m-%d %H:%M'), 'sp_' || buyer, sku_code,
                   sku_name, local_amount(original_price, decimals),
                   local_amount(deal_price, decimals), quantity,
                   local_amount(seller_voucher, decimals),
                   local_amount(shopee_voucher, decimals), returned_quantity,
                   local_amount(refund_amount, decimals)) AS line,
               seconds, order_no, _seq
        FROM (SELECT *, CASE WHEN country_code = 'vn' THEN 0 ELSE 2 END AS decimals
              FROM shopee_rows JOIN countries USING (country)
              WHERE {_within("day", window)})
        JOIN skus USING (sku)
    """,
            "seconds, order_no, _seq",
        ),
        out_dir,
        encode=_csv_bytes(SHOPEE_COLUMNS),
    )
    written += write_files(
        connection,
        _per_file(
            f"""
        SELECT 'overseas/lazada/' || country_code || '/lazada_' || country_code || '_orders_'
                   || strftime(day, '%Y%m%d') || '.csv' AS file,
               concat_ws(',', (item_no + 3000000000)::VARCHAR
                                  || CASE WHEN copy THEN 'C' ELSE '' END,
                         (order_no + 700000000)::VARCHAR,
                         strftime(at_time(day, seconds), '%d %b %Y %H:%M:%S'), sku_code,
                         sku_name, local_amount(unit_price, decimals),
                         local_amount(paid_price, decimals), currency_code,
                         CASE status WHEN 0 THEN 'delivered' WHEN 1 THEN 'canceled'
                                     ELSE 'returned' END, buyer::VARCHAR) AS line,
               seconds, item_no, _seq
        FROM (SELECT *, CASE WHEN currency_code = 'VND' THEN 0 ELSE 2 END AS decimals
              FROM lazada_rows JOIN countries USING (country) JOIN currencies USING (currency)
              WHERE {_within("day", window)})
        JOIN skus USING (sku)
    """,
            "seconds, item_no, _seq",
        ),
        out_dir,
        encode=_csv_bytes(LAZADA_COLUMNS),
    )
    return written


def write_csv(
    path: Path, header: list[str], rows: list[list[object]], render: Callable[[object], str] = str
) -> None:
    """Small reference files (hundreds of rows): plain CSV, empty string for None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [",".join(header)] + [
        ",".join("" if value is None else render(value) for value in row) for row in rows
    ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
