"""The warehouse's partitions: business months (Asia/Shanghai) of the raw file feeds.

Only the assets that files arrive for are partitioned: the daily feeds (online orders and
refunds, store POS, Shopee, Lazada) and the monthly distributor workbooks, all by the business
month their files belong to (`feed_months`, keys `YYYY-MM-01`). Reference snapshots, the dbt
models, the serving database and the review are not partitioned: dbt finds the business dates a
run must rebuild from the load batches ingestion wrote since its last build
(orchestration.dbt.window), so a one-day refresh rebuilds one day whatever partition loaded it.

Why months and not days: Dagster stores one event per asset and partition materialized (and
one per partition a check evaluates). Measured here on a range run of one asset over 1,000
daily partitions: 17 s with the project's event log, 40 s with Dagster's default SQLite one
(~10 and ~22 ms per partition). Daily partitions on six feeds over five years are ~11,000
partitions, more than the whole build costs; months are ~360.

The last partition is the month in progress (`end_offset=1`): the daily refresh of yesterday
re-materializes the month that holds it (ingestion skips the files it already has, by sha256).
Every partitioned asset has BackfillPolicy.single_run(): a range of months is one run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import BackfillPolicy, MonthlyPartitionsDefinition, PartitionsDefinition

PARTITION_TIMEZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(PARTITION_TIMEZONE)
DEFAULT_PARTITIONS_START = "2022-01-01"

# Tags of a single run over a partition range (what a single-run backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def partitions_start() -> date:
    """PARTITIONS_START (YYYY-MM-DD; its month is the first partition), read when the
    definitions load."""
    value = os.environ.get("PARTITIONS_START", "").strip() or DEFAULT_PARTITIONS_START
    return date.fromisoformat(value)


feed_months = MonthlyPartitionsDefinition(
    start_date=partitions_start().replace(day=1).isoformat(),
    timezone=PARTITION_TIMEZONE,
    end_offset=1,
)
single_run_backfill = BackfillPolicy.single_run()


def month_key(day: date) -> str:
    """The partition key of the month holding `day`."""
    return day.replace(day=1).isoformat()


def key_date(key: str) -> date:
    return date.fromisoformat(key)


def month_end(first_day: date) -> date:
    """The last day of the month starting on `first_day`."""
    return (first_day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def business_yesterday(now: datetime | None = None) -> date:
    """Yesterday in Asia/Shanghai: the day the 06:00 refresh is for."""
    moment = now or datetime.now(SHANGHAI)
    return (moment.astimezone(SHANGHAI) - timedelta(days=1)).date()


def run_partition_keys(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The first and last partition key of a run (or run request) from its tags: a range
    (single-run backfill) or one partition; None without."""
    if RANGE_START_TAG in tags:
        return tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG], tags[PARTITION_TAG]
    return None


def range_tags(first_key: str, last_key: str) -> dict[str, str]:
    """Tags of one run over the partitions [first_key, last_key]."""
    return {RANGE_START_TAG: first_key, RANGE_END_TAG: last_key}


def window_dates(start: datetime, end: datetime) -> tuple[date, date]:
    """A partition time window [start, end) as inclusive business dates."""
    return start.astimezone(SHANGHAI).date(), (end.astimezone(SHANGHAI) - timedelta(days=1)).date()


def partition_keys_between(
    partitions_def: PartitionsDefinition, first: date, last: date
) -> list[str]:
    """The existing partition keys whose month overlaps [first, last]."""
    low, high = month_key(first), month_key(last)
    return [key for key in partitions_def.get_partition_keys() if low <= key <= high]
