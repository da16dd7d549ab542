"""Summarise one group of a tests/bench/run.sh run: table, ratios, memory,
chart data.

    /usr/bin/python3 tests/bench/report.py --out tests/bench/out/fastcgi \
        --ref bridge-keep --ceiling nginx-return

Reads OUT/{scenarios,raw,rss,idle,sleep,targets}.tsv and OUT/env.txt (written by
run.sh), prints the report and writes OUT/summary.tsv, OUT/ratios.tsv,
OUT/targets-result.tsv, OUT/chart.dat and OUT/chart-labels.gp (for
chart.gp). Standard library only; run it again on an old OUT to re-render
without re-measuring.

targets.tsv (no header): kind, ref, peer, op, target, one per line.
  rps   median req/s of scenario ref over peer's (a|b: the best of them)
  rss   worker VmRSS sum of instance ref over peer's, after the run
  idle  VmRSS growth of instance ref over peer's for the idle connections
  time  seconds instance ref took to answer the sleepers (sleep.tsv; the
        asgi group), peer "-": compared with the target itself
op is >= or <=, target a number; "- -" prints the ratio with no verdict.
"""

import argparse
import csv
import collections
import math
import os
import re
import statistics
import sys

COLOURS = {
    "bridge": 0xE6550D,
    "libfcgi": 0x3182BD,
    "uwsgi": 0x31A354,
    "gunicorn": 0x6BAED6,
    "fcgiwrap": 0x9E9AC8,
    "nginx": 0x737373,
}
OTHER_COLOUR = 0x756BB1


def read_tsv(path, header=True, fields=None):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        if header:
            return list(csv.DictReader(f, delimiter="\t"))
        return [dict(zip(fields, r)) for r in csv.reader(f, delimiter="\t")
                if r and not r[0].startswith("#")]


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


LOADS = {"wrk": "wrk", "pipe": "wrk pipelined", "tls": "wrk https",
         "hs": "s_time -new"}


def load_of(d):
    tool = d.get("tool") or "wrk"
    if tool == "hs":
        return f"{LOADS[tool]} x{d['conns']}"
    return f"{LOADS.get(tool, tool)} c{d['conns']}"


def unit_of(d):
    return "hs/s" if d.get("tool") == "hs" else "req/s"


def summarise(scenarios, raw):
    """One dict per scenario in run order, measured or skipped."""
    by_name = {}
    for r in raw:
        by_name.setdefault(r["scenario"], []).append(r)
    out = []
    for s in scenarios:
        rows = by_name.get(s["scenario"], [])
        d = dict(s, rounds=len(rows))
        d.setdefault("tool", "wrk")
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
            # Server CPU per request (per handshake), microseconds.
            cpu = [num(r.get("srv_cpu_s")) for r in rows]
            cpu = [c * 1e6 / num(r["requests"]) for c, r in zip(cpu, rows)
                   if c is not None and num(r["requests"])]
            d["cpu_us"] = statistics.median(cpu) if cpu else None
            # The load generator's CPU per request: it shares the cores.
            cli = [num(r.get("cli_cpu_s")) for r in rows]
            cli = [c * 1e6 / num(r["requests"]) for c, r in zip(cli, rows)
                   if c is not None and num(r["requests"])]
            d["cli_us"] = statistics.median(cli) if cli else None
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
    """The best measured wrk scenario of each backend at CONNS
    connections: the highest median even if it had errors, the choice
    least flattering to the reference (the report names the errors beside
    the ratio)."""
    best = {}
    for d in summary:
        if "median" not in d or d["conns"] != conns or d["tool"] != "wrk":
            continue
        b = d["backend"]
        if b not in best or d["median"] > best[b]["median"]:
            best[b] = d
    return best


def ratios(summary, ref_name, ceiling_name):
    """[(label, ref, peer, ratio)]: REF against each peer's best and the
    ceiling, at REF's connection count."""
    if not ref_name:
        return None, []
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


def idle_growth(r):
    before, after = num(r.get("rss_before_kb")), num(r.get("rss_after_kb"))
    if before is None or after is None:
        return None
    return after - before


