"""One pipeline run in its own process, timed per Dagster step (used by run.py).

    RAW_DIR=... WAREHOUSE_STATE_DIR=... DUCKDB_MEMORY_LIMIT=... \
        python -m benchmarks.pipeline_child --out timing.json [--day YYYY-MM-DD]

Without `--day`: the full build, exactly as `warehouse run` does it (orchestration.build: runs
of the code location's `warehouse_refresh` job over the months the raw files hold). With
`--day`: what the 06:00 schedule launches for that day (the refresh job for the month that
holds it: the daily feeds and everything downstream), in-process. Either way the channel review
follows in its own run, as the review sensor launches it after a publish: `total_s` is the
refresh (until the marts are published), `review_s` that run.

Afterwards each run's event log is read from the Dagster instance to split it into steps:
ingestion (raw assets), the dbt build, publish, GX check steps per layer checked, and Dagster's
own overhead (run wall time minus the steps). It also counts the events Dagster stored per run
and times storing them again into a scratch instance of the same storage: the bookkeeping cost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

STEP_LAYERS = {"dbt_models": "dbt", "publish__serving_db": "publish"}


def _layer(step_key: str) -> str:
    """raw / dbt / publish for asset steps; the checked asset's layer for a check step."""
    return STEP_LAYERS.get(step_key, step_key.split("__", 1)[0])


def _step_times(instance, run_id: str) -> dict[str, dict]:
    """Per step key: seconds from STEP_START to STEP_SUCCESS/FAILURE, and its kind."""
    steps: dict[str, dict] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        step = steps.setdefault(
            event.step_key,
            {"start": None, "end": None, "materializations": 0, "check_evaluations": 0},
        )
        kind = event.event_type_value
        if kind == "STEP_START":
            step["start"] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            step["end"] = entry.timestamp
        elif kind == "ASSET_MATERIALIZATION":
            step["materializations"] += 1
        elif kind == "ASSET_CHECK_EVALUATION":
            step["check_evaluations"] += 1
    out = {}
    for key, step in steps.items():
        seconds = (step["end"] - step["start"]) if step["start"] and step["end"] else 0.0
        # a check-only step is a GX check; the dbt step also reports its tests as checks
        kind = "check" if step["materializations"] == 0 and step["check_evaluations"] else "asset"
        out[key] = {"seconds": round(seconds, 3), "kind": kind, "layer": _layer(key)}
    return out


def _write_scratch_config(config: Path, scratch_home: Path) -> None:
    """The instance's dagster.yaml for a scratch home: the same storage classes, every file in
    the scratch home (the project's event log otherwise finds its files through $DAGSTER_HOME,
    which is the measured instance's)."""
    import yaml

    settings = yaml.safe_load(config.read_text(encoding="utf-8")) if config.exists() else {}
    event_log = (settings or {}).get("event_log_storage")
    if event_log and event_log.get("module") == "orchestration.event_log":
        event_log["config"] = {"base_dir": str(scratch_home / "history" / "runs")}
    (scratch_home / "dagster.yaml").write_text(yaml.safe_dump(settings or {}), encoding="utf-8")


def bookkeeping_cost(instance, run_ids: list[str]) -> dict:
    """Events Dagster stored for the runs, and the seconds it takes to store them again into
    a scratch instance configured like this one (same dagster.yaml: same storage classes)."""
    from dagster import DagsterInstance

    entries = [entry for run_id in run_ids for entry in instance.all_logs(run_id)]
    scratch_home = Path(tempfile.mkdtemp(prefix="bookkeeping-"))
    try:
        _write_scratch_config(Path(instance.root_directory) / "dagster.yaml", scratch_home)
        with DagsterInstance.from_config(str(scratch_home)) as scratch:
            started = time.perf_counter()
            for entry in entries:
                scratch.event_log_storage.store_event(entry)
            seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch_home, ignore_errors=True)
    return {"events": len(entries), "store_s": round(seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--day", help="refresh this business day only (YYYY-MM-DD)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from orchestration.dbt.project import ensure_manifest

    ensure_manifest()
    from orchestration.automation.review import REVIEW_JOB
    from orchestration.build import (
        build_warehouse,
        execute,
        print_progress,
        render_review,
        run_for_day,
    )
    from orchestration.definitions import defs
    from orchestration.instance import get_instance
    from orchestration.settings import load_settings

    instance = get_instance()
    startup_s = time.perf_counter() - started
    marks: list[tuple[float, str]] = []

    def progress(message: str) -> None:
        marks.append((time.perf_counter(), message))
        print_progress(message)

    known_runs = {r.run_id for r in instance.get_runs()}
    run_started = time.perf_counter()
    if args.day:
        planned = run_for_day(defs.resolve_asset_graph(), args.day)
        daily_mode = (
            f"job warehouse_refresh for {planned.first_month} (the month of {args.day}), what "
            "the 06:00 schedule launches, in-process"
        )
        progress(f"[1/1] {planned.label} ...")
        ok, _ = execute(defs, planned, instance, progress)
    else:
        daily_mode = None
        ok = build_warehouse(
            load_settings().raw_dir, progress=progress, instance=instance, review=False
        )
    total_s = time.perf_counter() - run_started
    review_started = time.perf_counter()
    if ok:
        ok = render_review(defs, instance, progress)
    review_s = time.perf_counter() - review_started

    stages = []
    runs = [r for r in instance.get_runs() if r.run_id not in known_runs]
    for run in sorted(
        runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp()
    ):
        record = instance.get_run_record_by_id(run.run_id)
        wall = (
            (record.end_time - record.start_time) if record.start_time and record.end_time else None
        )
        steps = _step_times(instance, run.run_id)
        asset_s = sum(s["seconds"] for s in steps.values() if s["kind"] == "asset")
        check_s = sum(s["seconds"] for s in steps.values() if s["kind"] == "check")
        stages.append(
            {
                "label": run.tags.get("warehouse/trigger", run.job_name),
                "bucket": "review" if run.job_name == REVIEW_JOB else "refresh",
                "run_id": run.run_id,
                "status": str(run.status.value),
                "wall_s": round(wall, 3) if wall else None,
                "asset_steps_s": round(asset_s, 3),
                "gx_check_steps_s": round(check_s, 3),
                "dagster_overhead_s": round(wall - asset_s - check_s, 3) if wall else None,
                "steps": steps,
            }
        )
    payload = {
        "ok": ok,
        "startup_s": round(startup_s, 3),
        "total_s": round(total_s, 3),
        "review_s": round(review_s, 3),
        "daily_mode": daily_mode,
        "stages": stages,
        "bookkeeping": bookkeeping_cost(instance, [stage["run_id"] for stage in stages]),
        "progress": [[round(t - run_started, 3), m] for t, m in marks],
    }
    Path(args.out).write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
