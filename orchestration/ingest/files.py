"""Where each feed's files are in a raw directory, and which business date a file holds.

The layouts follow data/raw/README.md. Selecting files by date lets a partitioned asset load
one day's (or one month's) files; the unpartitioned assets take every file. A file under a
feed's folder that no layout matches is an unrecognized file (`unrecognized_files`): reported,
never skipped silently.

Names are compared as strings (glob patterns, regular expressions), never used as patterns: a
delivered name may hold `*`, `?` or `[`.
"""

from __future__ import annotations

import functools
import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # compiled once: every file of a folder is matched (re's own cache costs a lookup a call)
    return re.compile(pattern)


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
        return _compiled(self.pattern).fullmatch(relative_path)

    @property
    def folder(self) -> str:
        """The top-level folder of RAW_DIR the feed is delivered in (online, store, ...)."""
        return self.glob.split("/", 1)[0]

    @property
    def subfolder(self) -> str:
        """The fixed part of the feed's directory (`overseas/lazada`, `online`, ...)."""
        fixed = self.glob.split("{", 1)[0].split("*", 1)[0]
        return fixed.rsplit("/", 1)[0]


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
    """The lineage name of a file: its path under the raw dir, `/`-separated.

    A symbolic link keeps its own name (where it points is no part of the name), so a link
    whose target lies outside the raw dir still has one; raises ValueError for a path that is
    not under the raw dir at all.
    """
    raw, name = os.fspath(raw_dir).rstrip(os.sep) or os.sep, os.fspath(path)
    if name.startswith(raw + os.sep) and os.sep + "." not in name[len(raw) :]:
        # the common case, a path listed under the raw dir as given (no `.` or `..` parts):
        # a string operation (abspath + relpath for every file cost seconds per feed)
        return name[len(raw) + 1 :].replace(os.sep, "/")
    raw, absolute = os.path.abspath(raw_dir), os.path.abspath(path)
    relative = os.path.relpath(absolute, raw)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        # the same folder reached through a link (e.g. the raw dir given as a link): compare
        # the folders' real paths, still without following the file's own link
        real_parent = os.path.realpath(os.path.dirname(absolute))
        relative = os.path.relpath(
            os.path.join(real_parent, os.path.basename(absolute)), os.path.realpath(raw)
        )
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise ValueError(f"{path} is not under the raw directory {raw_dir}")
    return relative.replace(os.sep, "/")


def is_ignored(relative: str) -> bool:
    """Files and folders whose name starts with `_` (e.g. `_manifest/`) are not feeds, nor are
    hidden ones (`.DS_Store`, an editor's `.x.swp`)."""
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


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
    # root_dir: the pattern applies below the raw dir only, and the matches come back relative
    # (the raw dir's own name is never read as a pattern, nor resolved)
    for relative in sorted(glob.glob(pattern, root_dir=raw_dir)):
        relative = relative.replace(os.sep, "/")
        if not layout.matches(relative) or is_ignored(relative):
            continue
        path = os.path.join(raw_dir, relative)
        # a broken link is listed too: ingestion quarantines it with its reason
        if os.path.isfile(path) or os.path.islink(path):
            selected.append(raw_dir / relative)
    return selected


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


def feed_of_folder(relative: str) -> str | None:
    """The feed whose checks report an unrecognized file: the feed whose directory holds it
    (the first one when several share it), else the first feed of its top-level folder."""
    folder = relative.split("/", 1)[0]
    candidates = [name for name, layout in FEED_LAYOUTS.items() if layout.folder == folder]
    for name in candidates:
        if relative.startswith(FEED_LAYOUTS[name].subfolder + "/"):
            return name
    return candidates[0] if candidates else None


def _walk_files(raw_dir: Path, folder: str) -> Iterator[str]:
    """Relative paths of the files (and links) under raw_dir/folder, ignored ones left out."""
    top = os.path.join(raw_dir, folder)
    for directory, subdirectories, names in os.walk(top):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(("_", ".")))
        below = os.path.relpath(directory, raw_dir).replace(os.sep, "/")
        for name in sorted(names):
            if not name.startswith(("_", ".")):
                yield f"{below}/{name}"


def unrecognized_files(raw_dir: Path, folders: set[str]) -> list[str]:
    """Files under the given top-level feed folders that match no feed's layout, sorted."""
    found = []
    for folder in folders:
        # only the folder's own feeds can match (a partition run scans the whole folder)
        layouts = [layout for layout in FEED_LAYOUTS.values() if layout.folder == folder]
        for relative in _walk_files(raw_dir, folder):
            if not any(layout.matches(relative) for layout in layouts):
                found.append(relative)
    return sorted(found)
