"""What every feed shares: the raw schema, typing and quarantine, replace-by-file, the load log.

A feed loader only has to *stage* its files: put every source record into the temp table
`ingest_stage` with all values as text (columns named like the raw table's), plus

    _source_file VARCHAR   path relative to RAW_DIR
    _source_row  BIGINT    row in the file (several stage rows may share it: JSONL order lines)
    _raw_record  VARCHAR   the record as delivered, or NULL to rebuild it from the text columns
                           (or to take it from the stager's raw records table, see StageInfo)
    _error_field VARCHAR   set when the record failed before typing (bad JSON, missing column...)
    _error_reason VARCHAR

`run_load` does the rest, set-based in DuckDB: it types each column with try-casts, sends every
source row with a failure to `raw.quarantine` (one row, naming the first failing field), replaces
the files' earlier rows in one transaction, and writes one `raw.load_log` row per file with
rows read = rows loaded + rows quarantined, which it checks before committing.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.ingest.files import is_ignored, lineage_name, list_feed_files
from orchestration.ingest.tables import (
    DATE,
    DECIMAL,
    INTEGER,
    LOAD_LOG_TABLE,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    RAW_TABLES,
    TEXT,
    TIMESTAMP,
    TIMESTAMPTZ,
    RawColumn,
    RawTable,
)

STAGE = "ingest_stage"
TYPED = "ingest_typed"
REJECTED = "ingest_rejected"
FILES = "ingest_files"
FILE_REJECTS = "ingest_file_rejects"
COUNTS = "ingest_counts"

# Files are staged and committed in chunks so that memory stays bounded at any scale while
# each DuckDB statement still covers many files.
CHUNK_BYTES = 128 * 1024 * 1024
CHUNK_FILES = 2000

# Row 0 stands for "the file as a whole" when a file cannot be read at all.
WHOLE_FILE_ROW = 0


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str
    sha256: str
    size: int


@dataclass
class StageInfo:
    """What staging learned beyond the rows: columns a file has that the table doesn't.

    A stager whose records are long (a JSON line) may keep them as delivered in a temp table
    of its own, named in `raw_records` (_source_file, _source_row, _raw_record, one row per
    source row), and leave the stage's `_raw_record` NULL: only quarantined records need them,
    and a copy in the stage costs time and memory (for JSONL, one copy per order line).
    `run_load` drops that table with its own.
    """

    extra_columns: dict[str, list[str]] = field(default_factory=dict)  # column -> files
    raw_records: str | None = None

    def add_extra(self, column: str, relative: str) -> None:
        self.extra_columns.setdefault(column, []).append(relative)


@dataclass
class LoadResult:
    table: str
    batch_id: str
    files: int = 0
    files_skipped: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    extra_columns: dict[str, list[str]] = field(default_factory=dict)  # column -> files
    # files none of whose rows were loaded because of a file-level problem, with the reason
    files_rejected: dict[str, str] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined


# A stager puts the given files' records into `ingest_stage` (see module docstring).
Stager = Callable[[duckdb.DuckDBPyConnection, RawTable, list[SourceFile]], StageInfo]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def new_batch_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


# --- schema -------------------------------------------------------------------------------


def create_table_sql(table: RawTable) -> str:
    columns = ", ".join(f"{quote(c.name)} {c.sql_type}" for c in table.all_columns)
    return f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{quote(table.name)} ({columns})"


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema raw, every raw table, the quarantine and the load log (if missing)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for table in RAW_TABLES.values():
        conn.execute(create_table_sql(table))
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{QUARANTINE_TABLE} (
            feed VARCHAR, _source_file VARCHAR, _source_row BIGINT, field VARCHAR,
            reason VARCHAR, raw_record VARCHAR, _loaded_at TIMESTAMP, _load_batch VARCHAR)"""
    )
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{LOAD_LOG_TABLE} (
            feed VARCHAR, _source_file VARCHAR, file_sha256 VARCHAR, rows_read BIGINT,
            rows_loaded BIGINT, rows_quarantined BIGINT, _loaded_at TIMESTAMP,
            _load_batch VARCHAR)"""
    )


# --- typing -------------------------------------------------------------------------------

_INTEGER_PATTERN = r"[+-]?[0-9]+(\.0*)?"
_UTC_OFFSET_PATTERN = r"([+-][0-9]{2}(:?[0-9]{2})?|Z)$"


def _decimal_scale(sql_type: str) -> int:
    match = re.fullmatch(r"DECIMAL\(\d+,\s*(\d+)\)", sql_type)
    if match is None:
        raise ValueError(f"not a DECIMAL(p,s) type: {sql_type}")
    return int(match.group(1))


def typed_expression(column: RawColumn, text: str) -> str:
    """SQL that turns the staged text into the column's type, or NULL when it can't."""
    value = f"nullif(trim({text}), '')"
    if column.parse == TEXT:
        return f"nullif({text}, '')"
    if column.parse == INTEGER:
        # try_cast alone would round '1.5' to 2: accept whole numbers only ('1' or '1.0')
        return (
            f"try_cast(CASE WHEN regexp_full_match({value}, '{_INTEGER_PATTERN}') "
            f"THEN {value} END AS {column.sql_type})"
        )
    if column.parse == DECIMAL:
        # try_cast alone would round 12.345 to 12.35. Comparing with the value read as a
        # double rejects real extra digits but accepts binary float noise
        # (2664.3700000000001), and is much cheaper than a round trip through DECIMAL(38,10).
        as_decimal = f"try_cast({value} AS {column.sql_type})"
        return f"CASE WHEN {as_decimal}::DOUBLE = try_cast({value} AS DOUBLE) THEN {as_decimal} END"
    if column.parse == DATE:
        return f"try_cast({value} AS DATE)"
    if column.parse == TIMESTAMP:
        if column.strptime_format:
            return f"try_strptime({value}, {sql_string(column.strptime_format)})"
        return f"try_cast({value} AS TIMESTAMP)"
    if column.parse == TIMESTAMPTZ:
        # without an offset DuckDB would silently read the time as UTC
        return (
            f"CASE WHEN regexp_matches({value}, '{_UTC_OFFSET_PATTERN}') "
            f"THEN try_cast({value} AS TIMESTAMPTZ) END"
        )
    raise ValueError(f"unknown parse kind {column.parse!r} of {column.name}")


def expected_format(column: RawColumn) -> str:
    """How the reason of a typing failure describes what was expected."""
    if column.parse == INTEGER:
        return "a whole number"
    if column.parse == DECIMAL:
        return f"a number with at most {_decimal_scale(column.sql_type)} decimals"
    if column.parse == DATE:
        return "a date YYYY-MM-DD"
    if column.parse == TIMESTAMP:
        return f"a timestamp {column.strptime_format or 'YYYY-MM-DD HH:MM:SS'}"
    if column.parse == TIMESTAMPTZ:
        return "an ISO 8601 timestamp with UTC offset"
    return "text"


def _typed_name(column: RawColumn) -> str:
    return quote(f"typed:{column.name}")


def _missing_value_error(column: RawColumn) -> str:
    """SQL giving {field, reason} when a required column is empty for the row, else NULL."""
    return (
        f"CASE WHEN nullif(trim({quote(column.name)}), '') IS NULL "
        f"THEN {{'field': {sql_string(column.name)}, 'reason': 'missing value'}} END"
    )


def _unreadable_value_error(column: RawColumn) -> str:
    """SQL giving {field, reason} when the row's value can't be typed, else NULL."""
    raw = quote(column.name)
    reason = (
        f"'cannot read \"' || left({raw}, 100) || '\" as ' || {sql_string(expected_format(column))}"
    )
    return (
        f"CASE WHEN nullif(trim({raw}), '') IS NOT NULL AND {_typed_name(column)} IS NULL "
        f"THEN {{'field': {sql_string(column.name)}, 'reason': {reason}}} END"
    )


def _value_is_fine(column: RawColumn) -> str | None:
    """SQL true when the column gives the row no error; None when it never does.

    Only a shortcut: a row for which it isn't true gets its errors built (maybe none). It is
    much cheaper than building them for every row: a typed value implies the text was there
    and readable, and text that starts with a visible ASCII character is not blank, which a
    string comparison tells without the copy that trim makes.
    """
    raw = quote(column.name)
    blank = f"nullif(trim({raw}), '') IS NULL"
    if column.parse == TEXT:
        starts_visible = f"({raw} >= '!' AND {raw} < chr(128))"
        return f"({starts_visible} OR NOT {blank})" if column.required else None
    typed = f"{_typed_name(column)} IS NOT NULL"
    return typed if column.required else f"({typed} OR {blank})"


def _errors_expression(table: RawTable) -> str:
    """SQL giving the row's list of {field, reason}, in the order they are reported."""
    # a value that is there but unreadable says more than a missing one: it is reported first
    column_errors = ", ".join(
        [_unreadable_value_error(c) for c in table.columns if c.parse != TEXT]
        + [_missing_value_error(c) for c in table.columns if c.required]
    )
    checks = [check for c in table.columns if (check := _value_is_fine(c)) is not None]
    all_fine = " AND ".join(checks) or "true"
    # A record that failed before typing has nothing worth typing: report that failure only.
    # The list of errors is built only for rows that may have one: building it for every row
    # was a third of the cost of typing.
    return (
        "CASE WHEN _error_field IS NOT NULL "
        "THEN [{'field': _error_field, 'reason': _error_reason}] "
        f"WHEN {all_fine} THEN [] "
        f"ELSE list_filter([{column_errors}], lambda e: e IS NOT NULL) END"
    )


