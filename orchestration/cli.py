"""`warehouse`: generate demo data, run the pipeline, open the UI, print the review's figures."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestration.settings import (
    REPO_ROOT,
    SettingsError,
    load_settings,
    path_with_environment_scripts,
)

# The demo's feeds: the four calibrated review years (FY2022-2025), and the business going on
# after them up to yesterday, so that the daily schedule always has a real day to refresh.
DEMO = {"scale": 1.0, "start": "2022-01-01", "seed": 7}


def demo_generation() -> dict[str, object]:
    """The demo's generator arguments today (its end date moves with the calendar)."""
    from orchestration.datagen.generate import demo_end_date

    return {**DEMO, "end": demo_end_date().isoformat()}


def _generate(args: argparse.Namespace) -> int:
    from orchestration.datagen.generate import generate

    out = Path(args.out).resolve()
    if args.end is None:
        args.end = demo_generation()["end"]
    print(
        f"Generating scale {args.scale} data {args.start}..{args.end} (seed {args.seed}) into {out}"
    )
    started = time.perf_counter()
    report = generate(
        out,
        scale=args.scale,
        start=args.start,
        end=args.end,
        seed=args.seed,
        with_defects=not args.no_defects,
        chunk_by_year=True if getattr(args, "chunk_by_year", False) else None,
    )
    print(
        f"Done in {time.perf_counter() - started:.1f} s: {report.order_lines:,} sale lines, "
        f"{sum(report.files.values()):,} files, {report.defects} injected defects "
        f"(see {out / '_manifest' / 'defects.json'})"
    )
    return 0


def _ensure_demo_data(raw_dir: Path, regenerate: bool) -> None:
    """Generate the demo's feeds when there are none, and extend them when they are the
    demo's and end before yesterday (feeds of any other origin are never touched)."""
    demo = demo_generation()
    manifest_path = raw_dir / "_manifest" / "generation.json"
    if regenerate or not manifest_path.exists():
        _generate(argparse.Namespace(out=str(raw_dir), no_defects=False, **demo))
        return
    generated = json.loads(manifest_path.read_text(encoding="utf-8"))
    is_demo = all(generated.get(key) == value for key, value in DEMO.items())
    if is_demo and str(generated.get("end", "")) < str(demo["end"]):
        # The earlier days' files come out byte-identical: ingestion skips them by content.
        print(f"The demo's feeds end {generated.get('end')}: extending them to {demo['end']}")
        _generate(argparse.Namespace(out=str(raw_dir), no_defects=False, **demo))
    else:
        print(f"Using the raw feeds in {raw_dir}")


def _recover_runs() -> None:
    """What earlier processes left behind: runs of this host whose process died are marked
    failed and alerted, alerts a killed process did not send are sent (alert_sensors)."""
    from orchestration.automation.alert_sensors import describe_delivery, recover_runs
    from orchestration.automation.alerts import AlertNotifier
    from orchestration.instance import get_instance

    for run, sent in recover_runs(get_instance(), AlertNotifier()):
        state = f"alert: {describe_delivery(sent[1])}" if sent else "already alerted"
        print(f"Earlier run {run.run_id} failed (or lost its process): {state}")


def _alert_failures(instance, process) -> list[str]:
    """Alert each run of this process that failed (the daemon, which would alert them, may
    not be running; the run-failure sensor will not alert them again); their causes."""
    from orchestration.automation.alert_sensors import (
        describe_delivery,
        run_failure_cause,
        send_run_failure_alert,
    )
    from orchestration.automation.alerts import AlertNotifier
    from orchestration.automation.incidents import IncidentStore
    from orchestration.instance import failed_runs_of_process

    alerts = AlertNotifier()
    store = IncidentStore(alerts.state_db_path())
    causes = []
    for run in failed_runs_of_process(instance, process):
        if sent := send_run_failure_alert(instance, run, alerts, store):
            print(f"Alert for the failed run {run.run_id}: {describe_delivery(sent[1])}")
        causes.append(f"{run_failure_cause(instance, run.run_id)} (run {run.run_id})")
    return causes


