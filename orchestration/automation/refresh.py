"""The daily refresh: jobs, the 06:00 schedule and the file-arrival sensor.

- `daily_refresh` (job): every asset except the monthly distributor feed, one business day
  (or a range in one run). `distributor_monthly` (job): the distributor feed, one month.
  A Dagster run may only hold one partitions definition, hence two jobs.
- `daily_refresh_schedule`: 06:00 Asia/Shanghai, refreshes the previous day's partition.
- `raw_file_sensor`: notices files under RAW_DIR that are new or were re-delivered since its
  last tick (their inode change time, which a copy that keeps the modification time still
  updates) and requests exactly the partitions they touch:
    * a daily feed file: its day; a store POS file also every business date (销售日期) it holds,
      because a POS export can carry rows of earlier days;
    * a distributor workbook: its month of the raw feed, then the days of that month downstream;
    * a reference snapshot: a rebuild of everything downstream of it over all days (one run).
  Consecutive days go in one run (a partition range); separate days get one run each. Files
  younger than FILE_SENSOR_SETTLE_SECONDS (default 60) wait for the next tick, so a file still
  being written is not loaded half-way. The first tick only records where it starts.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    sensor,
)

from orchestration.automation.partitions import (
    DAILY_TABLES,
    MONTHLY_TABLES,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REFERENCE_TABLES,
    clip_days,
    contiguous_ranges,
    daily_partitions,
    day_key,
    full_daily_range,
    key_date,
    last_key,
    monthly_partitions,
    run_partition_keys,
)
from orchestration.ingest.files import (
    FEED_LAYOUTS,
    file_period,
    is_ignored,
    list_feed_files,
    relative_path,
)
from orchestration.ingest.tables import RAW_SCHEMA
from orchestration.settings import load_settings

SCHEDULE_HOUR = 6
DEFAULT_SETTLE_SECONDS = 60
POS_DATE_COLUMN = "销售日期"
POS_ENCODING = "gb18030"


def raw_key(table: str) -> AssetKey:
    return AssetKey([RAW_SCHEMA, table])


MONTHLY_KEYS = [raw_key(t) for t in MONTHLY_TABLES]

daily_refresh_job = define_asset_job(
    "daily_refresh",
    selection=AssetSelection.all() - AssetSelection.assets(*MONTHLY_KEYS),
    partitions_def=daily_partitions,
    description=(
        "One business day (or a range, in one run): the daily feeds and reference snapshots ->"
        " staging -> intermediate (incremental on the window) -> marts -> serving database."
    ),
)

distributor_monthly_job = define_asset_job(
    "distributor_monthly",
    selection=AssetSelection.assets(*MONTHLY_KEYS),
    partitions_def=monthly_partitions,
    description="The monthly distributor sell-in workbooks of one month.",
)

daily_refresh_schedule = build_schedule_from_partitioned_job(
    daily_refresh_job,
    hour_of_day=SCHEDULE_HOUR,
    minute_of_hour=0,
    name="daily_refresh_schedule",
    description="06:00 Asia/Shanghai: refresh the previous business day.",
    default_status=DefaultScheduleStatus.RUNNING,
)


# --------------------------------------------------------------------------------------------
# Which partitions a file touches
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

    days: dict[date, set[str]] = field(default_factory=dict)  # day -> daily tables
    months: set[date] = field(default_factory=set)
    reference_tables: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)

    def add_day(self, day: date, table: str) -> None:
        self.days.setdefault(day, set()).add(table)


def classify_files(raw_dir: Path, changed: Iterable[tuple[str, Path]]) -> Touched:
    """(table, path) of changed files -> the days, months and reference tables they touch."""
    touched = Touched()
    for table, path in changed:
        relative = relative_path(raw_dir, path)
        touched.files.append(relative)
        layout = FEED_LAYOUTS[table]
        if layout.period is None:
            touched.reference_tables.add(table)
            continue
        period = file_period(table, relative)
        if period is None:
            continue
        if layout.period == "month":
            touched.months.add(period)
            continue
        touched.add_day(period, table)
        reader = FILE_DATE_READERS.get(table)
        for day in reader(path) if reader else ():
            touched.add_day(day, table)
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


def _range_request(
    job_name: str, first: str, last: str, selection: Sequence[AssetKey], run_key: str, reason: str
) -> RunRequest:
    tags = {"warehouse/trigger": reason}
    if first == last:
        return RunRequest(
            run_key=run_key,
            job_name=job_name,
            partition_key=first,
            asset_selection=list(selection),
            tags=tags,
        )
    return RunRequest(
        run_key=run_key,
        job_name=job_name,
        asset_selection=list(selection),
        tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last},
    )


def _downstream(keys: Iterable[AssetKey], include_self: bool, graph) -> list[AssetKey]:
    selection = AssetSelection.assets(*keys).downstream(include_self=include_self)
    return sorted(selection.resolve(graph))


def run_requests_for(
    touched: Touched, graph, tick: str, now: datetime | None = None
) -> list[RunRequest]:
    """The runs that refresh exactly what the touched files feed (see module docstring)."""
    requests: list[RunRequest] = []
    days = clip_days(touched.days, now)
    if days:
        tables = sorted({t for day in days for t in touched.days[day]})
        selection = _downstream([raw_key(t) for t in tables], True, graph)
        for first, last in contiguous_ranges(days):
            requests.append(
                _range_request(
                    daily_refresh_job.name,
                    day_key(first),
                    day_key(last),
                    selection,
                    f"files:{tick}:{first}:{last}",
                    "new files",
                )
            )
    last_month = last_key(monthly_partitions, now)
    for month in sorted(touched.months):
        if (
            last_month is None
            or month.isoformat() > last_month
            or month.isoformat() < (monthly_partitions.get_first_partition_key() or "")
        ):
            continue
        requests.append(
            RunRequest(
                run_key=f"month:{tick}:{month}",
                job_name=distributor_monthly_job.name,
                partition_key=month.isoformat(),
                asset_selection=MONTHLY_KEYS,
                tags={"warehouse/trigger": "new distributor workbook"},
            )
        )
        month_days = clip_days(
            (
                date.fromordinal(o)
                for o in range(month.toordinal(), month.toordinal() + 31)
                if date.fromordinal(o).month == month.month
            ),
            now,
        )
        if month_days:
            requests.append(
                _range_request(
                    daily_refresh_job.name,
                    day_key(month_days[0]),
                    day_key(month_days[-1]),
                    _downstream(MONTHLY_KEYS, False, graph),
                    f"month-days:{tick}:{month}",
                    "new distributor workbook",
                )
            )
    full = full_daily_range(now)
    if touched.reference_tables and full is not None:
        selection = _downstream([raw_key(t) for t in sorted(touched.reference_tables)], True, graph)
        requests.append(
            _range_request(
                daily_refresh_job.name,
                full[0],
                full[1],
                selection,
                f"reference:{tick}",
                "new reference snapshot",
            )
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
        jobs=[daily_refresh_job, distributor_monthly_job],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Re-materializes exactly the partitions that new or re-delivered files under RAW_DIR"
            " touch (a POS file also the earlier business dates it holds)."
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
    first, last = key_date(keys[0]), key_date(keys[1])
    if request.job_name == distributor_monthly_job.name:
        return [k for k in monthly_partitions.get_partition_keys() if first <= key_date(k) <= last]
    days = range(first.toordinal(), last.toordinal() + 1)
    return [day_key(date.fromordinal(o)) for o in days]


__all__ = [
    "DAILY_TABLES",
    "REFERENCE_TABLES",
    "build_raw_file_sensor",
    "daily_refresh_job",
    "daily_refresh_schedule",
    "distributor_monthly_job",
    "raw_file_sensor",
    "requested_partitions",
]
