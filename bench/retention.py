#!/usr/bin/env python3
"""Bounded recording over time: a recording under --max-size (and a state dir
rewritten all along) while a syscall storm runs, with the recorder's RSS and
the trace file's size sampled at every interval; a SIGUSR1 snapshot at the
first sample; then `report --json` timed on the result and on the snapshot.

  bench/retention.py [--minutes 10] [--interval 60] [--max-size 8M] [--keep DIR]

The figures in bench/RESULTS.md: 10 minutes, a sample every minute. Flat means the last
RSS within 10% of the first and the file under the limit plus a few percent.
Figures, not pass/fail: run it beside nothing else (the machine is shared)."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

KSIGHT = os.path.abspath("./ksight")
WORKLOAD = os.path.abspath("tests/retention_workload.py")


def rss_kb(pid):
    """VmRSS, RssAnon, RssFile (the trace's mapped pages among them), KiB."""
    out = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k = line.split(":")[0]
                if k in out:
                    out[k] = int(line.split()[1])
    except OSError:
        pass
    return out["VmRSS"], out["RssAnon"], out["RssFile"]


def size_arg(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


def timed_report(trace):
    """Seconds, the JSON document and the max RSS (KiB) of report --json."""
    t0 = time.monotonic()
    out = tempfile.TemporaryFile()
    p = subprocess.Popen([KSIGHT, "report", trace, "--json"], stdout=out,
                         stderr=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    out.seek(0)
    data = out.read()
    doc = json.loads(data) if data else {}
    return secs, doc, ru.ru_maxrss


def live_window(trace):
    """Seconds from the window's start to now on the trace being recorded (info
    reads it beside the recorder), or -1."""
    p = subprocess.run([KSIGHT, "info", trace, "--json"], capture_output=True, text=True)
    try:
        start = json.loads(p.stdout)["retention"]["window_start_ns"]
    except (ValueError, KeyError, TypeError):
        return -1.0
    return (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - int(start)) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--max-size", default="8M")
    ap.add_argument("--keep", help="keep the traces in this directory")
    a = ap.parse_args()
    d = a.keep or tempfile.mkdtemp(prefix="ksight-retention-")
    os.makedirs(d, exist_ok=True)
    state, snaps = os.path.join(d, "state"), os.path.join(d, "snaps")
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(snaps, ignore_errors=True)
    os.makedirs(state)
    os.makedirs(snaps)
    trace = os.path.join(d, "flight.lmdb")
    for f in os.listdir(d):
        if f.startswith("flight"):
            os.unlink(os.path.join(d, f))
    secs = a.minutes * 60
    limit = size_arg(a.max_size)
    # the storm: dd in a loop for the whole run; the state dir: rewritten 6 times a
    # second (the copies it keeps aside are the restore oracle of the tests; here
    # they are only removed as they come)
    cmd = ["sh", "-c",
           f"python3 {WORKLOAD} {state} {snaps} {secs} & "
           f"end=$(($(date +%s) + {int(secs)})); "
           "while [ $(date +%s) -lt $end ]; do "
           "dd if=/dev/zero of=/dev/null bs=1 count=2000000 2>/dev/null; "
           f"rm -rf {snaps}/*; done; wait"]
    rec = subprocess.Popen([KSIGHT, "record", "-q", "-o", trace, "--max-size", a.max_size,
                            "--state-dir", state, "--", *cmd], stderr=subprocess.PIPE,
                           text=True)
    t0 = time.monotonic()
    print(f"{'t':>7} {'rss KiB':>9} {'anon KiB':>9} {'mapped':>9} {'file KiB':>9} {'window s':>9}")
    samples = []
    n = 0
    while rec.poll() is None:
        n += 1
        wake = t0 + n * a.interval
        while time.monotonic() < wake and rec.poll() is None:
            time.sleep(0.2)
        if rec.poll() is not None:
            break
        kb, anon, mapped = rss_kb(rec.pid)
        fkb = os.path.getsize(trace) // 1024 if os.path.exists(trace) else 0
        samples.append((time.monotonic() - t0, kb, fkb, anon))
        print(f"{samples[-1][0]:7.1f} {kb:9d} {anon:9d} {mapped:9d} {fkb:9d} "
              f"{live_window(trace):9.2f}", flush=True)
        if n == 1:
            rec.send_signal(signal.SIGUSR1)
    _, err = rec.communicate()
    print(f"recorder exit {rec.returncode}; {err.strip()}")
    size = os.path.getsize(trace)
    print(f"file {size} bytes, limit {limit} ({100.0 * size / limit:.1f}%)")
    if len(samples) >= 2:
        first, last = samples[0][1], samples[-1][1]
        print(f"rss first {first} KiB, last {last} KiB ({100.0 * (last - first) / first:+.1f}%); "
              f"anon first {samples[0][3]} KiB, last {samples[-1][3]} KiB")
    rsecs, doc, rss = timed_report(trace)
    ret = doc.get("retention", {})
    print(f"report --json: {rsecs:.2f} s, max rss {rss} KiB; syscalls {doc.get('syscalls', {}).get('total')}, "
          f"dropped {ret.get('dropped_events')}, lost {doc.get('lost_events')}, "
          f"complete {doc.get('complete')}")
    p = subprocess.run([KSIGHT, "info", trace, "--json"], capture_output=True, text=True)
    if p.returncode == 0:
        info = json.loads(p.stdout)
        end = int(info["meta"]["end_ns"])
        kept = info["retention"]["window_start_ns"]
        print(f"window kept: the last {(end - kept) / 1e9:.2f} s of "
              f"{(end - int(info['meta']['start_ns'])) / 1e9:.1f} s, {info.get('stored_bytes')} "
              f"bytes of segments in a {size}-byte file")
    snaps_done = [f for f in os.listdir(d) if f.startswith("flight-") and f.endswith(".lmdb")]
    for s in snaps_done:
        rsecs, doc, _ = timed_report(os.path.join(d, s))
        print(f"snapshot {s}: report {rsecs:.2f} s, syscalls "
              f"{doc.get('syscalls', {}).get('total')}, complete {doc.get('complete')}")
    if not a.keep:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
