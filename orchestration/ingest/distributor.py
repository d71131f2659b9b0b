"""Distributor monthly sell-in reports (.xlsx laid out by people: title block, header, total).

Each workbook is read with python-calamine (DuckDB's excel extension can't be installed
offline); the lines between the header row `日期` and the total row `合计` are turned into text
(one Arrow table for a chunk of workbooks; a large chunk is read half here, half by a second
process, orchestration.ingest.workbook_reader) and typed by the shared machinery. The title block
must name the same distributor and month as the file name, and the total row must equal the sum
of the lines: otherwise every line of the file is quarantined with the reason.

Every non-empty row below the header is a record (the sheet's own count): a row below the total
row is quarantined, never dropped; a cell holding a formula without a cached value (calamine
reads it as empty) quarantines its row, or its file when it is in the total row.
"""

from __future__ import annotations

import html
import io
import re
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    StagedChunk,
    StageInfo,
    run_load,
)
from orchestration.ingest.files import path_fields
from orchestration.ingest.staging import check_header, stage_arrow, stage_table
from orchestration.ingest.tables import DISTRIBUTOR_SELL_IN, RawTable
from orchestration.ingest.workbook_reader import read_result, write_request

SHEET_NAME = "进货明细"
HEADER_FIRST_CELL = "日期"
TOTAL_FIRST_CELL = "合计"
QUANTITY = "数量"
AMOUNT = "进货金额"
# the total row's values and its row number travel with every line of the file to the
# set-based total check
TOTAL_FIELDS = ("_total_quantity", "_total_amount", "_total_row")

# A chunk of this many workbooks or more is read by two processes at once
# (orchestration.ingest.workbook_reader): below it, starting the second process (~0.4 s)
# costs more than the ~2.5 ms a workbook it takes over.
SECOND_READER_FROM_FILES = 400

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


def _is_blank(row: Sequence[Cell]) -> bool:
    return all(cell in (None, "") for cell in row)


# --- formulas without a cached value ------------------------------------------------------
# calamine reads a formula cell's cached value, and a formula saved without one (a workbook
# written by a script, or saved with calculation off) as an empty cell: it would load as a
# NULL price. The sheet's XML tells them apart; it is searched only where it holds `<f`.

_SHEET_TAG = re.compile(rb"<sheet\b[^>]*>")
_RELATIONSHIP_TAG = re.compile(rb"<Relationship\b[^>]*>")
_CELL_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>(.*?)</f>)", re.S)
_CACHED_VALUE = re.compile(rb"<v>[^<]+</v>|<is>")


def _attribute(tag: bytes, name: bytes) -> str | None:
    match = re.search(rb"(?:^|\s)" + re.escape(name) + rb'="([^"]*)"', tag)
    return html.unescape(match.group(1).decode("utf-8")) if match else None


