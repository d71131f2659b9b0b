"""`warehouse generate`: the whole demo company, deterministic for a seed, at any scale.

The plan years (2022-2025) are drawn from the run's generator exactly as when the data ends in
2025; each later year is drawn whole from generators of its own (catalog.later_year_rng) and
written up to the end date. So the files of the plan years do not depend on how far the data
goes, and a later year's files up to a date do not depend on the end date either (the demo ends
yesterday, and yesterday moves).
"""

from __future__ import annotations

import gc
import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from orchestration.datagen import (
    calendar,
    catalog,
    cells,
    defects,
    draw,
    files,
    money,
    plan,
    reference,
    tables,
)

BUSINESS_TIME_ZONE = ZoneInfo("Asia/Shanghai")
PLAN_LAST_DAY = np.datetime64(f"{plan.LAST_PLAN_YEAR}-12-31", "D")
FEED_FOLDERS = ("online", "store", "distributor", "overseas", "reference", "_manifest")
PRICE_BOOK_START = np.datetime64("2021-01", "M")
# Expected sale lines above which a run is drawn a year at a time. One go peaks at ~0.6 kB a
# line (2.5 GB for 4M lines, scale 4.8 over 2022-2025); a year at a time peaks at what the
# largest year needs (5.5 GB for 30M lines). Smaller runs stay byte-identical to one go.
CHUNK_ABOVE_LINES = 4_000_000


