"""The Dagster instance on PostgreSQL (README: "Running on a cluster"), on a real server.

`warehouse run` builds a month of generated data with DAGSTER_STORAGE=postgres and a fresh
DAGSTER_HOME: the CLI puts orchestration/dagster.postgres.yaml there, and the runs, the asset
materializations, the asset check evaluations and every other event must land in PostgreSQL
(read back through Dagster and straight from its tables), none in SQLite files. Then the
project's own readers of the instance (dead-run recovery, the alert sensors) run against it.

The server is this module's own: a throwaway cluster (initdb, pg_ctl) in a temporary folder,
listening on a free port of 127.0.0.1 only, with a password (scram-sha-256) that reaches
Dagster through DAGSTER_PG_PASSWORD, as in production. PostgreSQL refuses to run as root:
under root (CI) the server runs as the `postgres` user the Debian package creates. Without
PostgreSQL's binaries the module is skipped on a developer's machine, and fails in CI (`CI`
set; `.ci/run` installs PostgreSQL and sets it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from conftest import WAREHOUSE_CLI, closed_port
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventRecordsFilter,
    RunsFilter,
    build_sensor_context,
    job,
    op,
)
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from test_alerts import read_log

from orchestration.automation.alert_sensors import (
    asset_check_alert_sensor,
    dead_run_sensor,
    recover_runs,
    run_failure_alert_sensor,
)
from orchestration.automation.alerts import AlertNotifier
from orchestration.datagen.generate import generate
from orchestration.instance import (
    RUN_HOST_TAG,
    RUN_PID_TAG,
    RUN_PROCESS_STARTED_TAG,
    TEMPLATES,
    prepare_dagster_home,
    process_tags,
)
from orchestration.settings import POSTGRES_ENV, SettingsError

PG_USER, PG_PASSWORD, PG_DB = "dagster", "s3cret with spaces & symbols", "dagster_warehouse"
SERVER_START_SECONDS = 60
# One month of small data: every asset of the graph and every check (2.5-4 min on 2 cores)
TINY = {"scale": 0.02, "start": "2024-01-01", "end": "2024-01-31", "seed": 3}


# --------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """PostgreSQL's server binaries: Debian's versioned folder (the newest), else PATH."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable(reason: str) -> None:
    """No server: a failure in CI, a skip (with the reason) on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"{reason} (install PostgreSQL, e.g. `apt-get install postgresql`)")


@dataclass(frozen=True)
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    run_as: list[str]  # the command prefix that runs a server binary as its owner

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables orchestration/dagster.postgres.yaml reads."""
        return {
            "DAGSTER_STORAGE": "postgres",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": PG_PASSWORD,
            "DAGSTER_PG_DB": PG_DB,
        }

    def connect(self, dbname: str = PG_DB):
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, password=PG_PASSWORD, dbname=dbname
        )

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            timeout=SERVER_START_SECONDS + 30,
            check=False,
        )


