#!/usr/bin/env python3
"""The time model's costs: recording the syscall storm with this build and with a
reference build (probe cost: the exec record's variable-length argv, the exit-time
side records), and `report --json` over the storm's trace and over a scheduler-heavy
trace with each build (the model's second pass: syscall and sched segments merged,
fd tables replayed). Median of RUNS (default 5). Run as root from the tree:
bench/timemodel.py REFERENCE_KSIGHT [RUNS]"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

KSIGHT = os.path.abspath("ksight")
STORM = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]
SCHED = [os.path.abspath("build/tests/workload"), "ctxsw", "1500"]


def timed(cmd):
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def median(cmd, runs, before=None):
    out = []
    for _ in range(runs):
        if before:
            before()
        out.append(timed(cmd))
    return statistics.median(out)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ref = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = tempfile.mkdtemp(prefix="ksight-bench-")
    trace = os.path.join(tmp, "t.lmdb")

    def fresh():
        if os.path.exists(trace):
            os.remove(trace)

    base = median(STORM, runs)
    print(f"storm: {' '.join(STORM)}, median of {runs}")
    print(f"{'':22} {'wall s':>8} {'ratio':>6}")
    print(f"{'untraced':22} {base:8.3f} {1:6.2f}")
    for name, k in (("recorded, reference", ref), ("recorded, this build", KSIGHT)):
        t = median([k, "record", "-q", "-o", trace, "--", *STORM], runs, fresh)
        print(f"{name:22} {t:8.3f} {t / base:6.2f}")
    traces = {"storm": trace}
    sched = os.path.join(tmp, "sched.lmdb")
    subprocess.run([KSIGHT, "record", "-q", "-o", sched, "--", *SCHED], check=True,
                   stdout=subprocess.DEVNULL)
    traces["ctxsw 1.5 s"] = sched
    print(f"\nreport --json, median of {runs}")
    for name, t in traces.items():
        a = median([ref, "report", t, "--json"], runs)
        b = median([KSIGHT, "report", t, "--json"], runs)
        print(f"{name:12} reference {a:7.3f} s   this build {b:7.3f} s   ratio {b / a:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
