"""The Dagster instance the CLI uses: DAGSTER_HOME with the project's dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from orchestration.settings import load_settings

TEMPLATE = Path(__file__).with_name("dagster.yaml")


def prepare_dagster_home() -> Path:
    """Use $DAGSTER_HOME, or .warehouse/dagster_home; give it a dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or load_settings().state_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()
