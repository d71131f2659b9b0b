"""Write-audit-publish of the marts to a read-only serving database.

The pipeline builds in its working DuckDB file (WAREHOUSE_DB). Publishing copies the marts (and
their dimensions) into a *new* DuckDB file next to SERVING_DB, audits that new file, and only then
swaps it in with ``os.replace()``:

- BI readers never see a half-written file: the rename is atomic, a reader that already has the
  old file open keeps reading the old version until it closes, new readers see the new one;
- a failed copy or audit removes the temporary file and leaves SERVING_DB byte-identical;
- the file is written through ``ATTACH ... (STORAGE_VERSION 'v1.0.0')`` so DuckDB 1.x clients
  (Superset, Metabase, DBeaver, the duckdb CLI) open it as well as 2.x;
- the file describes itself: ``marts.publish_info`` (one row: publish time, latest business date,
  git commit, content fingerprint, ...) and ``marts.publish_tables`` (one row per published table:
  row count, checksum, totals of the numeric columns), plus table and column comments from the dbt
  docs. A reader that queries a mart and these tables on one connection sees one version, so it can
  verify its numbers against the metadata (``verify_serving``).

The same tables can be exported as Parquet into ``<parquet_dir>/versions/<publish_id>/``; the
``<parquet_dir>/current`` symlink is swapped atomically to the new version.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from orchestration.settings import SERVING_SCHEMA, serving_db_problem

log = logging.getLogger(__name__)

PUBLISH_INFO_TABLE = "publish_info"
PUBLISH_TABLES_TABLE = "publish_tables"
METADATA_TABLES = (PUBLISH_INFO_TABLE, PUBLISH_TABLES_TABLE)
DEFAULT_STORAGE_VERSION = "v1.0.0"
PARQUET_KEEP_VERSIONS = 3

# Integer and decimal types are summed exactly; floating point is left out of the totals (a sum of
# doubles depends on the order of addition, so it would not be reproducible by a reader).
_EXACT_NUMERIC_PREFIXES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "DECIMAL",
)  # fmt: skip
_ROW_ALIAS = "__publish_row__"

# Comments as read from the dbt docs: table -> {"description": str, "columns": {col: str}}.
Comments = Mapping[str, Mapping[str, object]]


class PublishError(RuntimeError):
    """Publishing failed; the serving database was left untouched."""


class AuditFailedError(PublishError):
    """The audit of the new serving database failed; nothing was published."""

    def __init__(self, failures: Sequence[str]):
        self.failures = list(failures)
        super().__init__(
            f"audit failed ({len(self.failures)} problem(s)), nothing published: "
            + "; ".join(self.failures)
        )


@dataclass(frozen=True)
class TableStats:
    table: str  # name in the serving database, schema-qualified: marts.<name>
    source: str  # schema.table in the warehouse it was copied from
    row_count: int
    checksum: str  # sum(hash(row))::HUGEINT as text, order-independent
    column_totals: dict[str, str]  # exact sums of the integer/decimal columns, as text


@dataclass(frozen=True)
class PublishResult:
    publish_id: str
    serving_db: Path
    previous_db: Path | None
    published_at: datetime
    latest_business_date: date | None
    git_commit: str
    content_fingerprint: str
    storage_version: str
    tables: list[TableStats]
    parquet_dir: Path | None
    duration_s: float
    size_bytes: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        return {t.table: t.row_count for t in self.tables}


# --------------------------------------------------------------------------------------------------
# small helpers


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _qualified(*parts: str) -> str:
    return ".".join(quote_ident(p) for p in parts)


def git_commit(repo_dir: Path | None = None) -> str:
    """The code's git commit: $GIT_COMMIT, else `git rev-parse HEAD`, else 'unknown'."""
    env = os.environ.get("GIT_COMMIT", "").strip()
    if env:
        return env
    if repo_dir is None:
        repo_dir = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        commit = out.stdout.strip()
        return commit or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def new_publish_id(now: datetime) -> str:
    """Sortable by publish time (UTC, microseconds) and unique: 20260101T063000.123456Z-1a2b3c."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + uuid.uuid4().hex[:6]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # not supported on this platform/filesystem
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


@contextlib.contextmanager
def _publish_lock(serving_db: Path) -> Iterator[None]:
    """One publisher at a time per serving file (an advisory lock on a side file)."""
    lock_path = serving_db.with_name(serving_db.name + ".publish.lock")
    with open(lock_path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _temp_prefix(serving_db: Path) -> str:
    return f".{serving_db.name}."


def _clean_stale_temps(serving_db: Path) -> None:
    """Remove temp files a crashed publish left behind (called with the publish lock held)."""
    prefix = _temp_prefix(serving_db)
    for p in serving_db.parent.glob(prefix + "*"):
        if p.name.endswith((".tmp", ".tmp.wal", ".prev.tmp")):
            log.warning("removing stale publish temp file %s", p)
            _remove_quietly(p)


# --------------------------------------------------------------------------------------------------
# comments from the dbt docs


def comments_from_manifest(manifest: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """Table and column descriptions of the dbt models, seeds and snapshots in a manifest.

    Keyed by relation name (the table's name in the database: alias or name); the same entry is
    also reachable as ``<schema>.<name>``. Empty descriptions are left out.
    """
    out: dict[str, dict[str, object]] = {}
    nodes = manifest.get("nodes", {}) if isinstance(manifest, Mapping) else {}
    for node in nodes.values():  # type: ignore[union-attr]
        if not isinstance(node, Mapping):
            continue
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        name = node.get("alias") or node.get("name")
        if not name:
            continue
        columns = {
            col_name: str(col.get("description") or "").strip()
            for col_name, col in (node.get("columns") or {}).items()
            if isinstance(col, Mapping) and str(col.get("description") or "").strip()
        }
        entry: dict[str, object] = {
            "description": str(node.get("description") or "").strip(),
            "columns": columns,
        }
        out.setdefault(str(name), entry)
        if node.get("schema"):
            out[f"{node['schema']}.{name}"] = entry
    return out


def key_columns_from_manifest(manifest: Mapping[str, object]) -> dict[str, list[str]]:
    """Columns the dbt project declares as keys, per relation name.

    A column counts as a key when it has a `not_null` or `unique` test, a `not_null` or
    `primary_key` constraint, or is part of a `unique_combination_of_columns` test (the grain).
    """
    nodes = manifest.get("nodes", {}) if isinstance(manifest, Mapping) else {}
    by_unique_id: dict[str, str] = {}
    keys: dict[str, list[str]] = {}

    def add(rel: str, col: str) -> None:
        cols = keys.setdefault(rel, [])
        if col and col not in cols:
            cols.append(col)

    for uid, node in nodes.items():  # type: ignore[union-attr]
        if not isinstance(node, Mapping):
            continue
        if node.get("resource_type") in ("model", "seed", "snapshot"):
            rel = str(node.get("alias") or node.get("name"))
            by_unique_id[uid] = rel
            for col_name, col in (node.get("columns") or {}).items():
                for c in (col or {}).get("constraints") or []:
                    if c.get("type") in ("not_null", "primary_key"):
                        add(rel, col_name)
            for c in node.get("constraints") or []:
                if c.get("type") == "primary_key":
                    for col_name in c.get("columns") or []:
                        add(rel, col_name)
    for node in nodes.values():  # type: ignore[union-attr]
        if not isinstance(node, Mapping) or node.get("resource_type") != "test":
            continue
        meta = node.get("test_metadata") or {}
        attached = node.get("attached_node") or next(
            iter((node.get("depends_on") or {}).get("nodes") or []), None
        )
        rel = by_unique_id.get(str(attached))
        if rel is None:
            continue
        test_name = meta.get("name")
        if test_name in ("not_null", "unique") and node.get("column_name"):
            add(rel, str(node["column_name"]))
        elif test_name == "unique_combination_of_columns":
            for col_name in (meta.get("kwargs") or {}).get("combination_of_columns") or []:
                add(rel, str(col_name))
    return keys


def load_manifest(path: Path) -> dict | None:
    """The dbt manifest at `path`, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _comment_for(comments: Comments | None, source: str, name: str) -> Mapping[str, object]:
    if not comments:
        return {}
    schema_table = ".".join(source.split(".")[-2:])
    for key in (source, schema_table, name, f"{SERVING_SCHEMA}.{name}"):
        if key in comments:
            return comments[key]
    return {}


# --------------------------------------------------------------------------------------------------
# audits


@dataclass(frozen=True)
class AuditQuery:
    """An extra audit: a query that returns the offending rows (zero rows = pass), as dbt tests do.

    It runs on a read-only connection to the new serving database, so unqualified names such as
    `marts.channel_performance` refer to what is about to be published.
    """

    name: str
    sql: str


def audit(
    conn: duckdb.DuckDBPyConnection,
    tables: Sequence[str],
    key_columns: Mapping[str, Sequence[str]] | None = None,
    extra_audits: Sequence[AuditQuery] = (),
) -> list[str]:
    """Audit the marts visible on `conn`; returns the failures (empty list = pass).

    - every table is non-empty;
    - no NULL in any key column (`key_columns`: table name, bare or schema-qualified -> columns);
    - every extra audit query returns zero rows.
    An audit that cannot run counts as a failure too.
    """
    failures: list[str] = []
    key_columns = key_columns or {}
    for table in tables:
        name = table.split(".")[-1]
        qualified = _qualified(*table.split("."))
        try:
            (n,) = conn.execute(f"SELECT count(*) FROM {qualified}").fetchone()  # type: ignore[misc]
        except duckdb.Error as e:
            failures.append(f"{table}: cannot be read ({e})")
            continue
        if n == 0:
            failures.append(f"{table}: is empty")
        keys = list(key_columns.get(table) or key_columns.get(name) or [])
        if keys:
            existing = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? "
                    "AND table_name = ?",
                    [table.split(".")[-2] if "." in table else SERVING_SCHEMA, name],
                ).fetchall()
            }
            missing = [k for k in keys if k not in existing]
            if missing:
                failures.append(f"{table}: key column(s) missing: {', '.join(missing)}")
            present = [k for k in keys if k in existing]
            if present:
                sums = ", ".join(
                    f"count(*) FILTER (WHERE {quote_ident(k)} IS NULL)" for k in present
                )
                nulls = conn.execute(f"SELECT {sums} FROM {qualified}").fetchone() or ()
                for k, c in zip(present, nulls, strict=True):
                    if c:
                        failures.append(f"{table}: {c} row(s) with NULL key column {k}")
    for a in extra_audits:
        try:
            rows = conn.execute(f"SELECT count(*) FROM ({a.sql}) AS audit_rows").fetchone()
        except duckdb.Error as e:
            failures.append(f"audit {a.name}: could not run ({e})")
            continue
        if rows and rows[0]:
            failures.append(f"audit {a.name}: {rows[0]} offending row(s)")
    return failures


