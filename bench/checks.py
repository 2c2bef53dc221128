"""What the email checks cost: ``check`` over real-world mail, against ``parse`` of the same.

    python -m bench.checks [--rounds 5] [--no-hostile]

For every message of the shared corpus (``../shared/corpus``, or ``$CATCHER_CORPUS``) and
of tests/data, times ``parse`` (the baseline: what opening a message costs anyway) and
``check`` on the parsed model (compatibility, lint and links: what
``GET /api/messages/{id}/check`` does on its first request), in CPU seconds. Each round
times every message once with each, interleaved, so a busy machine slows both alike; a
message's figure is the median of its rounds. Prints p50, p90, p99 and the maximum over
the messages, and the ratio of check to parse at each. Then hostile HTML at 128 KB and
512 KB (``check`` reads at most 1 MB), best of three each, and the ratio of their times:
about 4 when the work is linear; and the same for the preview's colour-scheme rewrite
(``preview.color_scheme``) on tests/test_color_scheme.py's hostile HTML at 64 and
256 KB. Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.parse import machine
from catcher.checks import MAX_HTML, check
from catcher.parsing import parse
from catcher.preview import color_scheme
from tests.test_color_scheme import HOSTILE as SCHEME_HOSTILE

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CATCHER_CORPUS") or ROOT.parent / "shared" / "corpus")
DATA = ROOT / "tests" / "data"

HOSTILE: dict[str, Callable[[int], str]] = {
    "nested CSS blocks": lambda n: "<style>" + "a{" * (n // 2) + "</style>",
    "nested CSS functions": lambda n: "<p style='color:" + "f(" * (n // 2) + "'>x</p>",
    "nested @media": lambda n: "<style>" + "@media (prefers-color-scheme:dark){" * (n // 36),
    "one long selector list": lambda n: "<style>" + "a:hover>b~c+d.e#f[g]," * (n // 21) + "{}",
    "inline styles": lambda n: "<div style='color:#111;background:#eee'>x" * (n // 40),
    "links": lambda n: "<a href='http://10.0.0.1/x'>" * (n // 27),
    "unclosed elements": lambda n: "<table><tr><td><font color=red>" * (n // 32),
}


def messages() -> dict[str, bytes]:
    found = {}
    for root in (CORPUS, DATA):
        if root.is_dir():
            for path in sorted(root.rglob("*.eml")):
                found[str(path.relative_to(root.parent))] = path.read_bytes()
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def corpus(rounds: int) -> None:
    found = messages()
    if not found:
        raise SystemExit(f"no mail found in {CORPUS} or {DATA}")
    parse_times: dict[str, list[float]] = {name: [] for name in found}
    check_times: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(rounds):
        for name, raw in found.items():
            start = time.process_time()
            parsed = parse(raw)
            middle = time.process_time()
            check(raw, parsed)
            end = time.process_time()
            parse_times[name].append(middle - start)
            check_times[name].append(end - middle)
    parsed_ms = [1000 * statistics.median(t) for t in parse_times.values()]
    checked_ms = [1000 * statistics.median(t) for t in check_times.values()]
    slowest = max(check_times, key=lambda name: statistics.median(check_times[name]))
    print(f"{len(found)} messages ({CORPUS.name} and tests/data), {rounds} rounds, CPU ms:")
    print(f"  {'':6} {'parse':>8} {'check':>8} {'ratio':>6}")
    for label, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        p, c = percentile(parsed_ms, share), percentile(checked_ms, share)
        print(f"  {label:6} {p:8.2f} {c:8.2f} {c / p if p else 0:6.1f}")
    print(f"  slowest check: {slowest}")


def hostile() -> None:
    print(f"hostile HTML (check reads at most {MAX_HTML:,} characters), best of 3, s:")
    print(f"  {'':24} {'128 KB':>8} {'512 KB':>8} {'ratio':>6}")
    for name, make in HOSTILE.items():
        times = []
        for size in (128 * 1024, 512 * 1024):
            raw = b"Content-Type: text/html\r\n\r\n" + make(size).encode()
            parsed = parse(raw)
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                check(raw, parsed)
                best = min(best, time.process_time() - start)
            times.append(best)
        print(f"  {name:24} {times[0]:8.2f} {times[1]:8.2f} {times[1] / times[0]:6.1f}")


def schemes() -> None:
    """The preview's colour-scheme rewrite (``/html?scheme=dark``) on hostile HTML."""
    print("hostile HTML through the dark-scheme rewrite, best of 3, s:")
    print(f"  {'':24} {'64 KB':>8} {'256 KB':>8} {'ratio':>6}")
    for name, make in SCHEME_HOSTILE.items():
        times = []
        for size in (64 * 1024, 256 * 1024):
            html = make(size)
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                color_scheme(html, "dark")
                best = min(best, time.process_time() - start)
            times.append(best)
        print(f"  {name:24} {times[0]:8.2f} {times[1]:8.2f} {times[1] / max(times[0], 1e-4):6.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-hostile", action="store_true")
    args = parser.parse_args(argv)
    print(f"$ python -m bench.checks --rounds {args.rounds} | {machine()}")
    corpus(args.rounds)
    if not args.no_hostile:
        hostile()
        schemes()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
