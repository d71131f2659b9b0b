"""The dbt project as Dagster sees it, and how its manifest is prepared.

`@dbt_assets` reads dbt's manifest when the code location is imported; importing never runs
dbt. The manifest is prepared before:
- by the `warehouse` CLI and the test suite (`ensure_manifest()`, which re-parses only when a
  project file is newer than the manifest);
- by `dagster dev` (`prepare_if_dev()`, dagster-dbt's hook for the development server);
- in production by `dagster-dbt project prepare-and-package --file orchestration/dbt/project.py`
  at deployment (README, "Running in production").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, load_settings

DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
# what dagster-dbt runs: dbt's command line, `--version` answered offline (dbt/launcher.py)
DBT_LAUNCHER = str(Path(sys.executable).with_name("warehouse-dbt"))
PROJECT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_environment() -> dict[str, str]:
    """What dbt processes get on top of the current environment: the warehouse from settings,
    quiet and offline."""
    settings = load_settings()
    return {
        "WAREHOUSE_DB": str(settings.warehouse_db),
        "DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DUCKDB_THREADS": str(settings.duckdb_threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # A build of some models only (a subset chosen in the UI) runs a test only when all the
        # models it reads are in the build, never against models the run left as they were.
        "DBT_INDIRECT_SELECTION": "buildable",
        "DO_NOT_TRACK": "1",
    }


def _newest_project_file() -> float:
    newest = (DBT_PROJECT_DIR / "dbt_project.yml").stat().st_mtime
    for folder in PROJECT_FOLDERS:
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.suffix in PROJECT_FILE_SUFFIXES:
                newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_manifest() -> Path:
    """dbt's manifest, parsed again if a project file is newer (`dbt parse`, ~4 s)."""
    manifest = dbt_project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_project_file():
        return manifest
    command = [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR)]
    subprocess.run(
        [*command, "--profiles-dir", str(DBT_PROJECT_DIR)],
        check=True,
        env={**os.environ, **dbt_environment()},
        cwd=DBT_PROJECT_DIR,
    )
    return manifest


# dagster-dbt's hook: under `dagster dev` (only there) the manifest is parsed at import
dbt_project.prepare_if_dev()
