"""What the HTTP side is given to work with: the store, the settings and the servers' status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app

from catcher.checks import Reports
from catcher.faults import Faults
from catcher.preview import PartTokens
from catcher.sessions import SessionLog
from catcher.settings import Settings
from catcher.store import MessageStore

__all__ = ["AppState", "ServerStatus", "app_state"]

EXTENSION = "catcher"


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """The servers around the app at one moment, for /api/health and /api/stats."""

    smtp_up: bool
    http_up: bool
    smtp_accepted: int
    smtp_rejected: int
    smtp_connections: int
    smtp_sessions: int
    smtp_refused: int
    http_connections: int
    http_parked: int
    smtp_address: str | None
    event_loop: str
    uptime: float
    version: str


@dataclass(frozen=True, slots=True)
class AppState:
    """The live objects one app serves, kept on ``app.extensions["catcher"]``."""

    store: MessageStore
    settings: Settings
    status: Callable[[], ServerStatus]
    tokens: PartTokens
    faults: Faults = field(default_factory=Faults)
    sessions: SessionLog = field(default_factory=SessionLog)
    reports: Reports = field(default_factory=Reports)

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def app_state() -> AppState:
    """The state of the app handling the current request."""
    state: AppState = current_app.extensions[EXTENSION]
    return state
