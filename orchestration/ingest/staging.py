"""Staging of tabular files (CSV, xlsx) through Arrow: every value as text, with row numbers.

CSV files are decoded one by one in Python (DuckDB has no GB18030 reader, and its readers take
a file name as a glob pattern), then parsed by Arrow all at once: the bodies of the chunk's
files that share a header are joined and parsed in one call (a call per file cost ~1 ms of
fixed overhead: a third of a small-file feed). The parse is line by line: every physical line
is one record, so a record's row is its line, and the parsed records are counted against the
file's own line count (orchestration/ingest/lines.py):

- a line with an odd number of `"` would let its quoted value run on over the next lines (one
  stray quote once swallowed 232 FX rates into one cell): it is quarantined alone, as
  delivered, and the parser never sees it;
- blank lines are not records; the other lines parse to exactly one record each, or to a
  misshapen row (wrong number of fields) that is quarantined;
- a file whose parse still disagrees with its line count (quoting that joins lines in another
  way, a lone CR inside a value) is rejected whole with both numbers.

`stage_table` builds the stage rows of a chunk from per-row arrays; `stage_arrow` hands them
to DuckDB in one go.
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

from orchestration.ingest.core import STAGE, SourceFile, StagedChunk, StageInfo, Stager
from orchestration.ingest.lines import blank_line_numbers, line_count
from orchestration.ingest.tables import RawTable

LINEAGE_FIELDS = ("_source_file", "_source_row", "_raw_record", "_error_field", "_error_reason")
ROW_FIELD = "<row>"
UNDECODABLE_REASON = "bytes that are not valid in the file's encoding"
UNBALANCED_QUOTE_REASON = "unbalanced quote: a quoted value does not end on its line"

ArrayLike = pa.Array | pa.ChunkedArray


def _stage_schema(table: RawTable, extra_fields: Sequence[str]) -> pa.Schema:
    return pa.schema(
        [("_source_file", pa.string()), ("_source_row", pa.int64())]
        + [(name, pa.string()) for name in LINEAGE_FIELDS[2:]]
        + [(c.name, pa.string()) for c in table.columns]
        + [(name, pa.string()) for name in extra_fields]
    )


def per_row(values: Sequence[str | None], index: np.ndarray) -> pa.Array:
    """One value per row, taken from `values` (one per file, say) by each row's index."""
    return pc.take(pa.array(values, pa.string()), pa.array(index, pa.int64()))


def stage_table(
    table: RawTable,
    files: ArrayLike,
    rows: np.ndarray,
    columns: Mapping[str, ArrayLike],
    *,
    errors: tuple[ArrayLike, ArrayLike] | None = None,
    raw_records: ArrayLike | None = None,
    extra_fields: Sequence[str] = (),
) -> pa.Table:
    """Stage rows in the stage layout: the file and row of each, the values of the columns it
    has (a column not in `columns` is NULL), (field, reason) of a failure before typing."""
    count = len(rows)
    nulls = pa.nulls(count, pa.string())
    error_field, error_reason = errors if errors is not None else (nulls, nulls)
    arrays: dict[str, ArrayLike] = {
        "_source_file": files,
        "_source_row": pa.array(rows, pa.int64()),
        "_raw_record": raw_records if raw_records is not None else nulls,
        "_error_field": error_field,
        "_error_reason": error_reason,
    }
    for name in [c.name for c in table.columns] + list(extra_fields):
        arrays[name] = columns.get(name, nulls)
    return pa.table(arrays, schema=_stage_schema(table, extra_fields))


def stage_arrow(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    tables: Sequence[pa.Table],
    extra_fields: Sequence[str] = (),
) -> None:
    """The stage tables as `ingest_stage`: registered, not copied. DuckDB reads the Arrow
    columns where it types them; a copy of every text value in a temp table was written only
    to be read back once (core drops the registration with its temp tables)."""
    combined = (
        pa.concat_tables(tables) if tables else _stage_schema(table, extra_fields).empty_table()
    )
    # one chunk per column: DuckDB scans thousands of small Arrow chunks slowly (3.8 s for
    # the distributor feed's 6,321 one-file tables, against 0.1 s for the same rows combined)
    conn.register(STAGE, combined.combine_chunks())


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
class CsvFile:
    """One CSV file decoded, its header split off, its body's lines accounted for."""

    source: SourceFile
    header: tuple[str, ...]
    body: bytes  # the lines after the header, UTF-8, each ending with LF; unbalanced emptied
    lines: int  # physical lines of the body
    blank: np.ndarray  # 1-based numbers of the body's blank lines (not records)
    unbalanced: np.ndarray  # 1-based numbers of lines with an odd number of quotes
    unbalanced_text: list[str]  # those lines as delivered
    undecodable: bool
    header_error: tuple[str, str] | None
    constants: Mapping[str, str | None] = field(default_factory=dict)


def _header_of(line: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in next(csv.reader([line]), []))


