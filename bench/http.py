"""A keep-alive HTTP client for timing API requests one after another."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit


class Client:
    """One persistent connection; ``get`` returns (status, body, seconds)."""

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            self.connection.request(method, path)
            response = self.connection.getresponse()
            body = response.read()
        except (http.client.HTTPException, OSError):
            # A dropped keep-alive connection: reconnect once, and time the retry.
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            self.connection.request(method, path)
            response = self.connection.getresponse()
            body = response.read()
        return response.status, body, time.perf_counter() - started

    def get(self, path: str) -> tuple[int, bytes, float]:
        return self.request("GET", path)

    def json(self, path: str, method: str = "GET") -> Any:
        status, body, _ = self.request(method, path)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.connection.close()
