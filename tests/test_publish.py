"""Write-audit-publish to the serving database: real DuckDB files, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import WAREHOUSE_CLI
from dagster import AssetKey, materialize

from orchestration.publish.assets import PUBLISH_ASSET_KEY, build_publish_asset
from orchestration.publish.serving import (
    AuditFailedError,
    AuditQuery,
    PublishError,
    audit,
    comments_from_manifest,
    key_columns_from_manifest,
    publish_marts,
    read_publish_info,
    rollback_serving,
    sha256_file,
    verify_serving,
)
from orchestration.resources import ServingResource, WarehouseDuckDBResource
from orchestration.settings import (
    SettingsError,
    duckdb_catalog_name,
    load_settings,
    serving_db_problem,
)

DUCKDB_1X_CLI = Path(sys.executable).parent / "duckdb"
MART_KEYS = [AssetKey(["channel_performance"]), AssetKey(["dim_channel"])]

MANIFEST = {
    "nodes": {
        "model.cw.channel_performance": {
            "resource_type": "model",
            "name": "channel_performance",
            "alias": "channel_performance",
            "schema": "marts",
            "description": "Monthly KPIs per channel (渠道业绩). One row per month × channel.",
            "columns": {
                "month": {"name": "month", "description": "First day of the month."},
                "channel": {"name": "channel", "description": "Channel code, e.g. tmall."},
                "net_sales": {"name": "net_sales", "description": "Net sales, CNY (净销售额)."},
                "not_in_table": {"name": "not_in_table", "description": "ignored"},
            },
        },
        "model.cw.dim_channel": {
            "resource_type": "model",
            "name": "dim_channel",
            "alias": "dim_channel",
            "schema": "marts",
            "description": "Channels and their Chinese names.",
            "columns": {"channel": {"name": "channel", "description": "Channel code."}},
            "constraints": [{"type": "primary_key", "columns": ["channel"]}],
        },
        "test.cw.not_null_channel_performance_channel.1a": {
            "resource_type": "test",
            "column_name": "channel",
            "attached_node": "model.cw.channel_performance",
            "test_metadata": {"name": "not_null", "kwargs": {"column_name": "channel"}},
            "depends_on": {"nodes": ["model.cw.channel_performance"]},
        },
        "test.cw.grain_channel_performance.2b": {
            "resource_type": "test",
            "attached_node": "model.cw.channel_performance",
            "test_metadata": {
                "name": "unique_combination_of_columns",
                "kwargs": {"combination_of_columns": ["month", "channel_group", "channel"]},
            },
        },
    }
}
COMMENTS = comments_from_manifest(MANIFEST)
KEYS = key_columns_from_manifest(MANIFEST)


def build_marts(conn: duckdb.DuckDBPyConnection, version: int) -> None:
    """Marts whose size and totals depend on `version` (12 + version months × 3 channels)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    conn.execute(
        f"""
        CREATE OR REPLACE TABLE marts.channel_performance AS
        SELECT CAST(DATE '2023-01-01' + to_months(CAST(r.m AS INTEGER)) AS DATE) AS month,
               g.channel_group, g.channel,
               CAST((r.m + 1) * 1000 + {version} * 7 + g.i AS DECIMAL(18, 2)) AS net_sales,
               CAST((r.m + 1) * 10 + {version} AS BIGINT) AS orders,
               (r.m + 1) / 7.0 AS some_double
        FROM range({12 + version}) AS r(m)
        CROSS JOIN (VALUES (1, 'online', 'tmall'), (2, 'online', 'jd'), (3, 'store', 'store'))
             AS g(i, channel_group, channel)
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TABLE marts.dim_channel AS
        SELECT * FROM (VALUES ('tmall', '天猫旗舰店'), ('jd', '京东'), ('store', '直营门店'))
             AS t(channel, channel_name_zh)
        """
    )