def evaluate_targets(targets, summary, rss, idle, sleep=()):
    """[dict(kind, ref, peer, ratio, a, b, unit, op, target, verdict,
    note, peer_scenario)] for every target row; ratio None if one side
    was not measured."""
    res = []
    measured = {d["scenario"]: d for d in summary if d.get("median")}
    rss_of = {r["instance"]: r for r in rss}
    # Instances (run.sh's scenarios.tsv names them) none of whose
    # scenarios was measured.
    inst_ok = collections.defaultdict(bool)
    for d in summary:
        if d.get("instance"):
            inst_ok[d["instance"]] |= bool(d.get("median"))
    failed_inst = {i for i, ok in inst_ok.items() if not ok}
    idle_of = {r["instance"]: r for r in idle}
    sleep_of = {r["instance"]: r for r in sleep}

    def best(names):
        ds = [measured[n] for n in names.split("|") if n in measured]
        return max(ds, key=lambda d: d["median"]) if ds else None

    for t in targets:
        kind, op = t["kind"], t.get("op", "-")
        tgt = num(t.get("target"))
        e = dict(kind=kind, op=op, target=tgt, ratio=None, note="",
                 peer_scenario=None)
        if kind == "rps":
            r, p = best(t["ref"]), best(t["peer"])
            e["ref"] = r["scenario"] if r else t["ref"]
            e["peer"] = p["scenario"] if p else t["peer"]
            if r and p:
                e.update(a=r["median"], b=p["median"], unit=unit_of(r),
                         ratio=r["median"] / p["median"],
                         peer_scenario=p["scenario"])
                e["note"] = errors_note(r) + errors_note(p)
        elif kind in ("rss", "idle"):
            src = rss_of if kind == "rss" else idle_of
            r, p = src.get(t["ref"]), src.get(t["peer"])
            # Memory of a server whose scenarios failed their sanity
            # check (crashing workers, say) says nothing.
            for x in (t["ref"], t["peer"]):
                if x in failed_inst:
                    e["note"] += f"  [{x}: its scenarios were not measured]"
                    r = p = None
            e["ref"], e["peer"] = t["ref"], t["peer"]
            if kind == "rss":
                a = num(r["sum_rss_kb"]) if r else None
                b = num(p["sum_rss_kb"]) if p else None
            else:
                a = idle_growth(r) if r else None
                b = idle_growth(p) if p else None
                for x in (r, p):
                    if x and num(x["held"]) != num(x["wanted"]):
                        e["note"] += (f"  [{x['instance']}: held "
                                      f"{x['held']} of {x['wanted']}]")
            if a is not None and b:
                e.update(a=a, b=b, unit="kB", ratio=a / b)
        elif kind == "cpu":
            # Server CPU per request, the peer's over the reference's:
            # how many times less the reference spends.  Steadier than
            # rates when wrk and the servers share a few busy cores.
            r, p = measured.get(t["ref"]), measured.get(t["peer"])
            e["ref"], e["peer"] = t["ref"], t["peer"]
            if r and p and r.get("cpu_us") and p.get("cpu_us"):
                e.update(a=p["cpu_us"], b=r["cpu_us"], unit="us/req",
                         ratio=p["cpu_us"] / r["cpu_us"])
        elif kind == "time":
            # The value itself (seconds), not a ratio.
            e["ref"], e["peer"] = t["ref"], t["peer"]
            r = sleep_of.get(t["ref"])
            if r and num(r.get("seconds")) is not None:
                e.update(a=num(r["seconds"]), b=None, unit="s",
                         ratio=num(r["seconds"]))
                if num(r.get("failed")):
                    e["note"] = (f"  [{t['ref']}: {r['failed']} of "
                                 f"{r['wanted']} failed]")
        else:
            e["ref"], e["peer"] = t["ref"], t["peer"]
            e["note"] = f"unknown kind {kind}"
        if e["ratio"] is None:
            e["verdict"] = "not measured"
        elif kind == "time" and e["note"]:
            e["verdict"] = "FAILED"
        elif tgt is None or op not in (">=", "<="):
            e["verdict"] = "info"
        elif (e["ratio"] >= tgt) if op == ">=" else (e["ratio"] <= tgt):
            e["verdict"] = "meets"
        else:
            e["verdict"] = "BELOW" if op == ">=" else "ABOVE"
        res.append(e)
    return res


