"""Shared test helpers: build a real warehouse from generated data with the real CLI; a free
port on 127.0.0.1."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.datagen.generate import generate

WAREHOUSE_CLI = str(Path(sys.executable).with_name("warehouse"))


def _let_pyspark_import_in_xdist_workers() -> None:
    """Great Expectations imports pyspark.sql.connect when pyspark is installed (the Spark
    engine's extra). pyspark takes a __main__ with neither __spec__ nor __file__ for its own
    doctest runner and then calls sys.exit(0) if Spark Connect's optional packages are missing:
    pytest-xdist's workers start exactly so (execnet's `python -c`), and every test that
    validated a table ended with SystemExit. An interactive marker (sys.ps1) is the one
    condition pyspark accepts instead; the connect import then fails with ImportError, which
    GX expects. Real processes (the CLI, Dagster's) have a __main__ file and never get here."""
    main_module = sys.modules["__main__"]
    if getattr(main_module, "__spec__", None) is None and not hasattr(main_module, "__file__"):
        sys.ps1 = getattr(sys, "ps1", ">>> ")


_let_pyspark_import_in_xdist_workers()


def pytest_configure(config) -> None:
    """dbt's manifest, before any test module imports the code location (which reads it):
    preparing it is the CLI's and the test suite's job, not the import's."""
    from orchestration.dbt.project import ensure_manifest

    ensure_manifest()


# The modules that build whole warehouses, longest first (measured on 2 cores; see the README's
# Development section). pytest-xdist hands out one module at a time in collection order
# (--no-loadscope-reorder): starting the longest ones first keeps one worker from picking up
# the Spark build when the other has nothing left to do.
LONGEST_MODULES = (
    "test_spark_engine.py",
    "test_daily_refresh.py",
    "test_report.py",  # the first to ask for the shared small warehouse: builds it
    "test_review_figures.py",
    "test_dbt_build.py",
    "test_postgres_instance.py",
    "test_quality_layers.py",
    "test_end_to_end.py",
)


def pytest_xdist_auto_num_workers(config) -> int | None:
    """`-n auto`: half again as many workers as cores. The suite's processes wait for a good
    part of their time (process and JVM start-ups, PostgreSQL, the UI tests' polling, fsync):
    on 2 cores, 2 workers kept the CPUs only about two thirds busy. PYTEST_XDIST_AUTO_NUM_WORKERS
    still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0))
    return cores + (cores + 1) // 2


def pytest_collection_modifyitems(items: list) -> None:
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)  # stable: the tests of a module keep their order


def file_digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path) -> the SHA-256 of its bytes."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_floor_equals_served(raw_dir: Path, serving_db: Path, work: Path) -> None:
    """The benchmark's floor (benchmarks/floor.sql: plain DuckDB SQL over the raw files, the
    KPI rules of data/raw/README.md) gives the served marts' rows: every column it computes,
    EXCEPT ALL both ways, decimals to their scale."""
    from benchmarks.floor import MARTS, compare_marts, run_floor

    floor = run_floor(raw_dir, work, memory_limit="1GB", threads=2)
    report = compare_marts(floor.connection, serving_db)
    for mart in MARTS:
        result = report[mart]
        assert result["floor_rows"] > 0, mart
        assert result["columns"] >= 15, (mart, result["columns"])
        assert result["equal"], (mart, result)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (free to bind, or refusing connections)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class BuiltWarehouse:
    raw_dir: Path
    state_dir: Path
    env: dict[str, str]
    output: str

    @property
    def warehouse_db(self) -> Path:
        return self.state_dir / "warehouse.duckdb"

    @property
    def serving_db(self) -> Path:
        return self.state_dir / "serving.duckdb"

    def run_cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [WAREHOUSE_CLI, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )


def warehouse_env(root: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "RAW_DIR": str(root / "raw"),
        "WAREHOUSE_STATE_DIR": str(root / "state"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DUCKDB_MEMORY_LIMIT": "2GB",
    }
    for key in ("WAREHOUSE_DB", "SERVING_DB"):
        env.pop(key, None)
    return env


def build_warehouse(root: Path, **generate_args: object) -> BuiltWarehouse:
    """Generate raw feeds into root/raw, then `warehouse run` them into root/state."""
    raw_dir, state_dir = root / "raw", root / "state"
    generate(raw_dir, progress=None, **generate_args)
    env = warehouse_env(root)
    built = BuiltWarehouse(raw_dir, state_dir, env, "")
    result = built.run_cli("run", "--quiet")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return BuiltWarehouse(raw_dir, state_dir, env, result.stdout)


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this test session sees: pytest-xdist gives each worker a
    basetemp of its own inside the session's."""
    basetemp = tmp_path_factory.getbasetemp()
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def shared_warehouse(
    tmp_path_factory: pytest.TempPathFactory, name: str, **generate_args: object
) -> BuiltWarehouse:
    """`build_warehouse` once per test session, whichever worker asks first; the others wait
    on a file lock and get the same warehouse. Its users read it and may publish it again (an
    atomic swap, as BI readers see every day); a test that changes its working warehouse or
    raw files works on a copy (`copy_of`)."""
    root = _session_dir(tmp_path_factory) / f"shared_{name}"
    with open(root.with_name(f"shared_{name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        output = root / "warehouse_run.out"
        if output.exists():
            return BuiltWarehouse(
                root / "raw", root / "state", warehouse_env(root), output.read_text()
            )
        shutil.rmtree(root, ignore_errors=True)  # a build that failed in another worker
        built = build_warehouse(root, **generate_args)
        output.write_text(built.output)
        return built


def copy_of(built: BuiltWarehouse, root: Path) -> BuiltWarehouse:
    """A private copy of a built warehouse's raw files, state and Dagster home."""
    source = built.raw_dir.parent
    for part in ("raw", "state", "dagster_home"):
        if (source / part).exists():
            shutil.copytree(source / part, root / part, symlinks=True)
    return BuiltWarehouse(root / "raw", root / "state", warehouse_env(root), built.output)


# The small warehouse of the modules that only read one: the review, the Spark comparison's
# DuckDB side, the benchmark's floor. Four months across a year end (the review has a complete
# and a running year; the overseas channel starts on 2024-01-01), with the generator's delivery
# defects, built once per session.
SMALL_WAREHOUSE = {"scale": 0.05, "start": "2023-11-01", "end": "2024-02-29", "seed": 7}


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    return shared_warehouse(tmp_path_factory, "small", **SMALL_WAREHOUSE)
