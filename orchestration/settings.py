"""Settings from environment variables, with defaults that work from a fresh checkout.

Every path defaults to a location inside the repository so that `warehouse run` works with
no configuration; production deployments point them elsewhere.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DEFAULT_RAW_DIR = REPO_ROOT / "data" / "generated"
DEFAULT_STATE_DIR = REPO_ROOT / ".warehouse"
# The schema of the serving database that holds the marts (BI tools query marts.<table>)
SERVING_SCHEMA = "marts"


class SettingsError(ValueError):
    """An environment variable holds a value the pipeline cannot work with."""


def path_with_environment_scripts(path: str | None) -> str:
    """PATH with this Python environment's scripts (dbt, dagster, warehouse) first, so child
    processes find them when the environment is not activated."""
    return os.pathsep.join([str(Path(sys.executable).parent), path or ""])


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse_db: Path
    serving_db: Path
    state_dir: Path
    duckdb_memory_limit: str
    duckdb_threads: int
    dagster_ui_url: str
    # Data Docs pages for GX checks: "failures" (a check that failed or could not run),
    # "always", or "never". Each page costs ~0.6 s: on every check it would double the GX time
    # of a one-day refresh, and the check's metadata already holds what a passing run says.
    data_docs: str = "failures"
    # The engine dbt builds the models on: "duckdb" (the warehouse file itself) or "spark"
    # (dbt-spark; the raw tables land as Parquet in raw_landing_dir, Spark's tables go under
    # spark_dir, and the tables the checks and the publish step read are mirrored back into the
    # warehouse file: orchestration/dbt/engines.py).
    engine: str = "duckdb"

    @property
    def raw_landing_dir(self) -> Path:
        return _path_from_env("RAW_LANDING_DIR", self.state_dir / "raw_landing")

    @property
    def spark_dir(self) -> Path:
        return self.state_dir / "spark"

    # Where the Dagster instance keeps runs and events: "sqlite" (files in DAGSTER_HOME, one
    # host) or "postgres" (dagster-postgres; the DAGSTER_PG_* variables). Chooses the template
    # a new DAGSTER_HOME gets (orchestration/instance.py).
    dagster_storage: str = "sqlite"

    @property
    def data_docs_dir(self) -> Path:
        return self.state_dir / "data_docs"

    @property
    def alert_log(self) -> Path:
        return self.state_dir / "alerts.log"


def load_settings() -> Settings:
    """Read the settings now (not at import), so tests can point them at temp folders.
    Raises SettingsError for a value that would fail later (see serving_db_problem)."""
    state_dir = _path_from_env("WAREHOUSE_STATE_DIR", DEFAULT_STATE_DIR)
    serving_db = _path_from_env("SERVING_DB", state_dir / "serving.duckdb")
    if problem := serving_db_problem(serving_db):
        raise SettingsError(f"SERVING_DB={serving_db}: {problem}")
    return Settings(
        raw_dir=_path_from_env("RAW_DIR", DEFAULT_RAW_DIR),
        warehouse_db=_path_from_env("WAREHOUSE_DB", state_dir / "warehouse.duckdb"),
        serving_db=serving_db,
        state_dir=state_dir,
        duckdb_memory_limit=os.environ.get("DUCKDB_MEMORY_LIMIT", "4GB"),
        duckdb_threads=int(os.environ.get("DUCKDB_THREADS", str(os.cpu_count() or 2))),
        dagster_ui_url=os.environ.get("DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/"),
        data_docs=_data_docs_policy(),
        engine=_engine(),
        dagster_storage=_dagster_storage(),
    )


ENGINES = ("duckdb", "spark")


def _engine() -> str:
    value = os.environ.get("WAREHOUSE_ENGINE", "").strip().lower() or "duckdb"
    if value not in ENGINES:
        raise SettingsError(f"WAREHOUSE_ENGINE={value!r}: must be one of {', '.join(ENGINES)}")
    return value


def duckdb_catalog_name(path: Path) -> str:
    """The name DuckDB gives the database of a file it opens or attaches without an alias:
    the file name without its leading dots, up to the next dot (`marts.v2.duckdb` -> `marts`).
    The publish's temporary file `.<name>.<publish id>.tmp` gets the same name. (DuckDB also
    appends `_db` to `main`, `system` and `temp`; no clash with `marts` either way.)"""
    stripped = path.name.lstrip(".")
    return stripped.split(".")[0] if stripped else path.name


def serving_db_problem(path: Path) -> str | None:
    """Why `path` cannot be the serving database, or None.

    A client that opens the file (the duckdb CLI, Python, Superset, Metabase, DBeaver) reaches
    its tables as `marts.<table>`. DuckDB names the file's catalog after the file; a catalog
    named like the schema makes `marts.<table>` ambiguous ("Ambiguous reference to catalog or
    schema"), for the publish's own audit and for every BI query. Identifiers are
    case-insensitive, so `Marts.duckdb` clashes too."""
    catalog = duckdb_catalog_name(Path(path))
    if catalog.lower() == SERVING_SCHEMA:
        return (
            f"DuckDB names this file's database {catalog!r}, the name of the schema "
            f"{SERVING_SCHEMA!r} that holds the marts, so `{SERVING_SCHEMA}.<table>` would be "
            f"ambiguous for the publish's audit and for every BI client. Choose a file name "
            f"whose part before the first dot is not {SERVING_SCHEMA!r}, e.g. serving.duckdb "
            f"or marts_serving.duckdb."
        )
    return None


DATA_DOCS_POLICIES = ("failures", "always", "never")


def _data_docs_policy() -> str:
    value = os.environ.get("WAREHOUSE_DATA_DOCS", "").strip().lower() or "failures"
    if value not in DATA_DOCS_POLICIES:
        raise SettingsError(
            f"WAREHOUSE_DATA_DOCS must be one of {DATA_DOCS_POLICIES}, got {value!r}"
        )
    return value


DAGSTER_STORAGES = ("sqlite", "postgres")
# What orchestration/dagster.postgres.yaml reads (`env:` entries): Dagster resolves them when it
# loads the instance, in every process that loads it (CLI, webserver, daemon, run workers).
POSTGRES_ENV = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)


def _dagster_storage() -> str:
    value = os.environ.get("DAGSTER_STORAGE", "").strip().lower() or "sqlite"
    if value not in DAGSTER_STORAGES:
        raise SettingsError(f"DAGSTER_STORAGE must be one of {DAGSTER_STORAGES}, got {value!r}")
    if value == "postgres" and (problem := postgres_env_problem()):
        raise SettingsError(f"DAGSTER_STORAGE=postgres: {problem}")
    return value


def postgres_env_problem() -> str | None:
    """Why the DAGSTER_PG_* variables cannot configure the PostgreSQL instance, or None.

    Checked before any work: Dagster itself only notices an unset variable when it loads the
    instance, with a message that does not name the others. DAGSTER_PG_PASSWORD may be set
    empty (a server that trusts local connections); unset, it is missing."""
    missing = [
        name
        for name in POSTGRES_ENV
        if os.environ.get(name) is None
        or (name != "DAGSTER_PG_PASSWORD" and not os.environ[name].strip())
    ]
    if missing:
        return f"set {', '.join(missing)} (README: Running on a cluster)"
    port = os.environ["DAGSTER_PG_PORT"].strip()
    if not port.isdigit():
        return f"DAGSTER_PG_PORT must be a port number, got {port!r}"
    return None