def demo_end_date(now: datetime | None = None) -> date:
    """The demo data's last business date: yesterday in Asia/Shanghai, the company's time zone
    (its feeds of a day are complete the next morning). A naive `now` is taken as UTC."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BUSINESS_TIME_ZONE).date() - timedelta(days=1)


@dataclass
class GenerationReport:
    out_dir: Path
    scale: float
    start: str
    end: str
    seed: int
    order_lines: int = 0
    files: dict[str, int] = field(default_factory=dict)
    defects: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    chunked_by_year: bool = False


def generate(
    out_dir: Path,
    scale: float = 1.0,
    start: str = "2022-01-01",
    end: str = "2025-12-31",
    seed: int = 7,
    with_defects: bool = True,
    progress=print,
    chunk_by_year: bool | None = None,
) -> GenerationReport:
    """Write every feed into `out_dir`.

    `chunk_by_year` draws and writes the plan years one calendar year at a time, which bounds
    memory by the largest year instead of the whole range; None chooses it for runs expected to
    exceed CHUNK_ABOVE_LINES. Smaller runs are drawn in one go, and only those reproduce the
    review's calibrated figures exactly (see `_write_years`). Years after the plan are always
    drawn a year at a time.
    """
    first_day, last_day = np.datetime64(start, "D"), np.datetime64(end, "D")
    if last_day < first_day:
        raise ValueError(f"--end {end} is before --start {start}")
    calendar.check_calendar_covers(_year(last_day))
    report = GenerationReport(out_dir, scale, start, end, seed)
    clock = _Stopwatch(report, progress)
    rng = np.random.default_rng(seed)

    plan_last = _plan_last(last_day)
    in_plan = first_day <= plan_last
    plan_cells = cells.build_cells(first_day, plan_last, scale) if in_plan else None
    company = _build_company(rng, seed, first_day, last_day)
    _clean(out_dir)
    numbers = _OverseasNumbers()
    if plan_cells is not None:
        if chunk_by_year is None:
            expected = draw.expected_line_count(plan_cells, company.prices)
            chunk_by_year = expected > CHUNK_ABOVE_LINES
        report.chunked_by_year = chunk_by_year
        write = _write_years if chunk_by_year else _write_sales
        write(rng, company, plan_cells, first_day, plan_last, report, clock, numbers)
    for year in _later_years(first_day, last_day):
        _write_later_year(seed, year, company, (first_day, last_day), report, clock, numbers)

    _write_reference(rng, seed, company, plan_cells, first_day, last_day, report)
    report.files["reference"] = 5
    # Defects go into the plan years' files, picked as when the data ends in 2025.
    injected = (
        defects.inject(out_dir, np.random.default_rng(seed + 1), until=plan_last)
        if with_defects and in_plan
        else []
    )
    defects.write_manifest(out_dir, injected)
    report.defects = len(injected)
    clock.lap("reference", "reference feeds and defects written")
    _write_generation_manifest(report)
    return report


def _write_reference(
    rng: np.random.Generator,
    seed: int,
    company: _Company,
    plan_cells: cells.Cells | None,
    first_day: np.datetime64,
    last_day: np.datetime64,
    report: GenerationReport,
) -> None:
    """Products, stores, distributors, FX rates and targets as published on the end date."""
    out_dir, scale = report.out_dir, report.scale
    fx_days, fx_rates = _fx_rates(rng, seed, first_day, last_day)
    reference.write_products(out_dir, company.prices.until(last_day.astype("datetime64[M]")))
    reference.write_stores(out_dir, company.stores, company.cities)
    reference.write_distributors(out_dir, company.distributors, company.cities)
    reference.write_fx_rates(out_dir, fx_days, fx_rates)
    rows = []
    if plan_cells is not None:  # the run's generator, after the plan years' sales and FX
        rows += reference.target_rows(plan_cells, scale, rng, first_day, _plan_last(last_day))
    for year in _later_years(first_day, last_day):  # finance publishes whole years
        year_first, year_last = _year_bounds(year)
        rows += reference.target_rows(
            cells.build_cells(year_first, year_last, scale),
            scale,
            catalog.later_year_rng(seed, year, "targets"),
            year_first,
            year_last,
        )
    reference.write_targets(out_dir, rows)


def _plan_last(last_day: np.datetime64) -> np.datetime64:
    """The last day the run's own generator draws: the end date, or the plan years' last."""
    return min(last_day, PLAN_LAST_DAY)


def _later_years(first_day: np.datetime64, last_day: np.datetime64) -> range:
    """The years after the plan years that the range reaches."""
    return range(max(_year(first_day), plan.LAST_PLAN_YEAR + 1), _year(last_day) + 1)


def _year(day: np.datetime64) -> int:
    return int(day.astype("datetime64[Y]").astype(int)) + 1970


def _year_bounds(year: int) -> tuple[np.datetime64, np.datetime64]:
    return np.datetime64(f"{year}-01-01", "D"), np.datetime64(f"{year}-12-31", "D")


def _build_company(
    rng: np.random.Generator, seed: int, first_day: np.datetime64, last_day: np.datetime64
) -> _Company:
    """Cities, the network and the price book. The network of the plan years comes from the
    run's generator; its changes after the plan years (up to the end year) from their own."""
    cities = catalog.load_cities(rng)
    stores = catalog.build_stores(rng, cities)
    distributors = catalog.build_distributors(rng, cities)
    network_years = range(plan.LAST_PLAN_YEAR + 1, _year(last_day) + 1)
    last_month = last_day.astype("datetime64[M]")
    if network_years:  # a later year is drawn whole: its prices are needed to December
        last_month = np.datetime64(f"{_year(last_day)}-12", "M")
    return _Company(
        cities,
        catalog.extend_stores(stores, cities, seed, network_years),
        catalog.extend_distributors(distributors, cities, seed, network_years),
        catalog.build_price_book(
            min(PRICE_BOOK_START, first_day.astype("datetime64[M]")), last_month
        ),
    )


