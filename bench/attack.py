"""catcher under attack: ``python -m bench.attack`` (about 3 minutes; JSON to
``bench/results/attack.json``).

Each figure is taken against a catcher in its own process, with a baseline from the same
run: memory at the byte cap against the cap itself, the time to take and open a hostile
1 MB message against a plain 1 MB one, and API latency with slow clients or thousands of
parked waits against the same requests on an idle server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import report, servers
from bench.http import Client

MB = 1024 * 1024
HOSTILE = {
    "plain text (baseline)": "plain words and more words ",
    "unclosed tags": "<a ",
    "unclosed quotes": '<a x="',
    "unclosed comments": "<!-- ",
    "remote sources": "src=//a ",
    "dense tags": "<div><span>",
    "entities": "&amp;&#x41;&bogus;",
}


def _tasks(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _send(smtp: tuple[str, int], raw: bytes) -> None:
    with smtplib.SMTP(*smtp, timeout=300) as client:
        client.sendmail("attacker@example.com", ["victim@example.com"], raw)


def _latency(client: Client, path: str, count: int = 200) -> dict[str, float]:
    times = sorted(client.get(path)[2] * 1000 for _ in range(count))
    return {
        "p50": round(statistics.median(times), 2),
        "p99": round(times[int(count * 0.99) - 1], 2),
    }


def memory_at_the_cap(loop: str, log: Any) -> dict[str, Any]:
    """1 MB texts whose decoded text takes 4 bytes a character, each opened, past a 20 MB cap."""
    cap = 20 * MB
    with servers.start_catcher(loop, "--max-bytes", str(cap)) as server:
        assert server.url is not None
        client = Client(server.url)
        # Warmed up first (threads, lazy imports), so the baseline is a server that has
        # already served a message.
        _send(server.smtp, b"Subject: warm\r\n\r\nup\r\n")
        client.get("/api/messages/1")
        client.get("/api/messages/1/text")
        client.request("DELETE", "/api/messages")
        servers.settle(server, 1.0)
        idle = server.rss()
        peak = idle
        line = "x" * 60 + "\N{GRINNING FACE}\r\n"
        for n in range(60):
            body = line * (MB // len(line.encode()))
            raw = f"Subject: big {n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
            _send(server.smtp, raw.encode())
            newest = client.json("/api/messages?limit=1")["messages"][0]["id"]
            client.get(f"/api/messages/{newest}")
            client.get(f"/api/messages/{newest}/text")
            client.get("/api/messages?q=nothing-like-this")
            peak = max(peak, server.rss())
        stats = client.json("/api/stats")
        full = server.rss()
        client.request("DELETE", "/api/messages")
        servers.settle(server, 1.0)
        emptied = server.rss()
        client.close()
    result = {
        "cap_mb": cap / MB,
        "sent_mb": 60,
        "held_mb": round(stats["held_bytes"] / MB, 1),
        "evicted": stats["evicted"],
        "rss_idle_mb": round(idle / MB, 1),
        "rss_peak_mb": round(peak / MB, 1),
        "rss_full_mb": round(full / MB, 1),
        "rss_after_delete_mb": round(emptied / MB, 1),
    }
    log(f"  memory at a 20 MB cap: {result}")
    return result


def hostile_inputs(loop: str, log: Any) -> dict[str, Any]:
    """Seconds to take, list, search and open each 1 MB hostile message (and 256 KB)."""
    rows: dict[str, Any] = {}
    with servers.start_catcher(loop) as server:
        assert server.url is not None
        client = Client(server.url)
        for name, unit in HOSTILE.items():
            row = {}
            for size in (256 * 1024, MB):
                body = unit * (size // len(unit))
                raw = f"Subject: hostile\r\nContent-Type: text/html\r\n\r\n<html>{body}\r\n"
                began = time.perf_counter()
                _send(server.smtp, raw.encode())
                newest = client.json("/api/messages?limit=1")["messages"][0]["id"]
                client.get("/api/messages?q=nothing-like-this")
                client.get(f"/api/messages/{newest}")
                client.get(f"/api/messages/{newest}/html")
                row["1m_s" if size == MB else "256k_s"] = round(time.perf_counter() - began, 3)
                client.request("DELETE", "/api/messages")
            row["ratio"] = round(row["1m_s"] / max(row["256k_s"], 1e-6), 1)
            rows[name] = row
            log(f"  {name}: {row}")
        client.close()
    return rows


async def _open_many(host: str, port: int, count: int) -> list[Any]:
    async def one() -> Any:
        reader, writer = await asyncio.open_connection(host, port)
        line = await asyncio.wait_for(reader.readline(), 60)
        return line, writer

    return await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)


def connections(loop: str, log: Any) -> dict[str, Any]:
    """1,000 SMTP clients at once; the API with 200 slow clients and with 2,000 parked waits."""
    result: dict[str, Any] = {}
    with servers.start_catcher(loop) as server:
        assert server.url is not None
        client = Client(server.url)
        for n in range(1000):
            _send(server.smtp, f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode())
        result["api_idle"] = _latency(client, "/api/messages")

        async def smtp_burst() -> tuple[int, float]:
            began = time.perf_counter()
            opened = await _open_many(*server.smtp, 1000)
            greeted = sum(1 for r in opened if isinstance(r, tuple) and r[0].startswith(b"220"))
            for r in opened:
                if isinstance(r, tuple):
                    r[1].close()
            return greeted, time.perf_counter() - began

        greeted, took = asyncio.run(smtp_burst())
        result["smtp_1000_greeted"] = greeted
        result["smtp_1000_seconds"] = round(took, 2)
        host, port = client.host, client.port
        slow = []
        for _ in range(200):
            sock = socket.create_connection((host, port))
            sock.sendall(b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            slow.append(sock)
        result["api_with_200_slow_clients"] = _latency(client, "/api/messages")
        for sock in slow:
            sock.close()
        parked = []
        for n in range(2000):
            sock = socket.create_connection((host, port))
            path = "/api/messages/wait?to=nobody&timeout=60" if n % 10 else "/api/events"
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            parked.append(sock)
        deadline = time.monotonic() + 60
        while client.json("/api/stats")["http_parked"] < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        result["api_with_2000_parked"] = _latency(client, "/api/messages")
        result["threads_with_2000_parked"] = _tasks(server.pid)
        result["rss_with_2000_parked_mb"] = round(server.rss() / MB, 1)
        began = time.perf_counter()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        result["stop_seconds"] = round(time.perf_counter() - began, 3)
        for sock in parked:
            sock.close()
        client.close()
    log(f"  connections: {result}")
    return result


def run(loop: str, log: Any) -> dict[str, Any]:
    return {
        "memory": memory_at_the_cap(loop, log),
        "hostile": hostile_inputs(loop, log),
        "connections": connections(loop, log),
    }


def table(result: dict[str, Any]) -> str:
    memory, connected = result["memory"], result["connections"]
    lines = [
        "Under attack",
        f"memory, 60 x 1 MB emoji texts opened under a {memory['cap_mb']:.0f} MB cap: "
        f"held {memory['held_mb']} MB, RSS idle {memory['rss_idle_mb']} MB, peak "
        f"{memory['rss_peak_mb']} MB, after deleting all {memory['rss_after_delete_mb']} MB",
        f"{'hostile 1 MB HTML':<24} {'256 KB s':>9} {'1 MB s':>8} {'ratio':>6}",
    ]
    for name, row in result["hostile"].items():
        lines.append(f"{name:<24} {row['256k_s']:>9} {row['1m_s']:>8} {row['ratio']:>6}")
    lines.append(
        f"1,000 SMTP clients at once: {connected['smtp_1000_greeted']} greeted in "
        f"{connected['smtp_1000_seconds']} s"
    )
    for key, label in (
        ("api_idle", "list, idle server"),
        ("api_with_200_slow_clients", "list, 200 slow clients"),
        ("api_with_2000_parked", "list, 2,000 parked waits/streams"),
    ):
        lines.append(f"{label:<34} p50 {connected[key]['p50']} ms, p99 {connected[key]['p99']} ms")
    lines.append(
        f"2,000 parked: {connected['threads_with_2000_parked']} threads, "
        f"{connected['rss_with_2000_parked_mb']} MB RSS; SIGTERM to exit "
        f"{connected['stop_seconds']} s"
    )
    return "\n".join(lines)


def main() -> int:
    loop = sys.argv[1] if len(sys.argv) > 1 else "uvloop"
    result = {"machine": report.machine(), "attack": run(loop, print)}
    print(table(result["attack"]))
    out = Path(__file__).parent / "results" / "attack.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
