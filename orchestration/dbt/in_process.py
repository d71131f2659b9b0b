"""dbt inside the run's process, through dbt's programmatic API (`dbtRunner`).

dagster-dbt runs dbt as a process of its own, and before starting it opens a dbt adapter in the
run's process: every dbt step imports dbt twice and parses the project's state twice, ~8 s of a
daily refresh whatever the day's size (benchmarks/README.md, "The one-day refresh"). A build of
the whole project on DuckDB runs here instead, with the Dagster events made by dagster-dbt's
own converter (`DbtCoreCliEventMessage.to_default_asset_events`) from the result events dbt
hands to a callback: the same Outputs and check results, with the same translator.

What stays on dagster-dbt's process route (orchestration.dbt.assets): a build of some models
only (dagster-dbt turns a UI selection into dbt's), and the Spark engine (its session mode
starts a JVM inside the dbt process, which would then live as long as the run's process).

The warehouse file: the run holds it open from step to step (orchestration/resources.py), and
the dev profile's `config_options` are the config it is held with, so dbt-duckdb's connections
share the run's database instance (DuckDB refuses a second configuration for an open file).
`keep_open: false` makes dbt-duckdb close its own connections once dbt is done.

A cancelled run (or Ctrl-C): Dagster interrupts a run's process with SIGINT, and raises its own
interrupt in the step. dbt stops on KeyboardInterrupt only: it then cancels the queries its
threads are running and writes its run results. So while dbt runs, the signals Dagster treats
as interrupts raise KeyboardInterrupt, and once dbt has stopped the step raises one again:
Dagster records the step as interrupted. (Raised as Dagster's own, the interrupt left dbt's
threads running their queries, and the process aborted at exit.)
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Failure

from orchestration.dbt.project import dbt_project

# dbt's events that report a node's result: what dagster-dbt turns into Outputs and check
# results (its DbtCoreCliEventMessage.is_result_event); the ~2,500 others of a build are logs
RESULT_EVENT_NAMES = frozenset(
    {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
)
# the dbt errors a failure names, at most (a build with a broken source fails every model)
ERRORS_SHOWN = 10
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class InProcessBuild:
    """What one dbt invocation reported: its result events as dbt's JSON log lines hold them,
    its error messages, and the exception that ended it, if one did."""

    result_events: list[dict[str, Any]] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)
    success: bool = False
    exception: BaseException | None = None
    # (unique_id, status) of each node dbt ran, from the result dbt returns: what
    # run_results.json would list (no artifact is written, see invoke_dbt)
    node_results: list[tuple[str, str]] = field(default_factory=list)

    def collect(self, message: Any) -> None:
        """dbt's callback, called on dbt's threads for every event (appending is atomic)."""
        from dbt_common.events.functions import msg_to_dict

        if message.info.name in RESULT_EVENT_NAMES:
            self.result_events.append(msg_to_dict(message))
        elif message.info.level == "error":
            self.error_messages.append(ANSI_ESCAPE.sub("", message.info.msg).strip())

    def failure(self, command: list[str]) -> Failure | None:
        """The step's failure if dbt failed, naming dbt's errors (None if it succeeded); the
        full output is the step's stdout."""
        if self.success:
            return None
        errors = list(dict.fromkeys(m for m in self.error_messages if m))
        if self.exception is not None:
            errors.insert(0, f"{type(self.exception).__name__}: {self.exception}")
        shown = errors[:ERRORS_SHOWN]
        if len(errors) > ERRORS_SHOWN:
            shown.append(f"... and {len(errors) - ERRORS_SHOWN} more (the step's stdout has all)")
        # the first line is what the CLI's last line and the alerts show
        return Failure(
            description=f"dbt {' '.join(command)} failed: {'; '.join(shown) or 'no message'}",
            metadata={"dbt_errors": errors},
        )


