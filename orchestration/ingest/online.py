"""Online shop back-end exports (JSON Lines): orders with nested lines, and refunds.

Each file's bytes are read as the file they are (by Python: DuckDB's file readers take a name
as a glob pattern, and a delivered name may hold `*` or `[`), a byte-order mark is dropped, and
the file must be UTF-8 (else it is quarantined whole; the rest of the feed goes on). DuckDB then
splits the texts into physical lines, so that each record keeps its exact line number; the
lines go to a table of their own, then JSON is parsed and every field extracted as text in SQL
and typed by the shared machinery in core.py, in one statement (the text is never stored).
Every key of the contract must be in a record (JSON null is a value; a missing key is not).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.ingest.core import (
    TYPED,
    LoadResult,
    SourceFile,
    StagedChunk,
    StageInfo,
    Stager,
    quote,
    run_load,
    sql_string,
    typed_table_sql,
)
from orchestration.ingest.lines import join_lines, record_counts
from orchestration.ingest.tables import ONLINE_ORDER_LINES, ONLINE_REFUNDS, RawTable

ORDER_LINES_KEY = "lines"
MISSING_KEY = "key missing from the record"
# fields of the objects in an order's `lines` array; every other column is order-level
LINE_FIELDS = ("line_no", "sku", "quantity", "unit_price", "promo_discount")
# the keys of a record and of its array's elements that the contract does not know, kept beside
# the typed rows (ingest_typed) for StageInfo.extra_columns
EXTRA_KEY_COLUMNS = ("top_extra", "item_extra")

# The records as delivered: every non-blank physical line of the files being staged. It is a
# table of its own because `read_text` runs on one thread, while the JSON parsing that reads
# this table runs on all of them. Core takes the quarantined records from it, so the stage
# doesn't carry a copy of each line (once per order line, even).
LINES = "ingest_jsonl_lines"

# A chunk of JSONL files is held as text (a chunk read ahead, one written) and parsed by DuckDB
# within its memory limit, so it can be larger than core's default, sized for the Arrow
# stagers' decoded tables. Fewer, larger statements: the 30M-line online orders (4.6 GB of
# JSONL) alone, 2 threads, 2 GB: 50.3-52.0 s at 192 MiB against 55.1-58.6 s at 128 MiB, peak
# RSS 2.1-2.2 GB against 1.7 GB (the POS files at 192 MiB: no faster, 2.4-2.6 GB).
JSONL_CHUNK_BYTES = 192 * 1024 * 1024


def _json_paths(names: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(f'$."{name}"') for name in names) + "]"


def _string_list(names: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(name) for name in names) + "]"


def _extra_keys(keys: str, known: Sequence[str]) -> str:
    """The keys (a VARCHAR[] expression) that are not among the known ones."""
    known_keys = _string_list(known)
    return f"list_filter({keys}, lambda k: NOT list_contains({known_keys}, k))"


def _utf8_problem(data: bytes) -> str | None:
    """Why bytes are not UTF-8, with the offset of the first bad byte; None if they are."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.start + 1].hex()
        return (
            f"not UTF-8: byte 0x{bad} at offset {error.start} ({error.reason}); "
            "JSON Lines must be UTF-8 (was it saved as GB18030?)"
        )
    return None


def _read_files(files: list[SourceFile], info: StageInfo) -> tuple[list[str], list[bytes]]:
    """The files' bytes, byte-order mark dropped (no part of the first record, and lossless:
    UTF-8 has no byte order); a file that can't be read is rejected whole in `info`."""
    relatives: list[str] = []
    contents: list[bytes] = []
    for source in files:
        try:
            data = source.path.read_bytes()
        except OSError as error:
            info.reject_file(source.relative, f"cannot read the file: {error.strerror or error}")
            continue
        relatives.append(source.relative)
        contents.append(data.removeprefix(codecs.BOM_UTF8))
    return relatives, contents


