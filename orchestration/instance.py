"""The Dagster instance the CLI uses (DAGSTER_HOME with the project's dagster.yaml), and the
runs in it whose process died.

A run records where it executes. `warehouse run` executes its runs in its own process
(`execute_in_process`) and tags each run with that process (`process_tags`: host, pid, process
start time). A run that is killed with it (kill -9, OOM killer, power loss) stays STARTED in
Dagster: nothing else watches an in-process run (the daemon's run monitoring only checks the
start of the runs it launched, and Dagster's default run launcher offers no worker health
check). `fail_dead_runs` finds such runs and reports them failed through
`DagsterInstance.report_run_failed`, so that they alert and stop looking in progress:

- a CLI run is dead when its host is this host and no process with its pid and start time is
  alive (a reused pid has another start time; a zombie counts as dead);
- a run the daemon (or the UI) launched with Dagster's default run launcher runs in a
  subprocess of the code server. While that code server lives, it fails the run itself if
  the worker dies; if the code server died too (the host's services killed or crashed), the
  run stays STARTED: the daemon's run monitoring only times out runs that never started.
  Such a run is dead when the pid its run worker logged ("Started process for run") is gone
  or belongs to a process started after that event. Only the daemon's `dead_run_sensor`
  checks these (`launched_location`), from inside the code location's own code server, i.e.
  on the host that runs them;
- a run of another live process (a second CLI, a run worker) is never touched, and a run
  recorded on another host (shared PostgreSQL storage) cannot be checked from here: it is
  left as it is, and swept by the next `warehouse run` (or the daemon) on its own host.

Without /proc (macOS) a process's start time is unknown: a pid that exists counts as alive, so
a run is never failed wrongly, at the price of a reused pid hiding a dead run.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml  # PyYAML: a dependency of dagster
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultRunLauncher,
    RunsFilter,
)

from orchestration.settings import SettingsError, load_settings

TEMPLATE = Path(__file__).with_name("dagster.yaml")
# The dagster.yaml a new DAGSTER_HOME gets, by DAGSTER_STORAGE (orchestration/settings.py)
TEMPLATES = {"sqlite": TEMPLATE, "postgres": Path(__file__).with_name("dagster.postgres.yaml")}
POSTGRES_STORAGE_MODULE = "dagster_postgres"

RUN_HOST_TAG = "warehouse/host"
RUN_PID_TAG = "warehouse/pid"
RUN_PROCESS_STARTED_TAG = "warehouse/process_started"
# Statuses of a run that still has (or should have) a live process
UNFINISHED_STATUSES = (
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)
# Process start times read from /proc are exact to a clock tick, but the boot time they are
# added to is rounded to the second (and may be re-derived by the kernel): compare loosely.
START_TOLERANCE_SECONDS = 2.0


# A run over a range of months plans each asset once, not once per month: without it a full
# build stored ~2,400 planned events (every unpartitioned asset x 48 months), ~20 s. Dagster's
# trade-off: the months of a failed range run are not marked failed in the UI (the run is).
ONE_PLANNED_EVENT_PER_ASSET = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


def prepare_dagster_home() -> Path:
    """Use $DAGSTER_HOME, or .warehouse/dagster_home; give it a dagster.yaml if it has none,
    the template DAGSTER_STORAGE names. Also sets Dagster's environment for this process and
    the ones it starts (`warehouse ui`): ONE_PLANNED_EVENT_PER_ASSET, unless already set.
    Raises SettingsError when DAGSTER_STORAGE=postgres and the home's own dagster.yaml does
    not store on PostgreSQL (the runs would silently go to SQLite files on this host)."""
    for name, value in ONE_PLANNED_EVENT_PER_ASSET.items():
        os.environ.setdefault(name, value)
    settings = load_settings()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.state_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(TEMPLATES[settings.dagster_storage], config)
    elif settings.dagster_storage == "postgres" and not stores_on_postgres(config):
        raise SettingsError(
            f"DAGSTER_STORAGE=postgres, but {config} does not store on PostgreSQL: replace it "
            f"with {TEMPLATES['postgres']} (or move it away to get that template)"
        )
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def stores_on_postgres(config: Path) -> bool:
    """Whether a dagster.yaml keeps the runs on PostgreSQL: `storage: postgres:`, or a run
    storage class of dagster-postgres (the older per-storage keys)."""
    loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    if "postgres" in (loaded.get("storage") or {}):
        return True
    module = (loaded.get("run_storage") or {}).get("module", "")
    return str(module).startswith(POSTGRES_STORAGE_MODULE)


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessIdentity:
    """A process, identified across pid reuse by its start time (None where unknown)."""

    host: str
    pid: int
    started: float | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(socket.gethostname(), os.getpid(), process_start_time(os.getpid()))

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def from_dict(cls, value: Mapping[str, object] | None) -> ProcessIdentity | None:
        try:
            started = value.get("started") if value else None
            return cls(str(value["host"]), int(value["pid"]), float(started) if started else None)
        except (KeyError, TypeError, ValueError):
            return None

    def is_same_as(self, other: ProcessIdentity | None) -> bool:
        if other is None or (self.host, self.pid) != (other.host, other.pid):
            return False
        if self.started is None or other.started is None:
            return True
        return abs(self.started - other.started) <= START_TOLERANCE_SECONDS

    def is_alive(self) -> bool | None:
        """True or False on this host; None for a process of another host (cannot tell)."""
        if self.host != socket.gethostname():
            return None
        return pid_is_alive(self.pid, started=self.started)


def process_tags() -> dict[str, str]:
    """Run tags naming the current process (set on every run `warehouse run` executes)."""
    me = ProcessIdentity.current()
    tags = {RUN_HOST_TAG: me.host, RUN_PID_TAG: str(me.pid)}
    if me.started is not None:
        tags[RUN_PROCESS_STARTED_TAG] = repr(me.started)
    return tags


def process_of_run(run: DagsterRun) -> ProcessIdentity | None:
    """The process a CLI run was executed by, from its tags (None: not a CLI run)."""
    tags = run.tags
    if RUN_HOST_TAG not in tags or RUN_PID_TAG not in tags:
        return None
    return ProcessIdentity.from_dict(
        {
            "host": tags[RUN_HOST_TAG],
            "pid": tags[RUN_PID_TAG],
            "started": tags.get(RUN_PROCESS_STARTED_TAG),
        }
    )


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state, start time in seconds since the epoch) from /proc, or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_ticks = fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    return state, boot + start_ticks / os.sysconf("SC_CLK_TCK")


def process_start_time(pid: int) -> float | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def pid_is_alive(pid: int, started: float | None = None, existed_at: float | None = None) -> bool:
    """Whether process `pid` runs and is the process meant: started at `started`, or already
    running at time `existed_at` (a pid reused since then belongs to a younger process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: a pid that exists may be the process meant
    state, actual_start = stat
    if state == "Z":  # exited, not yet reaped by its parent
        return False
    if started is not None:
        return abs(actual_start - started) <= START_TOLERANCE_SECONDS
    if existed_at is not None:
        return actual_start <= existed_at + START_TOLERANCE_SECONDS
    return True


# --------------------------------------------------------------------------------------------
# Dead runs
# --------------------------------------------------------------------------------------------


def _launched_run_worker(instance: DagsterInstance, run: DagsterRun) -> tuple[int, float] | None:
    """(pid, time it was logged) of the latest process that said it executes `run`: the
    engine events "Started process for run" and "Executing steps in process" carry a pid."""
    for entry in reversed(instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            try:
                return int(getattr(pid, "value", pid)), entry.timestamp
            except (TypeError, ValueError):
                continue
    return None


def _why_dead(
    instance: DagsterInstance, run: DagsterRun, launched_location: str | None
) -> str | None:
    """Why `run` has no live process any more, or None (alive, or cannot tell from here)."""
    process = process_of_run(run)
    if process is not None:
        if process.is_alive() is False:
            return (
                f"its process (pid {process.pid} on {process.host}, `warehouse run`) is gone: "
                "killed or crashed while the run was in progress"
            )
        return None
    origin = run.remote_job_origin
    if (
        launched_location is None
        or run.status != DagsterRunStatus.STARTED
        or origin is None
        or origin.repository_origin.code_location_origin.location_name != launched_location
        or not isinstance(instance.run_launcher, DefaultRunLauncher)
    ):
        return None
    worker = _launched_run_worker(instance, run)
    if worker is None:
        return None  # not started yet: run monitoring's start timeout covers it
    pid, logged_at = worker
    if pid_is_alive(pid, existed_at=logged_at):
        return None
    return (
        f"its run worker (pid {pid}, launched by the daemon or the UI) is gone: killed or "
        "crashed while the run was in progress"
    )


def fail_dead_runs(
    instance: DagsterInstance, launched_location: str | None = None
) -> list[DagsterRun]:
    """Report failed every unfinished run whose process is gone (see the module docstring);
    the runs reported, as they are now. `launched_location`: also check the runs of this
    code location that the default run launcher started (the daemon's sensor does)."""
    me = ProcessIdentity.current()
    failed = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=list(UNFINISHED_STATUSES))):
        run = record.dagster_run
        why = _why_dead(instance, run, launched_location)
        if why is None:
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status not in UNFINISHED_STATUSES:
            continue  # it ended meanwhile
        instance.report_run_failed(
            current,
            f"Run marked failed: {why}. Found by pid {me.pid} on {me.host} at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}.",
        )
        failed.append(instance.get_run_by_id(run.run_id) or current)
    return failed


