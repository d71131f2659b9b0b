"""Distributor monthly sell-in reports (.xlsx laid out by people: title block, header, total).

Each workbook is read with python-calamine (DuckDB's excel extension can't be installed
offline); the lines between the header row `日期` and the total row `合计` are turned into an
Arrow table of text and typed by the shared machinery. The title block must name the same
distributor and month as the file name, and the total row must equal the sum of the lines:
otherwise every line of the file is quarantined with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from orchestration.ingest.core import (
    STAGE,
    TYPED,
    LoadResult,
    SourceFile,
    StageInfo,
    run_load,
)
from orchestration.ingest.files import path_fields
from orchestration.ingest.staging import (
    check_header,
    file_table,
    stage_arrow,
    unreadable_file_table,
)
from orchestration.ingest.tables import DISTRIBUTOR_SELL_IN, RawTable

SHEET_NAME = "进货明细"
HEADER_FIRST_CELL = "日期"
TOTAL_FIRST_CELL = "合计"
QUANTITY = "数量"
AMOUNT = "进货金额"
# the total row's values travel with every line of the file to the set-based total check
TOTAL_FIELDS = ("_total_quantity", "_total_amount")

# 经销商：XX电子（D0001） — the id is the last parenthesised part (names may hold brackets)
_DISTRIBUTOR_LINE = re.compile(r"经销商\s*[：:].*[（(]\s*([^（()）]+?)\s*[）)]\s*$")
_MONTH_LINE = re.compile(r"报表月份\s*[：:]\s*(\d{4})\s*年\s*(\d{1,2})\s*月")

# calamine gives str, int, float, bool, date, datetime, time or timedelta
Cell = object


def cell_text(value: Cell) -> str | None:
    """A cell as the text the typing step reads (dates ISO, whole floats without '.0')."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


@dataclass(frozen=True)
class TitleBlock:
    distributor_id: str | None
    report_month: date | None


def read_title_block(rows: Sequence[Sequence[Cell]]) -> TitleBlock:
    """The distributor id and report month from the lines above the header."""
    distributor_id = report_month = None
    for row in rows:
        text = "".join(str(cell) for cell in row if cell not in (None, "")).strip()
        if (match := _DISTRIBUTOR_LINE.search(text)) and distributor_id is None:
            distributor_id = match.group(1)
        if (match := _MONTH_LINE.search(text)) and report_month is None:
            year, month = int(match.group(1)), int(match.group(2))
            report_month = date(year, month, 1) if 1 <= month <= 12 else None
    return TitleBlock(distributor_id, report_month)


def _title_error(title: TitleBlock, source: SourceFile) -> tuple[str, str] | None:
    expected = path_fields(DISTRIBUTOR_SELL_IN.name, source.relative)
    expected_id = expected.get("distributor_id")
    period = expected.get("period")
    if title.distributor_id is None:
        return "distributor_id", "title block has no 经销商：<name>（<id>） line"
    if expected_id is not None and title.distributor_id != expected_id:
        return "distributor_id", (
            f"title block names {title.distributor_id}, the file name {expected_id}"
        )
    if title.report_month is None:
        return "report_month", "title block has no 报表月份：YYYY年MM月 line"
    folder = expected.get("folder")
    for digits in (period, folder):
        if digits is not None and title.report_month.strftime("%Y%m") != digits:
            return "report_month", (
                f"title block says {title.report_month:%Y-%m}, the path says {digits}"
            )
    return None


def _first_cell_index(rows: Sequence[Sequence[Cell]], text: str, start: int = 0) -> int | None:
    for index in range(start, len(rows)):
        if rows[index] and str(rows[index][0]).strip() == text:
            return index
    return None


