#!/usr/bin/env python3
"""Side-by-side benchmarks: each workload untraced, under ksight and under the
peers, alternating tools within each round, medians and min-max over the runs.

    bench/bench.py [--runs N] [--workloads storm,tar,...] [--tools ...] [--tar-on-disk]
                   [--sizes] [--ksight-base PATH]

Prints, per workload and tool: the command's own run time (measured inside the
tracer by bench/timeit) and the wall time of the whole invocation as ratios to the
untraced run; for ksight also events recorded and lost, bytes per event on disk,
recorder CPU per event and peak RSS; with --sizes, where the bytes of ksight's
last trace of each workload go (build/bench/trace_size: the whole file per
syscall, per kind, LMDB's share). The tarball is extracted into tmpfs (the
tarball itself is there too), so the disk adds no noise; --tar-on-disk extracts
under /tmp as before. Then replay speed: ksight report vs perf trace -i FILE -s
on the same recording. Tools beside the peers: "floor" runs the command under
empty sys_enter/sys_exit programs only (bench/tpfloor.c level 0: what any syscall
tracer costs on this kernel, loading included); --ksight-base PATH adds
"ksight-base", another ksight binary (a before/after comparison in one run)."""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KSIGHT = os.path.join(ROOT, "ksight")
TIMEIT = os.path.join(ROOT, "build", "bench", "timeit")
TCPXFER = os.path.join(ROOT, "build", "bench", "tcpxfer")
TRACE_SIZE = os.path.join(ROOT, "build", "bench", "trace_size")
WORK = tempfile.mkdtemp(prefix="ksight-bench-")
TAR_ON_DISK = False
SHM = None  # a directory on tmpfs, made on first use
TIMEFILE = os.path.join(WORK, "t")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


def wait_child(p):
    """Waits for p; returns (returncode, maxrss_kib)."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss


# --- workloads: (setup, command) -------------------------------------------------

def storm():
    return None, ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]


def tmpfs_dir():
    """A directory on tmpfs: under /dev/shm when that is tmpfs, else a tmpfs
    mounted in WORK."""
    global SHM
    if SHM is None:
        if sh(["stat", "-f", "-c", "%T", "/dev/shm"]).stdout.strip() == "tmpfs":
            SHM = tempfile.mkdtemp(prefix="ksight-bench-", dir="/dev/shm")
        else:
            SHM = os.path.join(WORK, "tmpfs")
            os.makedirs(SHM)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", SHM], check=True)
    return SHM


def tar_extract():
    base = WORK if TAR_ON_DISK else tmpfs_dir()
    tarball = os.path.join(base, "include.tar")
    if not os.path.exists(tarball):
        subprocess.run(["tar", "-C", "/usr", "-cf", tarball, "include"], check=True)
    dest = os.path.join(base, "x")

    def setup():
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        # the last run's dirty pages would otherwise be written back during this one
        subprocess.run(["sync"], check=True)
    return setup, ["tar", "-C", dest, "-xf", tarball]


def pipe_pingpong():
    return None, ["sh", "-c", "yes | head -c 50000000 > /dev/null"]


def build():
    """Compiles the project's own library sources (what `make` does, without make's
    dependency checks, so every run does the same work)."""
    src = [os.path.join(d, f) for d in ("format", "store")
           for f in sorted(os.listdir(os.path.join(ROOT, d))) if f.endswith(".c")]
    out = os.path.join(WORK, "objs")
    os.makedirs(out, exist_ok=True)
    cmds = " && ".join(f"gcc -std=gnu11 -O2 -D_GNU_SOURCE -I{ROOT} -I{ROOT}/build -c {ROOT}/{f} "
                       f"-o {out}/{i}.o" for i, f in enumerate(src))
    return None, ["sh", "-c", cmds]


def tcp():
    return None, [TCPXFER, str(1 << 30)]


def sqlite():
    """fsync-heavy: 3000 single-row transactions with synchronous=FULL, recorded
    with --state-dir on the database's directory where ksight supports it."""
    d = os.path.join(WORK, "sq")
    sql = os.path.join(WORK, "load.sql")
    with open(sql, "w") as f:
        f.write("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;\n"
                "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB);\n")
        for i in range(3000):
            f.write(f"BEGIN; INSERT INTO t(v) VALUES(randomblob(2000)); COMMIT;\n")

    def setup():
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    return setup, ["sh", "-c", f"sqlite3 {d}/db.sqlite < {sql}"]