def _owner_prefix(root: Path) -> list[str]:
    """Run the server as the current user, or as `postgres` under root (handing it `root`)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        shutil.chown(root, user="postgres", group=None)
    except LookupError:
        unavailable("running as root, and there is no `postgres` user to run the server")
    if runuser is None:
        unavailable("running as root, and `runuser` is missing to run the server as `postgres`")
    return [runuser, "-u", "postgres", "--"]


def _initdb(server: PostgresServer) -> None:
    """A cluster whose superuser `dagster` logs in with a password, over TCP only."""
    password_file = server.root / "password"
    password_file.write_text(PG_PASSWORD + "\n")
    if server.run_as:
        shutil.chown(password_file, user="postgres")
    result = subprocess.run(
        [
            *server.run_as,
            str(server.bin_dir / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            PG_USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # throwaway: no fsync of the new cluster (~1 s)
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    password_file.unlink()
    if result.returncode != 0:
        unavailable(f"initdb failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")


def _start(server: PostgresServer) -> None:
    # fsync off: a test server; the socket in its own folder (the system's may not exist)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} "
        f"-c unix_socket_directories={server.root} -c fsync=off"
    )
    result = server.pg_ctl(
        "-l", str(server.log), "-o", options, "-w", "-t", str(SERVER_START_SECONDS), "start"
    )
    if result.returncode != 0:
        log = server.log.read_text() if server.log.exists() else ""
        unavailable(f"pg_ctl start failed: {result.stdout}{result.stderr}{log[-3000:]}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, with an empty database for Dagster."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    # tempfile, not tmp_path: pytest's folders are private to root, the server's user must
    # own this one
    root = Path(tempfile.mkdtemp(prefix="warehouse-pg-"))
    server = PostgresServer(bin_dir, root, closed_port(), _owner_prefix(root))
    try:
        _initdb(server)
        _start(server)
        connection = server.connect("postgres")
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        connection.cursor().execute(f"CREATE DATABASE {PG_DB}")
        connection.close()
        yield server
    finally:
        server.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def query(server: PostgresServer, sql: str, *params: object) -> list[tuple]:
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# `warehouse run` on the PostgreSQL instance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    home: Path
    state_dir: Path
    env: dict[str, str]
    output: str
    seconds: float


@pytest.fixture(scope="module")
def build(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Build:
    root = tmp_path_factory.mktemp("pg_build")
    generate(root / "raw", progress=None, **TINY)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALERT_", "DAGSTER_PG"))},
        **postgres.env(),
        "RAW_DIR": str(root / "raw"),
        "WAREHOUSE_STATE_DIR": str(root / "state"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DUCKDB_MEMORY_LIMIT": "2GB",
    }
    for key in ("WAREHOUSE_DB", "SERVING_DB"):
        env.pop(key, None)
    started = time.perf_counter()
    result = subprocess.run(
        [WAREHOUSE_CLI, "run", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return Build(root / "dagster_home", root / "state", env, result.stdout, seconds)


@pytest.fixture(scope="module")
def instance(build: Build) -> Iterator[DagsterInstance]:
    """The instance `warehouse run` used, loaded here from its DAGSTER_HOME (the same
    environment: DAGSTER_PG_*, state folder, no alert channel but the log)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [key for key in os.environ if key.startswith(("ALERT_", "DAGSTER_PG"))]:
            patch.delenv(name)
        for name in (*POSTGRES_ENV, "DAGSTER_STORAGE", "DAGSTER_HOME", "WAREHOUSE_STATE_DIR"):
            patch.setenv(name, build.env[name])
        with DagsterInstance.from_config(str(build.home)) as loaded:
            yield loaded


def test_the_cli_gives_a_new_home_the_postgres_template_and_writes_no_sqlite(build, instance):
    config = (build.home / "dagster.yaml").read_text()
    assert config == TEMPLATES["postgres"].read_text()
    assert PG_PASSWORD not in config  # the secret stays in the environment
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert instance.schedule_storage.__class__.__module__.startswith("dagster_postgres")
    # no run, event or schedule storage on this host: Dagster's SQLite files would be
    # history/runs.db, history/runs/*.db, storage/<run>/*.db, schedules/schedules.db
    assert sorted(build.home.rglob("*.db")) == []
    print(f"warehouse run on PostgreSQL: {build.seconds:.1f} s")


BUILD_JOBS = ("warehouse_refresh", "channel_review")  # the refresh runs, then the review's


def build_runs(instance: DagsterInstance) -> list:
    """The runs of the build (the recovery test below adds a run of its own)."""
    return [run for job in BUILD_JOBS for run in instance.get_runs(RunsFilter(job_name=job))]


def test_runs_are_stored_in_postgresql(postgres, build, instance):
    runs = build_runs(instance)
    assert runs, build.output
    assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    assert all(run.tags[RUN_HOST_TAG] == socket.gethostname() for run in runs)
    stored = query(
        postgres,
        "SELECT run_id, status FROM runs WHERE pipeline_name IN "
        f"({', '.join(repr(job) for job in BUILD_JOBS)})",
    )
    assert sorted(stored) == sorted((run.run_id, "SUCCESS") for run in runs)
    # the CLI printed each run's id as it finished
    assert all(f"(run {run.run_id})" in build.output for run in runs)


