"""Running the whole asset graph in-process, stage by stage, with progress and a verdict."""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import AssetSelection, DagsterInstance

from orchestration.instance import get_instance

# The CLI prints its own progress; Dagster's console logger only speaks up for warnings.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
STAGES = (
    (("raw",), "ingest raw feeds"),
    (("seeds", "staging"), "dbt staging"),
    (("intermediate",), "dbt intermediate"),
    (("marts",), "dbt marts"),
    (("publish",), "publish to the serving database"),
)


def run_pipeline(progress: Callable[[str], None] = print,
                 instance: DagsterInstance | None = None) -> bool:
    """Materialize every stage in order; stop at the first failed run or blocking check."""
    from orchestration.definitions import defs

    instance = instance or get_instance()
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    for number, (groups, label) in enumerate(STAGES, start=1):
        keys = list(AssetSelection.groups(*groups).resolve(graph))
        progress(f"[{number}/{len(STAGES)}] {label}: {len(keys)} assets ...")
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, asset_selection=keys,
                                        run_config=QUIET_LOGS, raise_on_error=False,
                                        tags={"warehouse/stage": label})
        failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
        for evaluation in failed_checks:
            progress(f"      check failed: {evaluation.asset_key.to_user_string()} / "
                     f"{evaluation.check_name} ({evaluation.severity.value})")
        elapsed = time.perf_counter() - started
        if not result.success:
            for event in result.all_events:
                if event.is_failure and event.event_specific_data is not None:
                    error = getattr(event.event_specific_data, "error", None)
                    if error is not None:
                        progress(f"      {event.step_key}: {error.message.strip()[:2000]}")
            progress(f"      FAILED after {elapsed:.1f} s (run {result.run_id})")
            return False
        progress(f"      done in {elapsed:.1f} s (run {result.run_id})")
    return True
