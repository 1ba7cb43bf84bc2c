"""Integration tests of the ways to see a trace: the Perfetto export (decoded by
protoc with the subset schema), the HTML report (rendered by headless Chromium),
the live progress line (on a pseudo-terminal) and the NDJSON tables (loaded into
a real ClickHouse). Registered into tests/integration.py's table by register()."""
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

PROTO_DIR = os.path.abspath("replay")
PROTO = os.path.join(PROTO_DIR, "perfetto_trace.proto")

# A multi-process, multi-thread workload: a shell, its children, and a python
# with three threads.
MULTI_CMD = ["sh", "-c",
             "for i in 1 2 3; do cat /etc/hostname >/dev/null; ls / >/dev/null; done; "
             "python3 -c 'import threading,os\n"
             "def w():\n"
             "    for _ in range(200): os.stat(\"/\")\n"
             "ts=[threading.Thread(target=w) for _ in range(3)]\n"
             "[t.start() for t in ts]; [t.join() for t in ts]'"]


def parse_text(text):
    """protoc's text format into nested dicts of lists (field -> [values])."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            continue
        if line.endswith("{"):
            d = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(d)
            stack.append(d)
            continue
        k, _, v = line.partition(": ")
        if v.startswith('"'):
            v = v[1:-1]
        else:
            try:
                v = int(v)
            except ValueError:
                pass
        stack[-1].setdefault(k, []).append(v)
    return root


def one(d, k, default=None):
    v = d.get(k)
    return v[0] if v else default


def decode_perfetto(path, run):
    with open(path, "rb") as f:
        p = subprocess.run(["protoc", f"--decode=perfetto.protos.Trace", f"-I{PROTO_DIR}", PROTO],
                           stdin=f, capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()[:500]
    return parse_text(p.stdout.decode("utf-8", "replace")).get("packet", [])


def check_perfetto(packets):
    """The structural checks; returns per-thread-track slice names and the
    thread descriptors. Raises AssertionError on any violation."""
    declared, kinds, threads = {}, {}, {}
    last_ts, depth = {}, {}
    names = {}
    slices, other = {}, {}
    for i, pk in enumerate(packets):
        for idata in pk.get("interned_data", []):
            for en in idata.get("event_names", []):
                names[one(en, "iid")] = one(en, "name")
        td = one(pk, "track_descriptor")
        if td:
            u = one(td, "uuid")
            assert u not in declared, f"track {u} declared twice"
            par = one(td, "parent_uuid")
            assert par is None or par in declared, f"parent {par} of {u} not declared first"
            declared[u] = td
            if "thread" in td:
                th = td["thread"][0]
                threads[u] = (one(th, "pid"), one(th, "tid"), one(th, "thread_name"))
                assert one(th, "thread_name"), f"thread track {u} without a name"
            elif "process" in td:
                assert one(td["process"][0], "process_name"), f"process track {u} unnamed"
            continue
        te = one(pk, "track_event")
        if not te:
            continue
        u = one(te, "track_uuid")
        assert u in declared, f"packet {i}: track {u} used before it is declared"
        ts = one(pk, "timestamp")
        assert ts is not None, f"packet {i}: no timestamp"
        assert ts >= last_ts.get(u, 0), f"packet {i}: time goes back on track {u}"
        last_ts[u] = ts
        typ = one(te, "type")
        if typ == "TYPE_SLICE_BEGIN":
            depth[u] = depth.get(u, 0) + 1
            nm = names.get(one(te, "name_iid")) or one(te, "name")
            assert nm, f"packet {i}: a slice without a name"
            if u in threads:
                slices.setdefault(u, []).append(nm)
            else:
                other[nm] = other.get(nm, 0) + 1
        elif typ in ("TYPE_INSTANT", "TYPE_COUNTER"):
            nm = names.get(one(te, "name_iid")) or one(te, "name") or typ
            other[nm] = other.get(nm, 0) + 1
        elif typ == "TYPE_SLICE_END":
            depth[u] = depth.get(u, 0) - 1
            assert depth[u] >= 0, f"packet {i}: an end without its begin on track {u}"
    open_ = {u: d for u, d in depth.items() if d}
    assert not open_, f"slices left open: {open_}"
    check_perfetto.other = other
    return slices, threads


def register(ns):
    run, record, report_json, test = ns["run"], ns["record"], ns["report_json"], ns["test"]
    needs_bpf, KSIGHT, TMP = ns["needs_bpf"], ns["KSIGHT"], ns["TMP"]

    def multi_trace():
        t = os.path.join(TMP, "view-multi.lmdb")
        if not os.path.exists(t):
            p = record(t, MULTI_CMD)
            assert p.returncode == 0, p.stderr
        return t

    ns["view_multi_trace"] = multi_trace

    @test
    def perfetto_export_decodes_with_a_track_per_thread():
        needs_bpf()
        t = multi_trace()
        out = os.path.join(TMP, "multi.pftrace")
        p = run([KSIGHT, "export", t, "--format", "perfetto", "-o", out])
        assert p.returncode == 0, p.stderr
        assert (os.stat(out).st_mode & 0o777) == 0o600
        slices, threads = check_perfetto(decode_perfetto(out, run))
        doc = report_json(t)
        # every syscall a slice on its thread, named by the syscall
        got = {}
        for nm in (n for v in slices.values() for n in v):
            got[nm] = got.get(nm, 0) + 1
        want = {s["name"]: s["count"] for s in doc["syscalls"]["by_syscall"]}
        assert sum(got.values()) >= doc["syscalls"]["total"] > 0
        assert got == want, {k: (got.get(k), want.get(k)) for k in set(got) | set(want)
                             if got.get(k) != want.get(k)}
        # a thread track per thread: every thread that made a syscall (dump), and
        # the python's four threads under one process
        tids = set()
        for l in run([KSIGHT, "dump", t, "--json"]).stdout.splitlines():
            e = json.loads(l)
            if e["kind"] == "syscall":
                tids.add((e["pid"], e["tid"]))
        have = {(pid, tid) for pid, tid, _ in threads.values()}
        assert tids <= have, tids - have
        per_pid = {}
        for pid, tid, _ in threads.values():
            per_pid.setdefault(pid, set()).add(tid)
        assert len(per_pid) >= 8, per_pid
        assert max(len(v) for v in per_pid.values()) >= 4, per_pid
        py = [pid for pid, tid, name in threads.values() if name.startswith("python")]
        assert py, "no thread named python"
        # scheduler states, process instants (fork/exec/exit as the report counts
        # them) and counters
        other = check_perfetto.other
        assert other.get("running", 0) > 0 and other.get("blocked", 0) > 0, other
        assert other.get("exec", 0) == len(doc["execs"]), (other.get("exec"), len(doc["execs"]))
        assert other.get("TYPE_COUNTER", 0) > 0, other

    @test
    def perfetto_export_filters_by_pid_and_time():
        needs_bpf()
        t = multi_trace()
        doc = report_json(t)
        py = [p for p in doc["processes"] if p["comm"].startswith("python")][0]["pid"]
        out = os.path.join(TMP, "pid.pftrace")
        p = run([KSIGHT, "export", t, "--format", "perfetto", "--pid", str(py), "-o", out])
        assert p.returncode == 0, p.stderr
        slices, threads = check_perfetto(decode_perfetto(out, run))
        assert {pid for pid, _, _ in threads.values()} == {py}
        n = sum(len(v) for v in slices.values())
        assert n == report_json(t, "--pid", str(py))["syscalls"]["total"], n
        out = os.path.join(TMP, "time.pftrace")
        p = run([KSIGHT, "export", t, "--format", "perfetto", "--time", ",20ms", "-o", out])
        assert p.returncode == 0, p.stderr
        slices, _ = check_perfetto(decode_perfetto(out, run))
        n = sum(len(v) for v in slices.values())
        assert n == report_json(t, "--time", ",20ms")["syscalls"]["total"] < doc["syscalls"]["total"]

    CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

    def chromium(*args):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            if ns["IN_CI"]:
                raise AssertionError("chromium is not installed (make deps installs it)")
            raise ns["Skip"]("chromium is not installed (apt-get install chromium)")
        prof = os.path.join(TMP, "chromium-profile")
        shutil.rmtree(prof, ignore_errors=True)
        return run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={prof}", *args], timeout=120)

    @test
    def html_report_renders_in_chromium_with_the_json_numbers():
        needs_bpf()
        t = multi_trace()
        out = os.path.join(TMP, "multi.html")
        p = run([KSIGHT, "report", t, "--html", "-o", out])
        assert p.returncode == 0, p.stderr
        html = open(out, encoding="utf-8").read()
        # self-contained: a CSP that forbids every fetch, and nothing to fetch
        assert "default-src 'none'" in html
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
        assert not re.search(r"@import|url\(", html, re.I)
        # the page with an error trap: a script error writes into #ks-errors
        p = chromium("--dump-dom", "file://" + out)
        assert p.returncode == 0, p.stderr[-500:]
        dom = p.stdout
        assert 'data-ready="1"' in dom, "the page's script did not run to its end"
        m = re.search(r'<pre id="ks-errors"[^>]*>(.*?)</pre>', dom, re.S)
        assert m and not m.group(1).strip(), m and m.group(1)
        doc = report_json(t)
        m = re.search(r'id="syscall-total"[^>]*>(\d+)<', dom)
        assert m and int(m.group(1)) == doc["syscalls"]["total"], m and m.group(1)
        assert len(re.findall(r'<svg class="ks-chart"', dom)) >= 3
        for s in doc["syscalls"]["top_syscalls"][:3]:
            assert f"<td class=\"l\">{s['name']}</td>" in dom, s
        assert "<ul class=\"tree\" id=\"proctree\">" in dom
        png = os.path.join(TMP, "multi.png")
        p = chromium("--window-size=1200,2000", f"--screenshot={png}", "file://" + out)
        assert p.returncode == 0 and os.path.getsize(png) > 10000, p.stderr[-500:]

    @test
    def html_report_script_errors_reach_the_dom():
        """The error trap itself works: a page whose script throws shows it."""
        needs_bpf()
        t = multi_trace()
        out = os.path.join(TMP, "broken.html")
        assert run([KSIGHT, "report", t, "--html", "-o", out]).returncode == 0
        html = open(out, encoding="utf-8").read()
        html = html.replace("document.body.dataset.ready='1';", "undefined_function();")
        open(out, "w", encoding="utf-8").write(html)
        dom = chromium("--dump-dom", "file://" + out).stdout
        m = re.search(r'<pre id="ks-errors"[^>]*>(.*?)</pre>', dom, re.S)
        assert m and "script error" in m.group(1), dom[:300]

    def perfetto_samples(packets):
        """The PerfSamples of an export with each one's stack as function names
        (outermost first), resolving interned data in file order as Perfetto
        does: an iid must be sent before (or in) the packet that uses it."""
        fnames, frames, stacks, out = {}, {}, {}, []
        for i, pk in enumerate(packets):
            if one(pk, "sequence_flags", 0) & 1:
                fnames, frames, stacks = {}, {}, {}
            for idata in pk.get("interned_data", []):
                for x in idata.get("function_names", []):
                    fnames[one(x, "iid")] = one(x, "str")
                for x in idata.get("frames", []):
                    frames[one(x, "iid")] = one(x, "function_name_id")
                for x in idata.get("callstacks", []):
                    stacks[one(x, "iid")] = x.get("frame_ids", [])
            ps = one(pk, "perf_sample")
            if not ps:
                continue
            cs = one(ps, "callstack_iid")
            assert cs in stacks, f"packet {i}: callstack {cs} used before it is interned"
            names = []
            for fid in stacks[cs]:
                assert fid in frames and frames[fid] in fnames, f"packet {i}: frame {fid}"
                names.append(fnames[frames[fid]])
            out.append((one(pk, "timestamp"), one(ps, "pid"), one(ps, "tid"), names,
                        one(pk, "timestamp_clock_id")))
        return out

    @test
    def perfetto_export_has_cpu_samples_with_their_stacks():
        t, _ = ns["profwork_trace"]()
        out = os.path.join(TMP, "prof.pftrace")
        p = run([KSIGHT, "export", t, "--format", "perfetto", "-o", out])
        assert p.returncode == 0, p.stderr
        packets = decode_perfetto(out, run)
        _, threads = check_perfetto(packets)
        samples = perfetto_samples(packets)
        doc = report_json(t)
        assert len(samples) == doc["profile"]["samples"] > 300, (len(samples), doc["profile"])
        # every sample on a declared, named thread; on CLOCK_MONOTONIC (3)
        have = {(pid, tid) for pid, tid, _ in threads.values()}
        assert {(pid, tid) for _, pid, tid, _, _ in samples} <= have
        assert {c for *_, c in samples} == {3}
        # the functions of tests/profwork.c, split as the program splits its work:
        # alpha spins three times as long as beta, both called from main
        src = open("tests/profwork.c").read()
        for fn in ("alpha", "beta", "main", "spin"):
            assert re.search(rf"\b{fn}\(", src), fn
        a = sum(1 for *_, st, _ in samples if "alpha" in st and st[st.index("alpha") - 1] == "main")
        b = sum(1 for *_, st, _ in samples if "beta" in st and st[st.index("beta") - 1] == "main")
        assert b >= 100 and abs(a / b - 3.0) <= 0.4, (a, b)
        assert any("lib_work" in st for *_, st, _ in samples)
        # the clock snapshot comes first: CLOCK_MONOTONIC is the trace's clock, and
        # REALTIME sits where this machine's wall clock is against its monotonic one
        cs = one(packets[0], "clock_snapshot")
        assert cs and one(cs, "primary_trace_clock") == "BUILTIN_CLOCK_MONOTONIC", packets[0]
        clk = {one(c, "clock_id"): one(c, "timestamp") for c in cs["clocks"]}
        off = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        assert abs((clk[1] - clk[3]) - off) < 2_000_000_000, (clk, off)
        # and BOOTTIME (perf's and ftrace's clock) where this machine's boot clock is
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        assert abs((clk[6] - clk[3]) - boot) < 1_000_000_000, (clk, boot)
        for i, pk in enumerate(packets):
            if one(pk, "timestamp") is not None:
                assert one(pk, "timestamp_clock_id") == 3, f"packet {i} not on MONOTONIC"

    # Threads that name themselves (prctl PR_SET_NAME), send on loopback and
    # report the name /proc gives them.
    NAMED_THREADS = r"""
