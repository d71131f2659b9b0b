"""From the annual plan to cells of planned sales: month x channel x region x series."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from orchestration.datagen import plan
from orchestration.datagen.calendar import daily_weights

UNIT_RETURN_RATE = {
    "online": plan.FULL_REFUND_RATE["online"],
    "store": plan.FULL_REFUND_RATE["store"],
    "distributor": plan.FULL_REFUND_RATE["distributor"] * plan.DISTRIBUTOR_RETURN_SHARE,
}
DOMESTIC_GROUPS = ("online", "store", "distributor")


def _cost_ratio_of_mix(shares: dict[str, float]) -> float:
    return sum(shares[s.code] * s.cost_ratio for s in plan.SERIES)


def _gross(year: int, group: str) -> float:
    gross = plan.gross_by_channel(year)
    return sum(v for ch, v in gross.items() if plan.CHANNEL_GROUP_OF[ch] == group)


@cache
def cost_multiplier() -> float:
    """Scales every series' cost ratio so that FY2023 lands on its net sales and margins.

    With the same series mix in every channel, COGS / gross = (1 - unit return rate) x K,
    and net = COGS / (1 - margin rate); figure 1 then fixes K.
    """
    year = plan.CALIBRATION_YEAR
    margins = plan.GROSS_MARGIN_RATE[year]
    denominator = sum(
        _gross(year, g) * (1 - UNIT_RETURN_RATE[g]) / (1 - margins[g]) for g in DOMESTIC_GROUPS
    )
    required_k = plan.FY2023_NET_SALES / denominator
    return required_k / _cost_ratio_of_mix(plan.SERIES_NET_SHARE[year])


@cache
def series_shares(year: int) -> dict[str, float]:
    shares = dict(plan.SERIES_NET_SHARE[plan.year_plan(year)])
    if plan.year_plan(year) != 2022:
        return shares
    smartphone = [s.code for s in plan.SERIES if s.product_line == "smartphone"]
    for _ in range(8):  # the 2022 total depends on the mix through the cost ratio
        target = plan.SMARTPHONE_NET_2022 / _domestic_net(2022, shares)
        phone_now = sum(shares[c] for c in smartphone)
        rest_now = 1 - phone_now
        shares = {
            c: v * (target / phone_now if c in smartphone else (1 - target) / rest_now)
            for c, v in shares.items()
        }
    return shares


def _net_ratio(year: int, group: str, shares: dict[str, float]) -> float:
    if group == "overseas":
        return plan.OVERSEAS_NET_RATIO
    k = cost_multiplier() * _cost_ratio_of_mix(shares)
    margin = plan.GROSS_MARGIN_RATE[plan.year_plan(year)][group]
    return (1 - UNIT_RETURN_RATE[group]) * k / (1 - margin)


def _domestic_net(year: int, shares: dict[str, float]) -> float:
    return sum(_gross(year, g) * _net_ratio(year, g, shares) for g in DOMESTIC_GROUPS)


def net_ratio(year: int, group: str) -> float:
    return _net_ratio(year, group, series_shares(year))


def group_net(year: int, group: str) -> float:
    return _gross(year, group) * net_ratio(year, group) * plan.growth_factor(year)


def launch_month(series_index: int) -> np.datetime64:
    return np.datetime64(plan.SERIES[series_index].launch, "M")


@cache
def month_weights(year: int, group: str, series_index: int) -> np.ndarray:
    """Share of the year's sales in each month for a series (zero before its launch)."""
    months = np.arange(np.datetime64(f"{year}-01"), np.datetime64(f"{year + 1}-01"))
    if group == "distributor":
        weights = np.array(plan.DISTRIBUTOR_MONTH_WEIGHT, dtype=float)
    else:
        days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
        per_day = daily_weights(days, group)
        weights = np.bincount(
            days.astype("datetime64[M]").astype(int) - months[0].astype(int),
            weights=per_day,
            minlength=12,
        )
    weights = np.where(months >= launch_month(series_index), weights, 0.0)
    return weights / weights.sum() if weights.sum() else weights


def _quarter3_fraction(year: int) -> float:
    shares = series_shares(year)
    return sum(
        shares[s.code] * month_weights(year, "distributor", i)[6:9].sum()
        for i, s in enumerate(plan.SERIES)
    )