WORKLOADS = {"storm": storm, "tar": tar_extract, "build": build, "tcp": tcp,
             "sqlite": sqlite, "pipe": pipe_pingpong}
STATE_DIRS = {"sqlite": "sq"}


# --- tools: each returns (argv, cleanup) wrapped around the timed command ---------

def t_untraced(cmd, out):
    return [TIMEIT, *cmd]


KSIGHT_EXTRA = []


def t_ksight(cmd, out):
    return [KSIGHT, "record", "-o", out, *KSIGHT_EXTRA, "--", TIMEIT, *cmd]


KSIGHT_BASE = None


def t_ksight_base(cmd, out):
    return [KSIGHT_BASE, "record", "-o", out, *KSIGHT_EXTRA, "--", TIMEIT, *cmd]


def t_floor(cmd, out):
    return [os.path.join(ROOT, "build", "bench", "tpfloor"), "0", TIMEIT, *cmd]


def t_perf_trace(cmd, out):
    return ["perf", "trace", "record", "-q", "-o", out, "--", TIMEIT, *cmd]


def t_strace(cmd, out):
    return ["strace", "-f", "-c", "-o", "/dev/null", TIMEIT, *cmd]


BPFTRACE_PROG = ("tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @s[tid] = nsecs; } "
                 "tracepoint:raw_syscalls:sys_exit /@s[tid]/ "
                 "{ @lat = hist(nsecs - @s[tid]); delete(@s[tid]); }")


def t_bpftrace(cmd, out):
    # -c takes one string split at spaces: a script keeps the command's quoting
    script = os.path.join(WORK, "bpftrace-cmd.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec " + shlex.join([TIMEIT, *cmd]) + "\n")
    os.chmod(script, 0o755)
    return ["bpftrace", "-q", "-e", BPFTRACE_PROG, "-c", f"/bin/sh {script}"]


TOOLS = {
    "untraced": t_untraced,
    "ksight": t_ksight,
    "perf-trace": t_perf_trace,
    "strace-c": t_strace,
    "bpftrace": t_bpftrace,
    "syscount-L": None,  # system-wide in the background, see run_syscount
    "floor": t_floor,    # not in the default set
    "ksight-base": t_ksight_base,  # with --ksight-base
}
DEFAULT_TOOLS = ["untraced", "ksight", "perf-trace", "strace-c", "bpftrace", "syscount-L"]


def run_syscount(cmd):
    p = subprocess.Popen(["syscount", "-L"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.5)  # attached once it prints; give it time to load
    t0 = time.monotonic()
    r = subprocess.run([TIMEIT, *cmd], capture_output=True, env=env())
    wall = time.monotonic() - t0
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    return r.returncode, wall, 0


def env():
    e = dict(os.environ)
    e["KSIGHT_TIMEIT_OUT"] = TIMEFILE
    return e


def one_run(tool, cmd, out):
    if os.path.exists(out):
        os.unlink(out)
    for extra in (out + ".old", out + "-lock"):
        if os.path.exists(extra):
            os.unlink(extra)
    if tool == "syscount-L":
        rc, wall, rss = run_syscount(cmd)
        stderr = ""
    else:
        argv = TOOLS[tool](cmd, out)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=env())
        stderr = p.stderr.read()
        rc, rss = wait_child(p)
        wall = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"{tool} failed ({rc}): {stderr.strip()[:300]}")
    cmd_s = int(open(TIMEFILE).read().split()[0]) / 1e9
    return {"cmd_s": cmd_s, "wall_s": wall, "stderr": stderr, "rss": rss}


