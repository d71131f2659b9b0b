"""Building the warehouse from every delivered file: `warehouse run`, the benchmark, the tests.

A full build is not a second graph: it is runs of the code location's `warehouse_refresh` job
(the job the schedule and the sensor launch), over the months the raw feeds hold:

1. the reference snapshots and the monthly distributor workbooks, over the months delivered (a
   workbook arrives after its month: the month in progress has none yet, and is not built
   empty; its checks look distributors and SKUs up in the snapshots);
2. the daily feeds over the months delivered, with everything downstream: dbt (a full build
   the first time, orchestration.dbt.window), the GX checks, the serving database;
3. the channel review, in a run of the `channel_review` job, as the review sensor launches it
   after each publish (orchestration.automation.review).

Each refresh run is a single run over its range of months (what a single-run backfill from the
UI does), so Dagster records every month of every feed as materialized, each check's result per
month, and the dbt models and the serving database once. A failed run stops the build: what
follows would publish data its checks refused.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import AssetKey, AssetSelection, DagsterEventType, DagsterInstance

from orchestration.automation.refresh import REFRESH_JOB, REFRESH_SELECTION
from orchestration.ingest.assets import (
    DAILY_TABLES,
    MONTHLY_TABLES,
    REFERENCE_TABLES,
    months_with_files,
    raw_key,
)
from orchestration.partitions import PARTITION_TAG, month_key, range_tags

Progress = Callable[[str], None]


def print_progress(line: str) -> None:
    """Progress on the process's real standard output: while a run executes, sys.stdout is
    redirected to keep dbt's console output back (see execute)."""
    stream = sys.__stdout__ or sys.stdout
    stream.write(line + "\n")
    stream.flush()


# Dagster's console logger speaks up for errors only: the build prints its own progress
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


@dataclass(frozen=True)
class PlannedRun:
    label: str
    selection: tuple[AssetKey, ...]
    first_month: str | None  # None: an unpartitioned run (the review)
    last_month: str | None
    trigger: str = "build"
    job: str = REFRESH_JOB
    extra_tags: tuple[tuple[str, str], ...] = ()

    @property
    def tags(self) -> dict[str, str]:
        if self.first_month is None or self.last_month is None:
            partition = {}
        elif self.first_month == self.last_month:
            partition = {PARTITION_TAG: self.first_month}
        else:
            partition = range_tags(self.first_month, self.last_month)
        return {**partition, "warehouse/trigger": self.trigger, **dict(self.extra_tags)}


def plan_full_build(raw_dir: Path, graph) -> list[PlannedRun]:
    """The runs of a full build over what `raw_dir` holds (see the module docstring)."""
    reference = [raw_key(table) for table in REFERENCE_TABLES]
    monthly = {table: months_with_files(raw_dir, table) for table in MONTHLY_TABLES}
    runs = [
        # the reference snapshots first: the workbooks' checks look their keys up in them
        PlannedRun(
            f"{table} workbooks and reference snapshots",
            (*reference, raw_key(table)),
            months[0],
            months[-1],
        )
        for table, months in monthly.items()
        if months
    ]
    daily_months = sorted({m for table in DAILY_TABLES for m in months_with_files(raw_dir, table)})
    if daily_months:
        loaded = [key for run in runs for key in run.selection]
        rest = REFRESH_SELECTION - AssetSelection.assets(
            *loaded, *(raw_key(t) for t in MONTHLY_TABLES)
        )
        runs.append(
            PlannedRun(
                "daily feeds and everything downstream",
                tuple(sorted(rest.resolve(graph))),
                daily_months[0],
                daily_months[-1],
            )
        )
    return runs


def full_refresh_config(planned: PlannedRun) -> dict | None:
    """Run config asking the dbt step to rebuild every model, if the run holds dbt models."""
    from orchestration.dbt.assets import dbt_models

    if not set(planned.selection) & set(dbt_models.keys):
        return None
    return {"ops": {dbt_models.op.name: {"config": {"full_refresh": True}}}}


def run_for_day(graph, day: str) -> PlannedRun:
    """What the 06:00 schedule launches for business day `day` (orchestration.automation)."""
    from orchestration.automation.refresh import daily_selection

    month = month_key(date.fromisoformat(day))
    selection = tuple(daily_selection(graph))
    return PlannedRun(f"daily refresh of {day}", selection, month, month, "daily schedule")


class RunProgress:
    """Prints a run's steps as they finish, from the instance's event log (polled)."""

    def __init__(self, instance: DagsterInstance, run_id: str, progress: Progress) -> None:
        self.instance, self.run_id, self.progress = instance, run_id, progress
        self.started: dict[str, float] = {}
        self.cursor: str | None = None
        self.failed_checks: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> RunProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()  # what happened after the last poll

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            self._read()

    def _read(self) -> None:
        try:
            records = self.instance.get_records_for_run(
                self.run_id, cursor=self.cursor, of_type=STEP_EVENTS
            )
        except Exception:  # the run is not in storage yet
            return
        self.cursor = records.cursor
        for record in records.records:
            self._show(record.event_log_entry)

    def _show(self, entry) -> None:
        event = entry.dagster_event
        step = event.step_key or ""
        if event.event_type == DagsterEventType.STEP_START:
            self.started[step] = entry.timestamp
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed:
                where = f" [{evaluation.partition}]" if evaluation.partition else ""
                line = (
                    f"check failed: {evaluation.asset_key.to_user_string()}{where} / "
                    f"{evaluation.check_name} ({evaluation.severity.value})"
                )
                self.failed_checks.append(line)
        elif step and not _is_check_step(step):
            seconds = entry.timestamp - self.started.get(step, entry.timestamp)
            verb = {
                DagsterEventType.STEP_SUCCESS: "done",
                DagsterEventType.STEP_FAILURE: "FAILED",
                DagsterEventType.STEP_SKIPPED: "skipped",
            }[event.event_type]
            self.progress(f"      {step}: {verb} in {seconds:.1f} s")


