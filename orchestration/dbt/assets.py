"""The dbt models as Dagster assets: one definition per layer (and per partitions definition).

Several definitions instead of one so that blocking checks between layers work: a failed
ERROR check on a staging model stops the intermediate step (within one `dbt build`, Dagster
cannot interrupt dbt; see dagster issue 19821). Row counts are read once dbt has finished,
because dbt holds the DuckDB file while it runs. dbt runs in the Dagster process
(orchestration.dbt.in_process), not as a subprocess.

| definition | models | partitions |
|---|---|---|
| `dbt_reference` | seeds, `staging/reference` views | none |
| `dbt_staging` | the feed staging models (views; online order and POS lines incremental) | daily |
| `dbt_intermediate` | `intermediate` (incremental channel lines and monthly aggregates) | daily |
| `dbt_marts` | marts and dimensions (full tables, from the monthly aggregates: seconds) | none |

A daily definition's run gets its partition window (one day, or a whole range in one run:
BackfillPolicy.single_run) in the environment variables WAREHOUSE_WINDOW_START / _END (read by
the macro business_date_window; `--vars` would invalidate dbt's partial parse); the window is
widened to every business date that the window's feed files hold now or held before (a late
POS file of day D with rows of D-3 refreshes D-3 too). A window over every partition is a full
rebuild (`--full-refresh`, no vars).

The marts are unpartitioned (rebuilt whole from the aggregates), but in a partition run their
step gets the run's window too, widened the same way: the singular tests that reconcile the
marts with the sales lines then read the months that the window rebuilt, not the whole fact
(macro rebuilt_months); without a window they check every month.

In a partition run (the daily job, the file sensor, a backfill) dbt unit tests are left out, and
`dbt_reference` starts no dbt at all while its inputs are those of its last successful build
(orchestration.dbt.unchanged): together ~7 s of a one-day refresh.
"""

import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetExecutionContext, Output, PartitionsDefinition
from dagster_dbt import DbtCliInvocation, DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource
from packaging import version

from orchestration.automation.partitions import (
    DAILY_TABLES,
    covers_all_partitions,
    daily_partitions,
    feed_files_between,
    run_partition_keys,
    single_run_backfill,
    window_dates,
)
from orchestration.dbt.in_process import in_process_popen
from orchestration.dbt.project import DBT_EXECUTABLE, dbt_environment, dbt_project
from orchestration.dbt.translator import WarehouseTranslator
from orchestration.dbt.unchanged import (
    existing_relations,
    inputs_fingerprint,
    last_build,
    layer_is_complete,
    record_build,
)
from orchestration.ingest.files import relative_path
from orchestration.resources import RawFilesResource
from orchestration.settings import load_settings


@dataclass(frozen=True)
class DbtCommand:
    args: list[str]
    window: tuple[date, date] | None = None  # business dates, inclusive; None = everything


@dataclass(frozen=True)
class Layer:
    select: str
    exclude: str | None = None
    partitions_def: PartitionsDefinition | None = None
    # incremental models: a window over every partition rebuilds them (--full-refresh)
    incremental: bool = False
    # unpartitioned, but a partition run of these partitions passes it the run's window
    run_window: PartitionsDefinition | None = None
    # in partition runs, not rebuilt while its inputs are unchanged (orchestration.dbt.unchanged)
    skip_when_unchanged: bool = False

    def full_build(self) -> DbtCommand:
        """`dbt build` of everything (no window, or a window over every partition);
        incremental models rebuilt from scratch."""
        return DbtCommand(["build", "--full-refresh"] if self.incremental else ["build"])


LAYERS: dict[str, Layer] = {
    "reference": Layer(
        "resource_type:seed path:models/staging/reference", skip_when_unchanged=True
    ),
    # incremental: the big feeds' staging models are tables built on the window
    "staging": Layer(
        "path:models/staging", "path:models/staging/reference", daily_partitions, incremental=True
    ),
    "intermediate": Layer("path:models/intermediate", None, daily_partitions, incremental=True),
    "marts": Layer("path:models/marts", run_window=daily_partitions),
}
LAYER_SELECTIONS = {name: layer.select for name, layer in LAYERS.items()}

