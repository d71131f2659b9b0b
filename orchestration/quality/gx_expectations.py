"""GX expectation classes the suites run instead of a GX built-in (imports GX: import lazily).

`unexpected_rows_expectation` in a suite file runs as `UnexpectedRowCountExpectation`: the same
query and verdict, computed once. GX 1.24's UnexpectedRowsExpectation depends on two metrics,
`unexpected_rows_query.row_count` (`SELECT COUNT(*) FROM (<query>)`) and
`unexpected_rows_query.table` (the query itself, up to 200 rows fetched), so every SQL
expectation ran its query twice, and the second run cannot prune the columns a count does not
need: on the 30M-line warehouse the duplicate-keys query of the POS suite took 4 s as a count
and 19 s as rows (every receipt line's file list aggregated). The rows are used only by the
COMPLETE result format, which the runner never asks for (it fetches a few rows itself, and
only when the expectation failed: runner._with_unexpected_rows_sample).
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)

ROW_COUNT_METRIC = "unexpected_rows_query.row_count"


class UnexpectedRowCountExpectation(UnexpectedRowsExpectation):
    """UnexpectedRowsExpectation on the row count alone (GX type
    `unexpected_row_count_expectation`): passes when the query returns no row; the result's
    `observed_value` is the number of rows it returned, as in GX's own class."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (ROW_COUNT_METRIC,)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict:
        unexpected_row_count = metrics[ROW_COUNT_METRIC]
        return {
            "success": unexpected_row_count == 0,
            "result": {"observed_value": unexpected_row_count},
        }


# suite file type -> the class that runs it
REPLACEMENTS: dict[str, type] = {
    "unexpected_rows_expectation": UnexpectedRowCountExpectation,
}