def _build_typed_table(conn: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    """`ingest_typed`: the stage typed column by column, with each row's list of errors."""
    typed_columns = ", ".join(
        f"{typed_expression(c, quote(c.name))} AS {_typed_name(c)}" for c in table.columns
    )
    errors = _errors_expression(table)
    output_columns = ", ".join(f"{_typed_name(c)} AS {quote(c.name)}" for c in table.columns)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {TYPED} AS
        SELECT _source_file, _source_row, {output_columns}, {errors} AS _errors
        FROM (SELECT *, {typed_columns} FROM {STAGE})"""
    )


def _build_rejected_table(conn: duckdb.DuckDBPyConnection, file_checks: Sequence[str]) -> None:
    """`ingest_rejected`: one row per rejected source row, with its first field and reason.

    A file check is a query over `ingest_typed` returning (_source_file, field, reason) for
    files that must be rejected as a whole (e.g. a total row that doesn't match the lines).
    """
    checks = " UNION ALL ".join(f"({check})" for check in file_checks) or (
        "SELECT NULL::VARCHAR AS _source_file, NULL::VARCHAR AS field, "
        "NULL::VARCHAR AS reason WHERE false"
    )
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {FILE_REJECTS} AS {checks}")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {REJECTED} AS
        WITH row_errors AS (
            SELECT t._source_file, t._source_row, t.rowid AS typed_row,
                   CASE WHEN r._source_file IS NULL THEN t._errors
                        ELSE list_append(t._errors, {{'field': r.field, 'reason': r.reason}})
                   END AS errors
            FROM {TYPED} AS t
            LEFT JOIN (SELECT DISTINCT ON (_source_file) * FROM {FILE_REJECTS}) AS r
                USING (_source_file)
            WHERE len(t._errors) > 0 OR r._source_file IS NOT NULL
        ), per_record AS (
            -- several stage rows may share a source row (JSONL order lines): their errors are
            -- listed in stage order, whichever thread aggregated them
            SELECT _source_file, _source_row, flatten(list(errors ORDER BY typed_row)) AS errors
            FROM row_errors GROUP BY _source_file, _source_row
        )
        SELECT _source_file, _source_row, errors[1].field AS field,
               errors[1].reason || CASE WHEN len(errors) > 1
                   THEN ' (also: ' || array_to_string(list_distinct(
                        list_transform(errors[2:], lambda e: e.field)), ', ') || ')'
                   ELSE '' END AS reason
        FROM per_record"""
    )


def _raw_record_expression(table: RawTable) -> str:
    """The record as delivered, or rebuilt as JSON from the staged text of each column."""
    members = ", ".join(f"{sql_string(c.name)}: {quote(c.name)}" for c in table.columns)
    return f"coalesce(rtrim(_raw_record, chr(13)), to_json({{{members}}})::VARCHAR)"


def _rejected_stage_sql(raw_records: str | None) -> str:
    """The stage rows of rejected records, with the record as delivered where there is one."""
    rejected = f"{STAGE} SEMI JOIN {REJECTED} USING (_source_file, _source_row)"
    if raw_records is None:
        return f"SELECT * FROM {rejected}"
    return f"""SELECT s.* REPLACE (coalesce(s._raw_record, r._raw_record) AS _raw_record)
        FROM (SELECT * FROM {rejected}) AS s
        LEFT JOIN {raw_records} AS r USING (_source_file, _source_row)"""


# --- writing ------------------------------------------------------------------------------


def _register_files(conn: duckdb.DuckDBPyConnection, files: Sequence[SourceFile]) -> None:
    files_arrow = pa.table(
        {
            "path": [str(f.path) for f in files],
            "relative": [f.relative for f in files],
            "sha256": [f.sha256 for f in files],
        }
    )
    conn.register("ingest_files_arrow", files_arrow)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {FILES} AS SELECT * FROM ingest_files_arrow")
    conn.unregister("ingest_files_arrow")


def _replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    loaded_at: datetime,
    batch_id: str,
    raw_records: str | None = None,
) -> None:
    target = f"{RAW_SCHEMA}.{quote(table.name)}"
    quarantine = f"{RAW_SCHEMA}.{QUARANTINE_TABLE}"
    feed = sql_string(table.name)
    if table.snapshot:
        conn.execute(f"DELETE FROM {target}")
        conn.execute(f"DELETE FROM {quarantine} WHERE feed = {feed}")
    else:
        in_files = f"_source_file IN (SELECT relative FROM {FILES})"
        conn.execute(f"DELETE FROM {target} WHERE {in_files}")
        conn.execute(f"DELETE FROM {quarantine} WHERE feed = {feed} AND {in_files}")
    names = ", ".join(quote(c.name) for c in table.all_columns)
    values = ", ".join(quote(c.name) for c in table.columns)
    conn.execute(
        f"""INSERT INTO {target} ({names})
        SELECT {values}, _source_file, _source_row, $loaded_at, $batch
        FROM {TYPED} ANTI JOIN {REJECTED} USING (_source_file, _source_row)""",
        {"loaded_at": loaded_at, "batch": batch_id},
    )
    conn.execute(
        f"""INSERT INTO {quarantine}
        SELECT {feed}, r._source_file, r._source_row, r.field, r.reason, s.raw_record,
               $loaded_at, $batch
        FROM {REJECTED} AS r
        JOIN (SELECT _source_file, _source_row,
                     any_value({_raw_record_expression(table)}) AS raw_record
              FROM ({_rejected_stage_sql(raw_records)})
              GROUP BY ALL) AS s
        USING (_source_file, _source_row)""",
        {"loaded_at": loaded_at, "batch": batch_id},
    )


