"""Source-system records (orders, receipts, sell-in lines, marketplace rows) from drawn lines.

Only numbers leave this module: codes, indexes into small lookup tables, dates, integer cents.
Identifiers and text (order ids, receipt numbers, names) are composed by DuckDB when the files
are written (orchestration/datagen/files.py): building millions of strings in numpy costs
gigabytes of memory, in DuckDB it is a fast, parallel projection.
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
REFUND_REASONS = ("七天无理由退货", "商品质量问题", "发错货", "价格保护", "物流破损", "不想要了")
CASHIERS = ("张敏", "李娜", "王磊", "刘洋", "陈静", "杨帆", "赵丽", "黄伟")
CANCELLED_SHARE = 0.03
CURRENCIES = ("THB", "VND", "MYR", "USD")

Columns = dict[str, np.ndarray]


def lookups(
    cities: Cities, prices: PriceBook, stores: Outlets, distributors: Outlets
) -> dict[str, Columns]:
    """The small tables the writers join to (index -> text)."""
    return {
        "platforms": {
            "platform": np.arange(len(plan.ONLINE_PLATFORMS)),
            "platform_name": np.array(plan.ONLINE_PLATFORMS),
            "prefix": np.array([ORDER_PREFIX[p] for p in plan.ONLINE_PLATFORMS]),
        },
        "cities": {
            "city": np.arange(len(cities.code)),
            "province_zh": cities.province_zh,
            "city_zh": cities.name_zh,
        },
        "skus": {
            "sku": np.arange(len(prices.skus)),
            "sku_code": prices.skus,
            "sku_name": prices.sku_names,
        },
        "stores": {
            "store": np.arange(len(stores.ids)),
            "store_id": stores.ids,
            "store_name": stores.names,
        },
        "distributors": {
            "distributor": np.arange(len(distributors.ids)),
            "distributor_id": distributors.ids,
            "distributor_name": distributors.names,
        },
        "reasons": {
            "reason": np.arange(len(REFUND_REASONS)),
            "reason_text": np.array(REFUND_REASONS),
        },
        "cashiers": {"cashier": np.arange(len(CASHIERS)), "cashier_name": np.array(CASHIERS)},
        "countries": {
            "country": np.arange(len(plan.OVERSEAS_COUNTRIES)),
            "country_code": np.array(plan.OVERSEAS_COUNTRIES),
        },
        "currencies": {
            "currency": np.arange(len(CURRENCIES)),
            "currency_code": np.array(CURRENCIES),
        },
    }


def _seconds_into_day(
    rng: np.random.Generator, n: int, start_hour: int, end_hour: int
) -> np.ndarray:
    return rng.integers(start_hour * 3600, end_hour * 3600, n)


def _index_of(values: np.ndarray, vocabulary: tuple[str, ...]) -> np.ndarray:
    index = np.full(len(values), -1, dtype=np.int64)
    for i, name in enumerate(vocabulary):
        index[values == name] = i
    return index


def _first_line_of(document: np.ndarray) -> np.ndarray:
    first = np.full(int(document.max()) + 1 if len(document) else 0, -1)
    first[document[::-1]] = np.arange(len(document))[::-1]
    return first


def online_orders(
    rng: np.random.Generator,
    lines: Lines,
    order: np.ndarray,
    line_no: np.ndarray,
    discounts: OrderDiscounts,
    money: SolvedMoney,
) -> Columns:
    """One row per order line, the order header repeated (cancelled copies included)."""
    idx = np.flatnonzero(lines.group == "online")
    order_of_line = order[idx]
    first = idx[_first_line_of(order_of_line)]
    n_orders = len(first)
    seconds = _seconds_into_day(rng, n_orders, 0, 24)
    evening = rng.random(n_orders) < 0.7
    seconds[evening] = _seconds_into_day(rng, int(evening.sum()), 9, 24)
    orders = {
        "order_idx": np.arange(n_orders),
        "platform": _index_of(lines.channel[first], plan.ONLINE_PLATFORMS),
        "day": lines.day[first],
        "seconds": seconds,
        "pay_delay": rng.integers(5, 300, n_orders),
        "cancelled": np.zeros(n_orders, bool),
        "buyer": rng.integers(0, max(n_orders // 2, 1), n_orders),
        "city": lines.city[first],
        "coupon_amount": discounts.coupon,
        "platform_subsidy": discounts.subsidy,
    }
    line_columns = {
        "order_idx": order_of_line,
        "line_no": line_no[idx],
        "sku": lines.sku[idx],
        "quantity": lines.quantity[idx],
        "unit_price": lines.price[idx],
        "promo_discount": money.discount[idx],
    }
    orders, line_columns = _with_cancelled_orders(rng, orders, line_columns)
    table = {k: v[line_columns["order_idx"]] for k, v in orders.items() if k != "order_idx"}
    table.update(line_columns)
    return table


def _with_cancelled_orders(
    rng: np.random.Generator, orders: Columns, line_columns: Columns
) -> tuple[Columns, Columns]:
    """Some orders are placed and cancelled: copies under new ids that are not sales."""
    n_orders = len(orders["order_idx"])
    picked = np.flatnonzero(rng.random(n_orders) < CANCELLED_SHARE)
    copies = {k: v[picked].copy() for k, v in orders.items()}
    copies["order_idx"] = n_orders + np.arange(len(picked))
    copies["cancelled"][:] = True
    copies["coupon_amount"][:] = 0
    copies["platform_subsidy"][:] = 0
    new_index = np.full(n_orders, -1)
    new_index[picked] = copies["order_idx"]
    copied = np.flatnonzero(new_index[line_columns["order_idx"]] >= 0)
    extra = {k: v[copied].copy() for k, v in line_columns.items()}
    extra["order_idx"] = new_index[extra["order_idx"]]
    extra["promo_discount"][:] = 0
    return (
        {k: np.concatenate([orders[k], copies[k]]) for k in orders},
        {k: np.concatenate([line_columns[k], extra[k]]) for k in line_columns},
    )


def online_refunds(
    rng: np.random.Generator, lines: Lines, refunds: Refunds, order: np.ndarray, line_no: np.ndarray
) -> Columns:
    idx = np.flatnonzero(lines.group[refunds.line] == "online")
    line = refunds.line[idx]
    full = refunds.kind[idx] == "full"
    reason = np.where(full, rng.integers(0, 3, len(idx)), 3)
    reason[~full & (rng.random(len(idx)) < 0.3)] = 4
    return {
        "refund_idx": np.arange(len(idx)),
        "platform": _index_of(lines.channel[line], plan.ONLINE_PLATFORMS),
        "day": refunds.day[idx],
        "seconds": _seconds_into_day(rng, len(idx), 9, 22),
        "order_idx": order[line],
        "line_no": line_no[line],
        "sku": lines.sku[line],
        "refund_quantity": refunds.quantity[idx],
        "refund_amount": refunds.amount[idx],
        "full": full,
        "reason": reason,
    }


def store_receipts(
    rng: np.random.Generator, lines: Lines, refunds: Refunds, money: SolvedMoney
) -> Columns:
    """Sale lines grouped into receipts, and return lines on receipts of their own."""
    idx = np.flatnonzero(lines.group == "store")
    receipt, line_no = group_into_documents(
        rng, [lines.outlet[idx], lines.day[idx].astype(int)], 0.55
    )
    first = _first_line_of(receipt)
    receipt_seconds = _seconds_into_day(rng, len(first), 10, 22)
    receipt_cashier = rng.integers(0, len(CASHIERS), len(first))
    receipt_of_line = np.full(len(lines), -1, dtype=np.int64)
    receipt_of_line[idx] = receipt
    r_idx = np.flatnonzero(lines.group[refunds.line] == "store")
    line = refunds.line[r_idx]
    n_returns = len(r_idx)
    return {
        "store": np.concatenate([lines.outlet[idx], lines.outlet[line]]),
        "day": np.concatenate([lines.day[idx], refunds.day[r_idx]]),
        "is_return": np.concatenate([np.zeros(len(idx), bool), np.ones(n_returns, bool)]),
        # Receipt numbering: sales receipts by receipt index, each return its own receipt.
        "receipt_idx": np.concatenate([receipt, len(first) + np.arange(n_returns)]),
        "line_no": np.concatenate([line_no, np.ones(n_returns, dtype=np.int64)]),
        "sku": np.concatenate([lines.sku[idx], lines.sku[line]]),
        "quantity": np.concatenate([lines.quantity[idx], -refunds.quantity[r_idx]]),
        "price": np.concatenate([lines.price[idx], lines.price[line]]),
        "discount": np.concatenate([money.discount[idx], -money.discount[line]]),
        "paid": np.concatenate([money.paid[idx], -refunds.amount[r_idx]]),
        "original_receipt_idx": np.concatenate([np.full(len(idx), -1), receipt_of_line[line]]),
        "cashier": np.concatenate(
            [receipt_cashier[receipt], rng.integers(0, len(CASHIERS), n_returns)]
        ),
        "seconds": np.concatenate(
            [receipt_seconds[receipt], _seconds_into_day(rng, n_returns, 10, 22)]
        ),
    }


def distributor_lines(
    lines: Lines,
    refunds: Refunds,
    money: SolvedMoney,
    rebates: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Columns:
    """Goods lines (kind 0), returns (1) and monthly rebate lines (2) of the sell-in reports."""
    idx = np.flatnonzero(lines.group == "distributor")
    r_idx = np.flatnonzero(lines.group[refunds.line] == "distributor")
    line = refunds.line[r_idx]
    rebate_outlet, rebate_month, rebate_amount = rebates
    n_goods, n_returns, n_rebates = len(idx), len(r_idx), len(rebate_outlet)
    month_end = (rebate_month + 1).astype("datetime64[D]") - 1
    return {
        "distributor": np.concatenate([lines.outlet[idx], lines.outlet[line], rebate_outlet]),
        "day": np.concatenate([lines.day[idx], refunds.day[r_idx], month_end]),
        "kind": np.repeat(np.array([0, 1, 2], dtype=np.int8), [n_goods, n_returns, n_rebates]),
        "sku": np.concatenate([lines.sku[idx], lines.sku[line], np.full(n_rebates, -1)]),
        "quantity": np.concatenate(
            [lines.quantity[idx], -refunds.quantity[r_idx], np.zeros(n_rebates, dtype=np.int64)]
        ),
        "price": np.concatenate(
            [lines.price[idx], lines.price[line], np.full(n_rebates, -1, dtype=np.int64)]
        ),
        "rate_bp": np.concatenate(
            [
                np.rint(money.rate[idx] * 10_000),
                np.rint(money.rate[line] * 10_000),
                np.full(n_rebates, -1),
            ]
        ).astype(np.int64),
        "amount": np.concatenate([money.paid[idx], -refunds.amount[r_idx], -rebate_amount]),
    }


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


def overseas_rows(rng: np.random.Generator, lines: Lines) -> tuple[Columns, Columns]:
    idx = np.flatnonzero(lines.group == "overseas")
    order, _ = group_into_documents(
        rng, [lines.channel[idx], lines.region[idx], lines.day[idx].astype(int)], 0.75
    )
    country = _index_of(lines.region[idx], plan.OVERSEAS_COUNTRIES)
    currency = np.array([COUNTRY_CURRENCY[c] for c in plan.OVERSEAS_COUNTRIES])[country]
    lazada = lines.channel[idx] == "lazada"
    currency = np.where(lazada & (lines.region[idx] == "vn"), "USD", currency)
    original = _local_price(lines.price[idx] / 100, currency)
    step = np.where(currency == "VND", 1000.0, 1.0)
    deal = np.maximum(np.round(original * rng.uniform(0.85, 0.97, len(idx)) / step) * step, step)
    deal = np.minimum(
        np.where(np.isin(currency, ["MYR", "USD"]), np.round(deal) - 0.01, deal), original
    )
    seconds = _seconds_into_day(rng, len(idx), 8, 24)
    status_draw = rng.random(len(idx))
    s = np.flatnonzero(~lazada)
    order[s] = _one_row_per_sku(order[s], lines.sku[idx][s], int(order.max(initial=-1)) + 1)
    seconds = _one_per_order(seconds, order)
    quantity = lines.quantity[idx][s]
    seller_voucher = np.where(rng.random(len(s)) < 0.2, np.round(deal[s] * quantity * 0.02), 0)
    shopee_voucher = np.where(rng.random(len(s)) < 0.2, np.round(deal[s] * quantity * 0.03), 0)
    returned = status_draw[s] < plan.FULL_REFUND_RATE["overseas"]
    shopee = {
        "country": country[s],
        "day": lines.day[idx][s],
        "seconds": seconds[s],
        "order_no": order[s],
        "buyer": _one_per_order(rng.integers(10**6, 10**7, len(s)), order[s]),
        "sku": lines.sku[idx][s],
        "original_price": original[s],
        "deal_price": deal[s],
        "quantity": quantity,
        "seller_voucher": seller_voucher,
        "shopee_voucher": shopee_voucher,
        "status": np.where(returned, 2, 0).astype(np.int8),
        "returned_quantity": np.where(returned, quantity, 0),
        "refund_amount": np.where(
            returned, deal[s] * quantity - seller_voucher - shopee_voucher, 0.0
        ),
    }
    shopee = _with_cancelled_rows(
        rng, shopee, ["returned_quantity", "refund_amount", "seller_voucher", "shopee_voucher"]
    )
    z = np.flatnonzero(lazada)
    item = np.repeat(z, lines.quantity[idx][z])  # Lazada reports one row per item
    lazada_rows = {
        "country": country[item],
        "day": lines.day[idx][item],
        "seconds": seconds[item],
        "item_no": np.arange(len(item)),
        "order_no": order[item],
        "sku": lines.sku[idx][item],
        "unit_price": original[item],
        "paid_price": deal[item],
        "currency": _index_of(currency[item], CURRENCIES),
        "status": np.where(rng.random(len(item)) < plan.FULL_REFUND_RATE["overseas"], 2, 0).astype(
            np.int8
        ),
        "buyer": _one_per_order(rng.integers(10**7, 10**8, len(item)), order[item]),
    }
    lazada_rows = _with_cancelled_rows(rng, lazada_rows, [])
    return shopee, lazada_rows


def _one_per_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Every row takes its order's value (its first row's): an order id is one order, created
    once by one buyer. (One value is still drawn per row, which keeps the draws that follow.)"""
    _, first, inverse = np.unique(order, return_index=True, return_inverse=True)
    return values[first][inverse]


