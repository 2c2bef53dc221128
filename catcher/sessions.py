"""The last SMTP conversations, kept to answer "why did my app's mail not arrive?".

Each session keeps the commands the client sent and the replies it got (never the DATA
bytes, and AUTH's credentials masked), which fault rules fired, and the ids of the
messages it delivered. Bounded: the newest ``MAX_SESSIONS`` sessions, ``MAX_LINES``
lines each, every line cut at ``MAX_LINE``.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Session", "SessionLog"]

MAX_SESSIONS = 200
# A session keeps its first lines and its last ones (where a failure usually is).
HEAD_LINES = 50
TAIL_LINES = 150
MAX_LINE = 512
# Ids of the messages a session stored and rules that fired in it, kept at most.
MAX_IDS = 1000


@dataclass(slots=True)
class Session:
    """One SMTP connection, as the log keeps it."""

    id: int
    client: str
    started: datetime
    ended: datetime | None = None
    login: str | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # ("C" or "S", text)
    tail: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    dropped: int = 0  # lines between the head and the tail, not kept
    faults: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    stored: int = 0  # messages in all

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "started": _iso(self.started),
            "ended": _iso(self.ended) if self.ended else None,
            "login": self.login,
            "transcript": [
                {"from": "client" if d == "C" else "server", "line": t}
                for d, t in [*self.lines, *self.tail]
            ],
            "lines_dropped": self.dropped,
            "faults": self.faults,
            "messages": self.messages,
            "messages_stored": self.stored,
        }

    def copy(self) -> Session:
        return Session(
            self.id, self.client, self.started, self.ended, self.login, list(self.lines),
            deque(self.tail, maxlen=TAIL_LINES), self.dropped, list(self.faults),
            list(self.messages), self.stored,
        )  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SessionLog:
    """The newest sessions; written from the SMTP thread, read from HTTP workers."""

    def __init__(self, size: int = MAX_SESSIONS) -> None:
        self._sessions: deque[Session] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def open(self, client: str) -> Session:
        session = Session(next(self._ids), client, datetime.now(UTC))
        with self._lock:
            self._sessions.append(session)
        return session

    def line(self, session: Session, direction: str, text: str) -> None:
        with self._lock:
            if len(session.lines) < HEAD_LINES:
                session.lines.append((direction, text[:MAX_LINE]))
                return
            if len(session.tail) == TAIL_LINES:
                session.dropped += 1
            session.tail.append((direction, text[:MAX_LINE]))

    def login(self, session: Session, user: str) -> None:
        with self._lock:
            session.login = user

    def fault(self, session: Session, rule_id: int) -> None:
        with self._lock:
            if len(session.faults) < MAX_IDS:
                session.faults.append(rule_id)

    def stored(self, session: Session, message_id: int) -> None:
        with self._lock:
            session.stored += 1
            if len(session.messages) < MAX_IDS:
                session.messages.append(message_id)

    def close(self, session: Session) -> None:
        with self._lock:
            session.ended = datetime.now(UTC)

    def sessions(self, limit: int = MAX_SESSIONS) -> list[dict[str, Any]]:
        """The newest sessions first."""
        with self._lock:
            newest = [s.copy() for s in itertools.islice(reversed(self._sessions), limit)]
        return [s.as_json() for s in newest]

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
