#!/usr/bin/env python3
"""`ksight report` on one core and on two: wall time, events/s, CPU time and peak
RSS, medians of N alternating runs, on a large and a small trace (peak RSS must not
grow with the trace).

    bench/report_threads.py [--runs N] [--big TRACE] [--small TRACE] [--rt]

The one-core run is KSIGHT_THREADS=1 pinned with taskset to CPU 0; the two-core
run is KSIGHT_THREADS=2 on CPUs 0 and 1 (KSIGHT_BIN: another ksight binary to measure). Missing traces are recorded first
(`ksight record -- dd if=/dev/zero of=/dev/null bs=1 count=C`: two syscalls per
byte). On a machine others are loading, wall time is what they leave over: the
CPU time columns are less disturbed, and --rt runs each report under
`chrt -f 10` so that it gets its cores (root only)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KSIGHT = os.environ.get("KSIGHT_BIN") or os.path.join(ROOT, "ksight")


def record(path, count):
    print(f"recording {path} (dd count={count})", file=sys.stderr)
    subprocess.run([KSIGHT, "record", "-q", "-o", path, "--", "dd", "if=/dev/zero",
                    "of=/dev/null", "bs=1", f"count={count}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def events_of(path):
    out = subprocess.run([KSIGHT, "info", "--json", path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["events"]


def run_report(path, threads, cpus, rt):
    """One report: (wall s, user s, sys s, peak RSS KiB), from wait4's rusage
    (the figures /usr/bin/time -v prints)."""
    cmd = ["taskset", "-c", cpus]
    if rt:
        cmd += ["chrt", "-f", "10"]
    cmd += [KSIGHT, "report", path]
    env = dict(os.environ, KSIGHT_THREADS=str(threads))
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}")
    return wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss


CONFIGS = [(1, "0"), (2, "0,1")]


def measure(path, runs, rt):
    res = {t: [] for t, _ in CONFIGS}
    for i in range(runs):
        order = CONFIGS if i % 2 == 0 else CONFIGS[::-1]
        for threads, cpus in order:
            res[threads].append(run_report(path, threads, cpus, rt))
    return res


def med(xs):
    return statistics.median(xs)


def show(name, path, runs, rt):
    n = events_of(path)
    res = measure(path, runs, rt)
    print(f"\n{name}: {path}, {n / 1e6:.2f} M events, median of {runs} alternating runs"
          f"{' under chrt -f 10' if rt else ''}")
    print(f"{'threads':>7} {'wall s':>8} {'(min..max)':>15} {'M events/s':>11} "
          f"{'user s':>7} {'sys s':>6} {'M ev/CPU-s':>10} {'peak RSS':>10}")
    walls = {}
    rss = {}
    for threads, cpus in CONFIGS:
        r = res[threads]
        wall = med([x[0] for x in r])
        user = med([x[1] for x in r])
        sys_ = med([x[2] for x in r])
        walls[threads] = wall
        rss[threads] = med([x[3] for x in r])
        print(f"{threads:>7} {wall:8.3f} {min(x[0] for x in r):7.3f}..{max(x[0] for x in r):<7.3f}"
              f" {n / wall / 1e6:11.1f} {user:7.3f} {sys_:6.3f} {n / (user + sys_) / 1e6:10.1f}"
              f" {rss[threads] / 1024:7.1f} MiB   (taskset -c {cpus})")
    print(f"two cores / one core: {walls[1] / walls[2]:.2f}x (target >= 1.8x); "
          f"one core: {n / walls[1] / 1e6:.1f} M events/s (target >= 20)")
    return n, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big", default="/tmp/ksight-report-10m.lmdb",
                    help="about 10 M events (recorded when missing)")
    ap.add_argument("--small", default="/tmp/ksight-report-2m.lmdb",
                    help="about 2 M events (recorded when missing)")
    ap.add_argument("--rt", action="store_true", help="run reports under chrt -f 10")
    a = ap.parse_args()
    if os.cpu_count() < 2:
        sys.exit("needs two CPUs")
    for path, count in ((a.big, 5000000), (a.small, 1000000)):
        if not os.path.exists(path):
            record(path, count)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    nb, rss_b = show("large trace", a.big, a.runs, a.rt)
    ns, rss_s = show("small trace", a.small, a.runs, a.rt)
    # The trace is read through LMDB's read-only map: its pages count in RSS as
    # they are touched (page cache, not the reader's memory), so the difference
    # between the traces is at most the difference of their file sizes.
    fb, fs = os.path.getsize(a.big) / 1024, os.path.getsize(a.small) / 1024
    print(f"\npeak RSS; minus the trace file's size (its pages are mapped, not allocated)")
    for t, _ in CONFIGS:
        print(f"{t} thread(s): {rss_s[t] / 1024:.1f} MiB at {ns / 1e6:.1f} M events, "
              f"{rss_b[t] / 1024:.1f} MiB at {nb / 1e6:.1f} M events "
              f"({rss_b[t] / rss_s[t]:.2f}x for {nb / ns:.1f}x the events); "
              f"minus the file: {(rss_s[t] - fs) / 1024:.1f} -> {(rss_b[t] - fb) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