def _decode(data: bytes, encoding: str) -> tuple[str, bool]:
    """The text, and whether bytes had to be replaced (U+FFFD) because they don't decode."""
    try:
        return data.decode(encoding), False
    except UnicodeDecodeError:
        return data.decode(encoding, errors="replace"), True


def _lines_of(body: bytes) -> pa.Array:
    """The body's physical lines (Arrow, no Python loop); the body ends with LF."""
    return pc.split_pattern(pa.array([body[:-1]], pa.large_binary()), b"\n").flatten()


def _without_unbalanced_lines(body: bytes) -> tuple[bytes, np.ndarray, list[str]]:
    """The body with every line that holds an odd number of `"` emptied (so that its quoted
    value cannot run on over the next lines), their numbers and their text as delivered."""
    if b'"' not in body:
        return body, np.empty(0, dtype=np.int64), []
    lines = _lines_of(body)
    odd = pc.equal(pc.bit_wise_and(pc.count_substring(lines, '"'), 1), 1)
    numbers = np.flatnonzero(odd.to_numpy(zero_copy_only=False)).astype(np.int64)
    if len(numbers) == 0:
        return body, numbers, []
    # the few bad lines only, as text (the body is UTF-8: decoded already)
    texts = [line.decode("utf-8") for line in pc.take(lines, pa.array(numbers)).to_pylist()]
    kept = pc.if_else(odd, pa.scalar(b"", pa.large_binary()), lines)
    joined = pc.binary_join(
        pa.LargeListArray.from_arrays([0, len(kept)], kept), pa.scalar(b"\n", pa.large_binary())
    )
    return joined[0].as_py() + b"\n", numbers + 1, texts


def read_csv_file(
    table: RawTable,
    source: SourceFile,
    encoding: str,
    info: StageInfo,
    constants: Mapping[str, str | None] | None = None,
) -> CsvFile | None:
    """Decode a CSV file and count its records; None when it can't be read at all (rejected
    whole in `info`)."""
    try:
        data = source.path.read_bytes()
    except OSError as error:
        info.reject_file(source.relative, f"cannot read the file: {error.strerror or error}")
        return None
    text, undecodable = _decode(data, encoding)
    header_line, _, body_text = text.removeprefix("\ufeff").partition("\n")
    # kept as UTF-8 bytes, what Arrow parses: the chunk's decoded texts, held until the
    # parse, would take several times the memory
    body = body_text.encode("utf-8")
    if body and not body.endswith(b"\n"):
        body += b"\n"
    try:
        header = _header_of(header_line)
    except csv.Error as error:  # e.g. a file whose lines end with a lone CR: no LF at all
        info.reject_file(source.relative, f"cannot read the header line: {error}")
        return None
    header_error = check_header(table, source, header, info)
    blank = blank_line_numbers(body)
    lines = line_count(body)
    info.records_in_file[source.relative] = lines - len(blank)
    if header_error is not None and lines == len(blank):
        # nothing to quarantine row by row: the file itself is
        info.reject_file(source.relative, header_error[1], header_error[0])
        return None
    body, unbalanced, unbalanced_text = _without_unbalanced_lines(body)
    return CsvFile(
        source, header, body, lines, blank, unbalanced, unbalanced_text, undecodable,
        header_error, constants or {},
    )  # fmt: skip


@dataclass
class _Parsed:
    """Arrow's parse of joined bodies: the rows, their line numbers, the misshapen lines."""

    table: pa.Table
    lines: np.ndarray  # 1-based line (in the joined bodies) of each parsed row
    misshapen: list[tuple[int, str, str]]  # (line, text, reason)


def _parse(body: bytes, column_count: int) -> _Parsed | None:
    """Parse joined bodies line by line; None if Arrow's records are not one per line."""
    misshapen: list[tuple[int, str, str]] = []

    def keep_misshapen(row: pacsv.InvalidRow) -> str:
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        misshapen.append((row.number, row.text, reason))
        return "skip"

    names = [f"c{i}" for i in range(column_count)]
    try:
        parsed = pacsv.read_csv(
            io.BytesIO(body),
            # one thread: Arrow numbers the misshapen rows only then
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            # empty lines stay rows (of empty values): every line is one row or one misshapen
            parse_options=pacsv.ParseOptions(
                ignore_empty_lines=False, invalid_row_handler=keep_misshapen
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:  # e.g. a quoted value still open at the end
        return None
    total = line_count(body)
    if parsed.num_rows + len(misshapen) != total or any(n is None for n, _, _ in misshapen):
        return None
    skipped = np.array([number for number, _, _ in misshapen], dtype=np.int64)
    lines = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), skipped, assume_unique=True)
    return _Parsed(parsed, lines, misshapen)