def target_text(e):
    if e["target"] is None or e["op"] not in (">=", "<="):
        return "-"
    op = "\u2265" if e["op"] == ">=" else "\u2264"
    return f"{op}{e['target']:g}{'s' if e['kind'] == 'time' else 'x'}"


def errors_note(d):
    """'  [libfcgi-keep: 137 timeouts]' if scenario D had failures, else ''."""
    parts = []
    if d.get("timeout"):
        parts.append(f"{d['timeout']} timeouts")
    if d.get("stalled"):
        parts.append(f"{d['stalled']} stalled runs")
    sock = d.get("connect", 0) + d.get("read", 0) + d.get("write", 0)
    if sock:
        what = "failed clients" if d.get("tool") == "hs" else "socket errors"
        parts.append(f"{sock} {what}")
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


def print_report(env, summary, ref, rat, targ, rss, idle, ceiling_name,
                 nerr, out, sleep=()):
    w = out.write
    for line in env:
        w(line + "\n")
    rounds = max((d["rounds"] for d in summary), default=0)
    ceil = next((d for d in summary if d["scenario"] == ceiling_name), None)
    ceil_rps = ceil.get("median") if ceil else None
    w(f"\nmedian of {rounds} rounds; errors are totals over all rounds; "
      "stalled = runs that completed no request at all; s_time rows are "
      "full TLS handshakes/s (failed clients under c); cpu us = CPU time "
      "of the measured server's own processes per request (nginx: its "
      "workers; FastCGI backends: the backend only, not nginx; CGI: not "
      "the scripts); client us = CPU time of the load generator per "
      "request (wrk, s_time), which shares the cores: with C cores busy, "
      "rate <= C / (cpu + client), so a rate ratio between two servers "
      "is nearer 1 than their cpu ratio\n")
    busy = [d["bg_busy"] for d in summary if d.get("bg_busy") is not None]
    if busy and max(busy) > 10:
        w(f"WARNING: other work kept the machine up to {max(busy):.0f}% "
          "busy between runs (bg_busy_pct in raw.tsv): these numbers are "
          "low and noisy; run again on a quiet machine\n")
    hdr = (f"{'scenario':<20} {'load':<18} {'rate/s':>9} {'min..max':>17} "
           f"{'p99 ms':>8} {'cpu us':>7} {'client us':>9} {'non-2xx':>8} "
           f"{'sock c/r/w':>12} "
           f"{'timeouts':>8} {'stalled':>7}"
           + (f" {'of nginx':>8}" if ceil_rps else "") + "\n")
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for d in summary:
        if "median" not in d:
            continue
        p99 = f"{d['p99']:.1f}" if d["p99"] is not None else "NA"
        rng = f"{d['min']:.0f}..{d['max']:.0f}"
        crw = f"{d['connect']}/{d['read']}/{d['write']}"
        cpu = f"{d['cpu_us']:.0f}" if d.get("cpu_us") is not None else "NA"
        cli = f"{d['cli_us']:.0f}" if d.get("cli_us") is not None else "NA"
        w(f"{d['scenario']:<20} {load_of(d):<18} {d['median']:>9.0f} "
          f"{rng:>17} {p99:>8} {cpu:>7} {cli:>9} {d['non2xx']:>8} {crw:>12} "
          f"{d['timeout']:>8} {d['stalled']:>7}")
        if ceil_rps:
            w(f" {100 * d['median'] / ceil_rps:>7.0f}%")
        w("\n")
    for d in summary:
        if "median" not in d:
            w(f"{d['scenario']:<20} not measured: {d['state']}\n")

    if nerr:
        w("\nnginx error log (all rounds and the warm-up; clients may not "
          "see these: nginx retries a failed kept connection on a new one)\n")
        for loc, msgs in sorted(nerr.items()):
            for msg, n in msgs.most_common(3):
                w(f"  {loc:<18} {n:>7}  {msg[:90]}\n")

    if targ:
        w("\ntargets (rps: median rate, higher is better; rss, idle: "
          "memory, lower is better; time: seconds, lower is better; "
          "cpu: server CPU per request, the peer's over the first's, "
          "higher is better)\n")
        for e in targ:
            pair = f"{e['ref']} / {e['peer']}"
            if e["ratio"] is None:
                w(f"  {e['kind']:<5} {pair:<40} {'':>7}  "
                  f"target {target_text(e):<7} not measured{e['note']}\n")
                continue
            if e["kind"] == "time":
                pair = e["ref"]
                w(f"  {e['kind']:<5} {pair:<40} {e['ratio']:6.2f}s  "
                  f"target {target_text(e):<7} {e['verdict']:<6}"
                  f"{e['note']}\n")
                continue
            if e["unit"] == "kB":
                ab = f"{mb(e['a'])} / {mb(e['b'])}"
            else:
                ab = f"{e['a']:.0f} / {e['b']:.0f} {e['unit']}"
            w(f"  {e['kind']:<5} {pair:<40} {e['ratio']:6.2f}x  "
              f"target {target_text(e):<7} {e['verdict']:<6} ({ab})"
              f"{e['note']}\n")

    if ref is not None or rat:
        w("\nratios (median req/s)\n")
        for label, r, p, x in rat:
            w(f"  {r['scenario']} / {p['scenario']:<18} ({label:<12}) "
              f"{x:6.2f}x   ({r['median']:.0f} / {p['median']:.0f})"
              f"{errors_note(p)}\n")

    if idle:
        w("\nidle keep-alive connections (VmRSS of the workers, summed; "
          "Pss in brackets)\n")
        w(f"  {'instance':<18} {'held':>13} {'before':>9} {'after':>9} "
          f"{'growth':>9} {'per conn':>9} {'Pss growth':>11} {'opened in':>9}\n")
        for r in idle:
            g = idle_growth(r)
            held = int(num(r["held"]) or 0)
            pss = (num(r["pss_after_kb"]) or 0) - (num(r["pss_before_kb"]) or 0)
            per = f"{g * 1024 / held:.0f} B" if g is not None and held else "NA"
            fail = f" ({r['failed']} failed)" if num(r["failed"]) else ""
            w(f"  {r['instance']:<18} {held:>6}/{r['wanted']:<6} "
              f"{mb(num(r['rss_before_kb']) or 0):>9} "
              f"{mb(num(r['rss_after_kb']) or 0):>9} "
              f"{mb(g or 0):>9} {per:>9} {mb(pss):>11} "
              f"{r['open_s']:>8}s{fail}\n")

    if sleep:
        w("\nsleepers: requests sent at once, each awaiting asyncio.sleep(1) "
          "on one worker (VmRSS of the worker)\n")
        w(f"  {'instance':<18} {'answered':>11} {'seconds':>8} "
          f"{'before':>9} {'peak':>9} {'after':>9}\n")
        for r in sleep:
            w(f"  {r['instance']:<18} {r['ok']:>5}/{r['wanted']:<5} "
              f"{num(r['seconds']) or 0:>8.2f} "
              f"{mb(num(r['rss_before_kb']) or 0):>9} "
              f"{mb(num(r['rss_peak_kb']) or 0):>9} "
              f"{mb(num(r['rss_after_kb']) or 0):>9}\n")

    w("\nworker memory after the run (VmRSS of the worker processes)\n")
    if not rss:
        w("  none measured\n")
    else:
        w(f"  {'instance':<18} {'workers':>7} {'sum':>9} {'sum Pss':>9}  "
          f"{'per worker (kB)':<22} {'master':>9} {'idle CPU':>9}\n")
    for r in rss:
        total = int(num(r["sum_rss_kb"]) or 0)
        pss = num(r.get("sum_pss_kb"))
        pstr = mb(pss) if pss else "NA"
        m = num(r["master_rss_kb"])
        mstr = mb(m) if m is not None else "-"
        idle_cpu = r.get("idle_cpu_pct", "NA")
        idle_cpu = f"{idle_cpu}%" if idle_cpu not in ("", "NA", None) else "NA"
        w(f"  {r['instance']:<18} {r['workers']:>7} {mb(total):>9} "
          f"{pstr:>9}  {r['per_worker_rss_kb']:<22} {mstr:>9} "
          f"{idle_cpu:>9}\n")