@contextmanager
def interrupts_stop_dbt() -> Iterator[list[int]]:
    """Inside the block SIGINT, and SIGTERM where it shares SIGINT's handler (Dagster's run
    workers), raise KeyboardInterrupt; yields the signals received. The previous handlers are
    restored after it. Signal handlers belong to the main thread: elsewhere nothing changes."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop_dbt(signum: int, _frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stopping = [signal.SIGINT]
    if previous[signal.SIGTERM] is previous[signal.SIGINT]:
        stopping.append(signal.SIGTERM)
    for sig in stopping:
        signal.signal(sig, stop_dbt)
    try:
        yield received
    finally:
        for sig in stopping:
            signal.signal(sig, previous[sig])


def invoke_dbt(command: list[str], target_path: Path) -> InProcessBuild:
    """`dbt <command>` in this process, artifacts under `target_path`. dbt reads its
    environment (the warehouse, the window) from os.environ when it starts."""
    from dbt.cli.main import dbtRunner

    build = InProcessBuild()
    arguments = [
        *command,
        "--project-dir",
        str(dbt_project.project_dir),
        "--profiles-dir",
        str(dbt_project.profiles_dir),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
        # no dbt.log: the target path goes with the step, and writing every debug event of a
        # build to it cost ~0.3 s of a window build's ~3.9 s (the events reach the callback;
        # the step's stdout, the UI's compute log, keeps dbt's console lines)
        "--log-level-file",
        "none",
        # the step's stdout is a log file (the UI's compute logs), not a terminal
        "--no-use-colors",
        # no manifest.json (written twice per invocation) nor run_results.json: the target
        # path goes with the step, the definitions read the prepared manifest and the results
        # come back from dbtRunner (a window build's dbt step at 1M lines: 5.9 -> 5.2 s)
        "--no-write-json",
    ]
    with interrupts_stop_dbt() as received:
        outcome = dbtRunner(callbacks=[build.collect]).invoke(arguments)
    if received:
        # the run's end, not dbt's failure, whatever error dbt ended with while cancelling
        # (dbt-duckdb's cancel can fail on a connection that is already closed), or none
        raise KeyboardInterrupt(f"{signal.Signals(received[0]).name}: dbt stopped")
    if outcome.exception is not None and not isinstance(outcome.exception, Exception):
        raise outcome.exception
    build.success = outcome.success
    build.exception = outcome.exception
    build.node_results = node_results(outcome.result)
    return build


def node_results(result: Any) -> list[tuple[str, str]]:
    """(unique_id, status) of each node of the result dbtRunner returns for a run-like command
    (a RunExecutionResult); [] for other commands and for an invocation that failed early."""
    return [
        (str(node_result.node.unique_id), str(node_result.status))
        for node_result in getattr(result, "results", None) or []
        if getattr(node_result, "node", None) is not None
    ]


def missing_library_names() -> list[str]:
    """What this module relies on beyond the libraries' documented top level, each problem
    naming the installed version; [] when all are there. dagster-dbt's event converter
    (`DbtCoreCliEventMessage`, the class its public DbtCliEventMessage has for dbt Core) is
    not exported at the package's top level, and it must still count as results exactly the
    events this module keeps (RESULT_EVENT_NAMES)."""
    import dagster_dbt

    problems = []
    try:
        from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
    except ImportError as error:
        return [f"dagster-dbt {dagster_dbt.__version__}: {error}"]
    if not issubclass(DbtCoreCliEventMessage, dagster_dbt.DbtCliEventMessage):
        problems.append(
            f"dagster-dbt {dagster_dbt.__version__}: DbtCoreCliEventMessage is no longer a "
            "DbtCliEventMessage"
        )
    node = {"node_info": {"unique_id": "model.channel_warehouse.a_model"}}
    counted = {
        name
        for name in [*RESULT_EVENT_NAMES, "NodeFinished", "LogStartLine", "RunResultError"]
        if DbtCoreCliEventMessage(
            raw_event={"info": {"name": name}, "data": node}, event_history_metadata={}
        ).is_result_event
    }
    if counted != RESULT_EVENT_NAMES:
        problems.append(
            f"dagster-dbt {dagster_dbt.__version__}: DbtCoreCliEventMessage counts "
            f"{sorted(counted)} as results, this module keeps {sorted(RESULT_EVENT_NAMES)}"
        )
    return problems


def asset_events(
    build: InProcessBuild,
    context: AssetExecutionContext,
    manifest: Mapping[str, Any],
    translator: Any,
    target_path: Path,
) -> Iterator[Any]:
    """The Dagster events of the build's results, made by dagster-dbt's converter as its
    process route makes them from the same events read from dbt's JSON log lines."""
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    for raw_event in build.result_events:
        message = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
        yield from message.to_default_asset_events(
            manifest=manifest,
            dagster_dbt_translator=translator,
            context=context,
            target_path=target_path,
            project=dbt_project,
        )
