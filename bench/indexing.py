"""Suites for indexing while mail arrives: time to searchable, and the API while mail pours in.

catcher indexes a burst in a worker process (``python -m catcher.index_worker``, a child
of the server) as the mail arrives, and a search that comes while a long backlog exists
waits for it. These suites time what a user sees (the first search after a burst, list
and get during one) and what it costs (the worker's CPU per message, read from /proc,
against the server's own CPU per message in the same burst).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

from bench import loadgen, proc, servers
from bench.apiload import APILoad, summarize
from bench.http import Client
from bench.mail import RARE, Corpus
from bench.suites import Log, Sizes, ms

# The rare words searched for right after a burst (each is in one message in 1,000).
FIRST_WORD = 7
SECOND_WORD = 8


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _expected(word: int, first: int, count: int) -> int:
    """How many of messages first .. first + count - 1 carry RARE[word]."""
    return sum(1 for i in range(first, first + count) if i % len(RARE) == word)


def _settled_indexing_cpu(pid: int, timeout: float = 10.0) -> float:
    """The workers' CPU seconds once the worker has gone idle (a batch still in flight
    when a search answered is finished, then its records are dropped as already built)."""
    previous, _ = proc.indexing_cpu(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now, _ = proc.indexing_cpu(pid)
        if now == previous:
            return now
        previous = now
    return previous


def burst(
    server: servers.Server,
    corpus: Corpus,
    first: int,
    count: int,
    concurrency: int,
    client_loop: str,
    *,
    rate: float | None = None,
    api: bool = False,
    idle_seconds: float = 0.0,
) -> dict[str, Any]:
    """Send ``count`` messages (at ``rate``, or as fast as the server takes them), then
    at once time a search for a rare word, a second search and a list.

    ``api``: an API client (``bench.apiload``) runs throughout; its list, get and
    search times during the sending are reported, and, with ``idle_seconds``, also for
    that long once the first search has answered (the same store, no mail arriving).
    """
    assert server.url is not None
    pid = server.pid
    client = Client(server.url)
    client.get("/api/stats")  # the connection is open before the burst starts
    load_start = _load()
    apiload = APILoad(server.url, servers.env(), str(servers.ROOT)) if api else None
    row: dict[str, Any] = {"messages": count, "concurrency": concurrency, "rate_offered": rate}
    try:

        async def go() -> tuple[loadgen.LoadResult, dict[str, float]]:
            generator = loadgen.Generator(*server.smtp, concurrency)
            await generator.open()
            marks: dict[str, float] = {}
            try:
                marks["cpu0"] = proc.cpu_seconds(pid)
                marks["index0"] = proc.indexing_cpu(pid)[0]
                client_cpu = time.process_time()
                result = await generator.phase(
                    corpus.message, first, count, record_done=True, rate=rate
                )
                # The moment the last 250 arrived (two /proc reads first, ~0.1 ms):
                # search, search again, list.
                result.client_cpu = time.process_time() - client_cpu
                marks["cpu_sent"] = proc.cpu_seconds(pid)
                marks["index_sent"] = proc.indexing_cpu(pid)[0]
                status, body, marks["first_search"] = client.get(
                    f"/api/messages?q={RARE[FIRST_WORD]}"
                )
                marks["answered"] = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"first search: {status} {body[:200]!r}")
                marks["matched"] = json.loads(body)["matched"]
                marks["second_search"] = client.get(f"/api/messages?q={RARE[SECOND_WORD]}")[2]
                status, body, marks["list"] = client.get("/api/messages?limit=50")
                marks["total"] = json.loads(body)["total"]
                marks["cpu1"] = proc.cpu_seconds(pid)
            finally:
                await generator.close()
            return result, marks

        result, marks = loadgen.run(go, client_loop)
        if apiload is not None and idle_seconds:
            time.sleep(idle_seconds)
        samples = apiload.stop() if apiload is not None else []
    finally:
        if apiload is not None:
            apiload.close()
        client.close()
    last = result.done_at[-1] if result.done_at else result.started_at + result.elapsed
    indexing = _settled_indexing_cpu(pid)
    index_pid = proc.index_worker(pid)
    row.update(result.summary())
    row.update(
        {
            "load_average": load_start,
            "load_average_end": _load(),
            "searchable_s": round(marks["answered"] - last, 3),
            "first_search_ms": ms(marks["first_search"]),
            "second_search_ms": ms(marks["second_search"]),
            "list_ms": ms(marks["list"]),
            "first_search_complete": marks["matched"] == _expected(FIRST_WORD, first, count)
            and marks["total"] == first + count,
            # The server's own CPU while the mail arrived (SMTP, the store, handing
            # batches to the worker and keeping its records), and from the last 250 to
            # the list answered after the searches.
            "intake_cpu_us_per_msg": round((marks["cpu_sent"] - marks["cpu0"]) / count * 1e6, 1),
            "server_cpu_after_ms": ms(marks["cpu1"] - marks["cpu_sent"]),
            # Every indexing worker's CPU (start-up included) over the messages sent, and
            # how much of it came after the last 250.
            "indexing_cpu_us_per_msg": round((indexing - marks["index0"]) / count * 1e6, 1),
            "indexing_cpu_after_ms": ms(indexing - marks["index_sent"]),
            "worker_pid": index_pid,
            "server_rss_mb": round(proc.rss(pid) / 2**20, 1),
            "worker_rss_mb": round(proc.rss(index_pid) / 2**20, 1) if index_pid else None,
        }
    )
    if api:
        row["api"] = summarize(samples, result.started_at, last)
        if idle_seconds:
            row["api_idle"] = summarize(
                samples, marks["answered"], marks["answered"] + idle_seconds
            )
    return row


def searchable(sizes: Sizes, loop: str, client_loop: str, log: Log) -> dict[str, Any]:
    """For each count, a fresh catcher takes that many 2 KB messages at full speed; the
    first search, a second and a list are timed from the last 250. Indexing CPU (the
    worker's) per message against intake CPU (the server's own) in the same burst."""
    corpus = Corpus("2k")
    out: dict[str, Any] = {
        "concurrency": sizes.searchable_concurrency,
        "worker_startup_cpu_ms": ms(
            proc.worker_startup_cpu(servers.CATCHER_ROOT, servers.env(servers.CATCHER_ROOT))
        ),
    }
    for count in sizes.searchable_counts:
        # Repeated (rounds) where a round is short; the largest counts once.
        rounds = sizes.rounds if count <= 10_000 else 1
        runs = []
        for _ in range(rounds):
            with servers.start_catcher(loop) as server:
                servers.settle(server)
                row = burst(server, corpus, 0, count, sizes.searchable_concurrency, client_loop)
            runs.append(row)
            log(
                f"  searchable N={count}: {row['per_second']:.0f}/s, first search "
                f"{row['searchable_s']} s after the last 250 (complete: "
                f"{row['first_search_complete']}), second {row['second_search_ms']} ms, list "
                f"{row['list_ms']} ms; cpu/msg intake {row['intake_cpu_us_per_msg']} us, "
                f"indexing {row['indexing_cpu_us_per_msg']} us; load {row['load_average'][0]}"
            )
        out[str(count)] = _median_row(runs)
    return out


_MEDIAN_FIELDS = (
    "per_second",
    "p50_ms",
    "p99_ms",
    "searchable_s",
    "first_search_ms",
    "second_search_ms",
    "list_ms",
    "intake_cpu_us_per_msg",
    "server_cpu_after_ms",
    "indexing_cpu_us_per_msg",
    "indexing_cpu_after_ms",
)


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's row with each figure the median over the runs, and every run kept."""
    row = dict(runs[0])
    for field in _MEDIAN_FIELDS:
        row[field] = round(statistics.median(r[field] for r in runs), 3)
    row["first_search_complete"] = all(r["first_search_complete"] for r in runs)
    row["failures"] = sum(r["failures"] for r in runs)
    row["rounds"] = len(runs)
    row["runs"] = runs
    return row