def _undecodable_errors(
    columns: Mapping[str, ArrayLike], in_undecodable_file: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """(field, reason) of the rows of undecodable files whose values hold U+FFFD."""
    count = len(in_undecodable_file)
    bad = np.zeros(count, dtype=bool)
    first_bad_field = np.full(count, None, dtype=object)
    for name, values in reversed(list(columns.items())):
        hit = np.asarray(pc.match_substring(values, "\ufffd")) & in_undecodable_file
        first_bad_field[hit] = name
        bad |= hit
    reasons = np.where(bad, UNDECODABLE_REASON, None)
    return pa.array(first_bad_field, pa.string()), pa.array(reasons, pa.string())


def _group_tables(
    table: RawTable, header: tuple[str, ...], members: list[CsvFile], info: StageInfo
) -> list[pa.Table]:
    """The stage tables of CSV files that share a header, parsed in one call."""
    members = [m for m in members if m.lines > 0]
    if not members:
        return []
    parsed = _parse(b"".join(m.body for m in members), len(header))
    if parsed is None:
        if len(members) > 1:  # find the file(s) that disagree
            return [t for m in members for t in _group_tables(table, header, [m], info)]
        (member,) = members
        records = member.lines - len(member.blank)
        info.reject_file(
            member.source.relative,
            f"the file holds {records} records by a count of its lines, the CSV parser "
            "finds another number (quoting that joins lines, or a lone CR inside a value)",
        )
        return []
    offsets = np.cumsum([0] + [m.lines for m in members])
    blank_or_unbalanced = np.concatenate(
        [
            np.concatenate([m.blank, m.unbalanced]) + offset
            for m, offset in zip(members, offsets[:-1], strict=True)
        ]
    )
    keep = ~np.isin(parsed.lines, blank_or_unbalanced)
    lines = parsed.lines[keep]
    file_index = np.searchsorted(offsets, lines, side="left") - 1
    mask = pa.array(keep)
    columns = {
        name: parsed.table.column(f"c{position}").filter(mask)
        for position, name in enumerate(header)
        if name and name not in header[:position]
    }
    for name in {n for m in members for n in m.constants}:
        columns[name] = per_row([m.constants.get(name) for m in members], file_index)
    files = per_row([m.source.relative for m in members], file_index)
    errors = None
    if any(m.undecodable for m in members):
        undecodable = np.array([m.undecodable for m in members])[file_index]
        errors = _undecodable_errors({n: columns[n] for n in header if n in columns}, undecodable)
    if any(m.header_error for m in members):
        header_fields = [m.header_error[0] if m.header_error else None for m in members]
        header_reasons = [m.header_error[1] if m.header_error else None for m in members]
        field_per_row = per_row(header_fields, file_index)
        reason_per_row = per_row(header_reasons, file_index)
        if errors is not None:  # the file's problem first, as it applies to every row
            field_per_row = pc.coalesce(field_per_row, errors[0])
            reason_per_row = pc.coalesce(reason_per_row, errors[1])
        errors = (field_per_row, reason_per_row)
    rows = lines - offsets[file_index]
    tables = [stage_table(table, files, rows, columns, errors=errors)]
    misshapen = _misshapen_table(table, members, offsets, parsed.misshapen)
    return tables + ([misshapen] if misshapen is not None else [])


def _misshapen_table(
    table: RawTable,
    members: list[CsvFile],
    offsets: np.ndarray,
    misshapen: list[tuple[int, str, str]],
) -> pa.Table | None:
    """Rows that can't be records as they are: wrong number of fields, unbalanced quote."""
    lines = [number for number, _, _ in misshapen]
    texts = [text for _, text, _ in misshapen]
    reasons = [reason for _, _, reason in misshapen]
    for member, offset in zip(members, offsets[:-1], strict=True):
        lines += (member.unbalanced + offset).tolist()
        texts += member.unbalanced_text
        reasons += [UNBALANCED_QUOTE_REASON] * len(member.unbalanced)
    if not lines:
        return None
    line_numbers = np.array(lines, dtype=np.int64)
    file_index = np.searchsorted(offsets, line_numbers, side="left") - 1
    constants = {
        name: per_row([m.constants.get(name) for m in members], file_index)
        for name in {n for m in members for n in m.constants}
    }
    return stage_table(
        table,
        per_row([m.source.relative for m in members], file_index),
        line_numbers - offsets[file_index],
        constants,
        errors=(pa.array([ROW_FIELD] * len(lines), pa.string()), pa.array(reasons, pa.string())),
        raw_records=pa.array(texts, pa.string()),
    )


def csv_stager(
    encoding: str,
    constants_of: Callable[[SourceFile], Mapping[str, str | None]] | None = None,
) -> Stager:
    """A stager for CSV feeds: decode each file, parse the files of a header at once."""

    def read(table: RawTable, files: list[SourceFile]) -> StagedChunk:
        info = StageInfo()
        by_header: dict[tuple[str, ...], list[CsvFile]] = {}
        for source in files:
            constants = constants_of(source) if constants_of else None
            csv_file = read_csv_file(table, source, encoding, info, constants)
            if csv_file is not None:
                by_header.setdefault(csv_file.header, []).append(csv_file)
        tables = [
            stage
            for header, members in by_header.items()
            for stage in _group_tables(table, header, members, info)
        ]
        return StagedChunk(info, lambda conn: stage_arrow(conn, table, tables))

    return read