# --------------------------------------------------------------------------------------------------
# copying


def list_tables(conn: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> list[str]:
    """All tables and views of `catalog`.`schema`, as schema-qualified names, sorted."""
    rows = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name",
        [catalog, schema],
    ).fetchall()
    return [f"{s}.{t}" for s, t in rows]


def latest_date_in_tables(
    conn: duckdb.DuckDBPyConnection, catalog: str, tables: Sequence[str]
) -> date | None:
    """Fallback for the latest business date: the greatest value of any DATE column."""
    best: date | None = None
    for table in tables:
        schema, name = table.split(".")[-2:]
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
                "AND schema_name = ? AND table_name = ? AND data_type = 'DATE'",
                [catalog, schema, name],
            ).fetchall()
        ]
        if not cols:
            continue
        expr = ", ".join(f"max({quote_ident(c)})" for c in cols)
        row = conn.execute(
            f"SELECT greatest({expr}) FROM {_qualified(catalog, schema, name)}"
            if len(cols) > 1
            else f"SELECT {expr} FROM {_qualified(catalog, schema, name)}"
        ).fetchone()
        value = row[0] if row else None
        if isinstance(value, date) and (best is None or value > best):
            best = value
    return best


def table_stats(
    conn: duckdb.DuckDBPyConnection, catalog: str | None, schema: str, name: str
) -> tuple[int, str, dict[str, str]]:
    """(row count, checksum, exact totals of integer/decimal columns) of one table.

    The checksum is `sum(hash(row))` as HUGEINT: independent of row order, cheap, and the same for
    a reader that recomputes it with the same DuckDB major version.
    """
    where_catalog = (
        "database_name = ? AND " if catalog else "database_name = current_database() AND "
    )
    params = [catalog] if catalog else []
    cols = conn.execute(
        f"SELECT column_name, data_type FROM duckdb_columns() WHERE {where_catalog}"
        "schema_name = ? AND table_name = ? ORDER BY column_index",
        [*params, schema, name],
    ).fetchall()
    numeric = [c for c, t in cols if t.upper().startswith(_EXACT_NUMERIC_PREFIXES)]
    parts = [
        "count(*)",
        f"coalesce(sum(hash({_ROW_ALIAS})::HUGEINT), 0)::VARCHAR",
        *(f"coalesce(sum({_ROW_ALIAS}.{quote_ident(c)}), 0)::VARCHAR" for c in numeric),
    ]
    target = _qualified(catalog, schema, name) if catalog else _qualified(schema, name)
    row = conn.execute(f"SELECT {', '.join(parts)} FROM {target} AS {_ROW_ALIAS}").fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), dict(zip(numeric, (str(v) for v in row[2:]), strict=True))


