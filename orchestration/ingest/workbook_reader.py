"""A second reader of sell-in workbooks, in a process of its own.

    python -m orchestration.ingest.workbook_reader FOLDER

Reading a workbook is Python work that holds the GIL: calamine's cells are turned into the
stage's text one by one (~2.5 ms a workbook). A thread would not read beside the loading
process's reader; a process does, on the other core. A chunk with many workbooks is split in
two (orchestration.ingest.distributor): the second half is read here while the loading process
reads the first.

FOLDER holds `files.json` (the raw table's name and the workbooks: path, relative path, sha256,
size, mtime) when the process starts; it leaves there `stage.arrow` (the stage rows, Arrow IPC)
and `info.json` (what staging learned, orchestration.ingest.core.StageInfo). A program of its
own rather than a multiprocessing pool: a spawned pool worker imports the parent's main module
again, which is the Dagster run worker's, pytest's or the benchmark's.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa

from orchestration.ingest.core import SourceFile, StageInfo
from orchestration.ingest.tables import RAW_TABLES, RawTable

FILES = "files.json"
STAGE = "stage.arrow"
INFO = "info.json"


def write_request(folder: Path, table: RawTable, files: list[SourceFile]) -> None:
    request = {
        "table": table.name,
        "files": [[str(f.path), f.relative, f.sha256, f.size, f.mtime_ns] for f in files],
    }
    (folder / FILES).write_text(json.dumps(request), encoding="utf-8")


def _read_request(folder: Path) -> tuple[RawTable, list[SourceFile]]:
    request = json.loads((folder / FILES).read_text(encoding="utf-8"))
    files = [
        SourceFile(Path(path), relative, sha256, size, mtime_ns=mtime_ns)
        for path, relative, sha256, size, mtime_ns in request["files"]
    ]
    return RAW_TABLES[request["table"]], files


def _write_result(folder: Path, stage: pa.Table, info: StageInfo) -> None:
    with pa.OSFile(str(folder / STAGE), "wb") as sink, pa.ipc.new_file(sink, stage.schema) as out:
        out.write_table(stage)
    (folder / INFO).write_text(json.dumps(asdict(info), ensure_ascii=False), encoding="utf-8")


def read_result(folder: Path) -> tuple[pa.Table, StageInfo]:
    """The stage rows and the StageInfo the process left in `folder`."""
    # read into memory, not mapped: the folder is deleted once the rows are taken
    with pa.OSFile(str(folder / STAGE), "rb") as source:
        stage = pa.ipc.open_file(source).read_all()
    fields = json.loads((folder / INFO).read_text(encoding="utf-8"))
    fields["unreadable"] = {name: tuple(problem) for name, problem in fields["unreadable"].items()}
    return stage, StageInfo(**fields)


def main(argv: list[str] | None = None) -> int:
    from orchestration.ingest.distributor import read_workbooks_here

    folder = Path((argv if argv is not None else sys.argv[1:])[0])
    stage, info = read_workbooks_here(*_read_request(folder))
    _write_result(folder, stage, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
