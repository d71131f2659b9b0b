"""Alerts end to end: real Dagster runs, real sensors, a real local HTTP and SMTP server.

No Dagster mocks: runs go through `dagster.materialize` on a persistent test instance
(`instance_for_test`, run-sharded SQLite like the default deployment), sensors are evaluated
with `evaluate_tick(build_sensor_context(...))` as the daemon would, and messages are
received by an `http.server` and a minimal stdlib SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socketserver
import threading
import time
from datetime import UTC, datetime
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import closed_port
from dagster import (
    AssetCheckResult,
    DailyPartitionsDefinition,
    asset,
    asset_check,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from orchestration.automation.alert_sensors import (
    FeedSpec,
    asset_check_alert_sensor,
    build_feed_freshness_sensor,
    failed_expectations_from_metadata,
    feed_deadline_from_env,
    run_failure_alert_sensor,
)
from orchestration.automation.alerts import (
    Alert,
    AlertNotifier,
    RetryPolicy,
    notifier_from_env,
)
from orchestration.automation.incidents import IncidentKey, IncidentStore, Transition

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret-smtp-password"
SLACK_TOKEN_PATH = "/services/T000/B000/slack-secret-token"
UI_URL = "http://dagster.example:3000"


# --------------------------------------------------------------------------------------------
# local servers
# --------------------------------------------------------------------------------------------


class HttpSink:
    """Records POSTed JSON by path; `/fail500` answers 500, `/notfound` 404, `/hang` answers
    after `hang_seconds` (a receiver that stalls)."""

    hang_seconds = 60.0

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.hits: dict[str, int] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                sink.hits[self.path] = sink.hits.get(self.path, 0) + 1
                if self.path == "/fail500":
                    self.send_response(500)
                    self.end_headers()
                    return
                if self.path == "/hang":
                    time.sleep(sink.hang_seconds)
                if self.path == "/notfound":
                    self.send_response(404)
                    self.end_headers()
                    return
                sink.requests.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def on(self, path: str) -> list[dict]:
        return [body for p, body in self.requests if p == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """A minimal SMTP server (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) that keeps messages."""

    def __init__(self, user: str, password: str):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, *lines: str) -> None:
                out = [f"{line[:3]}-{line[4:]}" for line in lines[:-1]] + [lines[-1]]
                self.wfile.write(("\r\n".join(out) + "\r\n").encode())

            def handle(self):
                self.reply("220 localhost test smtp")
                mail_from, rcpts, authed = "", [], False
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250 localhost", "250 AUTH PLAIN", "250 8BITMIME")
                    elif verb == "HELO":
                        self.reply("250 localhost")
                    elif verb == "AUTH":
                        parts = line.split()
                        if len(parts) < 3:
                            self.reply("334 ")
                            parts.append(self.rfile.readline().decode().strip())
                        _, user, password = base64.b64decode(parts[2]).decode().split("\0")
                        authed = (user, password) == (sink.user, sink.password)
                        self.reply("235 ok" if authed else "535 bad credentials")
                    elif verb == "MAIL":
                        if not authed:
                            self.reply("530 authentication required")
                            continue
                        mail_from, rcpts = line.split(":", 1)[1].split()[0].strip("<>"), []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = bytearray()
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b".\n", b""):
                                break
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        sink.envelopes.append((mail_from, rcpts))
                        sink.messages.append(
                            email.message_from_bytes(bytes(data), policy=email.policy.default)
                        )
                        self.reply("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.user, self.password = user, password
        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[str]:
        return [m.get_body(("plain",)).get_content() for m in self.messages]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_sink():
    with HttpSink() as sink:
        yield sink


@pytest.fixture
def smtp_sink():
    with SmtpSink(SMTP_USER, SMTP_PASSWORD) as sink:
        yield sink


@pytest.fixture
def alert_env(tmp_path, monkeypatch, http_sink, smtp_sink):
    """All channels pointed at the local servers; state and alert log under tmp_path."""
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("WAREHOUSE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DAGSTER_UI_URL", UI_URL)
    monkeypatch.setenv("ALERT_SLACK_WEBHOOK_URL", http_sink.url + "/slack" + SLACK_TOKEN_PATH)
    monkeypatch.setenv("ALERT_WEBHOOK_URL", http_sink.url + "/hook")
    monkeypatch.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALERT_SMTP_PORT", str(smtp_sink.port))
    monkeypatch.setenv("ALERT_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("ALERT_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("ALERT_SMTP_STARTTLS", "false")
    monkeypatch.setenv("ALERT_EMAIL_FROM", "warehouse@example.test")
    monkeypatch.setenv("ALERT_EMAIL_TO", "data-eng@example.test, oncall@example.test")
    monkeypatch.setenv("ALERT_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ALERT_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("ALERT_TIMEOUT_SECONDS", "2")
    return tmp_path / "state"


def slack_path() -> str:
    return "/slack" + SLACK_TOKEN_PATH


def read_log(state_dir: Path) -> list[dict]:
    path = state_dir / "alerts.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --------------------------------------------------------------------------------------------
# Dagster definitions whose check outcome the test flips
# --------------------------------------------------------------------------------------------

DAILY = DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-10")
STATE = {"bad_rows": 0, "asset_raises": False, "table_bad": False}


@asset(partitions_def=DAILY, key_prefix=["marts"])
def channel_performance(context) -> None:
    if STATE["asset_raises"]:
        raise RuntimeError("upstream file is corrupt: row 17 has no order_id")


@asset_check(asset=channel_performance, partitions_def=DAILY, description="revenue >= 0")
def revenue_not_negative(context) -> AssetCheckResult:
    bad = STATE["bad_rows"]
    return AssetCheckResult(
        passed=bad == 0,
        metadata={
            "failed_expectations": [
                {
                    "expectation_type": "expect_column_values_to_be_between",
                    "column": "net_revenue",
                    "unexpected_count": bad,
                }
            ]
            if bad
            else [],
            "rows_checked": 120,
        },
    )


@asset_check(asset=channel_performance, description="the whole table is consistent")
def table_consistent(context) -> AssetCheckResult:
    return AssetCheckResult(
        passed=not STATE["table_bad"],
        metadata={"failed_expectations": ["totals match"]} if STATE["table_bad"] else {},
    )


def run_pipeline(instance, partition: str = "2024-03-05", raise_on_error: bool = True):
    return materialize(
        [channel_performance, revenue_not_negative],
        instance=instance,
        partition_key=partition,
        raise_on_error=raise_on_error,
    )


def tick(sensor_def, instance, cursor: str | None):
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"alerts": AlertNotifier()}
    )
    return sensor_def.evaluate_tick(context)


@pytest.fixture
def instance():
    STATE.update(bad_rows=0, asset_raises=False, table_bad=False)
    with instance_for_test() as inst:
        yield inst


# --------------------------------------------------------------------------------------------
# asset check alerts
# --------------------------------------------------------------------------------------------


def test_failed_check_alerts_once_per_channel_then_one_recovery(
    alert_env, instance, http_sink, smtp_sink
):
    cursor = tick(asset_check_alert_sensor, instance, None).cursor  # first tick: start now
    before_failure = cursor

    # break the check: the run itself succeeds (a failed check does not fail a run)
    STATE["bad_rows"] = 3
    result = run_pipeline(instance)
    assert result.success
    run_id = result.run_id
    cursor = tick(asset_check_alert_sensor, instance, cursor).cursor

    slack, hook = http_sink.on(slack_path()), http_sink.on("/hook")
    assert len(slack) == 1 and len(hook) == 1 and len(smtp_sink.messages) == 1

    run_url = f"{UI_URL}/runs/{run_id}"
    expectation = "expect_column_values_to_be_between(net_revenue): unexpected_count=3"
    # generic webhook: structured fields
    assert hook[0]["kind"] == "check_failed"
    assert hook[0]["asset"] == "marts/channel_performance"
    assert hook[0]["partition"] == "2024-03-05"
    assert hook[0]["check"] == "revenue_not_negative"
    assert hook[0]["failed_expectations"] == [expectation]
    assert hook[0]["run_id"] == run_id and hook[0]["run_url"] == run_url
    # Slack: text + blocks naming the same things
    slack_dump = json.dumps(slack[0], ensure_ascii=False)
    assert {"text", "blocks"} <= set(slack[0])
    for needle in (
        "marts/channel_performance",
        "2024-03-05",
        "revenue_not_negative",
        run_url,
        "expect_column_values_to_be_between(net_revenue)",
    ):
        assert needle in slack_dump
    # e-mail: subject and body, both recipients
    mail = smtp_sink.messages[0]
    assert "revenue_not_negative" in mail["Subject"] and "FAILED" in mail["Subject"]
    assert smtp_sink.envelopes[0][1] == ["data-eng@example.test", "oncall@example.test"]
    body = smtp_sink.bodies()[0]
    for needle in (
        "marts/channel_performance",
        "2024-03-05",
        "revenue_not_negative",
        run_url,
        expectation,
    ):
        assert needle in body

    # still failing: no new alert, on the next run nor on a replay from an old cursor
    run_pipeline(instance)
    cursor = tick(asset_check_alert_sensor, instance, cursor).cursor
    tick(asset_check_alert_sensor, instance, before_failure)  # e.g. cursor lost after restart
    assert len(http_sink.on(slack_path())) == 1 and len(http_sink.on("/hook")) == 1
    assert len(smtp_sink.messages) == 1

    # a different partition failing is a different incident
    run_pipeline(instance, partition="2024-03-06")
    cursor = tick(asset_check_alert_sensor, instance, cursor).cursor
    assert [h["partition"] for h in http_sink.on("/hook")] == ["2024-03-05", "2024-03-06"]

    # fix: exactly one recovery per failing partition and channel
    STATE["bad_rows"] = 0
    fixed = run_pipeline(instance)
    cursor = tick(asset_check_alert_sensor, instance, cursor).cursor
    hook = http_sink.on("/hook")
    assert [h["kind"] for h in hook] == ["check_failed", "check_failed", "check_recovered"]
    assert hook[-1]["partition"] == "2024-03-05" and hook[-1]["run_id"] == fixed.run_id
    assert hook[-1]["check"] == "revenue_not_negative"
    assert len(http_sink.on(slack_path())) == 3 and len(smtp_sink.messages) == 3
    assert "RECOVERED" in smtp_sink.messages[-1]["Subject"]

    # passing again: nothing more
    run_pipeline(instance)
    tick(asset_check_alert_sensor, instance, cursor)
    assert len(http_sink.on("/hook")) == 3 and len(smtp_sink.messages) == 3

    # the local alert log has every alert, and no secret
    log = read_log(alert_env)
    assert [r["kind"] for r in log if r["event"] == "alert"] == [
        "check_failed",
        "check_failed",
        "check_recovered",
    ]
    assert all(r["ok"] for r in log if r["event"] == "delivery")
    raw_log = (alert_env / "alerts.log").read_text()
    assert SLACK_TOKEN_PATH not in raw_log and SMTP_PASSWORD not in raw_log


def test_failing_channels_are_retried_logged_and_never_crash_the_sensor(
    alert_env, instance, http_sink, smtp_sink, monkeypatch
):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", http_sink.url + "/fail500")
    monkeypatch.setenv("ALERT_SMTP_PORT", str(closed_port()))  # connection refused
    cursor = tick(asset_check_alert_sensor, instance, None).cursor

    STATE["bad_rows"] = 1
    run_pipeline(instance, partition="2024-03-05")
    run_pipeline(instance, partition="2024-03-06")
    started = time.monotonic()
    result = tick(asset_check_alert_sensor, instance, cursor)  # must not raise
    assert time.monotonic() - started < 10
    assert result.cursor != cursor  # the sensor moved on

    # first alert: ALERT_MAX_ATTEMPTS (3) attempts; second alert in the same cool-down: one
    assert http_sink.hits["/fail500"] == 3 + 1
    assert len(http_sink.on(slack_path())) == 2  # the healthy channel got both
    deliveries = [r for r in read_log(alert_env) if r["event"] == "delivery"]
    by_channel = {
        name: [(r["ok"], r["attempts"]) for r in deliveries if r["channel"] == name]
        for name in ("slack", "webhook", "email")
    }
    assert by_channel == {
        "slack": [(True, 1), (True, 1)],
        "webhook": [(False, 3), (False, 1)],
        "email": [(False, 3), (False, 1)],
    }
    webhook_errors = [r["error"] for r in deliveries if r["channel"] == "webhook"]
    assert all("500" in error for error in webhook_errors)
    assert [r["partition"] for r in read_log(alert_env) if r["event"] == "alert"] == [
        "2024-03-05",
        "2024-03-06",
    ]
    # still failing on the next tick: nothing is re-sent (no storm from retries either)
    run_pipeline(instance)
    tick(asset_check_alert_sensor, instance, result.cursor)
    assert http_sink.hits["/fail500"] == 4


def test_unpartitioned_check_on_partitioned_runs_is_one_incident(alert_env, instance, http_sink):
    assets = [channel_performance, table_consistent]
    cursor = tick(asset_check_alert_sensor, instance, None).cursor
    STATE["table_bad"] = True
    materialize(assets, instance=instance, partition_key="2024-03-05")
    materialize(assets, instance=instance, partition_key="2024-03-06")
    cursor = tick(asset_check_alert_sensor, instance, cursor).cursor
    STATE["table_bad"] = False
    materialize(assets, instance=instance, partition_key="2024-03-07")  # another partition
    tick(asset_check_alert_sensor, instance, cursor)
    hook = http_sink.on("/hook")
    assert [(h["kind"], h["partition"]) for h in hook] == [
        ("check_failed", None),
        ("check_recovered", None),
    ]
    assert hook[0]["details"]["run_partition"] == "2024-03-05"
    assert hook[0]["failed_expectations"] == ["totals match"]


# --------------------------------------------------------------------------------------------
# run failure alerts
# --------------------------------------------------------------------------------------------


def test_run_failure_alerts_once(alert_env, instance, http_sink, smtp_sink):
    cursor = tick(run_failure_alert_sensor, instance, None).cursor  # initialise
    STATE["asset_raises"] = True
    result = run_pipeline(instance, raise_on_error=False)
    assert not result.success

    cursor = tick(run_failure_alert_sensor, instance, cursor).cursor
    hook = http_sink.on("/hook")
    assert len(hook) == 1 and len(http_sink.on(slack_path())) == 1 and len(smtp_sink.messages) == 1
    assert hook[0]["kind"] == "run_failed"
    assert hook[0]["asset"] == "marts/channel_performance"
    assert hook[0]["partition"] == "2024-03-05"
    assert hook[0]["run_url"] == f"{UI_URL}/runs/{result.run_id}"
    assert "row 17 has no order_id" in json.dumps(hook[0]["details"])
    assert result.run_id in smtp_sink.bodies()[0]

    tick(run_failure_alert_sensor, instance, cursor)
    tick(run_failure_alert_sensor, instance, cursor)  # replaying the same run: still one alert
    assert len(http_sink.on("/hook")) == 1 and len(smtp_sink.messages) == 1


def test_run_failure_sensor_alerts_runs_without_a_code_location(alert_env, instance, http_sink):
    """In the daemon the sensor is evaluated in its code location (repository
    `__repository__`); a run executed in-process (`warehouse run`, `materialize`) has no code
    location. Dagster's run-status sensors skip such runs unless they monitor all locations."""

    def tick_in_location(cursor):
        context = build_sensor_context(
            instance=instance,
            cursor=cursor,
            repository_name="__repository__",
            resources={"alerts": AlertNotifier()},
        )
        return run_failure_alert_sensor.evaluate_tick(context)

    cursor = tick_in_location(None).cursor
    STATE["asset_raises"] = True
    result = run_pipeline(instance, raise_on_error=False)
    tick_in_location(cursor)
    hook = http_sink.on("/hook")
    assert [h["run_id"] for h in hook] == [result.run_id]
    assert "row 17 has no order_id" in hook[0]["details"]["cause"]


