"""The demo (scale 1, seed 7) reproduces the review's 18 headline figures.

The expected values are the review's, written down in orchestration/figures.py from
docs/business.md; this builds the demo's files with the production build and reads them back
from the published serving database.

The figures are of FY2022-2023 and 2024-Q3. The demo's files are generated through the end of
the plan years (2025-12-31: the dated files come out byte-identical to the demo's whatever its
end date; the reference snapshots are those of the plan years), the days after the last
figure's are left out, and the rest is built by the path `warehouse run` takes, without its
extension of the demo's feeds to yesterday (twice the work: five years of feeds and reviews).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import BuiltWarehouse, warehouse_env

from orchestration.cli import DEMO
from orchestration.datagen.generate import generate
from orchestration.figures import FIGURES, check_figures
from orchestration.ingest.files import FEED_LAYOUTS, file_period, list_feed_files, relative_path

PLAN_YEARS_END = "2025-12-31"
LAST_FIGURE_DAY = date(2024, 9, 30)  # figure 16: 2024-Q3
# `warehouse run` without the demo's extension: the dbt manifest, then every planned run. A
# file, not `python -c`: pyspark (imported by GX) takes a main module without a file for its
# doctests and exits.
BUILD = (
    "import sys\n"
    "from orchestration.dbt.project import ensure_manifest\n"
    "ensure_manifest()\n"
    "from orchestration.build import build_warehouse\n"
    "from orchestration.settings import load_settings\n"
    "sys.exit(0 if build_warehouse(load_settings().raw_dir) else 1)\n"
)


def _leave_out_days_after(raw_dir: Path, last_day: date) -> int:
    """Delete the feeds' files of business days after `last_day` (monthly workbooks: of later
    months; reference snapshots are undated and stay), dated as ingestion dates them; how many
    files were left out."""
    left_out = 0
    for table in FEED_LAYOUTS:
        for path in list_feed_files(raw_dir, table):
            period = file_period(table, relative_path(raw_dir, path))
            if period is not None and period > last_day:
                path.unlink()
                left_out += 1
    return left_out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    root = tmp_path_factory.mktemp("demo")
    raw_dir = root / "raw"
    generate(raw_dir, progress=None, **DEMO, end=PLAN_YEARS_END)
    assert _leave_out_days_after(raw_dir, LAST_FIGURE_DAY) > 0
    env = warehouse_env(root)
    script = root / "build.py"
    script.write_text(BUILD)
    build = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=1800
    )
    assert build.returncode == 0, build.stdout[-5000:] + build.stderr[-5000:]
    return BuiltWarehouse(raw_dir, root / "state", env, build.stdout)


def test_all_eighteen_figures_are_covered() -> None:
    assert {figure.number for figure in FIGURES} == set(range(1, 19))


def test_the_marts_end_with_the_last_figure_month(demo: BuiltWarehouse) -> None:
    with duckdb.connect(str(demo.serving_db), read_only=True) as conn:
        first, last = conn.execute(
            "SELECT min(month), max(month) FROM marts.channel_performance"
        ).fetchone()
    assert (first, last) == (date(2022, 1, 1), LAST_FIGURE_DAY.replace(day=1))


def test_demo_marts_show_the_review_figures(demo: BuiltWarehouse) -> None:
    results = check_figures(demo.serving_db, scale=1.0)
    missed = [(r.figure.number, r.figure.label, r.expected, r.actual) for r in results if not r.ok]
    assert missed == []


def test_figures_command_agrees(demo: BuiltWarehouse) -> None:
    result = demo.run_cli("figures")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISS" not in result.stdout
