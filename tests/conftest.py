"""Shared test helpers: build a real warehouse from generated data with the real CLI; a free
port on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


def build_warehouse(root: Path, **generate_args: object) -> BuiltWarehouse:
    """Generate raw feeds into root/raw, then `warehouse run` them into root/state."""
    raw_dir, state_dir = root / "raw", root / "state"
    generate(raw_dir, progress=None, **generate_args)
    env = {
        **os.environ,
        "RAW_DIR": str(raw_dir),
        "WAREHOUSE_STATE_DIR": str(state_dir),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DUCKDB_MEMORY_LIMIT": "2GB",
    }
    for key in ("WAREHOUSE_DB", "SERVING_DB"):
        env.pop(key, None)
    built = BuiltWarehouse(raw_dir, state_dir, env, "")
    result = built.run_cli("run", "--quiet")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return BuiltWarehouse(raw_dir, state_dir, env, result.stdout)
