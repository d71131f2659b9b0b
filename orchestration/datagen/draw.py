"""Drawing order lines for the planned cells, and placing them at stores, distributors, cities.

Lines are drawn per cell until the cell's gross sales are met (the line that crosses the target
is kept when less than half of it lies beyond), so gross sales land on the plan to within half a
line per cell. Stores and distributors get their lines by systematic sampling on cumulative gross
sales, which gives each of them its planned share of a month to within one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.datagen import plan
from orchestration.datagen.calendar import daily_weights
from orchestration.datagen.catalog import Cities, Outlets, PriceBook
from orchestration.datagen.cells import Cells

# Units per line: (values, probabilities) for retail; a lognormal around a base for sell-in.
RETAIL_QUANTITY = (np.array([1, 2, 3]), np.array([0.86, 0.11, 0.03]))
SELL_IN_BASE_QUANTITY = {"smartphone": 4, "laptop": 3, "smart_home": 12, "services": 10}


@dataclass
class Lines:
    """Sale lines, one element per line (money in integer cents)."""

    cell: np.ndarray
    day: np.ndarray  # datetime64[D], business date
    channel: np.ndarray
    group: np.ndarray
    region: np.ndarray
    series: np.ndarray
    sku: np.ndarray  # index into the price book
    quantity: np.ndarray
    price: np.ndarray  # list price, cents
    gross: np.ndarray  # cents
    city: np.ndarray  # index into Cities (-1 overseas)
    outlet: np.ndarray  # store or distributor index (-1 otherwise)

    def __len__(self) -> int:
        return len(self.day)

    def take(self, index: np.ndarray) -> Lines:
        return Lines(**{k: v[index] for k, v in vars(self).items()})


def _sku_tables(prices: PriceBook) -> tuple[np.ndarray, np.ndarray]:
    """Per series: index of its first SKU and the cumulative SKU weights (padded with 1)."""
    first = np.zeros(len(plan.SERIES), dtype=int)
    width = max(len(s.skus) for s in plan.SERIES)
    cumulative = np.ones((len(plan.SERIES), width))
    for s_idx, series in enumerate(plan.SERIES):
        first[s_idx] = int(np.flatnonzero(prices.series_index == s_idx)[0])
        weights = np.array([w for *_rest, w in series.skus])
        cumulative[s_idx, : len(weights)] = np.cumsum(weights / weights.sum())
    return first, cumulative


def _quantities(rng: np.random.Generator, group: np.ndarray, series: np.ndarray) -> np.ndarray:
    product_line = np.array([s.product_line for s in plan.SERIES])[series]
    values, probabilities = RETAIL_QUANTITY
    quantity = values[np.searchsorted(np.cumsum(probabilities), rng.random(len(group)))]
    quantity[product_line == "services"] = 1
    base = _sell_in_base(series)
    sell_in = np.maximum(1, np.rint(base * rng.lognormal(0.0, 0.5, len(group)))).astype(int)
    return np.where(group == "distributor", sell_in, quantity)


def _sell_in_base(series: np.ndarray) -> np.ndarray:
    per_series = np.array([SELL_IN_BASE_QUANTITY[s.product_line] for s in plan.SERIES], float)
    return per_series[series]


def _expected_line_gross(cells: Cells, prices: PriceBook) -> np.ndarray:
    first, cumulative = _sku_tables(prices)
    weights = np.diff(np.concatenate([np.zeros((len(plan.SERIES), 1)), cumulative], axis=1), axis=1)
    month_idx = (cells.month - prices.months[0]).astype(int)
    mean_price = np.zeros(len(cells))
    for k in range(weights.shape[1]):
        sku = np.minimum(first[cells.series] + k, len(prices.skus) - 1)
        same_series = prices.series_index[sku] == cells.series
        price = np.nan_to_num(prices.price[sku, month_idx])
        mean_price += np.where(same_series, weights[cells.series, k] * price, 0.0)
    product_line = np.array([s.product_line for s in plan.SERIES])[cells.series]
    retail_units = np.where(product_line == "services", 1.0, 1.17)
    sell_in_units = _sell_in_base(cells.series) * 1.13
    units = np.where(cells.group == "distributor", sell_in_units, retail_units)
    return mean_price * units


def _draw_days(
    rng: np.random.Generator,
    group: np.ndarray,
    month: np.ndarray,
    first_day: np.datetime64,
    last_day: np.datetime64,
) -> np.ndarray:
    """A business date in the line's month, following the channel group's daily demand."""
    days = np.arange(first_day, last_day + 1)
    day = np.empty(len(group), dtype="datetime64[D]")
    month_start = np.maximum(month.astype("datetime64[D]"), first_day)
    month_end = np.minimum((month + 1).astype("datetime64[D]") - 1, last_day)
    start_idx = (month_start - first_day).astype(int)
    end_idx = (month_end - first_day).astype(int)
    u = rng.random(len(group))
    for name in np.unique(group):
        mine = group == name
        cumulative = np.cumsum(daily_weights(days, name))
        low = np.where(start_idx[mine] > 0, cumulative[np.maximum(start_idx[mine] - 1, 0)], 0.0)
        high = cumulative[end_idx[mine]]
        picked = np.searchsorted(cumulative, low + u[mine] * (high - low), side="left")
        day[mine] = days[np.clip(picked, start_idx[mine], end_idx[mine])]
    return day


def expected_line_count(cells: Cells, prices: PriceBook) -> float:
    """About how many lines `draw_lines` keeps for the cells (no draws: decides chunking)."""
    return float((cells.gross / _expected_line_gross(cells, prices)).sum())


def draw_lines(
    rng: np.random.Generator,
    cells: Cells,
    prices: PriceBook,
    first_day: np.datetime64,
    last_day: np.datetime64,
) -> Lines:
    expected = _expected_line_gross(cells, prices)
    estimate = cells.gross / expected
    candidates = np.ceil(estimate * 1.3 + 3 * np.sqrt(estimate) + 6).astype(int)
    cell = np.repeat(np.arange(len(cells)), candidates)
    group, series = cells.group[cell], cells.series[cell]
    first, cumulative = _sku_tables(prices)
    position = (rng.random(len(cell))[:, None] > cumulative[series]).sum(axis=1)
    sku = first[series] + position
    quantity = _quantities(rng, group, series)
    month_idx = (cells.month[cell] - prices.months[0]).astype(int)
    price = np.rint(prices.price[sku, month_idx] * 100).astype(np.int64)
    gross = quantity * price
    keep = _keep_until_targets(cells, candidates, gross)
    kept = np.flatnonzero(keep)
    day = _draw_days(rng, group[kept], cells.month[cell[kept]], first_day, last_day)
    n = len(kept)
    return Lines(
        cell[kept],
        day,
        cells.channel[cell[kept]],
        group[kept],
        cells.region[cell[kept]],
        series[kept],
        sku[kept],
        quantity[kept],
        price[kept],
        gross[kept],
        np.full(n, -1),
        np.full(n, -1),
    )


def _keep_until_targets(cells: Cells, candidates: np.ndarray, gross: np.ndarray) -> np.ndarray:
    """Keep a prefix of each cell's candidates so that gross sales meet the targets.

    Cells are chained per year x channel x series and the shortfall or excess of one cell is
    carried into the next, so a chain's total lands within half a line of its plan even where
    single cells are smaller than a line (a new series in a small region, say).
    """
    year = cells.month.astype("datetime64[Y]").astype(int)
    chain_order = np.lexsort(
        (cells.month.astype(int), cells.region, cells.series, cells.channel, year)
    )
    starts = np.concatenate([[0], np.cumsum(candidates)[:-1]])
    target = cells.gross * 100
    keep = np.zeros(len(gross), dtype=bool)
    chain_key = None
    kept_total = planned_total = 0.0
    for c in chain_order:  # one step per cell (a few tens of thousands), not per line
        key = (year[c], cells.channel[c], cells.series[c])
        if key != chain_key:
            chain_key, kept_total, planned_total = key, 0.0, 0.0
        planned_total += target[c]
        line_gross = gross[starts[c] : starts[c] + candidates[c]]
        running = np.cumsum(line_gross)
        count = int(
            np.searchsorted(running - line_gross / 2, planned_total - kept_total, side="right")
        )
        if count == len(line_gross):
            raise RuntimeError(f"cell {c} ran out of candidate lines")
        keep[starts[c] : starts[c] + count] = True
        kept_total += running[count - 1] if count else 0.0
    return keep


def place_online(rng: np.random.Generator, lines: Lines, cities: Cities) -> None:
    """Ship-to city of each online line: any city of its region, bigger cities more often."""
    for region in plan.DOMESTIC_REGIONS:
        mine = np.flatnonzero((lines.group == "online") & (lines.region == region))
        candidates = np.flatnonzero(cities.region == region)
        weights = cities.weight[candidates]
        lines.city[mine] = rng.choice(candidates, size=len(mine), p=weights / weights.sum())


def place_at_outlets(
    rng: np.random.Generator, lines: Lines, group: str, outlets: Outlets, cities: Cities
) -> None:
    """Systematic sampling: each active outlet gets its weight's share of a region-month."""
    mine = np.flatnonzero(lines.group == group)
    month = lines.day[mine].astype("datetime64[M]")
    shuffled = mine[
        np.lexsort((rng.random(len(mine)), _region_codes(lines.region[mine]), month.astype(int)))
    ]
    s_month = lines.day[shuffled].astype("datetime64[M]").astype(int)
    s_region = _region_codes(lines.region[shuffled])
    bounds = np.flatnonzero(np.diff(s_month) | np.diff(s_region)) + 1
    for block in np.split(shuffled, bounds):
        if not len(block):
            continue
        block_month = lines.day[block[0]].astype("datetime64[M]")
        region = lines.region[block[0]]
        active = np.flatnonzero(outlets.active_in(block_month) & (outlets.region == region))
        if not len(active):
            raise RuntimeError(f"no active {group} in {region} in {block_month}")
        share = np.cumsum(outlets.weight[active]) / outlets.weight[active].sum()
        gross = lines.gross[block].astype(float)
        midpoint = (np.cumsum(gross) - gross / 2) / gross.sum()
        picked = active[np.minimum(np.searchsorted(share, midpoint), len(active) - 1)]
        lines.outlet[block] = picked
        lines.city[block] = outlets.city[picked]


