"""Alert sensors: failed asset checks, failed runs, runs whose process died, late feeds.

A failed asset check does not fail its run (dagster issue 29896), so a run-failure sensor
never sees data-quality failures: `asset_check_alert_sensor` reads the check evaluations of
every finished run instead. A failed run alerts once, whoever sees it first: the
`warehouse run` that executed it (the daemon may not be running), `run_failure_alert_sensor`
(every run of the instance, in-process CLI runs included), or the recovery that marks failed
a run whose process died (`recover_runs`: at CLI start, and `dead_run_sensor` in the daemon).
All the sensors need the `alerts` resource
(`orchestration.automation.alerts.AlertNotifier`) and share its incident file, so each
incident alerts once when it opens and once when it recovers, across daemon restarts.

How `asset_check_alert_sensor` reads the event log: it follows run-end events
(RUN_SUCCESS / RUN_FAILURE / RUN_CANCELED) through `instance.fetch_run_status_changes`,
whose storage ids are global on every storage (they are mirrored into the index shard of
the default run-sharded SQLite storage), then reads each finished run's
ASSET_CHECK_EVALUATION records with `instance.get_records_for_run`. Reading the check
events directly with `get_event_records(EventRecordsFilter(ASSET_CHECK_EVALUATION,
after_cursor=<int>))` is deprecated in 1.13 and raises on the run-sharded SQLite storage
("cursor that is not run-aware"). Checks are therefore alerted when their run ends.

Failed expectations are read from the check's metadata, key `failed_expectations`
(a JSON list of strings, or of objects with `expectation`/`expectation_type`/`type`,
`column`, `unexpected_count`, ...; a newline-separated text also works). Without it the
check's description is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic
from time import time as time_now
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusChangeRecordsFilter,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from orchestration.automation.alerts import Alert, AlertNotifier, DeliveryResult
from orchestration.automation.incidents import SENDING, IncidentKey, IncidentStore, Transition
from orchestration.instance import (
    ProcessIdentity,
    fail_dead_runs,
    failed_runs_of_host,
    process_of_run,
    run_failure_message,
    step_failures,
)
from orchestration.partitions import PARTITION_TAG, SHANGHAI
from orchestration.settings import load_settings

logger = logging.getLogger(__name__)

RUN_END_EVENTS = (
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_CANCELED,
)
FAILED_EXPECTATIONS_KEYS = ("failed_expectations", "failed expectations", "failed_expectation")
# expectations that could not run (orchestration.quality writes them as `gx_errors`)
COULD_NOT_RUN_KEYS = ("gx_errors",)
# metadata not repeated in an alert's details (shown elsewhere, or too long for a message)
DETAILS_SKIP_KEYS = (*FAILED_EXPECTATIONS_KEYS, *COULD_NOT_RUN_KEYS, "summary")
RUN_FETCH_LIMIT = 100
# an alert and where it was delivered
Sent = tuple[Alert, list[DeliveryResult]]
# Stop taking new runs after this long in one tick (Dagster's sensor timeout is 60 s); the
# rest is picked up by the next tick from the cursor.
TICK_BUDGET_SECONDS = 40.0
MAX_DETAIL_CHARS = 2000


# --------------------------------------------------------------------------------------------
# Asset checks
# --------------------------------------------------------------------------------------------


def check_incident_key(asset: str, partition: str | None, check_name: str) -> IncidentKey:
    return IncidentKey("check", asset, partition, check_name)


def failed_expectations_from_metadata(
    metadata: dict[str, Any], description: str | None = None
) -> list[str]:
    """Turn a check's metadata into a list of readable failed expectations."""
    plain = {key: _metadata_value(value) for key, value in (metadata or {}).items()}
    lines: list[str] = []
    for key in FAILED_EXPECTATIONS_KEYS:
        if key in plain and plain[key] not in (None, "", [], {}):
            lines = _expectation_lines(plain[key])
            break
    for key in COULD_NOT_RUN_KEYS:
        if key in plain and plain[key] not in (None, "", [], {}):
            lines += [
                line if "could not run" in line else f"could not run: {line}"
                for line in _expectation_lines(plain[key])
            ]
    if lines:
        return lines
    return [description] if description else []


