"""Runs whose process died are marked failed and alerted; every failed run alerts once.

Real processes, a real Dagster instance in a DAGSTER_HOME made from the project's template,
the project's CLI, and a local HTTP receiver for the alerts (test_alerts' sinks). A "CLI run"
here is a job executed in-process by a child Python process tagged the way `warehouse run`
tags its runs (orchestration.instance.process_tags); it waits until it is killed.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import WAREHOUSE_CLI, closed_port
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter, build_sensor_context, job, op
from test_alerts import HttpSink, read_log
from test_ui import _stop_group, _wait_for_location

from orchestration.automation.alert_sensors import (
    dead_run_sensor,
    recover_runs,
    run_failure_alert_sensor,
    run_incident_key,
    send_run_failure_alert,
)
from orchestration.automation.alerts import AlertNotifier
from orchestration.automation.incidents import IncidentStore
from orchestration.datagen.generate import generate
from orchestration.instance import (
    RUN_HOST_TAG,
    RUN_PID_TAG,
    RUN_PROCESS_STARTED_TAG,
    fail_dead_runs,
    get_instance,
    pid_is_alive,
    process_start_time,
)
from orchestration.settings import REPO_ROOT

CHILD_RUN = """
import time
from dagster import job, op
from orchestration.instance import get_instance, process_tags

@op
def wait_to_be_killed():
    time.sleep(600)

@job
def long_job():
    wait_to_be_killed()

long_job.execute_in_process(instance=get_instance(), tags=process_tags(), raise_on_error=False)
"""

CHILD_ALERT = """
import sys
from orchestration.automation.alert_sensors import send_run_failure_alert
from orchestration.automation.alerts import AlertNotifier
from orchestration.automation.incidents import IncidentStore
from orchestration.datagen.generate import generate
from orchestration.instance import get_instance

