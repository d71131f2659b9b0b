"""What every feed shares: the raw schema, typing and quarantine, replace-by-file, the load log.

A feed loader only has to *stage* its files, in two steps (a Stager): read a chunk of files
in Python, without the connection (it runs on a worker thread while the previous chunk is
written, see `_read_ahead`), then, on the loader's connection, make every source record a row of
`ingest_stage` with all values as text (columns named like the raw table's), plus

    _source_file VARCHAR   path relative to RAW_DIR
    _source_row  BIGINT    row in the file (several stage rows may share it: JSONL order lines)
    _raw_record  VARCHAR   the record as delivered, or NULL to rebuild it from the text columns
                           (or to take it from the stager's raw records table, see StageInfo)
    _error_field VARCHAR   set when the record failed before typing (bad JSON, missing column...)
    _error_reason VARCHAR

and say, per file, how many records the file holds by a count that does not use the parser
(StageInfo.records_in_file: physical lines less blank and header lines, rows of the sheet), and
which files it could not read at all (StageInfo.unreadable). The stage need not be stored:
Arrow stagers register their Arrow table under the stage's name, and a stager whose records
are parsed in SQL (JSONL) types them in the parsing statement (StagedChunk.typed): from the
typed rows on, everything below is shared.

`run_load` does the rest, set-based in DuckDB: a file that cannot be read at all (0 bytes, a
link leaving RAW_DIR, undecodable, a broken archive) becomes one quarantined record, row 0
(WHOLE_FILE_ROW), and the rest of the feed goes on; a file whose parsed records are not as many
as its count says is rejected whole, with both numbers; it types each column with try-casts,
sends every source row with a failure to `raw.quarantine` (one row, naming the first failing
field), replaces the files' earlier rows in one transaction (in the order of the dates the files'
names hold, across platforms and countries, each row with its `_business_date`), and
writes one `raw.load_log` row per file with rows read = rows loaded + rows quarantined, which
it checks before committing, beside the parser-independent count.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.ingest.files import (
    FEED_LAYOUTS,
    feed_of_folder,
    file_period,
    is_ignored,
    list_feed_files,
    relative_path,
    unrecognized_files,
)
from orchestration.ingest.tables import (
    BUSINESS_DATE_COLUMN,
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
    UNRECOGNIZED_TABLE,
    RawColumn,
    RawTable,
)

STAGE = "ingest_stage"
TYPED = "ingest_typed"
REJECTED = "ingest_rejected"
FILES = "ingest_files"
FILE_REJECTS = "ingest_file_rejects"
COUNTS = "ingest_counts"
READ = "ingest_read"

# Files are staged and committed in chunks so that memory stays bounded at any scale while
# each DuckDB statement still covers many files. A loader may choose its own size (run_load's
# chunk_bytes): what a chunk's bytes cost in memory depends on how its stager reads them.
CHUNK_BYTES = 128 * 1024 * 1024
CHUNK_FILES = 2000

# Row 0 stands for "the file as a whole" when a file cannot be read at all.
WHOLE_FILE_ROW = 0
# The pseudo-field of a problem of the whole file (quarantine.field)
FILE_FIELD = "<file>"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str
    sha256: str
    size: int
    # (field, reason) when the file must not or cannot be read at all (a link leaving
    # RAW_DIR, 0 bytes, unreadable): it is quarantined whole without being staged
    problem: tuple[str, str] | None = None
    mtime_ns: int | None = None


@dataclass(frozen=True)
class LoggedFile:
    """What the load log holds of a file's latest load: its sha256 and the stat it had then."""

    sha256: str
    size: int | None
    mtime_ns: int | None


