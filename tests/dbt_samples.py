"""Hand-written raw rows for the dbt build test (tests/test_dbt_build.py).

`create_raw_schema(path)` writes the `raw` schema exactly as orchestration/ingest/RAW_TABLES.md
describes it (same table and column names, same types, four lineage columns) with a handful
of rows per feed. The expected mart values in the test were computed by hand from these rows;
the comments next to the rows give the arithmetic.

`TEST_CITIES_CSV` replaces dbt_project/seeds/ref_cities.csv in the test's copy of the project,
so that coverage denominators are small and known: east 5 cities, south 3, north 1.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import duckdb

from orchestration.ingest.tables import BUSINESS_DATE_COLUMN, RAW_TABLES

LINEAGE_DDL = "_source_file VARCHAR, _source_row BIGINT, _loaded_at TIMESTAMP, _load_batch VARCHAR"

RAW_DDL: dict[str, str] = {
    "online_order_lines": """
        order_id VARCHAR, platform VARCHAR, shop_id VARCHAR, created_at TIMESTAMPTZ,
        paid_at TIMESTAMPTZ, status VARCHAR, buyer_id VARCHAR, receiver_province VARCHAR,
        receiver_city VARCHAR, coupon_amount DECIMAL(18,2), platform_subsidy DECIMAL(18,2),
        line_no INTEGER, sku VARCHAR, quantity INTEGER, unit_price DECIMAL(18,2),
        promo_discount DECIMAL(18,2)""",
    "online_refunds": """
        refund_id VARCHAR, platform VARCHAR, order_id VARCHAR, line_no INTEGER, sku VARCHAR,
        refund_quantity INTEGER, refund_amount DECIMAL(18,2), refund_type VARCHAR,
        refunded_at TIMESTAMPTZ, reason VARCHAR""",
    "store_pos_lines": """
        "销售日期" DATE, "小票号" VARCHAR, "门店编号" VARCHAR, "门店名称" VARCHAR, "行号" INTEGER,
        "商品编码" VARCHAR, "商品名称" VARCHAR, "数量" INTEGER, "零售价" DECIMAL(18,2),
        "折扣金额" DECIMAL(18,2), "实收金额" DECIMAL(18,2), "原小票号" VARCHAR, "收银员" VARCHAR,
        "交易时间" TIMESTAMP""",
    "distributor_sell_in": """
        distributor_id VARCHAR, report_month DATE, "日期" DATE, "单据号" VARCHAR,
        "商品编码" VARCHAR, "商品名称" VARCHAR, "数量" INTEGER, "标准单价" DECIMAL(18,2),
        "折扣率" DECIMAL(6,4), "进货金额" DECIMAL(18,2), "备注" VARCHAR""",
    "shopee_orders": """
        country VARCHAR, "Order ID" VARCHAR, "Order Status" VARCHAR,
        "Order Creation Date" TIMESTAMP, "Username (Buyer)" VARCHAR, "SKU Reference No." VARCHAR,
        "Product Name" VARCHAR, "Original Price" DECIMAL(18,2), "Deal Price" DECIMAL(18,2),
        "Quantity" INTEGER, "Seller Voucher" DECIMAL(18,2), "Shopee Voucher" DECIMAL(18,2),
        "Returned Quantity" INTEGER, "Refund Amount" DECIMAL(18,2)""",
    "lazada_orders": """
        country VARCHAR, "orderItemId" VARCHAR, "orderNumber" VARCHAR, "createTime" TIMESTAMP,
        "sellerSku" VARCHAR, "itemName" VARCHAR, "unitPrice" DECIMAL(18,2),
        "paidPrice" DECIMAL(18,2), currency VARCHAR, status VARCHAR, "buyerId" VARCHAR""",
    "products": """
        sku VARCHAR, sku_name VARCHAR, series VARCHAR, series_name VARCHAR, product_line VARCHAR,
        list_price DECIMAL(18,2), unit_cost DECIMAL(18,2), valid_from DATE, valid_to DATE""",
    "stores": """
        store_id VARCHAR, store_name VARCHAR, province VARCHAR, city VARCHAR, opened_on DATE,
        closed_on DATE""",
    "distributors": """
        distributor_id VARCHAR, distributor_name VARCHAR, region VARCHAR, province VARCHAR,
        city VARCHAR, distributor_tier INTEGER, contract_start DATE, contract_end DATE""",
    "targets": """
        period_type VARCHAR, period_start DATE, region VARCHAR, channel_group VARCHAR,
        product_line VARCHAR, series VARCHAR, metric VARCHAR, target_value DECIMAL(18,2)""",
    "fx_rates": "rate_date DATE, currency VARCHAR, cny_per_unit DECIMAL(18,10)",
}

# The sample rows are laid out as tables, one source row per entry: keep them that way.
# fmt: off
LOADED = datetime(2024, 1, 16, 2, 0, 0)
LOADED_LATER = datetime(2024, 1, 16, 3, 0, 0)

# --- online -------------------------------------------------------------------------------
# TM1 (tmall, created 2023-04-01 00:30 Shanghai = 2023-03-31 16:30 UTC -> business date
#   2023-04-01): coupon 5 + subsidy 5 = 10.00 allocated over grosses 100 / 1000 / 100
#   (order gross 1200): 0.83 / 8.33 / 0.83 = 9.99, remainder 0.01 to line 2 (largest) -> 8.34.
#   gross 1200.00, discounts 0.83 + (50 + 8.34) + 0.83 = 60.00, net 1140.00,
#   cogs A1 @2023-04-01 600 + 2 x S1 20 = 640.00.
# TM2 (tmall 2022-04-10, delivered twice in two files): gross = net = 1000, cogs 600.
# TM3 (tmall, cancelled): rejected, reason cancelled_order.
# JD1 (jd 2023-06-30 20:00, 广州): A1 x2 = 2000.00, cogs 2 x 600 (cost valid 2023-06-30).
_O = "online/tmall/tmall_orders_{}.jsonl"
ONLINE_ORDER_LINES = [
    # order_id, platform, shop, created_at, paid_at, status, buyer, prov, city, coupon, subsidy,
    # line_no, sku, qty, unit_price, promo, _source_file, _source_row, _loaded_at
    ("TM1", "tmall", "tmall_flagship", "2023-04-01 00:30:00+08", "2023-04-01 00:31:00+08",
     "completed", "tm_u1", "浙江省", "杭州市", D("5.00"), D("5.00"),
     1, "S1", 1, D("100.00"), D("0.00"), _O.format("20230401"), 1, LOADED),
    ("TM1", "tmall", "tmall_flagship", "2023-04-01 00:30:00+08", "2023-04-01 00:31:00+08",
     "completed", "tm_u1", "浙江省", "杭州市", D("5.00"), D("5.00"),
     2, "A1", 1, D("1000.00"), D("50.00"), _O.format("20230401"), 1, LOADED),
    ("TM1", "tmall", "tmall_flagship", "2023-04-01 00:30:00+08", "2023-04-01 00:31:00+08",
     "completed", "tm_u1", "浙江省", "杭州市", D("5.00"), D("5.00"),
     3, "S1", 1, D("100.00"), D("0.00"), _O.format("20230401"), 1, LOADED),
    ("TM2", "tmall", "tmall_flagship", "2022-04-10 12:00:00+08", "2022-04-10 12:01:00+08",
     "completed", "tm_u2", "浙江省", "杭州市", D("0.00"), D("0.00"),
     1, "A1", 1, D("1000.00"), D("0.00"), _O.format("20220410"), 1, LOADED),
    # the same order re-delivered in another file: must count once
    ("TM2", "tmall", "tmall_flagship", "2022-04-10 12:00:00+08", "2022-04-10 12:01:00+08",
     "completed", "tm_u2", "浙江省", "杭州市", D("0.00"), D("0.00"),
     1, "A1", 1, D("1000.00"), D("0.00"), "online/tmall/tmall_orders_20220410_resend.jsonl", 1,
     LOADED_LATER),
    ("TM3", "tmall", "tmall_flagship", "2023-04-02 10:00:00+08", None,
     "cancelled", "tm_u3", "浙江省", "杭州市", D("0.00"), D("0.00"),
     1, "B1", 1, D("5000.00"), D("0.00"), _O.format("20230402"), 1, LOADED),
    ("JD1", "jd", "jd_store", "2023-06-30 20:00:00+08", "2023-06-30 20:01:00+08",
     "completed", "jd_u1", "广东省", "广州市", D("0.00"), D("0.00"),
     1, "A1", 2, D("1000.00"), D("0.00"), "online/jd/jd_orders_20230630.jsonl", 1, LOADED),
]

# RF1: JD1 line 1, 1 unit, 1000.00, refunded 2023-07-01 01:00 Shanghai (2023-06-30 UTC) ->
#   booked 2023-07-01 on jd: returns 1000, net -1000, units -1, cogs -600 (cost of the ORDER
#   date 2023-06-30, not the July cost 500).
# RF2: TM1 line 2, partial, 0 units, 100.00 on 2023-04-05: returns 100, cogs 0.
# RF3: refers to an unknown order: rejected (unknown_order).
ONLINE_REFUNDS = [
    ("RF1", "jd", "JD1", 1, "A1", 1, D("1000.00"), "full", "2023-07-01 01:00:00+08",
     "七天无理由退货", "online/jd/jd_refunds_20230701.jsonl", 1, LOADED),
    ("RF2", "tmall", "TM1", 2, "A1", 0, D("100.00"), "partial", "2023-04-05 10:00:00+08",
     "价格保护", "online/tmall/tmall_refunds_20230405.jsonl", 1, LOADED),
    ("RF3", "tmall", "XX999", 1, "A1", 1, D("50.00"), "full", "2023-04-06 10:00:00+08",
     "七天无理由退货", "online/tmall/tmall_refunds_20230406.jsonl", 1, LOADED),
]

# --- store --------------------------------------------------------------------------------
# 2023-04: S0001 (上海) R1: A1 2 x 1000 disc 100, S1 1 x 100; R2 return of 1 A1, paid -950.
#          S0002 (杭州) R3: B1 1 x 5000 disc 500 (file re-delivered: counts once).
#   gross 2000 + 100 + 5000 = 7100; discounts 600; returns 950; net 5550;
#   cogs (2 - 1) x 600 + 20 + 3500 = 4120; active stores 2; per store-month 7100 / 2 = 3550.
# 2023-05: S0003 (广州) R6: S1 3 x 100 -> net 300, cogs 60; R5 unknown SKU (rejected).
# 2023-04-02: S9999 (unknown store): rejected.
# 2022-05: S0003 R7: S1 2 x 100 = 200.
def _pos(day, receipt, store, name, line, sku, qty, price, disc, paid, orig, file, row,
         loaded=LOADED):
    return (date.fromisoformat(day), receipt, store, name, line, sku, "商品", qty, D(price),
            D(disc), D(paid), orig, "收银员01", datetime.fromisoformat(f"{day} 10:00:00"),
            file, row, loaded)


STORE_POS_LINES = [
    _pos("2023-04-01", "R1", "S0001", "上海店", 1, "A1", 2, "1000.00", "100.00", "1900.00", "",
         "store/pos_20230401.csv", 1),
    _pos("2023-04-01", "R1", "S0001", "上海店", 2, "S1", 1, "100.00", "0.00", "100.00", "",
         "store/pos_20230401.csv", 2),
    _pos("2023-04-03", "R2", "S0001", "上海店", 1, "A1", -1, "1000.00", "-50.00", "-950.00", "R1",
         "store/pos_20230403.csv", 1),
    _pos("2023-04-02", "R3", "S0002", "杭州店", 1, "B1", 1, "5000.00", "500.00", "4500.00", "",
         "store/pos_20230402.csv", 1),
    _pos("2023-04-02", "R3", "S0002", "杭州店", 1, "B1", 1, "5000.00", "500.00", "4500.00", "",
         "store/pos_20230402 (1).csv", 1, LOADED_LATER),
    _pos("2023-04-02", "R4", "S9999", "未知店", 1, "S1", 1, "100.00", "0.00", "100.00", "",
         "store/pos_20230402.csv", 2),
    _pos("2023-05-10", "R5", "S0003", "广州店", 1, "ZZ9", 1, "10.00", "0.00", "10.00", "",
         "store/pos_20230510.csv", 1),
    _pos("2023-05-10", "R6", "S0003", "广州店", 1, "S1", 3, "100.00", "0.00", "300.00", "",
         "store/pos_20230510.csv", 2),
    _pos("2022-05-10", "R7", "S0003", "广州店", 1, "S1", 2, "100.00", "0.00", "200.00", "",
         "store/pos_20220510.csv", 1),
]


# --- distributor --------------------------------------------------------------------------
# D001 (east, 苏州): Jan goods B1 1000 x 5000 at 10% off = 4,500,000 invoiced (gross 5,000,000,
#   discount 500,000) + standard rebate FL01 -45,000. YTD(Jan) 4,500,000: no extra rebate.
#   Feb goods A1 700 x 1000 = 700,000 and a return of 100 A1 = -100,000: YTD 5,100,000
#   > 5,000,000 -> accrued 255,000.00, extra rebate booked in Feb 255,000.00.
#   Mar report delivered twice; the later (corrected) file has S1 200 x 100 = 20,000:
#   YTD 5,120,000 -> accrued 256,000.00 -> extra rebate in Mar 1,000.00.
# D002 (south, 佛山): Feb S1 10 x 100 at 5% off = 950 (gross 1000); Feb 2022 S1 10 x 100 = 1000.
# D999: not in the distributor list: rejected.
def _dist(dist, month, day, doc, sku, qty, price, rate, amount, remark, file, row,
          loaded=LOADED):
    return (dist, date.fromisoformat(month), date.fromisoformat(day), doc, sku, "商品", qty,
            None if price is None else D(price), D(rate), D(amount), remark, file, row, loaded)


_DF = "distributor/{m}/{d}_{m}.xlsx"
DISTRIBUTOR_SELL_IN = [
    _dist("D001", "2023-01-01", "2023-01-15", "INV1", "B1", 1000, "5000.00", "0.1000",
          "4500000.00", None, _DF.format(m="202301", d="D001"), 6),
    _dist("D001", "2023-01-01", "2023-01-31", "FL01", "", 0, None, "0", "-45000.00", "月度返利",
          _DF.format(m="202301", d="D001"), 7),
    _dist("D001", "2023-02-01", "2023-02-10", "INV2", "A1", 700, "1000.00", "0", "700000.00",
          None, _DF.format(m="202302", d="D001"), 6),
    _dist("D001", "2023-02-01", "2023-02-20", "RT1", "A1", -100, "1000.00", "0", "-100000.00",
          "退货", _DF.format(m="202302", d="D001"), 7),
    # first delivery of the March report (superseded)
    _dist("D001", "2023-03-01", "2023-03-05", "INV3", "S1", 100, "100.00", "0", "10000.00",
          None, _DF.format(m="202303", d="D001"), 6),
    # corrected re-delivery: replaces the whole March report of D001
    _dist("D001", "2023-03-01", "2023-03-05", "INV3", "S1", 200, "100.00", "0", "20000.00",
          None, "distributor/202303/D001_202303_v2.xlsx", 6, LOADED_LATER),
    _dist("D002", "2023-02-01", "2023-02-10", "INV9", "S1", 10, "100.00", "0.0500", "950.00",
          None, _DF.format(m="202302", d="D002"), 6),
    _dist("D002", "2022-02-01", "2022-02-10", "INV8", "S1", 10, "100.00", "0", "1000.00",
          None, _DF.format(m="202202", d="D002"), 6),
    _dist("D999", "2023-02-01", "2023-02-11", "INV7", "S1", 1, "100.00", "0", "100.00",
          None, _DF.format(m="202302", d="D999"), 6),
]

# --- overseas -----------------------------------------------------------------------------
# SP1 (th, 2024-01-10, THB @0.2): gross 2 x 5000 = 10,000 THB -> 2000.00; discounts
#   (5000 - 4500) x 2 + 100 + 50 = 1150 THB -> 230.00; net 1770.00; cogs 2 x 500 = 1000.
# SP2 (th, 2024-01-15, THB @0.21): gross 333.33 -> 69.9993 -> 70.00; refund 111.11 -> 23.3331
#   -> 23.33; net 46.67; units 1; cogs 20.
# SP3 cancelled: rejected.
# shopee 2024-01: gross 2070.00, discounts 230.00, returns 23.33, net 1816.67, cogs 1020.
# LZ1 (vn, USD @7.1, delivered): gross 14 -> 99.40, discount 1 -> 7.10, net 92.30, cogs 20.
# LZ2 (vn, USD, returned): gross 99.40, discount 7.10, returns 13 -> 92.30, net 0, units 0.
# LZ3 (th, 2024-01-12: no THB rate that day): rejected (missing_fx_rate).
# lazada 2024-01: gross 198.80, discounts 14.20, returns 92.30, net 92.30, cogs 20, 1 order.
SHOPEE_ORDERS = [
    ("th", "SP1", "Completed", datetime(2024, 1, 10, 23, 30), "th_u1", "A1", "Phone A1",
     D("5000.00"), D("4500.00"), 2, D("100.00"), D("50.00"), 0, D("0.00"),
     "overseas/shopee/th/shopee_th_orders_20240110.csv", 1, LOADED),
    ("th", "SP2", "Return/Refund", datetime(2024, 1, 15, 9, 0), "th_u2", "S1", "Care",
     D("333.33"), D("333.33"), 1, D("0.00"), D("0.00"), 0, D("111.11"),
     "overseas/shopee/th/shopee_th_orders_20240115.csv", 1, LOADED),
    ("th", "SP3", "Cancelled", datetime(2024, 1, 15, 10, 0), "th_u3", "S1", "Care",
     D("333.33"), D("333.33"), 1, D("0.00"), D("0.00"), 0, D("0.00"),
     "overseas/shopee/th/shopee_th_orders_20240115.csv", 2, LOADED),
]
LAZADA_ORDERS = [
    ("vn", "LZ1", "LN1", datetime(2024, 1, 10, 14, 22, 10), "S1", "Care", D("14.00"),
     D("13.00"), "USD", "delivered", "vn_b1", "overseas/lazada/vn/lazada_vn_orders_20240110.csv",
     1, LOADED),
    ("vn", "LZ2", "LN1", datetime(2024, 1, 10, 14, 22, 10), "S1", "Care", D("14.00"),
     D("13.00"), "USD", "returned", "vn_b1", "overseas/lazada/vn/lazada_vn_orders_20240110.csv",
     2, LOADED),
    ("th", "LZ3", "LN3", datetime(2024, 1, 12, 9, 0, 0), "S1", "Care", D("100.00"),
     D("100.00"), "THB", "delivered", "th_b1", "overseas/lazada/th/lazada_th_orders_20240112.csv",
     1, LOADED),
]

# --- reference ----------------------------------------------------------------------------
_REF = "reference/{}.csv"
PRODUCTS = [
    ("A1", "Phone A1", "A", "A系列", "smartphone", D("1000.00"), D("600.00"),
     date(2022, 1, 1), date(2023, 6, 30), _REF.format("products"), 1, LOADED),
    ("A1", "Phone A1", "A", "A系列", "smartphone", D("1000.00"), D("500.00"),
     date(2023, 7, 1), None, _REF.format("products"), 2, LOADED),
    ("B1", "Laptop B1", "B", "B系列", "laptop", D("5000.00"), D("3500.00"),
     date(2022, 1, 1), None, _REF.format("products"), 3, LOADED),
    ("S1", "Care S1", "S", "S系列", "services", D("100.00"), D("20.00"),
     date(2022, 1, 1), None, _REF.format("products"), 4, LOADED),
]
STORES = [
    ("S0001", "上海店", "上海市", "上海市", date(2020, 1, 1), None,
     _REF.format("stores"), 1, LOADED),
    ("S0002", "杭州店", "浙江省", "杭州市", date(2020, 1, 1), None,
     _REF.format("stores"), 2, LOADED),
    ("S0003", "广州店", "广东省", "广州市", date(2020, 1, 1), None,
     _REF.format("stores"), 3, LOADED),
]
DISTRIBUTORS = [
    ("D001", "苏州经销商", "east", "江苏省", "苏州市", 1, date(2020, 1, 1), None,
     _REF.format("distributors"), 1, LOADED),
    ("D002", "佛山经销商", "south", "广东省", "佛山市", 2, date(2020, 1, 1), None,
     _REF.format("distributors"), 2, LOADED),
]


def _target(period_type, start, region, group, line, series, metric, value, row):
    return (period_type, date.fromisoformat(start), region, group, line, series, metric,
            D(value), _REF.format("targets"), row, LOADED)


# Latest business date in the data (as-of): 2024-01-15 (SP2).
TARGETS = [
    # FY2023 total: actual 4,827,840.00 (online 2040 + store 5850 + distributor 4,819,950);
    # 4,827,840 / 5,000,000 = 0.965568 -> at_risk; FY2022 actual 2200 -> yoy 2193.472727
    _target("year", "2023-01-01", "all", "all", "all", "all", "net_sales", "5000000.00", 1),
    # 2023-Q2 east x store: 5550 / 6000 = 0.925 -> at_risk; prior year 0 -> yoy null
    _target("quarter", "2023-04-01", "east", "store", "all", "all", "net_sales", "6000.00", 2),
    # 2024-Q1 overseas (running on 2024-01-15, 15 of 91 days): actual 1816.67 + 92.30 =
    # 1908.97; attainment 0.954485; pro rata target 2000 x 15 / 91 = 329.67 -> met
    _target("quarter", "2024-01-01", "all", "overseas", "all", "all", "net_sales", "2000.00", 3),
    # FY2023 east: 25 active distributors wanted (regional_coverage.distributor_target)
    _target("year", "2023-01-01", "east", "all", "all", "all", "active_distributors", "25", 4),
    # 2023-04 online: 1040 / 1000 -> met; yoy vs 2022-04 (1000) = 0.04
    _target("month", "2023-04-01", "all", "online", "all", "all", "net_sales", "1000.00", 5),
    # FY2023 smartphone (A1): online 941.66 - 100 + 2000 - 1000, store 1900 - 950,
    # distributor 700,000 - 100,000 - the Feb extra rebate 255,000 (allocated to INV2, the
    # only goods line of D001 in Feb) -> 347,791.66 / 300,000 = 1.159306 -> met
    _target("year", "2023-01-01", "all", "all", "smartphone", "all", "net_sales", "300000.00", 6),
    # FY2023 series A: 347,791.66 / 700,000 = 0.496845 -> missed
    _target("year", "2023-01-01", "all", "all", "all", "A", "net_sales", "700000.00", 7),
    # 2024-02 (after the as-of date): actual 0, status null
    _target("month", "2024-02-01", "all", "all", "all", "all", "net_sales", "1000.00", 8),
]

FX_RATES = [
    (date(2024, 1, 10), "THB", D("0.2000000000"), _REF.format("fx_rates"), 1, LOADED),
    (date(2024, 1, 10), "USD", D("7.1000000000"), _REF.format("fx_rates"), 2, LOADED),
    (date(2024, 1, 10), "VND", D("0.0002900000"), _REF.format("fx_rates"), 3, LOADED),
    (date(2024, 1, 15), "THB", D("0.2100000000"), _REF.format("fx_rates"), 4, LOADED),
]

RAW_ROWS: dict[str, list[tuple]] = {
    "online_order_lines": ONLINE_ORDER_LINES,
    "online_refunds": ONLINE_REFUNDS,
    "store_pos_lines": STORE_POS_LINES,
    "distributor_sell_in": DISTRIBUTOR_SELL_IN,
    "shopee_orders": SHOPEE_ORDERS,
    "lazada_orders": LAZADA_ORDERS,
    "products": PRODUCTS,
    "stores": STORES,
    "distributors": DISTRIBUTORS,
    "targets": TARGETS,
    "fx_rates": FX_RATES,
}

# A small city list: east 5 (tiers 1, new1, 2, 2, 3), south 3 (1, 2, 3), north 1 (1).
TEST_CITIES_CSV = """\
city_code,city_name_zh,city_name_en,province_code,province_name_zh,province_name_en,region,city_tier,city_type
310000,上海市,Shanghai,31,上海市,Shanghai,east,1,municipality
330100,杭州市,Hangzhou,33,浙江省,Zhejiang,east,new1,prefecture_city
330200,宁波市,Ningbo,33,浙江省,Zhejiang,east,2,prefecture_city
320500,苏州市,Suzhou,32,江苏省,Jiangsu,east,2,prefecture_city
321000,扬州市,Yangzhou,32,江苏省,Jiangsu,east,3,prefecture_city
440100,广州市,Guangzhou,44,广东省,Guangdong,south,1,prefecture_city
440600,佛山市,Foshan,44,广东省,Guangdong,south,2,prefecture_city
441200,肇庆市,Zhaoqing,44,广东省,Guangdong,south,3,prefecture_city
110000,北京市,Beijing,11,北京市,Beijing,north,1,municipality
"""

# fmt: on


def create_raw_schema(db_path: Path) -> None:
    """Create the raw schema with the sample rows in a new DuckDB file."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for table, ddl in RAW_DDL.items():
            con.execute(f"CREATE OR REPLACE TABLE raw.{table} ({ddl}, {LINEAGE_DDL})")
            rows = [(*row, "test-batch") for row in RAW_ROWS[table]]
            placeholders = ", ".join(["?"] * len(rows[0]))
            con.executemany(f"INSERT INTO raw.{table} VALUES ({placeholders})", rows)
            _add_business_date(con, table)
    finally:
        con.close()


def _add_business_date(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """The business date ingestion writes on a dated feed's rows, by ingestion's own
    expression (the one definition staging relies on)."""
    expression = RAW_TABLES[table].business_date_sql
    if expression:
        column = BUSINESS_DATE_COLUMN.name
        con.execute(f"ALTER TABLE raw.{table} ADD COLUMN {column} DATE")
        con.execute(f"UPDATE raw.{table} SET {column} = {expression}")