def _sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The archive member holding the sheet's XML (xl/workbook.xml and its relationships)."""
    parts = [n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
    if len(parts) == 1:
        return parts[0]
    relation = next(
        (
            _attribute(tag, b"r:id")
            for tag in _SHEET_TAG.findall(archive.read("xl/workbook.xml"))
            if _attribute(tag, b"name") == sheet_name
        ),
        None,
    )
    for tag in _RELATIONSHIP_TAG.findall(archive.read("xl/_rels/workbook.xml.rels")):
        if _attribute(tag, b"Id") == relation:
            target = _attribute(tag, b"Target") or ""
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - ord("A") + 1
    return index - 1


_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"
_LOCAL_HEADER = b"PK\x03\x04"


def _worksheet_members(data: bytes) -> dict[str, tuple[int, int, int]] | None:
    """name -> (method, compressed size, local header offset) of the worksheets of the ZIP
    archive `data`, from its central directory (the ZIP format, PKWARE's APPNOTE 4.3); None
    when the archive is not a plain one (left to zipfile). zipfile builds an object per member
    in Python (~0.3 ms a workbook, a tenth of the feed's time); this reads what is needed."""
    end = data.rfind(_END_OF_CENTRAL_DIRECTORY, max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return None
    entries, _, position = struct.unpack_from("<HII", data, end + 10)
    members = {}
    for _ in range(entries):
        if data[position : position + 4] != _CENTRAL_DIRECTORY_ENTRY:
            return None
        method, _, _, size = struct.unpack_from("<HHHI", data, position + 10)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, position + 28)
        (local,) = struct.unpack_from("<I", data, position + 42)
        name = data[position + 46 : position + 46 + name_length]
        if name.startswith(b"xl/worksheets/") and name.endswith(b".xml"):
            members[name.decode("utf-8")] = (method, size, local)
        position += 46 + name_length + extra_length + comment_length
    return members


def _member_bytes(data: bytes, method: int, size: int, local: int) -> bytes | None:
    """A stored or deflated member's bytes; None for anything else (ZIP64, other methods)."""
    if data[local : local + 4] != _LOCAL_HEADER or size == 0xFFFFFFFF or method not in (0, 8):
        return None
    name_length, extra_length = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_length + extra_length
    member = data[start : start + size]
    return member if method == 0 else zlib.decompress(member, -15)


def _sheet_xml(data: bytes, sheet_name: str) -> bytes:
    """The sheet's XML: a workbook's only worksheet read directly, else through zipfile."""
    members = _worksheet_members(data)
    if members is not None and len(members) == 1:
        xml = _member_bytes(data, *next(iter(members.values())))
        if xml is not None:
            return xml
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        part = _sheet_part(archive, sheet_name)
        return archive.read(part) if part else b""


def formulas_without_value(data: bytes, sheet_name: str) -> dict[tuple[int, int], str]:
    """(row, column) (0-based) -> formula of the sheet's formula cells that have no cached
    value. Only formula cells are looked at (a sheet without `<f` costs one search)."""
    try:
        xml = _sheet_xml(data, sheet_name)
    except (zipfile.BadZipFile, zlib.error, struct.error, KeyError, OSError):
        return {}  # calamine read the sheet: what it could not tell stays unknown
    found: dict[tuple[int, int], str] = {}
    position = xml.find(b"<f")
    while position >= 0:
        cell_start = xml.rfind(b"<c ", 0, position)
        cell_end = xml.find(b"</c>", position)
        cell = xml[cell_start:cell_end]
        reference = _CELL_REF.search(cell)
        formula = _FORMULA.search(cell)
        if reference and formula and not _CACHED_VALUE.search(cell):
            text = html.unescape((formula.group(1) or b"").decode("utf-8")) or "(shared)"
            row, column = int(reference.group(2)) - 1, _column_index(reference.group(1))
            found[(row, column)] = text
        position = xml.find(b"<f", cell_end if cell_end > position else position + 2)
    return found


def _formula_reason(formula: str) -> str:
    return f"formula ={formula} has no cached value (the workbook was saved uncalculated)"


# --- the chunk's rows ---------------------------------------------------------------------


@dataclass
class _Rows:
    """The stage rows of a chunk's workbooks, as Python lists (calamine gives Python cells):
    one Arrow table is built for the whole chunk, not one per workbook."""

    files: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    values: dict[str, list[str | None]] = field(default_factory=dict)
    error_fields: list[str | None] = field(default_factory=list)
    error_reasons: list[str | None] = field(default_factory=list)

    def extend(
        self,
        relative: str,
        rows: list[int],
        columns: dict[str, list[str | None]],
        errors: list[tuple[str, str] | None],
    ) -> None:
        """Add one workbook's records: their rows, their values by column, their errors."""
        before, count = len(self.rows), len(rows)
        self.files.extend([relative] * count)
        self.rows.extend(rows)
        for name in columns.keys() - self.values.keys():
            self.values[name] = [None] * before
        for name, values in self.values.items():
            values.extend(columns.get(name, [None] * count))
        self.error_fields.extend(error[0] if error else None for error in errors)
        self.error_reasons.extend(error[1] if error else None for error in errors)

    def table(self, table: RawTable) -> pa.Table:
        return stage_table(
            table,
            pa.array(self.files, pa.string()),
            np.array(self.rows, dtype=np.int64),
            {name: pa.array(values, pa.string()) for name, values in self.values.items()},
            errors=(
                pa.array(self.error_fields, pa.string()),
                pa.array(self.error_reasons, pa.string()),
            ),
            extra_fields=TOTAL_FIELDS,
        )


def _read_sheet(source: SourceFile, info: StageInfo) -> tuple[list[list[Cell]], bytes] | None:
    """The sheet's rows (row i is Excel row i + 1) and the file's bytes; None if unreadable."""
    try:
        data = source.path.read_bytes()
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if SHEET_NAME not in workbook.sheet_names:
            info.reject_file(source.relative, f"no sheet named {SHEET_NAME}", "<sheet>")
            return None
        return workbook.get_sheet_by_name(SHEET_NAME).to_python(skip_empty_area=False), data
    except (CalamineError, OSError, ValueError) as error:
        info.reject_file(source.relative, f"cannot read workbook: {error}")
        return None


def add_workbook(table: RawTable, source: SourceFile, info: StageInfo, rows_out: _Rows) -> None:
    """One report's records: its lines (Excel row numbers) and any row below the total."""
    sheet = _read_sheet(source, info)
    if sheet is None:
        return
    rows, data = sheet
    header_index = _first_cell_index(rows, HEADER_FIRST_CELL)
    if header_index is None:
        reason = f"no header row starting with {HEADER_FIRST_CELL}"
        info.reject_file(source.relative, reason, HEADER_FIRST_CELL)
        return
    header = [str(cell).strip() for cell in rows[header_index]]
    total_index = _first_cell_index(rows, TOTAL_FIRST_CELL, header_index + 1)
    # the records by the sheet's own rows: every non-empty row below the header but the total
    filled = [i for i in range(header_index + 1, len(rows)) if not _is_blank(rows[i])]
    info.records_in_file[source.relative] = len(filled) - (total_index is not None)
    info.count_unit = "sheet rows"
    formulas = formulas_without_value(data, SHEET_NAME)
    title = read_title_block(rows[:header_index])
    error = check_header(table, source, header, info) or _title_error(title, source)
    if error is None and total_index is None:
        error = TOTAL_FIRST_CELL, f"no total row starting with {TOTAL_FIRST_CELL}"
    total = rows[total_index] if total_index is not None else []
    total_formula = next((f for (r, _), f in formulas.items() if r == total_index), None)
    if error is None and total_formula is not None:
        error = TOTAL_FIRST_CELL, "total row: " + _formula_reason(total_formula)
    constants = {
        "distributor_id": title.distributor_id,
        "report_month": title.report_month.isoformat() if title.report_month else None,
        "_total_quantity": _cell_under(total, header, QUANTITY),
        "_total_amount": _cell_under(total, header, AMOUNT),
        "_total_row": str(total_index + 1) if total_index is not None else None,
    }
    records = [index for index in filled if index != total_index]
    columns = {
        name: [
            cell_text(rows[index][position]) if position < len(rows[index]) else None
            for index in records
        ]
        for position, name in enumerate(header)
        if name
    }
    columns |= {name: [value] * len(records) for name, value in constants.items()}
    errors = [_record_error(index, error, total_index, header, formulas) for index in records]
    rows_out.extend(source.relative, [index + 1 for index in records], columns, errors)


def _record_error(
    index: int,
    file_error: tuple[str, str] | None,
    total_index: int | None,
    header: Sequence[str],
    formulas: dict[tuple[int, int], str],
) -> tuple[str, str] | None:
    """Why the record of sheet row `index` can't load as it is, if it can't: its file's
    problem, its place below the total row, or a formula cell without a value."""
    if file_error is not None:
        return file_error
    if total_index is not None and index > total_index:
        return "<row>", f"row after the total row ({TOTAL_FIRST_CELL}, row {total_index + 1})"
    return next(
        (
            (header[column], _formula_reason(formula))
            for (row, column), formula in sorted(formulas.items())
            if row == index and column < len(header) and header[column]
        ),
        None,
    )


def _cell_under(row: Sequence[Cell], header: Sequence[str], name: str) -> str | None:
    if name not in header or header.index(name) >= len(row):
        return None
    return cell_text(row[header.index(name)])


def read_workbooks_here(table: RawTable, files: list[SourceFile]) -> tuple[pa.Table, StageInfo]:
    """The workbooks' stage rows and what staging learned, read in this process."""
    info = StageInfo(count_unit="sheet rows")
    rows = _Rows()
    for source in files:
        add_workbook(table, source, info, rows)
    return rows.table(table), info


def _read_in_two_processes(table: RawTable, files: list[SourceFile]) -> tuple[pa.Table, StageInfo]:
    """The first half of the workbooks read here, the second by a process of its own meanwhile
    (orchestration.ingest.workbook_reader); the rows and infos joined in file order."""
    half = len(files) // 2
    with tempfile.TemporaryDirectory(prefix="workbook-reader-") as folder:
        write_request(Path(folder), table, files[half:])
        with open(Path(folder) / "stderr", "wb") as stderr:
            second = subprocess.Popen(
                [sys.executable, "-m", "orchestration.ingest.workbook_reader", folder],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                stage, info = read_workbooks_here(table, files[:half])
            finally:
                returncode = second.wait()
        if returncode != 0:
            error = (Path(folder) / "stderr").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(
                f"the second workbook reader failed (exit {returncode}) on "
                f"{files[half].relative} .. {files[-1].relative}:\n{error[-3000:]}"
            )
        second_stage, second_info = read_result(Path(folder))
    info.absorb(second_info)
    return pa.concat_tables([stage, second_stage]), info


def _read_workbooks(table: RawTable, files: list[SourceFile]) -> StagedChunk:
    if len(files) >= SECOND_READER_FROM_FILES:
        stage, info = _read_in_two_processes(table, files)
    else:
        stage, info = read_workbooks_here(table, files)
    return StagedChunk(info, lambda conn: stage_arrow(conn, table, [stage], TOTAL_FIELDS))


# The total row must equal the sum of the lines above it: compared on typed values, once for
# all files of a chunk. A 数量 or 进货金额 cell that can't be typed is missing from the sum, so
# its file is rejected as a whole (its total can't be verified); a line that fails on another
# column is quarantined alone.
TOTAL_CHECK = f"""
    SELECT s._source_file, '{TOTAL_FIRST_CELL}' AS field,
           format('total row says {QUANTITY} {{}} and {AMOUNT} {{}}, the lines add up to {{}} '
                  || 'and {{}}', any_value(s._total_quantity), any_value(s._total_amount),
                  coalesce(sum(t."{QUANTITY}"), 0)::VARCHAR,
                  coalesce(sum(t."{AMOUNT}"), 0)::VARCHAR) AS reason
    FROM (SELECT DISTINCT _source_file, _total_quantity, _total_amount,
                 try_cast(_total_row AS BIGINT) AS total_row
          FROM {STAGE} WHERE _total_row IS NOT NULL) AS s
    -- the lines above the total row: a row below it is no line of the total
    LEFT JOIN {TYPED} AS t ON t._source_file = s._source_file AND t._source_row < s.total_row
    GROUP BY s._source_file
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
        _read_workbooks,
        files,
        batch_id=batch_id,
        force=force,
        file_checks=[TOTAL_CHECK],
    )
