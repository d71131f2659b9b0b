"""Staging of tabular files (CSV, xlsx) through Arrow: every value as text, with row numbers.

Readers that work file by file (GB18030 decoding, xlsx) build one small Arrow table per file
with `file_table`; `stage_arrow` concatenates them and hands DuckDB the result in one go.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from orchestration.ingest.core import STAGE, WHOLE_FILE_ROW, SourceFile, StageInfo
from orchestration.ingest.tables import RawTable

LINEAGE_FIELDS = ("_source_file", "_source_row", "_raw_record", "_error_field", "_error_reason")


def _stage_schema(table: RawTable, extra_fields: Sequence[str]) -> pa.Schema:
    return pa.schema(
        [("_source_file", pa.string()), ("_source_row", pa.int64())]
        + [(name, pa.string()) for name in LINEAGE_FIELDS[2:]]
        + [(c.name, pa.string()) for c in table.columns]
        + [(name, pa.string()) for name in extra_fields]
    )


def file_table(
    table: RawTable,
    source: SourceFile,
    columns: Mapping[str, pa.Array | pa.ChunkedArray],
    row_numbers: np.ndarray,
    *,
    constants: Mapping[str, str | None] | None = None,
    error: tuple[str, str] | None = None,
    raw_records: pa.Array | None = None,
    row_errors: tuple[pa.Array, pa.Array] | None = None,
    extra_fields: Sequence[str] = (),
) -> pa.Table:
    """One file's rows in the stage layout.

    `columns` holds the file's text columns (a missing one becomes NULL), `constants` values
    that are the same for the whole file (derived columns, totals), `error` a problem of the
    whole file (every row is rejected with it) and `row_errors` (field, reason) per row.
    """
    count = len(row_numbers)
    constants = constants or {}
    if error is not None:
        error_field = pa.array([error[0]] * count, pa.string())
        error_reason = pa.array([error[1]] * count, pa.string())
    elif row_errors is not None:
        error_field, error_reason = row_errors
    else:
        error_field = error_reason = pa.nulls(count, pa.string())
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {
        "_source_file": pa.array([source.relative] * count, pa.string()),
        "_source_row": pa.array(row_numbers, pa.int64()),
        "_raw_record": raw_records if raw_records is not None else pa.nulls(count, pa.string()),
        "_error_field": error_field,
        "_error_reason": error_reason,
    }
    for name in [c.name for c in table.columns] + list(extra_fields):
        if name in constants:
            arrays[name] = pa.array([constants[name]] * count, pa.string())
        elif name in columns:
            arrays[name] = columns[name]
        else:
            arrays[name] = pa.nulls(count, pa.string())
    return pa.table(arrays, schema=_stage_schema(table, extra_fields))


def unreadable_file_table(
    table: RawTable,
    source: SourceFile,
    field_name: str,
    reason: str,
    extra_fields: Sequence[str] = (),
) -> pa.Table:
    """A file that can't be read at all becomes one rejected record, row 0."""
    return file_table(
        table,
        source,
        {},
        np.array([WHOLE_FILE_ROW], dtype=np.int64),
        error=(field_name, reason),
        extra_fields=extra_fields,
    )


def stage_arrow(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    tables: Sequence[pa.Table],
    extra_fields: Sequence[str] = (),
) -> None:
    combined = (
        pa.concat_tables(tables) if tables else _stage_schema(table, extra_fields).empty_table()
    )
    conn.register("ingest_stage_arrow", combined)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT * FROM ingest_stage_arrow")
    conn.unregister("ingest_stage_arrow")


def check_header(
    table: RawTable, source: SourceFile, header: Sequence[str], info: StageInfo
) -> tuple[str, str] | None:
    """Report extra columns; a missing or duplicated required column rejects the file."""
    expected = [c.name for c in table.file_columns]
    for name in header:
        if name and name not in expected:
            info.add_extra(name, source.relative)
    missing = [name for name in expected if name not in header]
    if missing:
        return missing[0], "required column missing from the file: " + ", ".join(missing)
    duplicated = sorted({name for name in header if header.count(name) > 1 and name in expected})
    if duplicated:
        return duplicated[0], "column appears more than once: " + ", ".join(duplicated)
    return None


# --- CSV ----------------------------------------------------------------------------------


@dataclass
class CsvText:
    """A CSV file read with every column as text."""

    header: list[str]
    columns: dict[str, pa.ChunkedArray]
    row_numbers: np.ndarray  # data row number of each parsed row (first row after header = 1)
    # rows with the wrong number of fields: (data row, text, reason)
    invalid_rows: list[tuple[int, str, str]] = field(default_factory=list)
    undecodable: bool = False


