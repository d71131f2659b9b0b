"""The warehouse resource holds the DuckDB file open for a whole run (one database instance for
every step), lets a block release it, and leaves nothing open outside a run.

DuckDB refuses a connection with another config to a file its process holds open: that is how
these tests see whether the file is held."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import asset, materialize

from orchestration.dbt.project import dbt_environment
from orchestration.resources import (
    LARGE_WRITE_ROWS,
    USER_AGENT,
    WarehouseDuckDBResource,
    duckdb_config,
    opened_config,
)
from orchestration.settings import DBT_PROJECT_DIR, load_settings

OTHER_CONFIG = {"threads": 1}


def held_open(database: Path) -> bool:
    """Whether this process holds the file open with another config than OTHER_CONFIG."""
    try:
        connect_with_other_config(database).close()
    except duckdb.ConnectionException as error:
        assert "different configuration" in str(error), error
        return True
    return False


def connect_with_other_config(database: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(database), config=OTHER_CONFIG)


@pytest.fixture
def resource(tmp_path: Path) -> WarehouseDuckDBResource:
    return WarehouseDuckDBResource(
        database=str(tmp_path / "warehouse.duckdb"),
        connection_config={"custom_user_agent": "test", "threads": 2},
    )


def test_a_run_holds_the_warehouse_open_from_step_to_step(resource, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    seen: dict[str, bool] = {}

    @asset
    def first(duckdb: WarehouseDuckDBResource) -> None:
        with duckdb.get_connection() as connection:
            connection.execute("CREATE TABLE t AS SELECT 1 AS x")
        seen["after the first step's block"] = held_open(database)

    @asset(deps=[first])
    def second(duckdb: WarehouseDuckDBResource) -> None:
        seen["in the next step"] = held_open(database)
        duckdb.release()
        seen["released"] = held_open(database)
        # what a dbt process or another config can do meanwhile
        with connect_with_other_config(database) as other:  # (`duckdb` is the resource here)
            other.execute("INSERT INTO t VALUES (2)")
        with duckdb.get_connection() as connection:  # opened again, the other's row there
            seen["rows after the release"] = connection.execute("SELECT count(*) FROM t").fetchall()
        seen["held again"] = held_open(database)

    result = materialize([first, second], resources={"duckdb": resource})
    assert result.success
    assert seen == {
        "after the first step's block": True,
        "in the next step": True,
        "released": False,
        "rows after the release": [(2,)],
        "held again": True,
    }
    assert not held_open(database)  # the run's end closed it


def test_a_failed_run_closes_the_warehouse_too(resource, tmp_path: Path) -> None:
    @asset
    def fails(duckdb: WarehouseDuckDBResource) -> None:
        with duckdb.get_connection() as connection:
            connection.execute("SELECT 1").fetchall()
        raise RuntimeError("the step fails after using the warehouse")

    result = materialize([fails], resources={"duckdb": resource}, raise_on_error=False)
    assert not result.success
    assert not held_open(tmp_path / "warehouse.duckdb")


def test_outside_a_run_a_connection_leaves_nothing_open(resource, tmp_path: Path) -> None:
    with resource.get_connection() as connection:
        assert connection.execute("SELECT 42").fetchall() == [(42,)]
    assert not held_open(tmp_path / "warehouse.duckdb")


def test_the_steps_connections_share_the_held_config(resource) -> None:
    # GX and the dbt profile open the file with this config: dagster-duckdb's user agent
    # unless the resource names its own
    assert opened_config(resource) == {"custom_user_agent": "test", "threads": 2}
    plain = WarehouseDuckDBResource(database="x.duckdb", connection_config={"threads": 2})
    assert opened_config(plain) == {"custom_user_agent": "dagster", "threads": 2}


def test_the_dbt_profile_opens_the_warehouse_with_the_resources_config() -> None:
    # dbt's in-process build shares the run's open database only with the same config: the
    # profile renders it from the variables dbt_environment() sets from the same settings
    # (every whole build of the suite runs in-process while the run holds the file)
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    options = profile["channel_warehouse"]["outputs"]["dev"]["config_options"]
    settings = load_settings()
    assert set(options) == set(duckdb_config(settings))
    assert options["custom_user_agent"] == USER_AGENT
    assert "env_var('DUCKDB_MEMORY_LIMIT'" in options["memory_limit"]
    assert "env_var('DUCKDB_THREADS'" in options["threads"]
    environment = dbt_environment()
    assert environment["DUCKDB_MEMORY_LIMIT"] == duckdb_config(settings)["memory_limit"]
    assert int(environment["DUCKDB_THREADS"]) == duckdb_config(settings)["threads"]


def test_a_step_that_wrote_a_large_table_leaves_the_warehouse_closed(resource, tmp_path) -> None:
    # DuckDB keeps what it wrote cached up to its memory limit: after a large write the next
    # step opens the file cold rather than add its own memory on top
    database = tmp_path / "warehouse.duckdb"
    seen: dict[str, bool] = {}

    @asset
    def writes(duckdb: WarehouseDuckDBResource) -> None:
        with duckdb.get_connection() as connection:
            connection.execute("SELECT 1").fetchall()
        duckdb.release_after_write(LARGE_WRITE_ROWS - 1)
        seen["after a small write"] = held_open(database)
        duckdb.release_after_write(LARGE_WRITE_ROWS)
        seen["after a large write"] = held_open(database)

    assert materialize([writes], resources={"duckdb": resource}).success
    assert seen == {"after a small write": True, "after a large write": False}
