"""Discounts, refunds and rebates, solved so that planned net sales come out exactly.

Refund events are drawn first (which lines, when, how much of the line). Discounts are then
fitted by iterative proportional fitting on two margins at once: quarter x channel group x
region (regional and quarterly figures) and year x channel group x series (product figures).
Refund amounts depend on what was paid, so the fit is repeated a few times until it settles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.datagen import plan
from orchestration.datagen.cells import Cells
from orchestration.datagen.draw import Lines

DESIGN_DISCOUNT_SPREAD = {"online": 0.5, "store": 0.4, "distributor": 0.08}
# Bounds that keep prices believable where a margin cell is too thin to be met exactly (at a
# tiny --scale a series may have a handful of lines a quarter): share of what is left to pay.
MAX_DISCOUNT_SHARE = 0.7
DISTRIBUTOR_RATE_BOUNDS = (0.05, 0.6)
REFUND_DELAY_DAYS = {"full": (3, 26), "partial": (1, 16), "store": (1, 15)}


@dataclass
class Refunds:
    """Refunds, store returns and distributor returns, one element per event."""

    line: np.ndarray  # index of the sale line
    day: np.ndarray  # booking date
    kind: np.ndarray  # full | partial (online), return (store, distributor)
    quantity: np.ndarray  # units that come back (0 for an amount-only partial refund)
    fraction: np.ndarray  # share of the paid amount refunded (partial refunds)
    amount: np.ndarray  # cents, filled by the solver

    def __len__(self) -> int:
        return len(self.line)


def draw_refunds(rng: np.random.Generator, lines: Lines, last_day: np.datetime64) -> Refunds:
    """An exact share of each year x group x series' lines comes back (keeps COGS on plan)."""
    year = lines.day.astype("datetime64[Y]").astype(int)
    group_code = _codes(lines.group)
    rank = _random_rank_within(rng, [year, group_code, lines.series])
    size = _group_size([year, group_code, lines.series])
    rate_full = _per_group(lines.group, plan.FULL_REFUND_RATE)
    rate_partial = _per_group(lines.group, plan.PARTIAL_REFUND_RATE)
    domestic = lines.group != "overseas"
    full = domestic & (rank < np.rint(rate_full * size))
    partial = domestic & ~full & (rank < np.rint((rate_full + rate_partial) * size))
    index = np.flatnonzero(full | partial)
    is_full = full[index]
    group = lines.group[index]
    delay = np.where(
        group == "online",
        np.where(
            is_full,
            rng.integers(*REFUND_DELAY_DAYS["full"], len(index)),
            rng.integers(*REFUND_DELAY_DAYS["partial"], len(index)),
        ),
        rng.integers(*REFUND_DELAY_DAYS["store"], len(index)),
    )
    # A distributor return comes with the next or the one after next month's report.
    month_later = lines.day[index].astype("datetime64[M]") + rng.integers(1, 3, len(index))
    in_month = rng.integers(0, 28, len(index)).astype("timedelta64[D]")
    day = np.where(
        group == "distributor",
        month_later.astype("datetime64[D]") + in_month,
        lines.day[index] + delay.astype("timedelta64[D]"),
    )
    quantity = np.where(is_full, lines.quantity[index], 0)
    returned_share = rng.uniform(0.1, 0.5, len(index))
    distributor = group == "distributor"
    quantity[distributor] = np.clip(
        np.rint(lines.quantity[index][distributor] * returned_share[distributor]),
        1,
        lines.quantity[index][distributor],
    ).astype(int)
    kind = np.where(group == "online", np.where(is_full, "full", "partial"), "return")
    fraction = np.where(is_full, 1.0, rng.uniform(0.05, 0.3, len(index)))
    arrived = day <= last_day
    return Refunds(
        index[arrived],
        day[arrived],
        kind[arrived],
        quantity[arrived],
        fraction[arrived],
        np.zeros(arrived.sum(), dtype=np.int64),
    )


def keep_refunds_while_open(
    refunds: Refunds, lines: Lines, group: str, last_month_open: np.ndarray
) -> Refunds:
    """Drop returns booked after the store closed / the distributor's contract ended."""
    line = refunds.line
    mine = lines.group[line] == group
    outlet_closed = last_month_open[np.where(mine, lines.outlet[line], 0)]
    after_close = (
        mine & ~np.isnat(outlet_closed) & (refunds.day.astype("datetime64[M]") > outlet_closed)
    )
    keep = ~after_close
    return Refunds(
        line[keep],
        refunds.day[keep],
        refunds.kind[keep],
        refunds.quantity[keep],
        refunds.fraction[keep],
        refunds.amount[keep],
    )


