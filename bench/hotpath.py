#!/usr/bin/env python3
"""The hot path, one knob at a time: the syscall storm (dd bs=1) untraced and
under ksight in each probe configuration, alternating, medians of N runs. The
figure is dd's own CPU time (user + system: the probes run in its context), which
a busy machine disturbs far less than wall time.

    bench/hotpath.py [--runs N] [--count C]"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KSIGHT = os.path.join(ROOT, "ksight")
TIMEIT = os.path.join(ROOT, "build", "bench", "timeit")
CONFIGS = [  # (name, record options, KSIGHT_HOTPATH)
    ("untraced", None, None),
    ("default (every probe)", [], None),
    ("default, no per-CPU batches", [], "nobatch"),
    ("default, no in-flight cache", [], "nocache"),
    ("default, neither (one record at a time)", [], "nobatch,nocache"),
    ("--no-profile --no-offcpu", ["--no-profile", "--no-offcpu"], None),
    ("--no-args", ["--no-args"], None),
    ("--no-sched --sample-interval 0", ["--no-sched", "--sample-interval", "0"], None),
    ("syscalls only", ["--no-sched", "--sample-interval", "0", "--no-profile", "--no-offcpu",
                       "--no-args", "--no-block", "--no-net"], None),
    ("--probe-kind raw_tp (hash)", ["--probe-kind", "raw_tp"], None),
    ("--transport perfbuf", ["--transport", "perfbuf"], None),
    # the floor: bench/tpfloor.bpf.c, not ksight
    ("floor: empty sys_enter/sys_exit programs", "floor0", None),
    ("floor: + task storage lookups", "floor1", None),
    ("floor: + two clock reads", "floor2", None),
    ("floor: + a ring-buffer record per syscall", "floor3", None),
    ("floor: + per-CPU 4 KiB batches instead", "floor4", None),
]
QUICK = {"floor: empty sys_enter/sys_exit programs", "untraced", "default (every probe)", "default, neither (one record at a time)",
         "default, no per-CPU batches", "default, no in-flight cache", "syscalls only"}


TPFLOOR = os.path.join(ROOT, "build", "bench", "tpfloor")


def build_floor():
    """bench/tpfloor.c and its BPF object, with the build's vmlinux.h."""
    b = os.path.join(ROOT, "build", "bench")
    src = os.path.join(ROOT, "bench")
    obj = os.path.join(b, "tpfloor.bpf.o")
    subprocess.run(["clang", "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86",
                    "-I", os.path.join(ROOT, "build"), "-c", os.path.join(src, "tpfloor.bpf.c"),
                    "-o", obj], check=True)
    with open(os.path.join(b, "tpfloor.skel.h"), "w") as f:
        subprocess.run(["bpftool", "gen", "skeleton", obj], stdout=f, check=True)
    subprocess.run(["gcc", "-O2", "-I", b, "-o", TPFLOOR, os.path.join(src, "tpfloor.c"),
                    "-lbpf", "-lpthread"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--quick", action="store_true", help="only the hot-path variants")
    a = ap.parse_args()
    configs = [c for c in CONFIGS if not a.quick or c[0] in QUICK]
    subprocess.run(["gcc", "-O2", "-o", TIMEIT, os.path.join(ROOT, "bench", "timeit.c")],
                   check=True)
    build_floor()
    work = tempfile.mkdtemp(prefix="ksight-hot-")
    tfile, trace = os.path.join(work, "t"), os.path.join(work, "trace.lmdb")
    env = dict(os.environ, KSIGHT_TIMEIT_OUT=tfile)
    cmd = [TIMEIT, "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={a.count}"]
    res = {name: [] for name, _, _ in configs}
    for r in range(a.runs):
        order = configs if r % 2 == 0 else list(reversed(configs))
        for name, opts, hot in order:
            for f in (trace, trace + ".old"):
                if os.path.exists(f):
                    os.unlink(f)
            if opts is None:
                argv = cmd
            elif isinstance(opts, str):
                argv = [TPFLOOR, opts[5:], *cmd]
            else:
                argv = [KSIGHT, "record", "-q", "-o", trace, *opts, "--", *cmd]
            e = dict(env, KSIGHT_HOTPATH=hot) if hot else env
            subprocess.run(argv, env=e, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            wall, cpu = (int(x) for x in open(tfile).read().split())
            res[name].append((cpu / 1e9, wall / 1e9))
    base = statistics.median(c for c, _ in res["untraced"])
    nsys = 2 * a.count
    print(f"dd bs=1 count={a.count} ({nsys} syscalls), {a.runs} runs each, alternating;"
          f" command: bench/hotpath.py --runs {a.runs} --count {a.count}\n")
    print("| configuration | dd CPU s, median [min-max] | ratio | added ns/syscall | dd wall s |")
    print("|---|---|---|---|---|")
    for name, _, _ in configs:
        cpus = [c for c, _ in res[name]]
        m = statistics.median(cpus)
        print(f"| {name} | {m:.3f} [{min(cpus):.3f}-{max(cpus):.3f}] | {m / base:.2f}x | "
              f"{(m - base) * 1e9 / nsys:.0f} | {statistics.median(w for _, w in res[name]):.3f} |")


if __name__ == "__main__":
    sys.exit(main())
