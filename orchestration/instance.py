"""The Dagster instance the CLI uses: DAGSTER_HOME with the project's dagster.yaml; and
cheaper commits for Dagster's SQLite storage.

Dagster's default storage (SQLite files under DAGSTER_HOME) opens a connection and commits for
every event it writes, and a run writes one to four per event (run shard, asset index,
check index): a one-day refresh writes ~850 events (planned / evaluated for ~200 asset checks,
outputs, materializations), and each commit waited for an fsync (~10-20 ms here, ~14 s per
refresh). In WAL mode (Dagster sets it on its event-log databases), `synchronous=NORMAL` syncs
at checkpoints instead of at each commit: the files stay consistent after a crash or power
loss, and a power loss may forget the last events written, not corrupt the log (SQLite's
documentation). `relax_sqlite_commits()` sets it on every SQLite connection in WAL mode that
the process opens; WAREHOUSE_SQLITE_SYNCHRONOUS=full keeps SQLite's default. Deployments with
PostgreSQL storage are not concerned.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from dagster import DagsterInstance
from sqlalchemy import event
from sqlalchemy.engine import Engine

from orchestration.settings import load_settings

TEMPLATE = Path(__file__).with_name("dagster.yaml")


def prepare_dagster_home() -> Path:
    """Use $DAGSTER_HOME, or .warehouse/dagster_home; give it a dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or load_settings().state_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()


def _sync_at_checkpoints(dbapi_connection: Any, _connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    (journal_mode,) = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
    if str(journal_mode).lower() == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def relax_sqlite_commits() -> None:
    """synchronous=NORMAL on this process's SQLite connections in WAL mode (see above)."""
    if os.environ.get("WAREHOUSE_SQLITE_SYNCHRONOUS", "normal").strip().lower() == "full":
        return
    if not event.contains(Engine, "connect", _sync_at_checkpoints):
        event.listen(Engine, "connect", _sync_at_checkpoints)
