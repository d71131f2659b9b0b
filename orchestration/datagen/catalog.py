"""Reference entities of the demo company: cities, stores, distributors, products, FX rates.

All draws come from one numpy Generator, in a fixed order, so a seed fixes every entity.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestration.datagen import cells, plan
from orchestration.settings import DBT_PROJECT_DIR

CITIES_SEED = DBT_PROJECT_DIR / "seeds" / "ref_cities.csv"
# A year after the plan years draws from generators of its own, one per stream, so that what
# the plan years draw (from the run's generator) never depends on how far the data goes.
LATER_YEAR_STREAMS = ("sales", "stores", "distributors", "fx", "targets")
TIER_WEIGHT = {"1": 10.0, "new1": 6.0, "2": 3.0, "3": 1.5, "4": 0.7, "5": 0.3}
FX_BASE = {"THB": 0.2000, "VND": 0.000290, "MYR": 1.5400, "USD": 7.1500}
COUNTRY_CURRENCY = {"th": "THB", "vn": "VND", "my": "MYR"}


@dataclass(frozen=True)
class Cities:
    code: np.ndarray
    name_zh: np.ndarray
    province_zh: np.ndarray
    region: np.ndarray
    tier: np.ndarray
    covered: np.ndarray  # bool: has a store or distributor in 2023

    @property
    def weight(self) -> np.ndarray:
        return np.array([TIER_WEIGHT[t] for t in self.tier])


def load_cities(rng: np.random.Generator, path: Path = CITIES_SEED) -> Cities:
    with path.open(encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["city_code"])
    region = np.array([row["region"] for row in rows])
    tier = np.array([row["city_tier"] for row in rows])
    covered = np.zeros(len(rows), dtype=bool)
    for region_code, per_tier in plan.COVERED_CITIES.items():
        for tier_code, count in per_tier.items():
            candidates = np.flatnonzero((region == region_code) & (tier == tier_code))
            if len(candidates) < count:
                raise ValueError(
                    f"ref_cities has {len(candidates)} {region_code} tier "
                    f"{tier_code} cities, the plan covers {count}"
                )
            covered[rng.choice(candidates, size=count, replace=False)] = True
    return Cities(
        code=np.array([row["city_code"] for row in rows]),
        name_zh=np.array([row["city_name_zh"] for row in rows]),
        province_zh=np.array([row["province_name_zh"] for row in rows]),
        region=region,
        tier=tier,
        covered=covered,
    )


@dataclass(frozen=True)
class Outlets:
    """Stores or distributors: where they are, when they trade, how big they are."""

    ids: np.ndarray
    names: np.ndarray
    city: np.ndarray  # index into Cities
    region: np.ndarray
    opened: np.ndarray  # datetime64[M], first month trading
    closed: np.ndarray  # datetime64[M], last month trading (NaT while open)
    weight: np.ndarray  # relative size within its region
    tier: np.ndarray  # distributor tier 1-3 (stores: 0)

    def active_in(self, month: np.datetime64) -> np.ndarray:
        still_open = np.isnat(self.closed) | (self.closed >= month)
        return (self.opened <= month) & still_open


def later_year_rng(seed: int, year: int, stream: str) -> np.random.Generator:
    """The generator of one stream (LATER_YEAR_STREAMS) of one year after the plan years."""
    return np.random.default_rng([seed, year, LATER_YEAR_STREAMS.index(stream)])


def _place(rng: np.random.Generator, cities: Cities, region: str, count: int) -> np.ndarray:
    """City of each outlet: every covered city of the region first, then by tier weight."""
    covered = np.flatnonzero(cities.covered & (cities.region == region))
    first = rng.permutation(covered)[: min(count, len(covered))]
    weights = cities.weight[covered] / cities.weight[covered].sum()
    rest = rng.choice(covered, size=count - len(first), p=weights)
    return rng.permutation(np.concatenate([first, rest]))


def _months(values: list[str]) -> np.ndarray:
    return np.array(values, dtype="datetime64[M]")


def build_stores(rng: np.random.Generator, cities: Cities) -> Outlets:
    """320 stores trade all of 2023; 25 of them opened during 2022, some close later."""
    regions, city_idx = [], []
    for region, count in plan.STORES_2023.items():
        regions += [region] * count
        city_idx.append(_place(rng, cities, region, count))
    n = len(regions)
    opened = _months(["2015-01"] * n) + rng.integers(0, 84, n).astype("timedelta64[M]")
    opened_2022 = rng.choice(n, size=25, replace=False)
    opened[opened_2022] = _months(["2022-02"] * 25) + rng.integers(0, 11, 25).astype(
        "timedelta64[M]"
    )
    closed = np.full(n, np.datetime64("NaT"), dtype="datetime64[M]")
    closing = rng.choice(np.setdiff1d(np.arange(n), opened_2022), size=15, replace=False)
    closed[closing] = _months(["2024-01"] * 15) + rng.integers(0, 24, 15).astype("timedelta64[M]")
    # Stores that closed before 2023 and stores that open from 2024 on.
    extra_regions = rng.choice(
        list(plan.STORES_2023), size=26, p=np.array(list(plan.STORES_2023.values())) / 320
    )
    extra_city = np.array([_place(rng, cities, r, 1)[0] for r in extra_regions])
    extra_opened = np.concatenate(
        [
            _months(["2016-01"] * 6) + rng.integers(0, 60, 6).astype("timedelta64[M]"),
            _months(["2024-02"] * 20) + rng.integers(0, 22, 20).astype("timedelta64[M]"),
        ]
    )
    extra_closed = np.concatenate(
        [
            _months(["2022-01"] * 6) + rng.integers(0, 11, 6).astype("timedelta64[M]"),
            np.full(20, np.datetime64("NaT"), dtype="datetime64[M]"),
        ]
    )
    all_regions = np.concatenate([np.array(regions), extra_regions])
    total = len(all_regions)
    city = np.concatenate([*city_idx, extra_city])
    ids = np.array([f"S{i + 1:04d}" for i in range(total)])
    names = np.array(
        [f"{cities.name_zh[c].removesuffix('市')}{i + 1:04d}店" for i, c in enumerate(city)]
    )
    weight = np.clip(rng.lognormal(0.0, 0.35, total), 0.55, 2.5)
    return Outlets(
        ids,
        names,
        city,
        all_regions,
        np.concatenate([opened, extra_opened]),
        np.concatenate([closed, extra_closed]),
        weight,
        np.zeros(total, int),
    )


def _east_distributor_weights() -> np.ndarray:
    """2023 gross of the twelve east distributors: the top ten, then two sharing the rest."""
    east_gross = (
        cells.region_shares(plan.CALIBRATION_YEAR, "distributor")["east"]
        * plan.GROSS_BY_CHANNEL[plan.CALIBRATION_YEAR]["distributor"]
    )
    rest = east_gross - sum(plan.TOP10_DISTRIBUTOR_GROSS_2023)
    if not 0 < rest / 2 < min(plan.TOP10_DISTRIBUTOR_GROSS_2023):
        raise ValueError("the plan's east distributor sales do not fit the top ten")
    return np.array([*plan.TOP10_DISTRIBUTOR_GROSS_2023, rest * 0.52, rest * 0.48])


def build_distributors(rng: np.random.Generator, cities: Cities) -> Outlets:
    """150 distributors trade all of 2023; the twelve in the east are the largest."""
    regions, city_idx, weights = [], [], []
    for region, count in plan.DISTRIBUTORS_2023.items():
        regions += [region] * count
        city_idx.append(_place(rng, cities, region, count))
        if region == "east":
            weights.append(_east_distributor_weights())
        else:
            weights.append(np.clip(rng.lognormal(0.0, 0.6, count), 0.35, 4.0))
    n = len(regions)
    opened = _months(["2012-01"] * n) + rng.integers(0, 108, n).astype("timedelta64[M]")
    opened_2022 = rng.choice(np.flatnonzero(np.array(regions) != "east"), 10, replace=False)
    opened[opened_2022] = _months(["2022-02"] * 10) + rng.integers(0, 11, 10).astype(
        "timedelta64[M]"
    )
    closed = np.full(n, np.datetime64("NaT"), dtype="datetime64[M]")
    ending = rng.choice(
        np.setdiff1d(np.flatnonzero(np.array(regions) != "east"), opened_2022),
        size=8,
        replace=False,
    )
    closed[ending] = _months(["2024-03"] * 8) + rng.integers(0, 21, 8).astype("timedelta64[M]")
    extra_regions = rng.choice([r for r in plan.DISTRIBUTORS_2023 if r != "east"], size=20)
    extra_city = np.array([_place(rng, cities, r, 1)[0] for r in extra_regions])
    extra_opened = np.concatenate(
        [
            _months(["2017-01"] * 8) + rng.integers(0, 48, 8).astype("timedelta64[M]"),
            _months(["2024-01"] * 12) + rng.integers(0, 23, 12).astype("timedelta64[M]"),
        ]
    )
    extra_closed = np.concatenate(
        [
            _months(["2022-01"] * 8) + rng.integers(0, 11, 8).astype("timedelta64[M]"),
            np.full(12, np.datetime64("NaT"), dtype="datetime64[M]"),
        ]
    )
    all_regions = np.concatenate([np.array(regions), extra_regions])
    weight = np.concatenate([*weights, np.clip(rng.lognormal(-0.3, 0.5, 20), 0.2, 2.0)])
    # Within each region weights are relative; rank tiers on 2023 size across the country.
    total = len(all_regions)
    size = np.zeros(total)
    for region in plan.DISTRIBUTORS_2023:
        members = all_regions == region
        size[members] = (
            weight[members] / weight[members].sum() * (plan.REGION_SHARE["distributor"][region])
        )
    rank = np.argsort(np.argsort(-size))
    tier = np.where(rank < 10, 1, np.where(rank < 50, 2, 3))
    order = rng.permutation(total)  # ids do not reveal size or region
    city = np.concatenate([*city_idx, extra_city])
    ids = np.array([f"D{i + 1:03d}" for i in range(total)])
    surnames = np.array(list("华鑫恒盛瑞祥宏达信诚金海联创新源博远佳和"))
    names = np.array(
        [
            f"{cities.name_zh[c].removesuffix('市')}{surnames[i % 20]}"
            f"{surnames[(i * 7 + 3) % 20]}电子商贸有限公司"
            for i, c in enumerate(city[order])
        ]
    )
    return Outlets(
        ids,
        names,
        city[order],
        all_regions[order],
        np.concatenate([opened, extra_opened])[order],
        np.concatenate([closed, extra_closed])[order],
        weight[order],
        tier[order],
    )


def _in_any_city(rng: np.random.Generator, cities: Cities, regions: np.ndarray) -> np.ndarray:
    """City of each new outlet: any city of its region, bigger cities more often (after the
    plan years the network also reaches cities it did not cover in 2023)."""
    city = np.zeros(len(regions), dtype=int)
    for i, region in enumerate(regions):
        candidates = np.flatnonzero(cities.region == region)
        weights = cities.weight[candidates]
        city[i] = rng.choice(candidates, p=weights / weights.sum())
    return city


def _in_year(rng: np.random.Generator, year: int, count: int) -> np.ndarray:
    return np.datetime64(f"{year}-01", "M") + rng.integers(0, 12, count).astype("timedelta64[M]")


def _open_all_year(outlets: Outlets, year: int) -> np.ndarray:
    """Outlets trading since before `year` and not closing: those a year can close."""
    return np.flatnonzero(
        (outlets.opened < np.datetime64(f"{year}-01", "M")) & np.isnat(outlets.closed)
    )


def _closing(outlets: Outlets, closing: np.ndarray, months: np.ndarray) -> Outlets:
    closed = outlets.closed.copy()
    closed[closing] = months
    return Outlets(
        outlets.ids,
        outlets.names,
        outlets.city,
        outlets.region,
        outlets.opened,
        closed,
        outlets.weight,
        outlets.tier,
    )


def _opening(
    outlets: Outlets,
    ids: list[str],
    names: list[str],
    city: np.ndarray,
    region: np.ndarray,
    opened: np.ndarray,
    weight: np.ndarray,
    tier: np.ndarray,
) -> Outlets:
    """The network with new outlets appended (ids continue: earlier ids never change)."""
    return Outlets(
        np.concatenate([outlets.ids, ids]),
        np.concatenate([outlets.names, names]),
        np.concatenate([outlets.city, city]),
        np.concatenate([outlets.region, region]),
        np.concatenate([outlets.opened, opened]),
        np.concatenate([outlets.closed, np.full(len(ids), np.datetime64("NaT"), "datetime64[M]")]),
        np.concatenate([outlets.weight, weight]),
        np.concatenate([outlets.tier, tier]),
    )


def extend_stores(stores: Outlets, cities: Cities, seed: int, years: range) -> Outlets:
    """Stores opening and closing in the years after the plan, one year after the other."""
    regions, counts = list(plan.STORES_2023), np.array(list(plan.STORES_2023.values()))
    for year in years:
        rng = later_year_rng(seed, year, "stores")
        candidates = _open_all_year(stores, year)
        closing = rng.choice(candidates, plan.STORE_CHANGES_PER_YEAR["close"], replace=False)
        stores = _closing(stores, closing, _in_year(rng, year, len(closing)))
        count = plan.STORE_CHANGES_PER_YEAR["open"]
        region = rng.choice(regions, size=count, p=counts / counts.sum())
        city = _in_any_city(rng, cities, region)
        first = len(stores.ids)
        stores = _opening(
            stores,
            [f"S{first + i + 1:04d}" for i in range(count)],
            [
                f"{cities.name_zh[c].removesuffix('市')}{first + i + 1:04d}店"
                for i, c in enumerate(city)
            ],
            city,
            region,
            _in_year(rng, year, count),
            np.clip(rng.lognormal(0.0, 0.35, count), 0.55, 2.5),
            np.zeros(count, int),
        )
    return stores


def _distributor_names(cities: Cities, city: np.ndarray, first: int) -> list[str]:
    surnames = "华鑫恒盛瑞祥宏达信诚金海联创新源博远佳和"
    return [
        f"{cities.name_zh[c].removesuffix('市')}{surnames[(first + i) % 20]}"
        f"{surnames[((first + i) * 7 + 3) % 20]}电子商贸有限公司"
        for i, c in enumerate(city)
    ]


def extend_distributors(distributors: Outlets, cities: Cities, seed: int, years: range) -> Outlets:
    """Contracts signed and ended in the years after the plan, and the south's master
    distributor (plan.MASTER_DISTRIBUTOR) in the year it opens."""
    master_month = np.datetime64(plan.MASTER_DISTRIBUTOR["opens"], "M")
    for year in years:
        rng = later_year_rng(seed, year, "distributors")
        distributors = _distributor_changes(distributors, cities, rng, year)
        if master_month.astype("datetime64[Y]").astype(int) + 1970 == year:
            distributors = _with_master(distributors, cities, rng, master_month)
    return distributors


def _distributor_changes(
    distributors: Outlets, cities: Cities, rng: np.random.Generator, year: int
) -> Outlets:
    """Contracts ending outside the east (not the key accounts), new tier-3 contracts."""
    changes = plan.DISTRIBUTOR_CHANGES_PER_YEAR
    candidates = _open_all_year(distributors, year)
    candidates = candidates[distributors.region[candidates] != "east"]
    candidates = candidates[distributors.tier[candidates] != 1]
    ending = rng.choice(candidates, changes["end"], replace=False)
    distributors = _closing(distributors, ending, _in_year(rng, year, len(ending)))
    others = [r for r in plan.DISTRIBUTORS_2023 if r != "east"]
    region = np.array(
        ["east"] * changes["open_east"] + list(rng.choice(others, size=changes["open_elsewhere"]))
    )
    city = _in_any_city(rng, cities, region)
    first = len(distributors.ids)
    return _opening(
        distributors,
        [f"D{first + i + 1:03d}" for i in range(len(region))],
        _distributor_names(cities, city, first),
        city,
        region,
        _in_year(rng, year, len(region)),
        np.clip(rng.lognormal(-0.3, 0.5, len(region)), 0.2, 2.0),
        np.full(len(region), 3),
    )


def _with_master(
    distributors: Outlets, cities: Cities, rng: np.random.Generator, month: np.datetime64
) -> Outlets:
    """The master distributor: tier 1, in a tier-1 city of its region, weighted so that it has
    its planned share of the region's sales in its first month."""
    master = plan.MASTER_DISTRIBUTOR
    region = master["region"]
    peers = distributors.active_in(month) & (distributors.region == region)
    share = master["share_of_region"]
    city = rng.choice(np.flatnonzero((cities.region == region) & (cities.tier == "1")))
    first = len(distributors.ids)
    return _opening(
        distributors,
        [f"D{first + 1:03d}"],
        _distributor_names(cities, np.array([city]), first),
        np.array([city]),
        np.array([region]),
        np.array([month]),
        np.array([share / (1 - share) * distributors.weight[peers].sum()]),
        np.array([1]),
    )


