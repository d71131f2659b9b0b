"""One pipeline run in its own process, timed per stage and per Dagster step (used by run.py).

    RAW_DIR=... WAREHOUSE_STATE_DIR=... DUCKDB_MEMORY_LIMIT=... \
        python -m benchmarks.pipeline_child --out timing.json [--day YYYY-MM-DD]

It calls the real runner, orchestration.pipeline.run_pipeline (the same Dagster definitions,
in-process, stage by stage), and afterwards reads each stage run's event log from the Dagster
instance to split the stage into its steps: asset steps (ingest loaders, `dbt build` of a
layer), GX asset-check steps, and Dagster's own overhead (stage wall time minus the steps).

`--day`: a one-day refresh, with what the code location offers, in this order: a partition
argument of run_pipeline (day / partition_key / business_date / partition); the partitioned
job `daily_refresh` (what the daily schedule launches) executed in-process for that partition;
otherwise the whole pipeline again. The JSON says which (`daily_mode`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

PARTITION_PARAMETERS = ("day", "partition_key", "business_date", "partition")
DAILY_JOB = "daily_refresh"


def _stage_bucket(label: str) -> str:
    label = label.lower()
    if "ingest" in label:
        return "ingest"
    if "publish" in label:
        return "publish"
    for layer in ("staging", "intermediate", "marts"):
        if layer in label:
            return f"dbt_{layer}"
    return label.replace(" ", "_")


def _job(defs, name: str):
    """The code location's job `name`, or None."""
    try:
        return defs.resolve_job_def(name)
    except Exception:
        return None


def _layer(step_key: str) -> str:
    """raw / staging / intermediate / marts / publish, from a step key (asset or check)."""
    if step_key.startswith("dbt_"):
        return step_key[4:]
    return step_key.split("__", 1)[0]


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
        # an asset-check-only step is a GX check; dbt steps also report their tests as checks
        kind = "check" if step["materializations"] == 0 and step["check_evaluations"] else "asset"
        out[key] = {"seconds": round(seconds, 3), "kind": kind, "layer": _layer(key)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--day", help="refresh this business day only (YYYY-MM-DD)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import orchestration.definitions  # noqa: F401  (loads the code location: dbt manifest, GX)
    from orchestration.instance import get_instance
    from orchestration.pipeline import run_pipeline

    instance = get_instance()
    startup_s = time.perf_counter() - started

    from orchestration.definitions import defs

    marks: list[tuple[float, str]] = []

    def progress(message: str) -> None:
        marks.append((time.perf_counter(), message))
        print(message, flush=True)

    kwargs = {}
    daily_mode = None
    daily_job = None
    if args.day:
        parameters = inspect.signature(run_pipeline).parameters
        name = next((p for p in PARTITION_PARAMETERS if p in parameters), None)
        if name:
            kwargs[name] = args.day
            daily_mode = f"run_pipeline({name}={args.day!r}): partitioned one-day refresh"
        elif _job(defs, DAILY_JOB) is not None:
            daily_job = _job(defs, DAILY_JOB)
            daily_mode = (
                f"job {DAILY_JOB!r} (what the 06:00 schedule launches) for partition "
                f"{args.day}, in-process"
            )
        else:
            daily_mode = (
                "whole pipeline re-run (no partitioned refresh in the code location "
                "yet): ingest skips unchanged files by sha256, dbt rebuilds every model"
            )

    known_runs = {r.run_id for r in instance.get_runs()}
    run_started = time.perf_counter()
    if daily_job is not None:
        from orchestration.pipeline import QUIET_LOGS

        progress(f"[1/1] {DAILY_JOB} {args.day} ...")
        result = daily_job.execute_in_process(
            partition_key=args.day,
            instance=instance,
            run_config=QUIET_LOGS,
            raise_on_error=False,
            tags={"warehouse/stage": f"{DAILY_JOB} {args.day}"},
        )
        ok = result.success
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                progress(
                    f"      check failed: {evaluation.asset_key.to_user_string()} / "
                    f"{evaluation.check_name} ({evaluation.severity.value})"
                )
        progress(f"      {'done' if ok else 'FAILED'} (run {result.run_id})")
    else:
        ok = run_pipeline(progress=progress, instance=instance, **kwargs)
    total_s = time.perf_counter() - run_started

    stages = []
    runs = [r for r in instance.get_runs() if r.run_id not in known_runs]
    for run in sorted(
        runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp()
    ):
        record = instance.get_run_record_by_id(run.run_id)
        label = run.tags.get("warehouse/stage", run.job_name)
        wall = (
            (record.end_time - record.start_time) if record.start_time and record.end_time else None
        )
        steps = _step_times(instance, run.run_id)
        asset_s = sum(s["seconds"] for s in steps.values() if s["kind"] == "asset")
        check_s = sum(s["seconds"] for s in steps.values() if s["kind"] == "check")
        stages.append(
            {
                "label": label,
                "bucket": _stage_bucket(label),
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
        "daily_mode": daily_mode,
        "stages": stages,
        "progress": [[round(t - run_started, 3), m] for t, m in marks],
    }
    Path(args.out).write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
