"""The benchmark's floor (benchmarks/floor.sql) computes the same three marts as the pipeline.

On a small generated data set (scale 0.05, four months, with the generator's delivery
defects), the real pipeline (`warehouse run --quiet`, in a subprocess with its own RAW_DIR and
WAREHOUSE_STATE_DIR) and the floor must give the same rows: EXCEPT ALL both ways, decimals
rounded to their scale, on every column the floor computes.

The window starts in November 2023 and crosses into 2024 so that the overseas channel (which
starts 2024-01-01) is present: the generator cannot produce a range without overseas lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.floor import MARTS, compare_marts, run_floor
from orchestration.datagen.generate import generate
from orchestration.settings import path_with_environment_scripts

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pipeline_and_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("benchmark_floor")
    raw, state = root / "raw", root / "state"
    generate(
        raw,
        scale=0.05,
        start="2023-11-01",
        end="2024-02-29",
        seed=7,
        with_defects=True,
        progress=lambda *_: None,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WAREHOUSE_DB", "SERVING_DB", "DAGSTER_HOME")
    }
    # PARTITIONS_START: daily partitions from the data's first day (they run to yesterday)
    env.update(
        RAW_DIR=str(raw),
        WAREHOUSE_STATE_DIR=str(state),
        DUCKDB_MEMORY_LIMIT="1GB",
        DUCKDB_THREADS="2",
        PARTITIONS_START="2023-11-01",
        PATH=path_with_environment_scripts(env.get("PATH")),
    )
    warehouse = Path(sys.executable).with_name("warehouse")
    completed = subprocess.run(
        [str(warehouse), "run", "--quiet"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return raw, state / "serving.duckdb"


def test_floor_marts_equal_pipeline_marts(pipeline_and_raw, tmp_path: Path) -> None:
    raw, serving_db = pipeline_and_raw
    floor = run_floor(raw, tmp_path / "floor", memory_limit="1GB", threads=2)
    report = compare_marts(floor.connection, serving_db)
    for mart in MARTS:
        result = report[mart]
        assert result["floor_rows"] > 0, mart
        assert result["columns"] >= 15, (mart, result["columns"])
        assert result["equal"], (mart, result)


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