import ctypes, socket, sys, threading
libc = ctypes.CDLL(None)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
port, out = srv.getsockname()[1], {}
def serve():
    for _ in range(3):
        c, _ = srv.accept()
        while c.recv(65536): pass
        c.close()
def work(i):
    libc.prctl(15, b"ks-thread-%d" % i, 0, 0, 0)
    tid = threading.get_native_id()
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"x" * 50000); s.close()
    out[tid] = open("/proc/self/task/%d/comm" % tid).read().strip()
st = threading.Thread(target=serve); st.start()
ts = [threading.Thread(target=work, args=(i,)) for i in range(3)]
[t.start() for t in ts]; [t.join() for t in ts]; st.join()
print(" ".join("%d=%s" % kv for kv in out.items()))
"""

    @test
    def perfetto_thread_tracks_carry_the_names_proc_gives():
        needs_bpf()
        t = os.path.join(TMP, "named-threads.lmdb")
        p = record(t, [sys.executable, "-c", NAMED_THREADS])
        assert p.returncode == 0, p.stderr
        want = dict((int(k), v) for k, v in (x.split("=") for x in p.stdout.split()))
        assert len(want) == 3 and all(v.startswith("ks-thread-") for v in want.values()), want
        out = os.path.join(TMP, "named-threads.pftrace")
        assert run([KSIGHT, "export", t, "-f", "perfetto", "-o", out]).returncode == 0
        packets = decode_perfetto(out, run)
        _, threads = check_perfetto(packets)
        got = {tid: name for _, tid, name in threads.values()}
        assert {tid: got.get(tid) for tid in want} == want, (want, got)
        # the main thread is named after the program, its process too
        pid = next(pid for pid, tid, _ in threads.values() if tid in want)
        assert got[pid].startswith("python"), got[pid]
        procs = [one(one(pk, "track_descriptor"), "process") for pk in packets
                 if one(pk, "track_descriptor") and "process" in one(pk, "track_descriptor")]
        pd = [x for x in procs if one(x, "pid") == pid][0]
        assert one(pd, "process_name").startswith("python"), pd
        assert "python" in os.path.basename(one(pd, "cmdline", "")), pd

    @test
    def html_report_draws_flame_graphs_of_the_profile():
        t, _ = ns["profwork_trace"]()
        out = os.path.join(TMP, "prof.html")
        p = run([KSIGHT, "report", t, "--html", "-o", out])
        assert p.returncode == 0, p.stderr
        dom = chromium("--dump-dom", "file://" + out).stdout
        assert 'data-ready="1"' in dom, "the page's script did not run to its end"
        m = re.search(r'<pre id="ks-errors"[^>]*>(.*?)</pre>', dom, re.S)
        assert m and not m.group(1).strip(), m and m.group(1)
        doc = report_json(t)
        on = re.search(r'<svg class="ks-flame" id="flame-oncpu".*?</svg>', dom, re.S)
        off = re.search(r'<svg class="ks-flame" id="flame-offcpu".*?</svg>', dom, re.S)
        assert on and off, "no flame graphs in the DOM"
        on, off = on.group(0), off.group(0)
        m = re.search(r'data-name="all"><title>all \((\d+) samples', on)
        assert m and int(m.group(1)) == doc["profile"]["samples"], m and m.group(0)
        for fn in ("main", "alpha", "beta", "spin", "lib_work"):
            assert f'data-name="{fn}"' in on, fn
        # blocker() sleeps 400 ms (tests/profwork.c): off the CPU, under main
        m = re.search(r'data-name="blocker"><title>blocker \(([\d.]+) us', off)
        assert m and 350_000 <= float(m.group(1)) <= 2_000_000, m and m.group(0)
        assert len(re.findall(r'<svg class="ks-chart"', dom)) >= 3

    @test
    def html_report_timeline_has_the_network_bytes():
        needs_bpf()
        up, down = 2_000_003, 300_007
        t = os.path.join(TMP, "view-net.lmdb")
        p = record(t, [sys.executable, os.path.abspath("tests/netxfer.py"), "tcp4", str(up), str(down)])
        assert p.returncode == 0, p.stderr
        x = json.loads(p.stdout.strip().splitlines()[-1])
        assert x["server_rx"] == up and x["client_rx"] == down, x
        out = os.path.join(TMP, "net.html")
        assert run([KSIGHT, "report", t, "--html", "-o", out]).returncode == 0
        dom = chromium("--dump-dom", "file://" + out).stdout
        m = re.search(r"<figcaption>Network bytes sent and received</figcaption>(.*?)</figure>",
                      dom, re.S)
        assert m, "no network chart"
        # each byte is sent by one side and received by the other
        total = sum(float(v) for v in re.findall(r'data-v="([^"]+)"', m.group(1)))
        assert total == 2 * (up + down), (total, 2 * (up + down))
        m = re.search(r'<pre id="ks-errors"[^>]*>(.*?)</pre>', dom, re.S)
        assert m and not m.group(1).strip(), m and m.group(1)
        # the Perfetto export's network counters add up to the same bytes
        pf = os.path.join(TMP, "net.pftrace")
        assert run([KSIGHT, "export", t, "-f", "perfetto", "-o", pf]).returncode == 0
        packets = decode_perfetto(pf, run)
        check_perfetto(packets)
        names = {one(one(pk, "track_descriptor"), "uuid"): one(one(pk, "track_descriptor"), "name")
                 for pk in packets if one(pk, "track_descriptor")}
        sums = {}
        for pk in packets:
            te = one(pk, "track_event")
            if te and one(te, "type") == "TYPE_COUNTER":
                nm = names.get(one(te, "track_uuid"))
                sums[nm] = sums.get(nm, 0) + float(one(te, "double_counter_value", 0))
        assert sums.get("network sent bytes/s") == up + down, sums
        assert sums.get("network received bytes/s") == up + down, sums

    def record_on_pty(args, seconds):
        """Runs ksight record with stderr on a pseudo-terminal (stdout on a pipe);
        returns [(time, chunk)] of what reached the terminal, and the exit code."""
        master, slave = pty.openpty()
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=slave, close_fds=True)
        os.close(slave)
        chunks, t0 = [], time.monotonic()
        while True:
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    b = os.read(master, 4096)
                except OSError:
                    b = b""
                if not b:
                    break
                chunks.append((time.monotonic() - t0, b.decode("utf-8", "replace")))
            elif p.poll() is not None:
                # drain what is left, then stop
                try:
                    while select.select([master], [], [], 0.2)[0]:
                        b = os.read(master, 4096)
                        if not b:
                            break
                        chunks.append((time.monotonic() - t0, b.decode("utf-8", "replace")))
                except OSError:
                    pass
                break
            assert time.monotonic() - t0 < seconds + 60, "record did not end"
        os.close(master)
        p.wait()
        return chunks, p.returncode

    @test
    def progress_line_refreshes_on_a_terminal_and_never_into_a_pipe():
        needs_bpf()
        t = os.path.join(TMP, "progress.lmdb")
        cmd = ["sh", "-c", "i=0; while [ $i -lt 30 ]; do cat /etc/hostname >/dev/null; "
               "sleep 0.1; i=$((i+1)); done"]
        chunks, rc = record_on_pty([KSIGHT, "record", "-o", t, "--", *cmd], 3)
        assert rc == 0, chunks
        text = "".join(c for _, c in chunks)
        draws = [(ts, c) for ts, c in chunks for _ in range(c.count("ksight: recording"))]
        assert len(draws) >= 3, text
        times = [ts for ts, _ in draws]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) <= 1.0, gaps
        last = re.findall(r"recording [\d.]+ s, (\d+) events \(\d+/s\), trace [\d.]+ \w+, (\d+) lost", text)
        assert last and int(last[-1][0]) > 0, text[-300:]
        # replaced by the summary line: the line is erased, the summary follows it
        tail = text[text.rindex("ksight: recording"):]
        assert "\r\x1b[K" in tail and re.search(r"\nksight: \d+ syscalls|\r\x1b\[Kksight: \d+ syscalls", tail), repr(tail[-300:])
        # into a pipe: no progress line, only the summary
        p = run([KSIGHT, "record", "-o", t, "--", *cmd])
        assert p.returncode == 0 and "recording" not in p.stderr and "\r" not in p.stderr, p.stderr
        assert re.search(r"ksight: \d+ syscalls", p.stderr), p.stderr
        # -q on a terminal: nothing at all
        chunks, rc = record_on_pty([KSIGHT, "record", "-q", "-o", t, "--", "sleep", "1.2"], 1.2)
        assert rc == 0 and not "".join(c for _, c in chunks).strip(), chunks

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    class ClickHouse:
        """A throw-away server on loopback ports with its data in a temporary dir."""

        def __init__(self):
            exe = shutil.which("clickhouse-server") or shutil.which("clickhouse")
            self.client = shutil.which("clickhouse-client")
            if not exe or not self.client:
                if ns["IN_CI"]:
                    raise AssertionError("clickhouse is not installed (make deps installs it)")
                raise ns["Skip"]("clickhouse-server/clickhouse-client are not installed")
            d = self.dir = os.path.join(TMP, "clickhouse")
            shutil.rmtree(d, ignore_errors=True)
            for sub in ("data", "tmp", "log"):
                os.makedirs(os.path.join(d, sub))
            self.port, http = free_port(), free_port()
            with open(os.path.join(d, "users.xml"), "w") as f:
                f.write("<?xml version=\"1.0\"?><yandex><profiles><default/></profiles><users>"
                        "<default><password></password><networks><ip>127.0.0.1</ip></networks>"
                        "<profile>default</profile><quota>default</quota></default></users>"
                        "<quotas><default/></quotas></yandex>")
            with open(os.path.join(d, "config.xml"), "w") as f:
                f.write(f"""<?xml version="1.0"?><yandex>
<logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/err.log</errorlog></logger>
<listen_host>127.0.0.1</listen_host><tcp_port>{self.port}</tcp_port><http_port>{http}</http_port>
<path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/tmp/</user_files_path>
<users_config>{d}/users.xml</users_config><default_profile>default</default_profile>
<default_database>default</default_database><mark_cache_size>5368709</mark_cache_size>
</yandex>""")
            args = [exe] if exe.endswith("-server") else [exe, "server"]
            self.proc = subprocess.Popen([*args, f"--config-file={d}/config.xml"], cwd=d,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(150):
                if self.proc.poll() is not None:
                    raise AssertionError(f"clickhouse-server exited {self.proc.returncode}: "
                                         + open(f"{d}/log/err.log").read()[-500:])
                if run([self.client, "--port", str(self.port), "-q", "SELECT 1"]).returncode == 0:
                    return
                time.sleep(0.1)
            self.stop()
            raise AssertionError("clickhouse-server did not answer in 15 s")

        def query(self, q, data=None):
            p = run([self.client, "--port", str(self.port), "-q", q], input=data)
            assert p.returncode == 0, (q, p.stderr[-500:])
            return [l.split("\t") for l in p.stdout.splitlines()]

        def stop(self):
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    @test
    def ndjson_loads_into_clickhouse_with_the_reports_figures():
        needs_bpf()
        traces = [multi_trace(), os.path.join(TMP, "view-second.lmdb")]
        p = record(traces[1], ["sh", "-c", "ls / >/dev/null; cat /etc/hostname >/dev/null"])
        assert p.returncode == 0, p.stderr
        ch = ClickHouse()
        try:
            ch.query("CREATE TABLE syscalls (host String, trace_id String, ts_ns Int64, "
                     "pid UInt32, tid UInt32, syscall String, nr UInt32, category String, "
                     "ret Int64, dur_ns UInt64, errno String, returned UInt8) "
                     "ENGINE = MergeTree ORDER BY (trace_id, ts_ns)")
            ch.query("CREATE TABLE processes (host String, trace_id String, pid UInt32, "
                     "ppid UInt32, comm String, argv String, start_ns Int64, exit_ns Int64, "
                     "exit_code Int32, cpu_time_ms Float64, voluntary_switches UInt64, "
                     "involuntary_switches UInt64, peak_rss_kb UInt64) "
                     "ENGINE = MergeTree ORDER BY (trace_id, pid)")
            ids = {}
            for t in traces:
                for table in ("syscalls", "processes"):
                    p = run([KSIGHT, "export", t, "--format", "ndjson", "--table", table])
                    assert p.returncode == 0, p.stderr
                    ch.query(f"INSERT INTO {table} FORMAT JSONEachRow", p.stdout)
                ids[t] = json.loads(p.stdout.splitlines()[0])["trace_id"]
            assert len(set(ids.values())) == 2, ids
            for t in traces:
                doc = report_json(t)
                tid = ids[t]
                n, dur = ch.query(f"SELECT count(), sum(dur_ns) FROM syscalls "
                                  f"WHERE trace_id = '{tid}'")[0]
                assert int(n) == doc["syscalls"]["total"], (n, doc["syscalls"]["total"])
                want = sum(s["total_ns"] for s in doc["syscalls"]["by_syscall"])
                assert int(dur) == want, (dur, want)
                got = {k: int(v) for k, v in ch.query(
                    f"SELECT syscall, count() FROM syscalls WHERE trace_id = '{tid}' "
                    f"GROUP BY syscall")}
                assert got == {s["name"]: s["count"] for s in doc["syscalls"]["by_syscall"]}
                errs = int(ch.query(f"SELECT count() FROM syscalls WHERE trace_id = '{tid}' "
                                    f"AND errno != ''")[0][0])
                assert errs == sum(s["errors"] for s in doc["syscalls"]["by_syscall"])
                n = int(ch.query(f"SELECT count() FROM processes WHERE trace_id = '{tid}'")[0][0])
                assert n == len(doc["processes"]), (n, len(doc["processes"]))
        finally:
            ch.stop()
