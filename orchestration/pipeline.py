"""Running the whole asset graph in-process, stage by stage, with progress and a verdict.

The daily assets (feeds, staging views, intermediate models) are partitioned by business day
and the distributor feed by month. Two ways to build the whole history, chosen with
WAREHOUSE_PIPELINE_MODE:

- `full` (default, `warehouse run`): the same assets without partitions (same keys, same
  code), one run per stage; every file is loaded and the incremental models are rebuilt with
  --full-refresh. Measured: as fast as before partitioning.
- `backfill`: the partitioned definitions, each stage in ONE run per partitions definition over
  all of its partitions (a partition range, what a single-run backfill does), so Dagster records
  every day as materialized. Same tables, but Dagster writes one materialization event per
  asset and day (about 24 daily assets over four years: ~35,000 events, a few ms each on the
  project's SQLite event log, orchestration/event_log.py, 15-70 ms on Dagster's own class), so
  the demo does not use it by default.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable

from dagster import AssetSelection, DagsterInstance, Definitions, PartitionsDefinition

from orchestration.automation.partitions import RANGE_END_TAG, RANGE_START_TAG
from orchestration.instance import get_instance

# The CLI prints its own progress and every failure (_report_failure); Dagster's console
# logger only speaks up for errors (its warnings are in the run's event log, in the UI).
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
STAGES = (
    (("raw",), "ingest raw feeds"),
    (("seeds", "staging"), "dbt staging"),
    (("intermediate",), "dbt intermediate"),
    (("marts",), "dbt marts"),
    (("publish",), "publish to the serving database"),
)


def range_tags(partitions_def: PartitionsDefinition | None) -> dict[str, str] | None:
    """Tags of one run over every partition of the definition; {} when unpartitioned;
    None when it has no partition yet."""
    if partitions_def is None:
        return {}
    first = partitions_def.get_first_partition_key()
    last = partitions_def.get_last_partition_key()
    if first is None or last is None:
        return None
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def _report_failure(result, progress: Callable[[str], None]) -> None:
    for event in result.all_events:
        if event.is_failure and event.event_specific_data is not None:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                progress(f"      {event.step_key}: {error.message.strip()[:2000]}")


def full_rebuild_definitions() -> Definitions:
    """The code location's assets without partitions: one run rebuilds the whole history."""
    from orchestration.automation.alerts import AlertNotifier
    from orchestration.dbt.assets import build_dbt_layer_assets, dbt_resource
    from orchestration.definitions import defs, publish_asset, report_asset
    from orchestration.ingest.assets import unpartitioned_ingest_assets
    from orchestration.quality.checks import build_gx_asset_checks
    from orchestration.resources import build_resources
    from orchestration.settings import EXPECTATIONS_DIR

    return Definitions(
        assets=[
            *unpartitioned_ingest_assets(),
            *build_dbt_layer_assets(partitioned=False),
            publish_asset,
            report_asset,
        ],
        asset_checks=build_gx_asset_checks(EXPECTATIONS_DIR),
        # settings read now (not when the code location was imported)
        resources={**build_resources(), "dbt": dbt_resource(), "alerts": AlertNotifier()},
        executor=defs.executor,
    )


def pipeline_mode() -> str:
    mode = os.environ.get("WAREHOUSE_PIPELINE_MODE", "full").strip().lower() or "full"
    if mode not in ("full", "backfill"):
        raise ValueError(f"WAREHOUSE_PIPELINE_MODE={mode!r}: expected full or backfill")
    return mode


def run_pipeline(
    progress: Callable[[str], None] = print,
    instance: DagsterInstance | None = None,
    mode: str | None = None,
) -> bool:
    """Materialize every stage in order; stop at the first failed run or blocking check."""
    if (mode or pipeline_mode()) == "full":
        defs = full_rebuild_definitions()
    else:
        from orchestration.definitions import defs

    instance = instance or get_instance()
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    for number, (groups, label) in enumerate(STAGES, start=1):
        keys = sorted(AssetSelection.groups(*groups).resolve(graph))
        progress(f"[{number}/{len(STAGES)}] {label}: {len(keys)} assets ...")
        started = time.perf_counter()
        # one run per partitions definition (a run holds one); unpartitioned assets first
        by_partitions: dict[PartitionsDefinition | None, list] = {}
        for key in keys:
            by_partitions.setdefault(graph.get(key).partitions_def, []).append(key)
        ordered = sorted(by_partitions.items(), key=lambda item: item[0] is not None)
        run_ids = []
        for partitions_def, selected in ordered:
            tags = range_tags(partitions_def)
            if tags is None:
                continue
            # dbt's own console output is kept back and shown only when the stage fails.
            with contextlib.redirect_stdout(io.StringIO()) as captured:
                result = job.execute_in_process(
                    instance=instance,
                    asset_selection=selected,
                    run_config=QUIET_LOGS,
                    raise_on_error=False,
                    tags={"warehouse/stage": label, **tags},
                )
            run_ids.append(result.run_id)
            failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
            for evaluation in failed_checks:
                progress(
                    f"      check failed: {evaluation.asset_key.to_user_string()} / "
                    f"{evaluation.check_name} ({evaluation.severity.value})"
                )
            if not result.success:
                progress("\n".join(captured.getvalue().splitlines()[-80:]))
                _report_failure(result, progress)
                progress(
                    f"      FAILED after {time.perf_counter() - started:.1f} s "
                    f"(run {result.run_id})"
                )
                return False
        elapsed = time.perf_counter() - started
        progress(f"      done in {elapsed:.1f} s (run {', '.join(run_ids)})")
    return True
