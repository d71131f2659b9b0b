"""The Dagster instance the CLI uses: DAGSTER_HOME with the project's dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from orchestration.settings import load_settings

TEMPLATE = Path(__file__).with_name("dagster.yaml")


# A run over a range of months plans each asset once, not once per month: without it a full
# build stored ~2,400 planned events (every unpartitioned asset x 48 months), ~20 s. Dagster's
# trade-off: the months of a failed range run are not marked failed in the UI (the run is).
ONE_PLANNED_EVENT_PER_ASSET = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


def prepare_dagster_home() -> Path:
    """Use $DAGSTER_HOME, or .warehouse/dagster_home; give it a dagster.yaml if it has none.
    Also sets Dagster's environment for this process and the ones it starts (`warehouse ui`):
    ONE_PLANNED_EVENT_PER_ASSET, unless already set."""
    for name, value in ONE_PLANNED_EVENT_PER_ASSET.items():
        os.environ.setdefault(name, value)
    home = Path(os.environ.get("DAGSTER_HOME") or load_settings().state_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()
