"""`warehouse generate`: the whole demo company, deterministic for a seed, at any scale."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orchestration.datagen import catalog, cells, defects, draw, files, money, reference, tables

FEED_FOLDERS = ("online", "store", "distributor", "overseas", "reference", "_manifest")
PRICE_BOOK_START = np.datetime64("2021-01", "M")


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


def generate(out_dir: Path, scale: float = 1.0, start: str = "2022-01-01",
             end: str = "2025-12-31", seed: int = 7, with_defects: bool = True,
             progress=print) -> GenerationReport:
    first_day, last_day = np.datetime64(start, "D"), np.datetime64(end, "D")
    if last_day < first_day:
        raise ValueError(f"--end {end} is before --start {start}")
    report = GenerationReport(out_dir, scale, start, end, seed)
    clock = _Stopwatch(report, progress)
    rng = np.random.default_rng(seed)

    plan_cells = cells.build_cells(first_day, last_day, scale)
    cities = catalog.load_cities(rng)
    stores = catalog.build_stores(rng, cities)
    distributors = catalog.build_distributors(rng, cities)
    prices = catalog.build_price_book(min(PRICE_BOOK_START, first_day.astype("datetime64[M]")),
                                      last_day.astype("datetime64[M]"))
    lines = draw.draw_lines(rng, plan_cells, prices, first_day, last_day)
    draw.place_online(rng, lines, cities)
    draw.place_at_outlets(rng, lines, "store", stores, cities)
    draw.place_at_outlets(rng, lines, "distributor", distributors, cities)
    report.order_lines = len(lines)
    clock.lap("draw", f"{len(lines):,} sale lines drawn")

    online = np.flatnonzero(lines.group == "online")
    order = np.full(len(lines), -1, dtype=np.int64)
    line_no = np.zeros(len(lines), dtype=np.int64)
    order[online], line_no[online] = draw.group_into_documents(
        rng, [lines.channel[online], lines.day[online].astype(int), lines.city[online]], 0.6)
    order_discounts = money.draw_order_discounts(rng, lines, order, line_no)
    refunds = money.draw_refunds(rng, lines, last_day)
    refunds = money.keep_refunds_while_open(refunds, lines, "store", stores.closed)
    refunds = money.keep_refunds_while_open(refunds, lines, "distributor", distributors.closed)
    solved = money.solve_discounts(rng, lines, refunds, order_discounts.allocated, plan_cells)
    rebates = money.standard_rebates(lines, solved.paid)
    clock.lap("money", f"discounts solved ({solved.infeasible_cells} cells out of reach)")

    _clean(out_dir)
    connection = files.connect()
    files.register_all(connection, tables.lookups(cities, prices, stores, distributors),
                       row_numbers=False)
    files.register_all(connection, {
        "online_lines": tables.online_orders(rng, lines, order, line_no, order_discounts,
                                             solved),
        "refund_rows": tables.online_refunds(rng, lines, refunds, order, line_no),
        "pos_lines": tables.store_receipts(rng, lines, refunds, solved),
        "sell_in": tables.distributor_lines(lines, refunds, solved, rebates),
    })
    shopee, lazada = tables.overseas_rows(rng, lines)
    files.register_all(connection, {"shopee_rows": shopee, "lazada_rows": lazada})
    report.files["online"] = files.write_online(connection, out_dir)
    report.files["store"] = files.write_store(connection, out_dir)
    report.files["distributor"] = files.write_distributors(connection, out_dir)
    report.files["overseas"] = files.write_overseas(connection, out_dir)
    clock.lap("feeds", f"{sum(report.files.values()):,} feed files written")

    days = np.arange(first_day, last_day + 1)
    reference.write_products(out_dir, prices)
    reference.write_stores(out_dir, stores, cities)
    reference.write_distributors(out_dir, distributors, cities)
    reference.write_fx_rates(out_dir, days, catalog.build_fx_rates(rng, days))
    reference.write_targets(out_dir, plan_cells, scale, rng, first_day, last_day)
    report.files["reference"] = 5
    if with_defects:
        injected = defects.inject(out_dir, np.random.default_rng(seed + 1))
        defects.write_manifest(out_dir, injected)
        report.defects = len(injected)
    else:
        defects.write_manifest(out_dir, [])
    clock.lap("reference", "reference feeds and defects written")
    _write_generation_manifest(report)
    return report


class _Stopwatch:
    def __init__(self, report: GenerationReport, progress) -> None:
        self.report, self.progress, self.last = report, progress, time.perf_counter()

    def lap(self, name: str, message: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = round(now - self.last, 2)
        self.last = now
        if self.progress:
            self.progress(f"  {message} ({self.report.seconds[name]:.1f} s)")


def _clean(out_dir: Path) -> None:
    """Remove earlier generated feeds (only the feed folders: never a whole user folder)."""
    for name in FEED_FOLDERS:
        shutil.rmtree(out_dir / name, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_generation_manifest(report: GenerationReport) -> None:
    path = report.out_dir / "_manifest" / "generation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "scale": report.scale, "start": report.start, "end": report.end, "seed": report.seed,
        "order_lines": report.order_lines, "files": report.files, "defects": report.defects,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