def write_outputs(outdir, env, title, summary, ref, ref_name, rat, targ,
                  nerr):
    keys = ["scenario", "backend", "tool", "conns", "rounds", "median", "min",
            "max", "p99", "cpu_us", "cli_us", "non2xx", "connect", "read", "write", "timeout",
            "stalled", "state"]
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
    with open(os.path.join(outdir, "targets-result.tsv"), "w") as f:
        f.write("ref\tpeer\tratio\ttarget\tverdict\tkind\tref_value\t"
                "peer_value\tunit\n")
        for e in targ:
            x = (f"{e['ratio']:.2f}{'s' if e['kind'] == 'time' else 'x'}"
                 if e["ratio"] is not None else "NA")
            f.write(f"{e['ref']}\t{e['peer']}\t{x}\t{target_text(e)}\t"
                    f"{e['verdict']}\t{e['kind']}\t{e.get('a', '')}\t"
                    f"{e.get('b', '')}\t{e.get('unit', '')}\n")

    # chart.dat: x, name, median, min, max, colour, value label,
    # ratio label, error label.
    ratio_of = {p["scenario"]: f"{r['scenario']} is {x:.2f}\u00d7 this"
                for _, r, p, x in rat}
    for e in targ:
        if e["kind"] == "rps" and e["ratio"] is not None:
            t = target_text(e)
            rb = next(d["backend"] for d in summary
                      if d["scenario"] == e["ref"])
            ratio_of[e["peer_scenario"]] = (
                f"{rb} {e['ratio']:.2f}\u00d7" + (f" ({t})" if t != "-" else ""))
    measured = [d for d in summary if "median" in d]
    with open(os.path.join(outdir, "chart.dat"), "w") as f:
        for i, d in enumerate(measured):
            colour = COLOURS.get(d["backend"], OTHER_COLOUR)
            rl = ratio_of.get(d["scenario"], "")
            if not rl and ref is not None and d is ref:
                rl = "reference"
            errs = []
            if d["timeout"]:
                errs.append(f"{d['timeout']} timeouts")
            if d["stalled"]:
                errs.append(f"{d['stalled']} stalled")
            sock = d["connect"] + d["read"] + d["write"]
            if sock:
                errs.append(f"{sock} failed clients" if d["tool"] == "hs"
                            else f"{sock} sock err")
            if d["non2xx"]:
                errs.append(f"{d['non2xx']} non-2xx")
            name = d["scenario"]
            if d["tool"] == "hs":
                name += " (hs/s)"
            f.write(f"{i}\t{name}\t{max(d['median'], 1):.0f}\t"
                    f"{max(d['min'], 1):.0f}\t{max(d['max'], 1):.0f}\t"
                    f"{colour}\t{kilo(d['median'])}\t"
                    f"{rl or '-'}\t{', '.join(errs) or '-'}\n")

    rounds = max((d["rounds"] for d in summary), default=0)
    # Title: what was measured, then the load line, versions and bridge.
    title = [f"bridge benchmark: {title}",
             f"median rate of {rounds} interleaved rounds, bars min..max"]
    title += [env[i] for i in (5, 2, 3) if i < len(env)]
    lines = ['set title "' + "\\n".join(gp_escape(t) for t in title) + '"']
    # Rates a hundred times apart (handshakes beside pipelined requests,
    # CGI beside nothing): a log scale, so that the small bars show.
    meds = [d["median"] for d in measured if d["median"] > 0]
    logscale = bool(meds) and max(meds) / min(meds) > 25
    if logscale:
        lines.append("set logscale y")
        lines.append('set ylabel "requests/s (median), log scale; '
                     'hs = TLS handshakes/s"')
    box = []
    if ref_name and ref is None:
        box.append(f"no ratios: {ref_name} not measured")
    for label, r, p, x in rat:
        box.append(f"{r['scenario']} / {p['scenario']} ({label}) = {x:.2f}\u00d7")
    for e in targ:
        if e["ratio"] is None:
            box.append(f"{e['ref']} / {e['peer']}: not measured")
            continue
        what = {"rps": "", "rss": " worker RSS", "idle": " idle-conn RSS growth",
                "cpu": " CPU per request (peer / ref)"}
        t = target_text(e)
        if e["kind"] == "time":
            box.append(f"{e['ref']}: sleepers answered in {e['ratio']:.2f} s"
                       + (f"  (target {t}: {e['verdict']})" if t != "-"
                          else ""))
            continue
        box.append(f"{e['ref']} / {e['peer']}{what.get(e['kind'], '')} = "
                   f"{e['ratio']:.2f}\u00d7"
                   + (f"  (target {t}: {e['verdict']})" if t != "-" else ""))
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
    # Headroom above the highest bar for its labels and the text box.
    top = max((max(d["max"], 1) for d in measured), default=1)
    room = min(0.1 + 0.045 * len(box), 0.7)
    if logscale:
        lo = 10 ** math.floor(math.log10(min(meds) / 2))
        span = math.log10(top / lo) / (1 - room)
        lines.append(f"set yrange [{lo}:{lo * 10 ** span:.0f}]")
    else:
        lines.append(f"set yrange [0:{top / (1 - room):.0f}]")
        if top < 10000:
            lines.append('set ytics format "%.1s%c"')
    for i, text in enumerate(box):
        lines.append(f'set label {i + 1} "{gp_escape(text)}" at graph 0.99, '
                     f'graph {0.97 - 0.04 * i:.3f} right front '
                     'font ",11" textcolor rgb "#202020"')
    with open(os.path.join(outdir, "chart-labels.gp"), "w") as f:
        f.write("\n".join(lines) + "\n")