def _one_row_per_sku(order: np.ndarray, sku: np.ndarray, next_order: int) -> np.ndarray:
    """Shopee lists a SKU once per order: a repeated SKU moves to an order of its own."""
    by_order_sku = np.lexsort((sku, order))
    repeated = np.zeros(len(order), dtype=bool)
    repeated[by_order_sku[1:]] = (order[by_order_sku][1:] == order[by_order_sku][:-1]) & (
        sku[by_order_sku][1:] == sku[by_order_sku][:-1]
    )
    order = order.copy()
    order[repeated] = next_order + np.arange(int(repeated.sum()))
    return order


def _with_cancelled_rows(
    rng: np.random.Generator, rows: Columns, zero_columns: list[str]
) -> Columns:
    """Cancelled orders (status 1) are exported too: copies of some rows, flagged."""
    picked = np.flatnonzero(rng.random(len(rows["status"])) < CANCELLED_SHARE)
    copies = {k: v[picked].copy() for k, v in rows.items()}
    copies["status"][:] = 1
    for column in zero_columns:
        copies[column][:] = 0
    copies["copy"] = np.ones(len(picked), dtype=bool)
    rows = {**rows, "copy": np.zeros(len(rows["status"]), dtype=bool)}
    return {k: np.concatenate([rows[k], copies[k]]) for k in rows}
