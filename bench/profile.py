#!/usr/bin/env python3
"""The CPU profile's costs: sampling overhead on a CPU-bound workload (ksight at
several rates against `perf record -F RATE -g` at the same rates), off-CPU
stacks on a context-switch storm, bytes per sample on disk, and the symbolizer's
time (at the end of recording, and offline). Each configuration alternates with
the others within a round; figures are medians over the runs of the workload's
own CPU time (bench/timeit: the sampling program runs in the sampled task's
context, so its cost lands there), which a busy machine disturbs less than wall
time.

    bench/profile.py [--runs N] [--rounds R] [--rates 99,999,4999]"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KSIGHT = os.path.join(ROOT, "ksight")
TIMEIT = os.path.join(ROOT, "build", "bench", "timeit")
WORK = tempfile.mkdtemp(prefix="ksight-prof-")
TFILE = os.path.join(WORK, "t")
TRACE = os.path.join(WORK, "trace.lmdb")


def build():
    os.makedirs(os.path.dirname(TIMEIT), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-o", TIMEIT, os.path.join(ROOT, "bench", "timeit.c")],
                   check=True)
    fl = ["-O0", "-g", "-fno-omit-frame-pointer"]
    subprocess.run(["gcc", *fl, "-fPIC", "-shared", "-o", os.path.join(WORK, "libprofwork.so"),
                    os.path.join(ROOT, "tests", "profwork_lib.c")], check=True)
    exe = os.path.join(WORK, "profwork")
    subprocess.run(["gcc", *fl, "-fPIE", "-pie", "-o", exe, os.path.join(ROOT, "tests", "profwork.c"),
                    "-L", WORK, "-lprofwork", f"-Wl,-rpath,{WORK}"], check=True)
    return exe


def clean():
    for f in (TRACE, TRACE + ".old"):
        if os.path.exists(f):
            os.unlink(f)


def timed(argv):
    """Runs argv (whose command is wrapped in timeit); returns (cpu s, wall s, stderr)."""
    clean()
    p = subprocess.run(argv, env=dict(os.environ, KSIGHT_TIMEIT_OUT=TFILE),
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{argv}: exit {p.returncode}: {p.stderr[-400:]}")
    wall, cpu = (int(x) for x in open(TFILE).read().split())
    return cpu / 1e9, wall / 1e9, p.stderr


def ksight(opts, cmd):
    return [KSIGHT, "record", "-q", "-o", TRACE, *opts, "--", TIMEIT, *cmd]


def perf(rate, cmd):
    return ["perf", "record", "-q", "-F", str(rate), "-g", "-o", os.path.join(WORK, "perf.data"),
            "--", TIMEIT, *cmd]


def median_table(title, configs, runs, cmd, base_name):
    res = {n: [] for n, _ in configs}
    for r in range(runs):
        for name, argv in (configs if r % 2 == 0 else list(reversed(configs))):
            res[name].append(timed(argv(cmd))[:2])
    base = statistics.median(c for c, _ in res[base_name])
    print(f"\n{title}\n")
    print("| configuration | CPU s, median [min-max] | vs untraced | wall s |")
    print("|---|---|---|---|")
    for name, _ in configs:
        cpus = [c for c, _ in res[name]]
        m = statistics.median(cpus)
        print(f"| {name} | {m:.3f} [{min(cpus):.3f}-{max(cpus):.3f}] | {100 * (m / base - 1):+.2f}% | "
              f"{statistics.median(w for _, w in res[name]):.3f} |")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=600)
    ap.add_argument("--rates", default="99,999,4999")
    a = ap.parse_args()
    rates = [int(x) for x in a.rates.split(",")]
    exe = build()
    cmd = [exe, str(a.rounds)]
    have_perf = shutil.which("perf") is not None
    print(f"bench/profile.py --runs {a.runs} --rounds {a.rounds} --rates {a.rates}")

    configs = [("untraced", lambda c: [TIMEIT, *c]),
               ("ksight --no-profile --no-offcpu", lambda c: ksight(["--no-profile", "--no-offcpu"], c))]
    for r in rates:
        configs.append((f"ksight --freq {r} --no-offcpu", lambda c, r=r: ksight(["--freq", str(r), "--no-offcpu"], c)))
        if have_perf:
            configs.append((f"perf record -F {r} -g", lambda c, r=r: perf(r, c)))
    configs.append(("ksight (defaults: 199 Hz + off-CPU)", lambda c: ksight([], c)))
    median_table(f"CPU-bound profwork {a.rounds} rounds: the workload's CPU time", configs,
                 a.runs, cmd, "untraced")

    # the storm: off-CPU and sampling probes on a syscall-heavy run
    storm = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]
    median_table("syscall storm (dd bs=1 count=1000000): dd's CPU time",
                 [("untraced", lambda c: [TIMEIT, *c]),
                  ("ksight --no-profile --no-offcpu", lambda c: ksight(["--no-profile", "--no-offcpu"], c)),
                  ("ksight (defaults)", lambda c: ksight([], c))], a.runs, storm, "untraced")

    # bytes per sample and symbolization time, at the highest rate
    rate = max(rates)
    clean()
    p = subprocess.run([KSIGHT, "record", "--debug", "-q", "-o", TRACE, "--freq", str(rate), "--",
                        *cmd], capture_output=True, text=True)
    m = re.search(r"(\d+) samples, (\d+) off-CPU spans, (\d+) stacks, (\d+) modules, (\d+) "
                  r"symbols archived in ([\d.]+) ms", p.stderr)
    info = json.loads(subprocess.run([KSIGHT, "info", TRACE, "--json"], capture_output=True,
                                     text=True).stdout)
    kinds = {k["kind"]: k for k in info["kinds"]}
    cs, off, st = kinds.get("cpu_sample", {}), kinds.get("offcpu", {}), kinds.get("stack", {})
    n = cs.get("events", 0) or 1
    print(f"\ntrace at --freq {rate}: {cs.get('events', 0)} samples, {off.get('events', 0)} off-CPU "
          f"spans, {st.get('events', 0)} stack-table rows")
    print(f"- bytes per sample (cpu_sample segments): {cs.get('stored_bytes', 0) / n:.2f}")
    print(f"- bytes per sample with the stack table shared out: "
          f"{(cs.get('stored_bytes', 0) + st.get('stored_bytes', 0)) / n:.2f}")
    if have_perf:
        subprocess.run(perf(rate, cmd), env=dict(os.environ, KSIGHT_TIMEIT_OUT=TFILE),
                       capture_output=True)
        ps = subprocess.run(["perf", "report", "-i", os.path.join(WORK, "perf.data"), "--stdio",
                             "--header-only"], capture_output=True, text=True).stdout
        ns = re.search(r"sample_freq.*|# Total Lost Samples", ps)
        size = os.path.getsize(os.path.join(WORK, "perf.data"))
        cnt = subprocess.run(["perf", "script", "-i", os.path.join(WORK, "perf.data"), "-F", "ip"],
                             capture_output=True, text=True).stdout
        samples = sum(1 for l in cnt.splitlines() if l.strip() and not l.startswith("\t\t"))
        nsamp = len([l for l in subprocess.run(["perf", "script", "-i", os.path.join(WORK, "perf.data"),
                                                "-F", "time"], capture_output=True, text=True).stdout.splitlines() if l.strip()])
        print(f"- perf record -F {rate} -g: {size} bytes for {nsamp} samples: {size / max(nsamp, 1):.0f} "
              f"bytes per sample")
        del ns, samples
    if m:
        print(f"- symbols archived at the end of recording: {m.group(5)} symbols in {m.group(6)} ms "
              f"({m.group(3)} stacks, {m.group(4)} modules)")
    for opts, what in (([], "stacks (archived names)"), (["--offcpu"], "stacks --offcpu")):
        t0 = os.times()
        subprocess.run([KSIGHT, "stacks", TRACE, *opts], capture_output=True, check=True)
        t1 = os.times()
        print(f"- ksight {what}: {1000 * (t1.children_user + t1.children_system - t0.children_user - t0.children_system):.1f} ms CPU")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