def _run(args: argparse.Namespace) -> int:
    _recover_runs()
    settings = load_settings()
    if args.raw_dir:
        os.environ["RAW_DIR"] = str(Path(args.raw_dir).resolve())
        settings = load_settings()
    _ensure_demo_data(settings.raw_dir, args.regenerate)
    from orchestration.dbt.project import ensure_manifest

    ensure_manifest()  # the code location reads dbt's manifest when it is imported
    from orchestration.build import build_warehouse
    from orchestration.instance import ProcessIdentity, get_instance

    instance = get_instance()
    ok = False
    try:
        ok = build_warehouse(settings.raw_dir, instance=instance, full_refresh=args.full_refresh)
    finally:  # also when the build raised (Ctrl-C fails the run in progress)
        causes = _alert_failures(instance, ProcessIdentity.current())
    if not ok:
        sys.stdout.flush()
        # the last line names the cause: the failed step and its root error
        cause = causes[-1] if causes else "before any run started; see the message above"
        print(f"The build failed: {cause}", file=sys.stderr)
        return 1
    print(f"\nMarts (read-only, for BI tools): {settings.serving_db}  (schema marts)")
    print(f"Working warehouse: {settings.warehouse_db}")
    print(
        f"Try: .venv/bin/duckdb -readonly {settings.serving_db} "
        '-c "FROM marts.channel_performance LIMIT 5"'
    )
    if not args.quiet:
        from orchestration.figures import print_figures

        print_figures(settings.serving_db)
    return 0


def _ui(args: argparse.Namespace) -> int:
    from orchestration.dbt.project import ensure_manifest
    from orchestration.instance import prepare_dagster_home

    home = prepare_dagster_home()
    ensure_manifest()
    _recover_runs()  # the daemon's dead_run_sensor sweeps too, once the code location loads
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={home})")
    # Under `dagster dev`, dagster-dbt re-parses the project with the `dbt` found on PATH
    # (DbtProject.prepare_if_dev): this environment's, even when it is not activated.
    env = {**os.environ, "PATH": path_with_environment_scripts(os.environ.get("PATH"))}
    dagster = Path(sys.executable).with_name("dagster")
    return _supervise([str(dagster), "dev", "-h", args.host, "-p", str(args.port)], env)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# `dagster dev` stops its webserver and daemon itself (each given up to 60 s); past this, what
# is left of its process group is terminated, then killed
UI_STOP_GRACE_SECONDS = 30.0
UI_KILL_GRACE_SECONDS = 10.0


