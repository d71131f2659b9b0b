"""Where each feed's files are in a raw directory, and which business date a file holds.

The layouts follow data/raw/README.md. Selecting files by date lets a partitioned asset load
one day's (or one month's) files; the unpartitioned assets take every file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class FeedLayout:
    # glob relative to the raw dir; `{period}` is replaced by `*` or by a date string
    glob: str
    # full match of the relative path; the `period` group holds YYYYMMDD or YYYYMM if dated
    pattern: str
    # "day", "month" or None (undated reference snapshot)
    period: str | None

    def glob_for(self, period: str) -> str:
        # an undated glob would hold `**` (period `*` next to a suffix `*`): not a valid pattern
        return self.glob.format(period=period).replace("**", "*")

    def matches(self, relative_path: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, relative_path)


_PLATFORM = r"(?P<platform>[a-z_]+)"
# a re-delivered daily file may carry a suffix after its date (pos_20230813_resend.csv): it is
# loaded as a file of its own, and staging dedupes by business key
_SUFFIX = r"(?:_[^/]*)?"
_COUNTRY = r"(?P<country>[a-z]{2})"

FEED_LAYOUTS: dict[str, FeedLayout] = {
    "online_order_lines": FeedLayout(
        "online/*/*_orders_{period}*.jsonl",
        rf"online/{_PLATFORM}/(?P=platform)_orders_(?P<period>\d{{8}}){_SUFFIX}\.jsonl",
        "day",
    ),
    "online_refunds": FeedLayout(
        "online/*/*_refunds_{period}*.jsonl",
        rf"online/{_PLATFORM}/(?P=platform)_refunds_(?P<period>\d{{8}}){_SUFFIX}\.jsonl",
        "day",
    ),
    "store_pos_lines": FeedLayout(
        "store/pos_{period}*.csv", rf"store/pos_(?P<period>\d{{8}}){_SUFFIX}\.csv", "day"
    ),
    "distributor_sell_in": FeedLayout(
        "distributor/{period}/*_{period}.xlsx",
        r"distributor/(?P<folder>\d{6})/(?P<distributor_id>[^/]+)_(?P<period>\d{6})\.xlsx",
        "month",
    ),
    "shopee_orders": FeedLayout(
        "overseas/shopee/*/shopee_*_orders_{period}*.csv",
        rf"overseas/shopee/{_COUNTRY}/shopee_(?P=country)_orders_(?P<period>\d{{8}}){_SUFFIX}\.csv",
        "day",
    ),
    "lazada_orders": FeedLayout(
        "overseas/lazada/*/lazada_*_orders_{period}*.csv",
        rf"overseas/lazada/{_COUNTRY}/lazada_(?P=country)_orders_(?P<period>\d{{8}}){_SUFFIX}\.csv",
        "day",
    ),
    **{
        name: FeedLayout(f"reference/{name}.csv", rf"reference/{name}\.csv", None)
        for name in ("products", "stores", "distributors", "targets", "fx_rates")
    },
}


def relative_path(raw_dir: Path, path: Path) -> str:
    """The lineage name of a file: relative to the raw dir, `/`-separated."""
    return lineage_name(Path(raw_dir).resolve(), Path(path).resolve())


def lineage_name(resolved_raw_dir: Path, resolved_path: Path) -> str:
    """relative_path for paths already resolved (raises if the file is outside the raw dir)."""
    return resolved_path.relative_to(resolved_raw_dir).as_posix()


def is_ignored(relative: str) -> bool:
    """Files and folders whose name starts with `_` (e.g. `_manifest/`) are not feeds."""
    return any(part.startswith("_") for part in relative.split("/"))


def _period_glob(layout: FeedLayout, day: date | None, month: date | None) -> str:
    if layout.period == "day" and day is not None:
        return day.strftime("%Y%m%d")
    if layout.period == "day" and month is not None:
        return month.strftime("%Y%m") + "??"
    if layout.period == "month" and (day or month) is not None:
        return (day or month).strftime("%Y%m")  # type: ignore[union-attr]
    return "*"


def list_feed_files(
    raw_dir: Path, table: str, *, day: date | None = None, month: date | None = None
) -> list[Path]:
    """The feed's files in `raw_dir`, sorted; only one business day's or month's if given.

    For the monthly distributor feed a `day` selects that day's month. Reference snapshots are
    undated: they are returned whatever the date.
    """
    if day is not None and month is not None:
        raise ValueError("give a day or a month, not both")
    layout = FEED_LAYOUTS[table]
    raw_dir = Path(raw_dir)
    pattern = layout.glob_for(_period_glob(layout, day, month))
    selected = []
    for path in raw_dir.glob(pattern):
        relative = relative_path(raw_dir, path)
        if path.is_file() and not is_ignored(relative) and layout.matches(relative):
            selected.append(path)
    return sorted(selected)


def file_period(table: str, relative: str) -> date | None:
    """The business date (daily feeds) or first day of the month (monthly feed) of a file."""
    layout = FEED_LAYOUTS[table]
    match = layout.matches(relative)
    if match is None or layout.period is None:
        return None
    digits = match.group("period")
    if layout.period == "month":
        return date(int(digits[:4]), int(digits[4:6]), 1)
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def path_fields(table: str, relative: str) -> dict[str, str]:
    """Named parts of a file's path (platform, country, distributor_id, ...)."""
    match = FEED_LAYOUTS[table].matches(relative)
    return {} if match is None else {k: v for k, v in match.groupdict().items() if v}