@dataclass
class StageInfo:
    """What staging learned beyond the rows.

    - `extra_columns`: columns a file has that the table doesn't;
    - `records_in_file`: per staged file, the records it holds by a count that does not use
      the parser (physical lines less blank and header lines; rows of the sheet): a file
      whose parsed records differ is rejected whole, with both numbers;
    - `unreadable`: files that could not be read at all (wrong encoding, broken archive),
      with (field, reason): core stages each as one record, row 0, and leaves them out of
      `records_in_file`.

    A stager whose records are long (a JSON line) may keep them as delivered in a temp table
    of its own, named in `raw_records` (_source_file, _source_row, _raw_record, one row per
    source row), and leave the stage's `_raw_record` NULL: only quarantined records need them,
    and a copy in the stage costs time and memory (for JSONL, one copy per order line).
    `run_load` drops that table with its own.
    """

    extra_columns: dict[str, list[str]] = field(default_factory=dict)  # column -> files
    raw_records: str | None = None
    records_in_file: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, tuple[str, str]] = field(default_factory=dict)
    # what `records_in_file` counts, for the reason of a mismatch
    count_unit: str = "lines"

    def add_extra(self, column: str, relative: str) -> None:
        self.extra_columns.setdefault(column, []).append(relative)

    def absorb(self, other: StageInfo) -> None:
        """Add what staging learned from the files that follow (read separately)."""
        for column, files in other.extra_columns.items():
            self.extra_columns.setdefault(column, []).extend(files)
        self.records_in_file.update(other.records_in_file)
        self.unreadable.update(other.unreadable)

    def reject_file(self, relative: str, reason: str, field_name: str = FILE_FIELD) -> None:
        """The file can't be read at all: one quarantined record, row 0, with the reason."""
        self.unreadable[relative] = (field_name, reason)
        self.records_in_file.pop(relative, None)


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
    # files under this feed's folder that match no feed's layout (raw.unrecognized_files)
    unrecognized_files: list[str] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined


class StagedChunk:
    """A chunk's files as a stager read them: what it learned (`info`), and how to put the
    records into `ingest_stage` on the loader's connection (`write`, called once).

    `typed`: the stager's `write` creates `ingest_typed` itself, in the statement that stages
    the records (`typed_table_sql` over its own query), and no `ingest_stage`: a copy of every
    value as text, written only to be read once by the typing, was a third of the JSONL feeds'
    SQL time. Such a stager keeps the records as delivered in `info.raw_records`.
    """

    def __init__(
        self,
        info: StageInfo,
        write: Callable[[duckdb.DuckDBPyConnection], None],
        *,
        typed: bool = False,
    ) -> None:
        self.info = info
        self.typed = typed
        self._write: Callable[[duckdb.DuckDBPyConnection], None] | None = write

    def write(self, conn: duckdb.DuckDBPyConnection) -> None:
        write, self._write = self._write, None
        if write is None:
            raise RuntimeError("a staged chunk is written once")
        # the callable holds the records read (Arrow tables): dropped with it once written
        write(conn)


# A stager reads the given (readable) files of a chunk into a StagedChunk. It runs on a worker
# thread, beside the writing of the previous chunk: it must not use the connection.
Stager = Callable[[RawTable, list[SourceFile]], StagedChunk]


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


LOAD_LOG_COLUMNS = (
    ("feed", "VARCHAR"),
    ("_source_file", "VARCHAR"),
    ("file_sha256", "VARCHAR"),
    ("rows_read", "BIGINT"),
    ("rows_loaded", "BIGINT"),
    ("rows_quarantined", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
    ("_load_batch", "VARCHAR"),
    # the day (or month) the file's name says; NULL for reference snapshots
    ("file_date", "DATE"),
    # records by a count that does not use the parser; NULL when the file was not read
    ("records_in_file", "BIGINT"),
    # rows of the raw table the file holds after this load (an online order is several lines):
    # the partitions' row counts, read here instead of counting the whole raw table each run
    ("rows_in_raw", "BIGINT"),
    # the file's size and modification time (ns) when its sha256 was taken: a file found again
    # with both unchanged is not hashed again (its logged sha256 stands), as make and rsync
    # judge files; a load with force=True hashes every file
    ("file_size", "BIGINT"),
    ("file_mtime_ns", "BIGINT"),
)


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema raw, every raw table, the quarantine, the load log and the table of
    unrecognized files (if missing); add the columns a warehouse built before them lacks."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for table in RAW_TABLES.values():
        conn.execute(create_table_sql(table))
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{QUARANTINE_TABLE} (
            feed VARCHAR, _source_file VARCHAR, _source_row BIGINT, field VARCHAR,
            reason VARCHAR, raw_record VARCHAR, _loaded_at TIMESTAMP, _load_batch VARCHAR)"""
    )
    log_columns = ", ".join(f"{name} {sql_type}" for name, sql_type in LOAD_LOG_COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{LOAD_LOG_TABLE} ({log_columns})")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{UNRECOGNIZED_TABLE} (
            path VARCHAR, folder VARCHAR, feed VARCHAR, size BIGINT, seen_at TIMESTAMP,
            _load_batch VARCHAR)"""
    )
    _add_missing_columns(conn)


