#!/usr/bin/env python3
"""Recording overhead of the scheduler probes on a context-switch-heavy workload:
`workload pingpong 100000` (two processes bouncing a byte over pipes) untraced,
under `ksight record` and under `ksight record --no-sched`, alternating, medians
of 7 wall times.  bench/pingpong.py  (after `make` and `tests/integration.sh`,
which builds build/tests/workload)"""
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, K = os.path.join(ROOT, "build/tests/workload"), os.path.join(ROOT, "ksight")
T = os.path.join(tempfile.mkdtemp(prefix="ksight-pp-"), "pp.lmdb")
CFG = [("untraced", [W, "pingpong", "100000"]),
       ("ksight record", [K, "record", "-q", "-o", T, "--", W, "pingpong", "100000"]),
       ("ksight record --no-sched",
        [K, "record", "-q", "--no-sched", "-o", T, "--", W, "pingpong", "100000"])]
res = {n: [] for n, _ in CFG}
for r in range(7):
    for n, c in (CFG if r % 2 == 0 else CFG[::-1]):
        t = time.monotonic()
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        res[n].append(time.monotonic() - t)
base = statistics.median(res["untraced"])
print("| run | wall s, median [min-max] | ratio |\n|---|---|---|")
for n, _ in CFG:
    m = statistics.median(res[n])
    print(f"| {n} | {m:.3f} [{min(res[n]):.3f}-{max(res[n]):.3f}] | {m / base:.2f}x |")
