"""The refresh: one job, the 06:00 schedule and the file-arrival sensor.

- `warehouse_refresh` (job): every asset of the code location but the channel review (which
  follows each publish in a run of its own, orchestration.automation.review), partitioned by
  the raw feeds' business month. `warehouse run` (a full build), the schedule, the sensor and a
  backfill from the UI are runs of this job: the months' files are loaded, dbt rebuilds what
  those loads changed (orchestration.dbt.window), the marts are audited and published.
- `daily_refresh_schedule`: 06:00 Asia/Shanghai, the month that holds yesterday: the daily
  feeds and everything downstream. Ingestion skips the month's files it already has, so the run
  loads yesterday's files. The files that come at no fixed time arrive through the sensor: the
  monthly distributor workbooks (after their month) and the reference snapshots (each forces a
  full build). Loading and checking the unchanged snapshots cost every daily run ~0.8 s.
- `raw_file_sensor`: notices files under RAW_DIR that are new or were re-delivered since its
  last tick (their inode change time, which a copy that keeps the modification time still
  updates) and requests a run for exactly the feeds and months they touch (a POS export also
  the months of the business dates it holds), with everything downstream; a reference snapshot
  rebuilds everything downstream of it. Files younger than FILE_SENSOR_SETTLE_SECONDS (default
  60) wait for the next tick, so a file still being written is not loaded half-way. The first
  tick only records where it starts.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)

from orchestration.ingest.assets import MONTHLY_TABLES, REFERENCE_TABLES, file_month, raw_key
from orchestration.ingest.files import FEED_LAYOUTS, is_ignored, list_feed_files, relative_path
from orchestration.partitions import (
    PARTITION_TIMEZONE,
    business_yesterday,
    feed_months,
    month_key,
    range_tags,
    run_partition_keys,
)
from orchestration.report.assets import REPORT_ASSET_KEY
from orchestration.settings import load_settings

SCHEDULE_HOUR = 6
DEFAULT_SETTLE_SECONDS = 60
POS_DATE_COLUMN = "销售日期"
POS_ENCODING = "gb18030"
REFRESH_JOB = "warehouse_refresh"

MONTHLY_KEYS = [raw_key(table) for table in MONTHLY_TABLES]
REFERENCE_KEYS = [raw_key(table) for table in REFERENCE_TABLES]
# The review is rendered by its own job after each publish (orchestration.automation.review)
REFRESH_SELECTION = AssetSelection.all() - AssetSelection.assets(REPORT_ASSET_KEY)

refresh_job = define_asset_job(
    REFRESH_JOB,
    selection=REFRESH_SELECTION,
    partitions_def=feed_months,
    description=(
        "The raw feeds of a business month (or a range of months, in one run) and reference "
        "snapshots -> dbt (what the loads changed) -> checks -> serving database."
    ),
)


def daily_selection(graph) -> list[AssetKey]:
    """What the daily refresh materializes: the refresh job's assets but the monthly workbooks
    and the reference snapshots (the file sensor loads those when they arrive)."""
    left_to_the_sensor = AssetSelection.assets(*MONTHLY_KEYS, *REFERENCE_KEYS)
    return sorted((REFRESH_SELECTION - left_to_the_sensor).resolve(graph))


@schedule(
    name="daily_refresh_schedule",
    cron_schedule=f"0 {SCHEDULE_HOUR} * * *",
    execution_timezone=PARTITION_TIMEZONE,
    job=refresh_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="06:00 Asia/Shanghai: load yesterday's files (the month that holds it) and "
    "rebuild, check and publish what they changed (the review follows in its own run).",
)
def daily_refresh_schedule(context: ScheduleEvaluationContext):
    day = business_yesterday(context.scheduled_execution_time)
    if feed_months.get_first_partition_key() > month_key(day):
        return SkipReason(f"{day} is before the first partition")
    graph = context.repository_def.asset_graph if context.repository_def else None
    return RunRequest(
        run_key=f"daily:{day}",
        partition_key=month_key(day),
        asset_selection=daily_selection(graph) if graph is not None else None,
        tags={"warehouse/trigger": "daily schedule", "warehouse/business_day": str(day)},
    )


# --------------------------------------------------------------------------------------------
# Which feeds and months a file touches
# --------------------------------------------------------------------------------------------


def pos_business_dates(path: Path) -> set[date]:
    """The distinct 销售日期 of a POS export (unreadable values are ignored: ingestion
    quarantines them)."""
    dates: set[date] = set()
    try:
        with open(path, encoding=POS_ENCODING, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if POS_DATE_COLUMN not in header:
                return dates
            column = header.index(POS_DATE_COLUMN)
            for row in reader:
                if len(row) > column:
                    try:
                        dates.add(date.fromisoformat(row[column].strip()))
                    except ValueError:
                        continue
    except (OSError, UnicodeDecodeError):
        return dates
    return dates


# Readers of the business dates a daily feed file holds beyond its own day.
FILE_DATE_READERS: dict[str, Callable[[Path], set[date]]] = {"store_pos_lines": pos_business_dates}


@dataclass
class Touched:
    """What a set of changed files touches."""

    months: dict[str, set[str]] = field(default_factory=dict)  # dated feed -> partition keys
    reference_tables: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)

    def add(self, table: str, month: str) -> None:
        self.months.setdefault(table, set()).add(month)


def classify_files(raw_dir: Path, changed: Iterable[tuple[str, Path]]) -> Touched:
    """(table, path) of changed files -> the feeds and months, and reference tables, they touch."""
    touched = Touched()
    for table, path in changed:
        relative = relative_path(raw_dir, path)
        touched.files.append(relative)
        if FEED_LAYOUTS[table].period is None:
            touched.reference_tables.add(table)
            continue
        month = file_month(table, relative)
        if month is None:
            continue
        touched.add(table, month)
        reader = FILE_DATE_READERS.get(table)
        for day in reader(path) if reader else ():
            touched.add(table, month_key(day))
    return touched


def changed_files(raw_dir: Path, after_ns: int, until_ns: int) -> list[tuple[str, Path]]:
    """Feed files whose inode change time is in (after_ns, until_ns]."""
    found = []
    for table in FEED_LAYOUTS:
        for path in list_feed_files(raw_dir, table):
            try:
                changed_at = path.stat().st_ctime_ns
            except OSError:
                continue
            if after_ns < changed_at <= until_ns and not is_ignored(relative_path(raw_dir, path)):
                found.append((table, path))
    return found


def contiguous_months(keys: Iterable[str]) -> list[tuple[str, str]]:
    """Existing partition keys as maximal runs of consecutive months (first, last)."""
    existing = feed_months.get_partition_keys()
    wanted = set(keys)
    runs: list[tuple[str, str]] = []
    for index, key in enumerate(existing):
        if key not in wanted:
            continue
        if runs and existing[index - 1] == runs[-1][1]:
            runs[-1] = (runs[-1][0], key)
        else:
            runs.append((key, key))
    return runs


def _downstream(keys: Iterable[AssetKey], graph) -> list[AssetKey]:
    """`keys` and what the refresh job holds downstream of them."""
    downstream = AssetSelection.assets(*keys).downstream(include_self=True)
    return sorted((downstream & REFRESH_SELECTION).resolve(graph))


def _request(
    first: str | None, last: str | None, selection: Sequence[AssetKey], run_key: str, reason: str
) -> RunRequest:
    tags = {"warehouse/trigger": reason}
    if first is None or first == last:
        return RunRequest(
            run_key=run_key, partition_key=first, asset_selection=list(selection), tags=tags
        )
    return RunRequest(
        run_key=run_key, asset_selection=list(selection), tags={**tags, **range_tags(first, last)}
    )


def run_requests_for(touched: Touched, graph, tick: str) -> list[RunRequest]:
    """The runs that refresh exactly what the touched files feed (see module docstring): one
    per group of feeds (monthly workbooks, daily exports) and run of consecutive months, each
    with everything downstream; a reference snapshot, one run of what is downstream of it."""
    requests: list[RunRequest] = []
    groups = {
        "new distributor workbook": sorted(set(touched.months) & set(MONTHLY_TABLES)),
        "new files": sorted(set(touched.months) - set(MONTHLY_TABLES)),
    }
    for reason, tables in groups.items():
        months = {month for table in tables for month in touched.months[table]}
        selection = _downstream([raw_key(table) for table in tables], graph)
        for first, last in contiguous_months(months):
            requests.append(
                _request(first, last, selection, f"files:{tick}:{tables}:{first}:{last}", reason)
            )
    if touched.reference_tables:
        keys = [raw_key(table) for table in sorted(touched.reference_tables)]
        requests.append(
            _request(None, None, _downstream(keys, graph), f"reference:{tick}", "new snapshot")
        )
    return requests


def settle_seconds() -> float:
    value = os.environ.get("FILE_SENSOR_SETTLE_SECONDS", "").strip()
    try:
        return max(0.0, float(value)) if value else DEFAULT_SETTLE_SECONDS
    except ValueError:
        return DEFAULT_SETTLE_SECONDS


def build_raw_file_sensor(
    name: str = "raw_file_sensor",
    raw_dir: Path | str | None = None,
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    clock_ns: Callable[[], int] | None = None,
):
    """The file-arrival sensor; `raw_dir` defaults to RAW_DIR at each tick."""

    @sensor(
        name=name,
        job=refresh_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Loads the feeds and months that new or re-delivered files under RAW_DIR touch (a"
            " POS file also the months of the business dates it holds), and what is downstream."
        ),
    )
    def _raw_file_sensor(context: SensorEvaluationContext):
        folder = Path(raw_dir) if raw_dir else load_settings().raw_dir
        until_ns = (clock_ns() if clock_ns else time.time_ns()) - int(settle_seconds() * 1e9)
        state = json.loads(context.cursor) if context.cursor else None
        cursor = json.dumps({"after_ns": until_ns})
        if state is None:
            return SensorResult(
                skip_reason=SkipReason("First tick: files changed from now on are refreshed"),
                cursor=cursor,
            )
        after_ns = int(state["after_ns"])
        if until_ns <= after_ns:
            return SkipReason("Waiting for files to settle")
        changed = changed_files(folder, after_ns, until_ns) if folder.is_dir() else []
        if not changed:
            return SensorResult(skip_reason=SkipReason("No new files"), cursor=cursor)
        touched = classify_files(folder, changed)
        graph = context.repository_def.asset_graph if context.repository_def else None
        requests = run_requests_for(touched, graph, str(until_ns))
        context.log.info(
            f"{len(changed)} new or re-delivered file(s) ({', '.join(touched.files[:10])}"
            f"{' ...' if len(touched.files) > 10 else ''}): {len(requests)} run(s) requested"
        )
        if not requests:
            return SensorResult(
                skip_reason=SkipReason(f"{len(changed)} file(s) outside the partitions"),
                cursor=cursor,
            )
        return SensorResult(run_requests=requests, cursor=cursor)

    return _raw_file_sensor


raw_file_sensor = build_raw_file_sensor()


def requested_partitions(request: RunRequest) -> list[str]:
    """The partition keys a run request covers (tests, logs)."""
    if request.partition_key:
        return [request.partition_key]
    keys = run_partition_keys(request.tags or {})
    if keys is None:
        return []
    first, last = keys
    return [key for key in feed_months.get_partition_keys() if first <= key <= last]