# The business date of a raw row, per daily feed (as staging computes it).
RAW_BUSINESS_DATE = {
    "online_order_lines": "cast(timezone('Asia/Shanghai', created_at) as date)",
    "online_refunds": "cast(timezone('Asia/Shanghai', refunded_at) as date)",
    "store_pos_lines": 'cast("销售日期" as date)',
    "shopee_orders": 'cast("Order Creation Date" as date)',
    "lazada_orders": 'cast("createTime" as date)',
}
FACT_TABLE = "intermediate.int_sales_lines_checked"
UNIT_TESTS_EXCLUDED = ["--exclude-resource-type", "unit_test"]


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two fixed costs of every dbt invocation.

    - dagster-dbt builds a dbt Core adapter in the Dagster process (it loads the profile and
      every macro: ~1.7 s per step). It serves only `fetch_row_counts()` /
      `fetch_column_metadata()`, which this project does not use: row counts are read once
      dbt has exited (see `_with_row_counts`).
    - It asks the dbt executable its version by running `dbt --version`, a process of its
      own (~2 s, once per run). The executable is this environment's dbt (DBT_EXECUTABLE),
      so the installed dbt-core package says the same.

    Both override private members of the pinned dagster-dbt (0.29); if they are renamed,
    dagster-dbt's own behaviour (slower, same result) comes back.

    And with `in_process` (the default), dbt runs in the Dagster process instead of a
    subprocess of its own (orchestration.dbt.in_process: ~2-3 s less per dbt step).
    """

    # False: a dbt subprocess per step, as dagster-dbt does (isolation from a crash of dbt)
    in_process: bool = True

    def _initialize_dbt_core_adapter(self, args: Any) -> Any:
        return None

    @property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        """dagster-dbt's `cli()`; dbt has finished when it returns if run in-process."""
        if not self.in_process:
            return super().cli(args, **kwargs)
        with in_process_popen():
            return super().cli(args, **kwargs)


def dbt_resource() -> DbtCliResource:
    return WarehouseDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=DBT_EXECUTABLE,
        profiles_dir=str(dbt_project.profiles_dir),
        in_process=load_settings().dbt_in_process,
    )


# dbt materializations whose relation is a table (counting a view's rows would run the view)
TABLE_MATERIALIZATIONS = {"table", "incremental", "seed"}


def table_relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> `schema.table` of the dbt models and seeds that are stored as tables."""
    return {
        unique_id: f'"{node["schema"]}"."{node["alias"]}"'
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("config", {}).get("materialized") in TABLE_MATERIALIZATIONS
    }


def _with_row_counts(
    events: list[Any], duckdb: DuckDBResource, manifest: Mapping[str, Any]
) -> Iterator[Any]:
    """The events, each Output of a table with its row count (`dagster/row_count`).

    Counted once dbt has exited (it holds the DuckDB file while it runs), on one connection
    (opening the file costs ~50 ms). A table's count takes milliseconds (under 20 ms for every
    table at 30M lines); views are left out: counting one runs it, 1-2 s for the fact views."""
    tables = table_relations(manifest)

    def table_of(event: Any) -> str | None:
        unique_id = (event.metadata or {}).get("unique_id") if isinstance(event, Output) else None
        return tables.get(str(getattr(unique_id, "value", unique_id)))

    if not any(table_of(event) for event in events):
        yield from events
        return
    with duckdb.get_connection() as connection:
        for event in events:
            table = table_of(event)
            if table is None:
                yield event
                continue
            count = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            yield Output(
                value=event.value,
                output_name=event.output_name,
                metadata={**event.metadata, "dagster/row_count": count},
                data_version=event.data_version,
                tags=event.tags,
            )


def _readable(connection: Any, relation: str) -> bool:
    """False for a view that no longer binds (a table under it was dropped: that model is
    created whole by this run, see macro incremental_window)."""
    try:
        connection.execute(f"SELECT 1 FROM {relation} LIMIT 0")
    except duckdb.Error:
        return False
    return True


def touched_business_dates(
    duckdb: DuckDBResource, raw_dir: Path, first: date, last: date
) -> tuple[date, date] | None:
    """Earliest and latest business date of the rows that the daily feed files of [first, last]
    hold in raw now, or held when the fact table was last built; None if there are none."""
    files = sorted(
        {
            relative_path(raw_dir, path)
            for table in DAILY_TABLES
            for path in feed_files_between(raw_dir, table, first, last)
        }
    )
    if not files:
        return None
    with duckdb.get_connection() as connection:
        existing = existing_relations(connection)
        parts = [
            f"SELECT {expression} AS d FROM raw.{table} WHERE _source_file IN "
            "(SELECT f FROM window_files)"
            for table, expression in RAW_BUSINESS_DATE.items()
            if f"raw.{table}" in existing
        ]
        if FACT_TABLE in existing and _readable(connection, FACT_TABLE):
            parts.append(
                f"SELECT business_date AS d FROM {FACT_TABLE} WHERE _source_file IN "
                "(SELECT f FROM window_files)"
            )
        if not parts:
            return None
        connection.execute(
            "CREATE OR REPLACE TEMP TABLE window_files AS SELECT unnest($files::VARCHAR[]) AS f",
            {"files": files},
        )
        low, high = connection.execute(
            f"SELECT min(d), max(d) FROM ({' UNION ALL '.join(parts)})"
        ).fetchone()
        connection.execute("DROP TABLE window_files")
    return None if low is None else (low, high)


# (run id, first, last) -> touched_business_dates of the latest run that asked
_touched_cache: dict[tuple[str, date, date], tuple[date, date] | None] = {}


def _touched_in_run(
    run_id: str, duckdb: DuckDBResource, raw_dir: Path, first: date, last: date
) -> tuple[date, date] | None:
    """touched_business_dates, computed once per run: the staging, intermediate and marts
    steps ask the same question, and the marts must get the window the intermediate step
    rebuilt, from the fact as it was before (staging changes neither raw nor the fact);
    ~0.05 s at 1M lines, ~0.5 s at 30M (the fact view read by _source_file)."""
    key = (run_id, first, last)
    if key not in _touched_cache:
        _touched_cache.clear()
        _touched_cache[key] = touched_business_dates(duckdb, raw_dir, first, last)
    return _touched_cache[key]


def _partition_window(context: AssetExecutionContext, layer: Layer) -> tuple[date, date] | None:
    """The run's partition window as business dates: the step's own (a daily layer), or the
    run's (its tags) for a layer with `run_window`; None outside a partition run."""
    if layer.partitions_def is not None:
        return window_dates(*context.partition_time_window)
    keys = run_partition_keys(context.run.tags)
    if layer.run_window is None or keys is None:
        return None
    first, last = (layer.run_window.time_window_for_partition_key(key) for key in keys)
    return window_dates(first.start, last.end)