# --------------------------------------------------------------------------------------------
# feed freshness
# --------------------------------------------------------------------------------------------


def test_late_feed_alerts_once_per_feed_day_and_reports_arrival(
    alert_env, instance, tmp_path, http_sink, monkeypatch
):
    raw = tmp_path / "raw"
    (raw / "store").mkdir(parents=True)
    monkeypatch.delenv("FEED_DEADLINE", raising=False)
    feeds = [FeedSpec("store_pos", "store/pos_%Y%m%d.csv", "raw/store_pos_lines")]
    clock = {"now": datetime(2024, 3, 6, 5, 0, tzinfo=UTC)}  # 13:00 Shanghai
    (raw / "store" / "pos_20240305.csv").write_text("x\n")  # yesterday's file is there
    sensor_def = build_feed_freshness_sensor(feeds, raw_dir=raw, clock=lambda: clock["now"])

    tick(sensor_def, instance, None)
    assert http_sink.on("/hook") == []

    # 2024-03-07 05:00 Shanghai: before the 05:30 deadline, 2024-03-06 is not due yet
    clock["now"] = datetime(2024, 3, 6, 21, 0, tzinfo=UTC)
    tick(sensor_def, instance, None)
    assert http_sink.on("/hook") == []

    # 05:31 Shanghai: late
    clock["now"] = datetime(2024, 3, 6, 21, 31, tzinfo=UTC)
    tick(sensor_def, instance, None)
    tick(sensor_def, instance, None)
    hook = http_sink.on("/hook")
    assert len(hook) == 1 and hook[0]["kind"] == "feed_late"
    assert hook[0]["partition"] == "2024-03-06" and hook[0]["asset"] == "raw/store_pos_lines"
    assert "store/pos_20240306.csv" in hook[0]["failed_expectations"][0]

    # next day the file is still missing (out of the 1-day lookback, but the incident is open),
    # and the new day's file is late as well: one new alert only
    clock["now"] = datetime(2024, 3, 7, 22, 0, tzinfo=UTC)
    tick(sensor_def, instance, None)
    assert [h["partition"] for h in http_sink.on("/hook")] == ["2024-03-06", "2024-03-07"]

    # the late file arrives: one arrival message
    (raw / "store" / "pos_20240306.csv").write_text("x\n")
    tick(sensor_def, instance, None)
    tick(sensor_def, instance, None)
    kinds = [(h["kind"], h["partition"]) for h in http_sink.on("/hook")]
    assert kinds == [
        ("feed_late", "2024-03-06"),
        ("feed_late", "2024-03-07"),
        ("feed_arrived", "2024-03-06"),
    ]