@cache
def region_shares(year: int, group: str) -> dict[str, float]:
    if group == "overseas":
        launched = [c for c in plan.OVERSEAS_COUNTRIES if plan.COUNTRY_LAUNCH_YEAR[c] <= year]
        base = {"th": 0.45, "vn": 0.30, "my": 0.25}
        total = sum(base[c] for c in launched)
        return {c: base[c] / total for c in launched}
    shares = dict(plan.REGION_SHARE[group])
    pinned = plan.year_plan(year)
    if group == "distributor" and pinned in plan.EAST_DISTRIBUTOR_Q3_NET:
        east = plan.EAST_DISTRIBUTOR_Q3_NET[pinned] / (
            group_net(year, group) * _quarter3_fraction(year)
        )
        shares = _with_share(shares, "east", east)
    if pinned == 2022:
        shares = _with_share(shares, "south", shares["south"] * _south_2022_factor())
    if group == "distributor" and plan.after_plan(year):
        for region, share in plan.DISTRIBUTOR_REGION_SHARE_AFTER_PLAN.items():
            shares = _with_share(shares, region, share)
    return shares


@cache
def _south_2022_factor() -> float:
    """Figure 13: the 2022 south share that makes 2023 south net sales grow 18%."""
    south_2023 = sum(group_net(2023, g) * region_shares(2023, g)["south"] for g in DOMESTIC_GROUPS)
    south_2022_base = sum(
        group_net(2022, g) * plan.REGION_SHARE[g]["south"] for g in DOMESTIC_GROUPS
    )
    return south_2023 / (1 + plan.SOUTH_NET_YOY_2023) / south_2022_base


def _with_share(shares: dict[str, float], region: str, value: float) -> dict[str, float]:
    others = 1 - shares[region]
    return {r: value if r == region else v * (1 - value) / others for r, v in shares.items()}


@dataclass(frozen=True)
class Cells:
    month: np.ndarray  # datetime64[M]
    channel: np.ndarray
    group: np.ndarray
    region: np.ndarray
    series: np.ndarray  # index into plan.SERIES
    net: np.ndarray  # planned net sales, CNY
    gross: np.ndarray  # gross sales to draw, CNY

    def __len__(self) -> int:
        return len(self.month)

    def in_year(self, year: int) -> Cells:
        """The cells of one calendar year (a chunk of a large run is drawn a year at a time)."""
        mine = self.month.astype("datetime64[Y]").astype(int) + 1970 == year
        return Cells(**{k: v[mine] for k, v in vars(self).items()})


def build_cells(first_day: np.datetime64, last_day: np.datetime64, scale: float) -> Cells:
    """Every (month, channel, region, series) with planned sales inside the date range."""
    rows: list[tuple] = []
    for year in range(int(str(first_day)[:4]), int(str(last_day)[:4]) + 1):
        gross_by_channel = plan.gross_by_channel(year)
        shares = series_shares(year)
        for channel, channel_gross in gross_by_channel.items():
            group = plan.CHANNEL_GROUP_OF[channel]
            channel_share = channel_gross / _gross(year, group)
            net = group_net(year, group) * channel_share
            for region, region_share in region_shares(year, group).items():
                for s_idx, series in enumerate(plan.SERIES):
                    weights = month_weights(year, group, s_idx)
                    for m_idx in range(12):
                        cell_net = net * region_share * shares[series.code] * weights[m_idx]
                        in_range = _month_fraction_in_range(year, m_idx, group, first_day, last_day)
                        if cell_net > 0 and in_range > 0:
                            rows.append(
                                (
                                    np.datetime64(f"{year}-{m_idx + 1:02d}", "M"),
                                    channel,
                                    group,
                                    region,
                                    s_idx,
                                    cell_net * in_range * scale,
                                    cell_net * in_range * scale / net_ratio(year, group),
                                )
                            )
    columns = list(zip(*rows, strict=True))
    return Cells(
        np.array(columns[0], dtype="datetime64[M]"),
        np.array(columns[1]),
        np.array(columns[2]),
        np.array(columns[3]),
        np.array(columns[4]),
        np.array(columns[5]),
        np.array(columns[6]),
    )


@cache
def _month_fraction_in_range(
    year: int, m_idx: int, group: str, first_day: np.datetime64, last_day: np.datetime64
) -> float:
    month = np.datetime64(f"{year}-{m_idx + 1:02d}", "M")
    days = np.arange(month.astype("datetime64[D]"), (month + 1).astype("datetime64[D]"))
    weights = daily_weights(days, group)
    inside = (days >= first_day) & (days <= last_day)
    return float(weights[inside].sum() / weights.sum())
