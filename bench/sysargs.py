#!/usr/bin/env python3
"""Syscall arguments on the syscall storm: wall time (median of 5) untraced,
recorded without arguments (--no-args) and with them, and the trace's bytes per
syscall (whole file, and the syscall segments). Run as root from the tree:
bench/sysargs.py [RUNS]"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

KSIGHT = os.path.abspath("ksight")
STORM = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]


def timed(cmd):
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tmp = tempfile.mkdtemp(prefix="ksight-bench-")
    trace = os.path.join(tmp, "t.lmdb")
    rows = {}
    base = statistics.median(timed(STORM) for _ in range(runs))
    rows["untraced"] = (base, None)
    for name, opts in (("no arguments", ["--no-args"]), ("arguments", [])):
        times, sizes = [], None
        for _ in range(runs):
            if os.path.exists(trace):
                os.remove(trace)
            times.append(timed([KSIGHT, "record", "-q", "-o", trace, *opts, "--", *STORM]))
        info = json.loads(subprocess.run([KSIGHT, "info", trace, "--json"], check=True,
                                         capture_output=True, text=True).stdout)
        kinds = {k["kind"]: k for k in info.get("kinds", [])} if isinstance(info.get("kinds"), list) else info.get("kinds", {})
        n = kinds.get("syscall", {}).get("events") or 1
        seg = kinds.get("syscall", {}).get("stored_bytes") or 0
        used = info.get("file_bytes") or os.path.getsize(trace)
        sizes = (used / n, seg / n)
        rows[name] = (statistics.median(times), sizes)
    print(f"storm: {' '.join(STORM)}, median of {runs}")
    print(f"{'':14} {'wall s':>8} {'ratio':>6} {'file B/syscall':>15} {'syscall seg B/syscall':>22}")
    for name, (t, sz) in rows.items():
        f = f"{sz[0]:15.2f} {sz[1]:22.2f}" if sz else ""
        print(f"{name:14} {t:8.3f} {t / base:6.2f} {f}")


if __name__ == "__main__":
    main()
