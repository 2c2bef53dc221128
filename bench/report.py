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
            f"growth, last/first {growth['window']} of {growth['total']} (median round)",
            growth["ratio"],
            ">= 0.9",
            growth["ratio"] >= 0.9,
        )
    memory: list[tuple[str, dict[str, Any] | None]] = [
        ("memory ~2 KB (growth)", results.get("growth_memory", {}).get("memory_2k")),
        ("memory ~100 KB", results.get("memory_100k")),
    ]
    api = results.get("api", {})
    sizes = sorted(int(k) for k in api if k.isdigit())
    memory += [(f"memory ~2 KB, N={n}", api[str(n)].get("memory")) for n in sizes]
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
                    f"{label}, RSS/msg indexed (B)",
                    row["rss_per_msg_parsed"],
                    f"<= {row['budget_per_msg']}",
                    row["rss_per_msg_parsed"] <= row["budget_per_msg"],
                )
    for n in sizes:
        row = api[str(n)]
        for field, label, limit in (
            ("list", "list p50, offset 0", 2),
            ("list_deep", "list p50, offset N/2", 2),
            ("list_last", "list p50, offset N-50", 2),
            ("get", "get p50", 2),
            ("search", "search p50, rare word", 50),
            ("search_common", "search p50, common word", 50),
            ("search_common_fresh", "search p50, common word never asked", 50),
            ("search_to", "search p50, to=", 50),
            ("search_from", "search p50, from=", 50),
            ("search_subject", "search p50, subject=", 50),
            ("search_subject_fresh", "search p50, subject= never asked", 50),
            ("wait", "wait, 250 -> answer p50", 5),
        ):
            if field in row:
                value = row[field]["p50_ms"]
                add(f"api N={n}: {label} (ms)", value, f"< {limit}", value < limit)
    searchable = results.get("searchable", {})
    for key in sorted((k for k in searchable if k.isdigit()), key=int):
        row = searchable[key]
        seconds = 1.0 if int(key) <= 10_000 else 5.0
        add(
            f"searchable N={key}: first search after last 250 (s)",
            row["searchable_s"],
            f"< {seconds:g}",
            row["searchable_s"] < seconds and row["first_search_complete"],
        )
        ratio = row["indexing_cpu_us_per_msg"] / row["intake_cpu_us_per_msg"]
        add(
            f"searchable N={key}: indexing / intake CPU per msg",
            round(ratio, 3),
            "<= 1.0",
            ratio <= 1.0,
        )
    pouring = results.get("pouring", {})
    for case in ("steady", "burst"):
        pair = pouring.get(case)
        if not pair:
            continue
        name = (
            f"{pouring['rate']:g}/s steady"
            if case == "steady"
            else f"{pouring['burst_count']} burst"
        )
        loaded = pair["with_api"]["api"]
        for kind in ("list", "get"):
            value = loaded[kind]["p99_ms"]
            add(f"pouring, {name}: {kind} p99 (ms)", value, "< 50", value < 50)
        if case == "steady":
            value = loaded["search"]["max_ms"]
            add(f"pouring, {name}: search max (ms)", value, "< 200", value < 200)
            ratio = pair["with_api"]["per_second"] / pair["alone"]["per_second"]
            # "No lower": the paced rate is the offered rate to within the pacing's jitter.
            add(
                f"pouring, {name}: intake with API / alone",
                round(ratio, 3),
                ">= 0.99",
                ratio >= 0.99,
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
    end = m.get("load_average_end")
    lines.append(
        f"date: {m['date']}; mode: {results['mode']}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in m['load_average_start'])}"
        + (f", at end {' '.join(f'{x:.2f}' for x in end)}" if end else "")
    )
    lines.append(f"command: {results.get('command', 'python -m bench')}")
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
            f"{g['server_cpu_us_per_msg_second_half']} us/msg"
            + (
                f", indexing worker {g['indexing_cpu_us_per_msg_first_half']} -> "
                f"{g['indexing_cpu_us_per_msg_second_half']} us/msg"
                if "indexing_cpu_us_per_msg_first_half" in g
                else ""
            )
            + f"); failures {g['failures']}"
            + (f"; load {g['load_average'][0]}" if "load_average" in g else "")
            + (f"; ratio by round {g['round_ratios']}" if "round_ratios" in g else "")
        )
        if g.get("window_rates"):
            lines.append(
                f"growth, msg/s per {g['window']}-message window: "
                + " ".join(f"{r:.0f}" for r in g["window_rates"])
            )
    api_memory = [
        (f"2k api N={k}", r["memory"])
        for k, r in results.get("api", {}).items()
        if k.isdigit() and "memory" in r
    ]
    if not api_memory and results.get("api", {}).get("memory_2k_api"):
        api_memory = [("2k (api)", results["api"]["memory_2k_api"])]
    memory_rows = [
        (k, r)
        for k, r in (
            ("2k", (gm or {}).get("memory_2k")),
            *api_memory,
            ("100k", results.get("memory_100k")),
        )
        if r
    ]
    if memory_rows:
        lines.append("")
        lines.append(
            "memory: catcher's VmRSS over the idle RSS, per message, as stored (read the "
            "moment the fill ends) and indexed (after a search); worker: the indexing "
            "worker's own RSS, not counted"
        )
        lines.append(
            f"{'memory':<16} {'messages':>9} {'raw B/msg':>10} {'RSS B/msg':>10} {'x raw':>6} "
            f"{'indexed B/msg':>14} {'x raw':>6} {'budget B/msg':>13} {'worker MB':>10}"
        )
        for label, r in memory_rows:
            parsed = r.get("rss_per_msg_parsed")
            parsed_text = "-" if parsed is None else str(parsed)
            worker = r.get("worker_rss_mb")
            lines.append(
                f"{label:<16} {r['messages']:>9} {r['raw_bytes_per_msg']:>10} "
                f"{r['rss_per_msg']:>10} {r['ratio_to_raw']:>6.2f} {parsed_text:>14} "
                f"{r.get('ratio_to_raw_parsed', float('nan')):>6.2f} "
                f"{r['budget_per_msg']:>13} {'-' if worker is None else worker:>10}"
            )
    searchable = results.get("searchable")
    if searchable:
        lines.append("")
        lines.extend(_searchable_lines(searchable))
    pouring = results.get("pouring")
    if pouring:
        lines.append("")
        lines.extend(_pouring_lines(pouring))
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
            ("list 50 at offset N-50", "list_last"),
            ("get (first open)", "get_cold"),
            ("get, 0.3 s after fill", "get_indexing"),
            ("get (parsed)", "get"),
            ("search, rare word", "search"),
            ("search, common word", "search_common"),
            ("  never asked before", "search_common_fresh"),
            ("search to=", "search_to"),
            ("search from=", "search_from"),
            ("search subject=", "search_subject"),
            ("  never asked before", "search_subject_fresh"),
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
        lines.append(
            f"{'load average (1 min)':<22}"
            + "".join(f"{api[k].get('load_average', [float('nan')])[0]:>22.2f}" for k in keys)
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
        lines.append(f"{'target':<56} {'value':>10} {'limit':>10}  met")
        for t in targets:
            met = "yes" if t["met"] else "NO"
            lines.append(f"{t['target']:<56} {t['value']!s:>10} {t['limit']:>10}  {met}")
    return "\n".join(lines)


def _searchable_lines(searchable: dict[str, Any]) -> list[str]:
    lines = [
        f"time to searchable: 2 KB at full speed, c={searchable['concurrency']}, into a fresh "
        "catcher (median of the rounds",
        "at N <= 10,000; once above); then at once a search for a rare word, a second search "
        "and a list.",
        "cpu/msg from /proc: the server's own while mail arrived (intake), and every indexing "
        "worker's",
        f"(its start-up included: {searchable['worker_startup_cpu_ms']:.0f} ms); 'after 250': "
        "the worker's CPU after the last 250",
        f"{'N':>7} {'msg/s':>7} {'searchable s':>13} {'2nd search ms':>14} {'list ms':>8} "
        f"{'all found':>9} {'intake us/msg':>14} {'indexing us/msg':>16} "
        f"{'indexing after 250':>19} {'load':>5}",
    ]
    for key in sorted((k for k in searchable if k.isdigit()), key=int):
        r = searchable[key]
        lines.append(
            f"{key:>7} {r['per_second']:>7.0f} {r['searchable_s']:>13.3f} "
            f"{r['second_search_ms']:>14.2f} {r['list_ms']:>8.2f} "
            f"{'yes' if r['first_search_complete'] else 'NO':>9} "
            f"{r['intake_cpu_us_per_msg']:>14.0f} {r['indexing_cpu_us_per_msg']:>16.0f} "
            f"{r['indexing_cpu_after_ms'] / 1000:>17.2f} s {r['load_average'][0]:>5.2f}"
        )
    return lines


def _pouring_lines(pouring: dict[str, Any]) -> list[str]:
    lines = [
        f"the API while mail pours in: 2 KB at c={pouring['concurrency']}, "
        f"{pouring['rate']:g}/s for {pouring['seconds']:g} s (steady) or "
        f"{pouring['burst_count']} at full speed (burst),",
        "each on a fresh catcher, alone and with an API client (list and get back to back, a "
        "search a second;",
        "its requests during the sending; 'then idle': the same client once all is indexed). "
        "server us: catcher's",
        "CPU per message, the API client's requests included; indexing us: the worker's "
        "(0: no worker started)",
        f"{'case':<16} {'msg/s':>7} {'x alone':>7} {'smtp p50/p99 ms':>16} {'server us':>9} "
        f"{'indexing us':>11} {'searchable s':>12} {'list p50/p99':>14} {'get p50/p99':>14} "
        f"{'search p50/max':>15} {'load':>5}",
    ]

    def pair(cell: dict[str, Any], second: str = "p99_ms") -> str:
        return f"{cell['p50_ms']:.1f}/{cell[second]:.1f}" if cell["requests"] else "-"

    for case in ("steady", "burst"):
        rows = pouring.get(case)
        if not rows:
            continue
        alone = rows["alone"]["per_second"]
        for variant in ("alone", "with_api"):
            r = rows[variant]
            api = r.get("api")
            lines.append(
                f"{case + ' ' + variant.replace('_', ' '):<16} {r['per_second']:>7.0f} "
                f"{r['per_second'] / alone:>7.3f} "
                f"{r['p50_ms']:>7.2f}/{r['p99_ms']:<8.2f} {r['intake_cpu_us_per_msg']:>9.0f} "
                f"{r['indexing_cpu_us_per_msg']:>11.0f} {r['searchable_s']:>12.3f} "
                + (
                    f"{pair(api['list']):>14} {pair(api['get']):>14} "
                    f"{pair(api['search'], 'max_ms'):>15}"
                    if api
                    else f"{'-':>14} {'-':>14} {'-':>15}"
                )
                + f" {r['load_average'][0]:>5.2f}"
            )
            idle = r.get("api_idle")
            if idle:
                lines.append(
                    f"{'  then idle':<16} {'':>7} {'':>7} {'':>16} {'':>9} {'':>11} {'':>12} "
                    f"{pair(idle['list']):>14} {pair(idle['get']):>14} "
                    f"{pair(idle['search'], 'max_ms'):>15}"
                )
    return lines
