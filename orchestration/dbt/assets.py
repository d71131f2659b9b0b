"""The dbt project as Dagster assets: one `dbt build` per run, over what changed.

One `@dbt_assets` definition holds every model and seed (staging, intermediate, marts; grouped
by folder in the UI by orchestration.dbt.translator). It is not partitioned: a run's raw
partitions say which files were loaded, and the build rebuilds what those loads changed
(orchestration.dbt.window): the whole project after a code change or a new reference snapshot,
the business dates of the (re)loaded files otherwise, nothing when no file was loaded. The
window reaches the models in the environment variables WAREHOUSE_WINDOW_START / _END (read by
the macro business_date_window: `--vars` would make dbt re-parse the project on every run).

Blocking: dbt stops the models downstream of a failed ERROR test inside the build; the Great
Expectations checks of the dbt layers run after the build and, when an ERROR check fails, keep
the publish step (downstream of every model) from running. The raw checks run before the build
and block it.

dbt unit tests and the per-column generic tests run in full builds (unit tests check code on
fixed inputs, and code changes force a full build); a window build runs the singular tests,
reconciliations and the keys of the rows it wrote among them, and (whole project, DuckDB)
leaves the models of reference data alone (REFERENCE_ONLY_SELECTORS). Row counts of the tables dbt
wrote are read once dbt has exited (it holds the DuckDB file while it runs).
"""

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Config, Failure, Output
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from orchestration.dbt.engines import (
    dbt_target,
    engine_environment,
    land_for_build,
    mirror_spark_tables,
)
from orchestration.dbt.in_process import asset_events, invoke_dbt
from orchestration.dbt.project import DBT_LAUNCHER, dbt_environment, dbt_project
from orchestration.dbt.translator import TESTS_LEFT_TO_DBT, WarehouseTranslator
from orchestration.dbt.window import BuildPlan, plan_build, record_build
from orchestration.resources import WarehouseDuckDBResource
from orchestration.settings import Settings, load_settings

# A window build runs the singular tests (reconciliations, keys of the window's rows in one
# query: tests/assert_incremental_keys_are_unique.sql), not the ~170 per-column generic tests
# nor the unit tests: dbt's cost is per node (~0.15 s each here, whatever the rows), and a
# daily refresh would re-check unchanged code. Full builds (the first, a code change, a
# reference snapshot, full_refresh) and the test suite run them all.
WINDOW_BUILD_EXCLUDED = ["--exclude-resource-type", "unit_test", "--exclude", "test_type:generic"]
# ... and a full build leaves out tests that repeat, over every row, tests it runs anyway
# (tests/test_dbt_selection.py pins why; `dbt build` by hand and tests/test_dbt_build.py run
# them; those that no build from Dagster runs then are no asset checks: TESTS_LEFT_TO_DBT):
# - that one query: every key it reads has unique and not_null tests. It ran last and alone in
#   the full build: 11.7 s of the 30M dbt step's 169 s.
# - the unique test of int_sales_lines_unioned's key: that view is int_sales_lines_checked less
#   its rejected rows, the key passed through. It lay on the critical path (the month
#   aggregates wait for the tests of the view they read): 6.1-7.0 s of the 30M dbt step, the
#   whole union hashed once more.
# - the unique test of int_sales_lines_checked's key, for the same reason (5.2-5.6 s at 30M,
#   between the store lines and the month aggregates). The view is a union of the channel
#   models' rows, keys as they are; each model's key has its own unique test and a fixed
#   prefix ('online-sale-', 'online-refund-', 'store-', 'shopee-' / 'lazada-'), but for the two
#   distributor models, which share 'distributor-': the view's unique test filtered to that
#   prefix (unique_int_sales_lines_checked_distributor_sales_line_id, 0.3 s) covers them.
# - the key tests (unique, not_null) of the two big staging views, stg_online__order_lines and
#   stg_store__pos_lines: every row of a view becomes at least one row of its channel model
#   (int_online_sales_lines, int_store_sales_lines: left joins only, no filter but the window)
#   with the key behind a fixed prefix ('online-sale-' || order_line_id), and the model's key
#   tests fail on a duplicate or null key of the view (tests/test_dbt_build.py makes one). They
#   ran between the view and its channel model, the build's longest: the online model started
#   6.6 s later (30M: 11.5 s of both threads in the four tests).
FULL_BUILD_EXCLUDED = [
    "--exclude",
    "assert_incremental_keys_are_unique",
    *(arg for test in TESTS_LEFT_TO_DBT for arg in ("--exclude", test)),
]
# What a window build of the whole project on DuckDB leaves as the last full build made it: the
# seeds, the reference staging views and the geography tables read reference data only, and a
# window build happens only when neither a reference snapshot nor the dbt project changed since
# (orchestration.dbt.window). 16 of a window build's 56 nodes (their node time at 1M lines:
# ~0.7 of 6.1 s, on 2 threads; measured 2026-12-06). The dimensions stay in: the publish step
# reads them, and Dagster skips a step whose upstream asset a run selected was not
# materialized. A subset picked in the UI builds what it selected.
REFERENCE_ONLY_SELECTORS = [
    "resource_type:seed",
    "path:models/staging/reference",
    "path:models/intermediate/geography",
]
# the translator of the definition, and of the events of an in-process build
TRANSLATOR = WarehouseTranslator()
# dbt materializations whose relation is a table (counting a view's rows would run the view)
TABLE_MATERIALIZATIONS = {"table", "incremental", "seed"}
# run_results.json nodes that are assets (an Output each); tests and hooks are not
ASSET_NODE_PREFIXES = ("model.", "seed.", "snapshot.")