def _content_fingerprint(stats: Sequence[TableStats]) -> str:
    h = hashlib.sha256()
    for s in sorted(stats, key=lambda s: s.table):
        h.update(f"{s.table}\t{s.row_count}\t{s.checksum}\n".encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _source_connection(
    warehouse_db: Path, conn: duckdb.DuckDBPyConnection | None
) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    """A connection that sees the warehouse, and the warehouse's catalog name on it.

    With `conn` (e.g. from DuckDBResource.get_connection()): use it; if it is not connected to
    `warehouse_db`, attach that read-only. Without: a private in-memory connection with the
    warehouse attached read-only (fails if another process holds the warehouse read-write).
    """
    wanted = str(Path(warehouse_db).resolve())
    own = conn is None
    c = duckdb.connect(":memory:") if conn is None else conn
    attached_alias: str | None = None
    try:
        catalog = None
        for name, path in c.execute(
            "SELECT database_name, path FROM duckdb_databases() WHERE path IS NOT NULL"
        ).fetchall():
            if path and str(Path(path).resolve()) == wanted:
                catalog = name
                break
        if catalog is None:
            attached_alias = "publish_src_" + uuid.uuid4().hex[:8]
            c.execute(f"ATTACH {quote_literal(wanted)} AS {attached_alias} (READ_ONLY)")
            catalog = attached_alias
        yield c, catalog
    finally:
        if attached_alias and not own:
            with contextlib.suppress(duckdb.Error):
                c.execute(f"DETACH {attached_alias}")
        if own:
            c.close()


def _build_serving_file(
    conn: duckdb.DuckDBPyConnection,
    src_catalog: str,
    tables: Sequence[str],
    tmp_path: Path,
    *,
    storage_version: str,
    comments: Comments | None,
    info: dict[str, object],
) -> list[TableStats]:
    """Write the new serving database at `tmp_path` in one transaction; returns its stats."""
    alias = "publish_dst_" + uuid.uuid4().hex[:8]
    conn.execute(
        f"ATTACH {quote_literal(str(tmp_path))} AS {alias} "
        f"(STORAGE_VERSION {quote_literal(storage_version)})"
    )
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_qualified(alias, SERVING_SCHEMA)}")
            stats: list[TableStats] = []
            for table in tables:
                src_schema, name = table.split(".")[-2:]
                source = f"{src_schema}.{name}"
                dst = _qualified(alias, SERVING_SCHEMA, name)
                conn.execute(
                    f"CREATE TABLE {dst} AS SELECT * FROM "
                    f"{_qualified(src_catalog, src_schema, name)}"
                )
                comment = _comment_for(comments, source, name)
                description = str(comment.get("description") or "").strip()
                if description:
                    conn.execute(f"COMMENT ON TABLE {dst} IS {quote_literal(description)}")
                col_comments = comment.get("columns") or {}
                if col_comments:
                    existing = {
                        r[0]
                        for r in conn.execute(
                            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
                            "AND schema_name = ? AND table_name = ?",
                            [alias, SERVING_SCHEMA, name],
                        ).fetchall()
                    }
                    for col, text in col_comments.items():  # type: ignore[union-attr]
                        if col in existing and str(text).strip():
                            conn.execute(
                                f"COMMENT ON COLUMN {dst}.{quote_ident(col)} IS "
                                f"{quote_literal(str(text).strip())}"
                            )
                n, checksum, totals = table_stats(conn, alias, SERVING_SCHEMA, name)
                stats.append(TableStats(f"{SERVING_SCHEMA}.{name}", source, n, checksum, totals))
            info["content_fingerprint"] = _content_fingerprint(stats)
            _write_metadata(conn, alias, stats, info, comments)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute(f"CHECKPOINT {alias}")
    finally:
        with contextlib.suppress(duckdb.Error):
            conn.execute(f"DETACH {alias}")
    return stats


