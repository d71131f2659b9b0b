"""Alert delivery: one `Alert`, several channels, bounded retries, never an exception.

Channels (each enabled by its environment variables; secrets are read from the environment
only, at send time, and never written to the alert log or to Dagster config):

- log file, always: JSON lines in `settings.alert_log` (`$WAREHOUSE_STATE_DIR/alerts.log`)
  or `ALERT_LOG_PATH`;
- Slack, when `ALERT_SLACK_WEBHOOK_URL` is set: incoming-webhook payload (`text` + `blocks`);
- any JSON webhook, when `ALERT_WEBHOOK_URL` is set (`ALERT_WEBHOOK_BEARER_TOKEN` optional);
- e-mail, when `ALERT_SMTP_HOST` and `ALERT_EMAIL_TO` (comma separated) are set:
  `ALERT_SMTP_PORT` (25, or 465 with SSL), `ALERT_SMTP_USER`, `ALERT_SMTP_PASSWORD`,
  `ALERT_SMTP_STARTTLS` / `ALERT_SMTP_SSL` (true/false), `ALERT_EMAIL_FROM`.

Retries: `ALERT_MAX_ATTEMPTS` (default 3) attempts per channel, exponential backoff from
`ALERT_BACKOFF_SECONDS` (0.5 s, capped at 5 s), the whole channel bounded by
`ALERT_DELIVERY_BUDGET_SECONDS` (30 s); each network call has `ALERT_TIMEOUT_SECONDS` (5 s).
A channel that still fails is logged (alert log + Python logging) and reported in the
returned `DeliveryResult`s; `Notifier.send` never raises.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from dagster import ConfigurableResource

from orchestration.settings import load_settings

logger = logging.getLogger(__name__)

AlertKind = Literal["check_failed", "check_recovered", "run_failed", "feed_late", "feed_arrived"]
Severity = Literal["info", "warning", "error"]

_TITLE_PREFIX = {
    "check_failed": "FAILED",
    "check_recovered": "RECOVERED",
    "run_failed": "RUN FAILED",
    "feed_late": "FEED LATE",
    "feed_arrived": "FEED ARRIVED",
}

_TRUE = {"1", "true", "yes", "on"}


@dataclass
class Alert:
    """One message about one incident (opened or closed)."""

    kind: AlertKind
    title: str
    asset: str | None = None
    partition: str | None = None
    check: str | None = None
    failed_expectations: list[str] = field(default_factory=list)
    run_id: str | None = None
    run_url: str | None = None
    severity: Severity = "error"
    details: dict[str, Any] = field(default_factory=dict)
    incident_key: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    @property
    def subject(self) -> str:
        return f"[{_TITLE_PREFIX.get(self.kind, self.kind.upper())}] {self.title}"

    def text(self) -> str:
        """Plain-text rendering, used for e-mail bodies and as Slack's fallback text."""
        lines = [self.subject, ""]
        for label, value in (
            ("Asset", self.asset),
            ("Partition", self.partition),
            ("Check", self.check),
            ("Severity", self.severity),
            ("Run", self.run_id),
            ("Run URL", self.run_url),
        ):
            if value:
                lines.append(f"{label}: {value}")
        if self.failed_expectations:
            lines.append("Failed expectations:")
            lines.extend(f"  - {item}" for item in self.failed_expectations)
        if self.details:
            lines.append("Details:")
            for key, value in self.details.items():
                rendered = value if isinstance(value, str) else json.dumps(value, default=str)
                lines.append(f"  {key}: {_truncate(rendered, 1000)}")
        return "\n".join(lines)


@dataclass
class DeliveryResult:
    channel: str
    ok: bool
    attempts: int
    error: str | None = None