def _fx_rates(
    rng: np.random.Generator, seed: int, first_day: np.datetime64, last_day: np.datetime64
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Daily rates of every day of the range: the plan years' walk from the run's generator,
    then each later year's whole-year walk, continuing from the day before, cut at the end."""
    days: list[np.ndarray] = []
    parts: list[dict[str, np.ndarray]] = []
    previous = None  # the walk's level on the day before
    if first_day <= _plan_last(last_day):
        days.append(np.arange(first_day, _plan_last(last_day) + 1))
        parts.append(catalog.fx_levels(rng, len(days[-1])))
        previous = {c: level[-1] for c, level in parts[-1].items()}
    for year in _later_years(first_day, last_day):
        year_first, year_last = _year_bounds(year)
        year_days = np.arange(year_first, year_last + 1)
        year_levels = catalog.fx_levels(
            catalog.later_year_rng(seed, year, "fx"), len(year_days), previous
        )
        previous = {c: level[-1] for c, level in year_levels.items()}
        kept = (year_days >= first_day) & (year_days <= last_day)
        days.append(year_days[kept])
        parts.append({c: level[kept] for c, level in year_levels.items()})
    all_levels = {c: np.concatenate([part[c] for part in parts]) for c in catalog.FX_BASE}
    return np.concatenate(days), catalog.fx_rates(all_levels)


@dataclass(frozen=True)
class _Company:
    """What every year of sales is drawn against: drawn once, before any sale line."""

    cities: catalog.Cities
    stores: catalog.Outlets
    distributors: catalog.Outlets
    prices: catalog.PriceBook


@dataclass
class _OverseasNumbers:
    """Where the next chunk's marketplace order and item numbers start.

    Shopee and Lazada ids are sequence numbers (online, store and distributor ids embed the
    business date, so they cannot collide between years): each chunk continues the sequence.
    """

    order: int = 0
    item: int = 0

    def continue_sequence(self, shopee: tables.Columns, lazada: tables.Columns) -> None:
        for rows in (shopee, lazada):
            rows["order_no"] += self.order
        lazada["item_no"] += self.item
        self.order = 1 + int(
            max(
                shopee["order_no"].max(initial=self.order - 1),
                lazada["order_no"].max(initial=self.order - 1),
            )
        )
        self.item = 1 + int(lazada["item_no"].max(initial=self.item - 1))


def _write_years(
    rng: np.random.Generator,
    company: _Company,
    plan_cells: cells.Cells,
    first_day: np.datetime64,
    last_day: np.datetime64,
    report: GenerationReport,
    clock: _Stopwatch,
    numbers: _OverseasNumbers,
) -> None:
    """Draw, solve and write one calendar year at a time, freeing it before the next.

    Cells, the discount margins (quarter and year) and the refund quotas (year) are all per
    year, so a year is drawn as it would be on its own. What differs from one unchunked run:
    refunds and returns are kept inside their sale's year (a late-December order's refund
    that would be booked in January is dropped), so each day's and month's files are written
    by one year only. Chunking is for volume benchmarks; the review's calibrated figures are
    only guaranteed unchunked (scale >= 1).
    """
    for year in range(first_day.astype(object).year, last_day.astype(object).year + 1):
        year_first = max(first_day, np.datetime64(f"{year}-01-01", "D"))
        year_last = min(last_day, np.datetime64(f"{year}-12-31", "D"))
        if clock.progress:
            clock.progress(f"  {year}:")
        _write_sales(
            rng, company, plan_cells.in_year(year), year_first, year_last, report, clock, numbers
        )
        gc.collect()  # the year's arrays and DuckDB tables are gone before the next is drawn


def _write_later_year(
    seed: int,
    year: int,
    company: _Company,
    window: tuple[np.datetime64, np.datetime64],
    report: GenerationReport,
    clock: _Stopwatch,
    numbers: _OverseasNumbers,
) -> None:
    """A year after the plan: drawn whole from its own generator, written inside the window.

    Drawing the whole year makes a day's files independent of the end date (the demo ends
    yesterday); as in a chunked run, refunds and returns stay inside their sale's year.
    """
    year_first, year_last = _year_bounds(year)
    if clock.progress:
        clock.progress(f"  {year}:")
    _write_sales(
        catalog.later_year_rng(seed, year, "sales"),
        company,
        cells.build_cells(year_first, year_last, report.scale),
        year_first,
        year_last,
        report,
        clock,
        numbers,
        (max(window[0], year_first), min(window[1], year_last)),
    )
    gc.collect()


def _write_sales(
    rng: np.random.Generator,
    company: _Company,
    plan_cells: cells.Cells,
    first_day: np.datetime64,
    last_day: np.datetime64,
    report: GenerationReport,
    clock: _Stopwatch,
    numbers: _OverseasNumbers,
    window: files.Window = None,
) -> None:
    """Draw the sale lines of [first_day, last_day], solve their money, write their feeds.

    Refunds are booked up to last_day at the latest; one rng is used throughout, in a fixed
    order, so a seed fixes every file. Only rows dated inside `window` are written (by default
    [first_day, last_day]: a running month's rebate line, dated its last day, is not yet).
    """
    window = window or (first_day, last_day)
    lines = draw.draw_lines(rng, plan_cells, company.prices, first_day, last_day)
    draw.place_online(rng, lines, company.cities)
    draw.place_at_outlets(rng, lines, "store", company.stores, company.cities)
    draw.place_at_outlets(rng, lines, "distributor", company.distributors, company.cities)
    report.order_lines += int(((lines.day >= window[0]) & (lines.day <= window[1])).sum())
    clock.lap("draw", f"{len(lines):,} sale lines drawn")

    online = np.flatnonzero(lines.group == "online")
    order = np.full(len(lines), -1, dtype=np.int64)
    line_no = np.zeros(len(lines), dtype=np.int64)
    order[online], line_no[online] = draw.group_into_documents(
        rng, [lines.channel[online], lines.day[online].astype(int), lines.city[online]], 0.6
    )
    order_discounts = money.draw_order_discounts(rng, lines, order, line_no)
    refunds = money.draw_refunds(rng, lines, last_day)
    refunds = money.keep_refunds_while_open(refunds, lines, "store", company.stores.closed)
    refunds = money.keep_refunds_while_open(
        refunds, lines, "distributor", company.distributors.closed
    )
    solved = money.solve_discounts(rng, lines, refunds, order_discounts.allocated, plan_cells)
    rebates = money.standard_rebates(lines, solved.paid)
    clock.lap("money", f"discounts solved ({solved.infeasible_cells} cells out of reach)")

    connection = files.connect()
    try:
        files.register_all(
            connection,
            tables.lookups(company.cities, company.prices, company.stores, company.distributors),
            row_numbers=False,
        )
        files.register_all(
            connection,
            {
                "online_lines": tables.online_orders(
                    rng, lines, order, line_no, order_discounts, solved
                ),
                "refund_rows": tables.online_refunds(rng, lines, refunds, order, line_no),
                "pos_lines": tables.store_receipts(rng, lines, refunds, solved),
                "sell_in": tables.distributor_lines(lines, refunds, solved, rebates),
            },
        )
        shopee, lazada = tables.overseas_rows(rng, lines)
        numbers.continue_sequence(shopee, lazada)
        files.register_all(connection, {"shopee_rows": shopee, "lazada_rows": lazada})
        written = {
            "online": files.write_online(connection, report.out_dir, window),
            "store": files.write_store(connection, report.out_dir, window),
            "distributor": files.write_distributors(connection, report.out_dir, window),
            "overseas": files.write_overseas(connection, report.out_dir, window),
        }
    finally:
        connection.close()
    for feed, count in written.items():
        report.files[feed] = report.files.get(feed, 0) + count
    clock.lap("feeds", f"{sum(written.values()):,} feed files written")


class _Stopwatch:
    def __init__(self, report: GenerationReport, progress) -> None:
        self.report, self.progress, self.last = report, progress, time.perf_counter()

    def lap(self, name: str, message: str) -> None:
        now = time.perf_counter()
        seconds = now - self.last
        # Chunked runs pass each stage once a year: the report keeps the stage's total.
        self.report.seconds[name] = round(self.report.seconds.get(name, 0.0) + seconds, 2)
        self.last = now
        if self.progress:
            self.progress(f"  {message} ({seconds:.1f} s)")


def _clean(out_dir: Path) -> None:
    """Remove earlier generated feeds (only the feed folders: never a whole user folder)."""
    for name in FEED_FOLDERS:
        shutil.rmtree(out_dir / name, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_generation_manifest(report: GenerationReport) -> None:
    path = report.out_dir / "_manifest" / "generation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "scale": report.scale,
        "start": report.start,
        "end": report.end,
        "seed": report.seed,
        "order_lines": report.order_lines,
        "files": report.files,
        "defects": report.defects,
    }
    if report.chunked_by_year:  # only then: one-go manifests stay as they have always been
        payload["chunked_by_year"] = True
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