SUMMARY = re.compile(r"ksight: (\d+) syscalls, (\d+) process events, (\d+) lost, .* \((\d+) bytes\); "
                     r"recorder cpu ([\d.]+) ms, rss (\d+) KiB")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_range(xs, scale=1.0):
    return f"{med(xs) * scale:.3f} [{min(xs) * scale:.3f}-{max(xs) * scale:.3f}]"


def bench_workload(name, runs, tools, lines, sizes=False):
    setup, cmd = WORKLOADS[name]()
    KSIGHT_EXTRA.clear()
    if name in STATE_DIRS and "--state-dir" in sh([KSIGHT, "record", "--help"]).stdout:
        KSIGHT_EXTRA.extend(["--state-dir", os.path.join(WORK, STATE_DIRS[name])])
    res = {t: [] for t in tools}
    out = os.path.join(WORK, "trace")
    for r in range(runs):
        order = tools if r % 2 == 0 else list(reversed(tools))  # alternate A/B
        for t in order:
            if setup:
                setup()
            o = out + (".lmdb" if t.startswith("ksight") else ".data")
            res[t].append(one_run(t, cmd, o))
            if t in ("ksight", "ksight-base"):
                m = SUMMARY.search(res[t][-1]["stderr"])
                if m:
                    ev, pe, lost, size, cpu_ms, rss = m.groups()
                    res[t][-1].update(events=int(ev), lost=int(lost), size=int(size),
                                      cpu_ms=float(cpu_ms), rec_rss=int(rss))
                if sizes and r == runs - 1:
                    res[t][-1]["sizes"] = sh([TRACE_SIZE, o]).stdout
    base_cmd = med([x["cmd_s"] for x in res["untraced"]])
    base_wall = med([x["wall_s"] for x in res["untraced"]])
    shown = " ".join(cmd) if len(" ".join(cmd)) < 120 else " ".join(cmd)[:117] + "..."
    extra = f" (ksight {' '.join(KSIGHT_EXTRA)})" if KSIGHT_EXTRA else ""
    lines.append(f"\n### {name}: `{shown}`{extra} ({runs} runs each, alternating)\n")
    lines.append("| tool | command time s, median [min-max] | ratio | wall s | wall ratio |")
    lines.append("|---|---|---|---|---|")
    for t in tools:
        c = [x["cmd_s"] for x in res[t]]
        w = [x["wall_s"] for x in res[t]]
        lines.append(f"| {t} | {fmt_range(c)} | {med(c) / base_cmd:.2f}x | {fmt_range(w)} | "
                     f"{med(w) / base_wall:.2f}x |")
    for tk in ("ksight", "ksight-base"):
        ksight_line(tk, res, lines)
    return res


def ksight_line(tk, res, lines):
    k = [x for x in res.get(tk, []) if "events" in x]
    if k:
        ev = med([x["events"] for x in k])
        lines.append("")
        lines.append(f"{tk}: {int(ev)} syscalls recorded (median), lost {max(x['lost'] for x in k)} "
                     f"(max over runs), {med([x['size'] / max(x['events'], 1) for x in k]):.2f} "
                     f"bytes/syscall on disk (whole file / syscalls recorded; min "
                     f"{min(x['size'] / max(x['events'], 1) for x in k):.2f}, max "
                     f"{max(x['size'] / max(x['events'], 1) for x in k):.2f}), recorder CPU "
                     f"{med([x['cpu_ms'] * 1e6 / max(x['events'], 1) for x in k]):.0f} ns/event, "
                     f"recorder peak RSS {med([x['rec_rss'] for x in k]) / 1024:.1f} MiB")
    for x in k:
        if "sizes" in x:
            lines.append("\nwhere the bytes of the last ksight trace go (build/bench/trace_size):\n")
            lines.append("```\n" + x["sizes"].rstrip() + "\n```")


