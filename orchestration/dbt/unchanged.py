"""Skipping, in partition runs, a dbt layer whose inputs have not changed since it was built.

The reference layer (seeds, and views over the reference snapshots) is part of every daily
run, but what it builds changes only with the dbt code or a new reference snapshot. Rebuilding
it anyway cost a dbt process (~3 s of start-up) and ~50 dbt tests reported as asset checks:
~6 s of a 40 s one-day refresh. So a partition run (the schedule, the file sensor, a backfill)
first compares the layer's inputs with those of its last successful build:

- the dbt project's files (models, macros, seeds, tests, project and profile): any change of
  code or seed rebuilds;
- each upstream table outside the layer (the raw reference snapshots): row count and latest
  `_loaded_at`, i.e. any load since, even of identical content;
- that every relation of the layer still exists in the warehouse.

If all match, the step reports each asset as not rebuilt (metadata `dbt/not_rebuilt`) instead
of starting dbt; its dbt tests then show as not executed in that run (they passed on these
very inputs at the recorded build). A run without a partition (materializing the layer in the
UI, `warehouse run`) always rebuilds. The fingerprint of a build is recorded in the warehouse
(table `orchestration.dbt_layer_builds`) only once its `dbt build` has succeeded, tests
included, and a rebuilt warehouse file has none, so a failed or lost build is never skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
from dagster import AssetKey

from orchestration.settings import DBT_PROJECT_DIR

BUILDS_TABLE = "orchestration.dbt_layer_builds"
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml")


@dataclass(frozen=True)
class LastBuild:
    fingerprint: str
    built_at: datetime
    run_id: str


def relation(key: AssetKey) -> str:
    """schema.table of an asset key [schema, table] (dbt models, seeds and raw sources)."""
    return ".".join(key.path[-2:])


def project_fingerprint() -> str:
    """sha256 over the dbt project's source files (paths and contents)."""
    digest = hashlib.sha256()
    paths = [DBT_PROJECT_DIR / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        paths.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    for path in sorted(p for p in paths if p.is_file()):
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def existing_relations(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """schema.table of every table and view in the warehouse."""
    rows = connection.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
    ).fetchall()
    return {row[0] for row in rows}


def _table_state(connection: duckdb.DuckDBPyConnection, name: str, existing: set[str]) -> str:
    if name not in existing:
        return f"{name}:missing"
    columns = {
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema || '.' || table_name = ?",
            [name],
        ).fetchall()
    }
    loaded = "max(_loaded_at)" if "_loaded_at" in columns else "NULL"
    count, last_loaded = connection.execute(f"SELECT count(*), {loaded} FROM {name}").fetchone()
    return f"{name}:{count}:{last_loaded}"


def inputs_fingerprint(
    connection: duckdb.DuckDBPyConnection, upstream: Iterable[AssetKey], existing: set[str]
) -> str:
    """The dbt project and the state of each upstream table (`existing`: existing_relations)."""
    parts = [project_fingerprint()]
    parts += [
        _table_state(connection, name, existing)
        for name in sorted({relation(key) for key in upstream})
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def layer_is_complete(keys: Iterable[AssetKey], existing: set[str]) -> bool:
    return all(relation(key) in existing for key in keys)


def last_build(
    connection: duckdb.DuckDBPyConnection, layer: str, existing: set[str]
) -> LastBuild | None:
    if BUILDS_TABLE not in existing:
        return None
    row = connection.execute(
        f"SELECT inputs_fingerprint, built_at, run_id FROM {BUILDS_TABLE} WHERE layer = ?", [layer]
    ).fetchone()
    return LastBuild(*row) if row else None


def record_build(
    connection: duckdb.DuckDBPyConnection, layer: str, fingerprint: str, run_id: str
) -> None:
    schema = BUILDS_TABLE.split(".")[0]
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    connection.execute(
        f"""CREATE TABLE IF NOT EXISTS {BUILDS_TABLE} (
            layer VARCHAR PRIMARY KEY, inputs_fingerprint VARCHAR NOT NULL,
            built_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL)"""
    )
    connection.execute(
        f"INSERT OR REPLACE INTO {BUILDS_TABLE} VALUES (?, ?, ?, ?)",
        [layer, fingerprint, datetime.now(UTC).replace(tzinfo=None), run_id],
    )