def _expectation_lines(value: Any) -> list[str]:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "[{":
            try:
                return _expectation_lines(json.loads(stripped))
            except json.JSONDecodeError:
                pass
        return [line.strip(" -•\t") for line in stripped.splitlines() if line.strip(" -•\t")]
    if isinstance(value, dict):
        if any(k in value for k in ("expectation", "expectation_type", "type")):
            return [_describe_expectation(value)]
        return [f"{k}: {_short(v)}" for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        lines: list[str] = []
        for item in value:
            lines.extend(_expectation_lines(item) if not isinstance(item, str) else [item])
        return lines
    return [str(value)]


def _describe_expectation(item: dict[str, Any]) -> str:
    name = item.get("expectation") or item.get("expectation_type") or item.get("type")
    kwargs = item.get("kwargs") if isinstance(item.get("kwargs"), dict) else {}
    column = item.get("column") or kwargs.get("column")
    text = f"{name}({column})" if column else str(name)
    extras = [
        f"{key}={_short(item[key], 120)}"
        for key in (
            "unexpected_count",
            "unexpected_percent",
            "observed_value",
            "sample",
            "partial_unexpected_list",
            "error",
            "message",
            "why",
        )
        if item.get(key) not in (None, "", [])
    ]
    return f"{text}: {', '.join(extras)}" if extras else text


def _metadata_value(value: Any) -> Any:
    raw = getattr(value, "value", value)
    try:
        json.dumps(raw)
        return raw
    except (TypeError, ValueError):
        return str(raw)


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _details_from_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if key in DETAILS_SKIP_KEYS:
            continue
        details[key] = _short(_metadata_value(value), 500)
    return details


def alert_for_check(
    evaluation: AssetCheckEvaluation,
    partition: str | None,
    run_id: str | None,
    run_url: str | None,
    recovered: bool,
) -> Alert:
    asset = evaluation.asset_key.to_user_string()
    where = f"{asset} [{partition}]" if partition else asset
    metadata = dict(evaluation.metadata or {})
    severity = "warning" if evaluation.severity == AssetCheckSeverity.WARN else "error"
    if recovered:
        return Alert(
            kind="check_recovered",
            title=f"check {evaluation.check_name} on {where} passes again",
            asset=asset,
            partition=partition,
            check=evaluation.check_name,
            run_id=run_id,
            run_url=run_url,
            severity="info",
            details=_details_from_metadata(metadata),
            incident_key=str(check_incident_key(asset, partition, evaluation.check_name)),
        )
    details = _details_from_metadata(metadata)
    if evaluation.description:
        details = {"description": evaluation.description, **details}
    return Alert(
        kind="check_failed",
        title=f"check {evaluation.check_name} failed on {where}",
        asset=asset,
        partition=partition,
        check=evaluation.check_name,
        failed_expectations=failed_expectations_from_metadata(metadata, evaluation.description),
        run_id=run_id,
        run_url=run_url,
        severity=severity,
        details=details,
        incident_key=str(check_incident_key(asset, partition, evaluation.check_name)),
    )


def process_check_evaluations(
    instance: Any,
    run_ids: Iterable[str],
    alerts: AlertNotifier,
    store: IncidentStore,
) -> list[tuple[Alert, list[DeliveryResult]]]:
    """Open/close incidents from the check evaluations of the given finished runs."""
    sent: list[tuple[Alert, list[DeliveryResult]]] = []
    for run_id in run_ids:
        run: DagsterRun | None = instance.get_run_by_id(run_id)
        run_partition = run.tags.get(PARTITION_TAG) if run else None
        records = instance.get_records_for_run(
            run_id=run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        for record in records:
            dagster_event = record.event_log_entry.dagster_event
            evaluation = dagster_event.event_specific_data if dagster_event else None
            if not isinstance(evaluation, AssetCheckEvaluation):
                continue
            # The check's own partition, else the one it says it validated. Not the run's
            # partition tag: an unpartitioned check validates the whole asset, and keying it by
            # run partition would leave incidents open that a later run cannot close.
            partition = (
                evaluation.partition
                or _metadata_value(evaluation.metadata.get("partition"))
                or None
            )
            asset = evaluation.asset_key.to_user_string()
            key = check_incident_key(asset, partition, evaluation.check_name)
            transition = store.observe(
                key,
                failing=not evaluation.passed,
                at=record.event_log_entry.timestamp,
                run_id=run_id,
                info={"severity": str(evaluation.severity)},
            )
            if transition is Transition.UNCHANGED:
                continue
            alert = alert_for_check(
                evaluation,
                partition,
                run_id,
                alerts.run_url(run_id),
                recovered=transition is Transition.CLOSED,
            )
            if run_partition and run_partition != partition:
                alert.details["run_partition"] = run_partition
            sent.append((alert, alerts.send(alert)))
    return sent


def _latest_run_end_storage_id(instance: Any) -> int:
    latest = -1
    for event_type in RUN_END_EVENTS:
        records = instance.fetch_run_status_changes(records_filter=event_type, limit=1).records
        if records:
            latest = max(latest, records[0].storage_id)
    return latest


def _run_end_records_after(instance: Any, after: int, limit: int) -> list[Any]:
    """Run-end records after `after`, in storage order, without skipping any.

    Each event type is fetched separately (the filter takes one type); when a type fills its
    limit, records beyond its last one are left for the next tick so none is skipped.
    """
    merged: list[Any] = []
    cutoff: int | None = None
    for event_type in RUN_END_EVENTS:
        records = instance.fetch_run_status_changes(
            records_filter=RunStatusChangeRecordsFilter(
                event_type=event_type, after_storage_id=after
            ),
            limit=limit,
            ascending=True,
        ).records
        merged.extend(records)
        if len(records) >= limit:
            last = records[-1].storage_id
            cutoff = last if cutoff is None else min(cutoff, last)
    merged.sort(key=lambda record: record.storage_id)
    if cutoff is not None:
        merged = [record for record in merged if record.storage_id <= cutoff]
    return merged


def _parse_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(json.loads(cursor)["after_storage_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _cursor(after_storage_id: int) -> str:
    return json.dumps({"after_storage_id": after_storage_id})


def _summary(sent: Sequence[tuple[Alert, list[DeliveryResult]]]) -> str:
    parts = []
    for alert, results in sent:
        failed = [r.channel for r in results if not r.ok]
        parts.append(
            f"{alert.kind} {alert.incident_key}" + (f" (failed: {failed})" if failed else "")
        )
    return "; ".join(parts)


@sensor(
    name="asset_check_alert_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Alerts once when an asset check starts failing on an asset partition and once when it"
        " passes again (check results of finished runs)."
    ),
)
def asset_check_alert_sensor(context: SensorEvaluationContext, alerts: AlertNotifier):
    instance = context.instance
    after = _parse_cursor(context.cursor)
    if after is None:
        # First tick (or unreadable cursor): start at the present, don't replay history.
        latest = _latest_run_end_storage_id(instance)
        context.update_cursor(_cursor(latest))
        return SkipReason(f"Initialised at run-end storage id {latest}")

    store = IncidentStore(alerts.state_db_path())
    records = _run_end_records_after(instance, after, RUN_FETCH_LIMIT)
    sent: list[tuple[Alert, list[DeliveryResult]]] = []
    started = monotonic()
    for record in records:
        if monotonic() - started > TICK_BUDGET_SECONDS:
            context.log.warning("Tick time budget used up; the remaining runs go to the next tick")
            break
        run_id = record.event_log_entry.run_id
        try:
            sent.extend(process_check_evaluations(instance, [run_id], alerts, store))
        except Exception:  # one bad run must not block the sensor forever
            context.log.exception(f"Could not process check results of run {run_id}")
        after = record.storage_id
        context.update_cursor(_cursor(after))
    if not sent:
        return SkipReason(f"{len(records)} finished run(s), no check changed state")
    context.log.info(f"Sent {len(sent)} alert(s): {_summary(sent)}")
    return SkipReason(f"Sent {len(sent)} alert(s): {_summary(sent)}")


# --------------------------------------------------------------------------------------------
# Run failures
# --------------------------------------------------------------------------------------------


def alert_for_run_failure(
    run: DagsterRun,
    failure_message: str | None,
    step_errors: dict[str, str],
    run_url: str | None,
    assets: Sequence[str] | None = None,
) -> Alert:
    """`assets`: the assets the run did not materialize (default: the run's asset selection)."""
    assets = sorted(assets or (key.to_user_string() for key in (run.asset_selection or ())))
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}" for key in (run.asset_check_selection or ())
    )
    partition = run.tags.get(PARTITION_TAG)
    details: dict[str, Any] = {"job": run.job_name}
    if failure_message:
        details["message"] = failure_message[:MAX_DETAIL_CHARS]
    for step, error in step_errors.items():
        details[f"step {step}"] = error[:MAX_DETAIL_CHARS]
    if len(assets) > 1:
        details["assets"] = assets
    if checks:
        details["checks"] = checks
    asset = (
        assets[0]
        if len(assets) == 1
        else (", ".join(assets[:5]) + (" …" if len(assets) > 5 else ""))
    )
    where = f" [{partition}]" if partition else ""
    return Alert(
        kind="run_failed",
        title=f"run {run.run_id[:8]} of {run.job_name}{where} failed",
        asset=asset or None,
        partition=partition,
        run_id=run.run_id,
        run_url=run_url,
        severity="error",
        details=details,
        incident_key=str(run_incident_key(run.run_id)),
    )


def _unmaterialized_assets(instance: Any, run: DagsterRun) -> list[str]:
    """Assets the run planned but did not materialize (a run of `materialize()` or of an
    implicit asset job has no asset selection; its planned events say what it targeted)."""
    try:
        planned = instance.get_asset_keys_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        )
        done = instance.get_asset_keys_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        )
    except Exception:
        logger.exception("Could not read the asset events of run %s", run.run_id)
        return []
    return sorted(key.to_user_string() for key in (set(planned) - set(done)))