def _is_check_step(step_key: str) -> bool:
    """GX checks run as steps of their own; they are reported by their evaluations."""
    return "_gx_" in step_key


def failure_messages(result) -> list[str]:
    """The root errors of a failed run's steps, one line each (cut to stay readable). The
    run's own failure event repeats its first step's error: shown only without step errors."""
    from orchestration.instance import root_error_text

    lines = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_failure else None
        if error is not None and (event.step_key or not lines):
            lines.append(f"{event.step_key or 'run'}: {root_error_text(error)}")
    return lines


def execute(
    defs,
    planned: PlannedRun,
    instance: DagsterInstance,
    progress: Progress,
    run_config: dict | None = None,
) -> tuple[bool, str]:
    """One planned run (of the refresh job, or the review's), in this process; (success, run
    id). The run is tagged with this process, so that a later start can tell if it died with it
    (orchestration.instance.fail_dead_runs)."""
    from orchestration.instance import process_tags

    run_id = str(uuid.uuid4())
    job = defs.resolve_job_def(planned.job)
    # dbt's console output (and GX's prints) are kept back and shown only if the run fails
    with (
        contextlib.redirect_stdout(io.StringIO()) as captured,
        RunProgress(instance, run_id, progress) as watch,
    ):
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            asset_selection=list(planned.selection),
            run_config={**QUIET_LOGS, **(run_config or {})},
            raise_on_error=False,
            tags={**planned.tags, **process_tags()},
        )
    for line in _summarize_checks(watch.failed_checks):
        progress(f"      {line}")
    if not result.success:
        progress("\n".join(captured.getvalue().splitlines()[-80:]))
        for line in failure_messages(result):
            progress(f"      {line}")
    return result.success, run_id


def _summarize_checks(lines: Sequence[str], limit: int = 12) -> list[str]:
    """Failed checks, the first `limit` of them and a count of the rest."""
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(f"... and {len(lines) - limit} more failed check evaluations")
    return shown


def review_run(instance: DagsterInstance) -> PlannedRun | None:
    """The run the review sensor would launch now; None when the review shows the latest
    publish already (or nothing is published)."""
    from orchestration.automation.review import (
        REVIEW_JOB,
        REVIEW_TRIGGER,
        review_tags,
        unreviewed_publish,
    )
    from orchestration.report.assets import REPORT_ASSET_KEY

    publish = unreviewed_publish(instance)
    if publish is None:
        return None
    return PlannedRun(
        "the channel review",
        (REPORT_ASSET_KEY,),
        None,
        None,
        trigger=REVIEW_TRIGGER,
        job=REVIEW_JOB,
        extra_tags=tuple(review_tags(publish).items()),
    )


def run_and_report(
    defs,
    planned: PlannedRun,
    instance: DagsterInstance,
    progress: Progress,
    heading: str,
    run_config: dict | None = None,
) -> bool:
    """Execute one planned run, with a heading line before it and its outcome after."""
    months = f", {planned.first_month[:7]}..{planned.last_month[:7]}" if planned.first_month else ""
    progress(f"{heading} {planned.label}{months}: {len(planned.selection)} assets ...")
    started = time.perf_counter()
    ok, run_id = execute(defs, planned, instance, progress, run_config)
    elapsed = time.perf_counter() - started
    progress(f"      {'done' if ok else 'FAILED'} in {elapsed:.1f} s (run {run_id})")
    return ok


def render_review(defs, instance: DagsterInstance, progress: Progress = print_progress) -> bool:
    """The review's run after a publish, as the review sensor would launch it; True when it
    succeeded or the review was up to date."""
    planned = review_run(instance)
    if planned is None:
        progress("The channel review shows the latest publish already")
        return True
    return run_and_report(defs, planned, instance, progress, "[review]")


def build_warehouse(
    raw_dir: Path,
    progress: Progress = print_progress,
    instance: DagsterInstance | None = None,
    full_refresh: bool = False,
    review: bool = True,
) -> bool:
    """Every planned run of a full build, in order, then the review (`review`); False at the
    first that fails. `full_refresh`: dbt rebuilds every model from scratch (launchpad config
    of the dbt step)."""
    from orchestration.definitions import defs
    from orchestration.instance import get_instance

    instance = instance or get_instance()
    planned_runs = plan_full_build(raw_dir, defs.resolve_asset_graph())
    if not planned_runs:
        progress(f"No feed file under {raw_dir}: nothing to build")
        return False
    for number, planned in enumerate(planned_runs, start=1):
        config = full_refresh_config(planned) if full_refresh else None
        heading = f"[{number}/{len(planned_runs)}]"
        if not run_and_report(defs, planned, instance, progress, heading, config):
            return False
    return render_review(defs, instance, progress) if review else True
