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
MAX_LINES = 200
MAX_LINE = 512


@dataclass(slots=True)
class Session:
    """One SMTP connection, as the log keeps it."""

    id: int
    client: str
    started: datetime
    ended: datetime | None = None
    login: str | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # ("C" or "S", text)
    dropped: int = 0  # lines past MAX_LINES
    faults: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "started": _iso(self.started),
            "ended": _iso(self.ended) if self.ended else None,
            "login": self.login,
            "transcript": [
                {"from": "client" if d == "C" else "server", "line": t} for d, t in self.lines
            ],
            "lines_dropped": self.dropped,
            "faults": list(self.faults),
            "messages": list(self.messages),
        }


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
            if len(session.lines) >= MAX_LINES:
                session.dropped += 1
                return
            session.lines.append((direction, text[:MAX_LINE]))

    def close(self, session: Session) -> None:
        with self._lock:
            session.ended = datetime.now(UTC)

    def sessions(self, limit: int = MAX_SESSIONS) -> list[dict[str, Any]]:
        """The newest sessions first."""
        with self._lock:
            newest = list(itertools.islice(reversed(self._sessions), limit))
            return [s.as_json() for s in newest]

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
