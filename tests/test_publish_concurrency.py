"""BI readers and the publisher never block each other, and every reader sees one version.

A reader subprocess queries the serving database in a loop (a new read-only connection per
query, as BI tools with a connection per query do) while the pipeline publishes five different
versions. Every query must succeed and its numbers must match the metadata of the version that
same connection sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb

from orchestration.publish.serving import publish_marts, read_publish_info, verify_serving


def build_marts(conn: duckdb.DuckDBPyConnection, version: int) -> None:
    """A mart whose size and totals depend on `version` (12 + version months × 3 channels)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    conn.execute(
        f"""
        CREATE OR REPLACE TABLE marts.channel_performance AS
        SELECT CAST(DATE '2023-01-01' + to_months(CAST(r.m AS INTEGER)) AS DATE) AS month,
               g.channel,
               CAST((r.m + 1) * 1000 + {version} * 7 + g.i AS DECIMAL(18, 2)) AS net_sales
        FROM range({12 + version}) AS r(m)
        CROSS JOIN (VALUES (1, 'tmall'), (2, 'jd'), (3, 'store')) AS g(i, channel)
        """
    )
    conn.execute(f"CREATE OR REPLACE TABLE marts.dim_version AS SELECT {version} AS version")


def make_warehouse(path: Path, version: int) -> Path:
    with duckdb.connect(str(path)) as conn:
        build_marts(conn, version)
    return path


_READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb
    from orchestration.publish.serving import read_publish_info, verify_serving

    serving, stop_file, max_seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    deadline = time.monotonic() + max_seconds
    print(json.dumps({"ready": True}), flush=True)
    while time.monotonic() < deadline and not stop_file.exists():
        t0 = time.monotonic()
        try:
            with duckdb.connect(serving, read_only=True) as c:
                info = read_publish_info(c)
                n, total = c.execute(
                    "SELECT count(*), sum(net_sales)::VARCHAR FROM marts.channel_performance"
                ).fetchone()
                meta_n, meta_totals = c.execute(
                    "SELECT row_count, column_totals FROM marts.publish_tables "
                    "WHERE table_name = 'channel_performance'"
                ).fetchone()
                problems = verify_serving(c)  # row counts, checksums, totals of every table
                # The same connection keeps seeing the same version, even across a swap.
                time.sleep(0.02)
                again = read_publish_info(c)["publish_id"]
            if n != meta_n or total != json.loads(meta_totals)["net_sales"]:
                problems.append(f"totals {n}/{total} != metadata {meta_n}/{meta_totals}")
            if again != info["publish_id"]:
                problems.append(f"version changed within a connection: {again}")
            print(json.dumps({
                "publish_id": info["publish_id"], "rows": n, "net_sales": total,
                "problems": problems, "ms": round((time.monotonic() - t0) * 1000, 1),
            }), flush=True)
        except Exception as e:  # every error counts
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
    """
)


def _wait_for_version(lines: list[dict], publish_id: str, timeout: float = 60) -> None:
    """Until the reader has reported a query of that version (or reported an error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.get("publish_id") == publish_id or "error" in line for line in lines):
            return
        time.sleep(0.02)
    raise AssertionError(f"the reader never queried version {publish_id}")


def test_reader_sees_consistent_versions_while_pipeline_publishes(tmp_path: Path):
    repo = Path(__file__).resolve().parent.parent
    wh = make_warehouse(tmp_path / "warehouse.duckdb", version=0)
    srv = tmp_path / "serving.duckdb"
    stop = tmp_path / "stop"
    first = publish_marts(wh, srv)
    expected: dict[str, tuple[int, str]] = {
        first.publish_id: (36, first.tables[0].column_totals["net_sales"])
    }

    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(srv), str(stop), "300"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    publish_seconds: list[float] = []
    lines: list[dict] = []
    try:
        assert json.loads(reader.stdout.readline()) == {"ready": True}
        collector = threading.Thread(
            target=lambda: lines.extend(json.loads(line) for line in reader.stdout if line.strip())
        )
        collector.start()
        _wait_for_version(lines, first.publish_id)
        # The pipeline: one read-write connection on the working warehouse (as the Dagster
        # DuckDBResource holds it), rebuilding the marts and publishing five versions; the
        # next is published once the reader has queried this one (however loaded the machine)
        with duckdb.connect(str(wh)) as conn:
            for version in range(1, 6):
                build_marts(conn, version)
                t0 = time.monotonic()
                result = publish_marts(wh, srv, conn=conn)
                publish_seconds.append(time.monotonic() - t0)
                total = conn.execute(
                    "SELECT count(*), sum(net_sales)::VARCHAR FROM marts.channel_performance"
                ).fetchone()
                expected[result.publish_id] = (int(total[0]), str(total[1]))
                _wait_for_version(lines, result.publish_id)
        stop.touch()
        reader.wait(timeout=60)
        collector.join(timeout=60)
        err = reader.stderr.read()
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()

    assert reader.returncode == 0, err
    errors = [line["error"] for line in lines if "error" in line]
    queries = [line for line in lines if "publish_id" in line]
    assert errors == []
    inconsistent = [q for q in queries if q["problems"]]
    assert inconsistent == []
    for q in queries:  # each query's totals are exactly those of the version it saw
        assert (q["rows"], q["net_sales"]) == expected[q["publish_id"]], q
    seen = {q["publish_id"] for q in queries}
    assert seen == set(expected)  # every version, each read while the next was not yet out
    print(
        f"\n{len(queries)} reader queries over {len(seen)} versions, 0 errors; "
        f"publish took {min(publish_seconds):.3f}-{max(publish_seconds):.3f}s; "
        f"query p50 {sorted(q['ms'] for q in queries)[len(queries) // 2]} ms"
    )

    with duckdb.connect(str(srv), read_only=True) as c:
        assert read_publish_info(c)["publish_id"] == result.publish_id
        assert verify_serving(c) == []


def test_open_reader_keeps_old_version_and_does_not_block_publish(tmp_path: Path):
    """A reader holding the serving file open (a pooled BI connection) does not block the
    publish; it keeps its version until it reconnects, and new connections see the new one."""
    wh = make_warehouse(tmp_path / "warehouse.duckdb", version=1)
    srv = tmp_path / "serving.duckdb"
    first = publish_marts(wh, srv)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, duckdb
                c = duckdb.connect(sys.argv[1], read_only=True)
                q = "SELECT publish_id FROM marts.publish_info"
                print(c.execute(q).fetchone()[0], flush=True)
                sys.stdin.readline()
                print(c.execute(q).fetchone()[0], flush=True)
                c.close()
                c = duckdb.connect(sys.argv[1], read_only=True)
                print(c.execute(q).fetchone()[0], flush=True)
                """
            ),
            str(srv),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == first.publish_id
        with duckdb.connect(str(wh)) as conn:
            build_marts(conn, 2)
        second = publish_marts(wh, srv)  # not blocked by the open reader
        out, _ = holder.communicate("go\n", timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert out.split() == [first.publish_id, second.publish_id]
