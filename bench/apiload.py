"""An API client in its own process: list and get back to back, and a search every second.

``python -m bench.apiload URL``: one keep-alive connection does ``GET
/api/messages?limit=50``, then ``GET /api/messages/{id}`` of one of the messages that list
showed (the newest first, then the next, round and round), again and again; once a
second it does a free-text search for a rare word instead. It prints ``READY`` once its
first request was answered, runs until a line (or the end of input) arrives on standard
input, then prints one JSON line: every request as [kind, started, seconds, status].
``started`` is ``time.perf_counter()``, which on Linux is CLOCK_MONOTONIC, the same clock
in every process, so the caller keeps the requests that fell inside its own load.

It runs in its own process so that neither it nor the SMTP load generator waits for the
other's GIL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

from bench.http import Client
from bench.loadgen import percentile
from bench.mail import RARE

Sample = tuple[str, float, float, int]  # kind, started, seconds, status


def run(url: str, search_every: float, stop: threading.Event) -> list[Sample]:
    client = Client(url)
    samples: list[Sample] = []
    ids: list[int] = []
    turn = 0
    searches = 0
    next_search = time.perf_counter() + search_every

    def timed(kind: str, path: str) -> bytes:
        started = time.perf_counter()
        status, body, seconds = client.get(path)
        samples.append((kind, started, seconds, status))
        return body

    client.get("/api/stats")
    print("READY", flush=True)
    while not stop.is_set():
        if time.perf_counter() >= next_search:
            next_search += search_every
            timed("search", f"/api/messages?q={RARE[(searches * 37 + 11) % len(RARE)]}")
            searches += 1
            continue
        body = timed("list", "/api/messages?limit=50")
        try:
            ids = [m["id"] for m in json.loads(body)["messages"]] or ids
        except (ValueError, KeyError, TypeError):
            pass
        if ids:
            timed("get", f"/api/messages/{ids[turn % len(ids)]}")
            turn += 1
    client.close()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apiload", description=__doc__)
    parser.add_argument("url", help="catcher's HTTP address, e.g. http://127.0.0.1:8025")
    parser.add_argument(
        "--search-every", type=float, default=1.0, help="seconds between searches (default 1)"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    samples = run(args.url, args.search_every, stop)
    print(json.dumps(samples), flush=True)
    return 0


class APILoad:
    """``python -m bench.apiload`` started against a server; ``stop()`` returns its samples."""

    def __init__(self, url: str, env: dict[str, str], cwd: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.apiload", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            self.process.kill()
            raise RuntimeError(f"bench.apiload did not start: {line!r}")

    def stop(self) -> list[Sample]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        self.process.wait(30)
        return [tuple(s) for s in json.loads(line)]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def summarize(
    samples: list[Sample],
    start: float,
    end: float,
    kinds: tuple[str, ...] = ("list", "get", "search"),
) -> dict[str, Any]:
    """Per kind, the requests that started inside [start, end]: count, p50, p99, max (ms)
    and any that did not answer 200."""
    out: dict[str, Any] = {}
    for kind in kinds:
        inside = [s for s in samples if s[0] == kind and start <= s[1] <= end]
        times = [s[2] for s in inside]
        out[kind] = {
            "requests": len(times),
            "p50_ms": round(percentile(times, 50) * 1000, 3),
            "p99_ms": round(percentile(times, 99) * 1000, 3),
            "max_ms": round(max(times) * 1000, 3) if times else float("nan"),
            "errors": sum(1 for s in inside if s[3] != 200),
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
