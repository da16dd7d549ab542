"""Summarise a tests/bench/run.sh run: table, ratios, memory, chart data.

    /usr/bin/python3 tests/bench/report.py --out tests/bench/out \
        --ref bridge-keep --ceiling nginx-return

Reads OUT/{scenarios,raw,rss}.tsv and OUT/env.txt (written by run.sh),
prints the report and writes OUT/summary.tsv, OUT/ratios.tsv,
OUT/chart.dat and OUT/chart-labels.gp (for chart.gp). Standard library
only; run it again on an old OUT to re-render without re-measuring.
"""

import argparse
import csv
import collections
import os
import re
import statistics
import sys

COLOURS = {
    "bridge": 0xE6550D,
    "libfcgi": 0x3182BD,
    "uwsgi": 0x31A354,
    "nginx": 0x737373,
}
OTHER_COLOUR = 0x756BB1


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def kilo(x):
    """12345.6 -> '12.3k'."""
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def summarise(scenarios, raw):
    """One dict per scenario in run order, measured or skipped."""
    by_name = {}
    for r in raw:
        by_name.setdefault(r["scenario"], []).append(r)
    out = []
    for s in scenarios:
        rows = by_name.get(s["scenario"], [])
        d = dict(s, rounds=len(rows))
        if rows:
            rps = [num(r["rps"]) or 0.0 for r in rows]
            p99 = [num(r["p99_ms"]) for r in rows]
            p99 = [p for p in p99 if p is not None]
            d.update(
                median=statistics.median(rps),
                min=min(rps),
                max=max(rps),
                p99=statistics.median(p99) if p99 else None,
            )
            bg = [num(r.get("bg_busy_pct")) for r in rows]
            bg = [b for b in bg if b is not None]
            d["bg_busy"] = max(bg) if bg else None
            # A run that completed no request at all: wrk then reports no
            # timeouts either, so count these apart.
            d["stalled"] = sum(1 for r in rows if not num(r["requests"]))
            for k in ("non2xx", "connect", "read", "write", "timeout"):
                d[k] = sum(int(num(r[k]) or 0) for r in rows)
        out.append(d)
    return out


def best_per_backend(summary, conns):
    """The best measured scenario of each backend at CONNS connections:
    the highest median even if it had errors, the choice least flattering
    to the reference (the report names the errors beside the ratio)."""
    best = {}
    for d in summary:
        if "median" not in d or d["conns"] != conns:
            continue
        b = d["backend"]
        if b not in best or d["median"] > best[b]["median"]:
            best[b] = d
    return best


def ratios(summary, ref_name, ceiling_name):
    """[(label, ref, peer, ratio)]: REF against each peer's best and the
    ceiling, at REF's connection count."""
    ref = next((d for d in summary if d["scenario"] == ref_name), None)
    if ref is None or "median" not in ref:
        return None, []
    res = []
    for b, d in best_per_backend(summary, ref["conns"]).items():
        if b in (ref["backend"], "nginx") or not d["median"]:
            continue
        res.append((f"{b} best", ref, d, ref["median"] / d["median"]))
    ceil = next((d for d in summary if d["scenario"] == ceiling_name), None)
    if ceil is not None and ceil.get("median"):
        res.append(("ceiling", ref, ceil, ref["median"] / ceil["median"]))
    return ref, res


def errors_note(d):
    """'  [libfcgi-keep: 137 timeouts]' if scenario D had failures, else ''."""
    parts = []
    if d.get("timeout"):
        parts.append(f"{d['timeout']} timeouts")
    if d.get("stalled"):
        parts.append(f"{d['stalled']} stalled runs")
    sock = d.get("connect", 0) + d.get("read", 0) + d.get("write", 0)
    if sock:
        parts.append(f"{sock} socket errors")
    if d.get("non2xx"):
        parts.append(f"{d['non2xx']} non-2xx")
    return f"  [{d['scenario']}: " + ", ".join(parts) + "]" if parts else ""


NGINX_ERR = re.compile(
    r"\[(?P<level>error|crit|alert|emerg)\] \d+#\d+: (?:\*\d+ )?"
    r"(?P<msg>.*?)(?:, client: .*?request: \"\S+ (?P<path>\S+).*)?$")


