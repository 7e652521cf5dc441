#!/usr/bin/env python3
"""Tables from a bench/run.sh results file: python3 bench/summarize.py bench/results/<timestamp>.jsonl

One table per scenario: each server's figures, then Parley's ratio to each peer (Parley / peer) for
every figure. The arrow in a column's name tells which way is better: ↑ higher, ↓ lower."""
import json
import sys

# scenario -> [(column title, JSON key, better: +1 higher / -1 lower / 0 neither, format)]
COLUMNS = {
    "fanout": [
        ("deliv/s ↑", "deliveries_per_s", +1, "{:,.0f}"),
        ("p50 ms ↓", "lat_p50_us", -1, "ms"),
        ("p99 ms ↓", "lat_p99_us", -1, "ms"),
        ("p99.9 ms ↓", "lat_p999_us", -1, "ms"),
        ("srv CPU %", "server_cpu_pct", 0, "{:.0f}"),
        ("µs CPU/deliv ↓", "server_cpu_us_per_delivery", -1, "{:.3f}"),
    ],
    "rate": [
        ("deliv/s", "deliveries_per_s", 0, "{:,.0f}"),
        ("µs CPU/deliv ↓", "server_cpu_us_per_delivery", -1, "{:.3f}"),
        ("srv CPU %", "server_cpu_pct", 0, "{:.0f}"),
        ("p50 ms ↓", "lat_p50_us", -1, "ms"),
        ("p99 ms ↓", "lat_p99_us", -1, "ms"),
        ("p99.9 ms ↓", "lat_p999_us", -1, "ms"),
    ],
    "rooms": [
        ("deliv/s", "deliveries_per_s", 0, "{:,.0f}"),
        ("p50 ms ↓", "lat_p50_us", -1, "ms"),
        ("p99 ms ↓", "lat_p99_us", -1, "ms"),
        ("p99.9 ms ↓", "lat_p999_us", -1, "ms"),
        ("srv CPU %", "server_cpu_pct", 0, "{:.0f}"),
        ("µs CPU/deliv ↓", "server_cpu_us_per_delivery", -1, "{:.3f}"),
    ],
    "idle": [
        ("connected", "connected", 0, "{:,.0f}"),
        ("connects/s ↑", "connects_per_s", +1, "{:,.0f}"),
        ("RSS B/conn ↓", "server_rss_bytes_per_conn", -1, "{:,.0f}"),
        ("RSS MiB", "server_rss_kib_connected", 0, "MiB"),
        ("µs CPU/connect ↓", "server_cpu_us_per_connect", -1, "{:,.0f}"),
        ("gen CPU % connecting", "gen_connect_cpu_pct", 0, "{:.0f}"),
    ],
}
# shown for every scenario, after the scenario's own columns
COMMON = [
    ("lost", "lost", 0, "{:,.0f}"),
    ("undeliv@end", "undelivered", 0, "{:,.0f}"),
    ("errors", None, 0, "{:,.0f}"),
    ("gen CPU %", "gen_cpu_pct", 0, "{:.0f}"),
]
SCENARIO_TITLES = {
    "fanout": "fanout: 1 room x 1,000 members, 10 senders, window 8, 140 B — throughput",
    "rate": "rate: 1 room x 1,000 members at 100 msg/s = 100,000 deliveries/s — cost and latency",
    "rooms": "rooms: 10,000 clients in 1,000 rooms of 10, each sends 1 msg/s — latency",
    "idle": "idle: 15,000 idle connections — memory and connect rate",
}


def value(rec, key):
    if key == "errors":
        return ((rec.get("connect_failed") or 0) + (rec.get("unexpected_closes") or 0) +
                (rec.get("protocol_errors") or 0) + (rec.get("server_errors") or 0) + (rec.get("misrouted") or 0) +
                (rec.get("duplicates") or 0) + (rec.get("reordered") or 0) + (rec.get("unparsed") or 0))
    v = rec.get(key)
    return v if isinstance(v, (int, float)) else None


def fmt(v, f):
    if v is None:
        return "-"
    if f == "ms":
        return f"{v / 1000:.2f}" if v < 100_000 else f"{v / 1000:,.0f}"
    if f == "MiB":
        return f"{v / 1024:,.1f}"
    return f.format(v)


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def main(path):
    recs = []
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            if ln.startswith("{"):
                try:
                    recs.append(json.loads(ln))
                except json.JSONDecodeError:
                    pass
    start = next((r for r in recs if r.get("event") == "start"), {})
    runs = [r for r in recs if r.get("scenario")]
    scenarios = []
    for r in runs:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    print(f"Results {path}  (git {start.get('git', '?')}, {start.get('duration_s', '?')} s measured per scenario)")
    notes = []
    for sc in scenarios:
        cols = COLUMNS.get(sc, COLUMNS["fanout"]) + COMMON
        headers = ["server"] + [c[0] for c in cols] + ["status"]
        rows, by_server = [], {}
        for r in [x for x in runs if x["scenario"] == sc]:
            name = r.get("label", "?")
            status = r.get("status", "ok")
            if r.get("tool") == "run.sh":
                rows.append([name] + ["-"] * len(cols) + [f"{status}: {r.get('reason', '')}"])
                continue
            by_server[name] = r
            flags = []
            if status != "ok":
                flags.append(f"{status}: {r.get('reason', '')}")
            if r.get("note"):
                flags.append(f"note {len(notes) + 1}")
                notes.append(f"{name}/{sc}: {r['note']}")
            if (r.get("gen_cpu_pct") or 0) > 85 or (sc == "idle" and (r.get("gen_connect_cpu_pct") or 0) > 85):
                flags.append("generator near saturation")
            if r.get("busy_before_pct", 0) > 15:
                flags.append(f"machine {r['busy_before_pct']}% busy before: noisy")
            lag = r.get("gen_loop_busy_p99_us") or 0
            if lag > 5000 and r.get("lat_p50_us") is not None:
                flags.append(f"generator lagging (turn p99 {lag / 1000:.0f} ms): latency inflated")
            if r.get("hard_stop"):
                flags.append("hard stop")
            rows.append([name] + [fmt(value(r, c[1] or c[0]), c[3]) for c in cols] + ["; ".join(flags) or "ok"])
        # Parley's ratio to each peer
        parleys = [n for n in by_server if n.startswith("parley")]
        peers = [n for n in by_server if not n.startswith("parley")]
        for p in parleys:
            for q in peers:
                ratio = []
                for c in cols:
                    a, b = value(by_server[p], c[1] or c[0]), value(by_server[q], c[1] or c[0])
                    if c[2] == 0 or a is None or b is None or b == 0:
                        ratio.append("")
                    else:
                        x = a / b
                        ratio.append(f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x")
                rows.append([f"{p} / {q}"] + ratio + [""])
        print()
        print(SCENARIO_TITLES.get(sc, sc))
        print(table(rows, headers))
    if notes:
        print()
        for k, n in enumerate(notes, 1):
            print(f"note {k}: {n}")
    print()
    print("Ratios are Parley / peer: for ↑ columns above 1.00x is better for Parley, for ↓ columns below 1.00x is.")
    print("µs CPU/deliv = server CPU time (user+sys, all threads) in the measured phase / deliveries measured.")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py RESULTS.jsonl")
    main(sys.argv[1])
