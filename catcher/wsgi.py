"""WSGI for the HTTP front: the environ of a request read on the loop, and one call of the app."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from catcher.parked import ENVIRON_KEY, AsyncBody

__all__ = ["Result", "WSGIApp", "call_app", "environ_for"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ_for(
    method: str,
    target: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    server: tuple[str, int],
    client: tuple[str, int] | None,
    http_version: str,
    changes: object,
) -> dict[str, Any]:
    """The WSGI environ; the path is taken as sent, so ``//view`` reaches the app."""
    if target[:1] != b"/" and b"://" in target[:10]:  # absolute form: drop scheme://authority
        rest = target.split(b"://", 1)[1]
        target = b"/" + rest.split(b"/", 1)[1] if b"/" in rest else b"/"
    path, _, query = target.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "REQUEST_URI": target.decode("latin-1"),
        "RAW_URI": target.decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{http_version}",
        "REMOTE_ADDR": client[0] if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        ENVIRON_KEY: changes,
    }
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").upper()
        if "_" in name:
            continue  # X_Forwarded must not pose as X-Forwarded (as gunicorn and cheroot do)
        value = raw_value.decode("latin-1")
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
        elif name == "CONTENT-LENGTH":
            continue
        else:
            key = "HTTP_" + name.replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


@dataclass
class Result:
    """What the app answered: a whole body, a sync stream, or an ``AsyncBody``."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    async_body: AsyncBody | None = None
    close: Callable[[], None] = field(default=lambda: None)


def call_app(app: WSGIApp, environ: dict[str, Any]) -> Result:
    """Call the app (in a worker thread); buffer the body when its length is known."""
    head: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and head:
            raise exc_info[1].with_traceback(exc_info[2])
        head[:] = [status, headers]
        return written.append

    iterable = app(environ, start_response)
    code, _, reason = head[0].partition(" ")
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in head[1]]
    result = Result(int(code), reason.encode("latin-1"), headers)
    close = getattr(iterable, "close", None)
    if isinstance(iterable, AsyncBody):
        result.async_body = iterable
        return result
    sized = any(n.lower() == b"content-length" for n, _ in headers)
    if sized or environ["REQUEST_METHOD"] == "HEAD" or isinstance(iterable, (list, tuple)):
        try:
            result.body = b"".join(written) + b"".join(iterable)
        finally:
            if close is not None:
                close()
        return result
    # Unknown length: stream it, one chunk per worker call, each flushed as it comes.
    result.body = b"".join(written)
    result.stream = iter(iterable)
    if close is not None:
        result.close = close
    return result
