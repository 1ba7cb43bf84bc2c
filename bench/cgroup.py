#!/usr/bin/env python3
"""The cgroup filter on the syscall storm: dd's wall time (median of RUNS)
untraced; recorded as a command; inside a cgroup v2 recorded with --cgroup (the
in-kernel ancestry test at every event); outside it while --cgroup records (what
an untraced task pays); and while -a records everything. Run as root from the
tree: bench/cgroup.py [RUNS]"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

KSIGHT = os.path.abspath("ksight")
STORM = "dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null"


def cgroup2_mount():
    for line in open("/proc/self/mountinfo"):
        pre, _, post = line.partition(" - ")
        if post.split()[0] == "cgroup2":
            return pre.split()[4]
    sys.exit("no cgroup v2 hierarchy mounted")


def timed_sh(script):
    t = time.monotonic()
    subprocess.run(["sh", "-c", script], check=True)
    return time.monotonic() - t


def under_recorder(args, script, trace):
    rec = subprocess.Popen([KSIGHT, "record", "-q", "-o", trace, *args],
                           stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    try:
        return timed_sh(script)
    finally:
        rec.send_signal(2)
        rec.wait()


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tmp = tempfile.mkdtemp(prefix="ksight-bench-")
    trace = os.path.join(tmp, "t.lmdb")
    cg = os.path.join(cgroup2_mount(), f"ksight-bench-{os.getpid()}")
    os.mkdir(cg)
    inside = f"echo $$ > {cg}/cgroup.procs; {STORM}"
    try:
        rows = {
            "untraced": [timed_sh(STORM) for _ in range(runs)],
            "record -- dd": [timed_sh(f"{KSIGHT} record -q -o {trace} -- {STORM}")
                             for _ in range(runs)],
            "--cgroup, dd inside": [under_recorder(["--cgroup", cg], inside, trace)
                                    for _ in range(runs)],
            "--cgroup, dd outside": [under_recorder(["--cgroup", cg], STORM, trace)
                                     for _ in range(runs)],
            "-a, dd": [under_recorder(["-a"], STORM, trace) for _ in range(runs)],
        }
    finally:
        os.rmdir(cg)
    base = statistics.median(rows["untraced"])
    for name, v in rows.items():
        m = statistics.median(v)
        print(f"{name:24s} {m:7.3f} s  {m / base:5.2f}x")


if __name__ == "__main__":
    main()
