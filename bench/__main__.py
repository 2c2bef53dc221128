"""Run the catcher benchmarks: ``python -m bench [--quick] [--only intake,growth,...]``.

Servers run in their own processes; this process is the load generator and the HTTP
client. Prints the machine and a table; writes everything to JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import indexing, report, servers, suites

SUITES = ("intake", "growth", "memory", "searchable", "pouring", "api", "ui")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts, one round, no N=100,000: about a minute and a half",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).parent / "results" / "latest.json",
        help="where to write the results (default: bench/results/latest.json)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SUITES),
        help=f"comma-separated suites to run, of {','.join(SUITES)}",
    )
    parser.add_argument(
        "--loops",
        default="asyncio,uvloop",
        help="SMTP event loops to run the servers on, for intake",
    )
    parser.add_argument(
        "--loop",
        default="uvloop",
        help="event loop of catcher outside intake (default uvloop)",
    )
    parser.add_argument(
        "--client-loop",
        default="auto",
        choices=("auto", "asyncio", "uvloop"),
        help="the load generator's own loop (auto: uvloop when installed)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="intake rounds and searchable runs at 10,000 (default 1 quick, 3 full)",
    )
    parser.add_argument(
        "--api-sizes",
        help="comma-separated numbers of stored messages for the API suite "
        "(default 10000,100000; quick 10000)",
    )
    parser.add_argument(
        "--parse-sink",
        action="store_true",
        help="also measure a sink that parses every message with email.policy.default",
    )
    parser.add_argument(
        "--catcher-root",
        type=Path,
        help="run the catcher package found in this folder (e.g. a patched copy)",
    )
    parser.add_argument(
        "--compare",
        metavar="NAME=PATH",
        help="intake: also run the catcher package in PATH, reported as NAME",
    )
    args = parser.parse_args(argv)
    compare = None
    if args.compare:
        name, sep, path = args.compare.partition("=")
        if not sep or not name or not Path(path, "catcher").is_dir():
            parser.error("--compare: expected NAME=PATH, PATH holding a catcher/ package")
        compare = (name, Path(path).resolve())
    if args.catcher_root:
        if not Path(args.catcher_root, "catcher").is_dir():
            parser.error(f"--catcher-root: no catcher/ package in {args.catcher_root}")
        servers.CATCHER_ROOT = args.catcher_root.resolve()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SUITES)
    if unknown:
        parser.error(
            f"--only: unknown suite(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(SUITES)}"
        )
    sizes = suites.QUICK if args.quick else suites.FULL
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    if args.api_sizes:
        try:
            api_sizes = tuple(sorted(int(n) for n in args.api_sizes.split(",")))
        except ValueError:
            parser.error(
                f"--api-sizes: expected numbers such as 10000,100000, got {args.api_sizes}"
            )
        if not api_sizes or api_sizes[0] < 100:
            parser.error("--api-sizes: each size must be at least 100")
        sizes = dataclasses.replace(sizes, api_sizes=api_sizes)
    loops = tuple(loop.strip() for loop in args.loops.split(",") if loop.strip())

    def log(text: str) -> None:
        print(text, flush=True)

    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": report.machine(),
        "mode": "quick" if args.quick else "full",
        "sizes": dataclasses.asdict(sizes),
        "client_loop": _client_loop_name(args.client_loop),
        "server_loop": args.loop,
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "catcher_root": str(servers.CATCHER_ROOT),
    }
    m = results["machine"]
    log(f"$ {results['command']}")
    log(
        f"catcher {m['catcher']} | {m['cores']} cores, {m['cpu']} | Python {m['python']} | "
        f"aiosmtpd {m['aiosmtpd']} | uvloop {m['uvloop']} | server loops {','.join(loops)} "
        f"(other suites: {args.loop}) | load generator loop {results['client_loop']} | "
        f"load average {' '.join(f'{x:.2f}' for x in m['load_average_start'])}"
    )
    timings: dict[str, float] = {}
    results["suite_seconds"] = timings

    def timed(name: str, run: Any) -> Any:
        begun = time.monotonic()
        try:
            return run()
        finally:
            timings[name] = round(time.monotonic() - begun, 1)
            log(f"  ({name}: {timings[name]} s)")

    if "intake" in only:
        log("intake (catcher against the bare aiosmtpd sink):")
        results["intake"] = timed(
            "intake",
            lambda: suites.intake(sizes, loops, args.client_loop, args.parse_sink, log, compare),
        )
    if "growth" in only:
        log("growth and memory (~2 KB):")
        results["growth_memory"] = timed(
            "growth", lambda: suites.growth_and_memory(sizes, args.loop, args.client_loop, log)
        )
    if "memory" in only:
        log("memory (~100 KB):")
        results["memory_100k"] = timed(
            "memory", lambda: suites.memory_100k(sizes, args.loop, args.client_loop, log)
        )
    if "searchable" in only:
        log("time to searchable (2 KB at full speed, then search at once):")
        results["searchable"] = timed(
            "searchable", lambda: indexing.searchable(sizes, args.loop, args.client_loop, log)
        )
    if "pouring" in only:
        log("the API while mail pours in (alone, then with an API client):")
        results["pouring"] = timed(
            "pouring", lambda: indexing.pouring(sizes, args.loop, args.client_loop, log)
        )
    if "api" in only or "ui" in only:
        log("API (and UI):")
        results["api"] = timed(
            "api",
            lambda: suites.api(
                sizes, args.loop, args.client_loop, "ui" in only, log, api="api" in only
            ),
        )
    results["targets"] = report.judge(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    log("")
    log(report.table(results))
    log(f"\n{results['seconds']} s; JSON: {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _client_loop_name(choice: str) -> str:
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    sys.exit(main())
