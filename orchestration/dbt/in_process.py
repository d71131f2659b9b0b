"""dbt run inside the Dagster process (dbt's `dbtRunner`) instead of a `dbt` subprocess.

Why: a one-day refresh starts three `dbt build` processes (staging, intermediate, marts); each
spends ~1.8 s importing Python, ~1.2 s loading the partial-parse state and the adapter and
~0.8 s exiting, around seconds of SQL. In the run's process dbt is imported once and its
later invocations load the partial-parse state in ~0.5 s.

How: dagster-dbt's `DbtCliResource.cli()` still builds the command (selection from the step's
assets and checks, target path, environment) and dagster-dbt still turns dbt's JSON log lines
into Dagster events, exactly as for a subprocess. Only the process is replaced: `InProcessDbt`
looks like the `subprocess.Popen` that dagster-dbt starts (`stdout`, `wait()`, `returncode`,
`args`), runs the command with `dbtRunner` and hands back the JSON lines that dbt would have
printed (dbt's own console logger, captured). Same events, same metadata, same failure (a
failed model or ERROR test is exit code 1, and dagster-dbt raises).

What a subprocess gave for free and is done here instead:
- the environment: dbt reads its flags (DBT_TARGET_PATH, DBT_LOG_FORMAT, ...) and `env_var()`
  from os.environ, so os.environ is the invocation's environment while dbt runs;
- the DuckDB file: dbt-duckdb keeps its database open in a class attribute after the
  invocation; it is closed, else this process (DuckDBResource, GX) could not open the file
  with another configuration, and another process could not open it at all;
- dbt's process-wide state (flags, adapter registry, event manager): reset by dbt at the start
  of each invocation; one invocation at a time (a lock), and the loggers are dropped after it.
No parsed manifest is reused between invocations: it would save ~0.3 s per step, but a
manifest parsed before a change of the project or of an `env_var()` read at parse time would
be stale; partial parsing (orchestration.dbt.assets) already checks both.

Private details it depends on: of the pinned dagster-dbt (0.29), that `DbtCliInvocation.run`
starts the process with `subprocess.Popen` of its module and reads only the members of
`InProcessDbt` below (if the module stops importing `subprocess`, `in_process_popen` notices
and dbt runs as a subprocess again: slower, same result); of dbt-duckdb, its class attribute
`DuckDBConnectionManager._ENV`; of dbt_common, the names of its Python loggers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from dagster import get_dagster_logger
from dagster_dbt.core import dbt_cli_invocation

# dbt's flags, event manager and adapter registry are global to the process
_DBT_LOCK = threading.Lock()
# the Python loggers behind dbt's console and file loggers (dbt_common, dbt.events.logging)
DBT_PYTHON_LOGGERS = ("stdout_log", "file_log")


class InProcessDbt:
    """A finished dbt invocation, in the shape of the `subprocess.Popen` dagster-dbt reads."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **_: Any,
    ) -> None:
        self.args = list(args)  # [dbt executable, command, flags...]
        with _DBT_LOCK:
            lines, self.returncode = _invoke(self.args[1:], dict(env or os.environ), cwd)
        self.stdout = io.BytesIO(lines.encode())

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode

    def send_signal(self, signal: int) -> None:
        """dbt has already finished: an interrupt during the run stopped it (see _invoke)."""


def _invoke(
    args: list[str], env: dict[str, str], cwd: str | os.PathLike[str] | None
) -> tuple[str, int]:
    """dbt's JSON log lines and its CLI exit code (0 ok, 1 a node failed, 2 dbt failed)."""
    from dbt.cli.main import dbtRunner  # ~1.5 s: imported by the first dbt step only
    from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

    console = io.StringIO()
    capture_stdout_logs(console)  # dbt's console logger, JSON with DBT_LOG_FORMAT=json
    try:
        with _environment(env), contextlib.chdir(cwd or os.getcwd()):
            result = dbtRunner().invoke(args)
    finally:
        stop_capture_stdout_logs()
        _release_dbt()
    # dbtRunner catches everything; an interrupt of the Dagster run must still stop the step
    if result.exception is not None and not isinstance(result.exception, Exception):
        raise result.exception
    returncode = 0 if result.success else 1 if result.exception is None else 2
    return console.getvalue(), returncode


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ is `env` inside (the environment a dbt subprocess would have got)."""
    saved = dict(os.environ)
    _replace_environ(env)
    try:
        yield
    finally:
        _replace_environ(saved)


def _replace_environ(values: Mapping[str, str]) -> None:
    """Set os.environ to `values` without emptying it in between (other threads read it)."""
    for name in set(os.environ) - set(values):
        del os.environ[name]
    os.environ.update(values)


def _release_dbt() -> None:
    """Close what dbt keeps open after an invocation: the DuckDB database of dbt-duckdb (its
    handle count is back to 0, yet the connection stays open) and the files of dbt's loggers
    (dbt.log in the step's target folder, deleted after the step)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt_common.events.event_manager_client import cleanup_event_logger

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()
    cleanup_event_logger()
    # dbt's loggers write through these Python loggers, which outlive the invocation
    for name in DBT_PYTHON_LOGGERS:
        python_logger = logging.getLogger(name)
        for handler in python_logger.handlers:
            handler.close()
        python_logger.handlers.clear()


# what dagster-dbt's module sees as `subprocess` while dbt runs in-process
_IN_PROCESS_SUBPROCESS = SimpleNamespace(
    Popen=InProcessDbt, PIPE=subprocess.PIPE, STDOUT=subprocess.STDOUT
)


@contextlib.contextmanager
def in_process_popen() -> Iterator[None]:
    """Inside, dagster-dbt starts `InProcessDbt` where it would start a dbt subprocess."""
    if getattr(dbt_cli_invocation, "subprocess", None) is not subprocess:
        get_dagster_logger().warning(
            "dagster-dbt no longer starts dbt with subprocess.Popen: dbt runs as a subprocess"
        )
        yield
        return
    dbt_cli_invocation.subprocess = _IN_PROCESS_SUBPROCESS  # type: ignore[assignment]
    try:
        yield
    finally:
        dbt_cli_invocation.subprocess = subprocess