def _write_metadata(
    conn: duckdb.DuckDBPyConnection,
    alias: str,
    stats: Sequence[TableStats],
    info: Mapping[str, object],
    comments: Comments | None,
) -> None:
    info_t = _qualified(alias, SERVING_SCHEMA, PUBLISH_INFO_TABLE)
    tables_t = _qualified(alias, SERVING_SCHEMA, PUBLISH_TABLES_TABLE)
    conn.execute(
        f"""CREATE TABLE {info_t} (
            publish_id VARCHAR NOT NULL,
            published_at TIMESTAMP NOT NULL,
            latest_business_date DATE,
            git_commit VARCHAR NOT NULL,
            content_fingerprint VARCHAR NOT NULL,
            dagster_run_id VARCHAR,
            source_database VARCHAR,
            duckdb_version VARCHAR,
            storage_version VARCHAR,
            table_count INTEGER,
            total_rows BIGINT
        )"""
    )
    conn.execute(
        f"INSERT INTO {info_t} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            info["publish_id"],
            info["published_at"],
            info["latest_business_date"],
            info["git_commit"],
            info["content_fingerprint"],
            info.get("dagster_run_id"),
            info.get("source_database"),
            duckdb.__version__,
            info["storage_version"],
            len(stats),
            sum(s.row_count for s in stats),
        ],
    )
    conn.execute(
        f"""CREATE TABLE {tables_t} (
            table_schema VARCHAR NOT NULL,
            table_name VARCHAR NOT NULL,
            row_count BIGINT NOT NULL,
            checksum VARCHAR NOT NULL,
            column_totals VARCHAR NOT NULL,
            source_table VARCHAR,
            publish_id VARCHAR NOT NULL
        )"""
    )
    for s in stats:
        conn.execute(
            f"INSERT INTO {tables_t} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                SERVING_SCHEMA,
                s.table.split(".")[-1],
                s.row_count,
                s.checksum,
                json.dumps(s.column_totals, sort_keys=True),
                s.source,
                info["publish_id"],
            ],
        )
    docs = {
        PUBLISH_INFO_TABLE: (
            "One row describing this published version of the marts: when it was published, "
            "the latest business date in the data, the git commit of the pipeline code.",
            {
                "publish_id": "Identifier of this published version (sortable by time).",
                "published_at": "When this version was published (UTC).",
                "latest_business_date": "The latest business date present in the data.",
                "git_commit": "Git commit of the pipeline code that built this version.",
                "content_fingerprint": "Hash of all tables' row counts and checksums: equal "
                "fingerprints mean equal data.",
                "dagster_run_id": "The Dagster run that published this version, if any.",
                "source_database": "The working warehouse file the marts were copied from.",
                "duckdb_version": "DuckDB library version that wrote this file.",
                "storage_version": "DuckDB storage version of this file (readable by DuckDB "
                "clients from that version on).",
                "table_count": "Number of published tables (metadata tables excluded).",
                "total_rows": "Sum of the published tables' row counts.",
            },
        ),
        PUBLISH_TABLES_TABLE: (
            "One row per published table: its row count and checksums, for readers to verify "
            "that what they query is complete and consistent with publish_info.",
            {
                "table_schema": "Schema of the published table.",
                "table_name": "Name of the published table.",
                "row_count": "Number of rows in the table.",
                "checksum": "sum(hash(row)) as HUGEINT text, order-independent; recompute with "
                "`SELECT sum(hash(t)::HUGEINT) FROM marts.<table> t` (same DuckDB major version).",
                "column_totals": "JSON object: exact sum of each integer/decimal column.",
                "source_table": "The table in the working warehouse it was copied from.",
                "publish_id": "The published version this row belongs to.",
            },
        ),
    }
    for table, (text, cols) in docs.items():
        t = _qualified(alias, SERVING_SCHEMA, table)
        conn.execute(f"COMMENT ON TABLE {t} IS {quote_literal(text)}")
        for col, col_text in cols.items():
            conn.execute(f"COMMENT ON COLUMN {t}.{quote_ident(col)} IS {quote_literal(col_text)}")


