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

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

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


class WarehouseDuckDBResource(DuckDBResource):
    """dagster-duckdb's resource, with a connection that is closed even when the block raises.

    dagster-duckdb (0.29) closes it only after a block that succeeded: after an error the file
    stayed locked until garbage collection, and the next step's dbt process could not open it.
    """

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().get_connection() as connection:
            try:
                yield connection
            finally:
                connection.close()  # closing twice (here, then dagster-duckdb) is harmless


def duckdb_resource(settings: Settings) -> DuckDBResource:
    return WarehouseDuckDBResource(
        database=str(settings.warehouse_db),
        connection_config={
            "memory_limit": settings.duckdb_memory_limit,
            "threads": settings.duckdb_threads,
        },
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