def run_incident_key(run_id: str) -> IncidentKey:
    return IncidentKey("run", run_id, None, "failure")


# Dagster's error for a step whose blocking asset checks failed
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"


def _failed_blocking_checks(instance: Any, run_id: str) -> list[str]:
    """`check on asset [partition]: failed expectation; ...` for each failed blocking ERROR
    check evaluation of the run."""
    lines = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if (
            not isinstance(evaluation, AssetCheckEvaluation)
            or evaluation.passed
            or evaluation.severity != AssetCheckSeverity.ERROR
            or not evaluation.blocking
        ):
            continue
        where = f" [{evaluation.partition}]" if evaluation.partition else ""
        metadata = {key: _metadata_value(v) for key, v in (evaluation.metadata or {}).items()}
        listed = metadata.get("failed_expectations")
        if isinstance(listed, list):  # the quality checks' format: only what blocked (error)
            metadata["failed_expectations"] = [
                item
                for item in listed
                if not isinstance(item, dict) or item.get("severity", "error") == "error"
            ]
        failed = failed_expectations_from_metadata(metadata, evaluation.description)
        shown = "; ".join(_short(line, 240) for line in failed[:3])
        more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
        lines.append(
            f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}{where}"
            + (f": {shown}{more}" if shown else "")
        )
    return lines