def make_warehouse(path: Path, version: int = 1) -> Path:
    with duckdb.connect(str(path)) as conn:
        build_marts(conn, version)
    return path


def expected_total(conn: duckdb.DuckDBPyConnection) -> str:
    return str(conn.execute("SELECT sum(net_sales) FROM marts.channel_performance").fetchone()[0])


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith((".tmp", ".wal"))]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return {
        "wh": make_warehouse(tmp_path / "warehouse.duckdb"),
        "srv": tmp_path / "serve" / "serving.duckdb",
        "pq": tmp_path / "serve" / "parquet",
    }


def test_publish_round_trip_with_comments_and_metadata(paths, monkeypatch):
    monkeypatch.setenv("GIT_COMMIT", "abc123")
    result = publish_marts(
        paths["wh"],
        paths["srv"],
        comments=COMMENTS,
        latest_business_date=date(2025, 12, 31),
        parquet_dir=paths["pq"],
    )
    assert result.row_counts == {"marts.channel_performance": 39, "marts.dim_channel": 3}
    assert result.git_commit == "abc123"
    assert result.previous_db is None
    assert no_temp_files(paths["srv"].parent)

    with duckdb.connect(str(paths["srv"]), read_only=True) as c:
        info = read_publish_info(c)
        assert info["publish_id"] == result.publish_id
        assert info["git_commit"] == "abc123"
        assert info["latest_business_date"] == date(2025, 12, 31)
        assert info["storage_version"] == "v1.0.0"
        assert info["table_count"] == 2 and info["total_rows"] == 42
        assert verify_serving(c) == []
        counts = dict(
            c.execute("SELECT table_name, row_count FROM marts.publish_tables").fetchall()
        )
        assert counts == {"channel_performance": 39, "dim_channel": 3}
        totals = json.loads(
            c.execute(
                "SELECT column_totals FROM marts.publish_tables "
                "WHERE table_name = 'channel_performance'"
            ).fetchone()[0]
        )
        assert totals["net_sales"] == str(
            c.execute("SELECT sum(net_sales) FROM marts.channel_performance").fetchone()[0]
        )
        assert "some_double" not in totals  # floating point is not summed
        table_comments = dict(
            c.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall()
        )
        assert table_comments["channel_performance"].startswith(
            "Monthly KPIs per channel (渠道业绩)"
        )
        assert table_comments["dim_channel"] == "Channels and their Chinese names."
        assert table_comments["publish_info"]
        col_comments = dict(
            c.execute(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE table_name = 'channel_performance' AND comment IS NOT NULL"
            ).fetchall()
        )
        assert col_comments == {
            "month": "First day of the month.",
            "channel": "Channel code, e.g. tmall.",
            "net_sales": "Net sales, CNY (净销售额).",
        }
        # Same types as in the warehouse (DECIMAL stays DECIMAL).
        assert (
            c.execute(
                "SELECT data_type FROM duckdb_columns() WHERE table_name = 'channel_performance' "
                "AND column_name = 'net_sales'"
            ).fetchone()[0]
            == "DECIMAL(18,2)"
        )

    # Second publish: a new version, the old one kept as .prev.
    with duckdb.connect(str(paths["wh"])) as w:
        build_marts(w, 2)
    second = publish_marts(paths["wh"], paths["srv"], comments=COMMENTS, parquet_dir=paths["pq"])
    assert second.previous_db == paths["srv"].with_name("serving.duckdb.prev")
    assert second.latest_business_date == date(2024, 2, 1)  # fallback: greatest DATE value
    with duckdb.connect(str(second.previous_db), read_only=True) as c:
        assert read_publish_info(c)["publish_id"] == result.publish_id
    rollback_serving(paths["srv"])
    with duckdb.connect(str(paths["srv"]), read_only=True) as c:
        assert read_publish_info(c)["publish_id"] == result.publish_id