def nginx_errors(path):
    """{location path: Counter(message)} from nginx's error log, for the
    errors nginx hid from the client (a kept connection retried) or not."""
    res = collections.defaultdict(collections.Counter)
    if not os.path.exists(path):
        return res
    with open(path, errors="replace") as f:
        for line in f:
            m = NGINX_ERR.search(line.rstrip("\n"))
            if m:
                res[m.group("path") or "-"][m.group("msg")] += 1
    return res


def print_report(env, summary, ref, rat, rss, ceiling_name, nerr, out):
    w = out.write
    for line in env:
        w(line + "\n")
    rounds = max((d["rounds"] for d in summary), default=0)
    ceil = next((d for d in summary if d["scenario"] == ceiling_name), None)
    ceil_rps = ceil.get("median") if ceil else None
    w(f"\nmedian of {rounds} rounds; errors are totals over all rounds; "
      "stalled = runs that completed no request at all\n")
    busy = [d["bg_busy"] for d in summary if d.get("bg_busy") is not None]
    if busy and max(busy) > 10:
        w(f"WARNING: other work kept the machine up to {max(busy):.0f}% "
          "busy between runs (bg_busy_pct in raw.tsv): these numbers are "
          "low and noisy; run again on a quiet machine\n")
    hdr = (f"{'scenario':<20} {'conns':>5} {'req/s':>9} {'min..max':>17} "
           f"{'p99 ms':>8} {'non-2xx':>8} {'sock c/r/w':>12} "
           f"{'timeouts':>8} {'stalled':>7} {'of nginx':>8}\n")
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for d in summary:
        if "median" not in d:
            continue
        p99 = f"{d['p99']:.1f}" if d["p99"] is not None else "NA"
        rng = f"{d['min']:.0f}..{d['max']:.0f}"
        crw = f"{d['connect']}/{d['read']}/{d['write']}"
        pct = f"{100 * d['median'] / ceil_rps:.0f}%" if ceil_rps else "NA"
        w(f"{d['scenario']:<20} {d['conns']:>5} {d['median']:>9.0f} "
          f"{rng:>17} {p99:>8} {d['non2xx']:>8} {crw:>12} "
          f"{d['timeout']:>8} {d['stalled']:>7} {pct:>8}\n")
    for d in summary:
        if "median" not in d:
            w(f"{d['scenario']:<20} not measured: {d['state']}\n")

    if nerr:
        w("\nnginx error log (all rounds and the warm-up; clients may not "
          "see these: nginx retries a failed kept connection on a new one)\n")
        for loc, msgs in sorted(nerr.items()):
            for msg, n in msgs.most_common(3):
                w(f"  {loc:<18} {n:>7}  {msg[:90]}\n")

    w("\nratios (median req/s)\n")
    if ref is None:
        w("  none: the reference scenario was not measured\n")
    for label, r, p, x in rat:
        w(f"  {r['scenario']} / {p['scenario']:<18} ({label:<12}) "
          f"{x:6.2f}x   ({r['median']:.0f} / {p['median']:.0f})"
          f"{errors_note(p)}\n")

    w("\nworker memory after the run (VmRSS of the worker processes)\n")
    if not rss:
        w("  none measured\n")
    else:
        w(f"  {'instance':<14} {'workers':>7} {'sum':>9}  "
          f"{'per worker (kB)':<22} {'master':>9} {'idle CPU':>9}\n")
    for r in rss:
        total = int(num(r["sum_rss_kb"]) or 0)
        m = num(r["master_rss_kb"])
        mstr = mb(m) if m is not None else "-"
        idle = r.get("idle_cpu_pct", "NA")
        idle = f"{idle}%" if idle not in ("", "NA", None) else "NA"
        w(f"  {r['instance']:<14} {r['workers']:>7} {mb(total):>9}  "
          f"{r['per_worker_rss_kb']:<22} {mstr:>9} {idle:>9}\n")


