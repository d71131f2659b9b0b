"""The demo company after the plan years (2026 on), the demo's end date, and the hardened
source records: marketplace order ids, the sell-in rounding, the tiered rebate.

Files are read back with independent readers (csv, json, the xlsx's XML), not ingestion code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest

from orchestration.datagen.generate import demo_end_date, generate

# Scale 1 (the company of the review) from the last plan quarter through the demo's end date on
# 2026-12-04 (yesterday in Shanghai when this was written): a year after the plan, drawn whole.
ACROSS = {"scale": 1.0, "start": "2025-10-01", "end": "2026-12-04", "seed": 7}
EXTRA_REBATE_THRESHOLD = Decimal("5000000")  # data/raw/README.md: tiered distributor rebate
SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def across(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("across")
    generate(out, progress=None, with_defects=False, **ACROSS)
    return out


def _csv_rows(paths: list[Path]) -> list[dict]:
    return [
        {**row, "_file": path.name}
        for path in paths
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    ]


def _sheet_rows(path: Path) -> list[dict[str, str]]:
    """Cells of the workbook's sheet by column letter: the values as the XML stores them."""
    with zipfile.ZipFile(path) as archive:
        root = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in root.iter(f"{SHEET}row"):
        cells = {}
        for cell in row.iter(f"{SHEET}c"):
            column = re.match(r"[A-Z]+", cell.get("r")).group()
            text = cell.find(f"{SHEET}v")
            if text is None:
                text = cell.find(f"{SHEET}is/{SHEET}t")
            cells[column] = text.text
        rows.append(cells)
    return rows


def _sell_in_lines(raw: Path) -> list[dict[str, str]]:
    """Goods, return and rebate lines of every workbook (title block, header, total left out)."""
    lines = []
    for path in sorted(raw.glob("distributor/*/*.xlsx")):
        distributor = path.stem.split("_")[0]
        for row in _sheet_rows(path)[4:-1]:
            lines.append({**row, "distributor": distributor, "file": path.name})
    return lines


# --- the demo's end date ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 12, 4, 20, 0, tzinfo=UTC), date(2026, 12, 4)),  # Shanghai: 5 Dec 04:00
        (datetime(2026, 12, 4, 15, 59, 59, tzinfo=UTC), date(2026, 12, 3)),  # 4 Dec 23:59:59
        (datetime(2026, 12, 4, 16, 0, tzinfo=UTC), date(2026, 12, 4)),  # 5 Dec 00:00
        (datetime(2026, 12, 4, 20, 0), date(2026, 12, 4)),  # naive: UTC
        (datetime(2027, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=9))), date(2026, 12, 31)),
    ],
)
def test_demo_ends_yesterday_in_shanghai(now: datetime, expected: date) -> None:
    assert demo_end_date(now) == expected


def test_demo_end_date_defaults_to_now() -> None:
    shanghai_today = datetime.now(timezone(timedelta(hours=8))).date()
    assert demo_end_date() in {shanghai_today - timedelta(days=1), shanghai_today}


# --- the plan years do not depend on how far the data goes --------------------------------

SNAPSHOTS = {"stores", "distributors", "products", "fx_rates", "targets"}


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _dated(name: str) -> str | None:
    """The business date (YYYYMMDD) or month (YYYYMM) a feed file is for."""
    match = re.search(r"_(\d{6,8})(?:_resend)?\.\w+$", name)
    return match.group(1) if match else None


def _reference(folder: Path, name: str) -> list[dict]:
    path = folder / "reference" / f"{name}.csv"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_plan_years_are_byte_identical_whatever_the_end(tmp_path: Path) -> None:
    """Data ending in 2025 and data going on into 2026: the same 2025 files, byte for byte."""
    small = {"scale": 0.05, "start": "2025-12-01", "seed": 11}
    in_plan, going_on = tmp_path / "in_plan", tmp_path / "going_on"
    generate(in_plan, progress=None, end="2025-12-31", **small)
    generate(going_on, progress=None, end="2026-01-20", **small)
    before, after = _digest(in_plan), _digest(going_on)

    feeds = {k for k in before if not k.startswith(("reference/", "_manifest/generation"))}
    assert {k: after.get(k) for k in feeds} == {k: before[k] for k in feeds}
    later = {k for k in after.keys() - before.keys() if (_dated(k) or "") > "2025"}
    assert after.keys() - before.keys() == later
    for feed in ("online/tmall", "store", "distributor/202601", "overseas/shopee/my"):
        assert any(k.startswith(feed) for k in later), feed

    # Reference snapshots grow; what they said about the plan years stays.
    for name in ("fx_rates", "targets"):
        old, new = _reference(in_plan, name), _reference(going_on, name)
        assert new[: len(old)] == old
        assert {r.get("rate_date", r.get("period_start"))[:4] for r in new[len(old) :]} == {"2026"}
    for name, key, open_end in (
        ("stores", "store_id", "closed_on"),
        ("distributors", "distributor_id", "contract_end"),
        ("products", "valid_from", "valid_to"),
    ):
        new_rows = {(r.get("sku"), r[key]): r for r in _reference(going_on, name)}
        for row in _reference(in_plan, name):
            now = new_rows[(row.get("sku"), row[key])]
            if now != row:  # only an open end (empty while current) can end, after 2025
                assert row[open_end] == "" and now[open_end] > "2025-12-31", (name, row, now)
                assert {**now, open_end: ""} == row