def _log_and_reconcile(
    conn: duckdb.DuckDBPyConnection, table: RawTable, loaded_at: datetime, batch_id: str
) -> list[tuple[str, int, int, int]]:
    """Write the load log from independent counts and return them per file.

    Rows read come from the stage, rows loaded from what landed in the raw table, rows
    quarantined from the quarantine: if they don't add up the transaction must not commit.
    """
    target = f"{RAW_SCHEMA}.{quote(table.name)}"
    # one set-based insert: a row-by-row executemany took seconds for a few thousand files
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {COUNTS} AS
        WITH read AS (
                SELECT _source_file, count(DISTINCT _source_row) AS n FROM {STAGE} GROUP BY ALL),
            loaded AS (
                SELECT _source_file, count(DISTINCT _source_row) AS n FROM {target}
                WHERE _source_file IN (SELECT relative FROM {FILES}) GROUP BY ALL),
            quarantined AS (
                SELECT _source_file, count(*) AS n FROM {RAW_SCHEMA}.{QUARANTINE_TABLE}
                WHERE feed = $feed AND _source_file IN (SELECT relative FROM {FILES})
                GROUP BY ALL)
        SELECT f.relative, f.sha256, coalesce(read.n, 0) AS rows_read,
               coalesce(loaded.n, 0) AS rows_loaded, coalesce(quarantined.n, 0) AS rows_quarantined
        FROM {FILES} AS f
        LEFT JOIN read ON read._source_file = f.relative
        LEFT JOIN loaded ON loaded._source_file = f.relative
        LEFT JOIN quarantined ON quarantined._source_file = f.relative""",
        {"feed": table.name},
    )
    broken = conn.execute(
        f"SELECT * FROM {COUNTS} WHERE rows_read <> rows_loaded + rows_quarantined "
        "ORDER BY relative LIMIT 5"
    ).fetchall()
    if broken:
        raise RuntimeError(f"{table.name}: rows read != loaded + quarantined for {broken}")
    conn.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{LOAD_LOG_TABLE}
        SELECT $feed, relative, sha256, rows_read, rows_loaded, rows_quarantined, $loaded_at,
               $batch
        FROM {COUNTS} ORDER BY relative""",
        {"feed": table.name, "loaded_at": loaded_at, "batch": batch_id},
    )
    counts = conn.execute(
        f"SELECT relative, rows_read, rows_loaded, rows_quarantined FROM {COUNTS}"
    ).fetchall()
    return counts


