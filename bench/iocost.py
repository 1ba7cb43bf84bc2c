#!/usr/bin/env python3
"""Cost of the block I/O and network probes.
1. The syscall storm (`dd if=/dev/zero of=/dev/null bs=1 count=1000000`), whose
   syscalls touch neither a disk nor a socket: untraced, `ksight record`, and
   `ksight record --no-block --no-net`; medians of 7, alternating.
2. A loopback TCP transfer (bench/tcpxfer.c: 1 GiB in 64 KiB writes, one
   connection) the same three ways: the per-send and per-receive records.
3. The probes' own cost per call, from the kernel's BPF run-time statistics
   (sysctl kernel.bpf_stats_enabled) during a recorded transfer.
Wall time is noisy on a shared machine: CPU time (user + system of the command
and the recorder, from the children's rusage) is shown beside it. Also the
events and bytes of block and net rows the recordings stored.
bench/iocost.py  (after `make`)"""
import os
import re
import resource
import statistics
import subprocess
import tempfile
import signal
import json
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = os.path.join(ROOT, "ksight")
D = tempfile.mkdtemp(prefix="ksight-io-")
T = os.path.join(D, "t.lmdb")
XFER = os.path.join(D, "tcpxfer")
subprocess.run(["gcc", "-O2", "-o", XFER, os.path.join(ROOT, "bench/tcpxfer.c")], check=True)
RUNS = 7

WORK = {
    "storm": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"],
    "tcp 1 GiB": [XFER, str(1 << 30)],
}


def cfgs(cmd):
    return [("untraced", cmd),
            ("ksight record", [K, "record", "-q", "-o", T, "--", *cmd]),
            ("ksight record --no-block --no-net",
             [K, "record", "-q", "--no-block", "--no-net", "-o", T, "--", *cmd])]


def kinds():
    """events and stored bytes of the block and net kinds in T (ksight info)."""
    out = subprocess.run([K, "info", T], capture_output=True, text=True).stdout
    got = {}
    for line in out.splitlines():
        m = re.match(r"(block|net|syscall)\s+\d+\s+(\d+)\s+([\d.]+ \S+)", line)
        if m:
            got[m.group(1)] = f"{m.group(2)} events, {m.group(3)}"
    return got


for name, cmd in WORK.items():
    res = {n: [] for n, _ in cfgs(cmd)}
    cpu = {n: [] for n, _ in cfgs(cmd)}
    for r in range(RUNS):
        for n, c in (cfgs(cmd) if r % 2 == 0 else cfgs(cmd)[::-1]):
            u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.monotonic()
            subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            res[n].append(time.monotonic() - t)
            u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[n].append(u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime)
    subprocess.run(cfgs(cmd)[1][1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    stored = kinds()
    base = statistics.median(res["untraced"])
    cbase = statistics.median(cpu["untraced"])
    print(f"\n{name}: {' '.join(cmd)}")
    print("| run | wall s, median [min-max] | ratio | cpu s, median | ratio |")
    print("|---|---|---|---|---|")
    for n, _ in cfgs(cmd):
        m, c = statistics.median(res[n]), statistics.median(cpu[n])
        print(f"| {n} | {m:.3f} [{min(res[n]):.3f}-{max(res[n]):.3f}] | {m / base:.2f}x "
              f"| {c:.3f} | {c / cbase:.2f}x |")
    print("stored with every probe: " + "; ".join(f"{k}: {v}" for k, v in sorted(stored.items())))


# 3. ns per probe call, measured by the kernel while a long transfer is recorded
def bpf_stats():
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                      text=True).stdout)
    return {p["name"]: (p["run_cnt"], p["run_time_ns"]) for p in progs
            if p.get("name", "").startswith(("ks_net", "ks_blk", "ks_sys_e")) and p.get("run_cnt")}


old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
try:
    rec = subprocess.Popen([K, "record", "-q", "-o", T, "--", XFER, str(1 << 40)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    stats = bpf_stats()
    rec.send_signal(signal.SIGINT)
    rec.wait()
finally:
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write(old)
print("\nns per probe call during a recorded loopback transfer (every task's calls; "
      "block ones are the machine's own I/O)")
print("| program | calls | ns/call |\n|---|---|---|")
for n, (c, t) in sorted(stats.items()):
    print(f"| {n} | {c} | {t / c:.0f} |")