def bench_replay(runs, lines):
    setup, cmd = WORKLOADS["tar"]()
    kt, pt = os.path.join(WORK, "replay.lmdb"), os.path.join(WORK, "replay.data")
    setup()
    one_run("ksight", cmd, kt)
    setup()
    one_run("perf-trace", cmd, pt)
    doc = json.loads(sh([KSIGHT, "report", kt, "--json"]).stdout)
    events = doc["syscalls"]["total"]
    kr, pr, krss = [], [], []
    for _ in range(runs):
        t0 = time.monotonic()
        p = subprocess.Popen([KSIGHT, "report", kt], stdout=subprocess.DEVNULL)
        _, rss = wait_child(p)
        kr.append(time.monotonic() - t0)
        krss.append(rss)
        t0 = time.monotonic()
        p = subprocess.Popen(["perf", "trace", "-i", pt, "-s"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wait_child(p)
        pr.append(time.monotonic() - t0)
    lines.append(f"\n### replay of the tar recording ({events} syscalls, {runs} runs)\n")
    lines.append("| tool | time s, median [min-max] | events/s |")
    lines.append("|---|---|---|")
    lines.append(f"| ksight report | {fmt_range(kr)} | {events / med(kr) / 1e6:.1f} M |")
    lines.append(f"| perf trace -i -s | {fmt_range(pr)} | {events / med(pr) / 1e6:.2f} M |")
    lines.append(f"\nksight report peak RSS {med(krss) / 1024:.1f} MiB")


def build_trace_size():
    src = [os.path.join("bench", "trace_size.c")] + [
        os.path.join(d, f) for d in ("format", "store", "util")
        for f in sorted(os.listdir(os.path.join(ROOT, d))) if f.endswith(".c")]
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-I.", "-Ibuild", "-D_GNU_SOURCE", "-o", TRACE_SIZE,
                    *src, "-llmdb", "-lzstd", "-lmsgpackc", "-lxxhash", "-lpthread"],
                   check=True, cwd=ROOT)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", default="storm,tar,build,tcp,sqlite")
    ap.add_argument("--tools", default=",".join(DEFAULT_TOOLS))
    ap.add_argument("--no-replay", action="store_true")
    ap.add_argument("--tar-on-disk", action="store_true",
                    help="extract the tarball under /tmp instead of into tmpfs")
    ap.add_argument("--sizes", action="store_true",
                    help="per-kind bytes of ksight's last trace of each workload")
    ap.add_argument("--ksight-base", help="another ksight binary, as the tool ksight-base")
    a = ap.parse_args()
    global TAR_ON_DISK, KSIGHT_BASE
    KSIGHT_BASE = a.ksight_base
    TAR_ON_DISK = a.tar_on_disk
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the peers and ksight need BPF and perf)")
    os.makedirs(os.path.dirname(TIMEIT), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-o", TIMEIT, os.path.join(ROOT, "bench", "timeit.c")], check=True)
    subprocess.run(["gcc", "-O2", "-o", TCPXFER, os.path.join(ROOT, "bench", "tcpxfer.c")], check=True)
    if a.sizes:
        build_trace_size()
    tools = [t for t in a.tools.split(",") if t]
    if "untraced" not in tools:
        tools.insert(0, "untraced")
    if a.ksight_base and "ksight-base" not in tools:
        tools.append("ksight-base")
    if "floor" in tools:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import hotpath
        hotpath.build_floor()
    lines = [f"machine: {os.uname().release}, {os.cpu_count()} CPUs; "
             f"{time.strftime('%Y-%m-%d')}; command: bench/bench.py --runs {a.runs} "
             f"--workloads {a.workloads} --tools {','.join(tools)}"]
    try:
        for w in a.workloads.split(","):
            bench_workload(w, a.runs, tools, lines, a.sizes)
            print("\n".join(lines), flush=True)
            lines.clear()
        if not a.no_replay:
            bench_replay(a.runs, lines)
            print("\n".join(lines))
    finally:
        if SHM and SHM.startswith(WORK):
            subprocess.run(["umount", SHM])
        elif SHM:
            shutil.rmtree(SHM, ignore_errors=True)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