def _whole_file_rejections(conn: duckdb.DuckDBPyConnection, table: RawTable) -> dict[str, str]:
    """Files of this chunk none of whose rows loaded, with the first reason given."""
    rows = conn.execute(
        f"""SELECT _source_file, any_value(field || ': ' || reason)
        FROM {RAW_SCHEMA}.{QUARANTINE_TABLE}
        WHERE feed = $feed AND _source_file IN (SELECT relative FROM {FILES})
          AND _source_file NOT IN (SELECT DISTINCT _source_file FROM {TYPED}
                                   ANTI JOIN {REJECTED} USING (_source_file, _source_row))
        GROUP BY ALL""",
        {"feed": table.name},
    ).fetchall()
    return dict(rows)


def _drop_temp_tables(conn: duckdb.DuckDBPyConnection, *others: str) -> None:
    for name in (STAGE, TYPED, REJECTED, FILES, FILE_REJECTS, COUNTS, *others):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _write_chunk(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: list[SourceFile],
    stager: Stager,
    file_checks: Sequence[str],
    result: LoadResult,
    loaded_at: datetime,
) -> None:
    _register_files(conn, files)
    info = stager(conn, table, files)
    stager_tables = [info.raw_records] if info.raw_records else []
    try:
        _build_typed_table(conn, table)
        _build_rejected_table(conn, file_checks)
        conn.execute("BEGIN TRANSACTION")
        try:
            _replace_rows(conn, table, loaded_at, result.batch_id, info.raw_records)
            counts = _log_and_reconcile(conn, table, loaded_at, result.batch_id)
            rejected = _whole_file_rejections(conn, table)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        _drop_temp_tables(conn, *stager_tables)
    result.files += len(counts)
    for _, read, loaded, quarantined in counts:
        result.rows_read += read
        result.rows_loaded += loaded
        result.rows_quarantined += quarantined
    for column, column_files in info.extra_columns.items():
        result.extra_columns.setdefault(column, []).extend(column_files)
    result.files_rejected.update(rejected)


