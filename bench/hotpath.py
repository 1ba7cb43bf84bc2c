#!/usr/bin/env python3
"""The hot path, one knob at a time: the syscall storm (dd bs=1) untraced and
under ksight in each probe configuration, alternating, medians of N runs. The
figure is dd's own CPU time (user + system: the probes run in its context), which
a busy machine disturbs far less than wall time.

    bench/hotpath.py [--runs N] [--count C] [--quick] [--workload storm|tar]
                     [--configs NAME,NAME...]

--workload tar extracts the /usr/include tarball into tmpfs instead (as
bench/bench.py does); then the wall times count too: the command's own (timeit)
and the whole invocation's, probe loading and teardown included, each against
the untraced run. The floor rows (bench/tpfloor.bpf.c) are what any syscall
tracer costs on this kernel. --configs picks rows by name prefix ("untraced,floor:
empty,default (every")."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

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


def tar_workload(work):
    """(setup, argv) of the tarball extraction into tmpfs: /usr/include's tar in
    /dev/shm (or a tmpfs mounted in work), extracted into an emptied directory."""
    shm = "/dev/shm"
    if subprocess.run(["stat", "-f", "-c", "%T", shm], capture_output=True,
                      text=True).stdout.strip() != "tmpfs":
        shm = os.path.join(work, "tmpfs")
        os.makedirs(shm)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", shm], check=True)
    base = tempfile.mkdtemp(prefix="ksight-hot-", dir=shm)
    tarball, dest = os.path.join(base, "include.tar"), os.path.join(base, "x")
    subprocess.run(["tar", "-C", "/usr", "-cf", tarball, "include"], check=True)

    def setup():
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        subprocess.run(["sync"], check=True)
    return base, setup, ["tar", "-C", dest, "-xf", tarball]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--quick", action="store_true", help="only the hot-path variants")
    ap.add_argument("--workload", choices=("storm", "tar"), default="storm")
    ap.add_argument("--configs", help="comma-separated name prefixes of the rows to run")
    a = ap.parse_args()
    configs = [c for c in CONFIGS if not a.quick or c[0] in QUICK]
    if a.configs:
        pre = a.configs.split(",")
        configs = [c for c in configs if c[0] == "untraced" or
                   any(c[0].startswith(p) for p in pre)]
    os.makedirs(os.path.dirname(TIMEIT), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-o", TIMEIT, os.path.join(ROOT, "bench", "timeit.c")],
                   check=True)
    build_floor()
    work = tempfile.mkdtemp(prefix="ksight-hot-")
    tfile, trace = os.path.join(work, "t"), os.path.join(work, "trace.lmdb")
    env = dict(os.environ, KSIGHT_TIMEIT_OUT=tfile)
    setup, shm = None, None
    if a.workload == "tar":
        shm, setup, wl = tar_workload(work)
        cmd = [TIMEIT, *wl]
    else:
        cmd = [TIMEIT, "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={a.count}"]
    res = {name: [] for name, _, _ in configs}
    for r in range(a.runs):
        order = configs if r % 2 == 0 else list(reversed(configs))
        for name, opts, hot in order:
            if setup:
                setup()
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
            t0 = time.perf_counter()
            subprocess.run(argv, env=e, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            whole = time.perf_counter() - t0
            wall, cpu = (int(x) for x in open(tfile).read().split())
            res[name].append((cpu / 1e9, wall / 1e9, whole))
    if shm:
        shutil.rmtree(shm, ignore_errors=True)
    if a.workload == "tar":
        return report_tar(a, configs, res)
    base = statistics.median(c for c, _, _ in res["untraced"])
    nsys = 2 * a.count
    print(f"dd bs=1 count={a.count} ({nsys} syscalls), {a.runs} runs each, alternating;"
          f" command: bench/hotpath.py --runs {a.runs} --count {a.count}\n")
    print("| configuration | dd CPU s, median [min-max] | ratio | added ns/syscall | dd wall s |")
    print("|---|---|---|---|---|")
    for name, _, _ in configs:
        cpus = [c for c, _, _ in res[name]]
        m = statistics.median(cpus)
        print(f"| {name} | {m:.3f} [{min(cpus):.3f}-{max(cpus):.3f}] | {m / base:.2f}x | "
              f"{(m - base) * 1e9 / nsys:.0f} | "
              f"{statistics.median(w for _, w, _ in res[name]):.3f} |")


def report_tar(a, configs, res):
    med = statistics.median
    base = [med(x[i] for x in res["untraced"]) for i in range(3)]
    print(f"tar -xf of /usr/include's tarball into tmpfs, {a.runs} runs each, alternating;"
          f" command: bench/hotpath.py --workload tar --runs {a.runs}"
          + (f" --configs '{a.configs}'" if a.configs else "") + "\n")
    print("| configuration | tar CPU s | ratio | tar wall s, median [min-max] | ratio | "
          "whole invocation wall s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, _, _ in configs:
        m = [med(x[i] for x in res[name]) for i in range(3)]
        ws = [x[1] for x in res[name]]
        print(f"| {name} | {m[0]:.3f} | {m[0] / base[0]:.2f}x | {m[1]:.3f} "
              f"[{min(ws):.3f}-{max(ws):.3f}] | {m[1] / base[1]:.2f}x | {m[2]:.3f} | "
              f"{m[2] / base[2]:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
