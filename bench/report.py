"""The machine, the targets, and the results as a plain-text table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from importlib import metadata
from typing import Any

from bench.servers import ROOT


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "",
            )
    except OSError:
        pass
    sys.path.insert(0, str(ROOT))
    try:
        import catcher

        version = catcher.__version__
    except Exception as error:  # the report still runs with a broken checkout
        version = f"unknown ({error})"

    def package(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "catcher": version,
        "aiosmtpd": package("aiosmtpd"),
        "uvloop": package("uvloop"),
        "h11": package("h11"),
        "flask": package("flask"),
        "load_average_start": list(os.getloadavg()),
    }


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: the figure, the limit, and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: str, met: bool | None) -> None:
        rows.append({"target": name, "value": value, "limit": limit, "met": met})

    intake = results.get("intake", {}).get("median", {})
    case = intake.get("2k_c20", {})
    for name, row in case.items():
        if name.startswith("sink"):
            continue
        kind, loop = name.rsplit("-", 1)
        for sink_name, label in ((f"sink-{loop}", "sink"), (f"sink-wide-{loop}", "wide sink")):
            sink = case.get(sink_name)
            if sink:
                ratio = row["per_second"] / sink["per_second"]
                add(
                    f"intake 2k c20, {kind}/{label} ({loop})",
                    round(ratio, 3),
                    ">= 0.8",
                    ratio >= 0.8,
                )
    stock = case.get("sink-asyncio")
    for kind in sorted({n.rsplit("-", 1)[0] for n in case if not n.startswith("sink")}):
        best = max(v["per_second"] for k, v in case.items() if k.rsplit("-", 1)[0] == kind)
        if stock:
            ratio = best / stock["per_second"]
            add(
                f"intake 2k c20, best {kind} / bare asyncio sink",
                round(ratio, 3),
                ">= 1.0",
                ratio >= 1.0,
            )
    growth = results.get("growth_memory", {}).get("growth")
    if growth:
        add(
            f"growth, last/first {growth['window']} of {growth['total']}",
            growth["ratio"],
            ">= 0.9",
            growth["ratio"] >= 0.9,
        )
    memory = (
        (
            "memory ~2 KB",
            results.get("api", {}).get("memory_2k_api")
            or results.get("growth_memory", {}).get("memory_2k"),
        ),
        ("memory ~100 KB", results.get("memory_100k")),
    )
    for label, row in memory:
        if row:
            add(
                f"{label}, RSS/msg stored (B)",
                row["rss_per_msg"],
                f"<= {row['budget_per_msg']}",
                row["rss_per_msg"] <= row["budget_per_msg"],
            )
            if "rss_per_msg_parsed" in row:
                add(
                    f"{label}, RSS/msg parsed (B)",
                    row["rss_per_msg_parsed"],
                    f"<= {row['budget_per_msg']}",
                    row["rss_per_msg_parsed"] <= row["budget_per_msg"],
                )
    api = results.get("api", {})
    sizes = sorted(int(k) for k in api if k.isdigit())
    if sizes:
        small = api[str(sizes[0])]
        add(
            f"api N={sizes[0]}: list p50 (ms)",
            small["list"]["p50_ms"],
            "< 5",
            small["list"]["p50_ms"] < 5,
        )
        add(
            f"api N={sizes[0]}: get p50 (ms)",
            small["get"]["p50_ms"],
            "< 5",
            small["get"]["p50_ms"] < 5,
        )
        add(
            f"api N={sizes[0]}: search p50 (ms)",
            small["search"]["p50_ms"],
            "< 50",
            small["search"]["p50_ms"] < 50,
        )
        add(
            f"api N={sizes[0]}: wait after 250 p50 (ms)",
            small["wait"]["p50_ms"],
            "< 20",
            small["wait"]["p50_ms"] < 20,
        )
        if len(sizes) > 1:
            big = api[str(sizes[-1])]
            add(
                f"api N={sizes[-1]}: list p50 (ms)",
                big["list"]["p50_ms"],
                "< 10",
                big["list"]["p50_ms"] < 10,
            )
    return rows


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append(
        f"machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}, catcher {m['catcher']}, "
        f"aiosmtpd {m['aiosmtpd']}, uvloop {m['uvloop']}, "
        f"load generator loop {results['client_loop']}"
    )
    lines.append(
        f"date: {m['date']}; mode: {results['mode']}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in m['load_average_start'])}"
    )
    intake = results.get("intake")
    if intake:
        lines.append("")
        lines.append(
            f"SMTP intake (median of {results['sizes']['rounds']} rounds; "
            f"messages ~{intake['message_bytes']['2k']} B and ~{intake['message_bytes']['100k']} B)"
        )
        lines.append(
            "x sink: against the bare sink on the same loop; x wide: against the sink with "
            "catcher's stream limit, same loop; x stock: against the bare asyncio sink; "
            "cpu: server CPU per message; client: the load generator's"
        )
        lines.append(
            f"{'case':<10} {'server':<20} {'msg/s':>9} {'x sink':>7} {'x wide':>7} {'x stock':>8} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'cpu us/msg':>11} {'client':>7} {'fail':>5}"
        )
        for case, by_server in intake["median"].items():
            stock = by_server.get("sink-asyncio", {}).get("per_second")
            for name, row in by_server.items():
                loop = name.rsplit("-", 1)[-1]
                sink = by_server.get(f"sink-{loop}", {}).get("per_second")
                vs_sink = f"{row['per_second'] / sink:.2f}" if sink else "-"
                wide = by_server.get(f"sink-wide-{loop}", {}).get("per_second")
                vs_wide = f"{row['per_second'] / wide:.2f}" if wide else "-"
                vs_stock = f"{row['per_second'] / stock:.2f}" if stock else "-"
                lines.append(
                    f"{case:<10} {name:<20} {row['per_second']:>9.1f} {vs_sink:>7} {vs_wide:>7} "
                    f"{vs_stock:>8} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} "
                    f"{row['server_cpu_us_per_msg']:>11.0f} "
                    f"{row.get('client_cpu_us_per_msg', float('nan')):>7.0f} "
                    f"{row['failures']:>5}"
                )
    gm = results.get("growth_memory")
    if gm:
        g = gm["growth"]
        lines.append("")
        lines.append(
            f"growth: first {g['window']} {g['first_per_second']}/s, last {g['window']} of "
            f"{g['total']} {g['last_per_second']}/s, ratio {g['ratio']} (halves {g['half_ratio']}; "
            f"server cpu {g['server_cpu_us_per_msg_first_half']} -> "
            f"{g['server_cpu_us_per_msg_second_half']} us/msg); failures {g['failures']}"
        )
    memory_rows = [
        (k, r)
        for k, r in (
            ("2k", (gm or {}).get("memory_2k")),
            ("2k (api)", results.get("api", {}).get("memory_2k_api")),
            ("100k", results.get("memory_100k")),
        )
        if r
    ]
    if memory_rows:
        lines.append("")
        lines.append(
            f"{'memory':<10} {'messages':>9} {'raw B/msg':>10} {'RSS B/msg':>10} {'x raw':>6} "
            f"{'parsed B/msg':>13} {'x raw':>6} {'budget B/msg':>13}"
        )
        for label, r in memory_rows:
            parsed = r.get("rss_per_msg_parsed")
            parsed_text = "-" if parsed is None else str(parsed)
            lines.append(
                f"{label:<10} {r['messages']:>9} {r['raw_bytes_per_msg']:>10} "
                f"{r['rss_per_msg']:>10} {r['ratio_to_raw']:>6.2f} {parsed_text:>13} "
                f"{r.get('ratio_to_raw_parsed', float('nan')):>6.2f} "
                f"{r['budget_per_msg']:>13}"
            )
    api = results.get("api")
    if api:
        lines.append("")
        lines.append(
            f"{'API p50/p99 ms':<22}" + "".join(f"{'N=' + k:>22}" for k in api if k.isdigit())
        )
        keys = [k for k in api if k.isdigit()]
        for label, field in (
            ("list 50 newest", "list"),
            ("list 50 at offset N/2", "list_deep"),
            ("get (first open)", "get_cold"),
            ("get, 0.3 s after fill", "get_indexing"),
            ("get (parsed)", "get"),
            ("search, rare word", "search"),
            ("search, common word", "search_common"),
            ("filtered to+from+subj", "filtered"),
            ("wait: 250 -> answer", "wait"),
            ("SSE: 250 -> event", "sse"),
        ):
            cells = []
            for k in keys:
                r = api[k].get(field)
                cells.append(f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}" if r else "-")
            lines.append(f"{label:<22}" + "".join(f"{c:>22}" for c in cells))
        lines.append(
            f"{'first list (ms)':<22}" + "".join(f"{api[k]['list_first_ms']:>22.1f}" for k in keys)
        )
        lines.append(
            f"{'first search (s)':<22}"
            + "".join(f"{api[k]['first_search_s']:>22.2f}" for k in keys)
        )
    ui = (api or {}).get("ui") or results.get("ui")
    if ui:
        lines.append("")
        if "skipped" in ui:
            lines.append(f"UI: skipped ({ui['skipped']})")
        elif ui["rows_seen"]:
            lines.append(
                f"UI: first inbox row visible {ui['first_row_ms']} ms after navigation "
                f"(DOMContentLoaded {ui['dom_content_loaded_ms']} ms, first /api/messages "
                f"{ui['first_api_response_ms']} ms), median of {ui['loads']}"
            )
        else:
            lines.append(
                f"UI: no inbox rows seen; DOMContentLoaded {ui['dom_content_loaded_ms']} ms, "
                f"first /api/messages response {ui['first_api_response_ms']} ms"
            )
    targets = results.get("targets")
    if targets:
        lines.append("")
        if results.get("mode") == "quick":
            lines.append("quick mode: smaller counts than the targets are set for; indicative only")
        lines.append(f"{'target':<52} {'value':>10} {'limit':>10}  met")
        for t in targets:
            met = "yes" if t["met"] else "NO"
            lines.append(f"{t['target']:<52} {t['value']!s:>10} {t['limit']:>10}  {met}")
    return "\n".join(lines)
