"""The tables of the `raw` schema, declared once (see RAW_TABLES.md, the contract with staging).

Each declaration drives the DDL, the typing of staged strings, the quarantine rules and the
column schema shown in Dagster, so that the four never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_SCHEMA = "raw"
QUARANTINE_TABLE = "quarantine"
LOAD_LOG_TABLE = "load_log"
UNRECOGNIZED_TABLE = "unrecognized_files"

# How a staged string becomes a typed value. The parse kinds are implemented in core.py.
TEXT = "text"
INTEGER = "integer"
DECIMAL = "decimal"
DATE = "date"
TIMESTAMP = "timestamp"
TIMESTAMPTZ = "timestamptz"


@dataclass(frozen=True)
class RawColumn:
    name: str
    sql_type: str
    parse: str = TEXT
    # A row whose value is missing here cannot be used downstream: it goes to quarantine.
    required: bool = False
    # strptime format for local timestamps that are not ISO 8601 (overseas exports).
    strptime_format: str | None = None
    # The column is derived by the loader (path, title block), not read from the file header.
    derived: bool = False
    description: str = ""


@dataclass(frozen=True)
class RawTable:
    name: str
    description: str
    columns: tuple[RawColumn, ...]
    # Reference feeds are full snapshots: a load replaces the whole table, not one file's rows.
    snapshot: bool = False
    # SQL over the typed columns giving a row's business date (the `_business_date` column,
    # computed at load), exactly as staging dates the row; None for undated snapshots. The one
    # place each feed's business date is written.
    business_date_sql: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"

    @property
    def file_columns(self) -> tuple[RawColumn, ...]:
        """Columns that must be present in every file's header."""
        return tuple(column for column in self.columns if not column.derived)

    @property
    def lineage_columns(self) -> tuple[RawColumn, ...]:
        """The columns ingestion adds to the file's: the business date (dated feeds), lineage."""
        dated = (BUSINESS_DATE_COLUMN,) if self.business_date_sql else ()
        return dated + LINEAGE_COLUMNS

    @property
    def all_columns(self) -> tuple[RawColumn, ...]:
        return self.columns + self.lineage_columns


BUSINESS_DATE_COLUMN = RawColumn(
    "_business_date",
    "DATE",
    DATE,
    description="business date of the row, as staging dates it (RawTable.business_date_sql)",
)
LINEAGE_COLUMNS = (
    RawColumn("_source_file", "VARCHAR", description="path of the file relative to RAW_DIR"),
    RawColumn("_source_row", "BIGINT", description="1-based row of the record in the file"),
    RawColumn("_loaded_at", "TIMESTAMP", description="when the row was loaded (UTC)"),
    RawColumn("_load_batch", "VARCHAR", description="id of the load (Dagster run id)"),
)

MONEY = "DECIMAL(18,2)"


def _text(name: str, required: bool = False, derived: bool = False) -> RawColumn:
    return RawColumn(name, "VARCHAR", TEXT, required=required, derived=derived)


def _int(name: str, required: bool = False) -> RawColumn:
    return RawColumn(name, "INTEGER", INTEGER, required=required)


def _money(name: str, required: bool = False) -> RawColumn:
    return RawColumn(name, MONEY, DECIMAL, required=required)


def _date(name: str, required: bool = False) -> RawColumn:
    return RawColumn(name, "DATE", DATE, required=required)


def _local_ts(name: str, strptime_format: str | None = None) -> RawColumn:
    return RawColumn(name, "TIMESTAMP", TIMESTAMP, required=True, strptime_format=strptime_format)


def _tstz(name: str, required: bool = False) -> RawColumn:
    return RawColumn(name, "TIMESTAMPTZ", TIMESTAMPTZ, required=required)


ONLINE_ORDER_LINES = RawTable(
    "online_order_lines",
    "Shop back-end order exports (JSON Lines), one row per order line; "
    "_source_row is the JSONL line of the order.",
    (
        _text("order_id", required=True),
        _text("platform", required=True),
        _text("shop_id"),
        _tstz("created_at", required=True),
        _tstz("paid_at"),
        _text("status", required=True),
        _text("buyer_id"),
        _text("receiver_province"),
        _text("receiver_city"),
        _money("coupon_amount"),
        _money("platform_subsidy"),
        _int("line_no", required=True),
        _text("sku", required=True),
        _int("quantity", required=True),
        _money("unit_price", required=True),
        _money("promo_discount"),
    ),
    business_date_sql="cast(timezone('Asia/Shanghai', created_at) as date)",
)

ONLINE_REFUNDS = RawTable(
    "online_refunds",
    "Refunds processed per platform-day (JSON Lines), one row per refund.",
    (
        _text("refund_id", required=True),
        _text("platform", required=True),
        _text("order_id", required=True),
        _int("line_no", required=True),
        _text("sku", required=True),
        _int("refund_quantity", required=True),
        _money("refund_amount", required=True),
        _text("refund_type", required=True),
        _tstz("refunded_at", required=True),
        _text("reason"),
    ),
    business_date_sql="cast(timezone('Asia/Shanghai', refunded_at) as date)",
)