def _text_array(joined: bytes, offsets: np.ndarray, keep: pa.Array | None = None) -> pa.Array:
    """The joined texts as one Arrow array of strings (built on the buffer: a list of bytes
    objects converted ~30x slower), only those in `keep` if given; validated as UTF-8."""
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(joined)]
    texts = pa.Array.from_buffers(pa.large_binary(), len(offsets) - 1, buffers)
    if keep is not None:
        texts = texts.filter(keep)
    return texts.cast(pa.large_string())  # the cast checks UTF-8 in one pass


def _read_texts(files: list[SourceFile], info: StageInfo) -> pa.Table:
    """(relative, content) of the files that can be read as UTF-8 text; the others are
    rejected whole in `info`; each file's records counted (lines.record_counts)."""
    relatives, contents = _read_files(files, info)
    joined, offsets = join_lines(contents)
    del contents  # the joined copy is what is read from now on (memory: one copy per chunk)
    for relative, records in zip(relatives, record_counts(joined, offsets).tolist(), strict=True):
        info.records_in_file[relative] = records
        if records == 0:
            # blank lines (or a byte-order mark) only: as empty as a 0-byte file, and as
            # suspect (an export always has a record: every platform sells every day)
            info.reject_file(relative, "empty file (no record, blank lines only)")
    names = pa.array(relatives, pa.string())
    try:
        return pa.table({"relative": names, "content": _text_array(joined, offsets)})
    except pa.ArrowInvalid:  # a file is not UTF-8: found, rejected, the others go on
        problems = [
            _utf8_problem(joined[start:end])
            for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
        ]
        for relative, problem in zip(relatives, problems, strict=True):
            if problem is not None:
                info.reject_file(relative, problem)
        keep = pa.array([problem is None for problem in problems])
        content = _text_array(joined, offsets, keep)
        return pa.table({"relative": names.filter(keep), "content": content})