# --------------------------------------------------------------------------------------------------
# parquet


def _export_parquet(
    tmp_db: Path, parquet_dir: Path, publish_id: str, tables: Sequence[str], catalog: dict
) -> Path:
    """Export from the new (not yet published) serving file into versions/<id>.tmp, then rename
    it to versions/<id>. Returns the final version folder (not yet pointed to by `current`)."""
    versions = parquet_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    tmp_dir = versions / f".{publish_id}.tmp"
    final_dir = versions / publish_id
    _remove_quietly(tmp_dir)
    tmp_dir.mkdir()
    try:
        with duckdb.connect(str(tmp_db), read_only=True) as c:
            for table in [*tables, *(f"{SERVING_SCHEMA}.{t}" for t in METADATA_TABLES)]:
                name = table.split(".")[-1]
                out = tmp_dir / f"{name}.parquet"
                c.execute(
                    f"COPY {_qualified(SERVING_SCHEMA, name)} TO {quote_literal(str(out))} "
                    "(FORMAT parquet, COMPRESSION zstd)"
                )
        (tmp_dir / "_catalog.json").write_text(
            json.dumps(catalog, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
        for p in tmp_dir.iterdir():
            _fsync_file(p)
        _fsync_dir(tmp_dir)
        os.rename(tmp_dir, final_dir)
        _fsync_dir(versions)
    except BaseException:
        _remove_quietly(tmp_dir)
        raise
    return final_dir


def _swap_parquet_current(parquet_dir: Path, version_dir: Path, keep: int) -> None:
    """Point <parquet_dir>/current at version_dir atomically; prune old versions."""
    current = parquet_dir / "current"
    tmp_link = parquet_dir / ".current.tmp"
    _remove_quietly(tmp_link)
    os.symlink(os.path.relpath(version_dir, parquet_dir), tmp_link)
    os.replace(tmp_link, current)
    _fsync_dir(parquet_dir)
    versions = sorted(
        (
            p
            for p in (parquet_dir / "versions").iterdir()
            if p.is_dir() and not p.name.startswith(".")
        ),
        key=lambda p: p.name,
    )
    for old in versions[:-keep] if keep > 0 else []:
        if old.resolve() != version_dir.resolve():
            _remove_quietly(old)


# --------------------------------------------------------------------------------------------------
# the publish


def publish_marts(
    warehouse_db: Path,
    serving_db: Path,
    tables: Sequence[str] | None = None,
    comments: Comments | None = None,
    latest_business_date: date | None = None,
    git_commit_sha: str | None = None,
    storage_version: str = DEFAULT_STORAGE_VERSION,
    parquet_dir: Path | None = None,
    *,
    conn: duckdb.DuckDBPyConnection | None = None,
    source_schema: str = SERVING_SCHEMA,
    audit_fn: Callable[[duckdb.DuckDBPyConnection, list[str]], Sequence[str]] | None = None,
    keep_previous: bool = True,
    parquet_keep_versions: int = PARQUET_KEEP_VERSIONS,
    dagster_run_id: str | None = None,
    now: datetime | None = None,
    extra_tables: Sequence[str] = (),
) -> PublishResult:
    """Copy `tables` from the warehouse into a new serving database, audit it, swap it in.

    - `tables`: schema-qualified names in the warehouse (default: every table and view of
      `source_schema`); each lands in schema `marts` of the serving database under its own name.
    - `comments`: table -> {"description": ..., "columns": {col: ...}} (see
      `comments_from_manifest`); keys may be bare or schema-qualified table names.
    - `latest_business_date`: None -> the greatest DATE value found in the published tables.
    - `conn`: an open connection to the warehouse (e.g. from `DuckDBResource.get_connection()`,
      which holds the file's write lock); without one, the warehouse is opened read-only.
    - `audit_fn(conn, tables) -> failures`: run on a read-only connection to the new file before
      the swap; any failure raises `AuditFailedError` and nothing is published.
    - `keep_previous`: the replaced version stays as `<serving_db>.prev` (a hard link, so no copy)
      for an instant `rollback_serving()`.
    - `parquet_dir`: also export the tables as Parquet to `<parquet_dir>/versions/<publish_id>/`
      and point `<parquet_dir>/current` at it.
    - `extra_tables`: schema-qualified tables published besides `tables` (e.g. the data-quality
      summary that orchestration.publish.quality writes at publish time).

    On any failure the temporary files are removed and `serving_db` is untouched.
    """
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    serving_db = Path(serving_db).resolve()
    warehouse_db = Path(warehouse_db).resolve()
    if serving_db == warehouse_db:
        raise PublishError("the serving database must be a different file from the warehouse")
    if problem := serving_db_problem(serving_db):
        raise PublishError(f"serving database {serving_db}: {problem}")
    serving_db.parent.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    publish_id = new_publish_id(now)
    commit = git_commit_sha or git_commit()
    tmp_path = serving_db.with_name(f"{_temp_prefix(serving_db)}{publish_id}.tmp")
    tmp_wal = tmp_path.with_name(tmp_path.name + ".wal")

    with _publish_lock(serving_db):
        _clean_stale_temps(serving_db)
        version_dir: Path | None = None
        try:
            with _source_connection(warehouse_db, conn) as (c, catalog):
                tables = _tables_to_publish(c, catalog, source_schema, tables, extra_tables)
                if latest_business_date is None:
                    latest_business_date = latest_date_in_tables(c, catalog, tables)
                info: dict[str, object] = {
                    "publish_id": publish_id,
                    "published_at": now.astimezone(UTC).replace(tzinfo=None),
                    "latest_business_date": latest_business_date,
                    "git_commit": commit,
                    "dagster_run_id": dagster_run_id,
                    "source_database": str(warehouse_db),
                    "storage_version": storage_version,
                }
                stats = _build_serving_file(
                    c,
                    catalog,
                    tables,
                    tmp_path,
                    storage_version=storage_version,
                    comments=comments,
                    info=info,
                )
            timings["copy_s"] = round(time.monotonic() - t0, 3)
            if tmp_wal.exists():
                raise PublishError(f"{tmp_wal} left behind after CHECKPOINT/DETACH")
            published = [s.table for s in stats]

            t1 = time.monotonic()
            _audit(tmp_path, published, audit_fn)
            timings["audit_s"] = round(time.monotonic() - t1, 3)

            if parquet_dir is not None:
                t2 = time.monotonic()
                version_dir = _export_parquet(
                    tmp_path,
                    Path(parquet_dir),
                    publish_id,
                    published,
                    _parquet_catalog(info, stats, comments),
                )
                timings["parquet_s"] = round(time.monotonic() - t2, 3)

            previous = _swap_in(tmp_path, serving_db, publish_id, keep_previous)
        except BaseException:
            _remove_quietly(tmp_path, tmp_wal)
            if version_dir is not None and not _is_current(Path(parquet_dir), version_dir):  # type: ignore[arg-type]
                _remove_quietly(version_dir)
            raise

    if parquet_dir is not None and version_dir is not None:
        try:
            _swap_parquet_current(Path(parquet_dir), version_dir, parquet_keep_versions)
        except OSError as e:
            raise PublishError(
                f"serving database {serving_db} was published as {publish_id}, but the Parquet "
                f"'current' link could not be swapped to {version_dir}: {e}"
            ) from e

    return PublishResult(
        publish_id=publish_id,
        serving_db=serving_db,
        previous_db=previous,
        published_at=now,
        latest_business_date=latest_business_date,
        git_commit=commit,
        content_fingerprint=str(info["content_fingerprint"]),
        storage_version=storage_version,
        tables=stats,
        parquet_dir=version_dir,
        duration_s=round(time.monotonic() - t0, 3),
        size_bytes=serving_db.stat().st_size,
        timings=timings,
    )


def _tables_to_publish(
    c: duckdb.DuckDBPyConnection,
    catalog: str,
    source_schema: str,
    tables: Sequence[str] | None,
    extra_tables: Sequence[str],
) -> list[str]:
    """Schema-qualified tables to publish (default: every table and view of the schema);
    their names must be unique in the serving schema."""
    listed = list_tables(c, catalog, source_schema) if tables is None else list(tables)
    qualified = [
        t if t.count(".") == 1 else f"{source_schema}.{t}" for t in [*listed, *extra_tables]
    ]
    if not qualified:
        raise PublishError(f"no tables to publish in {catalog}.{source_schema}")
    names = [t.split(".")[-1] for t in qualified]
    clashes = sorted({n for n in names if names.count(n) > 1 or n in METADATA_TABLES})
    if clashes:
        raise PublishError(f"table names clash in the serving schema: {clashes}")
    return qualified


def _audit(
    tmp_path: Path,
    published: list[str],
    audit_fn: Callable[[duckdb.DuckDBPyConnection, list[str]], Sequence[str]] | None,
) -> None:
    """Audit what is about to be published, on a fresh read-only connection to the file."""
    if audit_fn is None:
        return
    with duckdb.connect(str(tmp_path), read_only=True) as ac:
        failures = list(audit_fn(ac, published))
    if failures:
        raise AuditFailedError(failures)


def _parquet_catalog(info: dict[str, object], stats, comments: Comments | None) -> dict:
    """catalog.json of a Parquet version: the publish metadata and each table's file."""
    return {
        **info,
        "tables": {
            s.table: {
                "file": f"{s.table.split('.')[-1]}.parquet",
                "row_count": s.row_count,
                "column_totals": s.column_totals,
                "description": _comment_for(comments, s.source, s.table.split(".")[-1]).get(
                    "description", ""
                ),
            }
            for s in stats
        },
    }


def _swap_in(tmp_path: Path, serving_db: Path, publish_id: str, keep_previous: bool) -> Path | None:
    """The new file becomes the serving database: made durable, the old version kept as
    `.prev` (a hard link, else a copy), then an atomic rename. The `.prev` path, if kept."""
    _fsync_file(tmp_path)
    previous: Path | None = None
    if keep_previous and serving_db.exists():
        prev_path = serving_db.with_name(serving_db.name + ".prev")
        prev_tmp = serving_db.with_name(f"{_temp_prefix(serving_db)}{publish_id}.prev.tmp")
        try:
            os.link(serving_db, prev_tmp)
        except OSError:  # filesystem without hard links: fall back to a copy
            shutil.copy2(serving_db, prev_tmp)
        os.replace(prev_tmp, prev_path)
        previous = prev_path
    os.replace(tmp_path, serving_db)
    _fsync_dir(serving_db.parent)
    return previous


def _is_current(parquet_dir: Path, version_dir: Path) -> bool:
    current = parquet_dir / "current"
    return current.exists() and current.resolve() == version_dir.resolve()


def rollback_serving(serving_db: Path) -> None:
    """Swap the previous version (`<serving_db>.prev`) back in; the bad one becomes `.prev`."""
    serving_db = Path(serving_db).resolve()
    prev_path = serving_db.with_name(serving_db.name + ".prev")
    if not prev_path.exists():
        raise PublishError(f"no previous version at {prev_path}")
    with _publish_lock(serving_db):
        swap = serving_db.with_name(f"{_temp_prefix(serving_db)}rollback.prev.tmp")
        _remove_quietly(swap)
        os.link(serving_db, swap)
        os.replace(prev_path, serving_db)
        os.replace(swap, prev_path)
        _fsync_dir(serving_db.parent)


# --------------------------------------------------------------------------------------------------
# reader side


def read_publish_info(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
    cur = conn.execute(f"SELECT * FROM {_qualified(SERVING_SCHEMA, PUBLISH_INFO_TABLE)}")
    cols = [d[0] for d in cur.description]
    row = cur.fetchone()
    if row is None:
        raise PublishError("publish_info is empty")
    return dict(zip(cols, row, strict=True))


def verify_serving(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Recompute every published table's row count, checksum and totals on `conn` and compare
    them with marts.publish_tables; returns the mismatches (empty = consistent)."""
    problems: list[str] = []
    info = read_publish_info(conn)
    rows = conn.execute(
        "SELECT table_schema, table_name, row_count, checksum, column_totals, publish_id "
        f"FROM {_qualified(SERVING_SCHEMA, PUBLISH_TABLES_TABLE)} ORDER BY table_name"
    ).fetchall()
    for schema, name, row_count, checksum, totals_json, pid in rows:
        if pid != info["publish_id"]:
            problems.append(f"{schema}.{name}: publish_id {pid} != {info['publish_id']}")
        n, cs, totals = table_stats(conn, None, schema, name)
        if n != row_count:
            problems.append(f"{schema}.{name}: {n} rows, metadata says {row_count}")
        if cs != checksum:
            problems.append(f"{schema}.{name}: checksum {cs}, metadata says {checksum}")
        if totals != json.loads(totals_json):
            problems.append(f"{schema}.{name}: totals {totals}, metadata says {totals_json}")
    if len(rows) != info["table_count"]:
        problems.append(f"{len(rows)} tables listed, publish_info says {info['table_count']}")
    return problems