def test_a_later_year_does_not_depend_on_the_end_date(tmp_path: Path) -> None:
    """The demo ends yesterday: moving the end on leaves the files of earlier days alone."""
    small = {"scale": 0.05, "start": "2026-01-01", "seed": 11}
    shorter, longer = tmp_path / "shorter", tmp_path / "longer"
    generate(shorter, progress=None, end="2026-02-10", **small)
    generate(longer, progress=None, end="2026-03-05", **small)
    before, after = _digest(shorter), _digest(longer)
    changed = {k for k in before if after.get(k) != before[k]}
    # The running month's workbooks grow, the price book and FX rates get longer.
    assert changed - {"_manifest/generation.json"} <= {
        *(k for k in before if k.startswith("distributor/202602/")),
        "reference/fx_rates.csv",
        "reference/products.csv",
    }
    assert not [k for k in before if k not in after]
    # A running month's report has no rebate line yet (it is dated the month's last day).
    running = [r for r in _sell_in_lines(shorter) if r["file"].endswith("_202602.xlsx")]
    assert running and not [r for r in running if str(r.get("B", "")).startswith("FL")]


def test_generation_stops_where_the_lunar_calendar_does(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Spring Festival"):
        generate(tmp_path / "far", progress=None, scale=0.05, start="2041-01-01", end="2041-01-02")


# --- the year after the plan at scale 1 ----------------------------------------------------


def test_a_later_year_has_every_feed_and_its_reference_data(across: Path) -> None:
    for platform in ("tmall", "jd", "pinduoduo", "douyin", "wecom_community"):
        assert (across / "online" / platform / f"{platform}_orders_20261204.jsonl").exists()
        assert not list((across / "online" / platform).glob("*_20261205.jsonl"))
    assert (across / "store" / "pos_20261204.csv").exists()
    for market in ("shopee", "lazada"):
        for country in ("th", "vn", "my"):
            assert list((across / "overseas" / market / country).glob("*_orders_202612*.csv"))
    assert len(list((across / "distributor" / "202611").glob("D*_202611.xlsx"))) > 140

    opened_2026 = [r for r in _reference(across, "stores") if r["opened_on"][:4] == "2026"]
    closed_2026 = [r for r in _reference(across, "stores") if r["closed_on"][:4] == "2026"]
    assert opened_2026 and closed_2026
    distributors = _reference(across, "distributors")
    assert [r for r in distributors if r["contract_start"][:4] == "2026"]
    assert [r for r in distributors if r["contract_end"][:4] == "2026"]

    fx_days = {r["rate_date"] for r in _reference(across, "fx_rates")}
    assert len(fx_days) == (date(2026, 12, 4) - date(2025, 10, 1)).days + 1
    assert max(fx_days) == "2026-12-04"
    prices = _reference(across, "products")
    assert {r["sku"] for r in prices if r["valid_from"] == "2026-07-01"}  # the July price cut
    # Finance publishes the whole year's targets, December included, and the count targets.
    targets = _reference(across, "targets")
    month_2026 = {
        r["period_start"]
        for r in targets
        if r["period_type"] == "month" and r["region"] == "all" and r["channel_group"] == "all"
    }
    assert {f"2026-{m:02d}-01" for m in range(1, 13)} <= month_2026
    assert [
        r
        for r in targets
        if r["metric"] == "active_distributors" and r["period_start"] == "2026-01-01"
    ]


def test_a_distributor_earns_the_tiered_rebate(across: Path) -> None:
    """At scale 1 some distributor's invoiced purchases of a year pass 5,000,000 CNY."""
    purchases: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in _sell_in_lines(across):
        if not str(line.get("B", "")).startswith("FL"):  # goods and return lines
            purchases[(line["distributor"], line["file"][-11:-7])] += Decimal(line["H"])
    above = {key: amount for key, amount in purchases.items() if amount > EXTRA_REBATE_THRESHOLD}
    assert above, max(purchases.values())


# --- hardened source records ----------------------------------------------------------------


def test_a_marketplace_order_id_is_one_order(across: Path) -> None:
    """Every row of an order id has the order's creation time and buyer, on one day's file."""
    shopee = _csv_rows(sorted(across.glob("overseas/shopee/*/*.csv")))
    lazada = _csv_rows(sorted(across.glob("overseas/lazada/*/*.csv")))
    assert len(shopee) > 5_000 and len(lazada) > 5_000
    for rows, order, created, buyer in (
        (shopee, "Order ID", "Order Creation Date", "Username (Buyer)"),
        (lazada, "orderNumber", "createTime", "buyerId"),
    ):
        seen: dict[str, set] = defaultdict(set)
        for row in rows:
            seen[row[order]].add((row[created], row[buyer], row["_file"]))
        assert len(seen) < len(rows)  # orders of several lines exist
        split = {key: values for key, values in seen.items() if len(values) > 1}
        assert not split, list(split.items())[:3]


def test_sell_in_amounts_follow_the_documented_rounding(across: Path) -> None:
    """进货金额 = round(数量 x 标准单价 x (1 - 折扣率), 2), halves away from zero."""
    lines = [r for r in _sell_in_lines(across) if not str(r.get("B", "")).startswith("FL")]
    assert len(lines) > 10_000
    off = []
    for line in lines:
        exact = Decimal(line["E"]) * Decimal(line["F"]) * (1 - Decimal(line["G"]))
        rounded = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # away from zero
        if Decimal(line["H"]) != rounded:
            off.append((line["file"], line["B"], line["H"], rounded))
    assert off == []