# --- file selection -----------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _describe(resolved_raw_dir: Path, path: Path) -> SourceFile | None:
    # the raw dir is resolved once per load: resolving it for every file took a third of this step
    resolved = Path(path).resolve()
    relative = lineage_name(resolved_raw_dir, resolved)
    if is_ignored(relative):
        return None
    return SourceFile(resolved, relative, sha256_of(resolved), resolved.stat().st_size)


def describe_files(raw_dir: Path, paths: Sequence[Path]) -> list[SourceFile]:
    resolved_raw_dir = Path(raw_dir).resolve()
    described = (_describe(resolved_raw_dir, path) for path in paths)
    return [source for source in described if source is not None]


def _last_loaded_sha(conn: duckdb.DuckDBPyConnection, table: RawTable) -> dict[str, str]:
    rows = conn.execute(
        f"""SELECT _source_file, arg_max(file_sha256, _loaded_at)
        FROM {RAW_SCHEMA}.{LOAD_LOG_TABLE} WHERE feed = $feed GROUP BY ALL""",
        {"feed": table.name},
    ).fetchall()
    return dict(rows)


def chunked(files: Sequence[SourceFile]) -> Iterator[list[SourceFile]]:
    chunk: list[SourceFile] = []
    size = 0
    for source in files:
        chunk.append(source)
        size += source.size
        if size >= CHUNK_BYTES or len(chunk) >= CHUNK_FILES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def run_load(
    conn: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    table: RawTable,
    stager: Stager,
    files: Sequence[Path] | None = None,
    *,
    batch_id: str | None = None,
    force: bool = False,
    file_checks: Sequence[str] = (),
) -> LoadResult:
    """Load a feed's files (all of them when `files` is None) into raw.<table>.

    A file whose content was already loaded under the same name is skipped unless `force`.
    """
    ensure_raw_schema(conn)
    # the progress bar would flood the Dagster logs
    conn.execute("SET enable_progress_bar = false")
    raw_dir = Path(raw_dir)
    result = LoadResult(table=table.name, batch_id=batch_id or new_batch_id())
    paths = list_feed_files(raw_dir, table.name) if files is None else list(files)
    sources = describe_files(raw_dir, paths)
    if not force:
        last_sha = _last_loaded_sha(conn, table)
        result.files_skipped = [s.relative for s in sources if last_sha.get(s.relative) == s.sha256]
        skipped = set(result.files_skipped)
        sources = [s for s in sources if s.relative not in skipped]
    if table.snapshot and len(sources) > 1:
        raise ValueError(f"{table.name} is a snapshot feed: load one file, got {len(sources)}")
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    for chunk in chunked(sources):
        _write_chunk(conn, table, chunk, stager, file_checks, result, loaded_at)
    return result