@dataclass(frozen=True)
class PriceBook:
    """List price of each SKU in each month of the data range (prices change on month starts)."""

    skus: np.ndarray
    sku_names: np.ndarray
    series_index: np.ndarray  # index into plan.SERIES
    months: np.ndarray  # datetime64[M], the columns of `price`
    price: np.ndarray  # [sku, month] list price, NaN before launch

    def cost_ratio(self) -> np.ndarray:
        return np.array([plan.SERIES[s].cost_ratio for s in self.series_index])

    def until(self, last_month: np.datetime64) -> PriceBook:
        """The price book as published up to `last_month` (later price changes unknown)."""
        kept = self.months <= last_month
        return PriceBook(
            self.skus, self.sku_names, self.series_index, self.months[kept], self.price[:, kept]
        )


def _nice_price(value: float) -> float:
    step = 100 if value >= 1000 else 10
    return max(round(value / step) * step - 1, 9)


def build_price_book(first_month: np.datetime64, last_month: np.datetime64) -> PriceBook:
    """Launch price, then a cut every July: 8% in the first year on sale, 5% after."""
    months = np.arange(first_month, last_month + 1, dtype="datetime64[M]")
    skus, names, series_index, rows = [], [], [], []
    for s_idx, series in enumerate(plan.SERIES):
        launch = np.datetime64(series.launch, "M")
        for sku, name, launch_price, _weight in series.skus:
            prices = np.full(len(months), np.nan)
            for m_idx, month in enumerate(months):
                if month < launch:
                    continue
                cuts = _july_cuts_since(launch, month)
                factor = (0.92 if cuts else 1.0) * 0.95 ** max(cuts - 1, 0)
                prices[m_idx] = _nice_price(launch_price * factor)
            skus.append(sku)
            names.append(name)
            series_index.append(s_idx)
            rows.append(prices)
    return PriceBook(
        np.array(skus), np.array(names), np.array(series_index), months, np.vstack(rows)
    )


