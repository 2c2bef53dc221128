"""The benchmark suites: intake (against the bare sink), growth, memory, API latency and UI.

Each suite starts its own server processes, drives them from this process, and returns
a plain dict for the JSON report. Nothing here asserts: targets are judged in report.py.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
import re
import smtplib
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadgen, proc, servers
from bench.http import Client
from bench.mail import RARE, RECIPIENTS, SENDERS, WORDS, Corpus
from bench.proc import cpu_seconds


@dataclass(frozen=True)
class Sizes:
    """How much each suite sends; ``quick`` and ``full`` below."""

    rounds: int
    warmup: int
    intake_2k_c1: int
    intake_2k_c20: int
    intake_100k_c10: int
    growth_total: int
    growth_window: int
    memory_count_2k: int
    memory_count_100k: int
    api_sizes: tuple[int, ...]
    api_requests: int
    api_slow_requests: int  # for scans at the largest N
    wait_samples: int
    sse_samples: int
    searchable_counts: tuple[int, ...]  # each into a fresh catcher, then searched at once
    searchable_concurrency: int
    pour_rate: float  # messages per second offered in the steady case
    pour_seconds: float
    pour_burst: int
    pour_idle_seconds: float  # the API client once the burst is searchable: its baseline


QUICK = Sizes(
    rounds=1,
    warmup=100,
    intake_2k_c1=800,
    intake_2k_c20=1500,
    intake_100k_c10=200,
    growth_total=4000,
    growth_window=500,
    memory_count_2k=2000,
    memory_count_100k=300,
    api_sizes=(10000,),
    api_requests=100,
    api_slow_requests=30,
    wait_samples=20,
    sse_samples=20,
    searchable_counts=(10000,),
    searchable_concurrency=10,
    pour_rate=1000,
    pour_seconds=15,
    pour_burst=5000,
    pour_idle_seconds=3,
)
FULL = Sizes(
    rounds=3,
    warmup=500,
    intake_2k_c1=4000,
    intake_2k_c20=8000,
    intake_100k_c10=1500,
    growth_total=20000,
    growth_window=1000,
    memory_count_2k=10000,
    memory_count_100k=10000,
    api_sizes=(10000, 100000),
    api_requests=200,
    api_slow_requests=40,
    wait_samples=50,
    sse_samples=50,
    searchable_counts=(10000, 100000),
    searchable_concurrency=10,
    pour_rate=1000,
    pour_seconds=60,
    pour_burst=20000,
    pour_idle_seconds=5,
)

Log = Callable[[str], None]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- intake ------------------------------------------------------------------------------

INTAKE_CASES = (
    # name, corpus, concurrency, Sizes field
    ("2k_c1", "2k", 1, "intake_2k_c1"),
    ("2k_c20", "2k", 20, "intake_2k_c20"),
    ("100k_c10", "100k", 10, "intake_100k_c10"),
)


def _send_phase(
    server: servers.Server,
    corpus: Corpus,
    concurrency: int,
    first: int,
    count: int,
    warmup: int,
    client_loop: str,
    record_done: bool = False,
    on_phase: Callable[[loadgen.LoadResult], None] | None = None,
) -> tuple[loadgen.LoadResult, float]:
    """Warm up, then send ``count`` messages; the result and the server's CPU seconds spent."""

    async def go() -> tuple[loadgen.LoadResult, float]:
        generator = loadgen.Generator(*server.smtp, concurrency)
        await generator.open()
        try:
            if warmup:
                await generator.phase(corpus.message, first - warmup, warmup)
            cpu = cpu_seconds(server.pid)
            client_cpu = time.process_time()
            result = await generator.phase(corpus.message, first, count, record_done=record_done)
            cpu = cpu_seconds(server.pid) - cpu
            result.client_cpu = time.process_time() - client_cpu
        finally:
            await generator.close()
        return result, cpu

    return loadgen.run(go, client_loop)