def _supervise(command: list[str], env: dict[str, str]) -> int:
    """Run `command` (`dagster dev`) as the leader of a process group of its own, so that it
    and everything it starts (webserver, daemon, code servers, run workers) stop together,
    and a Ctrl-C in the terminal reaches this process only, which stops them once, in order.

    On SIGTERM, SIGINT or SIGHUP: SIGTERM to `dagster dev` (it shuts its services down), then
    SIGTERM and SIGKILL to whatever is left of the group; a second signal skips the waiting.
    Returns 0 after such a stop, else the command's exit code (its group cleaned up too)."""
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
        for sig in STOP_SIGNALS
    }
    try:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)
        while process.poll() is None and not received:
            time.sleep(0.2)
        if received:
            print(f"Stopping the Dagster UI ({signal.Signals(received[0]).name})", flush=True)
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            _wait(lambda: process.poll() is not None, UI_STOP_GRACE_SECONDS, received)
        _stop_group(process, received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if received else process.returncode


def _wait(done, seconds: float, received: list[int]) -> None:
    """Wait up to `seconds` for `done()`; stop waiting at a second stop signal."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline and len(received) < 2:
        time.sleep(0.2)


def _group_gone(process: subprocess.Popen) -> bool:
    """Whether no process is left in the group `process` leads (the leader is reaped first:
    a zombie still counts as a member)."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def _stop_group(process: subprocess.Popen, received: list[int]) -> None:
    """SIGTERM what is left of the process group of `process`, SIGKILL it after a grace period;
    reap the leader."""
    if not _group_gone(process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        _wait(lambda: _group_gone(process), UI_KILL_GRACE_SECONDS, received)
        if not _group_gone(process):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _figures(args: argparse.Namespace) -> int:
    from orchestration.figures import print_figures

    ok = print_figures(
        Path(args.db) if args.db else load_settings().serving_db, markdown=args.markdown
    )
    return 0 if ok else 1


def _report(args: argparse.Namespace) -> int:
    from orchestration.report.data import ReviewDataError
    from orchestration.report.render import render_reviews, reports_dir

    settings = load_settings()
    database = Path(args.db) if args.db else settings.serving_db
    started = time.perf_counter()
    try:
        reports = render_reviews(
            database,
            reports_dir(settings.state_dir),
            years=[args.year] if args.year else None,
            out_file=Path(args.out) if args.out else None,
        )
    except ReviewDataError as error:
        print(f"No report: {error}", file=sys.stderr)
        return 1
    for report in reports:
        print(
            f"Channel review {report.period.label_en} (data version {report.version.publish_id}):"
            f" {report.path} ({report.size_bytes / 1e6:.2f} MB, "
            f"{time.perf_counter() - started:.1f} s)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warehouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write calibrated raw feeds")
    generate.add_argument(
        "--scale",
        type=float,
        default=DEMO["scale"],
        help="order volume and amounts multiplier (1 = the company)",
    )
    generate.add_argument("--start", default=DEMO["start"], help="first business date")
    generate.add_argument(
        "--end", default=None, help="last business date (default: yesterday in Asia/Shanghai)"
    )
    generate.add_argument("--seed", type=int, default=DEMO["seed"])
    generate.add_argument("--out", default=str(load_settings().raw_dir))
    generate.add_argument(
        "--no-defects", action="store_true", help="do not inject delivery defects"
    )
    generate.add_argument(
        "--chunk-by-year",
        action="store_true",
        help="draw and write a year at a time (bounded memory; chosen "
        "anyway above ~4M order lines)",
    )
    generate.set_defaults(handler=_generate)

    run = commands.add_parser("run", help="materialize everything (generates demo data if none)")
    run.add_argument("--raw-dir", help="raw feeds folder (default RAW_DIR)")
    run.add_argument("--regenerate", action="store_true", help="regenerate the demo data first")
    run.add_argument("--quiet", action="store_true", help="do not print the review's figures")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every dbt model from scratch (raw files already loaded stay as they are)",
    )
    run.set_defaults(handler=_run)

    ui = commands.add_parser("ui", help="start the Dagster UI (dagster dev) on 127.0.0.1")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_ui)

    figures = commands.add_parser("figures", help="print the review's headline figures")
    figures.add_argument("--db", help="DuckDB file with schema marts (default SERVING_DB)")
    figures.add_argument("--markdown", action="store_true", help="print a markdown table")
    figures.set_defaults(handler=_figures)

    report = commands.add_parser(
        "report", help="render the annual channel review (HTML) from the serving database"
    )
    report.add_argument(
        "--year",
        type=int,
        help="year of the review (default: the latest complete year; the running year is "
        "rendered year-to-date)",
    )
    report.add_argument(
        "--out",
        help="HTML file to write (default $WAREHOUSE_STATE_DIR/reports/channel_review_YYYY.html)",
    )
    report.add_argument("--db", help="DuckDB file with schema marts (default SERVING_DB)")
    report.set_defaults(handler=_report)
    return parser


def _quiet_api_warnings() -> None:
    """Dagster's beta/preview notices (backfill policies, partitioned checks) are for the
    authors of the definitions, not for whoever runs the pipeline from a terminal. Matched by
    message: importing dagster here would slow down `warehouse generate`."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    # Great Expectations imports pyspark where the Spark engine is installed; pyspark warns
    # about pandas 3 on import, though the DuckDB engine never calls it and the Spark engine
    # passes no pandas data to it.
    warnings.filterwarnings("ignore", message=r"PySpark does not yet fully support pandas")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _quiet_api_warnings()
        return args.handler(args)
    except SettingsError as error:  # a setting that would fail later: refused before any work
        print(f"warehouse: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