class DeliveryError(Exception):
    """A delivery attempt failed; `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


# --------------------------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------------------------


class Channel:
    name = "channel"

    def send(self, alert: Alert) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def identity(self) -> str:
        """Where this channel delivers (used as an in-memory key only, never logged)."""
        return self.name

    def redact(self, message: str) -> str:
        return message


class LogFileChannel(Channel):
    """Appends JSON lines to a local file; always on. Thread-safe within one process."""

    name = "log"
    _lock = threading.Lock()

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def write(self, record: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(_json_safe(dict(record)), ensure_ascii=False, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def send(self, alert: Alert) -> None:
        self.write({"event": "alert", **alert.to_dict()})


class _HttpJsonChannel(Channel):
    def __init__(self, url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None):
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def payload(self, alert: Alert) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert), ensure_ascii=False, default=str).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", **self.headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            retryable = exc.code >= 500 or exc.code in (408, 429)
            raise DeliveryError(f"HTTP {exc.code} {exc.reason}", retryable=retryable) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{type(exc).__name__}: {reason}", retryable=True) from None

    def identity(self) -> str:
        return self.url

    def redact(self, message: str) -> str:
        redacted = message.replace(self.url, "<redacted-url>")
        for value in self.headers.values():
            redacted = redacted.replace(value, "<redacted>")
        return redacted


class WebhookChannel(_HttpJsonChannel):
    """Any JSON webhook: POSTs the alert's fields plus a `text` rendering."""

    name = "webhook"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {**alert.to_dict(), "subject": alert.subject, "text": alert.text()}


class SlackChannel(_HttpJsonChannel):
    """Slack incoming webhook: `text` (fallback/notification) and Block Kit `blocks`."""

    name = "slack"

    def payload(self, alert: Alert) -> dict[str, Any]:
        fields = [
            (label, value)
            for label, value in (
                ("Asset", alert.asset),
                ("Partition", alert.partition),
                ("Check", alert.check),
                ("Severity", alert.severity),
            )
            if value
        ]
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _truncate(alert.subject, 150)},
            }
        ]
        if fields:
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": f"*{label}*\n`{_slack_escape(value)}`"}
                        for label, value in fields
                    ],
                }
            )
        if alert.failed_expectations:
            items = "\n".join(f"• {_slack_escape(x)}" for x in alert.failed_expectations[:20])
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": _truncate(f"*Failed expectations*\n{items}", 2900),
                    },
                }
            )
        if alert.details:
            detail_text = "\n".join(
                f"*{_slack_escape(k)}*: {_slack_escape(_truncate(str(v), 300))}"
                for k, v in alert.details.items()
            )
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": _truncate(detail_text, 2900)},
                }
            )
        if alert.run_url:
            run_label = alert.run_id or "run"
            blocks.append(
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": f"<{alert.run_url}|View run {run_label}> in Dagster",
                        }
                    ],
                }
            )
        return {"text": _truncate(alert.text(), 3000), "blocks": blocks}