def _add_missing_columns(conn: duckdb.DuckDBPyConnection) -> None:
    """Columns added to the raw schema since a warehouse was built: added, and filled where
    they can be (the business date from each row's own columns)."""
    rows = conn.execute(
        "SELECT table_name || '.' || column_name FROM duckdb_columns() "
        "WHERE schema_name = $schema AND database_name = current_database()",
        {"schema": RAW_SCHEMA},
    ).fetchall()
    existing = {row[0] for row in rows}
    for name, sql_type in LOAD_LOG_COLUMNS:
        if f"{LOAD_LOG_TABLE}.{name}" not in existing:
            conn.execute(f"ALTER TABLE {RAW_SCHEMA}.{LOAD_LOG_TABLE} ADD COLUMN {name} {sql_type}")
    if f"{LOAD_LOG_TABLE}.rows_in_raw" not in existing:
        _fill_rows_in_raw(conn, existing)
    for table in RAW_TABLES.values():
        column = BUSINESS_DATE_COLUMN.name
        if table.business_date_sql and f"{table.name}.{column}" not in existing:
            target = f"{RAW_SCHEMA}.{quote(table.name)}"
            conn.execute(f"ALTER TABLE {target} ADD COLUMN {column} DATE")
            conn.execute(f"UPDATE {target} SET {column} = {table.business_date_sql}")


