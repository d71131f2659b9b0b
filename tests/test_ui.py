"""`warehouse ui` (the README's way to open the Dagster UI) serves the code location.

A real `dagster dev` (webserver, daemon, code server) on a free port of 127.0.0.1, started the
way the README does it: from the venv's scripts without activating the venv, so `dbt` is not
on PATH (dagster-dbt re-parses the project with the `dbt` on PATH under `dagster dev`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import WAREHOUSE_CLI, closed_port

from orchestration.instance import pid_is_alive, process_start_time
from orchestration.settings import REPO_ROOT

WORKSPACE_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
JOBS_QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
    jobs { name } } } } }"""


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def _wait_for_location(port: int, deadline: float) -> list[dict]:
    """The workspace's location entries once none is loading any more."""
    while time.monotonic() < deadline:
        try:
            entries = _graphql(port, WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, KeyError, TypeError):
            entries = []
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            return entries
        time.sleep(1)
    raise AssertionError("the Dagster UI did not load its code location in time")


def _stop_group(leader: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM to `warehouse ui` and everything it started (webserver, daemon, code server),
    SIGKILL to whatever is left after `timeout`."""
    os.killpg(leader.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader.poll()
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()


def _descendants(root: int) -> dict[int, float | None]:
    """Every process below `root` (pid -> start time), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = process_start_time(pid)
        todo += children.get(pid, [])
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_warehouse_ui_serves_the_code_location_and_stops_every_process_on_a_signal(
    tmp_path, stop_signal
):
    """`warehouse ui` without an activated venv (no dbt on PATH) loads the code location, and
    a stop signal to the CLI alone (as from a process supervisor) stops every process it
    started. One UI start per signal: each start costs about a minute on 2 cores."""
    port = closed_port()
    env = {
        **os.environ,
        "PATH": "/usr/bin:/bin",
        "WAREHOUSE_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "RAW_DIR": str(tmp_path / "raw"),
    }
    for name in ("WAREHOUSE_DB", "SERVING_DB"):
        env.pop(name, None)
    assert shutil.which("dbt", path=env["PATH"]) is None
    log = (tmp_path / "ui.log").open("w")
    # a session of its own, as under a process supervisor; the signal goes to the CLI only
    ui = subprocess.Popen(
        [WAREHOUSE_CLI, "ui", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started: dict[int, float | None] = {}
    try:
        entries = _wait_for_location(port, time.monotonic() + 180)
        assert [entry["locationOrLoadError"]["__typename"] for entry in entries] == [
            "RepositoryLocation"
        ], entries
        jobs = {
            job["name"]
            for node in _graphql(port, JOBS_QUERY)["repositoriesOrError"]["nodes"]
            for job in node["jobs"]
        }
        assert "warehouse_refresh" in jobs
        started = _descendants(ui.pid)
        # dagster dev, its webserver and daemon, and at least one code server
        assert len(started) >= 4, started
        ui.send_signal(stop_signal)
        returncode = ui.wait(timeout=150)
        left = [pid for pid, start in started.items() if pid_is_alive(pid, started=start)]
        assert left == [], f"still running after `warehouse ui` exited: {left}"
        assert returncode == 0
    finally:
        for pid, start in started.items():
            if pid_is_alive(pid, started=start):
                os.kill(pid, signal.SIGKILL)
        if ui.poll() is None:
            _stop_group(ui)
        log.close()
    # the template's dagster.yaml (with the project's event log) was put in place
    assert "PooledSqliteEventLogStorage" in (tmp_path / "dagster_home" / "dagster.yaml").read_text()
