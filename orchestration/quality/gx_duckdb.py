"""Great Expectations 1.x on a DuckDB file, through SQLAlchemy and duckdb-engine.

GX 1.24 has no DuckDB dialect: it runs on the generic SQL datasource (SqlAlchemyExecutionEngine)
with duckdb-engine. Out of the box every expectation errors with "list index out of range"
(GX issues 10738, 11579). The cause, read in the installed sources:

- `SqlAlchemyExecutionEngine.execute_query()` runs the query inside `with engine.connect()` and
  returns the *unread* `CursorResult`; the caller calls `.fetchall()` after the `with` block.
- Leaving the block rolls back the connection's transaction (duckdb-engine's `do_begin` runs
  an explicit `BEGIN`), and duckdb-engine hands out the DuckDB connection itself as every
  cursor, so the `ROLLBACK` replaces the pending result: `fetchall()` then returns `[]`, and GX
  indexes `res[0]`.

The fix: the datasource's engines are built with a `creator` (a `create_engine` kwarg GX passes
through) whose connections give each `cursor()` a DuckDB cursor of its own (a child connection
of the same database instance, own client context): BEGIN/ROLLBACK on the parent never touch a
result being read. No GX or SQLAlchemy code is patched, nothing is buffered.

The creator opens the file with exactly the DuckDB config given (the Dagster `DuckDBResource`'s
`connection_config`): duckdb-engine's own `connect()` adds a `custom_user_agent` setting, and
DuckDB refuses a second connection in the same process to the same file with a different config
("Can't open a connection to same database file with a different configuration than existing
connections"). With identical config the connections share the process's database instance
(and its file lock) with the resource's, and `dispose_datasource_engines` releases them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb


class _IndependentCursor:
    """A DB-API cursor on its own DuckDB cursor (DuckDB: a child connection of the same database).

    Built on duckdb-engine's CursorWrapper (its statement handling is kept); only closing is
    added, because the child connection must be closed for the file lock to be released.
    """

    def __init__(self, child: duckdb.DuckDBPyConnection, owner: _IndependentCursorConnection):
        from duckdb_engine import CursorWrapper

        self._child = child
        self._owner = owner
        self._wrapped = CursorWrapper(child, owner)

    def close(self) -> None:
        self._owner._forget(self._child)
        with contextlib.suppress(Exception):
            self._child.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class _IndependentCursorConnection:
    """duckdb-engine's ConnectionWrapper, except that each cursor has its own result.

    duckdb-engine hands out the DuckDB connection itself as every cursor. GX reads a result
    after SQLAlchemy has returned the connection to the pool, which rolls the transaction
    back on that same DuckDB connection: the pending result is replaced and GX finds no row
    ("list index out of range"). Here each `cursor()` is a DuckDB cursor (a child connection
    of the same database instance, own client context), so BEGIN/ROLLBACK on the parent never
    touch a result being read. Nothing is buffered: GX's `fetchmany(200)` reads 200 rows.
    Children are closed with the connection, so disposing the engine releases the file.
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        from duckdb_engine import ConnectionWrapper

        self._conn = conn
        self._wrapper = ConnectionWrapper(conn)
        self._children: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()

    def cursor(self) -> _IndependentCursor:
        child = self._conn.cursor()
        with self._lock:
            self._children.append(child)
        return _IndependentCursor(child, self)

    def _forget(self, child: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._children = [c for c in self._children if c is not child]

    def close(self) -> None:
        with self._lock:
            children, self._children = self._children, []
        for child in children:
            with contextlib.suppress(Exception):
                child.close()
        self._wrapper.close()

    @property
    def closed(self) -> bool:
        return self._wrapper.closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapper, name)


def _connection_creator(database: Path, config: Mapping[str, Any], read_only: bool):
    config = dict(config)
    database = str(database)

    def create() -> _IndependentCursorConnection:
        return _IndependentCursorConnection(
            duckdb.connect(database, read_only=read_only, config=config)
        )

    return create


def engine_kwargs(
    database: Path, duckdb_config: Mapping[str, Any] | None = None, *, read_only: bool = False
) -> dict:
    """`create_engine` kwargs for a GX SQL datasource on a DuckDB file (see module doc)."""
    return {"creator": _connection_creator(database, duckdb_config or {}, read_only)}


def connection_string(database: Path) -> str:
    return f"duckdb:///{Path(database).resolve()}"


def dispose_datasource_engines(datasource: Any) -> None:
    """Dispose every SQLAlchemy engine GX made for this datasource, releasing the file lock.

    GX keeps one on the datasource (`get_engine()`, used for reflection and the connection
    test) and one on its execution engine (`get_execution_engine()`; its `close()` closes the
    connection it holds and disposes its engine). Both getters return the cached objects.
    A failure is logged, never raised: disposal must not mask the validation's outcome, and a
    file left locked shows in the next step's error, not silently.
    """
    for release in (
        lambda: datasource.get_execution_engine().close(),
        lambda: datasource.get_engine().dispose(),
    ):
        try:
            release()
        except Exception:  # pragma: no cover - see the docstring
            logging.getLogger(__name__).warning(
                "could not release a GX engine of %r", datasource, exc_info=True
            )


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
