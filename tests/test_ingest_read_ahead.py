"""A feed loaded in many chunks, each chunk's files read on a worker thread while the chunk
before it is written (core._read_ahead), lands exactly what a load in one chunk lands: the same
raw rows, quarantined records and load log, from generated feeds with their delivery defects."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.datagen.generate import generate
from orchestration.ingest import core, load_feed
from orchestration.ingest.files import FEED_LAYOUTS, list_feed_files
from orchestration.ingest.tables import RAW_TABLES

# five weeks over a month end: every dated feed has files in two months, the distributors'
# workbooks one month
GENERATED = {"scale": 0.05, "start": "2023-12-20", "end": "2024-01-24", "seed": 7}
# the dated feeds: the ones loaded in chunks (a reference snapshot is one file)
FEEDS = tuple(name for name, layout in FEED_LAYOUTS.items() if layout.period is not None)
SMALL_CHUNK_FILES = 7
# what differs between two loads of the same files by design
PER_LOAD = ("_loaded_at", "_load_batch")


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("read_ahead") / "raw"
    generate(path, progress=None, **GENERATED)
    return path


def load_feeds(db: Path, raw_dir: Path) -> None:
    with duckdb.connect(str(db)) as conn:
        for feed in FEEDS:
            assert load_feed(conn, raw_dir, feed).reconciles


def differences(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int, int]:
    """(rows of `one.table`, rows only there, rows only in `many.table`), per-load columns
    left out."""
    columns = f"* EXCLUDE ({', '.join(PER_LOAD)})"
    one, many = f"one.raw.{table}", f"many.raw.{table}"

    def only(left: str, right: str) -> int:
        query = f"FROM {left} SELECT {columns} EXCEPT ALL FROM {right} SELECT {columns}"
        return conn.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]

    total = conn.execute(f"SELECT count(*) FROM {one}").fetchone()[0]
    return total, only(one, many), only(many, one)


def test_many_chunks_read_ahead_land_what_one_chunk_lands(
    raw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {feed: len(list_feed_files(raw_dir, feed)) for feed in FEEDS}
    # lazada's 7 files stay one chunk: loaded without a worker thread
    assert {feed for feed, count in files.items() if count > SMALL_CHUNK_FILES} == set(FEEDS) - {
        "lazada_orders"
    }
    load_feeds(tmp_path / "one.duckdb", raw_dir)

    reader_threads: dict[str, set[str]] = {}
    read_chunk = core._read_chunk

    def read_chunk_noting_its_thread(table, stager, files):
        reader_threads.setdefault(table.name, set()).add(threading.current_thread().name)
        return read_chunk(table, stager, files)

    monkeypatch.setattr(core, "CHUNK_FILES", SMALL_CHUNK_FILES)
    monkeypatch.setattr(core, "_read_chunk", read_chunk_noting_its_thread)
    load_feeds(tmp_path / "many.duckdb", raw_dir)

    # a feed of several chunks was read on the worker thread, one of a single chunk was not
    for feed in FEEDS:
        several_chunks = files[feed] > SMALL_CHUNK_FILES
        on_worker = {name.startswith("ingest-read") for name in reader_threads[feed]}
        assert on_worker == {several_chunks}, feed

    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{tmp_path / 'one.duckdb'}' AS one (READ_ONLY)")
        conn.execute(f"ATTACH '{tmp_path / 'many.duckdb'}' AS many (READ_ONLY)")
        for feed in FEEDS:
            total, only_one, only_many = differences(conn, RAW_TABLES[feed].name)
            assert total > 0, feed
            assert (only_one, only_many) == (0, 0), feed
        quarantined, only_one, only_many = differences(conn, "quarantine")
        assert quarantined > 0  # the generator's delivery defects
        assert (only_one, only_many) == (0, 0)
        logged, only_one, only_many = differences(conn, "load_log")
        assert logged == sum(files.values())
        assert (only_one, only_many) == (0, 0)


def test_a_chunk_closes_at_its_loaders_size_or_at_the_file_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = [core.SourceFile(Path(f"f{i}"), f"f{i}", "", size=40) for i in range(10)]

    def sizes(**kwargs: int) -> list[int]:
        return [len(chunk) for chunk in core.chunked(files, **kwargs)]

    # a chunk closes with the file that reaches the size
    assert sizes(chunk_bytes=100) == [3, 3, 3, 1]
    assert sizes(chunk_bytes=400) == [10]
    assert sizes() == [10]  # the default, 128 MiB
    monkeypatch.setattr(core, "CHUNK_FILES", 4)
    assert sizes(chunk_bytes=400) == [4, 4, 2]
