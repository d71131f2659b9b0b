"""Dagster's SQLite event log, keeping its database connections open between writes.

Dagster's `SqliteEventLogStorage` (the default without PostgreSQL) stores each event through a
new SQLAlchemy engine and SQLite connection, closed again after the write (NullPool). With ~15 ms
per event and a one-day refresh storing ~860 events (dbt tests are asset checks: a planned event,
an output and an evaluation each), that cost was a quarter of the daily run. Here each database
keeps its engine and one pooled connection: ~4 ms per event (measured: a run reporting 300
asset checks 8.5 -> 3.5 s).

What stays as in Dagster's class: the files (`$DAGSTER_HOME/history/runs/<run id>.db` and
`index.db`, so histories written by either class are read by both), the schema and migrations,
WAL journaling, the lock around each connection. Two things need care with long-lived
connections:
- the webserver streams a run's events by watching its `<run id>.db` file for modifications;
  with WAL journaling a write only reaches that file when the WAL is checkpointed, which
  Dagster's class got from closing the connection. So each write to a run's database is followed
  by a passive checkpoint (part of the measured 3.5 s).
- open connections must not outlive their files or process: a bounded number of databases is
  kept open (least recently used closed first), `wipe()` closes them before deleting files, and
  a forked child starts without its parent's connections.

Configured in the dagster.yaml template (orchestration/dagster.yaml); `base_dir` defaults to
Dagster's own location under $DAGSTER_HOME.

This is the project's one wrapper around private parts of Dagster (pinned 1.13): it subclasses
`SqliteEventLogStorage` and overrides its `_connect` (the one place the class opens a
database), calls its `_initdb`, uses its `_db_lock` and `_initialized_dbs`, and imports
`create_engine`, `INDEX_SHARD_NAME`, `SQLITE_BUSY_TIMEOUT_SECONDS` and `ConfigurableClassData`
from `dagster._core` / `dagster._serdes`; and, for the publish step's data-quality table, the
asset-check status enum `AssetCheckExecutionRecordStatus`, which `dagster` does not export but
the storage's public history query takes (`latest_completed_check_execution`, below).
`missing_dagster_internals()` lists what is gone;
the storage refuses to start if anything is (naming the Dagster version), and
tests/test_event_log.py pins it. The way back is one line: remove `event_log_storage` from
dagster.yaml, and Dagster's own class (same files) is used.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import AssetCheckKey, DagsterInstance, Field, StringSource
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

# run databases kept open at once: a run writes to its own and the index; the webserver reads
# a few recent runs at a time
MAX_OPEN_DATABASES = 16


# what the class relies on in SqliteEventLogStorage: methods (name -> parameters after self)
# and attributes its __init__ sets
RELIED_ON_METHODS = {
    "_connect": ["shard"],
    "_initdb": ["engine", "for_index_shard"],
    "conn_string_for_shard": ["shard_name"],
}
RELIED_ON_ATTRIBUTES = ("_db_lock", "_initialized_dbs")
# the members of the check-status enum that latest_completed_check_execution filters on
COMPLETED_CHECK_STATUS_NAMES = ("SUCCEEDED", "FAILED")


def missing_dagster_internals(storage: object | None = None) -> list[str]:
    """The private names of Dagster's SqliteEventLogStorage this module relies on that are gone
    or changed, each naming the installed Dagster version; [] when all are there."""
    import inspect

    import dagster

    problems = []
    for name, parameters in RELIED_ON_METHODS.items():
        method = getattr(SqliteEventLogStorage, name, None)
        found = None if method is None else list(inspect.signature(method).parameters)[1:]
        if found != parameters:
            problems.append(
                f"dagster {dagster.__version__}: SqliteEventLogStorage.{name}"
                f"({', '.join(parameters)}) is {'gone' if method is None else f'({found})'}"
            )
    for name in COMPLETED_CHECK_STATUS_NAMES:
        if name not in AssetCheckExecutionRecordStatus.__members__:
            problems.append(
                f"dagster {dagster.__version__}: AssetCheckExecutionRecordStatus.{name} is gone"
            )
    for name in RELIED_ON_ATTRIBUTES if storage is not None else ():
        if not hasattr(storage, name):
            problems.append(f"dagster {dagster.__version__}: SqliteEventLogStorage.{name} is gone")
    return problems


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one engine (and pooled connection) per open database."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data)
        problems = missing_dagster_internals(self)
        if problems:
            raise RuntimeError(
                "orchestration.event_log.PooledSqliteEventLogStorage relies on private parts of "
                f"Dagster that changed: {'; '.join(problems)}. Remove `event_log_storage` from "
                "$DAGSTER_HOME/dagster.yaml to use Dagster's own SQLite event log (same files)."
            )

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        base_dir = config_value.get("base_dir") or default_base_dir()
        return cls(base_dir=base_dir, inst_data=inst_data)

    def _engine_for(self, shard: str) -> Engine:
        """The shard's engine, created (and its database initialised) on first use; called
        with self._db_lock held."""
        if self._engines_pid != os.getpid():
            # a forked child must not use (or close) its parent's SQLite connections
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > MAX_OPEN_DATABASES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine_for(shard).connect() as connection:
            sqlite_connection = connection.connection.driver_connection
            changes_before = sqlite_connection.total_changes
            with connection.begin():
                yield connection
            if shard != INDEX_SHARD_NAME and sqlite_connection.total_changes != changes_before:
                # makes the write visible in <run id>.db itself (see the module docstring)
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _close_all(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_all()
        super().wipe()

    def upgrade(self) -> None:
        self._close_all()
        super().upgrade()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()


def default_base_dir() -> str:
    """Dagster's own location of the run-sharded event log: $DAGSTER_HOME/history/runs."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError("PooledSqliteEventLogStorage needs DAGSTER_HOME (or config base_dir)")
    return os.path.join(home, "history", "runs")


def latest_completed_check_execution(
    instance: DagsterInstance, key: AssetCheckKey
) -> Any | None:  # Dagster's AssetCheckExecutionRecord (not exported either)
    """The asset check's latest execution that completed (passed or failed), or None.

    One indexed query: the executions that later runs only planned (a window build plans the
    dbt tests it leaves out, every day) are skipped by the storage instead of being read and
    deserialised (209 checks: 2.8 -> 0.5 s for the publish step on a 1M-line history)."""
    completed = {AssetCheckExecutionRecordStatus[name] for name in COMPLETED_CHECK_STATUS_NAMES}
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=completed
    )
    return history[0] if history else None