def _header_of(text: str) -> list[str]:
    first_line = text.split("\n", 1)[0]
    return [name.strip() for name in next(csv.reader([first_line]), [])]


def read_csv_text(data: bytes, encoding: str) -> CsvText:
    """Decode and parse a CSV file with Arrow, keeping each row's number in the file.

    Decoding happens in Python because DuckDB has no GB18030 reader; bytes that don't decode
    become U+FFFD and the rows holding them are flagged by the caller.
    """
    try:
        text = data.decode(encoding)
        undecodable = False
    except UnicodeDecodeError:
        text = data.decode(encoding, errors="replace")
        undecodable = True
    text = text.removeprefix("\ufeff")
    header = _header_of(text)
    invalid: list[tuple[int, str, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        # Arrow numbers rows from 1 with the header as row 1 (blank lines not counted)
        invalid.append(
            (
                row.number - 1,
                row.text,
                f"expected {row.expected_columns} fields, found {row.actual_columns}",
            )
        )
        return "skip"

    # unique internal names, so that a duplicated header still parses (and is then rejected)
    internal_names = [f"c{i}" for i in range(len(header))]
    parsed = pacsv.read_csv(
        io.BytesIO(text.encode("utf-8")),
        read_options=pacsv.ReadOptions(column_names=internal_names, skip_rows=1, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=keep_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in internal_names},
            strings_can_be_null=False,
        ),
    )
    # data rows are numbered over all rows; the ones Arrow skipped leave gaps
    total_rows = parsed.num_rows + len(invalid)
    row_numbers = np.setdiff1d(
        np.arange(1, total_rows + 1, dtype=np.int64),
        np.array([number for number, _, _ in invalid], dtype=np.int64),
        assume_unique=True,
    )
    columns: dict[str, pa.ChunkedArray] = {}
    for name, internal in zip(header, internal_names, strict=True):
        columns.setdefault(name, parsed.column(internal))
    return CsvText(header, columns, row_numbers, invalid, undecodable)


def _undecodable_row_errors(csv_text: CsvText) -> tuple[pa.Array, pa.Array] | None:
    if not csv_text.undecodable:
        return None
    bad = np.zeros(len(csv_text.row_numbers), dtype=bool)
    first_bad_field = np.full(len(csv_text.row_numbers), None, dtype=object)
    for name, values in reversed(csv_text.columns.items()):
        hit = pc.match_substring(values, "\ufffd").to_numpy(zero_copy_only=False)
        first_bad_field[hit] = name
        bad |= hit
    reasons = np.where(bad, "bytes that are not valid in the file's encoding", None)
    return pa.array(first_bad_field, pa.string()), pa.array(reasons, pa.string())


def csv_file_tables(
    table: RawTable,
    source: SourceFile,
    encoding: str,
    info: StageInfo,
    constants: Mapping[str, str | None] | None = None,
) -> list[pa.Table]:
    """The stage tables of one CSV file: its parsed rows, and its rows of the wrong shape."""
    try:
        csv_text = read_csv_text(source.path.read_bytes(), encoding)
    except (pa.ArrowInvalid, OSError, csv.Error) as error:
        return [unreadable_file_table(table, source, "<file>", f"cannot parse CSV: {error}")]
    parsed = file_table(
        table,
        source,
        csv_text.columns,
        csv_text.row_numbers,
        constants=constants,
        error=check_header(table, source, csv_text.header, info),
        row_errors=_undecodable_row_errors(csv_text),
    )
    if not csv_text.invalid_rows:
        return [parsed]
    numbers, texts, reasons = zip(*csv_text.invalid_rows, strict=True)
    misshapen = file_table(
        table,
        source,
        {},
        np.array(numbers, dtype=np.int64),
        constants=constants,
        raw_records=pa.array(texts, pa.string()),
        row_errors=(pa.array(["<row>"] * len(numbers)), pa.array(reasons, pa.string())),
    )
    return [parsed, misshapen]


def csv_stager(
    encoding: str,
    constants_of: Callable[[SourceFile], Mapping[str, str | None]] | None = None,
) -> Callable[[duckdb.DuckDBPyConnection, RawTable, list[SourceFile]], StageInfo]:
    """A stager for CSV feeds: decode, parse each file with Arrow, stage them all at once."""

    def stage(
        conn: duckdb.DuckDBPyConnection, table: RawTable, files: list[SourceFile]
    ) -> StageInfo:
        info = StageInfo()
        tables: list[pa.Table] = []
        for source in files:
            constants = constants_of(source) if constants_of else None
            tables.extend(csv_file_tables(table, source, encoding, info, constants))
        stage_arrow(conn, table, tables)
        return info

    return stage
