"""Incident state for alert de-duplication, in a small SQLite file under the state folder.

An incident is identified by (kind, subject, partition, name), for example
("check", "marts/channel_performance", "2024-03-05", "no_negative_revenue") or
("feed", "store_pos", "2024-03-05", "freshness"). It is open or closed:

- a failing observation of a closed (or unknown) incident opens it: alert once;
- further failing observations of an open incident change nothing: no alert storm;
- a passing observation of an open incident closes it: one recovery message;
- a passing observation of a closed incident changes nothing.

The state lives in a file (not only in a sensor cursor), so a daemon restart or a reset
cursor does not alert again, and several sensors can share it. Observations older than the
last one recorded for a key are ignored, so a late-processed old result cannot reopen a
recovered incident. Transitions are atomic (BEGIN IMMEDIATE), safe across processes.

Sending is claimed: the observation that opens an incident may record who sends its alert
(`info["sending"]`, a process), cleared by `sent` once the alert went out. A claim left by a
process that died before sending (kill -9) shows in `unsent`, and another process may take it
over with `take_over`, so an alert is not lost with the process that was to send it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    incident_key   TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    subject        TEXT NOT NULL,
    partition      TEXT NOT NULL,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at      REAL,
    closed_at      REAL,
    last_seen_at   REAL NOT NULL,
    open_count     INTEGER NOT NULL DEFAULT 0,
    run_id         TEXT,
    info           TEXT
);
CREATE INDEX IF NOT EXISTS incidents_kind_status ON incidents (kind, status);
"""


# info key of an incident whose alert is being sent: who sends it
SENDING = "sending"


@dataclass(frozen=True)
class IncidentKey:
    kind: str
    subject: str
    partition: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.subject}[{self.partition or ''}]:{self.name}"


@dataclass(frozen=True)
class Incident:
    key: IncidentKey
    status: str
    opened_at: float | None
    closed_at: float | None
    last_seen_at: float
    open_count: int
    run_id: str | None
    info: dict[str, Any]


class Transition(Enum):
    OPENED = "opened"
    CLOSED = "closed"
    UNCHANGED = "unchanged"


class IncidentStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def observe(
        self,
        key: IncidentKey,
        failing: bool,
        at: float | None = None,
        run_id: str | None = None,
        info: dict[str, Any] | None = None,
    ) -> Transition:
        """Record one observation; return whether it opened or closed the incident."""
        at = time.time() if at is None else at
        info_json = json.dumps(info or {}, default=str, ensure_ascii=False)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT status, last_seen_at FROM incidents WHERE incident_key = ?",
                    (str(key),),
                ).fetchone()
                transition = Transition.UNCHANGED
                if row is None:
                    if failing:
                        conn.execute(
                            "INSERT INTO incidents (incident_key, kind, subject, partition, name,"
                            " status, opened_at, last_seen_at, open_count, run_id, info)"
                            " VALUES (?, ?, ?, ?, ?, 'open', ?, ?, 1, ?, ?)",
                            (
                                str(key),
                                key.kind,
                                key.subject,
                                key.partition or "",
                                key.name,
                                at,
                                at,
                                run_id,
                                info_json,
                            ),
                        )
                        transition = Transition.OPENED
                    # a passing observation of an unknown key needs no row
                else:
                    status, last_seen_at = row
                    if at < last_seen_at:
                        pass  # older than what we know: ignore
                    elif failing and status == "closed":
                        conn.execute(
                            "UPDATE incidents SET status = 'open', opened_at = ?, closed_at = NULL,"
                            " last_seen_at = ?, open_count = open_count + 1, run_id = ?, info = ?"
                            " WHERE incident_key = ?",
                            (at, at, run_id, info_json, str(key)),
                        )
                        transition = Transition.OPENED
                    elif not failing and status == "open":
                        conn.execute(
                            "UPDATE incidents SET status = 'closed', closed_at = ?,"
                            " last_seen_at = ? WHERE incident_key = ?",
                            (at, at, str(key)),
                        )
                        transition = Transition.CLOSED
                    else:
                        conn.execute(
                            "UPDATE incidents SET last_seen_at = ? WHERE incident_key = ?",
                            (at, str(key)),
                        )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return transition

    def _update_info(
        self, key: IncidentKey, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> bool:
        """Apply `change(info) -> new info or None (no change)` atomically; True if applied."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT info FROM incidents WHERE incident_key = ?", (str(key),)
                ).fetchone()
                new_info = change(json.loads(row[0]) if row and row[0] else {}) if row else None
                if new_info is not None:
                    conn.execute(
                        "UPDATE incidents SET info = ? WHERE incident_key = ?",
                        (json.dumps(new_info, default=str, ensure_ascii=False), str(key)),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return new_info is not None

    def sent(self, key: IncidentKey) -> None:
        """The alert of `key` went out (or was tried on every channel): clear its claim."""
        self._update_info(
            key,
            lambda info: (
                {k: v for k, v in info.items() if k != SENDING} if SENDING in info else None
            ),
        )

    def take_over(self, key: IncidentKey, claimant: Any, new_claimant: Any) -> bool:
        """Claim the sending of `key` from `claimant` (who did not send it); False if someone
        else took it over, or it was sent, meanwhile."""
        return self._update_info(
            key,
            lambda info: {**info, SENDING: new_claimant} if info.get(SENDING) == claimant else None,
        )

    def unsent(self, kind: str | None = None) -> list[Incident]:
        """Open incidents whose alert was claimed but not sent (the claim is in info)."""
        return [i for i in self.open_incidents(kind) if SENDING in i.info]

    def get(self, key: IncidentKey) -> Incident | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT kind, subject, partition, name, status, opened_at, closed_at,"
                " last_seen_at, open_count, run_id, info FROM incidents WHERE incident_key = ?",
                (str(key),),
            ).fetchone()
        return _incident(row) if row else None

    def open_incidents(self, kind: str | None = None) -> list[Incident]:
        query = (
            "SELECT kind, subject, partition, name, status, opened_at, closed_at, last_seen_at,"
            " open_count, run_id, info FROM incidents WHERE status = 'open'"
        )
        params: tuple[Any, ...] = ()
        if kind:
            query += " AND kind = ?"
            params = (kind,)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY opened_at", params).fetchall()
        return [_incident(row) for row in rows]


def _incident(row: tuple[Any, ...]) -> Incident:
    kind, subject, partition, name, status, opened_at, closed_at, last_seen, count, run_id, info = (
        row
    )
    return Incident(
        key=IncidentKey(kind, subject, partition or None, name),
        status=status,
        opened_at=opened_at,
        closed_at=closed_at,
        last_seen_at=last_seen,
        open_count=count,
        run_id=run_id,
        info=json.loads(info) if info else {},
    )
