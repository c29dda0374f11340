"""Markdown tables of a bench JSON, for BENCHMARKS.md.

    fleetgraph bench report .fleetgraph/bench.json
"""

from __future__ import annotations

from typing import Any

MARK = {True: "met", False: "**missed**", None: "not measured"}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else f"{c:,}" if isinstance(c, int) else str(c)
                                for c in row) + " |" for row in rows]
    return lines


def _section(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    return [f"### {title}", "", *_table(header, rows), ""]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python "
           f"{m['python']}, {m['platform']}; load average at start {m['load_average']}, "
           f"at the end {m.get('load_average_end')}.", ""]
    rows = []
    for name, e in results["sizes"].items():
        i = e["ingest_embedded"]
        rows.append([name, e["stored_edges"], i["events"], i["events_per_s"],
                     i["baseline_events_per_s"], i["ratio_to_baseline"]])
    out += _section("Ingest, embedded", ["size", "stored edges", "events", "events/s",
                                         "raw SQLite baseline events/s", "ratio"], rows)
    s = results.get("stack_ingest")
    if s and "error" not in s:
        rows = [[n, s[n]["messages"], s[n]["worker"]["upserts_stored"],
                 s[n]["worker"]["busy_s"], s[n]["worker"]["events_per_s"],
                 s[n]["worker"]["peak_rss_mib"]] for n in ("short", "long")]
        b = s["baseline"]
        out += _section("Ingest, Kafka -> Faust -> Cassandra", [
            "stream", "events", "upserts stored", "busy s", "events/s", "worker peak RSS MiB"],
            rows)
        out += [f"Driver baseline (`execute_concurrent_with_args`, the "
                     f"{b['upserts']:,} upserts of the long stream as {b['statements']:,} "
                     f"statements): {b['seconds']} s, {b['statements_per_s']:,} statements/s, "
                     f"**{b['events_per_s']:,} events/s**; ratio per event "
                     f"**{s['ratio_to_baseline']}**. Per stored row: worker "
                     f"{s.get('upserts_per_s')} upserts/s, driver "
                     f"{s.get('baseline_upserts_per_s')} upserts/s, ratio "
                     f"**{s.get('rows_ratio_to_baseline')}**. Dedup window "
                     f"{s['dedup_window_s']} s; "
                     f"worker RSS growth on the 10x stream {s['worker_rss_growth']:+.1%}.", ""]
    elif s:
        out += ["### Ingest, Kafka -> Faust -> Cassandra", "", f"failed: {s['error']}", ""]
    f = results.get("freshness")
    if f and "runs" in f:
        rows = [[r["dedup_window_s"], r["background_rate"], r["runs"], r["lost"],
                 r["p50_ms"], r["p99_ms"], r["max_ms"], r["worker_peak_rss_mib"],
                 r["server_peak_rss_mib"]] for r in f["runs"]]
        out += _section("Freshness", [
            "dedup window s", "background msg/s", "probes seen", "lost", "p50 ms", "p99 ms",
            "max ms", "worker peak RSS MiB", "server peak RSS MiB"], rows)
    elif f:
        out += ["### Freshness", "", f"failed: {f['error']}", ""]
    for name, e in results["sizes"].items():
        c = e.get("queries_cassandra") or {}
        cq = c.get("queries", {})
        rows = []
        for q, v in e["queries_embedded"].items():
            cv = cq.get(q, {})
            rows.append([q, v["p50_ms"], v["p99_ms"], v["runs"], cv.get("p50_ms"),
                         cv.get("p99_ms"), cv.get("runs"), v["networkx_p50_ms"],
                         v["networkx_p99_ms"],
                         round(v["p99_ms"] / v["networkx_p99_ms"], 2)
                         if v["networkx_p99_ms"] else None,
                         v.get("answer_rows_mean"), v.get("p50_us_per_answer_row")])
        out += _section(f"Queries at {name} ({e['stored_edges']:,} edges), ms", [
            "query", "embedded p50", "embedded p99", "runs", "Cassandra p50", "Cassandra p99",
            "runs", "networkx p50", "networkx p99", "embedded p99 / networkx p99",
            "answer rows (mean)", "embedded p50 µs per answer row"], rows)
        if "load" in c:
            ld = c["load"]
            out.append(f"\nCassandra loaded by the bulk loader: {ld['statements']:,} statements"
                       f" in {ld['seconds']} s ({ld['statements_per_s']:,}/s).")
        elif "error" in c:
            out.append(f"\nCassandra: failed: {c['error'][:500]}")
        out.append("")
    sm = results.get("steady_memory")
    if sm and "runs" not in sm and "error" not in sm:
        out += _section("Memory, Faust worker and server on a steady stream", [
            "stream", "messages", "worker peak RSS MiB", "server peak RSS MiB",
            "freshness p50 ms", "p99 ms"],
            [[n, sm[n]["background_messages"], sm[n]["worker_peak_rss_mib"],
              sm[n]["server_peak_rss_mib"], sm[n]["p50_ms"], sm[n]["p99_ms"]]
             for n in ("short", "long")])
    me = results.get("memory_embedded")
    if me:
        out += ["### Memory, embedded runner", "", f"Peak RSS {me['short']['peak_rss_mib']} MiB"
                f" for {me['short']['events']:,} events, {me['long']['peak_rss_mib']} MiB for "
                f"{me['long']['events']:,} events: growth {me['growth']:+.1%}.", ""]
    out += _section("Targets", ["target", "measured", "verdict"],
                    [[t["target"], t["value"], MARK[t["met"]]] for t in results.get("targets", [])])
    return "\n".join(out) + "\n"
