"""The servers under test, each in its own process: catcher itself and the bare aiosmtpd sink."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SMTP = re.compile(r"^\s*SMTP\s+\[?([0-9a-fA-F:.]+?)\]?:(\d+)\s")
_HTTP = re.compile(r"^\s*HTTP\s+(http://\S+)")
_SINK = re.compile(r"^SINK\s+([0-9.]+):(\d+)\s+loop=(\w+)")


@dataclass
class Server:
    """A server process and where it listens."""

    name: str
    process: subprocess.Popen[str]
    smtp: tuple[str, int]
    url: str | None = None
    banner: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        """Resident memory of the server process in bytes (VmRSS)."""
        return _status_kb(self.pid, "VmRSS") * 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


# Where ``python -m catcher`` is run from: this checkout unless --catcher-root says otherwise.
CATCHER_ROOT = ROOT


def env(root: Path = ROOT) -> dict[str, str]:
    """The environment a server (or a helper process) runs in: ``root`` and the bench first
    on the import path."""
    values = dict(os.environ)
    paths = [str(root)] + ([str(ROOT)] if root != ROOT else [])
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, values.get("PYTHONPATH")]))
    values["PYTHONUNBUFFERED"] = "1"
    return values


def _read_banner(
    process: subprocess.Popen[str], done: re.Pattern[str], timeout: float
) -> list[str]:
    lines: list[str] = []
    found = threading.Event()

    def reader() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if done.search(line):
                found.set()
                break

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    if not found.wait(timeout):
        process.kill()
        stderr = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"server did not start: {lines!r} {stderr[-2000:]}")
    return lines


def start_catcher(
    loop: str, *extra: str, root: Path | None = None, name: str = "catcher"
) -> Server:
    """``python -m catcher`` on free ports with no caps, on the given SMTP event loop.

    ``root`` runs the catcher package found there instead (a patched copy, for before/after).
    """
    root = root or CATCHER_ROOT
    command = [
        sys.executable, "-m", "catcher",
        "--smtp-port", "0", "--http-port", "0",
        "--max-messages", "0", "--max-bytes", "0",
        "--event-loop", loop, *extra,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=root, env=env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = _read_banner(process, _HTTP, 30)
    smtp = next(m for m in map(_SMTP.match, lines) if m)
    url = next(m for m in map(_HTTP.match, lines) if m)
    _drain(process)
    return Server(
        f"{name}-{loop}", process, (smtp.group(1), int(smtp.group(2))), url.group(1), lines
    )


def start_sink(loop: str, parse: bool = False, wide: bool = False) -> Server:
    """The bare aiosmtpd sink (``bench/sink.py``) on the given loop."""
    command = [sys.executable, "-m", "bench.sink", "--event-loop", loop]
    if parse:
        command.append("--parse")
    if wide:
        command.append("--wide")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = _read_banner(process, _SINK, 30)
    found = next(m for m in map(_SINK.match, lines) if m)
    _drain(process)
    name = f"sink{'-parse' if parse else ''}{'-wide' if wide else ''}-{loop}"
    return Server(name, process, (found.group(1), int(found.group(2))), None, lines)


def _drain(process: subprocess.Popen[str]) -> None:
    """Keep reading the server's output so a full pipe never blocks it."""
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()


def settle(server: Server, seconds: float = 0.3) -> None:
    """Give the server a moment (garbage collection, thread start-up) before reading RSS."""
    time.sleep(seconds)
