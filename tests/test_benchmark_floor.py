"""The benchmark's floor (benchmarks/floor.sql) computes the same three marts as the pipeline.

On the session's small warehouse (tests/conftest.py: scale 0.05, four months, with the
generator's delivery defects, built by `warehouse run`), the real pipeline's served marts and
the floor must give the same rows: EXCEPT ALL both ways, decimals rounded to their scale, on
every column the floor computes.

The data starts in November 2023 and crosses into 2024 so that the overseas channel (which
starts 2024-01-01) is present: the generator cannot produce a range without overseas lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BuiltWarehouse, assert_floor_equals_served

from benchmarks.floor import run_floor


@pytest.fixture(scope="module")
def pipeline_and_raw(small_warehouse: BuiltWarehouse) -> tuple[Path, Path]:
    return small_warehouse.raw_dir, small_warehouse.serving_db


def test_floor_marts_equal_pipeline_marts(pipeline_and_raw, tmp_path: Path) -> None:
    raw, serving_db = pipeline_and_raw
    assert_floor_equals_served(raw, serving_db, tmp_path / "floor")


def test_floor_sees_the_injected_defects(pipeline_and_raw, tmp_path: Path) -> None:
    """The defects are in the data the floor reads (so the equality proves their handling)."""
    raw, _ = pipeline_and_raw
    assert list((raw / "online").glob("*/*_resend.jsonl")), "no re-delivered file"
    floor = run_floor(raw, tmp_path / "floor", memory_limit="1GB", threads=2)
    unknown = floor.connection.execute(
        "SELECT count(*) FROM online_lines WHERE sku = 'X9'"
    ).fetchone()[0]
    assert unknown > 0  # read, then rejected by the product join
    duplicates = floor.connection.execute(
        "SELECT count(*) - count(DISTINCT (order_id, line_no)) FROM online_lines"
    ).fetchone()[0]
    assert duplicates == 0
