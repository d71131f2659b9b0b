"""The demo (scale 1, 2022-2025, seed 7) reproduces the review's 18 headline figures.

The expected values are the review's, written down in orchestration/figures.py from
docs/business.md; this builds the full demo with the real CLI and reads them back from
the published serving database.
"""

from __future__ import annotations

import pytest
from conftest import BuiltWarehouse, build_warehouse

from orchestration.cli import DEMO
from orchestration.figures import FIGURES, check_figures


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    # the review's four years: the business after them does not change their figures
    return build_warehouse(tmp_path_factory.mktemp("demo"), **DEMO, end="2025-12-31")


def test_all_eighteen_figures_are_covered() -> None:
    assert {figure.number for figure in FIGURES} == set(range(1, 19))


def test_demo_marts_show_the_review_figures(demo: BuiltWarehouse) -> None:
    results = check_figures(demo.serving_db, scale=1.0)
    missed = [(r.figure.number, r.figure.label, r.expected, r.actual) for r in results if not r.ok]
    assert missed == []


def test_figures_command_agrees(demo: BuiltWarehouse) -> None:
    result = demo.run_cli("figures")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISS" not in result.stdout