def gp_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", default="",
                    help="also compare this scenario with every other "
                    "backend's best (the fastcgi group: bridge-keep)")
    ap.add_argument("--ceiling", default="",
                    help="the scenario the 'of nginx' column is relative to")
    ap.add_argument("--title", default="hello world behind nginx (FastCGI)")
    a = ap.parse_args()

    scenarios = read_tsv(os.path.join(a.out, "scenarios.tsv"))
    raw = read_tsv(os.path.join(a.out, "raw.tsv"))
    rss = read_tsv(os.path.join(a.out, "rss.tsv"))
    idle = read_tsv(os.path.join(a.out, "idle.tsv"))
    sleep = read_tsv(os.path.join(a.out, "sleep.tsv"))
    targets = read_tsv(os.path.join(a.out, "targets.tsv"), header=False,
                       fields=["kind", "ref", "peer", "op", "target"])
    env_path = os.path.join(a.out, "env.txt")
    env = []
    if os.path.exists(env_path):
        with open(env_path) as f:
            env = [line.rstrip("\n") for line in f]
    if not scenarios:
        sys.exit(f"report.py: no {a.out}/scenarios.tsv")

    summary = summarise(scenarios, raw)
    ref, rat = ratios(summary, a.ref, a.ceiling)
    targ = evaluate_targets(targets, summary, rss, idle, sleep)
    nerr = nginx_errors(os.path.join(a.out, "nginx-error.log"))
    print_report(env, summary, ref, rat, targ, rss, idle, a.ceiling, nerr,
                 sys.stdout, sleep)
    write_outputs(a.out, env, a.title, summary, ref, a.ref, rat, targ, nerr)


if __name__ == "__main__":
    main()
