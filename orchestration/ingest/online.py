"""Online shop back-end exports (JSON Lines): orders with nested lines, and refunds.

The files are read with DuckDB's own `read_text` and split into physical lines, so that each
record keeps its exact line number; the lines go to a table of their own, then JSON is parsed
and every field extracted as text in SQL, and typed by the shared machinery in core.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb

from orchestration.ingest.core import (
    FILES,
    STAGE,
    LoadResult,
    SourceFile,
    StageInfo,
    quote,
    run_load,
    sql_string,
)
from orchestration.ingest.tables import ONLINE_ORDER_LINES, ONLINE_REFUNDS, RawTable

ORDER_LINES_KEY = "lines"
# fields of the objects in an order's `lines` array; every other column is order-level
LINE_FIELDS = ("line_no", "sku", "quantity", "unit_price", "promo_discount")

# The records as delivered: every non-blank physical line of the files being staged. It is a
# table of its own because `read_text` runs on one thread, while the JSON parsing that reads
# this table runs on all of them. Core takes the quarantined records from it, so the stage
# doesn't carry a copy of each line (once per order line, even).
LINES = "ingest_jsonl_lines"


def _json_paths(names: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(f'$."{name}"') for name in names) + "]"


def _string_list(names: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(name) for name in names) + "]"


def _extra_keys(keys: str, known: Sequence[str]) -> str:
    """The keys (a VARCHAR[] expression) that are not among the known ones."""
    known_keys = _string_list(known)
    return f"list_filter({keys}, lambda k: NOT list_contains({known_keys}, k))"


def _build_lines_table(conn: duckdb.DuckDBPyConnection, files: list[SourceFile]) -> None:
    """`ingest_jsonl_lines`: each non-blank line of the files as `_raw_record`, numbered from 1."""
    paths = _string_list([f.path.as_posix() for f in files])
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {LINES} AS
        WITH docs AS (
            SELECT f.relative AS _source_file, string_split(t.content, chr(10)) AS lines
            FROM read_text({paths}) AS t
            JOIN {FILES} AS f ON f.path = t.filename
        ),
        physical AS (
            -- unnest in the select list: a lateral join over read_text ran out of memory
            SELECT _source_file, generate_subscripts(lines, 1) AS _source_row,
                   unnest(lines) AS _raw_record
            FROM docs
        )
        -- A CRLF line keeps its trailing CR: JSON allows it as whitespace, and string
        -- functions that copy every line (rtrim, trim) would double the staging time.
        SELECT * FROM physical WHERE _raw_record <> '' AND _raw_record <> chr(13)"""
    )


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
                   coalesce({_extra_keys("top_keys", top_known)}, []::VARCHAR[]) AS top_extra
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
        "CASE WHEN NOT is_object THEN '<record>' END",
        "CASE WHEN NOT is_object THEN 'not a JSON object' END",
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
        elements AS (
            SELECT *,
                   CASE WHEN item_ok THEN json_extract_string(item, {_json_paths(nested_fields)})
                   END AS item_values,
                   CASE WHEN item_ok THEN {_extra_keys("json_keys(item)", nested_fields)}
                        ELSE []::VARCHAR[] END AS item_extra
            FROM exploded
        )"""
    error_field = (
        f"CASE WHEN NOT is_object THEN '<record>' WHEN NOT is_array OR NOT item_ok THEN {key} END"
    )
    error_reason = (
        "CASE WHEN NOT is_object THEN 'not a JSON object' "
        "WHEN NOT is_array THEN 'missing or not an array' "
        "WHEN is_empty THEN 'array has no elements' "
        "WHEN NOT item_ok THEN 'element is not a JSON object' END"
    )
    return cte, error_field, error_reason


def _stage_sql(
    table: RawTable, nested_key: str | None = None, nested_fields: Sequence[str] = ()
) -> str:
    """The stage from the lines table; with a nested array, one row per element of it.

    `_raw_record` stays NULL: core takes the quarantined records from the lines table.
    """
    top_fields = [c.name for c in table.columns if c.name not in nested_fields]
    elements_cte, error_field, error_reason = (
        _nested_records_sql(nested_key, nested_fields) if nested_key else _flat_records_sql()
    )
    values = [quote(name) for name in top_fields]
    values += [
        f"item_values[{i}] AS {quote(name)}" for i, name in enumerate(nested_fields, start=1)
    ]
    return f"""CREATE OR REPLACE TEMP TABLE {STAGE} AS
        WITH {_parsed_sql(top_fields, nested_key)},
        {elements_cte}
        SELECT _source_file, _source_row, NULL::VARCHAR AS _raw_record,
               {error_field} AS _error_field, {error_reason} AS _error_reason,
               {", ".join(values)}, top_extra, item_extra
        FROM elements"""


def _stage_jsonl(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: list[SourceFile],
    nested_key: str | None = None,
    nested_fields: Sequence[str] = (),
) -> StageInfo:
    """Stage JSONL records; with a nested array, one stage row per element of it."""
    _build_lines_table(conn, files)
    try:
        conn.execute(_stage_sql(table, nested_key, nested_fields))
        info = _collect_extra_keys(conn, nested_key)
    except BaseException:
        conn.execute(f"DROP TABLE IF EXISTS temp.{LINES}")
        raise
    info.raw_records = LINES  # run_load drops it with its own temp tables
    return info


def _collect_extra_keys(conn: duckdb.DuckDBPyConnection, nested_key: str | None) -> StageInfo:
    info = StageInfo()
    rows = conn.execute(
        f"""SELECT DISTINCT _source_file, unnest(top_extra) FROM {STAGE} WHERE len(top_extra) > 0
        UNION
        SELECT DISTINCT _source_file, {sql_string((nested_key or "") + ".")} || unnest(item_extra)
        FROM {STAGE} WHERE len(item_extra) > 0
        ORDER BY ALL"""
    ).fetchall()
    for relative, key in rows:
        info.add_extra(key, relative)
    return info


def _stage_orders(
    conn: duckdb.DuckDBPyConnection, table: RawTable, files: list[SourceFile]
) -> StageInfo:
    return _stage_jsonl(conn, table, files, ORDER_LINES_KEY, LINE_FIELDS)


def _stage_refunds(
    conn: duckdb.DuckDBPyConnection, table: RawTable, files: list[SourceFile]
) -> StageInfo:
    return _stage_jsonl(conn, table, files, None, ())


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
        conn, raw_dir, ONLINE_ORDER_LINES, _stage_orders, files, batch_id=batch_id, force=force
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
        conn, raw_dir, ONLINE_REFUNDS, _stage_refunds, files, batch_id=batch_id, force=force
    )