def pouring(sizes: Sizes, loop: str, client_loop: str, log: Log) -> dict[str, Any]:
    """The API while mail pours in: (a) a steady rate for a while, (b) a full-speed burst;
    each alone and with the API client, each on a fresh catcher, in the same run."""
    corpus = Corpus("2k")
    concurrency = sizes.searchable_concurrency
    steady = round(sizes.pour_rate * sizes.pour_seconds)
    out: dict[str, Any] = {
        "rate": sizes.pour_rate,
        "seconds": sizes.pour_seconds,
        "burst_count": sizes.pour_burst,
        "concurrency": concurrency,
        "idle_seconds": sizes.pour_idle_seconds,
    }
    cases = (
        ("steady", steady, sizes.pour_rate),
        ("burst", sizes.pour_burst, None),
    )
    for name, count, rate in cases:
        out[name] = {}
        for with_api in (False, True):
            with servers.start_catcher(loop) as server:
                servers.settle(server)
                row = burst(
                    server,
                    corpus,
                    0,
                    count,
                    concurrency,
                    client_loop,
                    rate=rate,
                    api=with_api,
                    idle_seconds=sizes.pour_idle_seconds if with_api else 0.0,
                )
            out[name]["with_api" if with_api else "alone"] = row
            text = (
                f"  {name} {count} {'with API' if with_api else 'alone':<8}: "
                f"{row['per_second']:.0f}/s, smtp p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms, "
                f"cpu/msg {row['intake_cpu_us_per_msg']} us + indexing "
                f"{row['indexing_cpu_us_per_msg']} us, searchable {row['searchable_s']} s"
            )
            if with_api:
                api = row["api"]
                text += (
                    f"; list {api['list']['p50_ms']}/{api['list']['p99_ms']} ms, get "
                    f"{api['get']['p50_ms']}/{api['get']['p99_ms']} ms, search "
                    f"{api['search']['p50_ms']}/{api['search']['max_ms']} ms (p50/max)"
                )
            log(text + f"; load {row['load_average'][0]}")
    return out