def failed_runs_of_process(
    instance: DagsterInstance, process: ProcessIdentity, since: float | None = None
) -> list[DagsterRun]:
    """The failed runs `process` executed (by their run tags), oldest first; with `since`,
    only those updated after that time (seconds since the epoch)."""
    runs = instance.get_runs(
        filters=RunsFilter(
            statuses=[DagsterRunStatus.FAILURE],
            tags={RUN_HOST_TAG: process.host, RUN_PID_TAG: str(process.pid)},
            updated_after=datetime.fromtimestamp(since, UTC) if since else None,
        )
    )
    return [run for run in reversed(runs) if process.is_same_as(process_of_run(run))]


def failed_runs_of_host(instance: DagsterInstance, since: float) -> list[DagsterRun]:
    """The failed runs `warehouse run` executed on this host since `since`, oldest first."""
    runs = instance.get_runs(
        filters=RunsFilter(
            statuses=[DagsterRunStatus.FAILURE],
            tags={RUN_HOST_TAG: socket.gethostname()},
            updated_after=datetime.fromtimestamp(since, UTC),
        )
    )
    return list(reversed(runs))


# --------------------------------------------------------------------------------------------
# Why a run failed
# --------------------------------------------------------------------------------------------


def root_error_text(error: object, limit: int = 2000) -> str:
    """The deepest cause of a Dagster error (the user's exception, not "Error occurred while
    executing op"), as `ExceptionClass: message` on one line."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = " ".join(str(getattr(error, "message", error)).split())
    cls_name = getattr(error, "cls_name", None)
    if cls_name == INTERRUPTED_ERROR:
        return "interrupted: the process got SIGINT (Ctrl-C) or SIGTERM during the run"
    head, _, rest = message.partition(": ")
    if cls_name and head.endswith(cls_name):  # drop the module path of the exception's class
        message = f"{cls_name}: {rest}" if rest else cls_name
    return message[:limit]


# Dagster's error for a run whose process was interrupted by a signal
INTERRUPTED_ERROR = "DagsterExecutionInterruptedError"


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str  # the root error, one line
    error_class: str | None = None  # the class of the step's own error


def step_failures(instance: DagsterInstance, run_id: str) -> list[StepFailure]:
    """The failed steps of a run, in the order they failed, each with its root error."""
    failures = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        text = root_error_text(error) if error is not None else (entry.message or "failed")
        error_class = getattr(error, "cls_name", None)
        failures.append(StepFailure(event.step_key if event else "?", text, error_class))
    return failures


def run_failure_message(instance: DagsterInstance, run_id: str) -> str | None:
    """The run's own failure: its root error if it has one, else its message (e.g. "Run
    marked failed: its process ... is gone")."""
    for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)):
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if error is not None:
            return root_error_text(error)
        if event and event.message:
            return " ".join(event.message.split())
    return None
