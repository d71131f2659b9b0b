"""The dbt project as Dagster sees it, and a manifest that is always current.

`@dbt_assets` reads the manifest at import time. `dagster dev` prepares it through
`prepare_if_dev()`; everything else (the CLI, tests, the daemon) goes through
`ensure_manifest()`, which re-parses only when a project file is newer than the manifest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, load_settings

DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
PROJECT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_environment() -> dict[str, str]:
    """Environment for dbt processes: the warehouse path from settings, quiet and offline."""
    settings = load_settings()
    return {
        **os.environ,
        "WAREHOUSE_DB": str(settings.warehouse_db),
        "DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DUCKDB_THREADS": str(settings.duckdb_threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # Each layer is built by its own step: run a test with the layer whose models it
        # needs, never before them (a test between layers runs with the later one).
        "DBT_INDIRECT_SELECTION": "buildable",
        "DO_NOT_TRACK": "1",
    }


def _newest_project_file() -> float:
    newest = (DBT_PROJECT_DIR / "dbt_project.yml").stat().st_mtime
    for folder in ("models", "macros", "seeds", "tests", "snapshots", "analyses"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.suffix in PROJECT_FILE_SUFFIXES:
                newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_manifest() -> Path:
    manifest = dbt_project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_project_file():
        return manifest
    subprocess.run(
        [
            DBT_EXECUTABLE,
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        check=True,
        env=dbt_environment(),
        cwd=DBT_PROJECT_DIR,
    )
    return manifest


dbt_project.prepare_if_dev()
ensure_manifest()
