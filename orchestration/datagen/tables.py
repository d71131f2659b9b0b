"""Source-system records (orders, receipts, sell-in lines, marketplace rows) from drawn lines.

Everything here is column arithmetic on numpy arrays; identifiers and timestamps follow what
each source system writes. Money stays in integer cents until the files are written.
"""

from __future__ import annotations

import numpy as np

from orchestration.datagen import plan
from orchestration.datagen.catalog import COUNTRY_CURRENCY, FX_BASE, Cities, Outlets, PriceBook
from orchestration.datagen.draw import Lines, group_into_documents
from orchestration.datagen.money import OrderDiscounts, Refunds, SolvedMoney

ORDER_PREFIX = {
    "tmall": "TM",
    "jd": "JD",
    "pinduoduo": "PD",
    "douyin": "DY",
    "wecom_community": "WC",
}
REFUND_REASONS = np.array(
    ["七天无理由退货", "商品质量问题", "发错货", "价格保护", "物流破损", "不想要了"]
)
CASHIERS = np.array(["张敏", "李娜", "王磊", "刘洋", "陈静", "杨帆", "赵丽", "黄伟"])
CANCELLED_SHARE = 0.03

Columns = dict[str, np.ndarray]


def _day_sequence(keys: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """1-based sequence number of each document within its key (e.g. platform-day)."""
    order = np.lexsort((rng.random(len(keys[0])), *reversed(keys)))
    new = np.zeros(len(order), dtype=bool)
    new[0:1] = True
    for key in keys:
        k = key[order]
        new[1:] |= k[1:] != k[:-1]
    start = np.flatnonzero(new)
    sequence_sorted = np.arange(len(order)) - start[np.cumsum(new) - 1] + 1
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = sequence_sorted
    return sequence


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded text (numpy's zfill cannot take an empty array)."""
    return np.char.zfill(values, width) if len(values) else values.astype(str)


def _times(rng: np.random.Generator, day: np.ndarray, start_hour: int, end_hour: int) -> np.ndarray:
    seconds = rng.integers(start_hour * 3600, end_hour * 3600, len(day))
    return day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def _ymd(day: np.ndarray) -> np.ndarray:
    """YYYYMMDD (or YYYYMM for a month array) as text, computed on integers."""
    if np.datetime_data(day.dtype)[0] == "M":
        months = day.astype(int)
        return ((months // 12 + 1970) * 100 + months % 12 + 1).astype(str)
    days = day.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    number = _ymd(months).astype(np.int64) * 100 + (days - months).astype(int) + 1
    return number.astype(str)


def _yymmdd(day: np.ndarray) -> np.ndarray:
    return _zfill((_ymd(day).astype(np.int64) % 1_000_000).astype(str), 6)


def online_orders(
    rng: np.random.Generator,
    lines: Lines,
    cities: Cities,
    prices: PriceBook,
    order: np.ndarray,
    line_no: np.ndarray,
    discounts: OrderDiscounts,
    money: SolvedMoney,
) -> tuple[Columns, np.ndarray]:
    """Order lines with their order header; returns them and each sale line's order id."""
    idx = np.flatnonzero(lines.group == "online")
    order_of_line = order[idx]
    n_orders = int(order_of_line.max()) + 1
    first_line = np.full(n_orders, -1)
    first_line[order_of_line[::-1]] = idx[::-1]
    o_channel, o_day = lines.channel[first_line], lines.day[first_line]
    o_city = lines.city[first_line]
    created = _times(rng, o_day, 0, 24)
    evening = rng.random(n_orders) < 0.7
    created[evening] = _times(rng, o_day[evening], 9, 24)
    sequence = _day_sequence([o_channel, o_day.astype(int)], rng)
    prefix = np.array([ORDER_PREFIX[c] for c in plan.ONLINE_PLATFORMS])[
        _index_of(o_channel, plan.ONLINE_PLATFORMS)
    ]
    order_id = np.char.add(np.char.add(prefix, _yymmdd(o_day)), _zfill(sequence.astype(str), 6))
    buyer_pool = max(n_orders // 2, 1)
    buyer = np.char.add(
        np.char.add(np.char.lower(prefix), "_u_"),
        _zfill(rng.integers(0, buyer_pool, n_orders).astype(str), 7),
    )
    orders = {
        "platform": o_channel,
        "order_id": order_id,
        "day": o_day,
        "created_at": created,
        "paid_at": created + rng.integers(5, 300, n_orders).astype("timedelta64[s]"),
        "status": np.full(n_orders, "completed"),
        "buyer_id": buyer,
        "receiver_province": cities.province_zh[o_city],
        "receiver_city": cities.name_zh[o_city],
        "coupon_amount": discounts.coupon,
        "platform_subsidy": discounts.subsidy,
    }
    line_columns = {
        "order": order_of_line,
        "line_no": line_no[idx],
        "sku": prices.skus[lines.sku[idx]],
        "quantity": lines.quantity[idx],
        "unit_price": lines.price[idx],
        "promo_discount": money.discount[idx],
    }
    orders, line_columns = _with_cancelled_orders(rng, orders, line_columns)
    table = {k: v[line_columns["order"]] for k, v in orders.items()}
    table.update({k: v for k, v in line_columns.items() if k != "order"})
    order_id_of_line = np.full(len(lines), "", dtype=object)
    order_id_of_line[idx] = order_id[order_of_line]
    return table, order_id_of_line


def _with_cancelled_orders(
    rng: np.random.Generator, orders: Columns, line_columns: Columns
) -> tuple[Columns, Columns]:
    """Some orders are placed and cancelled: copies with new ids that are not sales."""
    n_orders = len(orders["order_id"])
    picked = np.flatnonzero(rng.random(n_orders) < CANCELLED_SHARE)
    copies = {k: v[picked].copy() for k, v in orders.items()}
    copies["status"][:] = "cancelled"
    copies["paid_at"] = np.full(len(picked), np.datetime64("NaT"), dtype="datetime64[s]")
    copies["coupon_amount"][:] = 0
    copies["platform_subsidy"][:] = 0
    # Cancelled orders take sequence numbers from 900000 up within their platform-day.
    sequence = _day_sequence([copies["platform"], copies["day"].astype(int)], rng) + 900_000
    prefix = np.array([oid[:8] for oid in copies["order_id"].tolist()], dtype="U8")
    copies["order_id"] = np.char.add(prefix, sequence.astype(str))
    new_index = np.full(n_orders, -1)
    new_index[picked] = n_orders + np.arange(len(picked))
    copied_lines = np.flatnonzero(np.isin(line_columns["order"], picked))
    extra_lines = {k: v[copied_lines].copy() for k, v in line_columns.items()}
    extra_lines["order"] = new_index[extra_lines["order"]]
    extra_lines["promo_discount"][:] = 0
    merged_orders = {k: np.concatenate([orders[k], copies[k]]) for k in orders}
    merged_lines = {k: np.concatenate([line_columns[k], extra_lines[k]]) for k in line_columns}
    return merged_orders, merged_lines


def online_refunds(
    rng: np.random.Generator,
    lines: Lines,
    refunds: Refunds,
    order_id_of_line: np.ndarray,
    line_no: np.ndarray,
    prices: PriceBook,
) -> Columns:
    idx = np.flatnonzero(lines.group[refunds.line] == "online")
    line = refunds.line[idx]
    day = refunds.day[idx]
    channel = lines.channel[line]
    sequence = _day_sequence([channel, day.astype(int)], rng)
    prefix = np.array([ORDER_PREFIX[c] for c in plan.ONLINE_PLATFORMS])[
        _index_of(channel, plan.ONLINE_PLATFORMS)
    ]
    refund_id = np.char.add(
        np.char.add(np.char.add("RF", prefix), _yymmdd(day)), _zfill(sequence.astype(str), 5)
    )
    reason = np.where(
        refunds.kind[idx] == "full",
        REFUND_REASONS[rng.integers(0, 3, len(idx))],
        REFUND_REASONS[rng.integers(3, 6, len(idx))],
    )
    reason[(refunds.kind[idx] == "partial")] = REFUND_REASONS[3]
    return {
        "refund_id": refund_id,
        "platform": channel,
        "day": day,
        "order_id": order_id_of_line[line].astype(str),
        "line_no": line_no[line],
        "sku": prices.skus[lines.sku[line]],
        "refund_quantity": refunds.quantity[idx],
        "refund_amount": refunds.amount[idx],
        "refund_type": refunds.kind[idx],
        "refunded_at": _times(rng, day, 9, 22),
        "reason": reason,
    }


def store_receipts(
    rng: np.random.Generator,
    lines: Lines,
    refunds: Refunds,
    stores: Outlets,
    prices: PriceBook,
    money: SolvedMoney,
) -> Columns:
    idx = np.flatnonzero(lines.group == "store")
    receipt, line_no = group_into_documents(
        rng, [lines.outlet[idx], lines.day[idx].astype(int)], 0.55
    )
    store = lines.outlet[idx]
    day = lines.day[idx]
    first_of_receipt = np.full(int(receipt.max()) + 1, -1)
    first_of_receipt[receipt[::-1]] = np.arange(len(idx))[::-1]
    sequence = _day_sequence([store[first_of_receipt], day[first_of_receipt].astype(int)], rng)
    receipt_no = np.char.add(
        np.char.add(stores.ids[store[first_of_receipt]], _ymd(day[first_of_receipt])),
        _zfill(sequence.astype(str), 4),
    )
    time = _times(rng, day[first_of_receipt], 10, 22)
    cashier = CASHIERS[rng.integers(0, len(CASHIERS), len(first_of_receipt))]
    sales = {
        "day": day,
        "receipt_no": receipt_no[receipt],
        "store": store,
        "line_no": line_no,
        "sku": lines.sku[idx],
        "quantity": lines.quantity[idx],
        "price": lines.price[idx],
        "discount": money.discount[idx],
        "paid": money.paid[idx],
        "original_receipt": np.full(len(idx), ""),
        "cashier": cashier[receipt],
        "time": time[receipt],
    }
    receipt_of_line = np.full(len(lines), "", dtype=object)
    receipt_of_line[idx] = receipt_no[receipt]
    r_idx = np.flatnonzero(lines.group[refunds.line] == "store")
    line = refunds.line[r_idx]
    r_day = refunds.day[r_idx]
    r_sequence = _day_sequence([lines.outlet[line], r_day.astype(int)], rng)
    r_receipt = np.char.add(
        np.char.add(np.char.add(stores.ids[lines.outlet[line]], _ymd(r_day)), "R"),
        _zfill(r_sequence.astype(str), 3),
    )
    returns = {
        "day": r_day,
        "receipt_no": r_receipt,
        "store": lines.outlet[line],
        "line_no": np.ones(len(r_idx), dtype=np.int64),
        "sku": lines.sku[line],
        "quantity": -lines.quantity[line],
        "price": lines.price[line],
        "discount": -money.discount[line],
        "paid": -refunds.amount[r_idx],
        "original_receipt": receipt_of_line[line].astype(str),
        "cashier": CASHIERS[rng.integers(0, len(CASHIERS), len(r_idx))],
        "time": _times(rng, r_day, 10, 22),
    }
    table = {k: np.concatenate([sales[k], returns[k]]) for k in sales}
    table["store_id"] = stores.ids[table["store"]]
    table["store_name"] = stores.names[table["store"]]
    table["sku_name"] = prices.sku_names[table["sku"]]
    table["sku"] = prices.skus[table["sku"]]
    return table


def distributor_lines(
    rng: np.random.Generator,
    lines: Lines,
    refunds: Refunds,
    distributors: Outlets,
    prices: PriceBook,
    money: SolvedMoney,
    rebates: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Columns:
    idx = np.flatnonzero(lines.group == "distributor")
    outlet, day = lines.outlet[idx], lines.day[idx]
    invoice_seq = _day_sequence([outlet, day.astype("datetime64[M]").astype(int)], rng)
    goods = {
        "outlet": outlet,
        "day": day,
        "document": np.char.add(np.char.add("XS", _ymd(day)), _zfill(invoice_seq.astype(str), 4)),
        "sku": prices.skus[lines.sku[idx]],
        "sku_name": prices.sku_names[lines.sku[idx]],
        "quantity": lines.quantity[idx],
        "price": lines.price[idx],
        "rate": money.rate[idx],
        "amount": money.paid[idx],
        "note": np.full(len(idx), ""),
    }
    r_idx = np.flatnonzero(lines.group[refunds.line] == "distributor")
    line = refunds.line[r_idx]
    r_day = refunds.day[r_idx]
    r_seq = _day_sequence([lines.outlet[line], r_day.astype("datetime64[M]").astype(int)], rng)
    returns = {
        "outlet": lines.outlet[line],
        "day": r_day,
        "document": np.char.add(np.char.add("TH", _ymd(r_day)), _zfill(r_seq.astype(str), 4)),
        "sku": prices.skus[lines.sku[line]],
        "sku_name": prices.sku_names[lines.sku[line]],
        "quantity": -refunds.quantity[r_idx],
        "price": lines.price[line],
        "rate": money.rate[line],
        "amount": -refunds.amount[r_idx],
        "note": np.full(len(r_idx), "退货"),
    }
    rebate_outlet, rebate_month, rebate_amount = rebates
    month_end = (rebate_month + 1).astype("datetime64[D]") - 1
    rebate_lines = {
        "outlet": rebate_outlet,
        "day": month_end,
        "document": np.char.add(
            np.char.add("FL", distributors.ids[rebate_outlet]), _ymd(rebate_month)
        ),
        "sku": np.full(len(rebate_outlet), ""),
        "sku_name": np.full(len(rebate_outlet), "月度返利"),
        "quantity": np.zeros(len(rebate_outlet), dtype=np.int64),
        "price": np.full(len(rebate_outlet), -1, dtype=np.int64),
        "rate": np.full(len(rebate_outlet), -1.0),
        "amount": -rebate_amount,
        "note": np.full(len(rebate_outlet), "月度返利"),
    }
    parts = (goods, returns, rebate_lines)
    table = {k: np.concatenate([p[k] for p in parts]) for k in goods}
    table["distributor_id"] = distributors.ids[table["outlet"]]
    table["distributor_name"] = distributors.names[table["outlet"]]
    return table


LOCAL_ROUNDING = {"THB": 10.0, "MYR": 1.0, "VND": 10_000.0, "USD": 1.0}


def _local_price(cny: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """Marketplace list price in local currency: converted at the base rate, made 'nice'."""
    result = np.zeros(len(cny))
    for name, step in LOCAL_ROUNDING.items():
        mine = currency == name
        value = cny[mine] / FX_BASE[name]
        nice = np.maximum(np.round(value / step) * step, step)
        result[mine] = nice - (0.01 if name in ("MYR", "USD") else 0)
    return result


def overseas_rows(
    rng: np.random.Generator, lines: Lines, prices: PriceBook
) -> tuple[Columns, Columns]:
    idx = np.flatnonzero(lines.group == "overseas")
    order, _ = group_into_documents(
        rng, [lines.channel[idx], lines.region[idx], lines.day[idx].astype(int)], 0.75
    )
    country = lines.region[idx]
    currency = np.array([COUNTRY_CURRENCY[c] for c in plan.OVERSEAS_COUNTRIES])[
        _index_of(country, plan.OVERSEAS_COUNTRIES)
    ]
    lazada = lines.channel[idx] == "lazada"
    currency = np.where(lazada & (country == "vn"), "USD", currency)
    original = _local_price(lines.price[idx] / 100, currency)
    step = np.where(np.isin(currency, ["VND"]), 1000.0, 1.0)
    deal = np.maximum(np.round(original * rng.uniform(0.85, 0.97, len(idx)) / step) * step, step)
    deal = np.where(np.isin(currency, ["MYR", "USD"]), np.round(deal, 0) - 0.01, deal)
    deal = np.minimum(deal, original)
    created = _times(rng, lines.day[idx], 8, 24)
    status_draw = rng.random(len(idx))
    shopee = ~lazada
    s = np.flatnonzero(shopee)
    quantity = lines.quantity[idx][s]
    seller_voucher = np.where(rng.random(len(s)) < 0.2, np.round(deal[s] * quantity * 0.02, 0), 0)
    shopee_voucher = np.where(rng.random(len(s)) < 0.2, np.round(deal[s] * quantity * 0.03, 0), 0)
    returned = status_draw[s] < plan.FULL_REFUND_RATE["overseas"]
    shopee_rows = {
        "country": country[s],
        "day": lines.day[idx][s],
        "Order ID": np.char.add(
            np.char.upper(country[s]), _zfill((order[s] + 240000000000).astype(str), 14)
        ),
        "Order Status": np.where(returned, "Return/Refund", "Completed"),
        "Order Creation Date": created[s],
        "Username (Buyer)": np.char.add("sp_", rng.integers(10**6, 10**7, len(s)).astype(str)),
        "SKU Reference No.": prices.skus[lines.sku[idx][s]],
        "Product Name": prices.sku_names[lines.sku[idx][s]],
        "Original Price": original[s],
        "Deal Price": deal[s],
        "Quantity": quantity,
        "Seller Voucher": seller_voucher,
        "Shopee Voucher": shopee_voucher,
        "Returned Quantity": np.where(returned, quantity, 0),
        "Refund Amount": np.where(
            returned, deal[s] * quantity - seller_voucher - shopee_voucher, 0
        ),
    }
    shopee_rows = _with_cancelled_rows(
        rng, shopee_rows, "Order Status", "Cancelled", ["Returned Quantity", "Refund Amount"]
    )
    z = np.flatnonzero(lazada)
    units = lines.quantity[idx][z]
    item = np.repeat(z, units)  # Lazada reports one row per item
    item_returned = rng.random(len(item)) < plan.FULL_REFUND_RATE["overseas"]
    lazada_rows = {
        "country": country[item],
        "day": lines.day[idx][item],
        "orderItemId": (np.arange(len(item)) + 3_000_000_000).astype(str),
        "orderNumber": (order[item] + 700_000_000).astype(str),
        "createTime": created[item],
        "sellerSku": prices.skus[lines.sku[idx][item]],
        "itemName": prices.sku_names[lines.sku[idx][item]],
        "unitPrice": original[item],
        "paidPrice": deal[item],
        "currency": currency[item],
        "status": np.where(item_returned, "returned", "delivered"),
        "buyerId": rng.integers(10**7, 10**8, len(item)).astype(str),
    }
    lazada_rows = _with_cancelled_rows(rng, lazada_rows, "status", "canceled", [])
    return shopee_rows, lazada_rows


def _with_cancelled_rows(
    rng: np.random.Generator,
    rows: Columns,
    status_column: str,
    cancelled: str,
    zero_columns: list[str],
) -> Columns:
    picked = np.flatnonzero(rng.random(len(rows[status_column])) < CANCELLED_SHARE)
    copies = {k: v[picked].copy() for k, v in rows.items()}
    copies[status_column] = np.full(len(picked), cancelled)
    for column in zero_columns:
        copies[column] = np.zeros(len(picked), dtype=copies[column].dtype)
    id_column = "Order ID" if "Order ID" in rows else "orderItemId"
    copies[id_column] = np.char.add(copies[id_column].astype(str), "C")
    return {k: np.concatenate([rows[k], copies[k]]) for k in rows}


def _index_of(values: np.ndarray, vocabulary: tuple[str, ...]) -> np.ndarray:
    index = np.full(len(values), -1, dtype=np.int64)
    for i, name in enumerate(vocabulary):
        index[values == name] = i
    return index
