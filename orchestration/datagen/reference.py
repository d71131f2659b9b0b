"""Reference feeds: products (prices and costs over time), stores, distributors, targets, FX."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestration.datagen import plan
from orchestration.datagen.catalog import Cities, Outlets, PriceBook
from orchestration.datagen.cells import Cells, cost_multiplier
from orchestration.datagen.files import write_csv


def _day_text(day: np.datetime64) -> str | None:
    return None if np.isnat(day) else str(day.astype("datetime64[D]"))


def write_products(out_dir: Path, prices: PriceBook) -> None:
    rows = []
    multiplier = cost_multiplier()
    for k, sku in enumerate(prices.skus):
        series = plan.SERIES[prices.series_index[k]]
        price = prices.price[k]
        on_sale = np.flatnonzero(~np.isnan(price))
        if not len(on_sale):  # launched after the data range
            continue
        change = np.flatnonzero(np.diff(price[on_sale]) != 0) + 1
        for run in np.split(on_sale, change):
            first, last = prices.months[run[0]], prices.months[run[-1]]
            valid_to = (
                None
                if run[-1] == len(price) - 1
                else _day_text((last + 1).astype("datetime64[D]") - 1)
            )
            list_price = float(price[run[0]])
            rows.append(
                [
                    sku,
                    prices.sku_names[k],
                    series.code,
                    series.name,
                    series.product_line,
                    f"{list_price:.2f}",
                    f"{round(list_price * series.cost_ratio * multiplier, 2):.2f}",
                    _day_text(first),
                    valid_to,
                ]
            )
    write_csv(
        out_dir / "reference" / "products.csv",
        [
            "sku",
            "sku_name",
            "series",
            "series_name",
            "product_line",
            "list_price",
            "unit_cost",
            "valid_from",
            "valid_to",
        ],
        rows,
    )


def unit_costs(prices: PriceBook) -> np.ndarray:
    """The cost per SKU and month that products.csv states (rounded like the file)."""
    ratio = np.array([plan.SERIES[s].cost_ratio for s in prices.series_index])
    return np.round(prices.price * ratio[:, None] * cost_multiplier(), 2)


def write_stores(out_dir: Path, stores: Outlets, cities: Cities) -> None:
    rows = [
        [
            stores.ids[i],
            stores.names[i],
            cities.province_zh[stores.city[i]],
            cities.name_zh[stores.city[i]],
            _day_text(stores.opened[i]),
            None
            if np.isnat(stores.closed[i])
            else _day_text((stores.closed[i] + 1).astype("datetime64[D]") - 1),
        ]
        for i in range(len(stores.ids))
    ]
    write_csv(
        out_dir / "reference" / "stores.csv",
        ["store_id", "store_name", "province", "city", "opened_on", "closed_on"],
        rows,
    )


def write_distributors(out_dir: Path, distributors: Outlets, cities: Cities) -> None:
    d = distributors
    rows = [
        [
            d.ids[i],
            d.names[i],
            d.region[i],
            cities.province_zh[d.city[i]],
            cities.name_zh[d.city[i]],
            int(d.tier[i]),
            _day_text(d.opened[i]),
            None
            if np.isnat(d.closed[i])
            else _day_text((d.closed[i] + 1).astype("datetime64[D]") - 1),
        ]
        for i in range(len(d.ids))
    ]
    write_csv(
        out_dir / "reference" / "distributors.csv",
        [
            "distributor_id",
            "distributor_name",
            "region",
            "province",
            "city",
            "distributor_tier",
            "contract_start",
            "contract_end",
        ],
        rows,
    )


def write_fx_rates(out_dir: Path, days: np.ndarray, rates: dict[str, np.ndarray]) -> None:
    rows = [
        [str(day), currency, f"{rates[currency][i]:.10f}".rstrip("0").rstrip(".")]
        for i, day in enumerate(days)
        for currency in sorted(rates)
    ]
    write_csv(
        out_dir / "reference" / "fx_rates.csv", ["rate_date", "currency", "cny_per_unit"], rows
    )


def _scopes(cells: Cells) -> list[tuple[str, str, str, str, np.ndarray]]:
    """Finance's target scopes: (region, channel group, product line, series, cell mask)."""
    product_line = np.array([s.product_line for s in plan.SERIES])[cells.series]
    series = np.array(plan.SERIES_CODES)[cells.series]
    everything = np.ones(len(cells), dtype=bool)
    scopes = [("all", "all", "all", "all", everything)]
    regions = [
        r for r in plan.DOMESTIC_REGIONS + plan.OVERSEAS_COUNTRIES if (cells.region == r).any()
    ]
    groups = [g for g in plan.CHANNEL_GROUPS if (cells.group == g).any()]
    scopes += [(r, "all", "all", "all", cells.region == r) for r in regions]
    scopes += [("all", g, "all", "all", cells.group == g) for g in groups]
    scopes += [
        (r, g, "all", "all", (cells.region == r) & (cells.group == g))
        for r in regions
        for g in groups
        if ((cells.region == r) & (cells.group == g)).any()
    ]
    scopes += [("all", "all", p, "all", product_line == p) for p in dict.fromkeys(product_line)]
    scopes += [
        ("all", "all", plan.SERIES[plan.SERIES_CODES.index(s)].product_line, s, series == s)
        for s in ("A", "B")
    ]
    return scopes