STORE_POS_LINES = RawTable(
    "store_pos_lines",
    "Store POS daily exports (GB18030 CSV, Chinese headers), one row per receipt line; "
    "return lines have negative 数量 and 实收金额.",
    (
        _date("销售日期", required=True),
        _text("小票号", required=True),
        _text("门店编号", required=True),
        _text("门店名称"),
        _int("行号", required=True),
        _text("商品编码", required=True),
        _text("商品名称"),
        _int("数量", required=True),
        _money("零售价", required=True),
        _money("折扣金额"),
        _money("实收金额", required=True),
        _text("原小票号"),
        _text("收银员"),
        _local_ts("交易时间"),
    ),
    business_date_sql='"销售日期"',
)

DISTRIBUTOR_SELL_IN = RawTable(
    "distributor_sell_in",
    "Monthly distributor sell-in reports (xlsx), one row per invoice line; the total row is "
    "checked against the lines and not loaded.",
    (
        _text("distributor_id", required=True, derived=True),
        RawColumn("report_month", "DATE", DATE, required=True, derived=True),
        _date("日期", required=True),
        _text("单据号", required=True),
        _text("商品编码"),
        _text("商品名称"),
        _int("数量", required=True),
        _money("标准单价"),
        RawColumn("折扣率", "DECIMAL(6,4)", DECIMAL),
        _money("进货金额", required=True),
        _text("备注"),
    ),
    # a line is dated by its own 日期 (the raw suite checks it lies in the report month)
    business_date_sql='"日期"',
)

SHOPEE_ORDERS = RawTable(
    "shopee_orders",
    "Shopee order exports (CSV, local currency and local time), one row per order line.",
    (
        _text("country", required=True, derived=True),
        _text("Order ID", required=True),
        _text("Order Status", required=True),
        _local_ts("Order Creation Date", "%Y-%m-%d %H:%M"),
        _text("Username (Buyer)"),
        _text("SKU Reference No.", required=True),
        _text("Product Name"),
        _money("Original Price", required=True),
        _money("Deal Price", required=True),
        _int("Quantity", required=True),
        _money("Seller Voucher"),
        _money("Shopee Voucher"),
        _int("Returned Quantity"),
        _money("Refund Amount"),
    ),
    # local time of the marketplace country, without zone: its date is the local date
    business_date_sql='cast("Order Creation Date" as date)',
)

LAZADA_ORDERS = RawTable(
    "lazada_orders",
    "Lazada order exports (CSV, local time), one row per item (quantity one).",
    (
        _text("country", required=True, derived=True),
        _text("orderItemId", required=True),
        _text("orderNumber", required=True),
        _local_ts("createTime", "%d %b %Y %H:%M:%S"),
        _text("sellerSku", required=True),
        _text("itemName"),
        _money("unitPrice", required=True),
        _money("paidPrice", required=True),
        _text("currency", required=True),
        _text("status", required=True),
        _text("buyerId"),
    ),
    business_date_sql='cast("createTime" as date)',
)

PRODUCTS = RawTable(
    "products",
    "SKU -> series -> product line with list price and unit cost per validity period "
    "(reference snapshot).",
    (
        _text("sku", required=True),
        _text("sku_name"),
        _text("series"),
        _text("series_name"),
        _text("product_line"),
        _money("list_price", required=True),
        _money("unit_cost", required=True),
        _date("valid_from", required=True),
        _date("valid_to"),
    ),
    snapshot=True,
)

STORES = RawTable(
    "stores",
    "Direct stores with city and open/close dates (reference snapshot).",
    (
        _text("store_id", required=True),
        _text("store_name"),
        _text("province"),
        _text("city"),
        _date("opened_on"),
        _date("closed_on"),
    ),
    snapshot=True,
)

DISTRIBUTORS = RawTable(
    "distributors",
    "Distributors with region, city, tier and contract dates (reference snapshot).",
    (
        _text("distributor_id", required=True),
        _text("distributor_name"),
        _text("region"),
        _text("province"),
        _text("city"),
        _int("distributor_tier"),
        _date("contract_start"),
        _date("contract_end"),
    ),
    snapshot=True,
)

TARGETS = RawTable(
    "targets",
    "Targets as finance publishes them (reference snapshot).",
    (
        _text("period_type", required=True),
        _date("period_start", required=True),
        _text("region", required=True),
        _text("channel_group", required=True),
        _text("product_line", required=True),
        _text("series", required=True),
        _text("metric", required=True),
        _money("target_value", required=True),
    ),
    snapshot=True,
)

FX_RATES = RawTable(
    "fx_rates",
    "Daily FX rates, CNY per unit of currency (reference snapshot).",
    (
        _date("rate_date", required=True),
        _text("currency", required=True),
        RawColumn("cny_per_unit", "DECIMAL(18,10)", DECIMAL, required=True),
    ),
    snapshot=True,
)

RAW_TABLES: dict[str, RawTable] = {
    table.name: table
    for table in (
        ONLINE_ORDER_LINES,
        ONLINE_REFUNDS,
        STORE_POS_LINES,
        DISTRIBUTOR_SELL_IN,
        SHOPEE_ORDERS,
        LAZADA_ORDERS,
        PRODUCTS,
        STORES,
        DISTRIBUTORS,
        TARGETS,
        FX_RATES,
    )
}
