"""The same pipeline on Spark (WAREHOUSE_ENGINE=spark, dbt-spark session mode) serves the same
marts as on DuckDB: same columns, same types, same rows, money to the cent.

The session's small warehouse (tests/conftest.py: four months across the 2023/2024 year end,
with the generator's delivery defects), three `warehouse run`s through the real CLI:
- DuckDB, every file: the reference (the shared build);
- Spark, the last day's files held back: a full build on Spark (seeds, every model, every dbt
  test and unit test, the contracts), its tables mirrored back for the GX checks and publish;
- Spark again once the held-back files arrive: a window build, where the incremental models
  overwrite the partitions of the new day (insert_overwrite), as a daily refresh does.
The served marts after the third run must equal the reference, and the independent computation
of the benchmark's floor from the raw files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import (
    SMALL_WAREHOUSE,
    BuiltWarehouse,
    assert_floor_equals_served,
    file_digests,
    warehouse_env,
)

from orchestration.datagen.generate import generate

pytestmark = pytest.mark.slow

HELD_BACK = "20240229"  # the last day's files: the Spark warehouse's "next morning"
# Published beside the marts with run ids and timestamps: they differ by construction
RUN_SPECIFIC = {"publish_info", "publish_tables", "data_quality_checks"}
# ... and columns of a table that is otherwise compared: when each run loaded the files
LOAD_TIMES = {"data_quality_feeds": "last_loaded_at"}


def _served_tables(serving_db: Path) -> dict[str, list[tuple[str, str]]]:
    """marts.<table> -> its (column, type) list, from the serving file."""
    with duckdb.connect(str(serving_db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position"
        ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def _rows_only_in(conn: duckdb.DuckDBPyConnection, table: str, first: str, second: str) -> int:
    columns = f"* EXCLUDE ({LOAD_TIMES[table]})" if table in LOAD_TIMES else "*"
    return conn.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM {first}.marts.{table} EXCEPT ALL "
        f"SELECT {columns} FROM {second}.marts.{table})"
    ).fetchone()[0]


@pytest.fixture(scope="module")
def engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, BuiltWarehouse]:
    root = tmp_path_factory.mktemp("on_spark")
    raw_dir, held = root / "raw", root / "held_back"
    # the shared warehouse's files (the generator is deterministic: compared below), generated
    # here so that the Spark builds, the suite's longest, start without waiting for it
    generate(raw_dir, progress=None, **SMALL_WAREHOUSE)
    for path in sorted(raw_dir.rglob(f"*_{HELD_BACK}*")):
        target = held / path.relative_to(raw_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    env = {**warehouse_env(root), "WAREHOUSE_ENGINE": "spark"}
    spark_built = BuiltWarehouse(raw_dir, root / "state", env, "")
    first = spark_built.run_cli("run", "--quiet")
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-5000:]
    for path in sorted(held.rglob("*")):
        if path.is_file():
            target = raw_dir / path.relative_to(held)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    second = spark_built.run_cli("run", "--quiet")
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-5000:]
    duckdb_built = request.getfixturevalue("small_warehouse")  # asked for last: see above
    return {
        "duckdb": duckdb_built,
        "spark": BuiltWarehouse(raw_dir, root / "state", env, first.stdout + second.stdout),
    }


def test_both_engines_read_the_same_raw_files(engines):
    assert file_digests(engines["spark"].raw_dir) == file_digests(engines["duckdb"].raw_dir)


def test_spark_built_the_marts_from_the_parquet_landing(engines):
    state = engines["spark"].state_dir
    for table in ("channel_performance", "regional_coverage", "target_attainment"):
        assert list((state / "spark" / "warehouse" / "marts.db" / table).glob("*.parquet"))
    landed_days = state / "raw_landing" / "online_order_lines"
    assert (landed_days / "_business_date=2024-02-29").is_dir()  # landed by the window build
    with duckdb.connect() as conn:
        spark_rows = conn.execute(
            "SELECT count(*) FROM read_parquet(?)",
            [str(state / "spark" / "warehouse" / "marts.db" / "channel_performance" / "*.parquet")],
        ).fetchone()[0]
    with duckdb.connect(str(engines["spark"].serving_db), read_only=True) as conn:
        served = conn.execute("SELECT count(*) FROM marts.channel_performance").fetchone()[0]
    assert spark_rows == served > 0


def test_the_second_spark_run_was_a_window_build_of_the_new_day(engines):
    # its landing rewrote that day only: the folders of the other days keep their first files
    landed = engines["spark"].state_dir / "raw_landing" / "online_order_lines"
    new_day = landed / "_business_date=2024-02-29"
    earlier_day = landed / "_business_date=2024-02-28"
    newest_earlier = max(p.stat().st_mtime for p in earlier_day.iterdir())
    assert min(p.stat().st_mtime for p in new_day.iterdir()) > newest_earlier


def test_both_engines_serve_the_same_tables_columns_and_types(engines):
    on_duckdb = _served_tables(engines["duckdb"].serving_db)
    on_spark = _served_tables(engines["spark"].serving_db)
    assert on_spark == on_duckdb


def test_both_engines_serve_the_same_rows_to_the_cent(engines):
    tables = sorted(set(_served_tables(engines["duckdb"].serving_db)) - RUN_SPECIFIC)
    assert {"channel_performance", "regional_coverage", "target_attainment"} <= set(tables)
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{engines['duckdb'].serving_db}' AS on_duckdb (READ_ONLY)")
        conn.execute(f"ATTACH '{engines['spark'].serving_db}' AS on_spark (READ_ONLY)")
        differences = {
            table: (
                _rows_only_in(conn, table, "on_duckdb", "on_spark"),
                _rows_only_in(conn, table, "on_spark", "on_duckdb"),
            )
            for table in tables
        }
        net_sales = conn.execute(
            "SELECT (SELECT sum(net_sales) FROM on_duckdb.marts.channel_performance), "
            "(SELECT sum(net_sales) FROM on_spark.marts.channel_performance)"
        ).fetchone()
    assert {table: diff for table, diff in differences.items() if diff != (0, 0)} == {}
    assert net_sales[0] == net_sales[1] and net_sales[0] > 0


def test_the_spark_marts_equal_an_independent_computation_from_the_raw_files(engines, tmp_path):
    """The benchmark's floor against the marts the Spark build served, money to the cent."""
    spark = engines["spark"]
    assert_floor_equals_served(spark.raw_dir, spark.serving_db, tmp_path / "floor")