def run_failure_cause(instance: Any, run_id: str) -> str:
    """One line saying why a run failed: its first failed step and that step's root error; a
    blocking check that failed is named with its failed expectations; without a failed step,
    the run's own failure (e.g. its process died)."""
    failures = step_failures(instance, run_id)
    if not failures:
        return run_failure_message(instance, run_id) or "no failed step was recorded"
    first, others = failures[0], failures[1:]
    checks = (
        _failed_blocking_checks(instance, run_id) if first.error_class == CHECK_FAILED_ERROR else []
    )
    if checks:
        text = f"blocking check failed (ERROR): {' | '.join(checks)}"
    else:
        text = f"step {first.step}: {first.error}"
    if others:
        names = ", ".join(f.step for f in others[:5]) + (" ..." if len(others) > 5 else "")
        text += f" (then {len(others)} more failed step(s): {names})"
    return text


def run_failure_alert(instance: Any, run: DagsterRun, alerts: AlertNotifier) -> Alert:
    """The alert of a failed run, read from the instance: the cause (first failed step and
    its root error), every failed step, the assets not materialized, the process it ran in."""
    step_errors: dict[str, str] = {}
    cause = None
    try:
        step_errors = {f.step: f.error for f in step_failures(instance, run.run_id)}
        cause = run_failure_cause(instance, run.run_id)
    except Exception:
        logger.exception("Could not read the step failures of run %s", run.run_id)
    alert = alert_for_run_failure(
        run,
        run_failure_message(instance, run.run_id),
        step_errors,
        alerts.run_url(run.run_id),
        assets=_unmaterialized_assets(instance, run),
    )
    if cause and alert.details.get("message") == cause:
        del alert.details["message"]  # a run failed from outside has no step: said once
    process = process_of_run(run)
    extra: dict[str, Any] = {"cause": cause[:MAX_DETAIL_CHARS]} if cause else {}
    if process is not None:
        extra["launched_by"] = f"warehouse run (pid {process.pid} on {process.host})"
    alert.details = {**extra, **alert.details}
    return alert