@dataclass
class OrderDiscounts:
    """Online order-level discounts and their allocation to lines (cents)."""

    coupon: np.ndarray  # per order
    subsidy: np.ndarray  # per order
    allocated: np.ndarray  # per line


COUPON_STEPS = ((20_000, 500), (100_000, 2_000), (300_000, 10_000), (np.inf, 20_000))
SUBSIDY_PROBABILITY = {
    "tmall": 0.2,
    "jd": 0.25,
    "pinduoduo": 0.55,
    "douyin": 0.4,
    "wecom_community": 0.1,
}


def draw_order_discounts(
    rng: np.random.Generator, lines: Lines, order: np.ndarray, line_no: np.ndarray
) -> OrderDiscounts:
    """Shop coupons and platform subsidies per online order, allocated like the warehouse does."""
    online = np.flatnonzero(lines.group == "online")
    n_orders = int(order[online].max()) + 1 if len(online) else 0
    order_gross = np.bincount(order[online], weights=lines.gross[online], minlength=n_orders)
    order_channel = np.empty(n_orders, dtype=object)
    order_channel[order[online]] = lines.channel[online]
    thresholds = np.array([t for t, _ in COUPON_STEPS])
    values = np.array([v for _, v in COUPON_STEPS], dtype=np.int64)
    coupon = np.where(
        rng.random(n_orders) < 0.35, values[np.searchsorted(thresholds, order_gross)], 0
    )
    subsidy_p = np.vectorize(SUBSIDY_PROBABILITY.get, otypes=[float])(order_channel)
    subsidy = np.where(
        rng.random(n_orders) < subsidy_p,
        np.rint(order_gross * rng.uniform(0.01, 0.04, n_orders) / 100) * 100,
        0,
    )
    cap = np.floor(order_gross * 0.3)
    coupon = np.minimum(coupon, cap).astype(np.int64)
    subsidy = np.minimum(subsidy, cap - coupon).astype(np.int64)
    allocated = np.zeros(len(lines), dtype=np.int64)
    allocated[online] = allocate_cents(
        (coupon + subsidy)[order[online]],
        lines.gross[online].astype(float),
        order[online],
        tie_break=line_no[online],
    )
    return OrderDiscounts(coupon, subsidy, allocated)


def allocate_cents(
    total: np.ndarray, weight: np.ndarray, group: np.ndarray, tie_break: np.ndarray
) -> np.ndarray:
    """Split each group's total (given per member) in proportion to weight, to the cent.

    The rounding remainder goes to the member with the largest weight (lowest tie_break on
    ties): the same rule the warehouse applies, so both sides agree to the cent.
    """
    n_groups = int(group.max()) + 1 if len(group) else 0
    weight_sum = np.bincount(group, weights=weight, minlength=n_groups)
    share = np.divide(
        weight, weight_sum[group], out=np.zeros_like(weight), where=weight_sum[group] > 0
    )
    rounded = np.rint(total * share).astype(np.int64)
    group_total = np.zeros(n_groups, dtype=np.int64)
    group_total[group] = total
    remainder = group_total - np.bincount(group, weights=rounded, minlength=n_groups).astype(
        np.int64
    )
    order = np.lexsort((tie_break, -weight, group))
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    rounded[first] += remainder[group[first]]
    return rounded


@dataclass
class SolvedMoney:
    discount: np.ndarray  # per line, cents (online: line promotion only)
    rate: np.ndarray  # per line, distributor discount rate (4 decimals), else 0
    paid: np.ndarray  # per line, cents: what the customer or distributor paid
    infeasible_cells: int