def test_feed_deadline_from_env(monkeypatch):
    monkeypatch.setenv("FEED_DEADLINE", "07:15")
    assert feed_deadline_from_env() == dtime(7, 15)
    monkeypatch.setenv("FEED_DEADLINE", "25:99")
    assert feed_deadline_from_env() == dtime(5, 30)
    monkeypatch.delenv("FEED_DEADLINE")
    assert feed_deadline_from_env() == dtime(5, 30)


def test_feed_deadline_env_is_used_by_the_sensor(
    alert_env, instance, tmp_path, http_sink, monkeypatch
):
    raw = tmp_path / "raw"
    raw.mkdir()
    feeds = [FeedSpec("store_pos", "store/pos_%Y%m%d.csv")]
    now = datetime(2024, 3, 6, 22, 0, tzinfo=UTC)  # 06:00 Shanghai on 2024-03-07
    sensor_def = build_feed_freshness_sensor(feeds, raw_dir=raw, clock=lambda: now)
    monkeypatch.setenv("FEED_DEADLINE", "07:00")
    tick(sensor_def, instance, None)
    assert http_sink.on("/hook") == []
    monkeypatch.setenv("FEED_DEADLINE", "05:45")
    tick(sensor_def, instance, None)
    assert len(http_sink.on("/hook")) == 1


