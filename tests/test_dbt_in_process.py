"""dbt in the run's process (orchestration/dbt/in_process.py): what it relies on in dagster-dbt
and dbt, and how a failed invocation reads. The route itself runs in every whole build of the
suite (tests/test_daily_refresh.py checks which route a run took, and a failed model)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from orchestration.dbt.in_process import RESULT_EVENT_NAMES, invoke_dbt, missing_library_names


def test_dagster_dbts_converter_counts_as_results_the_events_kept() -> None:
    assert missing_library_names() == []
    assert "LogModelResult" in RESULT_EVENT_NAMES and "LogTestResult" in RESULT_EVENT_NAMES


def test_a_dbt_invocation_that_fails_names_its_error(tmp_path: Path) -> None:
    build = invoke_dbt(["build", "--select", "no_such_model+", "--no-such-option"], tmp_path)
    assert not build.success
    failure = build.failure(["build", "--no-such-option"])
    assert failure is not None
    assert failure.description.startswith("dbt build --no-such-option failed: ")
    assert "no-such-option" in failure.description.split("failed:", 1)[1], failure.description


def test_a_dbt_invocation_that_succeeds_is_no_failure(tmp_path: Path) -> None:
    # `dbt ls` parses the project in this process and reads no warehouse
    build = invoke_dbt(["ls", "--resource-type", "seed", "--target", "lint"], tmp_path)
    assert build.success, build.error_messages
    assert build.failure(["ls"]) is None


def test_a_build_reports_its_nodes_without_writing_artifacts(tmp_path: Path) -> None:
    # the step's check that every built model reached Dagster reads these results
    build = invoke_dbt(["seed", "--select", "ref_regions", "--target", "lint"], tmp_path)
    assert build.success, build.error_messages
    seeds = [result for result in build.node_results if result[0].startswith("seed.")]
    assert seeds == [("seed.channel_warehouse.ref_regions", "success")]
    assert not (tmp_path / "manifest.json").exists()
    assert not (tmp_path / "run_results.json").exists()


def test_an_interrupt_stops_dbt_and_is_raised_as_one(tmp_path: Path) -> None:
    # Ctrl-C, and Dagster's cancellation of a run (SIGINT to its own process): dbt must stop
    # and the step must end as interrupted, not as a dbt failure; the handler that was there
    # before comes back.
    import dbt.cli.main  # noqa: F401  (imported before the clock starts)

    assert threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        # a whole parse of the project (a fresh target path): seconds, never half of one
        with pytest.raises(KeyboardInterrupt, match="SIGINT: dbt stopped"):
            invoke_dbt(["parse", "--target", "lint"], tmp_path)
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGINT) is before
