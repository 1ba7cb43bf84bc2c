#!/usr/bin/env python3
"""The fixed cost of `ksight record`: the wall time it adds before the command
starts and after it ends, measured on a command that does nothing.

    bench/startup.py [--runs N] [--cmd 'true'] [--ksight PATH]... [-- EXTRA RECORD ARGS]

Alternates, --runs times each: the command untraced, `ksight --version` (the
binary's own start: the dynamic loader and its libraries), `ksight record -q --
CMD`, and `ksight record --debug -q -- CMD`, whose "phase" lines (cli/cmd_record.c)
time each step of the start and the end. Prints the median wall times and the
median of each phase; "record cpu" is the recorder's CPU time (user + system, every
thread). With --ksight given more than once, the binaries take
turns within each round (a before/after comparison on a shared machine)."""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASE = re.compile(r"phase (\S+)\s+\+\s*([0-9.]+) ms")


CPU = []  # the CPU time (user + system) of the last wall() call


def wall(argv, env=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=env)
    t = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return t, p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cmd", default="true")
    ap.add_argument("--ksight", action="append")
    ap.add_argument("--out", default="/tmp/ksight-startup.lmdb")
    ap.add_argument("extra", nargs="*", help="more options for ksight record")
    a = ap.parse_args()
    bins = a.ksight or [os.path.join(ROOT, "ksight")]
    cmd = a.cmd.split()
    untraced = []
    res = {b: ({"ksight --version": [], "record": [], "record cpu": [], "record --debug": []},
               {}, []) for b in bins}
    for _ in range(a.runs):
        untraced.append(wall(cmd)[0])
        for b in bins:
            walls, phases, order = res[b]
            rec = [b, "record", "-q", "-o", a.out] + a.extra + ["--"] + cmd
            dbg = [b, "record", "--debug", "-q", "-o", a.out] + a.extra + ["--"] + cmd
            walls["ksight --version"].append(wall([b, "--version"])[0])
            t, p = wall(rec)
            if p.returncode:
                sys.exit("record failed: " + p.stderr)
            walls["record"].append(t)
            walls["record cpu"].append(CPU[-1])
            t, p = wall(dbg)
            walls["record --debug"].append(t)
            seen = {}
            for m in PHASE.finditer(p.stderr):
                seen[m.group(1)] = seen.get(m.group(1), 0.0) + float(m.group(2))
            for k, v in seen.items():
                if k not in phases:
                    phases[k] = []
                    order.append(k)
                phases[k].append(v)
    xs = [x * 1e3 for x in untraced]
    print(f"{'what':<22} {'median ms':>10} {'min':>8} {'max':>8}   ({a.runs} runs)")
    print(f"{'untraced ' + a.cmd:<22} {statistics.median(xs):10.1f} {min(xs):8.1f} {max(xs):8.1f}")
    for b in bins:
        walls, phases, order = res[b]
        print(b)
        for k, xs in walls.items():
            xs = [x * 1e3 for x in xs]
            print(f"  {k:<20} {statistics.median(xs):10.1f} {min(xs):8.1f} {max(xs):8.1f}")
        print("  phases of record --debug (cli/cmd_record.c):")
        total = 0.0
        for k in order:
            m = statistics.median(phases[k])
            total += m
            print(f"    {k:<18} {m:10.2f} {min(phases[k]):8.2f} {max(phases[k]):8.2f}")
        print(f"    {'sum of medians':<18} {total:10.2f}")
    if os.path.exists(a.out):
        os.unlink(a.out)


if __name__ == "__main__":
    main()
