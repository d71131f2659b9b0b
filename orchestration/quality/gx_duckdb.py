"""Great Expectations 1.x on a DuckDB file, through SQLAlchemy and duckdb-engine.

GX 1.24 has no DuckDB dialect: it runs on the generic SQL datasource (SqlAlchemyExecutionEngine)
with duckdb-engine. Out of the box every expectation errors with "list index out of range"
(GX issues 10738, 11579). The cause, read in the installed sources:

- `SqlAlchemyExecutionEngine.execute_query()` runs the query inside `with engine.connect()` and
  returns the *unread* `CursorResult`; the caller calls `.fetchall()` after the `with` block.
- Leaving the block rolls back the connection's transaction (duckdb-engine's `do_begin` runs
  an explicit `BEGIN`), and duckdb-engine's cursor is the DuckDB connection itself, so the
  `ROLLBACK` replaces the pending result: `fetchall()` then returns `[]`, and GX indexes `res[0]`.

The fix here buffers every result row-set inside `execute()`, before the connection can be
returned, using SQLAlchemy's own `FullyBufferedCursorFetchStrategy` (the strategy SQLAlchemy
uses for results "delivered after the database conversation can not be continued"). It is
attached by a SQLAlchemy `CreateEnginePlugin` named in the datasource's `create_engine`
kwargs, so it applies only to the engines GX builds for our datasource (GX builds two: one
for the datasource, one for the execution engine), never globally to SQLAlchemy. No GX code
is patched. Buffering costs nothing extra: GX calls `fetchall()` on every result anyway, and
its queries return aggregates or bounded samples (SQL pushdown, no table is pulled).

Connections are made by a `creator` that opens the file with exactly the DuckDB config given
(the Dagster `DuckDBResource`'s `connection_config`): duckdb-engine's own `connect()` adds a
`custom_user_agent` setting, and DuckDB refuses a second connection in the same process to
the same file with a different config ("Can't open a connection to same database file with a
different configuration than existing connections"). With identical config the connections
share the process's database instance (and its file lock) with the resource's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlalchemy.engine import CreateEnginePlugin
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy

PLUGIN_NAME = "warehouse_duckdb_buffered_results"

_registered = threading.Lock()
_is_registered = False


def _buffer_result(conn, cursor, statement, parameters, context, executemany) -> None:
    """after_cursor_execute: read the whole result now, while the connection is still ours."""
    if context is None or cursor.description is None:
        return
    # Only replace the default (lazy) strategy; leave any special strategy alone.
    if type(context.cursor_fetch_strategy).__name__ != "CursorFetchStrategy":
        return
    context.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(
        cursor, alternate_description=cursor.description
    )


class BufferedResultsPlugin(CreateEnginePlugin):
    """SQLAlchemy engine plugin: buffer each result before the connection can go back to the pool."""

    def update_url(self, url):  # required by SQLAlchemy 2.0; nothing to consume from the URL
        return url

    def engine_created(self, engine: sa.Engine) -> None:
        if engine.dialect.name != "duckdb":
            return
        sa.event.listen(engine, "after_cursor_execute", _buffer_result)


def register_plugin() -> None:
    global _is_registered
    with _registered:
        if not _is_registered:
            from sqlalchemy.dialects import plugins

            plugins.register(PLUGIN_NAME, __name__, "BufferedResultsPlugin")
            _is_registered = True


def _connection_creator(database: Path, config: Mapping[str, Any]):
    from duckdb_engine import ConnectionWrapper

    config = dict(config)

    def create():
        return ConnectionWrapper(duckdb.connect(str(database), config=config))

    return create


def engine_kwargs(database: Path, duckdb_config: Mapping[str, Any] | None = None) -> dict:
    """`create_engine` kwargs for a GX SQL datasource on a DuckDB file (see module doc)."""
    register_plugin()
    return {
        "plugins": [PLUGIN_NAME],
        "creator": _connection_creator(database, duckdb_config or {}),
    }


def connection_string(database: Path) -> str:
    return f"duckdb:///{Path(database).resolve()}"


def dispose_datasource_engines(datasource: Any) -> None:
    """Dispose every SQLAlchemy engine GX made for this datasource, releasing the file lock.

    GX keeps one on the datasource (`get_engine()`, used for reflection and the connection
    test) and one on the execution engine; neither has a close step of its own.
    """
    engines: list[Any] = []
    with contextlib.suppress(Exception):
        engines.append(datasource._engine)
    execution_engine = None
    with contextlib.suppress(Exception):
        execution_engine = datasource._execution_engine
    if execution_engine is not None:
        with contextlib.suppress(Exception):
            conn = execution_engine._connection
            if conn is not None:
                conn.close()
        engines.append(getattr(execution_engine, "engine", None))
        engines.append(getattr(execution_engine, "_engine_backup", None))
    for engine in engines:
        if engine is None or not hasattr(engine, "dispose"):
            continue
        try:
            engine.dispose()
        except Exception:  # pragma: no cover - disposal must never mask the real outcome
            logging.getLogger(__name__).warning("could not dispose engine %r", engine, exc_info=True)


@contextlib.contextmanager
def quiet_gx_logging() -> Iterator[None]:
    """GX logs expected failures (a missing column) at ERROR level: keep them out of run logs;
    the outcome carries them instead."""
    logger = logging.getLogger("great_expectations")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)
