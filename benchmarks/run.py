"""Benchmark: full and daily refresh of the real pipeline against the bare-DuckDB floor.

    .venv/bin/python -m benchmarks.run --lines 10000000 [--skip-generate --raw-dir DIR] [--work DIR]

For a size in order lines it: generates the demo data (orchestration.datagen, scale derived
from the lines), holds back the last day's daily files, runs the real pipeline (the same
Dagster definitions, in-process, orchestration.build.build_warehouse) on the history in a
child process and times every stage and step; runs the floor (benchmarks/floor.sql) in another
child process; asserts that the three marts are equal (EXCEPT ALL both ways); then delivers the
held-back day and times the one-day refresh, at this history size and (when the size is large)
at a ~1M-line history too. Peak RSS is sampled over each child's process tree (/proc or psutil,
dbt runs as a grandchild) and cross-checked with wait4()'s ru_maxrss.

Results: a table on stdout, benchmarks/results/<date>-<lines>.json, and with --update-readme
the results block of benchmarks/README.md. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from benchmarks.floor import compare_marts
from orchestration.settings import path_with_environment_scripts

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
DEFAULT_WORK = HERE / "work"
START, END, SEED = "2022-01-01", "2025-12-31", 7
# raw feeds whose rows are order lines (the day's size in the daily refresh rows)
ORDER_LINE_FEEDS = (
    "online_order_lines",
    "store_pos_lines",
    "shopee_orders",
    "lazada_orders",
    "distributor_sell_in",
)
CALIBRATION_SCALE = 0.25  # small scales round cells up: 0.02 gives ~935k/unit, 1.07 ~829k
SMALL_HISTORY_LINES = 1_000_000
LARGE_HISTORY_FROM = 3_000_000  # a main run at least this big counts as the large history

TARGETS = {
    "full_refresh_over_floor_max": 1.5,  # at 30M lines
    "daily_refresh_s_max": 15.0,
    "daily_growth_max": 0.20,  # large-history daily vs small-history daily
    "peak_rss_mb_max": 3072,  # at 30M lines, DuckDB memory_limit set
    "gx_overhead_per_layer_max": 0.30,
}
DAILY_FILE = re.compile(r"_(\d{8})(?:_[^/]*)?\.(?:jsonl|csv)$")
DAILY_FOLDERS = ("online", "store", "overseas")


# ---------------------------------------------------------------------------- measuring
def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    try:
        import psutil

        try:
            proc = psutil.Process(root)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / 2**20
    except ImportError:
        pass
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total_kb = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb / 1024


def run_monitored(
    cmd: list[str], env: dict[str, str], log_path: Path, interval: float = 0.25
) -> dict:
    """Run a child process; wall time, peak RSS of its tree (sampled), ru_maxrss (wait4)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    return {
        "returncode": proc.returncode,
        "wall_s": round(wall, 3),
        "peak_tree_rss_mb": round(peak[0], 1),
        # Linux: KiB; the largest single process among the child and its reaped children
        "max_single_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "log": str(log_path),
    }