instance, alerts = get_instance(), AlertNotifier()
run = instance.get_run_by_id(sys.argv[1])
send_run_failure_alert(instance, run, alerts, IncidentStore(alerts.state_db_path()))
"""


@op
def nothing():
    pass


@job
def stored_job():
    nothing()


@op
def broken():
    raise RuntimeError("the feed folder is not mounted")


@job
def failing_job():
    broken()


@pytest.fixture
def http_sink():
    with HttpSink() as sink:
        yield sink


@pytest.fixture
def alert_env(tmp_path, monkeypatch, http_sink) -> Path:
    """Alerts to the log and a JSON webhook on 127.0.0.1; state under tmp_path."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in [key for key in os.environ if key.startswith("ALERT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("WAREHOUSE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALERT_WEBHOOK_URL", http_sink.url + "/hook")
    monkeypatch.setenv("ALERT_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("ALERT_TIMEOUT_SECONDS", "5")
    return tmp_path / "state"


@pytest.fixture
def dagster_home(tmp_path, monkeypatch, alert_env):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with get_instance() as instance:
        yield instance


def start_cli_like_run(instance, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """A child process executing a run the way `warehouse run` does; (process, run id) once
    the run is STARTED."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_RUN],
        stdout=(tmp_path / "child.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = instance.get_runs(
            RunsFilter(statuses=[DagsterRunStatus.STARTED], tags={RUN_PID_TAG: str(child.pid)})
        )
        if runs:
            return child, runs[0].run_id
        assert child.poll() is None, (tmp_path / "child.log").read_text()
        time.sleep(0.2)
    child.kill()
    raise AssertionError("the child's run did not start")


def stored_run(instance, tags: dict[str, str], status=DagsterRunStatus.STARTED) -> str:
    """A run as storage holds it, with the tags a process would have written."""
    return instance.create_run_for_job(stored_job, tags=tags, status=status).run_id


def status(instance, run_id: str) -> DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def run_alerts(sink: HttpSink) -> list[str]:
    return [h["run_id"] for h in sink.on("/hook") if h["kind"] == "run_failed"]


# --------------------------------------------------------------------------------------------
# which runs are dead
# --------------------------------------------------------------------------------------------


def test_a_live_run_is_left_alone_and_failed_once_its_process_is_killed(
    dagster_home, tmp_path, http_sink
):
    instance = dagster_home
    child, run_id = start_cli_like_run(instance, tmp_path)
    try:
        # a second CLI (or the daemon) starting now must not touch a run that is alive
        assert recover_runs(instance, AlertNotifier()) == []
        assert status(instance, run_id) == DagsterRunStatus.STARTED
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    handled = recover_runs(instance, AlertNotifier())
    assert [run.run_id for run, _ in handled] == [run_id]
    assert status(instance, run_id) == DagsterRunStatus.FAILURE
    hook = http_sink.on("/hook")
    assert run_alerts(http_sink) == [run_id]
    assert f"pid {child.pid}" in hook[0]["details"]["cause"]
    assert "is gone" in hook[0]["details"]["cause"]
    assert hook[0]["details"]["launched_by"].startswith(f"warehouse run (pid {child.pid}")

    # later starts and the daemon's sensors do not alert it again
    assert recover_runs(instance, AlertNotifier()) == []
    context = build_sensor_context(instance=instance, resources={"alerts": AlertNotifier()})
    dead_run_sensor.evaluate_tick(context)
    assert run_alerts(http_sink) == [run_id]


def test_other_hosts_reused_pids_and_zombies(dagster_home, tmp_path):
    instance = dagster_home
    host, me = socket.gethostname(), os.getpid()
    my_start = repr(process_start_time(me))
    elsewhere = stored_run(instance, {RUN_HOST_TAG: "another-host", RUN_PID_TAG: str(me)})
    alive = stored_run(
        instance, {RUN_HOST_TAG: host, RUN_PID_TAG: str(me), RUN_PROCESS_STARTED_TAG: my_start}
    )
    # this pid, but a process that started an hour earlier: the pid was reused
    reused = stored_run(
        instance,
        {
            RUN_HOST_TAG: host,
            RUN_PID_TAG: str(me),
            RUN_PROCESS_STARTED_TAG: repr(process_start_time(me) - 3600),
        },
    )
    # a process that exited and was not reaped yet
    zombie_process = subprocess.Popen([sys.executable, "-c", "pass"])
    while not Path(f"/proc/{zombie_process.pid}/stat").read_text().split(") ")[1].startswith("Z"):
        time.sleep(0.05)
    zombie = stored_run(
        instance,
        {
            RUN_HOST_TAG: host,
            RUN_PID_TAG: str(zombie_process.pid),
            RUN_PROCESS_STARTED_TAG: repr(process_start_time(zombie_process.pid)),
        },
    )
    not_started = stored_run(
        instance,
        {RUN_HOST_TAG: host, RUN_PID_TAG: str(zombie_process.pid)},
        status=DagsterRunStatus.NOT_STARTED,
    )
    launched = stored_run(instance, {})  # no process tags: a run the daemon launched
    try:
        failed = {run.run_id for run in fail_dead_runs(instance)}
    finally:
        zombie_process.wait()
    assert failed == {reused, zombie, not_started}
    assert {status(instance, r) for r in (elsewhere, alive, launched)} == {DagsterRunStatus.STARTED}
    assert {status(instance, r) for r in failed} == {DagsterRunStatus.FAILURE}


# --------------------------------------------------------------------------------------------
# alerts that a killed process did not send
# --------------------------------------------------------------------------------------------


def test_an_alert_its_sender_died_before_sending_is_sent_at_the_next_start(
    dagster_home, tmp_path, http_sink, alert_env
):
    instance = dagster_home
    failed = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    # the sender is killed while a channel is still delivering the alert
    sender = subprocess.Popen(
        [sys.executable, "-c", CHILD_ALERT, failed.run_id],
        env={
            **os.environ,
            "ALERT_WEBHOOK_URL": http_sink.url + "/hang",
            "ALERT_TIMEOUT_SECONDS": "120",
        },
    )
    deadline = time.monotonic() + 60
    while http_sink.hits.get("/hang", 0) == 0 and time.monotonic() < deadline:
        assert sender.poll() is None
        time.sleep(0.1)
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    store = IncidentStore(AlertNotifier().state_db_path())
    assert [i.key for i in store.unsent("run")] == [run_incident_key(failed.run_id)]
    assert run_alerts(http_sink) == []

    recover_runs(instance, AlertNotifier())
    assert run_alerts(http_sink) == [failed.run_id]
    assert "the feed folder is not mounted" in http_sink.on("/hook")[0]["details"]["cause"]
    assert store.unsent("run") == []
    recover_runs(instance, AlertNotifier())
    assert run_alerts(http_sink) == [failed.run_id]


def test_the_sensor_does_not_alert_a_run_its_cli_alerted(dagster_home, http_sink):
    instance = dagster_home
    context = build_sensor_context(
        instance=instance, repository_name="__repository__", resources={"alerts": AlertNotifier()}
    )
    cursor = run_failure_alert_sensor.evaluate_tick(context).cursor
    failed = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    alerts = AlertNotifier()
    store = IncidentStore(alerts.state_db_path())
    assert (
        send_run_failure_alert(instance, instance.get_run_by_id(failed.run_id), alerts, store)
        is not None
    )
    assert (
        send_run_failure_alert(instance, instance.get_run_by_id(failed.run_id), alerts, store)
        is None
    )
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_name="__repository__",
        resources={"alerts": AlertNotifier()},
    )
    other = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    run_failure_alert_sensor.evaluate_tick(context)
    # the sensor read both failures: it alerted the one no one had alerted
    assert run_alerts(http_sink) == [failed.run_id, other.run_id]


# --------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------


def cli_env(tmp_path: Path, raw_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "RAW_DIR": str(raw_dir),
        "WAREHOUSE_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DUCKDB_MEMORY_LIMIT": "1GB",
    }
    for key in ("WAREHOUSE_DB", "SERVING_DB"):
        env.pop(key, None)
    return env


def test_a_cli_start_fails_and_alerts_what_a_killed_cli_left_started(
    dagster_home, tmp_path, http_sink, alert_env
):
    instance = dagster_home
    child, run_id = start_cli_like_run(instance, tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert status(instance, run_id) == DagsterRunStatus.STARTED
    # the next `warehouse run`, on a delivery folder with nothing to build
    raw = tmp_path / "raw"
    (raw / "_manifest").mkdir(parents=True)
    (raw / "_manifest" / "generation.json").write_text("{}")
    result = subprocess.run(
        [WAREHOUSE_CLI, "run", "--quiet"],
        env=cli_env(tmp_path, raw),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert f"Earlier run {run_id} failed" in result.stdout, result.stdout + result.stderr
    assert status(instance, run_id) == DagsterRunStatus.FAILURE
    assert run_alerts(http_sink) == [run_id]
    logged = [r for r in read_log(alert_env) if r["event"] == "alert"]
    assert [r["run_id"] for r in logged] == [run_id]
    assert json.dumps(logged[0]).count("is gone") >= 1


def test_a_failed_warehouse_run_alerts_once_and_its_last_line_names_the_cause(
    dagster_home, tmp_path, http_sink, alert_env
):
    instance = dagster_home
    raw = tmp_path / "raw"
    generate(raw, progress=None, scale=0.02, start="2024-01-01", end="2024-01-31", seed=3)
    # a product line finance does not know: the ERROR suite of raw/products fails, which
    # blocks everything downstream of it and fails the run
    products = raw / "reference" / "products.csv"
    rows = list(csv.reader(products.open(encoding="utf-8", newline="")))
    rows[1][rows[0].index("product_line")] = "tablets"
    with products.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    context = build_sensor_context(
        instance=instance, repository_name="__repository__", resources={"alerts": AlertNotifier()}
    )
    cursor = run_failure_alert_sensor.evaluate_tick(context).cursor

    result = subprocess.run(
        [WAREHOUSE_CLI, "run", "--quiet"],
        env=cli_env(tmp_path, raw),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "The build failed: blocking check failed (ERROR): gx_raw_products on raw/products"
    ), last
    assert "tablets" in last and "Error occurred while executing" not in last
    (failed,) = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert f"(run {failed.run_id})" in last
    assert run_alerts(http_sink) == [failed.run_id]
    assert "gx_raw_products" in http_sink.on("/hook")[0]["details"]["cause"]

    # the daemon's run-failure sensor, reading the same failure later: no second alert
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_name="__repository__",
        resources={"alerts": AlertNotifier()},
    )
    run_failure_alert_sensor.evaluate_tick(context)
    assert run_alerts(http_sink) == [failed.run_id]


# --------------------------------------------------------------------------------------------
# the daemon
# --------------------------------------------------------------------------------------------

DAEMON_DEFS = """
import time
from dagster import Definitions, job, op
from orchestration.automation.alert_sensors import dead_run_sensor
from orchestration.automation.alerts import AlertNotifier

@op
def wait_to_be_killed():
    time.sleep(600)

@job
def long_job():
    wait_to_be_killed()

defs = Definitions(
    jobs=[long_job], sensors=[dead_run_sensor], resources={"alerts": AlertNotifier()}
)
"""
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def _launch(port: int, location: str, job_name: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps(
            {
                "query": LAUNCH,
                "variables": {
                    "params": {
                        "selector": {
                            "repositoryLocationName": location,
                            "repositoryName": "__repository__",
                            "jobName": job_name,
                        },
                        "runConfigData": {},
                    }
                },
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        launched = json.load(response)["data"]["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _worker_pid(instance, run_id: str) -> int | None:
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data
        if data and "pid" in data.metadata:
            return int(data.metadata["pid"].value)
    return None


def _dagster_dev(tmp_path: Path, log_name: str) -> tuple[subprocess.Popen, int]:
    port = closed_port()
    dagster = str(Path(sys.executable).with_name("dagster"))
    dev = subprocess.Popen(
        [dagster, "dev", "-f", "daemon_defs.py", "-p", str(port)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=(tmp_path / log_name).open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return dev, port


def test_the_daemon_start_fails_and_alerts_a_run_that_died_with_its_services(
    dagster_home, tmp_path, http_sink
):
    """`dagster dev` (webserver, daemon, code server) serving a code location with the
    project's dead_run_sensor; a run launched from the UI; then every process of `dagster dev`
    killed with -9 (a crash of the host's services: a live code server would itself fail a
    run whose worker it lost). Run monitoring cannot tell that the run's worker is gone
    (Dagster's default run launcher has no health check): the run stays STARTED until the
    next daemon start, whose dead_run_sensor fails and alerts it."""
    instance = dagster_home
    (tmp_path / "daemon_defs.py").write_text(DAEMON_DEFS)
    dev, port = _dagster_dev(tmp_path, "dev1.log")
    try:
        (entry,) = _wait_for_location(port, time.monotonic() + 180)
        run_id = _launch(port, entry["name"], "long_job")
        deadline = time.monotonic() + 180
        while (pid := _worker_pid(instance, run_id)) is None or status(
            instance, run_id
        ) != DagsterRunStatus.STARTED:
            assert time.monotonic() < deadline, (tmp_path / "dev1.log").read_text()[-3000:]
            time.sleep(0.5)
    finally:
        os.killpg(dev.pid, signal.SIGKILL)
        dev.wait()
    time.sleep(3)
    assert status(instance, run_id) == DagsterRunStatus.STARTED
    assert not pid_is_alive(pid)

    dev, port = _dagster_dev(tmp_path, "dev2.log")
    try:
        deadline = time.monotonic() + 240
        while status(instance, run_id) != DagsterRunStatus.FAILURE:
            assert time.monotonic() < deadline, (tmp_path / "dev2.log").read_text()[-3000:]
            time.sleep(2)
        deadline = time.monotonic() + 60
        while run_alerts(http_sink) != [run_id] and time.monotonic() < deadline:
            time.sleep(1)
        assert run_alerts(http_sink) == [run_id]
        cause = http_sink.on("/hook")[0]["details"]["cause"]
        assert f"pid {pid}" in cause and "run worker" in cause
    finally:
        _stop_group(dev)