def solve_discounts(
    rng: np.random.Generator,
    lines: Lines,
    refunds: Refunds,
    allocated: np.ndarray,
    cells: Cells,
    iterations: int = 4,
) -> SolvedMoney:
    domestic = lines.group != "overseas"
    spread = _per_group(lines.group, DESIGN_DISCOUNT_SPREAD)
    seed_weight = lines.gross * rng.uniform(1 - spread, 1 + spread)
    rows, cols, n_rows, n_cols = _margin_keys(lines.day, lines.group, lines.region, lines.series)
    r_rows, r_cols, _, _ = _margin_keys(
        refunds.day,
        lines.group[refunds.line],
        lines.region[refunds.line],
        lines.series[refunds.line],
        n_rows_cols=(n_rows, n_cols),
    )
    net_rows, net_cols = _planned_net(cells, n_rows, n_cols)
    discount = np.zeros(len(lines), dtype=np.int64)
    rate = np.zeros(len(lines))
    distributor = lines.group == "distributor"
    row_is_distributor = np.zeros(n_rows, dtype=bool)
    row_is_distributor[rows[distributor]] = True
    col_is_distributor = np.zeros(n_cols, dtype=bool)
    col_is_distributor[cols[distributor]] = True
    infeasible = 0
    used_rows, row_idx = np.unique(rows[domestic], return_inverse=True)
    used_cols, col_idx = np.unique(cols[domestic], return_inverse=True)
    for _ in range(iterations):
        paid = lines.gross - allocated - discount
        refunds.amount = _refund_amounts(lines, refunds, paid, rate)
        need_rows = _required_discounts(
            lines, refunds, allocated, rows, r_rows, n_rows, net_rows, row_is_distributor, domestic
        )
        need_cols = _required_discounts(
            lines, refunds, allocated, cols, r_cols, n_cols, net_cols, col_is_distributor, domestic
        )
        used_rows = np.bincount(rows[domestic], minlength=n_rows) > 0
        used_cols = np.bincount(cols[domestic], minlength=n_cols) > 0
        infeasible = int((used_rows & (need_rows < 0)).sum() + (used_cols & (need_cols < 0)).sum())
        fitted = _fit_two_margins(
            seed_weight[domestic],
            row_idx,
            col_idx,
            np.maximum(need_rows[used_rows], 0),
            np.maximum(need_cols[used_cols], 0),
        )
        ceiling = np.floor(MAX_DISCOUNT_SHARE * (lines.gross - allocated)[domestic])
        discount[domestic] = np.clip(np.rint(fitted), 0, ceiling).astype(np.int64)
        rate[distributor] = np.clip(
            np.round(discount[distributor] / lines.gross[distributor], 4), *DISTRIBUTOR_RATE_BOUNDS
        )
        invoiced = invoiced_cents(
            lines.quantity[distributor], lines.price[distributor], rate[distributor]
        )
        discount[distributor] = lines.gross[distributor] - invoiced
    paid = lines.gross - allocated - discount
    refunds.amount = _refund_amounts(lines, refunds, paid, rate)
    return SolvedMoney(discount, rate, paid, infeasible)


def _refund_amounts(
    lines: Lines, refunds: Refunds, paid: np.ndarray, rate: np.ndarray
) -> np.ndarray:
    line = refunds.line
    distributor = lines.group[line] == "distributor"
    return np.where(
        distributor,
        invoiced_cents(refunds.quantity, lines.price[line], rate[line]),
        np.rint(paid[line] * refunds.fraction),
    ).astype(np.int64)