def _pinned_targets(scale: float) -> dict[tuple, tuple[str, float]]:
    """(region, group, line, series, year) -> (months it covers, value): the review's targets."""
    return {
        ("all", "all", "all", "all", 2023): ("year", plan.TOTAL_NET_TARGET[2023] * scale),
        ("all", "all", "smartphone", "A", 2023): ("year", plan.SERIES_NET_TARGET_2023["A"] * scale),
        ("all", "all", "laptop", "B", 2023): ("year", plan.SERIES_NET_TARGET_2023["B"] * scale),
        ("east", "distributor", "all", "all", 2024): (
            "q3",
            plan.EAST_DISTRIBUTOR_Q3_TARGET_2024 * scale,
        ),
    }


def target_rows(
    cells: Cells,
    scale: float,
    rng: np.random.Generator,
    first_day: np.datetime64,
    last_day: np.datetime64,
) -> list[list[object]]:
    """Monthly targets = plan x an ambition factor per scope and year; quarters and years add up.

    The review's own targets (figures 2, 16-18) are pinned: the factor of that scope-year is
    chosen so the pinned period's months add up to the published value, to the cent. A year
    after the plan years is given whole cells: finance publishes the whole year's targets.
    """
    month_index = cells.month.astype(int)
    years = sorted(set((cells.month.astype("datetime64[Y]").astype(int) + 1970).tolist()))
    pinned = _pinned_targets(scale)
    rows: list[list[object]] = []
    for region, group, line, series, mask in _scopes(cells):
        for year in years:
            months = np.arange(np.datetime64(f"{year}-01"), np.datetime64(f"{year + 1}-01"))
            planned = np.array(
                [cells.net[mask & (month_index == m.astype(int))].sum() for m in months]
            )
            factor = rng.uniform(0.98, 1.12)
            pin = pinned.get((region, group, line, series, year))
            covered = slice(6, 9) if pin and pin[0] == "q3" else slice(0, 12)
            # A pinned target is the review's figure for a whole period: pin it only when the
            # data covers that period, else a year's target would land on a few months.
            period_first = months[covered.start].astype("datetime64[D]")
            period_last = (months[covered.stop - 1] + 1).astype("datetime64[D]") - 1
            pinnable = (
                pin is not None
                and planned[covered].sum() > 0
                and first_day <= period_first
                and period_last <= last_day
            )
            if pinnable:
                factor = pin[1] / planned[covered].sum()
            cents = np.rint(planned * factor * 100).astype(np.int64)
            if pinnable:  # the rounding remainder goes to the period's last month
                last = covered.stop - 1
                cents[last] += round(pin[1] * 100) - int(cents[covered].sum())
            rows += _period_rows(region, group, line, series, months, cents)
    rows += _distributor_count_targets(years, rng)
    return rows


def write_targets(out_dir: Path, rows: list[list[object]]) -> None:
    write_csv(
        out_dir / "reference" / "targets.csv",
        [
            "period_type",
            "period_start",
            "region",
            "channel_group",
            "product_line",
            "series",
            "metric",
            "target_value",
        ],
        rows,
    )


def _period_rows(
    region: str, group: str, line: str, series: str, months: np.ndarray, cents: np.ndarray
) -> list[list[object]]:
    def money(value: int) -> str:
        return f"{value // 100}.{value % 100:02d}"

    scope = [region, group, line, series, "net_sales"]
    rows = [
        ["month", f"{m}-01", *scope, money(int(c))]
        for m, c in zip(months, cents, strict=True)
        if c > 0
    ]
    for q in range(4):
        total = int(cents[3 * q : 3 * q + 3].sum())
        if total > 0:
            rows.append(["quarter", f"{months[3 * q]}-01", *scope, money(total)])
    if cents.sum() > 0:
        rows.append(["year", f"{months[0]}-01", *scope, money(int(cents.sum()))])
    return rows


def _distributor_count_targets(years: list[int], rng: np.random.Generator) -> list[list[object]]:
    rows = []
    for year in years:
        for region, count in plan.DISTRIBUTOR_TARGET_COUNT.items():
            value = count if year == plan.CALIBRATION_YEAR else count + int(rng.integers(-2, 3))
            rows.append(
                [
                    "year",
                    f"{year}-01-01",
                    region,
                    "distributor",
                    "all",
                    "all",
                    "active_distributors",
                    f"{value}.00",
                ]
            )
    return rows