class SmtpChannel(Channel):
    """E-mail over SMTP (optionally STARTTLS or implicit SSL, optionally AUTH)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 5.0,
    ):
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.user = user
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = _truncate(alert.subject, 200)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["X-Warehouse-Alert-Kind"] = alert.kind
        if alert.incident_key:
            message["X-Warehouse-Incident"] = _truncate(alert.incident_key, 200)
        message.set_content(alert.text())
        return message

    def send(self, alert: Alert) -> None:
        try:
            if self.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if self.starttls and not self.use_ssl:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.user and self.password:
                    client.login(self.user, self.password)
                client.send_message(self.message(alert))
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP authentication failed ({exc.smtp_code})", False) from None
        except smtplib.SMTPResponseException as exc:
            retryable = exc.smtp_code >= 400 and exc.smtp_code < 500
            raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=retryable) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None

    def identity(self) -> str:
        return f"{self.host}:{self.port}:{','.join(self.recipients)}"

    def redact(self, message: str) -> str:
        return message.replace(self.password, "<redacted>") if self.password else message


# --------------------------------------------------------------------------------------------
# Notifier
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 5.0
    budget_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.backoff_seconds * (2 ** (attempt - 1)), self.max_backoff_seconds)


class ChannelBreaker:
    """Remembers channels that just failed: for `cooldown_seconds` after a failure they get a
    single attempt instead of the full retry policy, so a dead endpoint cannot stretch a
    sensor tick past Dagster's sensor timeout (60 s by default) when many alerts go out."""

    def __init__(self, cooldown_seconds: float = 120.0):
        self.cooldown_seconds = cooldown_seconds
        self._failed_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_cooling(self, key: str) -> bool:
        with self._lock:
            failed_at = self._failed_at.get(key)
        return failed_at is not None and time.monotonic() - failed_at < self.cooldown_seconds

    def record(self, key: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failed_at.pop(key, None)
            else:
                self._failed_at[key] = time.monotonic()


# Shared by the notifiers the Dagster resource builds (one per code-server process).
SHARED_BREAKER = ChannelBreaker()


class Notifier:
    """Sends an alert to the log file and every configured channel; never raises."""

    def __init__(
        self,
        log: LogFileChannel,
        channels: Sequence[Channel] = (),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        breaker: ChannelBreaker | None = None,
    ):
        self.log = log
        self.channels = list(channels)
        self.retry = retry or RetryPolicy()
        self.breaker = breaker
        self._sleep = sleep

    @property
    def channel_names(self) -> list[str]:
        return [self.log.name, *(c.name for c in self.channels)]

    def send(self, alert: Alert) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        try:
            self.log.send(alert)
            results.append(DeliveryResult(self.log.name, True, 1))
        except Exception as exc:  # the log is local; still never crash the caller
            logger.exception("Could not append alert to %s", self.log.path)
            results.append(DeliveryResult(self.log.name, False, 1, f"{type(exc).__name__}: {exc}"))
        for channel in self.channels:
            result = self._deliver(channel, alert)
            results.append(result)
            if not result.ok:
                logger.error(
                    "Alert delivery to %s failed after %d attempt(s): %s",
                    result.channel,
                    result.attempts,
                    result.error,
                )
            self._log_delivery(alert, result)
        return results

    def _deliver(self, channel: Channel, alert: Alert) -> DeliveryResult:
        breaker_key = f"{channel.name}:{hash(channel.identity())}"
        cooling = self.breaker is not None and self.breaker.is_cooling(breaker_key)
        result = self._attempt(channel, alert, 1 if cooling else self.retry.max_attempts)
        if cooling and not result.ok:
            result.error = f"{result.error} (failed recently: one attempt only)"
        if self.breaker is not None:
            self.breaker.record(breaker_key, result.ok)
        return result

    def _attempt(self, channel: Channel, alert: Alert, max_attempts: int) -> DeliveryResult:
        policy = self.retry
        started = time.monotonic()
        attempt = 0
        error = "not attempted"
        max_attempts = max(1, max_attempts)
        while attempt < max_attempts:
            attempt += 1
            try:
                channel.send(alert)
                return DeliveryResult(channel.name, True, attempt)
            except DeliveryError as exc:
                error = channel.redact(str(exc))
                retryable = exc.retryable
            except Exception as exc:  # a bug in a channel must not stop the sensor
                error = channel.redact(f"{type(exc).__name__}: {exc}")
                retryable = True
            logger.warning(
                "Alert delivery to %s, attempt %d failed: %s", channel.name, attempt, error
            )
            if not retryable or attempt >= max_attempts:
                break
            delay = policy.delay(attempt)
            if time.monotonic() - started + delay > policy.budget_seconds:
                error += " (retry time budget exhausted)"
                break
            self._sleep(delay)
        return DeliveryResult(channel.name, False, attempt, error)

    def _log_delivery(self, alert: Alert, result: DeliveryResult) -> None:
        try:
            self.log.write(
                {
                    "event": "delivery",
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "incident_key": alert.incident_key,
                    "kind": alert.kind,
                    **asdict(result),
                }
            )
        except Exception:
            logger.exception("Could not append delivery result to %s", self.log.path)


def notifier_from_env(
    env: Mapping[str, str] | None = None,
    alert_log: Path | str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    breaker: ChannelBreaker | None = None,
) -> Notifier:
    """Build a notifier from environment variables (see the module docstring)."""
    env = os.environ if env is None else env

    def get(name: str, default: str = "") -> str:
        return (env.get(name) or default).strip()

    timeout = _float(get("ALERT_TIMEOUT_SECONDS"), 5.0)
    retry = RetryPolicy(
        max_attempts=max(1, _int(get("ALERT_MAX_ATTEMPTS"), 3)),
        backoff_seconds=max(0.0, _float(get("ALERT_BACKOFF_SECONDS"), 0.5)),
        max_backoff_seconds=max(0.0, _float(get("ALERT_MAX_BACKOFF_SECONDS"), 5.0)),
        budget_seconds=max(0.0, _float(get("ALERT_DELIVERY_BUDGET_SECONDS"), 30.0)),
    )
    log_path = alert_log or get("ALERT_LOG_PATH") or load_settings().alert_log
    channels: list[Channel] = []
    if slack_url := get("ALERT_SLACK_WEBHOOK_URL"):
        channels.append(SlackChannel(slack_url, timeout=timeout))
    if webhook_url := get("ALERT_WEBHOOK_URL"):
        token = get("ALERT_WEBHOOK_BEARER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        channels.append(WebhookChannel(webhook_url, timeout=timeout, headers=headers))
    smtp_host, recipients = get("ALERT_SMTP_HOST"), get("ALERT_EMAIL_TO")
    if smtp_host and recipients:
        use_ssl = get("ALERT_SMTP_SSL").lower() in _TRUE
        channels.append(
            SmtpChannel(
                host=smtp_host,
                port=_int(get("ALERT_SMTP_PORT"), 465 if use_ssl else 25),
                sender=get("ALERT_EMAIL_FROM", "warehouse-alerts@localhost"),
                recipients=[r.strip() for r in recipients.split(",") if r.strip()],
                user=get("ALERT_SMTP_USER") or None,
                password=env.get("ALERT_SMTP_PASSWORD") or None,
                starttls=get("ALERT_SMTP_STARTTLS").lower() in _TRUE,
                use_ssl=use_ssl,
                timeout=timeout,
            )
        )
    elif smtp_host or recipients:
        logger.warning("E-mail alerts need both ALERT_SMTP_HOST and ALERT_EMAIL_TO; e-mail is off")
    return Notifier(LogFileChannel(log_path), channels, retry, sleep=sleep, breaker=breaker)


class AlertNotifier(ConfigurableResource):
    """Dagster resource for the alert sensors (resource key: `alerts`).

    Holds no secrets: channel URLs and passwords are read from the environment when an alert
    is sent. Empty fields fall back to settings (`WAREHOUSE_STATE_DIR`, `DAGSTER_UI_URL`).
    """

    alert_log: str = ""
    state_db: str = ""
    dagster_ui_url: str = ""

    def notifier(self) -> Notifier:
        return notifier_from_env(alert_log=self.alert_log or None, breaker=SHARED_BREAKER)

    def send(self, alert: Alert) -> list[DeliveryResult]:
        try:
            return self.notifier().send(alert)
        except Exception as exc:  # building channels from a broken env must not crash a sensor
            logger.exception("Could not build the alert notifier")
            return [DeliveryResult("notifier", False, 0, f"{type(exc).__name__}: {exc}")]

    def state_db_path(self) -> Path:
        return (
            Path(self.state_db)
            if self.state_db
            else load_settings().state_dir / "alert_state.sqlite"
        )

    def ui_url(self) -> str:
        return (self.dagster_ui_url or load_settings().dagster_ui_url).rstrip("/")

    def run_url(self, run_id: str | None) -> str | None:
        return f"{self.ui_url()}/runs/{run_id}" if run_id else None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _int(value: str, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        logger.warning("Not an integer: %r; using %s", value, default)
        return default


def _float(value: str, default: float) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        logger.warning("Not a number: %r; using %s", value, default)
        return default