def write_outputs(outdir, env, summary, ref, ref_name, rat, nerr):
    keys = ["scenario", "backend", "mode", "conns", "rounds", "median", "min",
            "max", "p99", "non2xx", "connect", "read", "write", "timeout",
            "stalled",
            "state"]
    with open(os.path.join(outdir, "summary.tsv"), "w") as f:
        f.write("\t".join(k if k != "p99" else "p99_ms" for k in keys)
                + "\n")
        for d in summary:
            vals = []
            for k in keys:
                v = d.get(k, "")
                vals.append(f"{v:.1f}" if isinstance(v, float) else str(
                    "NA" if v is None else v))
            f.write("\t".join(vals) + "\n")
    with open(os.path.join(outdir, "ratios.tsv"), "w") as f:
        f.write("ref\tpeer\tkind\tref_rps\tpeer_rps\tratio\n")
        for label, r, p, x in rat:
            f.write(f"{r['scenario']}\t{p['scenario']}\t{label}\t"
                    f"{r['median']:.0f}\t{p['median']:.0f}\t{x:.3f}\n")

    # chart.dat: x, name, median, min, max, colour, value label,
    # ratio label, error label.
    ratio_of = {p["scenario"]: (r, x) for _, r, p, x in rat}
    measured = [d for d in summary if "median" in d]
    with open(os.path.join(outdir, "chart.dat"), "w") as f:
        for i, d in enumerate(measured):
            colour = COLOURS.get(d["backend"], OTHER_COLOUR)
            rl = ""
            if d["scenario"] in ratio_of:
                r, x = ratio_of[d["scenario"]]
                rl = f"{r['scenario']} is {x:.2f}\u00d7 this"
            elif ref is not None and d is ref:
                rl = "reference"
            errs = []
            if d["timeout"]:
                errs.append(f"{d['timeout']} timeouts")
            if d["stalled"]:
                errs.append(f"{d['stalled']} stalled")
            sock = d["connect"] + d["read"] + d["write"]
            if sock:
                errs.append(f"{sock} sock err")
            if d["non2xx"]:
                errs.append(f"{d['non2xx']} non-2xx")
            name = f"{d['scenario']}"
            f.write(f"{i}\t{name}\t{d['median']:.0f}\t{d['min']:.0f}\t"
                    f"{d['max']:.0f}\t{colour}\t{kilo(d['median'])}\t"
                    f"{rl or '-'}\t{', '.join(errs) or '-'}\n")

    rounds = max((d["rounds"] for d in summary), default=0)
    # Title: what was measured, then the wrk line, versions and bridge.
    title = [f"bridge benchmark: hello world behind nginx (FastCGI), "
             f"median req/s of {rounds} interleaved rounds, bars min..max"]
    title += [env[i] for i in (4, 1, 2) if i < len(env)]
    lines = ['set title "' + "\\n".join(gp_escape(t) for t in title) + '"']
    box = []
    if ref is None:
        box.append(f"no ratios: {ref_name} not measured")
    for label, r, p, x in rat:
        box.append(f"{r['scenario']} / {p['scenario']} ({label}) = {x:.2f}\u00d7")
    busy = [d["bg_busy"] for d in summary if d.get("bg_busy") is not None]
    if busy and max(busy) > 10:
        box.append(f"WARNING: other work kept the machine up to "
                   f"{max(busy):.0f}% busy: numbers low and noisy")
    for loc, msgs in sorted(nerr.items()):
        box.append(f"nginx error log: {sum(msgs.values())} errors on {loc} "
                   "(see report.txt)")
    skipped = [d["scenario"] for d in summary if "median" not in d]
    if skipped:
        box.append("not measured: " + ", ".join(skipped))
    for i, text in enumerate(box):
        lines.append(f'set label {i + 1} "{gp_escape(text)}" at graph 0.99, '
                     f'graph {0.97 - 0.045 * i:.3f} right front '
                     'font ",12" textcolor rgb "#202020"')
    with open(os.path.join(outdir, "chart-labels.gp"), "w") as f:
        f.write("\n".join(lines) + "\n")


def gp_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", default="bridge-keep")
    ap.add_argument("--ceiling", default="nginx-return")
    a = ap.parse_args()

    scenarios = read_tsv(os.path.join(a.out, "scenarios.tsv"))
    raw = read_tsv(os.path.join(a.out, "raw.tsv"))
    rss = read_tsv(os.path.join(a.out, "rss.tsv"))
    env_path = os.path.join(a.out, "env.txt")
    env = []
    if os.path.exists(env_path):
        with open(env_path) as f:
            env = [line.rstrip("\n") for line in f]
    if not scenarios:
        sys.exit(f"report.py: no {a.out}/scenarios.tsv")

    summary = summarise(scenarios, raw)
    ref, rat = ratios(summary, a.ref, a.ceiling)
    nerr = nginx_errors(os.path.join(a.out, "nginx-error.log"))
    print_report(env, summary, ref, rat, rss, a.ceiling, nerr, sys.stdout)
    write_outputs(a.out, env, summary, ref, a.ref, rat, nerr)


if __name__ == "__main__":
    main()