def send_run_failure_alert(
    instance: Any, run: DagsterRun, alerts: AlertNotifier, store: IncidentStore
) -> Sent | None:
    """Alert a failed run once, whoever asks first (the CLI that ran it, the run-failure
    sensor, a recovery at start); None if its alert was already claimed. The claim names this
    process until the alert went out, so a process killed in between leaves it to be resent
    (`resend_unsent_run_alerts`)."""
    key = run_incident_key(run.run_id)
    claim = ProcessIdentity.current().to_dict()
    opened = store.observe(key, failing=True, run_id=run.run_id, info={SENDING: claim})
    if opened is not Transition.OPENED:
        return None
    alert = run_failure_alert(instance, run, alerts)
    results = alerts.send(alert)
    store.sent(key)
    return alert, results


def describe_delivery(results: Sequence[DeliveryResult]) -> str:
    """`log ok, webhook FAILED (HTTP 500 ...)`: where an alert went."""
    return ", ".join(
        f"{r.channel} ok" if r.ok else f"{r.channel} FAILED ({r.error})" for r in results
    )


def resend_unsent_run_alerts(
    instance: Any, alerts: AlertNotifier, store: IncidentStore
) -> list[Sent]:
    """Send the run-failure alerts whose sender died before sending them (same host only:
    the sender of another host may still be at it)."""
    me = ProcessIdentity.current().to_dict()
    sent = []
    for incident in store.unsent(kind="run"):
        claimant = incident.info.get(SENDING)
        sender = ProcessIdentity.from_dict(claimant)
        if sender is None or sender.is_alive() is not False:
            continue
        if not store.take_over(incident.key, claimant, me):
            continue  # someone else took it over meanwhile
        run = instance.get_run_by_id(incident.key.subject)
        if run is not None:
            alert = run_failure_alert(instance, run, alerts)
            sent.append((alert, alerts.send(alert)))
        store.sent(incident.key)
    return sent


# Failed runs of `warehouse run` this old or newer are alerted by the next start if their own
# process died before alerting them (a run older than this was alerted, or never will be).
CATCH_UP_SECONDS = 7 * 24 * 3600


def recover_runs(
    instance: Any,
    alerts: AlertNotifier,
    launched_location: str | None = None,
    catch_up_seconds: float | None = CATCH_UP_SECONDS,
) -> list[tuple[DagsterRun, Sent | None]]:
    """What a start (of the CLI, of the daemon's sensors) owes to processes that died:

    1. unfinished runs whose process is gone are reported failed, and alerted
       (`orchestration.instance.fail_dead_runs`; `launched_location` for the daemon's runs);
    2. run-failure alerts claimed by a process that died before sending them are sent;
    3. failed runs of `warehouse run` on this host (the last `catch_up_seconds`) that no one
       alerted (their process died between the failure and its alert) are alerted.

    Returns the runs of 1 and 3 with their alert (None: already alerted by someone else); the
    alerts of 2 are in the alert log."""
    store = IncidentStore(alerts.state_db_path())
    handled: list[tuple[DagsterRun, Sent | None]] = []
    for run in fail_dead_runs(instance, launched_location):
        handled.append((run, send_run_failure_alert(instance, run, alerts, store)))
    resend_unsent_run_alerts(instance, alerts, store)
    if catch_up_seconds:
        for run in failed_runs_of_host(instance, since=time_now() - catch_up_seconds):
            if store.get(run_incident_key(run.run_id)) is None:
                handled.append((run, send_run_failure_alert(instance, run, alerts, store)))
    return handled


@run_failure_sensor(
    name="run_failure_alert_sensor",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    # every run of the instance: runs executed in-process by `warehouse run` (or by tests) have
    # no code location, and a sensor watching its own location only would never see them fail
    monitor_all_code_locations=True,
    description="Alerts once for every failed run (job, assets, partition, cause, link).",
)
def run_failure_alert_sensor(context: RunFailureSensorContext, alerts: AlertNotifier) -> None:
    store = IncidentStore(alerts.state_db_path())
    send_run_failure_alert(context.instance, context.dagster_run, alerts, store)
    # Return None: a returned value would make the run-status machinery stop after one run.
    return None