# --------------------------------------------------------------------------------------------
# notifier and incident store details
# --------------------------------------------------------------------------------------------


def _alert() -> Alert:
    return Alert(
        kind="check_failed",
        title="check x failed on a/b [2024-03-05]",
        asset="a/b",
        partition="2024-03-05",
        check="x",
        failed_expectations=["expect_column_values_to_not_be_null(order_id): unexpected_count=2"],
        run_id="abc",
        run_url=f"{UI_URL}/runs/abc",
        details={"note": "区域 华东 <b>"},
        incident_key="check:a/b[2024-03-05]:x",
    )


def test_connection_refused_and_4xx(tmp_path):
    port = closed_port()
    notifier = notifier_from_env(
        {
            "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook?token=hunter2",
            "ALERT_MAX_ATTEMPTS": "4",
            "ALERT_BACKOFF_SECONDS": "0.01",
        },
        alert_log=tmp_path / "alerts.log",
    )
    (log_result, webhook) = notifier.send(_alert())
    assert log_result.ok and not webhook.ok and webhook.attempts == 4
    assert "refused" in webhook.error.lower()
    assert "hunter2" not in (tmp_path / "alerts.log").read_text()


def test_client_errors_are_not_retried(tmp_path, http_sink, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    notifier = notifier_from_env(
        {"ALERT_WEBHOOK_URL": http_sink.url + "/notfound", "ALERT_BACKOFF_SECONDS": "0.01"},
        alert_log=tmp_path / "alerts.log",
    )
    _, webhook = notifier.send(_alert())
    assert not webhook.ok and webhook.attempts == 1 and http_sink.hits["/notfound"] == 1


def test_retries_are_bounded_in_time(tmp_path):
    notifier = notifier_from_env(
        {"ALERT_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}/"}, alert_log=tmp_path / "a.log"
    )
    notifier.retry = RetryPolicy(max_attempts=50, backoff_seconds=0.2, budget_seconds=0.5)
    started = time.monotonic()
    _, webhook = notifier.send(_alert())
    assert time.monotonic() - started < 2
    assert not webhook.ok and 1 < webhook.attempts < 50 and "budget" in webhook.error


def test_log_only_when_nothing_is_configured(tmp_path):
    notifier = notifier_from_env({}, alert_log=tmp_path / "alerts.log")
    assert notifier.channel_names == ["log"]
    results = notifier.send(_alert())
    assert [r.channel for r in results] == ["log"] and results[0].ok
    record = json.loads((tmp_path / "alerts.log").read_text())
    assert record["event"] == "alert" and record["details"]["note"] == "区域 华东 <b>"


def test_incident_store_survives_restart_and_ignores_stale_results(tmp_path):
    path = tmp_path / "state.sqlite"
    key = IncidentKey("check", "a/b", "2024-03-05", "x")
    assert IncidentStore(path).observe(key, failing=True, at=10) is Transition.OPENED
    store = IncidentStore(path)  # a new process
    assert store.observe(key, failing=True, at=11) is Transition.UNCHANGED
    assert store.observe(key, failing=False, at=12) is Transition.CLOSED
    assert store.observe(key, failing=True, at=11.5) is Transition.UNCHANGED  # stale
    assert store.observe(key, failing=False, at=13) is Transition.UNCHANGED
    assert store.observe(key, failing=True, at=14) is Transition.OPENED
    assert store.get(key).open_count == 2
    assert [i.key for i in store.open_incidents("check")] == [key]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["not null: order_id", "unique: order_id"], ["not null: order_id", "unique: order_id"]),
        ("a\n- b\n", ["a", "b"]),
        (
            '[{"expectation": "expect_table_row_count_to_be_between", "observed_value": 0}]',
            ["expect_table_row_count_to_be_between: observed_value=0"],
        ),
        ({"expectation_type": "e", "kwargs": {"column": "c"}}, ["e(c)"]),
    ],
)
def test_failed_expectations_from_metadata(value, expected):
    assert failed_expectations_from_metadata({"failed_expectations": value}) == expected


def test_failed_expectations_in_the_quality_checks_format():
    # the shape orchestration.quality.checks writes (ExpectationOutcome.to_dict, gx_errors)
    metadata = {
        "failed_expectations": [
            {
                "index": 2,
                "type": "expect_column_values_to_not_be_null",
                "column": "order_id",
                "severity": "error",
                "success": False,
                "unexpected_count": 2,
                "sample": ["r17", "r18"],
            }
        ],
        "gx_errors": ["#3 expect_column_to_exist(amount): could not run: no such column"],
        "summary": "| # | expectation | ... |",
    }
    assert failed_expectations_from_metadata(metadata, "1 could not run; 1 failed") == [
        'expect_column_values_to_not_be_null(order_id): unexpected_count=2, sample=["r17", "r18"]',
        "#3 expect_column_to_exist(amount): could not run: no such column",
    ]


def test_failed_expectations_fall_back_to_description():
    assert failed_expectations_from_metadata({"rows": 3}, "revenue >= 0") == ["revenue >= 0"]
    assert failed_expectations_from_metadata({}) == []