def _region_codes(region: np.ndarray) -> np.ndarray:
    codes = np.full(len(region), -1, dtype=np.int64)
    for i, name in enumerate(plan.DOMESTIC_REGIONS + plan.OVERSEAS_COUNTRIES):
        codes[region == name] = i
    return codes


def group_into_documents(
    rng: np.random.Generator, keys: list[np.ndarray], new_document_probability: float
) -> tuple[np.ndarray, np.ndarray]:
    """Orders / receipts: consecutive lines with the same keys, cut at random.

    Returns, for each line (in input order), a document number (dense, ordered by keys) and
    the line's 1-based position in its document.
    """
    order = np.lexsort((rng.random(len(keys[0])), *reversed(keys)))
    changed = np.zeros(len(order), dtype=bool)
    changed[:1] = True
    for key in keys:
        sorted_key = key[order]
        changed[1:] |= sorted_key[1:] != sorted_key[:-1]
    new_document = changed | (rng.random(len(order)) < new_document_probability)
    document_sorted = np.cumsum(new_document) - 1
    first_line = np.flatnonzero(new_document)
    line_no_sorted = np.arange(len(order)) - first_line[document_sorted] + 1
    document = np.empty(len(order), dtype=np.int64)
    line_no = np.empty(len(order), dtype=np.int64)
    document[order] = document_sorted
    line_no[order] = line_no_sorted
    return document, line_no