def test_materializations_and_check_evaluations_are_stored_in_postgresql(postgres, instance):
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    per_type = dict(
        query(
            postgres,
            "SELECT dagster_event_type, count(*) FROM event_logs "
            "WHERE dagster_event_type IS NOT NULL GROUP BY 1",
        )
    )
    runs = build_runs(instance)
    assert per_type[DagsterEventType.RUN_SUCCESS.value] == len(runs)
    assert per_type[DagsterEventType.STEP_SUCCESS.value] > 0

    # every asset of the graph (raw feeds, staging, intermediate, marts, the publish), read
    # back through Dagster's asset index, and as many materialization events
    materialized = {
        key
        for key in graph.materializable_asset_keys
        if instance.get_latest_materialization_event(key) is not None
    }
    assert materialized == set(graph.materializable_asset_keys)
    assert per_type[DagsterEventType.ASSET_MATERIALIZATION.value] >= len(materialized)
    reference = instance.fetch_materializations(AssetKey(["raw", "products"]), limit=10).records
    assert reference
    assert {record.run_id for record in reference} <= {run.run_id for run in runs}

    # every check of the graph (dbt tests, GX suites) evaluated: the events, and Dagster's
    # check history (asset_check_executions) with one outcome per evaluation. (A partitioned
    # check's planned row per month stays PLANNED next to its evaluation: Dagster's bookkeeping.)
    evaluations = instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION)
    )
    assert len(evaluations) == per_type[DagsterEventType.ASSET_CHECK_EVALUATION.value]
    evaluated = {
        record.event_log_entry.dagster_event.event_specific_data.asset_check_key
        for record in evaluations
    }
    assert evaluated == set(graph.asset_check_keys)
    outcomes = dict(
        query(
            postgres,
            "SELECT execution_status, count(*) FROM asset_check_executions "
            "WHERE execution_status IN ('SUCCEEDED', 'FAILED') GROUP BY 1",
        )
    )
    assert sum(outcomes.values()) == len(evaluations)
    products_suite = next(key for key in graph.asset_check_keys if key.name == "gx_raw_products")
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([products_suite])
    assert latest[products_suite].status.value == "SUCCEEDED"


@op
def nothing() -> None:
    pass


@job
def stored_job() -> None:
    nothing()


def test_run_recovery_and_alert_sensors_read_the_postgresql_instance(build, instance):
    """A run left STARTED by a process that died is found, failed and alerted through the
    PostgreSQL storage, by the CLI's recovery and by the daemon's sensors; the sensors that
    read check evaluations and run failures work on it too."""
    gone = subprocess.Popen(["true"])  # a process of this host that existed and is gone
    gone.wait()
    tags = {**process_tags(), RUN_PID_TAG: str(gone.pid)}
    tags.pop(RUN_PROCESS_STARTED_TAG, None)
    run_id = instance.create_run_for_job(
        stored_job, tags=tags, status=DagsterRunStatus.STARTED
    ).run_id

    handled = recover_runs(instance, AlertNotifier())
    assert [run.run_id for run, _ in handled] == [run_id]
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
    alerted = [r for r in read_log(build.state_dir) if r["event"] == "alert"]
    assert [r["run_id"] for r in alerted] == [run_id]

    context = build_sensor_context(
        instance=instance, repository_name="__repository__", resources={"alerts": AlertNotifier()}
    )
    dead_run_sensor.evaluate_tick(context)
    run_failure_alert_sensor.evaluate_tick(context)
    asset_check_alert_sensor.evaluate_tick(context)
    # once: neither sensor alerts the run again
    alerted = [r for r in read_log(build.state_dir) if r["event"] == "alert"]
    assert [r["run_id"] for r in alerted] == [run_id]


# --------------------------------------------------------------------------------------------
# choosing the storage (no server needed)
# --------------------------------------------------------------------------------------------


def test_missing_postgres_variables_are_named_before_any_work(tmp_path, monkeypatch):
    for name in POSTGRES_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_STORAGE", "postgres")
    monkeypatch.setenv("DAGSTER_PG_HOST", "db.internal")
    monkeypatch.setenv("DAGSTER_PG_PORT", "")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with pytest.raises(SettingsError) as error:
        prepare_dagster_home()
    assert "DAGSTER_PG_PORT, DAGSTER_PG_USER, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB" in str(
        error.value
    )
    assert not (tmp_path / "home" / "dagster.yaml").exists()

    monkeypatch.setenv("DAGSTER_STORAGE", "mysql")
    with pytest.raises(SettingsError, match="DAGSTER_STORAGE must be one of"):
        prepare_dagster_home()


def test_a_sqlite_home_is_refused_when_postgres_is_asked_for(tmp_path):
    """DAGSTER_STORAGE=postgres with a home that already has the SQLite dagster.yaml: the CLI
    exits 2 and says so, instead of recording the runs in SQLite files on this host."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(TEMPLATES["sqlite"], home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_STORAGE": "postgres",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(closed_port()),
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_HOME": str(home),
        "WAREHOUSE_STATE_DIR": str(tmp_path / "state"),
        "RAW_DIR": str(tmp_path / "raw"),
    }
    result = subprocess.run(
        [WAREHOUSE_CLI, "run", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "does not store on PostgreSQL" in result.stderr
    assert not (tmp_path / "raw").exists()  # refused before generating any data