def intake(
    sizes: Sizes,
    loops: tuple[str, ...],
    client_loop: str,
    parse_sink: bool,
    log: Log,
    compare: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """catcher against the bare aiosmtpd sink, per loop, interleaved, ``rounds`` times.

    ``compare`` (name, root) adds a second catcher run from another checkout, such as a
    patched copy, measured in the same rounds.
    """
    targets: list[tuple[str, Callable[[], servers.Server]]] = []
    # catcher with --db: each start gets a new file here (removed at the end).
    files = tempfile.TemporaryDirectory(prefix="catcher-bench-db-")
    made = itertools.count()

    def with_db(loop: str, root: Path | None = None, name: str = "catcher") -> servers.Server:
        path = os.path.join(files.name, f"{next(made)}.db")
        return servers.start_catcher(loop, "--db", path, root=root, name=f"{name}-db")

    for loop in loops:
        targets.append((f"sink-{loop}", functools.partial(servers.start_sink, loop)))
        targets.append(
            (f"sink-wide-{loop}", functools.partial(servers.start_sink, loop, wide=True))
        )
        targets.append((f"catcher-{loop}", functools.partial(servers.start_catcher, loop)))
        targets.append((f"catcher-db-{loop}", functools.partial(with_db, loop)))
        if compare is not None:
            name, root = compare
            targets.append(
                (
                    f"{name}-{loop}",
                    functools.partial(servers.start_catcher, loop, root=root, name=name),
                )
            )
            targets.append(
                (f"{name}-db-{loop}", functools.partial(with_db, loop, root=root, name=name))
            )
    if parse_sink:
        targets.append(
            ("sink-parse-asyncio", functools.partial(servers.start_sink, "asyncio", parse=True))
        )
    corpora = {"2k": Corpus("2k"), "100k": Corpus("100k")}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for round_no in range(sizes.rounds):
        # Rotate the order each round so drifting background load hits every server alike.
        order = targets[round_no % len(targets) :] + targets[: round_no % len(targets)]
        for name, start in order:
            with start() as server:
                for case, kind, concurrency, field in INTAKE_CASES:
                    count = getattr(sizes, field)
                    warmup = min(sizes.warmup, count)
                    if kind == "100k":
                        warmup = min(warmup, 100)
                    result, cpu = _send_phase(
                        server, corpora[kind], concurrency, 10_000_000, count, warmup, client_loop
                    )
                    row = result.summary()
                    row["server_cpu_us_per_msg"] = round(cpu / max(1, result.ok) * 1e6, 1)
                    if server.url:
                        row["stored_check"] = _check_and_clear(
                            server, warmup + result.ok, corpora[kind]
                        )
                    runs.setdefault(case, {}).setdefault(name, []).append(row)
                    log(
                        f"  round {round_no + 1} {name:<20} {case:<9} {row['per_second']:>8.1f}/s "
                        f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
                        f"cpu {row['server_cpu_us_per_msg']:.0f} us/msg "
                        f"(client {row['client_cpu_us_per_msg']:.0f})  "
                        f"failures {row['failures']}"
                    )
    files.cleanup()
    summary: dict[str, Any] = {}
    for case, by_server in runs.items():
        summary[case] = {}
        for name, rows in by_server.items():
            summary[case][name] = {
                "per_second": round(_median([r["per_second"] for r in rows]), 1),
                "p50_ms": round(_median([r["p50_ms"] for r in rows]), 3),
                "p99_ms": round(_median([r["p99_ms"] for r in rows]), 3),
                "server_cpu_us_per_msg": round(
                    _median([r["server_cpu_us_per_msg"] for r in rows]), 1
                ),
                "client_cpu_us_per_msg": round(
                    _median([r["client_cpu_us_per_msg"] for r in rows]), 1
                ),
                "failures": sum(r["failures"] for r in rows),
                "messages": sum(r["messages"] for r in rows),
                "rounds": len(rows),
            }
    return {
        "runs": runs,
        "median": summary,
        "message_bytes": {k: round(c.average_size()) for k, c in corpora.items()},
    }


_BENCH_ID = re.compile(rb"Message-ID: <bench\.(\d+)\.")


def _check_and_clear(server: servers.Server, expected: int, corpus: Corpus) -> bool:
    """Every 250 means stored, byte for byte; then empty the store for the next case.

    The count must match, and a sample of stored messages must be exactly the bytes sent
    (each names its number in its Message-ID).
    """
    assert server.url is not None
    client = Client(server.url)
    try:
        count = client.json("/api/stats")["messages"]
        newest = client.json("/api/messages?limit=1")["messages"][0]["id"]
        stored = range(newest - count + 1, newest + 1)  # ids go on from the previous case
        exact = True
        for message_id in random.Random(newest).sample(stored, min(5, count)):
            status, raw, _ = client.get(f"/api/messages/{message_id}/raw")
            found = _BENCH_ID.search(raw)
            if status != 200 or found is None or raw != corpus.message(int(found[1]))[2]:
                exact = False
        client.json("/api/messages", method="DELETE")
    finally:
        client.close()
    return bool(count == expected and exact)


# -- growth and memory -----------------------------------------------------------------


def growth_and_memory(sizes: Sizes, loop: str, client_loop: str, log: Log) -> dict[str, Any]:
    """Rate of the last window against the first while filling, in ``rounds`` fresh
    servers (one window's rate moves by a third from one to the next on two shared
    cores, so the round with the median ratio is reported, with every round's ratio);
    RSS per message on the way, from the first round."""
    rounds = [_growth_round(sizes, loop, client_loop, log) for _ in range(sizes.rounds)]
    ratios = [r["growth"]["ratio"] for r in rounds]
    median = sorted(rounds, key=lambda r: r["growth"]["ratio"])[len(rounds) // 2]
    median["growth"]["round_ratios"] = ratios
    median["memory_2k"] = rounds[0]["memory_2k"]
    return median


def _growth_round(sizes: Sizes, loop: str, client_loop: str, log: Log) -> dict[str, Any]:
    out: dict[str, Any] = {}
    corpus = Corpus("2k")
    window = sizes.growth_window
    total = sizes.growth_total
    half = total // 2
    with servers.start_catcher(loop) as server:
        # A warm-up burst first, so the indexing worker runs from the first timed window:
        # the windows then compare the store small and large, not before and after the
        # worker took a share of the cores.
        _send_phase(server, corpus, 20, total, window, 0, client_loop)
        servers.settle(server, 1.0)
        rss0 = server.rss()
        load = [round(x, 2) for x in os.getloadavg()]
        first, cpu_a = _send_phase(server, corpus, 20, 0, half, 0, client_loop, record_done=True)
        rss_half = server.rss()  # at once: before the rest of the backlog is indexed
        index_a, _ = proc.indexing_cpu(server.pid)
        # A window past the total goes on after it: the last window of a phase would
        # otherwise end as its connections run out of work one by one, a slowdown of
        # the client's own making that the first window does not have.
        rest = total - half
        second, cpu_b = _send_phase(
            server, corpus, 20, half, rest + window, 0, client_loop, record_done=True
        )
        index_b, _ = proc.indexing_cpu(server.pid)
        raw = sum(len(corpus.message(i)[2]) for i in range(half)) / half
        first_rate = window / (first.done_at[window - 1] - first.started_at)
        last_rate = window / (second.done_at[rest - 1] - second.done_at[rest - window - 1])
        out["growth"] = {
            "total": total,
            "window": window,
            "first_per_second": round(first_rate, 1),
            "last_per_second": round(last_rate, 1),
            "ratio": round(last_rate / first_rate, 3),
            "first_half_per_second": round(first.rate, 1),
            "second_half_per_second": round(second.rate, 1),
            "half_ratio": round(second.rate / first.rate, 3),
            "server_cpu_us_per_msg_first_half": round(cpu_a / half * 1e6, 1),
            "server_cpu_us_per_msg_second_half": round(cpu_b / (rest + window) * 1e6, 1),
            # The indexing worker's CPU (start-up included) by the end of each half.
            "indexing_cpu_us_per_msg_first_half": round(index_a / half * 1e6, 1),
            "indexing_cpu_us_per_msg_second_half": round(
                (index_b - index_a) / (rest + window) * 1e6, 1
            ),
            "window_rates": _window_rates(first, second, window, rest),
            "failures": first.failures + second.failures,
            "load_average": load,
        }
        out["memory_2k"] = _memory_row(half, raw, rss0, rss_half)
        log(
            f"  growth: first {window} {first_rate:.0f}/s, last {window} {last_rate:.0f}/s, "
            f"ratio {last_rate / first_rate:.2f} (halves {second.rate / first.rate:.2f})"
        )
        log(f"  memory 2k raw: {out['memory_2k']['rss_per_msg']} B/msg for {raw:.0f} B raw")
    return out


def _window_rates(
    first: loadgen.LoadResult, second: loadgen.LoadResult, window: int, rest: int
) -> list[float]:
    """Messages per second in each window of ``window`` messages, in order, up to the
    total (the gap between the halves, a /proc read, is left out; so is the window sent
    past the total)."""
    rates = []
    for half, done in ((first, first.done_at), (second, second.done_at[:rest])):
        marks = [half.started_at, *done]
        for end in range(window, len(marks), window):
            rates.append(round(window / (marks[end] - marks[end - window]), 1))
    return rates


def _memory_row(
    count: int, raw: float, before: int, after: int, parsed: int | None = None
) -> dict[str, Any]:
    budget = 1.5 * raw + 4096
    row: dict[str, Any] = {
        "messages": count,
        "raw_bytes_per_msg": round(raw),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "rss_per_msg": round((after - before) / count),
        "ratio_to_raw": round((after - before) / count / raw, 3),
        "budget_per_msg": round(budget),
    }
    if parsed is not None:
        row["rss_parsed_mb"] = round(parsed / 2**20, 1)
        row["rss_per_msg_parsed"] = round((parsed - before) / count)
        row["ratio_to_raw_parsed"] = round((parsed - before) / count / raw, 3)
    return row


def memory_100k(sizes: Sizes, loop: str, client_loop: str, log: Log) -> dict[str, Any]:
    corpus = Corpus("100k")
    count = sizes.memory_count_100k
    with servers.start_catcher(loop) as server:
        servers.settle(server)
        before = server.rss()
        _send_phase(server, corpus, 10, 0, count, 0, client_loop)
        after = server.rss()  # at once, before any background indexing
        client = Client(server.url or "")
        started = time.perf_counter()
        client.json("/api/messages?q=zzznotfound")  # parses every message
        parse_all = time.perf_counter() - started
        client.close()
        servers.settle(server)
        parsed = server.rss()
    raw = sum(len(corpus.message(i)[2]) for i in range(count)) / count
    row = _memory_row(count, raw, before, after, parsed)
    row["first_search_s"] = round(parse_all, 3)
    log(
        f"  memory 100k: {row['rss_per_msg']} B/msg raw, {row['rss_per_msg_parsed']} B/msg parsed, "
        f"for {raw:.0f} B raw"
    )
    return row


# -- API --------------------------------------------------------------------------------


def _timed(client: Client, paths: list[str]) -> dict[str, Any]:
    times = []
    for path in paths:
        status, body, seconds = client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        times.append(seconds)
    return {
        "requests": len(times),
        "p50_ms": ms(loadgen.percentile(times, 50)),
        "p99_ms": ms(loadgen.percentile(times, 99)),
    }


def api(
    sizes: Sizes, loop: str, client_loop: str, ui: bool, log: Log, api: bool = True
) -> dict[str, Any]:
    """At each N: list (three offsets), get, free-text and per-field searches, wait and
    SSE latency, memory once indexed; the UI at the first N.

    The first search after each fill waits for the indexing worker and builds what is
    left, so every figure after it is taken with every message indexed.
    """
    out: dict[str, Any] = {}
    corpus = Corpus("2k")
    rng = random.Random(3)
    with servers.start_catcher(loop) as server:
        assert server.url is not None
        servers.settle(server)
        rss0 = server.rss()
        stored = 0
        for n in sizes.api_sizes:
            load = [round(x, 2) for x in os.getloadavg()]
            fill, _ = _send_phase(server, corpus, 20, stored, n - stored, 0, client_loop)
            stored = n
            rss_raw = server.rss()  # at once, before the backlog is indexed
            if not api:  # the UI alone
                if ui:
                    from bench import ui as ui_suite

                    out["ui"] = ui_suite.first_render(server.url, log)
                break
            client = Client(server.url)
            row: dict[str, Any] = {
                "fill_per_second": round(fill.rate, 1),
                "fill_failures": fill.failures,
                "load_average": load,
            }
            slow = n >= 50_000
            requests = sizes.api_slow_requests if slow else sizes.api_requests
            # Cold: the first list and opening messages nobody opened yet (each one parses).
            row["list_first_ms"] = ms(client.get("/api/messages?limit=50")[2])
            ids = [rng.randint(1, n) for _ in range(sizes.api_requests)]
            row["get_cold"] = _timed(client, [f"/api/messages/{i}" for i in ids])
            # A moment later the backlog is still being indexed (by the worker process, or
            # in catcher for a short one); requests meanwhile.
            time.sleep(0.3)
            row["get_indexing"] = _timed(
                client, [f"/api/messages/{rng.randint(1, n)}" for _ in range(requests)]
            )
            # The first search waits for the worker and indexes the rest itself: after it
            # every message is indexed.
            started = time.perf_counter()
            client.json("/api/messages?q=" + RARE[1])
            row["first_search_s"] = round(time.perf_counter() - started, 3)
            servers.settle(server)
            rss_parsed = server.rss()
            step = max(1, n // 10_000)  # the mean raw size from a sample at large N
            raw = statistics.mean(len(corpus.message(i)[2]) for i in range(0, n, step))
            row["memory"] = _memory_row(n, raw, rss0, rss_raw, rss_parsed)
            worker = proc.index_worker(server.pid)
            row["memory"]["worker_rss_mb"] = (
                round(proc.rss(worker) / 2**20, 1) if worker is not None else None
            )
            if n == sizes.api_sizes[0]:
                out["memory_2k_api"] = row["memory"]
            # Warm.
            _timed(client, ["/api/messages?limit=50"] * 20)
            row["list"] = _timed(client, ["/api/messages?limit=50"] * sizes.api_requests)
            row["list_deep"] = _timed(
                client, [f"/api/messages?limit=50&offset={n // 2}"] * requests
            )
            row["list_last"] = _timed(
                client, [f"/api/messages?limit=50&offset={n - 50}"] * requests
            )
            row["get"] = _timed(
                client, [f"/api/messages/{rng.randint(1, n)}" for _ in range(sizes.api_requests)]
            )
            row["search"] = _timed(
                client, [f"/api/messages?q={rng.choice(RARE)}" for _ in range(requests)]
            )
            row["search_common"] = _timed(
                client, [f"/api/messages?q={rng.choice(WORDS)}" for _ in range(requests)]
            )
            # Never asked before: no search's matches are kept to build on.
            fresh = sorted({w[k:] for w in WORDS for k in range(3) if len(w) - k >= 4})
            rng.shuffle(fresh)
            row["search_common_fresh"] = _timed(
                client, [f"/api/messages?q={word}" for word in fresh[:requests]]
            )
            row["search_subject_fresh"] = _timed(
                client, [f"/api/messages?subject={word}" for word in fresh[-requests:]]
            )
            for field, param, values in (
                ("search_to", "to", RECIPIENTS),
                ("search_from", "from", SENDERS),
                ("search_subject", "subject", WORDS),
            ):
                row[field] = _timed(
                    client,
                    [f"/api/messages?{param}={rng.choice(values)}" for _ in range(requests)],
                )
            # Search terms (tested on what the fields let through; here, on everything).
            row["search_unread"] = _timed(
                client, ["/api/messages?q=is%3Aunread" for _ in range(requests)]
            )
            row["search_negated"] = _timed(
                client, [f"/api/messages?q=-{rng.choice(WORDS)}" for _ in range(requests)]
            )
            # The peer APIs: Mailpit's search and MailHog's first page, in their shapes.
            row["mailpit_search"] = _timed(
                client, [f"/api/v1/search?query={rng.choice(RARE)}" for _ in range(requests)]
            )
            row["mailhog_page"] = _timed(
                client, ["/api/v2/messages?limit=50" for _ in range(requests)]
            )
            row["filtered"] = _timed(
                client,
                [
                    f"/api/messages?to={rng.choice(RECIPIENTS)}&from={rng.choice(SENDERS)}"
                    f"&subject={rng.choice(WORDS)}"
                    for _ in range(requests)
                ],
            )
            client.close()
            row["wait"] = wait_latency(server, sizes.wait_samples)
            if not slow:
                row["sse"] = sse_latency(server, sizes.sse_samples)
            stored += sizes.wait_samples + (0 if slow else sizes.sse_samples)
            if ui and n == sizes.api_sizes[0]:
                from bench import ui as ui_suite

                out["ui"] = ui_suite.first_render(server.url, log)
            out[str(n)] = row
            log(
                f"  api N={n}: list {row['list']['p50_ms']} ms (N/2 "
                f"{row['list_deep']['p50_ms']}, N-50 {row['list_last']['p50_ms']}), get "
                f"{row['get']['p50_ms']} ms, search {row['search']['p50_ms']} ms (common "
                f"{row['search_common']['p50_ms']}, to {row['search_to']['p50_ms']}, from "
                f"{row['search_from']['p50_ms']}, subject {row['search_subject']['p50_ms']}), "
                f"is:unread {row['search_unread']['p50_ms']} ms, -word "
                f"{row['search_negated']['p50_ms']} ms, Mailpit search "
                f"{row['mailpit_search']['p50_ms']} ms, MailHog page "
                f"{row['mailhog_page']['p50_ms']} ms, "
                f"first search {row['first_search_s']} s, wait {row['wait']['p50_ms']} ms"
                + (f", sse {row['sse']['p50_ms']} ms" if "sse" in row else "")
                + f", indexed {row['memory']['rss_per_msg_parsed']} B/msg; load {load[0]}"
            )
    return out


def _send_sync(smtp: smtplib.SMTP, rcpt: str, subject: str) -> tuple[float, int]:
    """Send one message; when the 250 was read and the id it names."""
    body = f"From: waiter@bench.example\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nhello\r\n"
    code, _ = smtp.mail("waiter@bench.example")
    assert code == 250
    code, _ = smtp.rcpt(rcpt)
    assert code == 250
    code, reply = smtp.data(body.encode())
    at = time.perf_counter()
    if code != 250:
        raise RuntimeError(f"DATA got {code} {reply!r}")
    return at, int(reply.decode().rsplit(" ", 1)[-1])


def wait_latency(server: servers.Server, samples: int) -> dict[str, Any]:
    """From the SMTP 250 to the answer of a ``GET /api/messages/wait`` that was already waiting."""
    assert server.url is not None
    smtp = smtplib.SMTP(*server.smtp, timeout=30)
    smtp.ehlo("bench.example")
    latencies = []
    failures = 0
    client = Client(server.url)
    last = client.json("/api/messages?limit=1")["messages"][0]["id"]
    for n in range(samples):
        rcpt = f"waiter{n}-{time.monotonic_ns()}@bench.example"
        answered: list[float] = []

        def waiter(since: int = last, rcpt: str = rcpt, answered: list[float] = answered) -> None:
            status, _, _ = client.get(f"/api/messages/wait?since={since}&to={rcpt}&timeout=10")
            answered.append(time.perf_counter() if status == 200 else float("nan"))

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.05)  # let the request reach the server and block (a benchmark, not a test)
        sent_at, last = _send_sync(smtp, rcpt, f"wait {n}")
        thread.join(15)
        if not answered or answered[0] != answered[0]:
            failures += 1
            continue
        latencies.append(answered[0] - sent_at)
    smtp.quit()
    client.close()
    return {
        "samples": len(latencies),
        "failures": failures,
        "p50_ms": ms(loadgen.percentile(latencies, 50)),
        "p99_ms": ms(loadgen.percentile(latencies, 99)),
    }


def sse_latency(server: servers.Server, samples: int) -> dict[str, Any]:
    """From the SMTP 250 to the matching ``message`` event on an open /api/events stream."""
    import http.client
    from urllib.parse import urlsplit

    assert server.url is not None
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    connection.request("GET", "/api/events", headers={"Accept": "text/event-stream"})
    response = connection.getresponse()
    arrived: dict[int, float] = {}
    hello = threading.Event()
    stop = threading.Event()

    def reader() -> None:
        try:
            read_events()
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # the stream was closed under the reader at the end

    def read_events() -> None:
        kind = ""
        while not stop.is_set():
            line = response.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            if text.startswith("event:"):
                kind = text[6:].strip()
                if kind == "hello":
                    hello.set()
            elif text.startswith("data:") and kind == "message":
                at = time.perf_counter()
                arrived[int(json.loads(text[5:])["id"])] = at

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    hello.wait(10)
    smtp = smtplib.SMTP(*server.smtp, timeout=30)
    smtp.ehlo("bench.example")
    sent: dict[int, float] = {}
    for n in range(samples):
        at, message_id = _send_sync(smtp, "sse@bench.example", f"sse {n}")
        sent[message_id] = at
        deadline = time.monotonic() + 5
        while message_id not in arrived and time.monotonic() < deadline:
            time.sleep(0.001)
    smtp.quit()
    stop.set()
    # Shut the socket first: closing alone waits for the reader's readline, which holds
    # the response's buffer until the next heartbeat (15 s).
    if connection.sock is not None:
        connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()
    thread.join(5)
    latencies = [arrived[i] - at for i, at in sent.items() if i in arrived]
    return {
        "samples": len(latencies),
        "failures": len(sent) - len(latencies),
        "p50_ms": ms(loadgen.percentile(latencies, 50)),
        "p99_ms": ms(loadgen.percentile(latencies, 99)),
    }
