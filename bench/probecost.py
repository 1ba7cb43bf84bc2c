#!/usr/bin/env python3
"""The cost of each probe, per event it handles: the kernel's own BPF run-time
statistics (kernel.bpf_stats_enabled) for every ksight program while ksight
records a workload that exercises it: the syscall storm (syscall hooks), a
pipe ping-pong (scheduler, off-CPU), a CPU spin (samples), a loopback TCP
transfer (network). The statistics themselves cost two clock reads per run;
the empty-program row (bench/tpfloor.bpf.c at level 0, measured the same way)
is that overhead, and the last column subtracts it. A syscall also pays the
tracepoint slow path outside any program: see bench/hotpath.py's floor rows.

    bench/probecost.py [--runs N]   (root; after make and tests/integration.sh,
                                     which builds build/tests/workload)"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import hotpath  # noqa: E402  (builds tpfloor)

KSIGHT = os.path.join(ROOT, "ksight")
W = os.path.join(ROOT, "build", "tests", "workload")
TCPXFER = os.path.join(ROOT, "build", "bench", "tcpxfer")

WORKLOADS = [
    ("storm", ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=2000000"]),
    ("pingpong", [W, "pingpong", "200000"]),
    ("cpuspin", [W, "cpuspin", "2000"]),
    ("tcp", [TCPXFER, str(2 << 30)]),
]


def prog_stats():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    try:
        return {p["id"]: p for p in json.loads(out.stdout or "[]")}
    except json.JSONDecodeError:
        return {}


def watch(argv, before):
    """Runs argv; returns {prog name: (runs, ns)} of the programs loaded while it
    ran (another tracer loading programs meanwhile would be counted too: run on a
    quiet machine)."""
    last = {}
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def poll():
        while p.poll() is None:
            for i, s in prog_stats().items():
                if i not in before and s.get("run_cnt"):
                    last[i] = s
            time.sleep(0.1)
    t = threading.Thread(target=poll)
    t.start()
    p.wait()
    t.join()
    res = {}
    for s in last.values():
        n, ns = res.get(s["name"], (0, 0))
        res[s["name"]] = (n + s["run_cnt"], ns + s["run_time_ns"])
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    hotpath.build_floor()
    subprocess.run(["gcc", "-O2", "-o", TCPXFER, os.path.join(ROOT, "bench", "tcpxfer.c")],
                   check=True)
    old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
    trace = os.path.join(tempfile.mkdtemp(prefix="ksight-cost-"), "t.lmdb")
    per = {}  # (workload, prog) -> [ns per run]
    runs = {}
    try:
        for _ in range(a.runs):
            r = watch([hotpath.TPFLOOR, "0", *WORKLOADS[0][1]], prog_stats())
            n = sum(r.get(k, (0, 0))[0] for k in ("floor_enter", "floor_exit"))
            ns = sum(r.get(k, (0, 0))[1] for k in ("floor_enter", "floor_exit"))
            if n:
                per.setdefault(("storm", "empty program (tpfloor 0)"), []).append(ns / n)
                runs.setdefault(("storm", "empty program (tpfloor 0)"), []).append(n)
            for wl, cmd in WORKLOADS:
                for f in (trace, trace + ".old"):
                    if os.path.exists(f):
                        os.unlink(f)
                r = watch([KSIGHT, "record", "-q", "-o", trace, "--", *cmd], prog_stats())
                for name, (n, ns) in r.items():
                    per.setdefault((wl, name), []).append(ns / n)
                    runs.setdefault((wl, name), []).append(n)
    finally:
        open("/proc/sys/kernel/bpf_stats_enabled", "w").write(old)
    base = statistics.median(per[("storm", "empty program (tpfloor 0)")])
    print(f"BPF run time per run, median of {a.runs}; command: bench/probecost.py "
          f"--runs {a.runs}\n")
    print("| workload | program | runs (median) | ns per run | ns beyond an empty program |")
    print("|---|---|---|---|---|")
    for (wl, name), v in sorted(per.items(), key=lambda kv: (kv[0][0], -statistics.median(
            runs.get(kv[0], [0])))):
        m = statistics.median(v)
        n = statistics.median(runs[(wl, name)])
        print(f"| {wl} | {name} | {n:.0f} | {m:.0f} | {m - base:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
