"""Dagster's SQLite storage commits: synchronous=NORMAL on WAL databases only."""

from __future__ import annotations

import sqlalchemy
from sqlalchemy.pool import NullPool

from orchestration.instance import relax_sqlite_commits


def _synchronous(url: str, journal_mode: str) -> int:
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"PRAGMA journal_mode={journal_mode}")
    with engine.connect() as conn:  # a new connection: the listener has seen the mode
        value = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    engine.dispose()
    return value


def test_wal_databases_sync_at_checkpoints_and_others_keep_full(tmp_path, monkeypatch):
    monkeypatch.delenv("WAREHOUSE_SQLITE_SYNCHRONOUS", raising=False)
    relax_sqlite_commits()
    relax_sqlite_commits()  # idempotent: one listener
    assert _synchronous(f"sqlite:///{tmp_path / 'wal.db'}", "WAL") == 1  # NORMAL
    assert _synchronous(f"sqlite:///{tmp_path / 'delete.db'}", "DELETE") == 2  # FULL