def dbt_build_command(
    context: AssetExecutionContext, layer: Layer, duckdb: DuckDBResource, raw_dir: Path
) -> DbtCommand:
    """`dbt build` for the run's partition window (see the module docstring)."""
    window = _partition_window(context, layer)
    if window is None:
        return layer.full_build()
    first, last = window
    if covers_all_partitions(layer.partitions_def or layer.run_window, first, last):
        context.log.info(f"window {first}..{last} covers every partition: full rebuild")
        return layer.full_build()
    # every layer on the window widens it alike: the marts see what the daily layers rebuilt
    touched = _touched_in_run(context.run.run_id, duckdb, raw_dir, first, last)
    if touched is not None and (touched[0] < first or touched[1] > last):
        context.log.info(
            f"feed files of {first}..{last} hold business dates "
            f"{touched[0]}..{touched[1]}: window widened"
        )
        first, last = min(first, touched[0]), max(last, touched[1])
    context.log.info(f"dbt window {first}..{last}")
    return DbtCommand(["build"], (first, last))


def _window_environment(window: tuple[date, date] | None) -> dict[str, str]:
    first, last = window or (None, None)
    return {
        "WAREHOUSE_WINDOW_START": first.isoformat() if first else "",
        "WAREHOUSE_WINDOW_END": last.isoformat() if last else "",
    }


def _partial_parse_cache() -> Path:
    """dbt's partial-parse state, kept per warehouse: each invocation gets its own target path
    (dagster-dbt's advice, so that concurrent runs don't share artifacts), and without this
    copy every invocation would parse the whole project again (~5 s)."""
    return load_settings().state_dir / "dbt" / "partial_parse.msgpack"


def _restore_partial_parse(target_path: Path) -> None:
    cache = _partial_parse_cache()
    if cache.exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, target_path / "partial_parse.msgpack")


def _save_partial_parse(target_path: Path) -> None:
    produced = target_path / "partial_parse.msgpack"
    if not produced.exists():
        return
    cache = _partial_parse_cache()
    cache.parent.mkdir(parents=True, exist_ok=True)
    staged = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    shutil.copyfile(produced, staged)
    os.replace(staged, cache)  # atomic: concurrent steps never read half a file


