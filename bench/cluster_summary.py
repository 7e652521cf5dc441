#!/usr/bin/env python3
"""Tables from a bench/cluster-run.sh results file: python3 bench/cluster_summary.py FILE.jsonl

One table per scenario: each variant's figures (x1 = one instance, x1c = one instance with
--cluster, x3 = three with --cluster), then each variant's ratio to x1, then issue 15's targets
checked where the run has what they need. The arrow in a column's name tells which way is
better: ↑ higher, ↓ lower. "total µs/deliv" is the CPU of the instances + redis-server +
PostgreSQL (all its processes) in the measured phase, per delivery."""
import json
import sys

from summarize import fmt, table, value

COLUMNS = {
    "fanout": [
        ("deliv/s ↑", "deliveries_per_s", "{:,.0f}"),
        ("p50 ms ↓", "lat_p50_us", "ms"),
        ("p99 ms ↓", "lat_p99_us", "ms"),
        ("srv µs/deliv ↓", "server_cpu_us_per_delivery", "{:.3f}"),
        ("total µs/deliv ↓", "total_cpu_us_per_delivery", "{:.3f}"),
        ("srv CPU %", "server_cpu_pct", "{:.0f}"),
        ("infra CPU %", "infra_cpu_pct", "{:.0f}"),
    ],
    "rate": [
        ("deliv/s", "deliveries_per_s", "{:,.0f}"),
        ("p50 ms ↓", "lat_p50_us", "ms"),
        ("p99 ms ↓", "lat_p99_us", "ms"),
        ("srv µs/deliv ↓", "server_cpu_us_per_delivery", "{:.3f}"),
        ("total µs/deliv ↓", "total_cpu_us_per_delivery", "{:.3f}"),
        ("srv CPU %", "server_cpu_pct", "{:.0f}"),
        ("infra CPU %", "infra_cpu_pct", "{:.0f}"),
    ],
    "idle": [
        ("connected", "connected", "{:,.0f}"),
        ("connects/s ↑", "connects_per_s", "{:,.0f}"),
        ("RSS B/conn ↓", "server_rss_bytes_per_conn", "{:,.0f}"),
        ("µs CPU/connect ↓", "server_cpu_us_per_connect", "{:,.0f}"),
    ],
}
COLUMNS["rooms"] = COLUMNS["rate"]
COMMON = [
    ("lost", "lost", "{:,.0f}"),
    ("undeliv@end", "undelivered", "{:,.0f}"),
    ("errors", "errors", "{:,.0f}"),
    ("gen CPU %", "gen_cpu_pct", "{:.0f}"),
]
RATIO = {"↑", "↓"}


def main(path):
    recs = [json.loads(ln) for ln in open(path) if ln.startswith("{")]
    start = next((r for r in recs if r.get("event") == "start"), {})
    runs = [r for r in recs if r.get("scenario")]
    print(f"Results {path}  (git {start.get('git', '?')}, mode {start.get('mode', '?')}, "
          f"{start.get('duration_s', '?')} s measured per scenario, PostgreSQL fsync={start.get('pg_fsync', '?')})")
    if start.get("mode") == "single":
        print("SINGLE MODE: no --cluster; x3's instances share nothing, so its clients see only their own "
              "instance's messages. The figures prove the harness, not the cluster.")
    checks = []
    scenarios = list(dict.fromkeys(r["scenario"] for r in runs))
    for sc in scenarios:
        cols = COLUMNS.get(sc, COLUMNS["rate"]) + COMMON
        headers = ["variant"] + [c[0] for c in cols] + ["status"]
        rows, by = [], {}
        for r in [x for x in runs if x["scenario"] == sc]:
            name = r.get("label", "?")
            if r.get("tool") == "cluster-run.sh":
                rows.append([name] + ["-"] * len(cols) + [f"{r.get('status')}: {r.get('reason', '')}"])
                continue
            by[name] = r
            flags = [] if r.get("status", "ok") == "ok" else [f"{r['status']}: {r.get('reason', '')}"]
            if (r.get("gen_cpu_pct") or 0) > 85:
                flags.append("generator near saturation")
            if r.get("busy_before_pct", 0) > 15:
                flags.append(f"machine {r['busy_before_pct']}% busy before: noisy")
            rows.append([name] + [fmt(value(r, c[1]), c[2]) for c in cols] + ["; ".join(flags) or "ok"])
        base = by.get("x1")
        for name, r in by.items():
            if name == "x1" or not base:
                continue
            ratio = []
            for c in cols:
                a, b = value(r, c[1]), value(base, c[1])
                if not any(arrow in c[0] for arrow in RATIO) or a is None or not b:
                    ratio.append("")
                else:
                    ratio.append(f"{a / b:.2f}x")
            rows.append([f"{name} / x1"] + ratio + [""])
        print()
        print(sc)
        print(table(rows, headers))
        # Issue 15's targets (2-core machine: the cluster's overhead, not scale-out).
        x3 = by.get("x3")
        if base and x3:
            def ratio_of(key):
                a, b = value(x3, key), value(base, key)
                return a / b if a is not None and b else None
            if sc == "fanout":
                q = ratio_of("deliveries_per_s")
                if q is not None:
                    checks.append((f"fanout deliveries/s x3 / x1 = {q:.2f} (target >= 0.7)", q >= 0.7))
            if sc == "rate":
                a, b = value(x3, "lat_p99_us"), value(base, "lat_p99_us")
                if a is not None and b is not None:
                    checks.append((f"rate p99 x3 {a / 1000:.2f} ms vs x1 {b / 1000:.2f} ms (target <= x1 + 5 ms)",
                                   a <= b + 5000))
            if sc == "rooms":
                a, b = value(x3, "lat_p99_us"), value(base, "lat_p99_us")
                if a is not None and b is not None:
                    checks.append((f"rooms p99 x3 {a / 1000:.2f} ms vs x1 {b / 1000:.2f} ms (no target; reported)", None))
            if sc in ("fanout", "rate", "rooms"):
                q = ratio_of("total_cpu_us_per_delivery")
                if q is not None:
                    checks.append((f"{sc} total CPU per delivery x3 / x1 = {q:.2f} (target <= 1.5)", q <= 1.5))
    if start.get("mode") == "single":
        print()
        print("Targets (issue 15): not checked in single mode.")
    elif checks:
        print()
        print("Targets (issue 15):")
        for text, ok in checks:
            print(f"  {'   ' if ok is None else 'ok ' if ok else 'MISS'} {text}")
    print()
    print("Ratios are variant / x1: for ↑ columns above 1.00x is better, for ↓ columns below 1.00x is.")
    print("srv µs/deliv: the instances' CPU (summed) per delivery; total: + redis-server + PostgreSQL.")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: cluster_summary.py RESULTS.jsonl")
    main(sys.argv[1])
