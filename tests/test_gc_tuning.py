"""The code location leaves its long-lived objects out of the garbage collector's way
(orchestration/gc_tuning.py)."""

from __future__ import annotations

import gc

from orchestration.gc_tuning import YOUNG_GENERATION_THRESHOLD


def test_loading_the_definitions_freezes_them_and_raises_the_young_threshold() -> None:
    import orchestration.definitions  # noqa: F401  (what every Dagster process loads)

    # the definitions' objects (several hundred thousand) are in the permanent generation
    assert gc.get_freeze_count() > 100_000
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
    # collection still works for what is made afterwards
    cycle: list = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
