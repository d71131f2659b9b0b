"""The annual review's 18 headline figures, read back from the marts.

Expected values are the review's (docs/business.md), not computed by this code; amounts
scale with the generator's --scale. `warehouse figures` prints the comparison, the end-to-end
test asserts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

AMOUNT_TOLERANCE = 0.005  # ±0.5% of the expected amount
RATE_TOLERANCE = 0.002  # ±0.2 percentage points


@dataclass(frozen=True)
class Figure:
    number: int
    label: str
    sql: str  # one value, from schema marts
    expected: float
    kind: str  # amount | rate | count
    tolerance: float | None = None  # overrides the kind's (a rate over a small count)
    note: str = ""


def _channel(where: str, column: str = "gross_sales", year: int = 2023) -> str:
    return (
        f"SELECT sum({column}) FROM marts.channel_performance "
        f"WHERE year(month) = {year} AND {where}"
    )


def _coverage(column: str, region: str, tier: str = "all") -> str:
    return (
        f"SELECT {column} FROM marts.regional_coverage WHERE period_type = 'year' "
        f"AND period_start = DATE '2023-01-01' AND region = '{region}' "
        f"AND city_tier = '{tier}'"
    )


def _target(
    column: str,
    period: str,
    start: str,
    region: str = "all",
    group: str = "all",
    line: str = "all",
    series: str = "all",
) -> str:
    return (
        f"SELECT {column} FROM marts.target_attainment WHERE period_type = '{period}' "
        f"AND period_start = DATE '{start}' AND region = '{region}' "
        f"AND channel_group = '{group}' AND product_line = '{line}' "
        f"AND series = '{series}'"
    )


def _product_line(column: str, line: str) -> str:
    return (
        f"SELECT {column} FROM marts.product_line_performance WHERE period_type = 'year' "
        f"AND period_start = DATE '2023-01-01' AND product_line = '{line}'"
    )


def _yoy(where: str, column: str) -> str:
    return f"SELECT ({_channel(where, column)}) / ({_channel(where, column, 2022)}) - 1"


FIGURES: tuple[Figure, ...] = (
    Figure(
        1, "FY2023 net sales, all channels", _channel("true", "net_sales"), 132_000_000, "amount"
    ),
    Figure(
        2, "FY2023 net sales target", _target("target", "year", "2023-01-01"), 120_000_000, "amount"
    ),
    Figure(2, "FY2023 attainment", _target("attainment_rate", "year", "2023-01-01"), 1.10, "rate"),
    Figure(
        3, "FY2023 online gross sales", _channel("channel_group = 'online'"), 85_000_000, "amount"
    ),
    Figure(4, "FY2023 tmall gross sales", _channel("channel = 'tmall'"), 42_000_000, "amount"),
    Figure(
        4,
        "tmall share of online gross sales",
        f"SELECT ({_channel('channel = ' + repr('tmall'))}) / "
        f"({_channel('channel_group = ' + repr('online'))})",
        0.494,
        "rate",
    ),
    Figure(4, "tmall gross sales YoY", _yoy("channel = 'tmall'", "gross_sales"), 0.18, "rate"),
    Figure(
        5, "FY2023 store gross sales", _channel("channel_group = 'store'"), 62_000_000, "amount"
    ),
    Figure(5, "FY2023 active stores", _coverage("active_stores", "all"), 320, "count"),
    Figure(
        6,
        "store gross sales per store-month",
        f"SELECT ({_channel('channel_group = ' + repr('store'))}) / "
        f"({_channel('channel_group = ' + repr('store'), 'active_stores')})",
        16_145.83,
        "amount",
        note="the review prints 161,458 (16.1万), ten times 62,000,000 / "
        "(320 stores x 12 months) = 16,145.83: figures 5 and 6 contradict "
        "each other, and the warehouse keeps figure 5",
    ),
    Figure(
        7, "east share of store net sales", _coverage("share_of_store_sales", "east"), 0.38, "rate"
    ),
    Figure(
        8,
        "FY2023 distributor gross sales",
        _channel("channel_group = 'distributor'"),
        48_000_000,
        "amount",
    ),
    Figure(8, "FY2023 active distributors", _coverage("active_distributors", "all"), 150, "count"),
    Figure(
        9,
        "top-10 distributors' gross sales",
        "SELECT max(top10_gross_sales) FROM marts.distributor_ranking "
        "WHERE year_start = DATE '2023-01-01'",
        21_000_000,
        "amount",
    ),
    Figure(
        9,
        "top-10 share of distributor gross sales",
        "SELECT max(top10_distributor_share) FROM marts.distributor_ranking "
        "WHERE year_start = DATE '2023-01-01'",
        0.438,
        "rate",
    ),
    Figure(
        10,
        "gross margin rate, online",
        f"SELECT ({_channel('channel_group = ' + repr('online'), 'gross_margin')}) / "
        f"({_channel('channel_group = ' + repr('online'), 'net_sales')})",
        0.482,
        "rate",
    ),
    Figure(
        10,
        "gross margin rate, store",
        f"SELECT ({_channel('channel_group = ' + repr('store'), 'gross_margin')}) / "
        f"({_channel('channel_group = ' + repr('store'), 'net_sales')})",
        0.425,
        "rate",
    ),
    Figure(
        10,
        "gross margin rate, distributor",
        f"SELECT ({_channel('channel_group = ' + repr('distributor'), 'gross_margin')}) / "
        f"({_channel('channel_group = ' + repr('distributor'), 'net_sales')})",
        0.368,
        "rate",
    ),
    Figure(
        11,
        "smartphone share of net sales",
        _product_line("share_of_total", "smartphone"),
        0.35,
        "rate",
    ),
    Figure(
        11,
        "smartphone net sales YoY",
        _product_line("yoy_growth_rate", "smartphone"),
        0.125,
        "rate",
    ),
    Figure(
        12,
        "services share of net sales",
        _product_line("share_of_total", "services"),
        0.126,
        "rate",
    ),
    Figure(
        13,
        "south net sales YoY",
        _target("yoy_growth_rate", "year", "2023-01-01", "south"),
        0.18,
        "rate",
    ),
    Figure(14, "east active distributors", _coverage("active_distributors", "east"), 12, "count"),
    Figure(14, "east distributor target", _coverage("distributor_target", "east"), 25, "count"),
    Figure(
        15,
        "east coverage rate",
        _coverage("coverage_rate", "east"),
        0.20,
        "rate",
        tolerance=0.5 / 77 + 1e-9,
        note="77 east cities: 15 covered = 19.5% is the nearest",
    ),
    Figure(
        15,
        "east tier 2-3 blank rate",
        "SELECT 1 - sum(cities_covered) / sum(cities_total) FROM marts.regional_coverage "
        "WHERE period_type = 'year' AND period_start = DATE '2023-01-01' "
        "AND region = 'east' AND city_tier IN ('2', '3')",
        0.60,
        "rate",
    ),
    Figure(
        16,
        "2024-Q3 east distributor target",
        _target("target", "quarter", "2024-07-01", "east", "distributor"),
        5_000_000,
        "amount",
    ),
    Figure(
        16,
        "2024-Q3 east distributor actual",
        _target("actual", "quarter", "2024-07-01", "east", "distributor"),
        4_250_000,
        "amount",
    ),
    Figure(
        16,
        "2024-Q3 east distributor attainment",
        _target("attainment_rate", "quarter", "2024-07-01", "east", "distributor"),
        0.85,
        "rate",
    ),
    Figure(
        16,
        "2024-Q3 east distributor YoY",
        _target("yoy_growth_rate", "quarter", "2024-07-01", "east", "distributor"),
        -0.052,
        "rate",
    ),
    Figure(
        17,
        "FY2023 series A net sales",
        _target("actual", "year", "2023-01-01", line="smartphone", series="A"),
        4_800_000,
        "amount",
    ),
    Figure(
        17,
        "FY2023 series A attainment",
        _target("attainment_rate", "year", "2023-01-01", line="smartphone", series="A"),
        0.87,
        "rate",
    ),
    Figure(
        18,
        "FY2023 series B net sales",
        _target("actual", "year", "2023-01-01", line="laptop", series="B"),
        3_500_000,
        "amount",
    ),
    Figure(
        18,
        "FY2023 series B attainment",
        _target("attainment_rate", "year", "2023-01-01", line="laptop", series="B"),
        0.88,
        "rate",
    ),
)


@dataclass(frozen=True)
class FigureResult:
    figure: Figure
    expected: float
    actual: float | None
    ok: bool


def check_figures(database: Path, scale: float = 1.0) -> list[FigureResult]:
    results = []
    with duckdb.connect(str(database), read_only=True) as connection:
        for figure in FIGURES:
            row = connection.execute(figure.sql).fetchone()
            actual = None if row is None or row[0] is None else float(row[0])
            expected = figure.expected * (scale if figure.kind == "amount" else 1)
            results.append(
                FigureResult(figure, expected, actual, _within(figure, expected, actual))
            )
    return results


def _within(figure: Figure, expected: float, actual: float | None) -> bool:
    if actual is None:
        return False
    if figure.kind == "count":
        return round(actual) == expected
    if figure.kind == "amount":
        return abs(actual - expected) <= AMOUNT_TOLERANCE * abs(expected)
    return abs(actual - expected) <= (figure.tolerance or RATE_TOLERANCE)


def scale_of(raw_dir: Path) -> float:
    manifest = raw_dir / "_manifest" / "generation.json"
    return float(json.loads(manifest.read_text())["scale"]) if manifest.exists() else 1.0


def _format(value: float | None, kind: str) -> str:
    if value is None:
        return "missing"
    if kind == "rate":
        return f"{value:.1%}"
    return f"{value:,.0f}" if kind == "count" or abs(value) >= 1000 else f"{value:,.2f}"


def figures_markdown(results: list[FigureResult]) -> str:
    """The comparison as a markdown table (for the README)."""
    rows = ["| # | figure | review | warehouse | within tolerance |", "|---|---|---|---|---|"]
    rows += [
        f"| {r.figure.number} | {r.figure.label} | {_format(r.expected, r.figure.kind)} | "
        f"{_format(r.actual, r.figure.kind)} | {'yes' if r.ok else 'NO'} |"
        for r in results
    ]
    return "\n".join(rows)


def print_figures(database: Path, scale: float | None = None, markdown: bool = False) -> bool:
    from orchestration.settings import load_settings

    scale = scale if scale is not None else scale_of(load_settings().raw_dir)
    results = check_figures(database, scale)
    if markdown:
        print(figures_markdown(results))
        return all(r.ok for r in results)
    print(f"\nThe FY2023 review's headline figures (scale {scale:g}):")
    for r in results:
        mark = "ok  " if r.ok else "MISS"
        print(
            f"  {mark} #{r.figure.number:<2} {r.figure.label:<42} "
            f"{_format(r.actual, r.figure.kind):>14}  (review: "
            f"{_format(r.expected, r.figure.kind)})"
        )
        if r.figure.note:
            print(f"         note: {r.figure.note}")
    return all(r.ok for r in results)
