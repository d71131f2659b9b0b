"""Partitions of the warehouse: business days and months in Asia/Shanghai.

- `daily_partitions`: one partition per business day (calendar day, Asia/Shanghai), keys
  `YYYY-MM-DD`, from PARTITIONS_START (default 2022-01-01) to yesterday. The daily feeds
  (online orders and refunds, store POS, Shopee, Lazada), the staging views of those feeds and
  the intermediate models are daily.
- `monthly_partitions`: keys `YYYY-MM-01`, for the monthly distributor sell-in feed. A daily
  asset downstream of it depends on the month that contains its day (the default
  TimeWindowPartitionMapping, stated explicitly where the edge is built), so a corrected
  workbook of month M maps to every day of M.
- Reference feeds (products, stores, distributors, targets, fx_rates), seeds, the reference
  staging views, the marts and the serving database are unpartitioned.

Every partitioned asset has BackfillPolicy.single_run(): a backfill of a range is one run whose
partition window is the whole range (dbt gets it as WAREHOUSE_WINDOW_START / _END).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import (
    BackfillPolicy,
    DailyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionMapping,
)
from dagster._core.definitions.partitions.context import partition_loading_context

from orchestration.ingest.files import FEED_LAYOUTS, file_period, list_feed_files, relative_path

PARTITION_TIMEZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(PARTITION_TIMEZONE)
DEFAULT_PARTITIONS_START = "2022-01-01"

# Tags of a single run over a partition range (what a single-run backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def partitions_start() -> date:
    """PARTITIONS_START (YYYY-MM-DD), read when the definitions load."""
    value = os.environ.get("PARTITIONS_START", "").strip() or DEFAULT_PARTITIONS_START
    return date.fromisoformat(value)


_START = partitions_start()
daily_partitions = DailyPartitionsDefinition(
    start_date=_START.isoformat(), timezone=PARTITION_TIMEZONE, end_offset=0
)
monthly_partitions = MonthlyPartitionsDefinition(
    start_date=_START.replace(day=1).isoformat(), timezone=PARTITION_TIMEZONE, end_offset=0
)
single_run_backfill = BackfillPolicy.single_run()
# day D of a daily asset depends on the month containing D of a monthly asset (and a month of
# the monthly asset maps to all of its days downstream)
month_to_day_mapping = TimeWindowPartitionMapping()

DAILY_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period == "day")
MONTHLY_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period == "month")
REFERENCE_TABLES = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period is None)


def partitions_def_for_table(table: str) -> PartitionsDefinition | None:
    period = FEED_LAYOUTS[table].period
    return {"day": daily_partitions, "month": monthly_partitions}.get(period)  # type: ignore[arg-type]


def day_key(day: date) -> str:
    return day.isoformat()


def month_key(day: date) -> str:
    return day.replace(day=1).isoformat()


def key_date(key: str) -> date:
    return date.fromisoformat(key)


def run_partition_keys(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The first and last partition key of a run (or run request) from its tags: a range
    (single-run backfill, the daily job over several days) or one partition; None without."""
    if RANGE_START_TAG in tags:
        return tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG], tags[PARTITION_TAG]
    return None


def window_dates(start: datetime, end: datetime) -> tuple[date, date]:
    """A partition time window [start, end) as inclusive business dates."""
    return start.astimezone(SHANGHAI).date(), (end.astimezone(SHANGHAI) - timedelta(days=1)).date()


def last_key(partitions_def: PartitionsDefinition, now: datetime | None = None) -> str | None:
    """The last partition key at `now` (default: the current time)."""
    with partition_loading_context(now):
        return partitions_def.get_last_partition_key()


def last_daily_key(now: datetime | None = None) -> str | None:
    return last_key(daily_partitions, now)


def full_daily_range(now: datetime | None = None) -> tuple[str, str] | None:
    last = last_daily_key(now)
    if last is None:
        return None
    return daily_partitions.get_first_partition_key(), last  # type: ignore[return-value]


def covers_all_partitions(partitions_def: PartitionsDefinition, first: date, last: date) -> bool:
    """Whether [first, last] covers every partition of the definition (a full rebuild)."""
    first_key = partitions_def.get_first_partition_key()
    last_key = partitions_def.get_last_partition_key()
    if first_key is None or last_key is None:
        return True
    return first <= key_date(first_key) and last >= key_date(last_key)


def clip_days(days: Iterable[date], now: datetime | None = None) -> list[date]:
    """Days that are partitions (not before the start, not after yesterday)."""
    last = last_daily_key(now)
    if last is None:
        return []
    first, last_day = key_date(daily_partitions.get_first_partition_key()), key_date(last)
    return sorted({d for d in days if first <= d <= last_day})


def contiguous_ranges(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """Sorted days as maximal runs of consecutive days."""
    ordered = sorted(set(days))
    if not ordered:
        return
    start = previous = ordered[0]
    for day in ordered[1:]:
        if day != previous + timedelta(days=1):
            yield start, previous
            start = day
        previous = day
    yield start, previous


def feed_files_between(raw_dir: Path, table: str, first: date, last: date) -> list[Path]:
    """The feed's files whose business day (or month) falls in [first, last], sorted."""
    layout = FEED_LAYOUTS[table]
    raw_dir = Path(raw_dir)
    if layout.period is None:
        return list_feed_files(raw_dir, table)
    if layout.period == "day" and first == last:
        return list_feed_files(raw_dir, table, day=first)
    if layout.period == "month":
        first = first.replace(day=1)
    selected = []
    for path in list_feed_files(raw_dir, table):
        period = file_period(table, relative_path(raw_dir, path))
        if period is not None and first <= period <= last:
            selected.append(path)
    return selected