class DbtBuildConfig(Config):
    """Launchpad config of the dbt step."""

    # rebuild every model from scratch, whatever changed (e.g. after restoring raw data)
    full_refresh: bool = False


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=DBT_LAUNCHER,
        profiles_dir=str(dbt_project.profiles_dir),
    )


def dbt_command(plan: BuildPlan, target: str = "dev", skip_reference: bool = False) -> list[str]:
    """The `dbt build` arguments of a plan (see WINDOW_BUILD_EXCLUDED) on a profile target;
    `skip_reference`: a window build leaves out REFERENCE_ONLY_SELECTORS."""
    if plan.kind == "full":
        return ["build", "--target", target, "--full-refresh", *FULL_BUILD_EXCLUDED]
    reference = REFERENCE_ONLY_SELECTORS if skip_reference else []
    return ["build", "--target", target, *WINDOW_BUILD_EXCLUDED, *reference]


def window_environment(window: tuple[date, date] | None) -> dict[str, str]:
    first, last = window or (None, None)
    return {
        "WAREHOUSE_WINDOW_START": first.isoformat() if first else "",
        "WAREHOUSE_WINDOW_END": last.isoformat() if last else "",
    }


def table_relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> `schema.table` of the dbt models and seeds that are stored as tables."""
    return {
        unique_id: f'"{node["schema"]}"."{node["alias"]}"'
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("config", {}).get("materialized") in TABLE_MATERIALIZATIONS
    }


def unique_id_of(event: Any) -> str | None:
    """The dbt node an Output of dagster-dbt's event stream reports (None for other events)."""
    unique_id = (event.metadata or {}).get("unique_id") if isinstance(event, Output) else None
    return None if unique_id is None else str(getattr(unique_id, "value", unique_id))


def unreported_nodes(run_results: Mapping[str, Any], events: list[Any]) -> list[str]:
    """The models and seeds dbt built (run_results.json, or in the run's process the results
    dbtRunner returns) that no Output of the event stream reports. dagster-dbt reads dbt's JSON
    log lines: a line another writer corrupted (Spark's console progress bar did, before the
    profile turned it off) loses its event, and the asset would silently keep its previous
    materialization."""
    reported = {unique_id_of(event) for event in events}
    built = [
        result["unique_id"]
        for result in run_results.get("results", [])
        if result["unique_id"].startswith(ASSET_NODE_PREFIXES) and result["status"] == "success"
    ]
    return sorted(set(built) - reported)


def with_row_counts(
    events: list[Any], duckdb: DuckDBResource, manifest: Mapping[str, Any]
) -> Iterator[Any]:
    """The events, each Output of a table with its row count (`dagster/row_count`).

    Counted once dbt has exited, on one connection. A table's count takes milliseconds (under
    20 ms for every table at 30M lines); views are left out: counting one runs it."""
    tables = table_relations(manifest)

    def table_of(event: Any) -> str | None:
        return tables.get(unique_id_of(event) or "")

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