def run_dbt_build(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    command: DbtCommand | None = None,
) -> Iterator[Any]:
    """`dbt build` of the selected models; events are replayed with row counts added."""
    command = command or DbtCommand(["build"])
    target_path = (
        dbt_project.project_dir
        / "target"
        / "runs"
        / f"{context.run.run_id[:8]}-{context.op_execution_context.op.name}"
    )
    _restore_partial_parse(target_path)
    # dbt.cli() hands a copy of os.environ to dbt (orchestration.dbt.in_process)
    os.environ.update({**dbt_environment(), **_window_environment(command.window)})
    try:
        invocation = dbt.cli(command.args, context=context, target_path=target_path)
        events = list(invocation.stream())
        _save_partial_parse(target_path)
    finally:
        for name in _window_environment(None):
            os.environ.pop(name, None)
        shutil.rmtree(target_path, ignore_errors=True)
    yield from _with_row_counts(events, duckdb, invocation.manifest)


def _in_partition_run(context: AssetExecutionContext) -> bool:
    """A run of the daily job, the file sensor or a backfill (it carries a partition)."""
    return run_partition_keys(context.run.tags) is not None


def _build_unless_unchanged(
    context: AssetExecutionContext,
    layer_name: str,
    may_skip: bool,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    command: DbtCommand,
) -> Iterator[Any]:
    """`dbt build` of the layer, or (if `may_skip`) nothing when its inputs are those of its
    last successful build; see orchestration.dbt.unchanged."""
    assets_def = context.assets_def
    upstream = assets_def.dependency_keys - set(assets_def.keys)
    with duckdb.get_connection() as connection:
        existing = existing_relations(connection)
        fingerprint = inputs_fingerprint(connection, upstream, existing)
        previous = last_build(connection, layer_name, existing)
    complete = layer_is_complete(assets_def.keys, existing)
    if may_skip and complete and previous is not None and previous.fingerprint == fingerprint:
        reason = (
            f"not rebuilt: dbt code, seeds and upstream tables unchanged since its build "
            f"of {previous.built_at:%Y-%m-%d %H:%M:%S} UTC (run {previous.run_id[:8]})"
        )
        context.log.info(f"dbt_{layer_name}: {reason}")
        for output_name in context.selected_output_names:
            yield Output(None, output_name=output_name, metadata={"dbt/not_rebuilt": reason})
        return
    yield from run_dbt_build(context, dbt, duckdb, command)
    # only a build of the whole layer stands for the layer (a subset leaves others as they were)
    if set(context.selected_asset_keys) == set(assets_def.keys):
        with duckdb.get_connection() as connection:
            record_build(connection, layer_name, fingerprint, context.run.run_id)


def _layer_assets(name: str, partitioned: bool = True):
    layer = LAYERS[name]
    partitions_def = layer.partitions_def if partitioned else None

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select=layer.select,
        exclude=layer.exclude,
        name=f"dbt_{name}",
        dagster_dbt_translator=WarehouseTranslator(),
        partitions_def=partitions_def,
        backfill_policy=single_run_backfill if partitions_def is not None else None,
    )
    def _assets(
        context: AssetExecutionContext,
        dbt: DbtCliResource,
        duckdb: DuckDBResource,
        raw_files: RawFilesResource,
    ):
        if not partitioned:
            # the unpartitioned variant (full rebuilds): incremental models rebuilt from scratch
            command = layer.full_build()
        else:
            command = dbt_build_command(context, layer, duckdb, raw_files.path)
        in_partition_run = partitioned and _in_partition_run(context)
        if in_partition_run:
            # unit tests check code on fixed inputs: `warehouse run`, a build from the UI
            # and CI run them; a daily refresh would repeat them for nothing (dbt's advice)
            command = replace(command, args=[*command.args, *UNIT_TESTS_EXCLUDED])
        if layer.skip_when_unchanged:
            yield from _build_unless_unchanged(
                context, name, in_partition_run, dbt, duckdb, command
            )
        else:
            yield from run_dbt_build(context, dbt, duckdb, command)

    return _assets


def build_dbt_layer_assets(partitioned: bool = True) -> list:
    """The dbt layers as Dagster assets; `partitioned=False` gives the same assets without
    partitions, each run a full rebuild (orchestration.pipeline's full history run)."""
    return [_layer_assets(name, partitioned) for name in LAYERS]


dbt_layer_assets = build_dbt_layer_assets()
dbt_reference_assets, dbt_staging_assets, dbt_intermediate_assets, dbt_marts_assets = (
    dbt_layer_assets
)
# partitioned dbt assets and their definitions (GX checks on a partitioned asset need it)
dbt_partitions_defs = {
    key: assets_def.partitions_def
    for assets_def in dbt_layer_assets
    if assets_def.partitions_def is not None
    for key in assets_def.keys
}
