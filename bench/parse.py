"""What parsing a message costs: catcher's MIME splitter against the compat32 parser it replaced.

    python -m bench.parse [--rounds 9] [--count 64] [--no-hostile] [--old-hostile]

For the bench corpora (~2 KB text messages, ~100 KB messages with a base64 attachment)
and the messages in tests/data, prints the CPU time per message of ``parse`` and of what
indexing a message costs (``parse`` + ``Summary.of`` + ``SearchText.of``), old against
new. Each round times every set once with each parser, interleaved, so a busy machine
slows both alike; a figure is the set's time divided by its size, the median of the
rounds. Then the linear-time check: hostile messages of 256 KB and 1 MB (best of three
each) and the ratio of their times, which is about 4 when the work is linear and 16 when
it is quadratic. ``--old-hostile`` also runs the old parser on them, at 32 KB and 128 KB,
giving up on a case after 20 s.

The old parser is the copy kept in tests/test_parsing_tree.py (``compat32``); the hostile
messages are tests/test_parsing_linear.py's. Run from the repository root.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from bench.mail import Corpus
from catcher.message import Envelope, SearchText, Summary
from catcher.parsing import mime
from tests.test_parsing_linear import HOSTILE
from tests.test_parsing_tree import compat32

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
ENVELOPE = Envelope("sender@example.com", ("inbox@example.com",))


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()} "
        f"({sys.implementation.name}), load average {load}"
    )


def index(module: Any) -> Callable[[bytes], object]:
    def run(raw: bytes) -> object:
        parsed = module.parse(raw)
        return Summary.of(parsed), SearchText.of(ENVELOPE, parsed)

    return run


def per_message(work: Callable[[bytes], object], messages: list[bytes]) -> float:
    """CPU seconds per message for one pass over the set."""
    start = time.process_time()
    for raw in messages:
        work(raw)
    return (time.process_time() - start) / len(messages)


def corpora(count: int) -> dict[str, list[bytes]]:
    sets = {kind: [Corpus(kind).message(i)[2] for i in range(count)] for kind in ("2k", "100k")}
    sets["tests/data"] = [path.read_bytes() for path in sorted(DATA.rglob("*.eml"))]
    return sets


def compare(rounds: int, count: int) -> None:
    sets = corpora(count)
    works = {
        ("parse", "old"): compat32.parse,
        ("parse", "new"): mime.parse,
        ("index", "old"): index(compat32),
        ("index", "new"): index(mime),
    }
    times: dict[tuple[str, str, str], list[float]] = {}
    for messages in sets.values():  # warm up: codecs, regular expressions, caches
        for work in works.values():
            per_message(work, messages[:8])
    for _ in range(rounds):
        for name, messages in sets.items():
            for (what, which), work in works.items():
                gc.collect()
                times.setdefault((name, what, which), []).append(per_message(work, messages))
    print(f"\nCPU time per message, median of {rounds} rounds")
    print("(index: parse + Summary.of + SearchText.of, what the store builds for each message)")
    print(f"{'messages':<12}{'size':>9}  {'what':<6}{'old us':>10}{'new us':>10}{'old/new':>9}")
    for name, messages in sets.items():
        size = sum(map(len, messages)) / len(messages)
        for what in ("parse", "index"):
            old = statistics.median(times[(name, what, "old")]) * 1e6
            new = statistics.median(times[(name, what, "new")]) * 1e6
            cells = f"{old:>10.1f}{new:>10.1f}{old / new:>9.1f}"
            print(f"{name:<12}{size / 1024:>7.1f} K  {what:<6}{cells}")


class _TooSlow(Exception):
    pass


def _give_up(signum: int, frame: FrameType | None) -> None:
    raise _TooSlow


def cpu(parse: Callable[[bytes], object], raw: bytes, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.process_time()
        parse(raw)
        best = min(best, time.process_time() - start)
    return best


def hostile(old: bool) -> None:
    print("\nHostile input, CPU ms (best of 3); linear work gives a ratio near 4, quadratic 16")
    header = f"{'case':<32}{'256 KB':>9}{'1 MB':>9}{'ratio':>7}"
    if old:
        header += f"  {'old 32 KB':>10}{'128 KB':>10}{'ratio':>7}"
    print(header)
    signal.signal(signal.SIGALRM, _give_up)
    for name, make in HOSTILE.items():
        small = cpu(mime.parse, make(256 * 1024))
        large = cpu(mime.parse, make(1024 * 1024))
        line = f"{name:<32}{small * 1e3:>9.1f}{large * 1e3:>9.1f}{large / small:>7.1f}"
        if old:
            found: list[float | None] = []
            for size in (32 * 1024, 128 * 1024):
                signal.alarm(20)
                try:
                    found.append(cpu(compat32.parse, make(size), runs=1))
                except (_TooSlow, RecursionError):
                    found.append(None)
                finally:
                    signal.alarm(0)
            a, b = found
            cells = [f"{x * 1e3:>10.1f}" if x is not None else f"{'> 20 s':>10}" for x in found]
            ratio = f"{b / a:>7.1f}" if a and b else f"{'-':>7}"
            line += "  " + "".join(cells) + ratio
        print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.parse", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument(
        "--count", type=int, default=64, help="messages in each bench corpus (default 64)"
    )
    parser.add_argument(
        "--no-hostile", action="store_true", help="skip the hostile-input linearity check"
    )
    parser.add_argument(
        "--old-hostile",
        action="store_true",
        help="also run the old parser on hostile input (32 KB and 128 KB; slow)",
    )
    args = parser.parse_args()
    print(machine())
    compare(args.rounds, args.count)
    if not args.no_hostile:
        hostile(args.old_hostile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
