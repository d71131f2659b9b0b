"""`warehouse`: generate demo data, run the pipeline, open the UI, print the review's figures."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.settings import REPO_ROOT, load_settings, path_with_environment_scripts

DEMO = {"scale": 1.0, "start": "2022-01-01", "end": "2025-12-31", "seed": 7}


def _generate(args: argparse.Namespace) -> int:
    from orchestration.datagen.generate import generate

    out = Path(args.out).resolve()
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
    if regenerate or not (raw_dir / "_manifest" / "generation.json").exists():
        _generate(argparse.Namespace(out=str(raw_dir), no_defects=False, **DEMO))
    else:
        print(f"Using the raw feeds in {raw_dir}")


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.raw_dir:
        os.environ["RAW_DIR"] = str(Path(args.raw_dir).resolve())
        settings = load_settings()
    _ensure_demo_data(settings.raw_dir, args.regenerate)
    from orchestration.pipeline import run_pipeline

    ok = run_pipeline(progress=print)
    if not ok:
        print(
            "The pipeline failed: see the messages above (and the run in `warehouse ui`).",
            file=sys.stderr,
        )
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
    from orchestration.instance import prepare_dagster_home

    home = prepare_dagster_home()
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={home})")
    # Under `dagster dev`, dagster-dbt re-parses the project with the `dbt` found on PATH
    # (DbtProject.prepare_if_dev): this environment's, even when it is not activated.
    env = {**os.environ, "PATH": path_with_environment_scripts(os.environ.get("PATH"))}
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.call(
        [str(dagster), "dev", "-h", args.host, "-p", str(args.port)], cwd=REPO_ROOT, env=env
    )


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
    generate.add_argument("--end", default=DEMO["end"], help="last business date")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_api_warnings()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
