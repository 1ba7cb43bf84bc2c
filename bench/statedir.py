#!/usr/bin/env python3
"""State dir capture and restore, measured: for each workload, the run untraced
and recorded with --state-dir, the bytes its syscalls wrote, the bytes stored
for them (deltas, chunks, packs: keys and values) and the trace file's growth,
then a restore timed (the page cache dropped first when we may).

  bench/statedir.py [--keep DIR] [workload...]   workloads: pages log bigfiles mix

Figures, not pass/fail: run it beside nothing else (the machine is shared)."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

KSIGHT = os.path.abspath("./ksight")
MIX = os.path.abspath("tests/statedir_workload.py")

GEN = r'''
import os, random, sys
mode, root = sys.argv[1], sys.argv[2]
R = random.Random(7)
if mode == "pages":      # a database-like file: 4 KiB pages of random bytes rewritten at random
    fd = os.open(os.path.join(root, "db"), os.O_RDWR | os.O_CREAT, 0o644)
    pages = 16384        # 64 MiB
    for i in range(pages):
        os.pwrite(fd, R.randbytes(4096), i * 4096)
    for i in range(30000):
        os.pwrite(fd, R.randbytes(4096), R.randrange(pages) * 4096)
    os.close(fd)
elif mode == "log":      # text appended in writes of 1, 4 and 64 KiB
    words = [b"GET /api/v1/items/%d 200 latency_ms=%d user=%d ok\n" % (R.randrange(10**6),
             R.randrange(1000), R.randrange(5000)) for _ in range(20000)]
    text = b"".join(words)
    fd = os.open(os.path.join(root, "app.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    total, off = 0, 0
    while total < 256 << 20:
        n = R.choice((1024, 4096, 65536))
        if off + n > len(text):
            off = R.randrange(len(text) // 2)
        os.write(fd, text[off:off + n])
        off += n
        total += n
    os.close(fd)
elif mode == "bigfiles": # 8 files of 32 MiB in 1 MiB writes, half of them one blob again
    blob = R.randbytes(32 << 20)
    for i in range(8):
        fd = os.open(os.path.join(root, "f%d" % i), os.O_WRONLY | os.O_CREAT, 0o644)
        data = blob if i % 2 else R.randbytes(32 << 20)
        for off in range(0, len(data), 1 << 20):
            os.write(fd, data[off:off + (1 << 20)])
        os.close(fd)
'''


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass


def workload(name, d, state):
    if name == "mix":
        os.makedirs(os.path.join(d, "out"), exist_ok=True)
        run(["python3", MIX, "setup", state])
        return ["python3", MIX, "plain", state, os.path.join(d, "out")]
    gen = os.path.join(d, "gen.py")
    with open(gen, "w") as f:
        f.write(GEN)
    return ["python3", gen, name, state]


def measure(name, base):
    d = os.path.join(base, name)
    state = os.path.join(d, "state")
    os.makedirs(state)
    cmd = workload(name, d, state)
    t0 = time.monotonic()
    p = run(cmd)
    untraced = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    shutil.rmtree(d)
    os.makedirs(state)
    cmd = workload(name, d, state)
    trace = os.path.join(d, "t.lmdb")
    t0 = time.monotonic()
    p = run([KSIGHT, "record", "-q", "-o", trace, "--state-dir", state, "--", *cmd])
    traced = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    meta = json.loads(run([KSIGHT, "info", trace, "--json"]).stdout)["meta"]
    written = int(meta["statedir_syscall_bytes"])
    stored = int(meta["statedir_stored_bytes"])
    size = os.stat(trace).st_size
    to = os.path.join(d, "restored")
    drop_caches()
    t0 = time.monotonic()
    p = run([KSIGHT, "restore", "-q", trace, "--to", to])
    secs = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    restored = 0
    for dirpath, _, files in os.walk(to):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                restored += os.stat(p).st_size
    same = run(["diff", "-r", "--no-dereference", state,
                os.path.join(to, state.lstrip("/"))]).returncode == 0
    return {
        "workload": name, "untraced_s": untraced, "recorded_s": traced,
        "written": written, "stored": stored,
        "stored_per_written": stored / written if written else 0,
        "trace_bytes": size, "trace_per_written": size / written if written else 0,
        "restore_s": secs, "restore_mb_s": restored / 1e6 / secs, "identical": same,
        "corrections": int(meta["statedir_corrections"]), "lost": int(meta["lost_total"]),
    }


def main():
    args = sys.argv[1:]
    keep = None
    if args[:1] == ["--keep"]:
        keep, args = args[1], args[2:]
    names = args or ["pages", "log", "bigfiles", "mix"]
    base = keep or tempfile.mkdtemp(prefix="ksight-bench-statedir-")
    print("%-9s %9s %9s %10s %10s %8s %11s %8s %10s %5s %5s" % (
        "workload", "untraced", "recorded", "written", "stored", "st/wr", "trace", "tr/wr",
        "restore", "same", "lost"))
    try:
        for n in names:
            r = measure(n, base)
            print("%-9s %8.2fs %8.2fs %9.1fM %9.1fM %8.2f %10.1fM %8.2f %7.0fMB/s %5s %5d" % (
                n, r["untraced_s"], r["recorded_s"], r["written"] / 2**20, r["stored"] / 2**20,
                r["stored_per_written"], r["trace_bytes"] / 2**20, r["trace_per_written"],
                r["restore_mb_s"], "yes" if r["identical"] else "NO", r["lost"]))
            sys.stdout.flush()
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
