"""The durable outbox: every finished observation waits here until the server has acknowledged it.

An item is written (and fsynced by SQLite) before any upload starts, and moves through
``observation`` → ``image`` → ``done`` only after the server's answer. A crash at any point leaves it in a state
from which the next flush simply repeats the last step; the client-chosen ``observation_id`` makes a repeated
POST a no-op on the server, so nothing is lost and nothing is duplicated.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsclient.api import ApiError, ServerClient

log = logging.getLogger(__name__)

PENDING_OBSERVATION = "observation"
PENDING_IMAGE = "image"
DONE = "done"
REJECTED = "rejected"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    observation_id  TEXT PRIMARY KEY,
    body            TEXT NOT NULL,
    image_path      TEXT,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    uploaded_at     REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
"""


def backoff_sec(attempts: int, *, base_sec: float, max_sec: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about base·2^(n-1), capped, drawn from its upper quarter so sites that
    lost the server together do not all come back in the same second."""
    if attempts <= 0:
        return 0.0
    ceiling = min(max_sec, base_sec * 2 ** min(attempts - 1, 32))
    return ceiling * (0.75 + 0.25 * (rng or random).random())


@dataclass(frozen=True)
class OutboxItem:
    observation_id: str
    body: dict[str, Any]
    image_path: Path | None
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    uploaded_at: float | None


@dataclass
class FlushReport:
    observations_sent: int = 0
    images_sent: int = 0
    deferred: int = 0
    rejected: int = 0
    server_unreachable: bool = False


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        backoff_base_sec: float = 10,
        backoff_max_sec: float = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.backoff_base_sec = backoff_base_sec
        self.backoff_max_sec = backoff_max_sec
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a power cut right after add() must not lose the row.
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, body: dict[str, Any], image_path: Path | None) -> None:
        """Queue one observation (its FITS file already on disk). Adding the same id twice keeps the first."""
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (observation_id, body, image_path, state, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                body["observation_id"],
                json.dumps(body, sort_keys=True),
                str(image_path) if image_path else None,
                PENDING_OBSERVATION,
                self.clock(),
            ),
        )

    def items(self, *, states: tuple[str, ...] | None = None) -> list[OutboxItem]:
        query = "SELECT * FROM outbox"
        args: tuple[Any, ...] = ()
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            args = states
        rows = self.db.execute(query + " ORDER BY created_at, observation_id", args).fetchall()
        return [_item(row) for row in rows]

    def get(self, observation_id: str) -> OutboxItem | None:
        row = self.db.execute("SELECT * FROM outbox WHERE observation_id = ?", (observation_id,)).fetchone()
        return _item(row) if row else None

    def depth(self) -> int:
        (count,) = self.db.execute(
            "SELECT COUNT(*) FROM outbox WHERE state IN (?, ?)", (PENDING_OBSERVATION, PENDING_IMAGE)
        ).fetchone()
        return int(count)

    def summary(self) -> dict[str, Any]:
        counts = dict(self.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
        (last_upload,) = self.db.execute("SELECT MAX(uploaded_at) FROM outbox").fetchone()
        (oldest,) = self.db.execute(
            "SELECT MIN(created_at) FROM outbox WHERE state IN (?, ?)", (PENDING_OBSERVATION, PENDING_IMAGE)
        ).fetchone()
        last_error = self.db.execute(
            "SELECT last_error FROM outbox WHERE last_error IS NOT NULL AND state != ? "
            "ORDER BY next_attempt_at DESC LIMIT 1",
            (DONE,),
        ).fetchone()
        return {
            "pending": self.depth(),
            "done": counts.get(DONE, 0),
            "rejected": counts.get(REJECTED, 0),
            "last_upload_at": last_upload,
            "oldest_pending_at": oldest,
            "last_error": last_error[0] if last_error else None,
        }

    def flush(self, client: ServerClient, *, compress: bool = True, limit: int | None = None) -> FlushReport:
        """Send every item that is due. Stops early when the server cannot be reached at all."""
        report = FlushReport()
        due = self.db.execute(
            "SELECT * FROM outbox WHERE state IN (?, ?) AND next_attempt_at <= ? ORDER BY created_at, observation_id",
            (PENDING_OBSERVATION, PENDING_IMAGE, self.clock()),
        ).fetchall()
        for row in due[:limit]:
            item = _item(row)
            try:
                if item.state == PENDING_OBSERVATION:
                    client.observation_submit(item.body)
                    report.observations_sent += 1
                    next_state = PENDING_IMAGE if item.image_path else DONE
                    self._advance(item.observation_id, next_state)
                    item = _item(
                        self.db.execute(
                            "SELECT * FROM outbox WHERE observation_id = ?", (item.observation_id,)
                        ).fetchone()
                    )
                if item.state == PENDING_IMAGE and item.image_path is not None:
                    if not item.image_path.exists():
                        self._reject(item.observation_id, f"the frame {item.image_path} is missing from disk")
                        report.rejected += 1
                        continue
                    client.image_upload(item.observation_id, item.image_path, compress=compress)
                    report.images_sent += 1
                    self._advance(item.observation_id, DONE)
            except ApiError as exc:
                if exc.retryable:
                    self._defer(item, exc)
                    report.deferred += 1
                    if exc.status is None:
                        report.server_unreachable = True
                        log.warning("server unreachable, %d item(s) stay in the outbox: %s", self.depth(), exc)
                        break
                else:
                    # 400/404/409/413/415: sending it again cannot help; keep it for a human to look at.
                    log.error("server refused %s: %s", item.observation_id, exc)
                    self._reject(item.observation_id, str(exc))
                    report.rejected += 1
        return report

    def _advance(self, observation_id: str, state: str) -> None:
        uploaded_at = self.clock() if state == DONE else None
        self.db.execute(
            "UPDATE outbox SET state = ?, attempts = 0, next_attempt_at = 0, last_error = NULL, "
            "uploaded_at = COALESCE(?, uploaded_at) WHERE observation_id = ?",
            (state, uploaded_at, observation_id),
        )

    def _defer(self, item: OutboxItem, exc: ApiError) -> None:
        attempts = item.attempts + 1
        delay = backoff_sec(attempts, base_sec=self.backoff_base_sec, max_sec=self.backoff_max_sec)
        if exc.retry_after_sec is not None:
            delay = max(delay, exc.retry_after_sec)
        self.db.execute(
            "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE observation_id = ?",
            (attempts, self.clock() + delay, str(exc)[:1000], item.observation_id),
        )

    def _reject(self, observation_id: str, reason: str) -> None:
        self.db.execute(
            "UPDATE outbox SET state = ?, last_error = ? WHERE observation_id = ?",
            (REJECTED, reason[:1000], observation_id),
        )

    def retry_rejected(self) -> int:
        """Put refused items back in the queue (after the cause was fixed, e.g. on the server)."""
        cursor = self.db.execute(
            "UPDATE outbox SET state = ?, attempts = 0, next_attempt_at = 0 WHERE state = ?",
            (PENDING_OBSERVATION, REJECTED),
        )
        return cursor.rowcount


def _item(row: tuple[Any, ...]) -> OutboxItem:
    return OutboxItem(
        observation_id=row[0],
        body=json.loads(row[1]),
        image_path=Path(row[2]) if row[2] else None,
        state=row[3],
        attempts=row[4],
        next_attempt_at=row[5],
        last_error=row[6],
        created_at=row[7],
        uploaded_at=row[8],
    )