def invoiced_cents(units: np.ndarray, price: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """A sell-in line's 进货金额 in cents, as the feed documents it:
    round(数量 x 标准单价 x (1 - 折扣率), 2), halves away from zero (Excel's ROUND).

    Computed in integers: with the price in cents and the rate in basis points (four decimals)
    the product is a whole number of 1/10,000 cents, so no half is lost to binary floats.
    """
    basis_points = np.rint(rate * 10_000).astype(np.int64)
    exact = units.astype(np.int64) * price.astype(np.int64) * (10_000 - basis_points)
    return np.sign(exact) * ((np.abs(exact) + 5_000) // 10_000)


def _required_discounts(
    lines: Lines,
    refunds: Refunds,
    allocated: np.ndarray,
    key: np.ndarray,
    refund_key: np.ndarray,
    size: int,
    planned_net: np.ndarray,
    is_distributor: np.ndarray,
    domestic: np.ndarray,
) -> np.ndarray:
    """Discounts each margin cell needs: gross - order discounts - refunds - planned net.

    Distributors also pay the standard rebate on what they were invoiced, so their invoiced
    amount must be (net + returns) / (1 - rebate rate).
    """
    gross = np.bincount(key[domestic], weights=lines.gross[domestic], minlength=size)
    order_level = np.bincount(key[domestic], weights=allocated[domestic], minlength=size)
    refunded = np.bincount(refund_key, weights=refunds.amount, minlength=size)
    retail_need = gross - order_level - refunded - planned_net
    invoiced_need = (planned_net + refunded) / (1 - plan.STANDARD_REBATE_RATE)
    return np.where(is_distributor, gross - invoiced_need, retail_need)


def _fit_two_margins(
    seed: np.ndarray,
    row_idx: np.ndarray,
    col_idx: np.ndarray,
    row_target: np.ndarray,
    col_target: np.ndarray,
    rounds: int = 60,
) -> np.ndarray:
    """Iterative proportional fitting: seed x a[row] x b[col] meeting both sets of totals.

    Rows and columns are dense indexes (0..n-1) of the margin cells that have lines.
    """
    n_rows, n_cols = len(row_target), len(col_target)
    table = np.bincount(
        row_idx * n_cols + col_idx, weights=seed, minlength=n_rows * n_cols
    ).reshape(n_rows, n_cols)
    a, b = np.ones(n_rows), np.ones(n_cols)
    for _ in range(rounds):
        row_sum = table @ b
        a = np.divide(row_target, row_sum, out=np.zeros(n_rows), where=row_sum > 0)
        col_sum = table.T @ a
        b = np.divide(col_target, col_sum, out=np.zeros(n_cols), where=col_sum > 0)
    return seed * a[row_idx] * b[col_idx]


def _margin_keys(
    day: np.ndarray,
    group: np.ndarray,
    region: np.ndarray,
    series: np.ndarray,
    n_rows_cols: tuple[int, int] | None = None,
) -> tuple[np.ndarray, ...]:
    """Row key: year x quarter x group x region; column key: year x group x series."""
    year = day.astype("datetime64[Y]").astype(int) - 50  # years since 2020
    quarter = (day.astype("datetime64[M]").astype(int) % 12) // 3
    year = np.clip(year, 0, 19)
    group_code = _codes(group, plan.CHANNEL_GROUPS)
    region_code = _codes(region, plan.DOMESTIC_REGIONS + plan.OVERSEAS_COUNTRIES)
    n_groups, n_regions, n_series = len(plan.CHANNEL_GROUPS), 10, len(plan.SERIES)
    rows = ((year * 4 + quarter) * n_groups + group_code) * n_regions + region_code
    cols = (year * n_groups + group_code) * n_series + series
    n_rows, n_cols = n_rows_cols or (20 * 4 * n_groups * n_regions, 20 * n_groups * n_series)
    return rows, cols, n_rows, n_cols


def _planned_net(cells: Cells, n_rows: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols, _, _ = _margin_keys(
        cells.month.astype("datetime64[D]"),
        cells.group,
        cells.region,
        cells.series,
        (n_rows, n_cols),
    )
    net = np.rint(cells.net * 100)
    return (
        np.bincount(rows, weights=net, minlength=n_rows),
        np.bincount(cols, weights=net, minlength=n_cols),
    )


def standard_rebates(lines: Lines, paid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The monthly contractual rebate of each distributor-month: (outlet, month, cents)."""
    distributor = np.flatnonzero(lines.group == "distributor")
    month = lines.day[distributor].astype("datetime64[M]")
    key = lines.outlet[distributor].astype(np.int64) * 10_000 + month.astype(int)
    unique, inverse = np.unique(key, return_inverse=True)
    invoiced = np.bincount(inverse, weights=paid[distributor])
    amount = np.rint(invoiced * plan.STANDARD_REBATE_RATE).astype(np.int64)
    return (unique // 10_000).astype(int), (unique % 10_000).astype("datetime64[M]"), amount


def _codes(values: np.ndarray, vocabulary: tuple[str, ...] = plan.CHANNEL_GROUPS) -> np.ndarray:
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, value in enumerate(vocabulary):
        codes[values == value] = i
    return codes


def _per_group(group: np.ndarray, values: dict[str, float]) -> np.ndarray:
    result = np.zeros(len(group))
    for name, value in values.items():
        result[group == name] = value
    return result


def _random_rank_within(rng: np.random.Generator, keys: list[np.ndarray]) -> np.ndarray:
    order = np.lexsort((rng.random(len(keys[0])), *reversed(keys)))
    sorted_keys = np.stack([k[order] for k in keys])
    new = np.r_[True, (sorted_keys[:, 1:] != sorted_keys[:, :-1]).any(axis=0)]
    start = np.flatnonzero(new)
    position = np.arange(len(order)) - start[np.cumsum(new) - 1]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = position
    return rank


def _group_size(keys: list[np.ndarray]) -> np.ndarray:
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:  # small non-negative integer keys
        combined = combined * (int(key.max()) + 1 if len(key) else 1) + key
    _, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    return counts[inverse]