def test_manifest_keys_and_audit(paths):
    assert KEYS["channel_performance"] == ["channel", "month", "channel_group"]
    assert KEYS["dim_channel"] == ["channel"]
    assert COMMENTS["marts.dim_channel"] is COMMENTS["dim_channel"]
    with duckdb.connect(str(paths["wh"]), read_only=True) as c:
        tables = ["marts.channel_performance", "marts.dim_channel"]
        assert audit(c, tables, KEYS) == []
        failures = audit(
            c,
            tables,
            {"channel_performance": ["channel", "nope"]},
            [
                AuditQuery(
                    "negative_sales",
                    "SELECT * FROM marts.channel_performance WHERE net_sales < 1500",
                ),
                AuditQuery("broken_sql", "SELECT * FROM marts.no_such_table"),
            ],
        )
    assert any("key column(s) missing: nope" in f for f in failures)
    assert any("audit negative_sales" in f and "offending" in f for f in failures)
    assert any("audit broken_sql: could not run" in f for f in failures)


@pytest.mark.skipif(not DUCKDB_1X_CLI.exists(), reason="duckdb-cli (DuckDB 1.x) not installed")
def test_duckdb_1x_cli_opens_serving_file_read_only(paths):
    version = subprocess.run(
        [str(DUCKDB_1X_CLI), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("v1."), version
    publish_marts(paths["wh"], paths["srv"], comments=COMMENTS, parquet_dir=paths["pq"])

    def cli(sql: str, db: Path | None = paths["srv"]) -> subprocess.CompletedProcess:
        args = [str(DUCKDB_1X_CLI), "-json"]
        if db is not None:  # an in-memory database cannot be opened read-only
            args[1:1] = ["-readonly"]
            args.append(str(db))
        return subprocess.run([*args, "-c", sql], capture_output=True, text=True, timeout=60)

    out = cli(
        "SELECT count(*) AS n, sum(net_sales)::VARCHAR AS total FROM marts.channel_performance"
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows[0]["n"] == 39
    out = cli("SELECT comment FROM duckdb_tables() WHERE table_name = 'dim_channel'")
    assert json.loads(out.stdout)[0]["comment"] == "Channels and their Chinese names."
    out = cli("SELECT table_name, row_count FROM marts.publish_tables ORDER BY 1")
    assert json.loads(out.stdout) == [
        {"table_name": "channel_performance", "row_count": 39},
        {"table_name": "dim_channel", "row_count": 3},
    ]
    # The 1.x client recomputes the same checksum, so readers on 1.x can verify too.
    out = cli(
        "SELECT (SELECT sum(hash(t)::HUGEINT)::VARCHAR FROM marts.channel_performance t) "
        "= checksum AS same FROM marts.publish_tables WHERE table_name = 'channel_performance'"
    )
    assert json.loads(out.stdout) == [{"same": True}]
    # Read-only: writes are refused.
    out = cli("CREATE TABLE marts.x (i INTEGER)")
    assert out.returncode != 0 and "read-only" in (out.stderr + out.stdout).lower()
    # The Parquet export is readable by the 1.x client too.
    pq = paths["pq"] / "current" / "channel_performance.parquet"
    out = cli(f"SELECT count(*) AS n FROM read_parquet('{pq}')", db=None)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": 39}]


def test_parquet_export_is_readable_and_swapped(paths):
    import pyarrow.parquet as papq

    first = publish_marts(paths["wh"], paths["srv"], parquet_dir=paths["pq"])
    current = paths["pq"] / "current"
    assert current.is_symlink() and current.resolve() == first.parquet_dir.resolve()
    names = sorted(p.name for p in current.iterdir())
    assert names == [
        "_catalog.json", "channel_performance.parquet", "dim_channel.parquet",
        "publish_info.parquet", "publish_tables.parquet",
    ]  # fmt: skip
    table = papq.read_table(current / "channel_performance.parquet")
    assert table.num_rows == 39
    catalog = json.loads((current / "_catalog.json").read_text())
    assert catalog["publish_id"] == first.publish_id
    assert catalog["tables"]["marts.channel_performance"]["row_count"] == 39
    with duckdb.connect() as c:
        assert (
            c.execute(
                f"SELECT sum(net_sales)::VARCHAR FROM '{current}/channel_performance.parquet'"
            ).fetchone()[0]
            == first.tables[0].column_totals["net_sales"]
        )

    for v in (2, 3, 4, 5):
        with duckdb.connect(str(paths["wh"])) as w:
            build_marts(w, v)
        last = publish_marts(paths["wh"], paths["srv"], parquet_dir=paths["pq"])
    assert current.resolve() == last.parquet_dir.resolve()
    assert papq.read_table(current / "channel_performance.parquet").num_rows == (12 + 5) * 3
    versions = [p for p in (paths["pq"] / "versions").iterdir()]
    assert len(versions) == 3  # pruned to the last three
    assert not [p for p in versions if p.name.startswith(".")]


def test_failed_audit_leaves_serving_file_byte_identical(paths):
    good = publish_marts(paths["wh"], paths["srv"], parquet_dir=paths["pq"])
    before = sha256_file(paths["srv"])
    current_before = (paths["pq"] / "current").resolve()
    # Break a mart: a NULL key.
    with duckdb.connect(str(paths["wh"])) as w:
        w.execute("UPDATE marts.channel_performance SET channel = NULL WHERE channel = 'jd'")

    def audit_fn(conn, tables):
        return audit(conn, tables, KEYS)

    with pytest.raises(AuditFailedError) as err:
        publish_marts(paths["wh"], paths["srv"], parquet_dir=paths["pq"], audit_fn=audit_fn)
    assert "NULL key column channel" in str(err.value)
    assert sha256_file(paths["srv"]) == before
    assert not paths["srv"].with_name("serving.duckdb.prev").exists()
    assert no_temp_files(paths["srv"].parent)
    assert (paths["pq"] / "current").resolve() == current_before
    assert len(list((paths["pq"] / "versions").iterdir())) == 1
    with duckdb.connect(str(paths["srv"]), read_only=True) as c:
        assert read_publish_info(c)["publish_id"] == good.publish_id

    # A failure while copying (a table that does not exist) leaves nothing behind either.
    with pytest.raises(duckdb.Error):
        publish_marts(paths["wh"], paths["srv"], tables=["marts.dim_channel", "marts.nope"])
    assert sha256_file(paths["srv"]) == before
    assert no_temp_files(paths["srv"].parent)


def _resources(paths: dict[str, Path]) -> dict[str, object]:
    return {
        "duckdb": WarehouseDuckDBResource(database=str(paths["wh"])),
        "serving": ServingResource(
            serving_db=str(paths["srv"]), state_dir=str(paths["srv"].parent)
        ),
    }


def test_publish_asset_publishes_and_refuses_on_audit_failure(paths, tmp_path):
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(MANIFEST))
    publish_asset = build_publish_asset(
        MART_KEYS,
        manifest_path=manifest_path,
        business_date_sql="SELECT max(month) + INTERVAL 30 DAY FROM marts.channel_performance",
        extra_audits=[
            AuditQuery(
                "every_channel_in_dim",
                "SELECT channel FROM marts.channel_performance "
                "EXCEPT SELECT channel FROM marts.dim_channel",
            )
        ],
    )
    assert publish_asset.key == PUBLISH_ASSET_KEY
    spec = next(iter(publish_asset.specs))
    assert spec.group_name == "publish"
    assert {d.asset_key for d in spec.deps} == set(MART_KEYS)
    assert "duckdb" in spec.kinds

    result = materialize([publish_asset], resources=_resources(paths))
    assert result.success
    mat = result.asset_materializations_for_node(publish_asset.op.name)[0]
    md = mat.metadata
    assert md["row_counts"].value == {"marts.channel_performance": 39, "marts.dim_channel": 3}
    assert md["latest_business_date"].value == "2024-01-31"
    assert md["published_path"].value == str(paths["srv"].resolve())
    assert md["duration_s"].value > 0
    assert md["comments_from_dbt_docs"].value is True
    with duckdb.connect(str(paths["srv"]), read_only=True) as c:
        info = read_publish_info(c)
        assert info["dagster_run_id"] == result.run_id
        assert (
            c.execute(
                "SELECT comment FROM duckdb_tables() WHERE table_name = 'channel_performance'"
            )
            .fetchone()[0]
            .startswith("Monthly KPIs")
        )
    before = sha256_file(paths["srv"])

    # Break the data so that the caller's extra audit fails: the run fails, nothing published.
    with duckdb.connect(str(paths["wh"])) as w:
        w.execute("DELETE FROM marts.dim_channel WHERE channel = 'jd'")
    failed = materialize([publish_asset], resources=_resources(paths), raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    err = failure.step_failure_data.user_failure_data
    assert "NOT published" in err.description
    assert "every_channel_in_dim" in err.description
    assert sha256_file(paths["srv"]) == before
    assert no_temp_files(paths["srv"].parent)

    # An empty mart fails the built-in audit.
    with duckdb.connect(str(paths["wh"])) as w:
        build_marts(w, 1)
        w.execute("DELETE FROM marts.dim_channel")
    failed = materialize([publish_asset], resources=_resources(paths), raise_on_error=False)
    assert not failed.success
    assert sha256_file(paths["srv"]) == before


_HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1])  # read-write, like a running dbt or Dagster step
    conn.execute("SELECT 1").fetchall()
    print("ready", flush=True)
    sys.stdin.read()
    conn.close()
    """
)


def test_serving_readable_while_warehouse_held_read_write(paths):
    publish_marts(paths["wh"], paths["srv"])
    before = sha256_file(paths["srv"])
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(paths["wh"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        # The warehouse is locked for everyone else ...
        with pytest.raises(duckdb.Error, match="lock"):
            duckdb.connect(str(paths["wh"]), read_only=True)
        # ... the serving file is not.
        with duckdb.connect(str(paths["srv"]), read_only=True) as c:
            assert verify_serving(c) == []
            assert c.execute("SELECT count(*) FROM marts.channel_performance").fetchone()[0] == 39
        if DUCKDB_1X_CLI.exists():
            out = subprocess.run(
                [str(DUCKDB_1X_CLI), "-readonly", str(paths["srv"]), "-c",
                 "SELECT count(*) FROM marts.dim_channel"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
        # Publishing without the holder's connection cannot read the warehouse: it fails cleanly.
        with pytest.raises(duckdb.Error, match="lock"):
            publish_marts(paths["wh"], paths["srv"])
        assert sha256_file(paths["srv"]) == before
        assert no_temp_files(paths["srv"].parent)
    finally:
        holder.communicate("", timeout=30)


def test_superset_style_sqlalchemy_url_is_read_only(paths):
    """The connection string the README gives for Superset (duckdb-engine)."""
    import sqlalchemy as sa

    publish_marts(paths["wh"], paths["srv"])
    url = f"duckdb:///{paths['srv'].resolve()}?access_mode=read_only"
    assert url.startswith("duckdb:////")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            n = c.execute(sa.text("SELECT count(*) FROM marts.channel_performance")).scalar()
            assert n == 39
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                c.execute(sa.text("CREATE TABLE marts.x (i INTEGER)"))
    finally:
        engine.dispose()


def test_git_commit_fallbacks(monkeypatch, tmp_path):
    from orchestration.publish.serving import git_commit

    monkeypatch.setenv("GIT_COMMIT", "feedbeef")
    assert git_commit() == "feedbeef"
    monkeypatch.delenv("GIT_COMMIT")
    assert len(git_commit()) in (40, 64) or git_commit() == "unknown"
    assert git_commit(tmp_path) == "unknown"  # not a git repository
    assert os.environ.get("GIT_COMMIT") is None


# --------------------------------------------------------------------------------------------
# SERVING_DB names DuckDB cannot serve `marts.<table>` from


@pytest.mark.parametrize(
    "name",
    [
        "serving.duckdb",
        "marts.duckdb",
        "Marts.duckdb",
        "marts.v2.duckdb",
        "marts",
        ".marts.duckdb",
        "marts_serving.duckdb",
        "my-marts.duckdb",
        "main.duckdb",
    ],
)
def test_the_catalog_rule_is_duckdbs_and_refuses_exactly_the_ambiguous_names(tmp_path, name):
    """DuckDB itself names the file's catalog, and `marts.<table>` fails exactly for the
    names the settings refuse (the publish's temporary file name included)."""
    path = tmp_path / name
    with duckdb.connect() as conn:  # written under an alias of our choosing: never ambiguous
        conn.execute(f"ATTACH '{path}' AS written")
        conn.execute("CREATE SCHEMA written.marts; CREATE TABLE written.marts.t AS SELECT 1 AS x")
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{path}' (READ_ONLY)")
        (catalog,) = conn.execute(
            "SELECT database_name FROM duckdb_databases() WHERE path = ?", [str(path)]
        ).fetchone()
    expected = duckdb_catalog_name(path)
    # DuckDB renames main/system/temp to <name>_db; the rule leaves them (no clash either way)
    assert catalog in (expected, f"{expected}_db")
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            conn.execute("SELECT x FROM marts.t").fetchall()
        ambiguous = False
    except duckdb.BinderException as error:
        ambiguous = "Ambiguous" in str(error)
    assert ambiguous == (serving_db_problem(path) is not None)
    assert ambiguous == (
        serving_db_problem(tmp_path / f".{name}.20260101T0000-abc.tmp") is not None
    )


def test_settings_refuse_a_serving_db_named_like_the_marts_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVING_DB", str(tmp_path / "marts.duckdb"))
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert "SERVING_DB=" in message and "marts.duckdb" in message
    assert "ambiguous" in message and "serving.duckdb" in message
    monkeypatch.setenv("SERVING_DB", str(tmp_path / "marts_serving.duckdb"))
    assert load_settings().serving_db == tmp_path / "marts_serving.duckdb"


def test_publish_refuses_an_ambiguous_serving_db_before_any_work(paths, tmp_path):
    serving = tmp_path / "bi" / "marts.duckdb"
    with pytest.raises(PublishError, match="ambiguous"):
        publish_marts(paths["wh"], serving, parquet_dir=tmp_path / "bi" / "parquet")
    assert not serving.parent.exists()  # no lock file, no temporary file, no Parquet

    publish_asset = build_publish_asset(MART_KEYS, manifest_path=None)
    failed = materialize(
        [publish_asset],
        resources={
            "duckdb": WarehouseDuckDBResource(database=str(paths["wh"])),
            "serving": ServingResource(serving_db=str(serving), state_dir=str(tmp_path / "bi")),
        },
        raise_on_error=False,
    )
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "NOT published" in description and "ambiguous" in description
    assert not serving.parent.exists()


def test_warehouse_cli_refuses_an_ambiguous_serving_db_before_any_work(tmp_path):
    env = {
        **os.environ,
        "RAW_DIR": str(tmp_path / "raw"),
        "WAREHOUSE_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SERVING_DB": str(tmp_path / "bi" / "marts.duckdb"),
    }
    result = subprocess.run(
        [WAREHOUSE_CLI, "run", "--quiet"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("warehouse: SERVING_DB=") and "ambiguous" in last
    assert "Traceback" not in result.stderr
    # nothing was generated, created or started
    assert not any((tmp_path / d).exists() for d in ("raw", "state", "dagster_home", "bi"))