def _fill_rows_in_raw(conn: duckdb.DuckDBPyConnection, existing: set[str]) -> None:
    """The load log's rows_in_raw of a warehouse loaded before the column: counted once from
    the raw tables (every log row of a file gets its count now; only the latest is read)."""
    log = f"{RAW_SCHEMA}.{LOAD_LOG_TABLE}"
    for table in RAW_TABLES.values():
        if f"{table.name}._source_file" not in existing:
            continue
        conn.execute(
            f"""UPDATE {log} AS l SET rows_in_raw = (
                SELECT count(*) FROM {RAW_SCHEMA}.{quote(table.name)} AS r
                WHERE r._source_file = l._source_file)
            WHERE l.feed = $feed""",
            {"feed": table.name},
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


NUL_REASON = "holds a NUL byte"


def _holds_nul(column: RawColumn) -> str:
    """SQL true when the text holds a NUL character (U+0000, a raw byte or a JSON escape):
    a C string would end there, and no feed has one in a real value. A typed column needs no
    test: such a value does not cast."""
    return f"coalesce(contains({quote(column.name)}, chr(0)), false)"


def _nul_error(column: RawColumn) -> str:
    return (
        f"CASE WHEN {_holds_nul(column)} "
        f"THEN {{'field': {sql_string(column.name)}, 'reason': {sql_string(NUL_REASON)}}} END"
    )


def _value_is_fine(column: RawColumn) -> str:
    """SQL true when the column gives the row no error.

    Only a shortcut: a row for which it isn't true gets its errors built (maybe none). It is
    much cheaper than building them for every row: a typed value implies the text was there
    and readable, and text that starts with a visible ASCII character is not blank, which a
    string comparison tells without the copy that trim makes.
    """
    raw = quote(column.name)
    blank = f"nullif(trim({raw}), '') IS NULL"
    if column.parse == TEXT:
        starts_visible = f"({raw} >= '!' AND {raw} < chr(128))"
        no_nul = f"NOT {_holds_nul(column)}"
        return f"({no_nul} AND ({starts_visible} OR NOT {blank}))" if column.required else no_nul
    typed = f"{_typed_name(column)} IS NOT NULL"
    return typed if column.required else f"({typed} OR {blank})"


def _errors_expression(table: RawTable) -> str:
    """SQL giving the row's list of {field, reason}, in the order they are reported."""
    # a value that is there but unreadable says more than a missing one: it is reported first
    column_errors = ", ".join(
        [_unreadable_value_error(c) for c in table.columns if c.parse != TEXT]
        + [_nul_error(c) for c in table.columns if c.parse == TEXT]
        + [_missing_value_error(c) for c in table.columns if c.required]
    )
    all_fine = " AND ".join(_value_is_fine(c) for c in table.columns) or "true"
    # A record that failed before typing has nothing worth typing: report that failure only.
    # The list of errors is built only for rows that may have one: building it for every row
    # was a third of the cost of typing.
    return (
        "CASE WHEN _error_field IS NOT NULL "
        "THEN [{'field': _error_field, 'reason': _error_reason}] "
        f"WHEN {all_fine} THEN [] "
        f"ELSE list_filter([{column_errors}], lambda e: e IS NOT NULL) END"
    )


def typed_table_sql(table: RawTable, stage: str, keep: Sequence[str] = ()) -> str:
    """The statement that creates `ingest_typed` from the stage rows that the query `stage`
    gives: each column typed, each row's list of errors, and the stage columns in `keep`."""
    typed_columns = ", ".join(
        f"{typed_expression(c, quote(c.name))} AS {_typed_name(c)}" for c in table.columns
    )
    output_columns = ", ".join(f"{_typed_name(c)} AS {quote(c.name)}" for c in table.columns)
    kept = "".join(f", {quote(name)}" for name in keep)
    return f"""CREATE OR REPLACE TEMP TABLE {TYPED} AS
        SELECT _source_file, _source_row, {output_columns}, {_errors_expression(table)} AS _errors
               {kept}
        FROM (SELECT *, {typed_columns} FROM ({stage}))"""


def _build_typed_table(conn: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    """`ingest_typed` from `ingest_stage`."""
    conn.execute(typed_table_sql(table, f"SELECT * FROM {STAGE}"))


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


def _rejected_records_sql(table: RawTable, raw_records: str | None, staged: bool) -> str:
    """(_source_file, _source_row, raw_record) of the rejected records: the record as
    delivered, from the stager's table of them or the stage, else rebuilt from the stage's
    text. A file rejected whole (row 0) has none: the file is the record."""
    if not staged:  # a typed stager (StagedChunk.typed) keeps every record in raw_records
        if raw_records is None:
            raise ValueError(f"{table.name}: a typed stager must keep its raw records")
        return f"""SELECT _source_file, _source_row, rtrim(_raw_record, chr(13)) AS raw_record
            FROM {raw_records} SEMI JOIN {REJECTED} USING (_source_file, _source_row)"""
    rejected = f"{STAGE} SEMI JOIN {REJECTED} USING (_source_file, _source_row)"
    rows = f"SELECT * FROM {rejected}"
    if raw_records is not None:
        rows = f"""SELECT s.* REPLACE (coalesce(s._raw_record, r._raw_record) AS _raw_record)
            FROM (SELECT * FROM {rejected}) AS s
            LEFT JOIN {raw_records} AS r USING (_source_file, _source_row)"""
    # several stage rows may share a source row (JSONL order lines): one record
    return f"""SELECT _source_file, _source_row,
               any_value({_raw_record_expression(table)}) AS raw_record
        FROM ({rows}) GROUP BY ALL"""


# --- writing ------------------------------------------------------------------------------


def _register_files(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: Sequence[SourceFile],
    records_in_file: dict[str, int],
) -> None:
    """`ingest_files`: the chunk's files with their sha256, the date their name says and the
    records they hold by the stager's parser-independent count (NULL when not read)."""
    files_arrow = pa.table(
        {
            "path": pa.array([str(f.path) for f in files], pa.string()),
            "relative": pa.array([f.relative for f in files], pa.string()),
            "sha256": pa.array([f.sha256 for f in files], pa.string()),
            "file_size": pa.array([f.size for f in files], pa.int64()),
            "file_mtime_ns": pa.array([f.mtime_ns for f in files], pa.int64()),
            "file_date": pa.array(
                [file_period(table.name, f.relative) for f in files], pa.date32()
            ),
            "records_in_file": pa.array(
                [records_in_file.get(f.relative) for f in files], pa.int64()
            ),
        }
    )
    conn.register("ingest_files_arrow", files_arrow)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {FILES} AS SELECT * FROM ingest_files_arrow")
    conn.unregister("ingest_files_arrow")


def _add_whole_files(conn: duckdb.DuckDBPyConnection, rejected: dict[str, tuple[str, str]]) -> None:
    """One typed record, row 0, per file that can't be read at all, with its reason as error."""
    if not rejected:
        return
    rows = pa.table(
        {
            "_source_file": pa.array(list(rejected), pa.string()),
            "_source_row": pa.array([WHOLE_FILE_ROW] * len(rejected), pa.int64()),
            "_error_field": pa.array([f for f, _ in rejected.values()], pa.string()),
            "_error_reason": pa.array([r for _, r in rejected.values()], pa.string()),
        }
    )
    conn.register("ingest_whole_files_arrow", rows)
    conn.execute(
        f"""INSERT INTO {TYPED} BY NAME
        SELECT _source_file, _source_row,
               [{{'field': _error_field, 'reason': _error_reason}}] AS _errors
        FROM ingest_whole_files_arrow"""
    )
    conn.unregister("ingest_whole_files_arrow")


def _count_read(conn: duckdb.DuckDBPyConnection) -> None:
    """`ingest_read`: per file, the source records staged (rows read) and whether the file was
    taken as a whole (row 0)."""
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {READ} AS
        SELECT _source_file, count(DISTINCT _source_row) AS n,
               bool_or(_source_row = {WHOLE_FILE_ROW}) AS whole_file
        FROM {TYPED} GROUP BY ALL"""
    )


def _stage_files_nothing_was_read_from(conn: duckdb.DuckDBPyConnection, unit: str) -> None:
    """A file that holds records by its count but of which the parser staged none would leave
    no trace but its log line: it is quarantined whole, with both numbers."""
    missing = conn.execute(
        f"""SELECT relative, records_in_file FROM {FILES}
        WHERE records_in_file > 0 AND relative NOT IN (SELECT _source_file FROM {READ})"""
    ).fetchall()
    reasons = {
        relative: (
            FILE_FIELD,
            f"the file holds {n} records by a count of its {unit}, none was read",
        )
        for relative, n in missing
    }
    _add_whole_files(conn, reasons)
    if reasons:
        _count_read(conn)


def record_count_check(unit: str) -> str:
    """A file check: the records parsed are as many as the file's independent count says,
    or every record of the file is rejected with both numbers (the parser lost or split
    some, and which ones can't be told)."""
    return f"""
        SELECT f.relative AS _source_file, '{FILE_FIELD}' AS field,
               format('the file holds {{}} records by a count of its {unit}, the parser read {{}}',
                      f.records_in_file, r.n) AS reason
        FROM {FILES} AS f JOIN {READ} AS r ON r._source_file = f.relative
        WHERE f.records_in_file IS NOT NULL AND NOT r.whole_file AND r.n <> f.records_in_file"""


def _replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    loaded_at: datetime,
    batch_id: str,
    raw_records: str | None,
    staged: bool,
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
    values = [quote(c.name) for c in table.columns]
    if table.business_date_sql:
        values.append(f"{table.business_date_sql} AS {BUSINESS_DATE_COLUMN.name}")
    # No ORDER BY: the rows keep the order of the chunk's files (in_date_order), which is
    # business-date order; a sort made DuckDB write the rows at COMMIT, on one thread, instead
    # of while inserting.
    conn.execute(
        f"""INSERT INTO {target} ({names})
        SELECT {", ".join(values)}, _source_file, _source_row, $loaded_at, $batch
        FROM {TYPED} ANTI JOIN {REJECTED} USING (_source_file, _source_row)""",
        {"loaded_at": loaded_at, "batch": batch_id},
    )
    conn.execute(
        f"""INSERT INTO {quarantine}
        SELECT {feed}, r._source_file, r._source_row, r.field, r.reason, s.raw_record,
               $loaded_at, $batch
        FROM {REJECTED} AS r
        LEFT JOIN ({_rejected_records_sql(table, raw_records, staged)}) AS s
            USING (_source_file, _source_row)""",
        {"loaded_at": loaded_at, "batch": batch_id},
    )


def _log_and_reconcile(
    conn: duckdb.DuckDBPyConnection, table: RawTable, loaded_at: datetime, batch_id: str
) -> list[tuple[str, int, int, int]]:
    """Write the load log from independent counts and return them per file.

    Rows read come from the stage, rows loaded from what landed in the raw table, rows
    quarantined from the quarantine: if they don't add up the transaction must not commit.
    Beside them the log keeps the parser-independent count (`records_in_file`), which the
    record count check has already held the rows read against.
    """
    target = f"{RAW_SCHEMA}.{quote(table.name)}"
    # one set-based insert: a row-by-row executemany took seconds for a few thousand files
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {COUNTS} AS
        WITH loaded AS (
                SELECT _source_file, count(DISTINCT _source_row) AS n, count(*) AS raw_rows
                FROM {target}
                WHERE _source_file IN (SELECT relative FROM {FILES}) GROUP BY ALL),
            quarantined AS (
                SELECT _source_file, count(*) AS n FROM {RAW_SCHEMA}.{QUARANTINE_TABLE}
                WHERE feed = $feed AND _source_file IN (SELECT relative FROM {FILES})
                GROUP BY ALL)
        SELECT f.relative, f.sha256, f.file_size, f.file_mtime_ns, f.file_date, f.records_in_file,
               coalesce(read.n, 0) AS rows_read, coalesce(loaded.n, 0) AS rows_loaded,
               coalesce(quarantined.n, 0) AS rows_quarantined,
               coalesce(loaded.raw_rows, 0) AS rows_in_raw
        FROM {FILES} AS f
        LEFT JOIN {READ} AS read ON read._source_file = f.relative
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
            (feed, _source_file, file_sha256, rows_read, rows_loaded, rows_quarantined,
             _loaded_at, _load_batch, file_date, records_in_file, rows_in_raw, file_size,
             file_mtime_ns)
        SELECT $feed, relative, sha256, rows_read, rows_loaded, rows_quarantined, $loaded_at,
               $batch, file_date, records_in_file, rows_in_raw, file_size, file_mtime_ns
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
    conn.unregister(STAGE)  # where the stage is Arrow (staging.stage_arrow); else a no-op
    for name in (STAGE, TYPED, REJECTED, FILES, FILE_REJECTS, COUNTS, READ, *others):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _read_chunk(table: RawTable, stager: Stager, files: list[SourceFile]) -> StagedChunk:
    return stager(table, [source for source in files if source.problem is None])


def _read_ahead(
    table: RawTable, stager: Stager, chunks: list[list[SourceFile]]
) -> Iterator[tuple[list[SourceFile], StagedChunk]]:
    """Each chunk with its files read, the next chunk's read on a worker thread meanwhile.

    Reading is Python and Arrow work (files, decoding, CSV and workbook parsing, line counts)
    on one core; writing is DuckDB's, which releases the GIL. In a full load one core was idle
    for a fifth of the time. At most two chunks' records are held: the one being written and
    the next one.
    """
    if len(chunks) < 2:  # a daily load: no thread to start
        for chunk in chunks:
            yield chunk, _read_chunk(table, stager, chunk)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as reader:
        pending = reader.submit(_read_chunk, table, stager, chunks[0])
        for index, chunk in enumerate(chunks):
            staged = pending.result()
            if index + 1 < len(chunks):
                pending = reader.submit(_read_chunk, table, stager, chunks[index + 1])
            yield chunk, staged
            del staged  # written by now: not kept while the next chunk is awaited


def _write_chunk(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: list[SourceFile],
    staged: StagedChunk,
    file_checks: Sequence[str],
    result: LoadResult,
    loaded_at: datetime,
) -> None:
    info = staged.info
    stager_tables = [info.raw_records] if info.raw_records else []
    try:
        # inside: a write that fails half way leaves no stage table on the connection
        staged.write(conn)
        if not staged.typed:
            _build_typed_table(conn, table)
        rejected_whole = {s.relative: s.problem for s in files if s.problem is not None}
        rejected_whole.update(info.unreadable)
        _register_files(conn, table, files, info.records_in_file)
        _add_whole_files(conn, rejected_whole)
        _count_read(conn)
        _stage_files_nothing_was_read_from(conn, info.count_unit)
        _build_rejected_table(conn, [*file_checks, record_count_check(info.count_unit)])
        conn.execute("BEGIN TRANSACTION")
        try:
            _replace_rows(
                conn, table, loaded_at, result.batch_id, info.raw_records, not staged.typed
            )
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


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sha256_of_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


# From this many files on, describe_files hashes them on several threads (a day's few files
# are hashed faster than a pool starts).
HASHING_THREADS_FROM = 64


class _RealDirectories:
    """Real paths of directories, each resolved once: every file of a folder shares its
    parent's, and resolving each file's whole path was a third of a load's time."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def real_path(self, path: str) -> str:
        """The file's real path: a link is followed, other files take their folder's."""
        if os.path.islink(path):
            return os.path.realpath(path)
        parent, name = os.path.split(path)
        if parent not in self._known:
            self._known[parent] = os.path.realpath(parent)
        return os.path.join(self._known[parent], name)


def _inside(real_path: str, real_raw_dir: str) -> bool:
    return real_path.startswith(real_raw_dir.rstrip(os.sep) + os.sep)


def _describe(
    raw_dir: str,
    real_raw_dir: str,
    directories: _RealDirectories,
    path: str,
    logged: dict[str, LoggedFile],
) -> SourceFile | None:
    """The file as delivered under its own name, or None if it is no feed file (`_`, `.`).

    Nothing outside RAW_DIR is read: a link whose target lies outside is quarantined whole
    (its name, not the target's, is the lineage); so is a file that can't be opened or is
    empty (0 bytes: a failed export, not a day without sales).
    """
    relative = relative_path(raw_dir, path)
    if is_ignored(relative):
        return None
    real = directories.real_path(path)
    if not _inside(real, real_raw_dir):
        reason = f"symbolic link to {real}, outside RAW_DIR: not read"
        return SourceFile(Path(path), relative, _sha256_of_text(reason), 0, (FILE_FIELD, reason))
    try:
        stat = os.stat(path)
        known = logged.get(relative)
        if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            sha256 = known.sha256
        else:
            sha256 = sha256_of(path)
    except OSError as error:
        reason = f"cannot read the file: {error.strerror or error}"
        return SourceFile(Path(path), relative, _sha256_of_text(reason), 0, (FILE_FIELD, reason))
    problem = (FILE_FIELD, "empty file (0 bytes)") if stat.st_size == 0 else None
    return SourceFile(Path(path), relative, sha256, stat.st_size, problem, stat.st_mtime_ns)


def describe_files(
    raw_dir: Path, paths: Sequence[Path], logged: dict[str, LoggedFile] | None = None
) -> list[SourceFile]:
    """The files with their sha256: taken from `logged` (the load log) for a file whose size
    and modification time are the logged ones, read from the file otherwise. At 30M order lines
    hashing a month's files took ~0.25 s of every daily run, 25x what it takes at 1M."""
    raw = os.fspath(raw_dir)
    real_raw_dir = os.path.realpath(raw)
    directories = _RealDirectories()
    logged = logged or {}

    def describe(path: Path) -> SourceFile | None:
        return _describe(raw, real_raw_dir, directories, os.fspath(path), logged)

    if len(paths) < HASHING_THREADS_FROM:
        described = [describe(path) for path in paths]
    else:
        # hashlib releases the GIL while it reads and hashes: a full load's files are hashed
        # on every core (30M order lines, the online feeds' 14,586 files: 4.7 -> 3.1 s)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            described = list(pool.map(describe, paths))
    return [source for source in described if source is not None]


def _logged_files(conn: duckdb.DuckDBPyConnection, table: RawTable) -> dict[str, LoggedFile]:
    """Per file of the feed, its latest load's sha256 and stat."""
    rows = conn.execute(
        f"""SELECT _source_file,
                   arg_max(
                       struct_pack(
                           sha256 := file_sha256, size := file_size, mtime_ns := file_mtime_ns
                       ),
                       _loaded_at
                   ) AS latest
        FROM {RAW_SCHEMA}.{LOAD_LOG_TABLE} WHERE feed = $feed GROUP BY ALL""",
        {"feed": table.name},
    ).fetchall()
    return {
        relative: LoggedFile(latest["sha256"], latest["size"], latest["mtime_ns"])
        for relative, latest in rows
    }


def _remember_stats(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    unchanged: Sequence[SourceFile],
    logged: dict[str, LoggedFile],
) -> None:
    """Log the stat of skipped files that were hashed (touched, copied, or logged before the
    stat columns), so that the next run does not hash them again."""
    restat = [
        s
        for s in unchanged
        if s.mtime_ns is not None
        and (logged[s.relative].size, logged[s.relative].mtime_ns) != (s.size, s.mtime_ns)
    ]
    if not restat:
        return
    stats = pa.table(
        {
            "relative": pa.array([s.relative for s in restat], pa.string()),
            "sha256": pa.array([s.sha256 for s in restat], pa.string()),
            "file_size": pa.array([s.size for s in restat], pa.int64()),
            "file_mtime_ns": pa.array([s.mtime_ns for s in restat], pa.int64()),
        }
    )
    conn.register("ingest_file_stats", stats)
    try:
        conn.execute(
            f"""UPDATE {RAW_SCHEMA}.{LOAD_LOG_TABLE} AS log
            SET file_size = stats.file_size, file_mtime_ns = stats.file_mtime_ns
            FROM ingest_file_stats AS stats
            WHERE log.feed = $feed AND log._source_file = stats.relative
              AND log.file_sha256 = stats.sha256""",
            {"feed": table.name},
        )
    finally:
        conn.unregister("ingest_file_stats")


def in_date_order(table: RawTable, files: Sequence[SourceFile]) -> list[SourceFile]:
    """Files by the date their name holds (`<platform>_orders_<YYYYMMDD>`, `pos_<YYYYMMDD>`,
    `<YYYYMM>/...`; a name without one last), then by name, whatever order they were given in:
    the rows go in business-date order across platforms and countries, so that row groups
    cover few days and the zone maps of `_business_date` let a day's or a month's query skip
    the rest. The models built from the raw tables keep much of that order (see
    int_online_sales_lines). By name alone (platform first), a row group of the online orders
    at 30M lines spanned 63 days (median; up to all 1,460); by date, 10 (up to 19)."""

    def date_then_name(source: SourceFile) -> tuple[bool, date, str]:
        period = file_period(table.name, source.relative)
        return period is None, period or date.min, source.relative

    return sorted(files, key=date_then_name)


def chunked(
    files: Sequence[SourceFile], chunk_bytes: int = CHUNK_BYTES
) -> Iterator[list[SourceFile]]:
    chunk: list[SourceFile] = []
    size = 0
    for source in files:
        chunk.append(source)
        size += source.size
        if size >= chunk_bytes or len(chunk) >= CHUNK_FILES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def record_unrecognized_files(
    conn: duckdb.DuckDBPyConnection, raw_dir: Path, table: RawTable, batch_id: str
) -> list[str]:
    """Files under the feed's top-level folder that match no feed's layout: they replace the
    folder's earlier entries in raw.unrecognized_files, and are returned."""
    folder = FEED_LAYOUTS[table.name].folder
    found = unrecognized_files(raw_dir, {folder})
    sizes = []
    for relative in found:
        try:
            sizes.append(os.stat(os.path.join(raw_dir, relative)).st_size)
        except OSError:  # a broken link: its own size
            sizes.append(os.lstat(os.path.join(raw_dir, relative)).st_size)
    rows = pa.table(
        {
            "path": pa.array(found, pa.string()),
            "folder": pa.array([folder] * len(found), pa.string()),
            "feed": pa.array([feed_of_folder(relative) for relative in found], pa.string()),
            "size": pa.array(sizes, pa.int64()),
        }
    )
    target = f"{RAW_SCHEMA}.{UNRECOGNIZED_TABLE}"
    conn.register("ingest_unrecognized_arrow", rows)
    try:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {target} WHERE folder = $folder", {"folder": folder})
        conn.execute(
            f"""INSERT INTO {target}
            SELECT path, folder, feed, size, $seen_at, $batch FROM ingest_unrecognized_arrow""",
            {"seen_at": datetime.now(UTC).replace(tzinfo=None), "batch": batch_id},
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.unregister("ingest_unrecognized_arrow")
    return found


def _return_arrow_memory() -> None:
    """Give the memory of the stager's Arrow tables back to the system.

    Arrow's allocator (mimalloc) keeps freed pages for reuse. After the POS feed's 2025 files
    (decoded from GB18030 into Arrow) it still held ~440 MiB once the tables were gone, and the
    dbt step that follows in the same process then ran with DuckDB's 2 GB on top: the 30M full
    refresh peaked at 3.2 GB (measured 2026-12-06).
    """
    pa.default_memory_pool().release_unused()


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
    chunk_bytes: int = CHUNK_BYTES,
) -> LoadResult:
    """Load a feed's files (all of them when `files` is None) into raw.<table>.

    A file whose content was already loaded under the same name is skipped unless `force`.
    The files go in chunks of about `chunk_bytes` (or CHUNK_FILES files), one statement each.
    The feed's folder is searched for files that match no feed (raw.unrecognized_files).
    """
    ensure_raw_schema(conn)
    # the progress bar would flood the Dagster logs
    conn.execute("SET enable_progress_bar = false")
    raw_dir = Path(raw_dir)
    result = LoadResult(table=table.name, batch_id=batch_id or new_batch_id())
    paths = list_feed_files(raw_dir, table.name) if files is None else list(files)
    logged = {} if force else _logged_files(conn, table)
    sources = describe_files(raw_dir, paths, logged)
    if not force:
        unchanged = [
            s for s in sources if s.relative in logged and logged[s.relative].sha256 == s.sha256
        ]
        _remember_stats(conn, table, unchanged, logged)
        result.files_skipped = [s.relative for s in unchanged]
        skipped = set(result.files_skipped)
        sources = [s for s in sources if s.relative not in skipped]
    if table.snapshot and len(sources) > 1:
        raise ValueError(f"{table.name} is a snapshot feed: load one file, got {len(sources)}")
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    try:
        chunks = list(chunked(in_date_order(table, sources), chunk_bytes))
        for chunk, staged in _read_ahead(table, stager, chunks):
            _write_chunk(conn, table, chunk, staged, file_checks, result, loaded_at)
            del staged
    finally:
        _return_arrow_memory()
    result.unrecognized_files = record_unrecognized_files(conn, raw_dir, table, result.batch_id)
    return result