def _build_lines_table(conn: duckdb.DuckDBPyConnection, texts: pa.Table) -> None:
    """`ingest_jsonl_lines`: each non-blank line of the texts as `_raw_record`, numbered from 1."""
    conn.register("ingest_jsonl_texts", texts)
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {LINES} AS
            WITH docs AS (
                SELECT relative AS _source_file, string_split(content, chr(10)) AS lines
                FROM ingest_jsonl_texts
            ),
            physical AS (
                -- unnest in the select list: a lateral join over the texts ran out of memory
                SELECT _source_file, generate_subscripts(lines, 1) AS _source_row,
                       unnest(lines) AS _raw_record
                FROM docs
            )
            -- A CRLF line keeps its trailing CR: JSON allows it as whitespace, and string
            -- functions that copy every line (rtrim, trim) would double the staging time.
            SELECT * FROM physical WHERE _raw_record <> '' AND _raw_record <> chr(13)"""
        )
    finally:
        conn.unregister("ingest_jsonl_texts")


def _missing_keys(keys: str, expected: Sequence[str]) -> str:
    """The expected keys that are not among `keys` (a VARCHAR[] expression)."""
    return f"list_filter({_string_list(expected)}, lambda k: NOT list_contains({keys}, k))"


def _record_structure(top_fields: Sequence[str], nested_key: str | None) -> str:
    """json_transform's structure for a record: every top-level field as text (a number as
    DuckDB writes it back, 1.50 -> '1.5', as json_extract_string did), the nested array's
    elements as JSON."""
    structure = {name: "VARCHAR" for name in top_fields}
    if nested_key:
        structure[nested_key] = "JSON[]"
    return sql_string(json.dumps(structure, ensure_ascii=False))


def _parsed_sql(top_fields: Sequence[str], nested_key: str | None) -> str:
    """CTE `fields`: each line with its top-level values as text, one column per field, its
    unexpected keys and, with a nested array, the array's elements as JSON (column `<key>`).

    Every JSON function parses the line again, so there are two: json_keys first, where `try`
    makes the keys NULL for invalid JSON (and valid JSON that starts with a brace is an
    object, so json_valid is not needed); then one json_transform for all values and the
    array, on objects only. It replaced a json_extract_string of the values plus a json_extract
    of the array (three parses; the online order step of the 30M full refresh: 80 -> 77 s).
    A value of another type than the structure says (an array that is not one) is NULL.
    """
    top_known = [*top_fields, nested_key] if nested_key else top_fields
    return f"""
        with_keys AS (
            SELECT _source_file, _source_row, _raw_record AS line,
                   CASE WHEN starts_with(_raw_record, '{{') THEN try(json_keys(_raw_record)) END
                       AS top_keys
            FROM {LINES}
        ),
        objects AS (SELECT *, top_keys IS NOT NULL AS is_object FROM with_keys),
        parsed AS (
            SELECT _source_file, _source_row, is_object,
                   CASE WHEN is_object
                        THEN json_transform(line, {_record_structure(top_fields, nested_key)})
                   END AS record,
                   coalesce({_extra_keys("top_keys", top_known)}, []::VARCHAR[]) AS top_extra,
                   coalesce({_missing_keys("top_keys", top_fields)}, []::VARCHAR[])
                       AS top_missing
            FROM objects
        ),
        fields AS (SELECT * EXCLUDE (record), record.* FROM parsed)"""


def _flat_records_sql() -> tuple[str, str, str]:
    """CTE, error field and error reason for records without a nested array."""
    cte = (
        "elements AS (SELECT *, NULL::VARCHAR[] AS item_values, "
        "[]::VARCHAR[] AS item_extra FROM fields)"
    )
    return (
        cte,
        "CASE WHEN NOT is_object THEN '<record>' WHEN len(top_missing) > 0 THEN top_missing[1] END",
        f"CASE WHEN NOT is_object THEN 'not a JSON object' "
        f"WHEN len(top_missing) > 0 THEN '{MISSING_KEY}' END",
    )


def _nested_records_sql(nested_key: str, nested_fields: Sequence[str]) -> tuple[str, str, str]:
    """CTE exploding the nested array (one row per element), error field and error reason.

    A record whose array is missing, not an array or empty would vanish in the unnest: it is
    kept as one row with a NULL element, so that it is counted as read and quarantined.
    """
    key, array = sql_string(nested_key), quote(nested_key)
    cte = f"""
        with_item_list AS (
            -- a missing key, JSON null and a value that is not an array are all NULL
            -- (and a JSON null element is a NULL in the list, not the text 'null')
            SELECT * EXCLUDE ({array}), {array} IS NOT NULL AS is_array,
                   coalesce(len({array}) = 0, false) AS is_empty,
                   CASE WHEN len({array}) > 0 THEN {array} ELSE [NULL::JSON] END AS item_list
            FROM fields
        ),
        exploded AS (
            -- unnest of a plain column: an expression in it makes a (slower, reordering) join
            SELECT p.* EXCLUDE (item_list), u.item,
                   coalesce(starts_with(u.item, '{{'), false) AS item_ok
            FROM with_item_list AS p, unnest(p.item_list) AS u(item)
        ),
        with_item_keys AS (
            SELECT *, CASE WHEN item_ok THEN json_keys(item) END AS item_keys FROM exploded
        ),
        elements AS (
            SELECT * EXCLUDE (item_keys),
                   CASE WHEN item_ok THEN json_extract_string(item, {_json_paths(nested_fields)})
                   END AS item_values,
                   coalesce({_extra_keys("item_keys", nested_fields)}, []::VARCHAR[])
                       AS item_extra,
                   coalesce({_missing_keys("item_keys", nested_fields)}, []::VARCHAR[])
                       AS item_missing
            FROM with_item_keys
        )"""
    error_field = (
        f"CASE WHEN NOT is_object THEN '<record>' WHEN NOT is_array OR NOT item_ok THEN {key} "
        "WHEN len(top_missing) > 0 THEN top_missing[1] "
        "WHEN len(item_missing) > 0 THEN item_missing[1] END"
    )
    error_reason = (
        "CASE WHEN NOT is_object THEN 'not a JSON object' "
        "WHEN NOT is_array THEN 'missing or not an array' "
        "WHEN is_empty THEN 'array has no elements' "
        "WHEN NOT item_ok THEN 'element is not a JSON object' "
        f"WHEN len(top_missing) > 0 THEN '{MISSING_KEY}' "
        f"WHEN len(item_missing) > 0 THEN 'key missing from an element of {nested_key}' END"
    )
    return cte, error_field, error_reason


def _stage_sql(
    table: RawTable, nested_key: str | None = None, nested_fields: Sequence[str] = ()
) -> str:
    """The stage rows from the lines table, a query; with a nested array, one row per element.

    `_raw_record` stays NULL: core takes the quarantined records from the lines table. The
    rows are typed in the same statement (core.typed_table_sql): they are never stored as text.
    """
    top_fields = [c.name for c in table.columns if c.name not in nested_fields]
    elements_cte, error_field, error_reason = (
        _nested_records_sql(nested_key, nested_fields) if nested_key else _flat_records_sql()
    )
    values = [quote(name) for name in top_fields]
    values += [
        f"item_values[{i}] AS {quote(name)}" for i, name in enumerate(nested_fields, start=1)
    ]
    return f"""
        WITH {_parsed_sql(top_fields, nested_key)},
        {elements_cte}
        SELECT _source_file, _source_row, NULL::VARCHAR AS _raw_record,
               {error_field} AS _error_field, {error_reason} AS _error_reason,
               {", ".join(values)}, top_extra, item_extra
        FROM elements"""


def _jsonl_stager(nested_key: str | None = None, nested_fields: Sequence[str] = ()) -> Stager:
    """A stager for JSONL records; with a nested array, one stage row per element of it."""

    def read(table: RawTable, files: list[SourceFile]) -> StagedChunk:
        info = StageInfo()
        texts = _read_texts(files, info)

        def write(conn: duckdb.DuckDBPyConnection) -> None:
            _build_lines_table(conn, texts)
            try:
                stage = _stage_sql(table, nested_key, nested_fields)
                conn.execute(typed_table_sql(table, stage, keep=EXTRA_KEY_COLUMNS))
                _collect_extra_keys(conn, nested_key, info)
            except BaseException:
                conn.execute(f"DROP TABLE IF EXISTS temp.{LINES}")
                raise
            info.raw_records = LINES  # run_load drops it with its own temp tables

        return StagedChunk(info, write, typed=True)

    return read


def _collect_extra_keys(
    conn: duckdb.DuckDBPyConnection, nested_key: str | None, info: StageInfo
) -> None:
    rows = conn.execute(
        f"""SELECT DISTINCT _source_file, unnest(top_extra) FROM {TYPED} WHERE len(top_extra) > 0
        UNION
        SELECT DISTINCT _source_file, {sql_string((nested_key or "") + ".")} || unnest(item_extra)
        FROM {TYPED} WHERE len(item_extra) > 0
        ORDER BY ALL"""
    ).fetchall()
    for relative, key in rows:
        info.add_extra(key, relative)


ORDERS_STAGER = _jsonl_stager(ORDER_LINES_KEY, LINE_FIELDS)
REFUNDS_STAGER = _jsonl_stager()


def load_online_orders(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load order exports into raw.online_order_lines (one row per order line).

    An order is one record: if any of its lines fails, the whole order is quarantined.
    """
    return run_load(
        conn,
        raw_dir,
        ONLINE_ORDER_LINES,
        ORDERS_STAGER,
        files,
        batch_id=batch_id,
        force=force,
        chunk_bytes=JSONL_CHUNK_BYTES,
    )


def load_online_refunds(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load refund exports into raw.online_refunds."""
    return run_load(
        conn,
        raw_dir,
        ONLINE_REFUNDS,
        REFUNDS_STAGER,
        files,
        batch_id=batch_id,
        force=force,
        chunk_bytes=JSONL_CHUNK_BYTES,
    )
