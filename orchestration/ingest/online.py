"""Online shop back-end exports (JSON Lines): orders with nested lines, and refunds.

The files are read with DuckDB's own `read_text` and split into physical lines, so that each
record keeps its exact line number; JSON is parsed and every field extracted as text in SQL,
then typed by the shared machinery in core.py.
"""

from __future__ import annotations

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


def _json_paths(names: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(f'$."{name}"') for name in names) + "]"


def _string_list(names: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(name) for name in names) + "]"


def _extra_keys(json_value: str, known: Sequence[str]) -> str:
    known_keys = _string_list(known)
    return f"list_filter(json_keys({json_value}), lambda k: NOT list_contains({known_keys}, k))"


def _physical_lines_sql(paths: Sequence[str]) -> str:
    """Every non-blank physical line of the files with its 1-based line number."""
    return f"""
        docs AS (
            SELECT f.relative AS _source_file, string_split(t.content, chr(10)) AS lines
            FROM read_text({_string_list(paths)}) AS t
            JOIN {FILES} AS f ON f.path = t.filename
        ),
        physical AS (
            -- unnest in the select list: a lateral join over read_text ran out of memory
            SELECT _source_file, generate_subscripts(lines, 1) AS _source_row,
                   unnest(lines) AS line
            FROM docs
        ),
        records AS (
            -- A CRLF line keeps its trailing CR: JSON allows it as whitespace, and string
            -- functions that copy every line (rtrim, trim) would double the staging time.
            -- Valid JSON starting with a brace is an object: cheaper than json_type().
            SELECT *, json_valid(line) AND starts_with(line, '{{') AS is_object
            FROM physical WHERE line <> '' AND line <> chr(13)
        )"""


def _flat_records_sql() -> tuple[str, str, str]:
    """CTE, error field and error reason for records without a nested array."""
    cte = (
        "elements AS (SELECT *, NULL::VARCHAR[] AS item_values, "
        "[]::VARCHAR[] AS item_extra FROM parsed)"
    )
    return (
        cte,
        "CASE WHEN NOT is_object THEN '<record>' END",
        ("CASE WHEN NOT is_object THEN 'not a JSON object' END"),
    )


def _nested_records_sql(nested_key: str, nested_fields: Sequence[str]) -> tuple[str, str, str]:
    """CTE exploding the nested array (one row per element), error field and error reason.

    A record whose array is missing or empty would vanish in the unnest: it is kept as one
    row with a NULL element, so that it is counted as read and quarantined.
    """
    cte = f"""
        with_items AS (
            -- json_extract returns normalized JSON: its first character tells the type
            SELECT *, CASE WHEN starts_with(items_raw, '[') THEN items_raw END AS items
            FROM parsed
        ),
        with_item_list AS (
            SELECT *, CASE WHEN items IS NOT NULL AND items <> '[]'
                           THEN json_extract(items, '$[*]') ELSE [NULL::JSON] END AS item_list
            FROM with_items
        ),
        exploded AS (
            SELECT p.* EXCLUDE (item_list), u.item,
                   coalesce(starts_with(u.item, '{{'), false) AS item_ok
            FROM with_item_list AS p, unnest(p.item_list) AS u(item)
        ),
        elements AS (
            SELECT *,
                   CASE WHEN item_ok THEN json_extract_string(item, {_json_paths(nested_fields)})
                   END AS item_values,
                   CASE WHEN item_ok THEN {_extra_keys("item", nested_fields)}
                        ELSE []::VARCHAR[] END AS item_extra
            FROM exploded
        )"""
    key = sql_string(nested_key)
    error_field = (
        f"CASE WHEN NOT is_object THEN '<record>' WHEN items IS NULL OR NOT item_ok THEN {key} END"
    )
    error_reason = (
        "CASE WHEN NOT is_object THEN 'not a JSON object' "
        "WHEN items IS NULL THEN 'missing or not an array' "
        "WHEN item IS NULL THEN 'array has no elements' "
        "WHEN NOT item_ok THEN 'element is not a JSON object' END"
    )
    return cte, error_field, error_reason


def _stage_jsonl(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: list[SourceFile],
    nested_key: str | None = None,
    nested_fields: Sequence[str] = (),
) -> StageInfo:
    """Stage JSONL records; with a nested array, one stage row per element of it."""
    top_fields = [c.name for c in table.columns if c.name not in nested_fields]
    top_known = [*top_fields, nested_key] if nested_key else top_fields
    items_raw = (
        f"CASE WHEN is_object THEN json_extract(line, {sql_string(f'$.{nested_key}')}) END"
        if nested_key
        else "NULL::JSON"
    )
    elements_cte, error_field, error_reason = (
        _nested_records_sql(nested_key, nested_fields) if nested_key else _flat_records_sql()
    )
    values = [f"top[{i}] AS {quote(name)}" for i, name in enumerate(top_fields, start=1)]
    values += [
        f"item_values[{i}] AS {quote(name)}" for i, name in enumerate(nested_fields, start=1)
    ]
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {STAGE} AS
        WITH {_physical_lines_sql([f.path.as_posix() for f in files])},
        parsed AS (
            SELECT _source_file, _source_row, line, is_object,
                   CASE WHEN is_object THEN json_extract_string(line, {_json_paths(top_fields)})
                   END AS top,
                   {items_raw} AS items_raw,
                   CASE WHEN is_object THEN {_extra_keys("line", top_known)} ELSE []::VARCHAR[] END
                       AS top_extra
            FROM records
        ),
        {elements_cte}
        SELECT _source_file, _source_row, line AS _raw_record,
               {error_field} AS _error_field, {error_reason} AS _error_reason,
               {", ".join(values)}, top_extra, item_extra
        FROM elements"""
    )
    return _collect_extra_keys(conn, nested_key)


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
