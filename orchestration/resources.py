"""Dagster resources, built from settings (environment variables with defaults).

Resource keys used across the code location:
- `duckdb`: the working warehouse database (WAREHOUSE_DB), read-write, one writer at a time;
- `raw_files`: where the raw feeds are (RAW_DIR);
- `dbt`: the dbt CLI on dbt_project/;
- `serving`: the read-only serving database that BI tools query (SERVING_DB).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, InitResourceContext
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from orchestration.settings import Settings, load_settings


class RawFilesResource(ConfigurableResource):
    """The folder the raw feeds are delivered to."""

    raw_dir: str

    @property
    def path(self) -> Path:
        return Path(self.raw_dir)


class ServingResource(ConfigurableResource):
    """The serving database file and where its Parquet export goes."""

    serving_db: str
    state_dir: str

    @property
    def path(self) -> Path:
        return Path(self.serving_db)


# a step that wrote this many rows or more leaves the warehouse closed (release_after_write);
# a day's loads write ~20,000 rows at 30M lines, a month's ~1M
LARGE_WRITE_ROWS = 2_000_000

# DuckDB keeps one database instance per file and process, shared by every connection opened
# with the same config; dagster-duckdb adds this user agent to the config (and the dbt profile
# and Great Expectations open the file with the same config, to share the instance)
USER_AGENT = "channel_warehouse"


def opened_config(resource: Any) -> dict[str, Any]:
    """The config a DuckDBResource's get_connection() really opens the file with:
    dagster-duckdb adds a user agent unless the resource's config names one. Another connection
    of the process must use the same, or DuckDB refuses it."""
    return {"custom_user_agent": "dagster", **(getattr(resource, "connection_config", None) or {})}


class WarehouseDuckDBResource(DuckDBResource):
    """dagster-duckdb's resource, with two changes.

    - The connection is closed even when the block raises. dagster-duckdb (0.29) closes it only
      after a block that succeeded: after an error the file stayed locked until garbage
      collection, and the next step's dbt process could not open it.
    - In a run, the warehouse stays open from the first connection to the end of the run.
      Otherwise every step (~20 in a one-day refresh) opened the file cold and closed it again,
      checkpoint included, and every GX check read its rows from disk instead of DuckDB's
      buffers (1M-line history, four alternating pairs: 15.5-16.8 s -> 13.7-15.2 s). The steps'
      connections, GX's and dbt's in-process build share that instance (same config). A step
      that hands the file to another process or opens it otherwise (a dbt process, Spark's
      landing) calls `release()` first. A step that wrote a large table (a full load of a
      feed, a full dbt build) releases the file when done (`release_after_write()`,
      `release()`): DuckDB keeps the blocks it wrote cached up to its memory limit, and the
      next step's own memory would come on top (30M lines: the POS load started at 1.7 GB and
      peaked at 2.9 GB after the online load).
    """

    # a connection held from the run's first get_connection() to its end (None outside runs)
    _run_connection: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _in_run: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._in_run = True

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.release()
        self._in_run = False

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._in_run and self._run_connection is None:
            self._run_connection = duckdb.connect(self.database, config=opened_config(self))
        with super().get_connection() as connection:
            try:
                yield connection
            finally:
                connection.close()  # closing twice (here, then dagster-duckdb) is harmless

    def release_after_write(self, rows: int) -> None:
        """After a step wrote `rows` rows: from LARGE_WRITE_ROWS on, the file is closed (DuckDB's
        cache with it) and the next step opens it cold, as every step did before runs held it."""
        if rows >= LARGE_WRITE_ROWS:
            self.release()

    def release(self) -> None:
        """Close the file held for the run (the next get_connection() opens it again): for a dbt
        or Spark process, a connection with another config, or after a large write."""
        connection, self._run_connection = self._run_connection, None
        if connection is not None:
            connection.close()


def duckdb_config(settings: Settings) -> dict[str, Any]:
    """The warehouse's DuckDB config, as the resource opens the file; the dbt profile's
    config_options render the same from dbt_environment()'s variables."""
    return {
        "custom_user_agent": USER_AGENT,
        "memory_limit": settings.duckdb_memory_limit,
        "threads": settings.duckdb_threads,
    }


def duckdb_resource(settings: Settings) -> DuckDBResource:
    return WarehouseDuckDBResource(
        database=str(settings.warehouse_db), connection_config=duckdb_config(settings)
    )


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    """All resources except `dbt`, which orchestration.dbt builds next to its project."""
    settings = settings or load_settings()
    settings.warehouse_db.parent.mkdir(parents=True, exist_ok=True)
    return {
        "duckdb": duckdb_resource(settings),
        "raw_files": RawFilesResource(raw_dir=str(settings.raw_dir)),
        "serving": ServingResource(
            serving_db=str(settings.serving_db), state_dir=str(settings.state_dir)
        ),
    }
