"""Where a server spends its time per message: py-spy samples while the load generator runs.

    python -m bench.profile [--server catcher|sink|sink-wide] [--loop uvloop|asyncio]
                            [--kind 2k|100k] [--concurrency 20] [--count 20000]
                            [--api] [--subprocesses] [--catcher-root PATH]

Needs ``py-spy`` (pip install py-spy) and the right to trace (root, or ptrace allowed).
Prints the functions with the most samples on top of the stack (self) and anywhere in
the stack (total), per thread, and writes the collapsed stacks next to the JSON results
(bench/results/profile-*.txt) for a flame graph tool.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import loadgen, servers
from bench.mail import Corpus


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--server", default="catcher", choices=("catcher", "sink", "sink-wide"))
    parser.add_argument("--loop", default="uvloop", choices=("asyncio", "uvloop"))
    parser.add_argument("--kind", default="2k", choices=("2k", "100k"))
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--extra", default="", help="extra catcher CLI arguments, space-separated")
    parser.add_argument(
        "--api",
        action="store_true",
        help="run the API client (bench.apiload: list, get, a search a second) during the load",
    )
    parser.add_argument(
        "--subprocesses",
        action="store_true",
        help="sample the server's child processes too (catcher's indexing worker)",
    )
    parser.add_argument(
        "--catcher-root", type=Path, help="profile the catcher package in this folder"
    )
    args = parser.parse_args()
    if args.catcher_root:
        servers.CATCHER_ROOT = args.catcher_root.resolve()
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    if args.server == "catcher":
        server = servers.start_catcher(args.loop, *args.extra.split())
    else:
        server = servers.start_sink(args.loop, wide=args.server == "sink-wide")
    out = (
        Path(__file__).parent
        / "results"
        / (
            f"profile-{args.server}-{args.loop}-{args.kind}-c{args.concurrency}"
            f"{'-api' if args.api else ''}.txt"
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(args.kind)
    with server:
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                str(args.rate),
                "--format",
                "raw",
                "--threads",
                "--output",
                str(out),
                "--nonblocking",
                *(["--subprocesses"] if args.subprocesses else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        api = None
        if args.api and server.url:
            from bench.apiload import APILoad

            api = APILoad(server.url, servers.env(), str(servers.ROOT))

        async def go() -> loadgen.LoadResult:
            generator = loadgen.Generator(*server.smtp, args.concurrency)
            await generator.open()
            try:
                return await generator.phase(corpus.message, 0, args.count)
            finally:
                await generator.close()

        try:
            result = loadgen.run(go)
        finally:
            if api is not None:
                api.stop()
                api.close()
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(30)
    print(f"{server.name}: {result.rate:.0f} msg/s, {result.failures} failures; stacks in {out}")
    summarize(out, result.ok, args.top)
    return 0


def summarize(path: Path, messages: int, top: int) -> None:
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            # --nonblocking reads the process's memory while it runs and now and then
            # takes a torn string for a frame name, newlines and all: skip those lines.
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        threads[frames[0]] += count
        self_counts[_short(frames[-1])] += count
        for frame in set(map(_short, frames[1:])):
            total_counts[frame] += count
    if not samples:
        print("no samples (is ptrace allowed?)")
        return
    print(f"{samples} samples over {messages} messages")
    print("threads: " + ", ".join(f"{t} {c / samples:.0%}" for t, c in threads.most_common(6)))
    print(f"\n{'self %':>7}  function")
    for name, count in self_counts.most_common(top):
        print(f"{count / samples:>7.1%}  {name}")
    print(f"\n{'total %':>7}  function")
    for name, count in total_counts.most_common(top):
        print(f"{count / samples:>7.1%}  {name}")


def _short(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)".
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, _ = where.rpartition(":")
    for marker in ("site-packages/", "lib/python3", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{name} ({file})"


if __name__ == "__main__":
    sys.exit(main())