def _july_cuts_since(launch: np.datetime64, month: np.datetime64) -> int:
    """How many 1 July price cuts fell after the launch month and up to `month`."""
    launch_year = int(str(launch)[:4])
    first_cut_year = launch_year + (1 if int(str(launch)[5:7]) >= 7 else 0)
    first_cut_year = (
        max(first_cut_year, launch_year + 1) if launch_year >= 2023 else max(first_cut_year, 2021)
    )
    cuts = 0
    year = first_cut_year
    while np.datetime64(f"{year}-07", "M") <= month:
        cuts += 1
        year += 1
    return cuts


def fx_levels(
    rng: np.random.Generator, n_days: int, previous: dict[str, float] | None = None
) -> dict[str, np.ndarray]:
    """Daily log-deviation of each currency from its base: a mean-reverting walk.

    It starts at the base rate, or continues from `previous` (the level of the day before).
    """
    levels = {}
    for currency in FX_BASE:
        shocks = rng.normal(0.0, 0.0025, n_days)
        level = np.zeros(n_days)
        if previous is not None and n_days:
            level[0] = previous[currency] * 0.985 + shocks[0]
        for i in range(1, n_days):  # one value per calendar day, a few thousand at most
            level[i] = level[i - 1] * 0.985 + shocks[i]
        levels[currency] = level
    return levels


def fx_rates(levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CNY per unit of each currency, from the walk's levels."""
    return {
        currency: np.round(FX_BASE[currency] * np.exp(level), 10 if currency == "VND" else 6)
        for currency, level in levels.items()
    }