def workbook_table(table: RawTable, source: SourceFile, info: StageInfo) -> pa.Table:
    """One report as stage rows: its lines with their Excel row numbers."""

    def unreadable(field_name: str, reason: str) -> pa.Table:
        return unreadable_file_table(table, source, field_name, reason, TOTAL_FIELDS)

    try:
        workbook = CalamineWorkbook.from_path(str(source.path))
        if SHEET_NAME not in workbook.sheet_names:
            return unreadable("<sheet>", f"no sheet named {SHEET_NAME}")
        rows = workbook.get_sheet_by_name(SHEET_NAME).to_python(skip_empty_area=False)
    except (CalamineError, OSError, ValueError) as error:
        return unreadable("<file>", f"cannot read workbook: {error}")
    header_index = _first_cell_index(rows, HEADER_FIRST_CELL)
    if header_index is None:
        return unreadable(HEADER_FIRST_CELL, f"no header row starting with {HEADER_FIRST_CELL}")
    header = [str(cell).strip() for cell in rows[header_index]]
    total_index = _first_cell_index(rows, TOTAL_FIRST_CELL, header_index + 1)
    end = len(rows) if total_index is None else total_index
    # Excel row numbers are 1-based; blank rows inside the block are not records
    line_indexes = [
        i for i in range(header_index + 1, end) if any(c not in (None, "") for c in rows[i])
    ]
    title = read_title_block(rows[:header_index])
    error = check_header(table, source, header, info) or _title_error(title, source)
    if error is None and total_index is None:
        error = TOTAL_FIRST_CELL, f"no total row starting with {TOTAL_FIRST_CELL}"
    columns = {
        name: pa.array([cell_text(rows[i][position]) for i in line_indexes], pa.string())
        for position, name in enumerate(header)
        if name
    }
    total = rows[total_index] if total_index is not None else []
    constants = {
        "distributor_id": title.distributor_id,
        "report_month": title.report_month.isoformat() if title.report_month else None,
        "_total_quantity": _cell_under(total, header, QUANTITY),
        "_total_amount": _cell_under(total, header, AMOUNT),
    }
    return file_table(
        table,
        source,
        columns,
        np.array(line_indexes, dtype=np.int64) + 1,
        constants=constants,
        error=error,
        extra_fields=TOTAL_FIELDS,
    )


def _cell_under(row: Sequence[Cell], header: Sequence[str], name: str) -> str | None:
    if name not in header or header.index(name) >= len(row):
        return None
    return cell_text(row[header.index(name)])


def _stage_workbooks(
    conn: duckdb.DuckDBPyConnection, table: RawTable, files: list[SourceFile]
) -> StageInfo:
    info = StageInfo()
    stage_arrow(
        conn, table, [workbook_table(table, source, info) for source in files], TOTAL_FIELDS
    )
    return info


# The total row must equal the sum of the lines above it: compared on typed values, once for
# all files of a chunk. A 数量 or 进货金额 cell that can't be typed is missing from the sum, so
# its file is rejected as a whole (its total can't be verified); a line that fails on another
# column is quarantined alone.
TOTAL_CHECK = f"""
    SELECT t._source_file, '{TOTAL_FIRST_CELL}' AS field,
           format('total row says {QUANTITY} {{}} and {AMOUNT} {{}}, the lines add up to {{}} '
                  || 'and {{}}', any_value(s._total_quantity), any_value(s._total_amount),
                  coalesce(sum(t."{QUANTITY}"), 0)::VARCHAR,
                  coalesce(sum(t."{AMOUNT}"), 0)::VARCHAR) AS reason
    FROM {TYPED} AS t
    JOIN (SELECT DISTINCT _source_file, _total_quantity, _total_amount FROM {STAGE}) AS s
        USING (_source_file)
    GROUP BY t._source_file
    HAVING coalesce(sum(t."{QUANTITY}"), 0)
               IS DISTINCT FROM try_cast(any_value(s._total_quantity) AS DECIMAL(38,2))
        OR coalesce(sum(t."{AMOUNT}"), 0)
               IS DISTINCT FROM try_cast(any_value(s._total_amount) AS DECIMAL(38,2))"""


def load_distributor_sell_in(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load sell-in reports into raw.distributor_sell_in (the total row is checked, not loaded)."""
    return run_load(
        conn,
        raw_dir,
        DISTRIBUTOR_SELL_IN,
        _stage_workbooks,
        files,
        batch_id=batch_id,
        force=force,
        file_checks=[TOTAL_CHECK],
    )