@sensor(
    name="dead_run_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Marks failed (and alerts) the runs whose process died: runs of `warehouse run` on this"
        " host, and runs of this code location whose run worker died with its code server (the"
        " daemon's run monitoring does not check a started run's worker). Its first tick after"
        " the daemon starts sweeps what died while it was down."
    ),
)
def dead_run_sensor(context: SensorEvaluationContext, alerts: AlertNotifier):
    origin = context.code_location_origin
    handled = recover_runs(
        context.instance,
        alerts,
        launched_location=origin.location_name if origin else None,
        catch_up_seconds=None,  # failures of live processes are the run-failure sensor's
    )
    if not handled:
        return SkipReason("No run lost its process")
    summary = ", ".join(run.run_id for run, _ in handled)
    context.log.info(f"Marked failed (process gone): {summary}")
    return SkipReason(f"Marked {len(handled)} run(s) failed, their process was gone: {summary}")


# --------------------------------------------------------------------------------------------
# Feed freshness
# --------------------------------------------------------------------------------------------

# feed days and deadlines are in the partitions' time zone (SHANGHAI, Asia/Shanghai)
DEFAULT_FEED_DEADLINE = time(5, 30)
ONLINE_PLATFORMS = ("tmall", "jd", "pinduoduo", "douyin", "wecom_community")
# the overseas marketplaces' countries and the first day their exports are due
OVERSEAS_LAUNCHES = {"th": date(2024, 1, 1), "vn": date(2024, 1, 1), "my": date(2025, 1, 1)}


@dataclass(frozen=True)
class FeedSpec:
    """A daily feed: `pattern` is a path under RAW_DIR with strftime codes for the feed's day
    (glob wildcards allowed), e.g. `store/pos_%Y%m%d.csv`."""

    name: str
    pattern: str
    asset: str | None = None
    # the first business day a file is due (a marketplace opened later); None: always
    first_day: date | None = None

    def is_due(self, day: date) -> bool:
        return self.first_day is None or day >= self.first_day

    def matches(self, raw_dir: Path, day: date) -> list[Path]:
        relative = day.strftime(self.pattern)
        if any(ch in relative for ch in "*?["):
            return sorted(p for p in raw_dir.glob(relative) if p.is_file())
        path = raw_dir / relative
        return [path] if path.is_file() else []


DEFAULT_DAILY_FEEDS: tuple[FeedSpec, ...] = (
    *(
        FeedSpec(f"{p}_orders", f"online/{p}/{p}_orders_%Y%m%d.jsonl", "raw/online_order_lines")
        for p in ONLINE_PLATFORMS
    ),
    FeedSpec("store_pos", "store/pos_%Y%m%d.csv", "raw/store_pos_lines"),
    *(
        FeedSpec(
            f"{market}_{cc}_orders",
            f"overseas/{market}/{cc}/{market}_{cc}_orders_%Y%m%d.csv",
            f"raw/{market}_orders",
            first_day,
        )
        for market in ("shopee", "lazada")
        for cc, first_day in OVERSEAS_LAUNCHES.items()
    ),
)


def feed_deadline_from_env(default: time = DEFAULT_FEED_DEADLINE) -> time:
    """FEED_DEADLINE as HH:MM (Asia/Shanghai); an invalid value falls back to the default."""
    value = os.environ.get("FEED_DEADLINE", "").strip()
    if not value:
        return default
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    logger.warning("FEED_DEADLINE=%r is not HH:MM; using %s", value, default.strftime("%H:%M"))
    return default


def feed_incident_key(feed: FeedSpec, day: date) -> IncidentKey:
    return IncidentKey("feed", feed.name, day.isoformat(), "freshness")