def machine() -> dict:
    info = {
        "host": platform.node(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
        info["cpu"] = model.group(1).strip() if model else platform.processor()
        meminfo = Path("/proc/meminfo").read_text()
        info["memory_gib"] = round(
            int(re.search(r"MemTotal:\s*(\d+)", meminfo).group(1)) / 2**20, 1
        )
    except (OSError, AttributeError):
        pass
    try:
        import dagster

        info["dagster"] = dagster.__version__
    except ImportError:
        pass
    return info


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------------------- data
def lines_per_scale(work: Path) -> float:
    """Order lines per generator scale unit (2022-2025), measured once on a small run."""
    cache = work / "calibration.json"
    if cache.exists():
        cached = json.loads(cache.read_text())
        if cached.get("scale") == CALIBRATION_SCALE:
            return cached["lines_per_scale"]
    from orchestration.datagen.generate import generate

    out = work / "calibration"
    report = generate(
        out,
        scale=CALIBRATION_SCALE,
        start=START,
        end=END,
        seed=SEED,
        with_defects=False,
        progress=lambda *_: None,
    )
    value = report.order_lines / CALIBRATION_SCALE
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(
        json.dumps(
            {
                "lines_per_scale": value,
                "scale": CALIBRATION_SCALE,
                "order_lines": report.order_lines,
            }
        )
    )
    shutil.rmtree(out, ignore_errors=True)
    return value


def _generate_in_child(out: Path, scale: float) -> None:
    from orchestration.datagen.generate import generate

    generate(
        out,
        scale=scale,
        start=START,
        end=END,
        seed=SEED,
        with_defects=True,
        progress=lambda message: print(f"  {message}", flush=True),
    )


def generate_data(out: Path, lines: int, work: Path) -> dict:
    """Generate in a spawned process: the generator peaks at ~5.5 GB at 30M lines, and a child
    forked later from a process that large reports that size as its own ru_maxrss (Linux keeps
    the pre-exec high-water mark), which read as the pipeline's and the floor's peak RSS."""
    scale = round(lines / lines_per_scale(work), 4)
    print(f"Generating ~{lines:,} order lines (scale {scale}) into {out} ...", flush=True)
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=_generate_in_child, args=(out, scale)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generating {out} failed (exit code {child.exitcode})")
    return {
        "scale": scale,
        "order_lines": manifest(out).get("order_lines"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def manifest(raw: Path) -> dict:
    path = raw / "_manifest" / "generation.json"
    return json.loads(path.read_text()) if path.exists() else {}


def last_day(raw: Path) -> str:
    days = {
        m.group(1)
        for folder in DAILY_FOLDERS
        for p in (raw / folder).rglob("*")
        if (m := DAILY_FILE.search(p.name))
    }
    latest = max(days)
    return f"{latest[:4]}-{latest[4:6]}-{latest[6:]}"


def _is_day_file(raw: Path, path: Path, digits: str) -> bool:
    relative = path.relative_to(raw).as_posix()
    match = DAILY_FILE.search(path.name)
    return (
        relative.split("/")[0] in DAILY_FOLDERS and match is not None and match.group(1) == digits
    )


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make_history(full: Path, history: Path, day: str) -> int:
    """`history` = every file of `full` (hard links) except the daily files of `day`."""
    if history.exists():
        shutil.rmtree(history)
    digits = day.replace("-", "")
    held_back = 0
    for path in full.rglob("*"):
        if not path.is_file():
            continue
        if _is_day_file(full, path, digits):
            held_back += 1
            continue
        _link(path, history / path.relative_to(full))
    return held_back


def deliver_day(full: Path, history: Path, day: str) -> list[str]:
    """Link the daily files of `day` into `history`; their paths relative to the raw dir."""
    digits = day.replace("-", "")
    delivered = []
    for path in full.rglob("*"):
        if path.is_file() and _is_day_file(full, path, digits):
            _link(path, history / path.relative_to(full))
            delivered.append(path.relative_to(full).as_posix())
    return delivered


def rows_read_per_feed(warehouse: Path, files: list[str]) -> dict[str, int]:
    """Rows the warehouse's load log records for `files`, per feed: how big the refreshed day
    was (the generator's days grow with its scale, so a 30M-line history has bigger days)."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "SELECT feed, sum(rows_read) FROM (SELECT DISTINCT ON (_source_file) * "
            "FROM raw.load_log WHERE _source_file IN (SELECT unnest($files::VARCHAR[])) "
            "ORDER BY _source_file, _loaded_at DESC) GROUP BY feed ORDER BY feed",
            {"files": files},
        ).fetchall()
    return {feed: int(count) for feed, count in rows}


# ---------------------------------------------------------------------------- runs
def pipeline_env(raw: Path, state: Path, memory_limit: str, threads: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WAREHOUSE_DB", "SERVING_DB", "DAGSTER_HOME")
    }
    env.update(
        RAW_DIR=str(raw),
        WAREHOUSE_STATE_DIR=str(state),
        DAGSTER_HOME=str(state / "dagster_home"),
        DUCKDB_MEMORY_LIMIT=memory_limit,
        DUCKDB_THREADS=str(threads),
        PYTHONUNBUFFERED="1",
        PARTITIONS_START=os.environ.get("PARTITIONS_START", START),
        PATH=path_with_environment_scripts(os.environ.get("PATH")),
    )
    return env


def run_pipeline_child(raw: Path, state: Path, label: str, args, day: str | None = None) -> dict:
    out = state.parent / f"timing-{label}.json"
    cmd = [sys.executable, "-m", "benchmarks.pipeline_child", "--out", str(out)]
    if day:
        cmd += ["--day", day]
    print(f"Pipeline ({label}) on {raw.name} ...", flush=True)
    measured = run_monitored(
        cmd,
        pipeline_env(raw, state, args.memory_limit, args.threads),
        state.parent / f"pipeline-{label}.log",
    )
    timing = json.loads(out.read_text()) if out.exists() else {"ok": False, "stages": []}
    if measured["returncode"] != 0 or not timing.get("ok"):
        tail = Path(measured["log"]).read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"pipeline ({label}) failed; log {measured['log']}:\n{tail}")
    print(
        f"  done: {timing['total_s']:.1f} s, then the review {timing.get('review_s', 0):.1f} s "
        f"(+{timing['startup_s']:.1f} s loading the definitions), peak RSS "
        f"{measured['peak_tree_rss_mb']:.0f} MiB",
        flush=True,
    )
    return {**measured, **timing}


def run_floor_child(raw: Path, work: Path, args) -> dict:
    out_db, out_json = work / "floor.duckdb", work / "floor.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.floor",
        "--raw-dir",
        str(raw),
        "--work",
        str(work / "floor"),
        "--out-db",
        str(out_db),
        "--json",
        str(out_json),
        "--memory-limit",
        args.memory_limit,
        "--threads",
        str(args.threads),
    ]
    print("Floor (bare DuckDB SQL) ...", flush=True)
    measured = run_monitored(cmd, os.environ.copy(), work / "floor.log")
    if measured["returncode"] != 0:
        raise SystemExit(f"floor failed: {Path(measured['log']).read_text()[-3000:]}")
    result = json.loads(out_json.read_text())
    print(
        f"  done: {result['seconds']:.1f} s, peak RSS {measured['peak_tree_rss_mb']:.0f} MiB",
        flush=True,
    )
    return {**measured, **result, "db": str(out_db)}


def stage_summary(timing: dict) -> dict[str, float]:
    """Time in the asset steps of each part (<part>_steps_s: raw = ingestion, dbt = the one
    `dbt build` with its tests, publish), GX check steps per layer checked (gx_<layer>_s),
    Dagster's overhead (run wall time minus the steps) and the bookkeeping: events stored for
    the runs and the seconds storing them again takes (the cost of Dagster's records)."""
    out: dict[str, float] = {"startup_s": timing.get("startup_s", 0.0)}
    overhead = 0.0

    def add(key: str, value: float) -> None:
        out[key] = round(out.get(key, 0.0) + value, 3)

    for stage in timing["stages"]:
        if stage.get("bucket") == "review":  # its own run, after the refresh (total_s)
            add("review_run_wall_s", stage["wall_s"] or 0.0)
            continue
        add("runs_wall_s", stage["wall_s"] or 0.0)
        for step in stage["steps"].values():
            if step["kind"] == "check":
                add(f"gx_{step['layer']}_s", step["seconds"])
            else:
                add(f"{step['layer']}_steps_s", step["seconds"])
        overhead += stage["dagster_overhead_s"] or 0.0
    out["dagster_overhead_s"] = round(overhead, 3)
    bookkeeping = timing.get("bookkeeping") or {}
    out["dagster_events"] = bookkeeping.get("events")
    out["dagster_events_store_s"] = bookkeeping.get("store_s")
    out["runs"] = len(timing["stages"])
    return out


def gx_overheads(stages: dict[str, float]) -> dict[str, float]:
    """GX check time over the time of what it checks: the raw suites over ingestion; the
    suites of the dbt layers over the dbt build (one step builds staging, intermediate and
    marts together, so each dbt layer's checks are compared with the whole build)."""
    result = {}
    for layer in ("raw", "staging", "intermediate", "marts"):
        checks = stages.get(f"gx_{layer}_s")
        base = stages.get("raw_steps_s" if layer == "raw" else "dbt_steps_s")
        if checks is not None and base:
            result[layer] = round(checks / base, 3)
    return result


def _copy_state(source: Path, target: Path) -> None:
    """`target` = a copy of the pipeline state folder `source` (warehouse, Dagster, dbt),
    its warehouse settled (see _settle_copy)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)  # serving_parquet/current is a link
    _settle_copy(target / "warehouse.duckdb")


def _settle_copy(database: Path) -> None:
    """One write into a fresh byte copy of a DuckDB file. The first checkpoint DuckDB makes
    into such a copy is slow, and only there: at 30M lines (a 4 GB file) a small write's
    checkpoint took 1.2-1.4 s on a fresh copy, 0.01 s on the file it was copied from and on the
    copy after its first write (2026-12-06). The repeats of the one-day refresh run on copies
    of the history's state, while a daily run in production writes the file the previous
    day's run wrote: without this, repeats 2 and 3 paid it (the Lazada step, the run's first
    write, 1.1-1.3 s against 0.2 s in repeat 1)."""
    if not database.exists():
        return
    with duckdb.connect(str(database)) as connection:
        connection.execute("CREATE TABLE main.benchmark_settle AS SELECT 1 AS settled")
        connection.execute("DROP TABLE main.benchmark_settle")


def daily_refresh(
    full: Path, lines_label: str, work: Path, args, history_ready: bool, day: str
) -> dict:
    """With the history (all but `day`) loaded, deliver `day` and time its refresh.

    It is timed `args.daily_repeats` times, each on the warehouse as the history left it (the
    first run on the state itself, the others on copies of it), and the median counts: single
    runs on the same history varied by up to 4.6 s (1M, stop 13: 31.2 / 34.9 / 35.8 s), a small
    CSV load taking 0.2 s in one run and 1.5 s in the next."""
    history, state = work / "raw", work / "state"
    if not history_ready:
        shutil.rmtree(state, ignore_errors=True)
        make_history(full, history, day)
        run_pipeline_child(history, state, f"history-{lines_label}", args)
    snapshot = work / "state-history"
    repeats = max(1, args.daily_repeats)
    if repeats > 1:
        _copy_state(state, snapshot)
    delivered = deliver_day(full, history, day)
    runs = []
    try:
        for attempt in range(repeats):
            if attempt:
                _copy_state(snapshot, state)
            label = f"daily-{lines_label}" + (f"-{attempt + 1}" if attempt else "")
            runs.append(run_pipeline_child(history, state, label, args, day=day))
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    timing = sorted(runs, key=lambda run: run["total_s"])[len(runs) // 2]
    return {
        "history_lines": manifest(full).get("order_lines"),
        "day": day,
        "files_delivered": len(delivered),
        "day_rows_read": rows_read_per_feed(state / "warehouse.duckdb", delivered),
        "seconds": timing["total_s"],
        "runs_s": [run["total_s"] for run in runs],
        "review_s": timing.get("review_s"),
        "mode": timing.get("daily_mode"),
        "peak_rss_mb": max(run["peak_tree_rss_mb"] for run in runs),
        "stages": stage_summary(timing),
    }


# ---------------------------------------------------------------------------- reporting
def evaluate(result: dict) -> dict[str, dict]:
    t = TARGETS
    checks = {}
    ratio = result.get("ratio")
    checks["full_refresh_le_1.5x_floor"] = {
        "value": ratio,
        "target": t["full_refresh_over_floor_max"],
        "pass": ratio is not None and ratio <= t["full_refresh_over_floor_max"],
        "note": "target is stated at 30M lines",
    }
    for size in ("small", "large"):
        value = result.get(f"daily_refresh_s_{size}_history")
        checks[f"daily_refresh_{size}_history_le_15s"] = {
            "value": value,
            "target": t["daily_refresh_s_max"],
            "pass": None if value is None else value <= t["daily_refresh_s_max"],
        }
    small, large = (
        result.get("daily_refresh_s_small_history"),
        result.get("daily_refresh_s_large_history"),
    )
    growth = round(large / small - 1, 3) if small and large else None
    checks["daily_refresh_growth_le_20pct"] = {
        "value": growth,
        "target": t["daily_growth_max"],
        "pass": None if growth is None else growth <= t["daily_growth_max"],
    }
    checks["peak_rss_le_3GB"] = {
        "value": result["peak_rss_mb"],
        "target": t["peak_rss_mb_max"],
        "pass": result["peak_rss_mb"] <= t["peak_rss_mb_max"],
        "note": "target is stated at 30M lines",
    }
    for layer, share in result.get("gx_overhead", {}).items():
        checks[f"gx_adds_le_30pct_{layer}"] = {
            "value": share,
            "target": t["gx_overhead_per_layer_max"],
            "pass": share <= t["gx_overhead_per_layer_max"],
        }
    checks["marts_equal_floor"] = {"value": result["marts_equal"], "pass": result["marts_equal"]}
    return checks


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def _day_size(result: dict, run: str) -> str:
    """` (day: N order lines; median of a / b / c s)`: the refreshed day's sales lines, from
    the load log, and the timed runs when there were several."""
    daily = result.get("daily", {}).get(run, {})
    rows = daily.get("day_rows_read") or {}
    lines = sum(count for feed, count in rows.items() if feed in ORDER_LINE_FEEDS)
    notes = [f"day: {lines:,} order lines"] if lines else []
    runs = daily.get("runs_s") or []
    if len(runs) > 1:
        notes.append("median of " + " / ".join(f"{seconds:.1f}" for seconds in runs) + " s")
    return f" ({'; '.join(notes)})" if notes else ""


def markdown_table(result: dict) -> str:
    s = result["per_stage"]
    # below LARGE_HISTORY_FROM lines the main run's history is the small one
    small_run, large_run = (
        ("small", "main")
        if result["daily_refresh_s_large_history"] is not None
        else ("main", "large")
    )
    rows = [
        ("order lines (generated)", _fmt(result["lines"])),
        ("full refresh, pipeline total", _fmt(result["full_refresh_s"], " s")),
        ("  Dagster runs of the refresh job", _fmt(s.get("runs"))),
        ("  ingest (raw feeds)", _fmt(s.get("raw_steps_s"), " s")),
        (
            "  dbt build (seeds, staging, intermediate, marts, tests)",
            _fmt(s.get("dbt_steps_s"), " s"),
        ),
        ("  publish", _fmt(s.get("publish_steps_s"), " s")),
        ("then the review, its own run (not in the total)", _fmt(result.get("review_s"), " s")),
        (
            "  of which GX checks (raw / staging / intermediate / marts)",
            " / ".join(
                _fmt(s.get(f"gx_{k}_s"), " s") for k in ("raw", "staging", "intermediate", "marts")
            ),
        ),
        (
            "  of which Dagster overhead (run wall − steps)",
            _fmt(s.get("dagster_overhead_s"), " s"),
        ),
        (
            "  Dagster events stored / seconds to store them",
            f"{_fmt(s.get('dagster_events'))} / {_fmt(s.get('dagster_events_store_s'), ' s')}",
        ),
        ("  loading the definitions (not in the total)", _fmt(s.get("startup_s"), " s")),
        ("floor (bare DuckDB)", _fmt(result["floor_s"], " s")),
        ("ratio pipeline / floor", _fmt(result["ratio"], "×")),
        ("marts equal (EXCEPT ALL both ways)", "yes" if result["marts_equal"] else "**NO**"),
        (
            f"daily refresh, ~1M lines of history{_day_size(result, small_run)}",
            _fmt(result["daily_refresh_s_small_history"], " s"),
        ),
        (
            f"daily refresh, large history{_day_size(result, large_run)}",
            _fmt(result["daily_refresh_s_large_history"], " s"),
        ),
        (
            "  then the review of the running year, its own run (median refresh's)",
            " / ".join(_fmt(d.get("review_s"), " s") for d in result["daily"].values()),
        ),
        ("peak RSS, pipeline process tree", _fmt(result["peak_rss_mb"], " MiB")),
        ("peak RSS, floor", _fmt(result["floor_peak_rss_mb"], " MiB")),
        ("DuckDB memory_limit / threads", f"{result['memory_limit']} / {result['threads']}"),
    ]
    lines = ["| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    checks = result["targets"]
    lines += ["", "| target | value | limit | verdict |", "|---|---|---|---|"]
    for name, check in checks.items():
        verdict = {True: "pass", False: "**FAIL**", None: "not measured"}[check["pass"]]
        lines.append(
            f"| {name} | {_fmt(check['value'])} | {_fmt(check.get('target'))} | {verdict} |"
        )
    m = result["machine"]
    lines += [
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('memory_gib')} GiB; "
        f"Python {m.get('python')}, DuckDB {m.get('duckdb')}, Dagster {m.get('dagster')}. "
        f"Load average before / after: {result['load_average_before']} / "
        f"{result['load_average_after']}. Run {result['started_at']}.",
    ]
    if result.get("provisional"):
        lines.append(
            "**Provisional**: the machine was busy (load average above its CPU count); "
            "re-run on a quiet machine."
        )
    if result.get("daily_mode"):
        lines.append(f"Daily refresh mode: {result['daily_mode']}.")
    return "\n".join(lines)


def update_readme(table: str, result: dict) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        return
    block = (
        f"{start}\nLatest: `{result['results_file']}` "
        f"(`--lines {result['requested_lines']}`).\n\n{table}\n{end}"
    )
    text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    README.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, required=True, help="order lines to generate")
    parser.add_argument(
        "--skip-generate", action="store_true", help="use the data in --raw-dir as it is"
    )
    parser.add_argument("--raw-dir", help="generated raw feeds (default <work>/<lines>/raw-full)")
    parser.add_argument("--work", default=str(DEFAULT_WORK), help="work folder (git-ignored)")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--small-history-lines", type=int, default=SMALL_HISTORY_LINES)
    parser.add_argument("--no-daily", action="store_true", help="skip the daily refresh")
    parser.add_argument(
        "--daily-repeats",
        type=int,
        default=3,
        help="time the daily refresh this many times, each from the history's "
        "state; the median counts (default 3)",
    )
    parser.add_argument(
        "--no-small-history",
        action="store_true",
        help="large runs: skip the daily refresh on a ~1M-line history",
    )
    parser.add_argument(
        "--update-readme", action="store_true", help="write the table into benchmarks/README.md"
    )
    args = parser.parse_args(argv)

    work_root = Path(args.work).resolve()
    work = work_root / str(args.lines)
    work.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = load_average()

    full = Path(args.raw_dir).resolve() if args.raw_dir else work / "raw-full"
    generation = None
    if not args.skip_generate:
        generation = generate_data(full, args.lines, work_root)
    elif not full.exists():
        raise SystemExit(f"--skip-generate: {full} does not exist")
    lines = manifest(full).get("order_lines") or args.lines
    day = last_day(full)

    # full refresh on the history (everything but the last day, held back for the daily run)
    shutil.rmtree(work / "state", ignore_errors=True)
    held_back = make_history(full, work / "raw", day)
    print(f"History: {work / 'raw'} ({held_back} files of {day} held back)", flush=True)
    pipeline = run_pipeline_child(work / "raw", work / "state", "full", args)
    floor = run_floor_child(work / "raw", work, args)

    with duckdb.connect(floor["db"], read_only=True) as connection:
        comparison = compare_marts(connection, work / "state" / "serving.duckdb")
    marts_equal = all(c["equal"] for c in comparison.values())
    for mart, c in comparison.items():
        print(
            f"  {mart}: {c['floor_rows']} rows floor / {c['pipeline_rows']} pipeline, "
            f"{c['columns']} columns: {'equal' if c['equal'] else 'DIFFERENT'}"
        )
        for sample in c["samples"]:
            print("     ", sample)

    daily_small = daily_large = None
    daily_runs = {}
    if not args.no_daily:
        main_daily = daily_refresh(full, "main", work, args, history_ready=True, day=day)
        daily_runs["main"] = main_daily
        if lines >= LARGE_HISTORY_FROM:
            daily_large = main_daily["seconds"]
            if not args.no_small_history:
                small_work = work_root / str(args.small_history_lines)
                small_full = small_work / "raw-full"
                if not (small_full / "_manifest" / "generation.json").exists():
                    generate_data(small_full, args.small_history_lines, work_root)
                small_work.mkdir(parents=True, exist_ok=True)
                daily_runs["small"] = daily_refresh(
                    small_full,
                    "small",
                    small_work,
                    args,
                    history_ready=False,
                    day=last_day(small_full),
                )
                daily_small = daily_runs["small"]["seconds"]
        else:
            daily_small = main_daily["seconds"]

    stages = stage_summary(pipeline)
    result = {
        "lines": lines,
        "requested_lines": args.lines,
        "full_refresh_s": pipeline["total_s"],
        "review_s": pipeline.get("review_s"),
        "floor_s": floor["seconds"],
        "ratio": round(pipeline["total_s"] / floor["seconds"], 2),
        "daily_refresh_s_small_history": daily_small,
        "daily_refresh_s_large_history": daily_large,
        "peak_rss_mb": max(pipeline["peak_tree_rss_mb"], pipeline["max_single_process_rss_mb"]),
        "floor_peak_rss_mb": max(floor["peak_tree_rss_mb"], floor["max_single_process_rss_mb"]),
        "per_stage": stages,
        "gx_overhead": gx_overheads(stages),
        "marts_equal": marts_equal,
        "comparison": comparison,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
        "history_day_held_back": day,
        "daily": daily_runs,
        "daily_mode": next((d["mode"] for d in daily_runs.values()), None),
        "generation": generation,
        "floor_steps": dict(sorted(floor["steps"].items(), key=lambda kv: -kv[1])),
        "pipeline_stages": pipeline["stages"],
        "pipeline_process": {
            k: pipeline[k] for k in ("wall_s", "peak_tree_rss_mb", "max_single_process_rss_mb")
        },
        "machine": machine(),
        "started_at": started_at,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    cpus = os.cpu_count() or 1
    result["provisional"] = max(load_before[0], result["load_average_after"][0]) > cpus
    result["targets"] = evaluate(result)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{date.today().isoformat()}-{args.lines}.json"
    result["results_file"] = out.relative_to(REPO).as_posix()
    out.write_text(
        json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    table = markdown_table(result)
    print("\n" + table + f"\n\nWritten {out}")
    if args.update_readme:
        update_readme(table, result)
    return 0 if marts_equal else 1


if __name__ == "__main__":
    sys.exit(main())