@contextmanager
def process_environment(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` inside: dagster-dbt hands a copy of os.environ to the dbt
    process it starts, and dbt reads the window and the warehouse path from it."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class DbtBuild:
    """What a dbt step's invocation produced: its Dagster events (in dbt's order), the run
    results, the manifest its events refer to, and dbt's failure (None if it succeeded)."""

    events: list[Any]
    run_results: Mapping[str, Any]
    manifest: Mapping[str, Any]
    error: Exception | None


def builds_whole_project(context: AssetExecutionContext) -> bool:
    """Every model and every check of the definition selected (the schedule's runs, the CLI's,
    a "Materialize all"), as opposed to a subset picked in the UI."""
    return set(context.selected_asset_keys) == set(dbt_models.keys) and set(
        context.selected_asset_check_keys
    ) == set(dbt_models.check_keys)


def build_in_process(
    context: AssetExecutionContext, command: list[str], target_path: Path
) -> DbtBuild:
    """The build in the run's process (orchestration.dbt.in_process)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    build = invoke_dbt(command, target_path)
    return DbtBuild(
        events=list(asset_events(build, context, manifest, TRANSLATOR, target_path)),
        run_results={
            "results": [
                {"unique_id": unique_id, "status": status}
                for unique_id, status in build.node_results
            ]
        },
        manifest=manifest,
        error=build.failure(command),
    )


def build_in_subprocess(
    context: AssetExecutionContext, dbt: DbtCliResource, command: list[str], target_path: Path
) -> DbtBuild:
    """The build as dagster-dbt runs it: a dbt process, the selection of a subset computed by
    dagster-dbt, events read from dbt's JSON log lines."""
    invocation = dbt.cli(command, context=context, target_path=target_path, raise_on_error=False)
    events = list(invocation.stream())
    run_results_path = target_path / "run_results.json"
    return DbtBuild(
        events=events,
        run_results=json.loads(run_results_path.read_text()) if run_results_path.exists() else {},
        manifest=invocation.manifest,
        error=invocation.get_error(),
    )


def _build_and_mirror(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    plan: BuildPlan,
    settings: Settings,
    in_process: bool,
) -> tuple[DbtBuild, list[str]]:
    """The dbt invocation (on Spark: the raw rows landed before, the tables mirrored after) and
    the tables mirrored into the warehouse."""
    landed = land_for_build(settings, plan.window)
    if landed:
        context.log.info(f"{settings.engine}: landed {len(landed)} raw tables as Parquet")
    target_path = dbt_project.project_dir / "target" / "runs" / context.run.run_id[:8]
    _restore_partial_parse(target_path)
    environment = {
        **dbt_environment(),
        **engine_environment(settings),
        **window_environment(plan.window),
    }
    command = dbt_command(plan, dbt_target(settings), skip_reference=in_process)
    route = "in the run's process" if in_process else "as a process"
    context.log.info(f"dbt command: dbt {' '.join(command)} ({route})")
    try:
        with process_environment(environment):
            if in_process:
                build = build_in_process(context, command, target_path)
            else:
                build = build_in_subprocess(context, dbt, command, target_path)
        _save_partial_parse(target_path)
        # on Spark, the manifest of this invocation: its target's materializations (views on
        # DuckDB are tables on Spark), not the one the definitions were built from
        built = json.loads((target_path / "manifest.json").read_text()) if landed else {}
    finally:
        shutil.rmtree(target_path, ignore_errors=True)
    if build.error is not None and settings.engine == "spark":
        # Spark's tables reach the warehouse only from a build that succeeded (mirrored whole)
        raise build.error
    return build, mirror_spark_tables(settings, built)


def run_dbt_build(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: WarehouseDuckDBResource,
    plan: BuildPlan,
) -> Iterator[Any]:
    """`dbt build` of the selected nodes for the plan, on the engine of the settings
    (orchestration.dbt.engines: on Spark, the raw rows are landed first and the tables
    mirrored back after); events replayed with row counts, then dbt's failure raised, if any:
    the models dbt did build are recorded as materialized either way."""
    settings = load_settings()
    in_process = settings.engine == "duckdb" and builds_whole_project(context)
    # In this process a window build shares the run's open warehouse (the profile's
    # config_options). A dbt process, and Spark's landing and mirroring, open the file
    # themselves; a full build rewrites every table: it starts from a closed file, DuckDB's
    # memory its own (and the step closes the file after it, WarehouseDuckDBResource).
    if not in_process or plan.kind == "full":
        duckdb.release()
    build, mirrored = _build_and_mirror(context, dbt, plan, settings, in_process)
    if mirrored:
        context.log.info(f"{settings.engine}: {len(mirrored)} tables mirrored into the warehouse")
    yield from with_row_counts(build.events, duckdb, build.manifest)
    if build.error is not None:
        raise build.error
    lost = unreported_nodes(build.run_results, build.events)
    if lost:
        raise Failure(
            description=f"dbt built {len(lost)} nodes whose events did not reach Dagster: "
            f"{', '.join(lost)}. Their assets were not recorded as materialized, so the step "
            "fails (see the step's stdout for dbt's output).",
            metadata={"unreported_nodes": lost},
        )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    name="dbt_models",
    dagster_dbt_translator=TRANSLATOR,
)
def dbt_models(
    context: AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: DbtCliResource,
    duckdb: WarehouseDuckDBResource,
):
    """`dbt build` of what changed since the last build (orchestration.dbt.window)."""
    with duckdb.get_connection() as connection:
        plan = plan_build(connection, full_refresh=config.full_refresh)
    what = {"full": "full build", "window": "window build", "nothing": "nothing to build"}
    context.log.info(f"dbt: {what[plan.kind]} ({plan.reason})")
    if plan.kind == "nothing":
        # no output: the models keep their last materialization, their checks and the
        # publish step do not run
        return
    if plan.window is not None:
        first, last = plan.window
        context.log.info(f"dbt window {first}..{last}")
    yield from run_dbt_build(context, dbt, duckdb, plan)
    # a build of some models only leaves the others as they were: the next build of the
    # whole project must still rebuild the window, so only a whole build moves the watermark
    if set(context.selected_asset_keys) == set(dbt_models.keys):  # the whole definition
        with duckdb.get_connection() as connection:
            record_build(connection, context.run.run_id, plan)
    else:
        context.log.info("dbt: a subset of the models was built; the build is not recorded")
    if plan.kind == "full":
        duckdb.release()
