"""The project's Dagster event log (orchestration/event_log.py), on real SQLite files.

It keeps connections open between writes, so these tests check what Dagster's own class got
from closing them: another process (the webserver, here a second storage) sees each write in
`<run id>.db` as it happens, histories stay readable by Dagster's class, and open files stay
bounded.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
from dagster import AssetCheckResult, AssetCheckSpec, DagsterInstance, Output, asset, materialize
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.event_log import PooledSqliteEventLogStorage
from orchestration.instance import get_instance

CHECKS = 40


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Dagster home set up as the CLI does it (the project's dagster.yaml template)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with get_instance() as dagster_instance:
        yield dagster_instance


def _run_with_checks(instance: DagsterInstance) -> str:
    @asset(check_specs=[AssetCheckSpec(f"check_{n}", asset="checked") for n in range(CHECKS)])
    def checked():
        yield Output(1)
        for n in range(CHECKS):
            yield AssetCheckResult(check_name=f"check_{n}", passed=n % 2 == 0)

    result = materialize([checked], instance=instance)
    assert result.success
    return result.run_id


def _open_databases(base_dir: str) -> set[str]:
    """The event-log database files this process holds open."""
    opened = set()
    for fd in os.listdir("/proc/self/fd"):
        with_path = os.path.join("/proc/self/fd", fd)
        try:
            target = os.readlink(with_path)
        except OSError:
            continue
        if target.startswith(base_dir) and target.endswith(".db"):
            opened.add(target)
    return opened


def test_the_template_configures_the_pooled_event_log(instance: DagsterInstance) -> None:
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    assert Path(storage._base_dir) == Path(os.environ["DAGSTER_HOME"]) / "history" / "runs"


def test_a_run_is_stored_whole_and_readable_by_dagsters_own_class(
    instance: DagsterInstance,
) -> None:
    run_id = _run_with_checks(instance)
    stored = instance.all_logs(run_id)
    evaluations = [
        entry
        for entry in stored
        if entry.dagster_event and entry.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(evaluations) == CHECKS
    passed = [entry.dagster_event.event_specific_data.passed for entry in evaluations]
    assert sum(passed) == CHECKS // 2

    plain = SqliteEventLogStorage(instance.event_log_storage._base_dir)
    assert [entry.message for entry in plain.get_logs_for_run(run_id)] == [
        entry.message for entry in stored
    ]
    # the cross-run index (asset check history) holds the run's evaluations too
    check_records = instance.event_log_storage.get_asset_check_execution_history(
        next(iter(evaluations)).dagster_event.event_specific_data.asset_check_key, limit=5
    )
    assert check_records and check_records[0].run_id == run_id


@pytest.mark.parametrize("watcher_class", [SqliteEventLogStorage, PooledSqliteEventLogStorage])
def test_a_watcher_sees_each_write_while_the_connection_stays_open(
    instance: DagsterInstance, watcher_class: type[SqliteEventLogStorage]
) -> None:
    """The webserver streams a run's events by watching `<run id>.db` for modifications (with
    Dagster's class or, configured by the template, this one)."""
    writer = instance.event_log_storage
    run_id = str(uuid.uuid4())
    instance.report_engine_event("first", job_name="watched", run_id=run_id)
    # the writer keeps the run's database open (no close to push the write into the file)
    assert os.path.join(writer._base_dir, f"{run_id}.db") in _open_databases(writer._base_dir)
    seen: list[str] = []
    arrived = threading.Event()

    def on_event(entry, _cursor) -> None:
        seen.append(entry.dagster_event.message)
        if entry.dagster_event.message == "second":
            arrived.set()

    watcher = watcher_class(writer._base_dir)
    watcher.watch(run_id, None, on_event)
    try:
        instance.report_engine_event("second", job_name="watched", run_id=run_id)
        assert arrived.wait(timeout=15), f"the watcher saw {seen} only"
        assert run_id in writer._engines  # still open
    finally:
        watcher.end_watch(run_id, on_event)
        watcher.dispose()
    assert seen[-1] == "second"


def test_open_databases_are_bounded_and_closed_by_wipe(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchestration.event_log.MAX_OPEN_DATABASES", 3)
    storage = instance.event_log_storage
    run_ids = [str(uuid.uuid4()) for _ in range(6)]
    for run_id in run_ids:
        instance.report_engine_event("an event", job_name="many", run_id=run_id)
    base_dir = storage._base_dir
    open_runs = _open_databases(base_dir) - {os.path.join(base_dir, "index.db")}
    assert len(open_runs) == 3
    for run_id in run_ids:  # the closed ones are opened again on demand
        assert [entry.dagster_event.message for entry in instance.all_logs(run_id)] == ["an event"]

    storage.wipe()
    assert _open_databases(base_dir) <= {os.path.join(base_dir, "index.db")}
    assert not list(Path(base_dir).glob("*-*.db"))


def test_the_private_dagster_names_the_storage_relies_on_are_there(instance: DagsterInstance):
    """The guard of orchestration/event_log.py, the project's one wrapper around Dagster
    internals: an upgrade of Dagster that renames one of them fails here, naming it and the
    installed version (and the storage refuses to start), instead of silently misbehaving."""
    from orchestration.event_log import missing_dagster_internals

    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    assert missing_dagster_internals(storage) == []


def test_the_guard_names_a_missing_internal_and_the_dagster_version(monkeypatch):
    import dagster

    from orchestration import event_log

    monkeypatch.setitem(event_log.RELIED_ON_METHODS, "_connect_renamed", ["shard"])
    problems = event_log.missing_dagster_internals()
    assert problems == [
        f"dagster {dagster.__version__}: SqliteEventLogStorage._connect_renamed(shard) is gone"
    ]


def test_the_latest_completed_check_execution_skips_runs_that_only_planned_it(
    instance: DagsterInstance,
):
    """The publish step's data-quality table shows a check's last real result: a later run
    that planned the check and never evaluated it (here its asset failed) must not hide it."""
    from dagster import AssetCheckEvaluation, AssetCheckKey, AssetKey

    from orchestration.event_log import latest_completed_check_execution

    fail_next = {"asset": False}

    @asset(check_specs=[AssetCheckSpec("rows_present", asset="audited")])
    def audited():
        if fail_next["asset"]:
            raise RuntimeError("the source was unreadable")
        yield Output(1)
        yield AssetCheckResult(check_name="rows_present", passed=False)

    evaluated = materialize([audited], instance=instance)
    fail_next["asset"] = True
    planned_only = materialize([audited], instance=instance, raise_on_error=False)
    assert not planned_only.success

    key = AssetCheckKey(AssetKey("audited"), "rows_present")
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
    assert [record.run_id for record in history] == [planned_only.run_id, evaluated.run_id]
    latest = latest_completed_check_execution(instance, key)
    assert latest is not None and latest.run_id == evaluated.run_id
    assert isinstance(latest.evaluation, AssetCheckEvaluation) and not latest.evaluation.passed


def test_the_guard_names_a_missing_check_status_and_the_dagster_version(monkeypatch):
    import dagster

    from orchestration import event_log

    monkeypatch.setattr(event_log, "COMPLETED_CHECK_STATUS_NAMES", ("SUCCEEDED", "EVALUATED"))
    assert event_log.missing_dagster_internals() == [
        f"dagster {dagster.__version__}: AssetCheckExecutionRecordStatus.EVALUATED is gone"
    ]