def check_feeds(
    feeds: Sequence[FeedSpec],
    raw_dir: Path,
    now: datetime,
    deadline: time,
    alerts: AlertNotifier,
    store: IncidentStore,
    lookback_days: int = 1,
    tz: ZoneInfo = SHANGHAI,
) -> list[tuple[Alert, list[DeliveryResult]]]:
    """Alert once per feed-day whose file is missing after its deadline; once when it arrives.

    The file of day D is due at `deadline` on day D+1 (local time `tz`). Days from
    yesterday back `lookback_days` days are checked; open late-feed incidents are re-checked
    whatever their age, so a late file's arrival is always reported.
    """
    local_now = now.astimezone(tz)
    by_name = {feed.name: feed for feed in feeds}
    due: dict[tuple[str, date], FeedSpec] = {}
    for offset in range(1, max(1, lookback_days) + 1):
        day = local_now.date() - timedelta(days=offset)
        if local_now >= datetime.combine(day + timedelta(days=1), deadline, tzinfo=tz):
            for feed in feeds:
                if feed.is_due(day):
                    due[(feed.name, day)] = feed
    for incident in store.open_incidents(kind="feed"):
        feed = by_name.get(incident.key.subject)
        if feed and incident.key.partition:
            due.setdefault((feed.name, date.fromisoformat(incident.key.partition)), feed)

    sent: list[tuple[Alert, list[DeliveryResult]]] = []
    for (_, day), feed in sorted(due.items(), key=lambda item: (item[0][1], item[0][0])):
        files = feed.matches(raw_dir, day)
        key = feed_incident_key(feed, day)
        transition = store.observe(key, failing=not files, at=now.timestamp())
        if transition is Transition.UNCHANGED:
            continue
        expected = day.strftime(feed.pattern)
        if transition is Transition.OPENED:
            alert = Alert(
                kind="feed_late",
                title=f"feed {feed.name} for {day.isoformat()} has not arrived"
                f" (due {deadline.strftime('%H:%M')} {tz.key})",
                asset=feed.asset,
                partition=day.isoformat(),
                check="freshness",
                failed_expectations=[f"file {expected} exists under RAW_DIR"],
                severity="error",
                details={
                    "feed": feed.name,
                    "expected_file": expected,
                    "raw_dir": str(raw_dir),
                    "checked_at": local_now.isoformat(timespec="seconds"),
                },
                incident_key=str(key),
            )
        else:
            alert = Alert(
                kind="feed_arrived",
                title=f"feed {feed.name} for {day.isoformat()} has arrived",
                asset=feed.asset,
                partition=day.isoformat(),
                check="freshness",
                severity="info",
                details={
                    "feed": feed.name,
                    "files": [str(p.relative_to(raw_dir)) for p in files][:20],
                },
                incident_key=str(key),
            )
        sent.append((alert, alerts.send(alert)))
    return sent


def build_feed_freshness_sensor(
    feeds: Sequence[FeedSpec] = DEFAULT_DAILY_FEEDS,
    name: str = "feed_freshness_sensor",
    deadline: time | None = None,
    lookback_days: int = 1,
    raw_dir: Path | str | None = None,
    minimum_interval_seconds: int = 300,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    clock: Callable[[], datetime] | None = None,
):
    """A sensor alerting when a daily feed's file for yesterday is missing after the deadline.

    `deadline` defaults to FEED_DEADLINE (HH:MM, Asia/Shanghai; 05:30), read at each tick;
    `raw_dir` defaults to RAW_DIR at each tick; `clock` (UTC-aware now) is for tests.
    """

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Alerts once per feed and day when the day's file has not arrived under RAW_DIR by"
            " the deadline (FEED_DEADLINE, Asia/Shanghai), and once when it arrives."
        ),
    )
    def _feed_freshness_sensor(context: SensorEvaluationContext, alerts: AlertNotifier):
        now = clock() if clock else datetime.now(ZoneInfo("UTC"))
        folder = Path(raw_dir) if raw_dir else load_settings().raw_dir
        sent = check_feeds(
            feeds,
            folder,
            now,
            deadline or feed_deadline_from_env(),
            alerts,
            IncidentStore(alerts.state_db_path()),
            lookback_days=lookback_days,
        )
        if not sent:
            return SkipReason("No feed changed state")
        context.log.info(f"Sent {len(sent)} alert(s): {_summary(sent)}")
        return SkipReason(f"Sent {len(sent)} alert(s): {_summary(sent)}")

    return _feed_freshness_sensor


feed_freshness_sensor = build_feed_freshness_sensor()

alert_sensors = [
    asset_check_alert_sensor,
    run_failure_alert_sensor,
    dead_run_sensor,
    feed_freshness_sensor,
]
