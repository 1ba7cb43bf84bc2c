"""Integration tests of the block I/O and network figures, registered into
tests/integration.py (register). Oracles: byte counts the workloads know
exactly (dd's O_DIRECT writes, tests/netxfer.py's transfers), the filesystem's
device from stat(2) and sysfs, and the kernel's own TCP retransmit counter."""
import json
import os
import shutil
import subprocess
import time

NETXFER = os.path.abspath("tests/netxfer.py")


def register(it):
    test, needs_bpf, record, report_json, run, Skip = (
        it.test, it.needs_bpf, it.record, it.report_json, it.run, it.Skip)

    def tmp(name):
        return os.path.join(it.TMP, name)

    def skip_or_fail(why):
        if it.IN_CI:
            raise AssertionError(why)
        raise Skip(why)

    def block_dir():
        """A directory on a block-device filesystem, with its disk as "M:m"."""
        for d in ("/var/tmp", "/work", os.path.expanduser("~"), "/tmp"):
            if not os.path.isdir(d):
                continue
            st = os.stat(d)
            mm = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
            sysdir = f"/sys/dev/block/{mm}"
            if not os.path.exists(sysdir):
                continue  # tmpfs, overlay, ...: no block device behind it
            real = os.path.realpath(sysdir)
            if os.path.exists(os.path.join(real, "partition")):
                mm = open(os.path.join(os.path.dirname(real), "dev")).read().strip()
            return d, mm
        return None, None

    def netxfer(trace, *args, opts=()):
        p = record(trace, ["python3", NETXFER, *map(str, args)], *opts)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])

    def conn_of(doc, pid, local, remote):
        got = [c for c in doc["network"]["connections"]
               if c["pid"] == pid and c["local"] == local and c["remote"] == remote]
        assert len(got) == 1, (pid, local, remote, doc["network"]["connections"])
        return got[0]

    def proc_net(doc, pid):
        got = [p for p in doc["network"]["by_process"] if p["pid"] == pid]
        assert len(got) == 1, (pid, doc["network"]["by_process"])
        return got[0]

    def bucket_sum(doc, pid, key):
        return sum(b[key] for b in doc["io_buckets"] if b["pid"] == pid)

    @test
    def block_io_direct_writes_are_charged_to_the_writer():
        needs_bpf()
        d, disk = block_dir()
        if not d:
            skip_or_fail("no block-device filesystem to write to")
        target = tempfile_in(d)
        trace = tmp("direct.lmdb")
        mib = 64
        try:
            # the shell prints dd's pid (exec keeps it): an oracle apart from the trace
            p = record(trace, ["sh", "-c", f"echo $$; exec dd if=/dev/zero of={target} "
                               f"bs=1M count={mib} oflag=direct status=none"])
            assert p.returncode == 0, p.stderr
        finally:
            os.unlink(target)
        pid = int(p.stdout.split()[0])
        doc = report_json(trace)
        blk = doc["block_io"]
        assert blk["recorded"], blk
        mine = [x for x in blk["by_process"] if x["pid"] == pid]
        assert len(mine) == 1 and not mine[0]["kernel_thread"], (pid, blk["by_process"])
        assert mine[0]["comm"] == "dd", mine
        assert mine[0]["write_bytes"] >= mib << 20, (mine, blk["by_process"], blk["lost_events"],
                                                     blk["slow"][:3])
        # O_DIRECT: nothing left for write-back, so not much more either
        assert mine[0]["write_bytes"] < (mib + 8) << 20, mine
        assert mine[0]["time_ns"] > 0, mine
        dev = [x for x in blk["devices"] if x["dev"] == disk]
        assert len(dev) == 1, (disk, blk["devices"])
        dev = dev[0]
        assert dev["write_bytes"] >= mib << 20 and dev["writes"] >= mib // 4, dev
        assert dev["name"] == os.path.basename(os.path.realpath(f"/sys/dev/block/{disk}")), dev
        assert 0 < dev["p50_ns"] <= dev["p99_ns"] <= dev["max_ns"], dev
        assert sum(s["count"] for s in dev["log2_us"]) == dev["reads"] + dev["writes"] + \
            dev["other"], dev
        assert blk["slow"] and all(s["latency_ns"] <= dev["max_ns"] for s in blk["slow"]
                                   if s["dev"] == disk), blk["slow"]
        assert bucket_sum(doc, pid, "block_write_bytes") == mine[0]["write_bytes"]
        # --pid leaves kernel threads out
        only = report_json(trace, "--pid", str(pid))["block_io"]["by_process"]
        assert [x["pid"] for x in only] == [pid], only
        text = run([it.KSIGHT, "report", trace]).stdout
        assert "BLOCK I/O" in text and "SLOWEST BLOCK REQUESTS" in text, text

    def tempfile_in(d):
        import tempfile
        fd, path = tempfile.mkstemp(prefix="ksight-direct-", dir=d)
        os.close(fd)
        return path

    def check_tcp(mode, host_fmt):
        needs_bpf()
        up, down = 3_000_017, 200_003
        trace = tmp(f"{mode}.lmdb")
        out = netxfer(trace, mode, up, down)
        assert out["server_rx"] == up and out["client_rx"] == down, out
        doc = report_json(trace)
        net = doc["network"]
        assert net["recorded"], net
        cl, sv = host_fmt.format(out["client_port"]), host_fmt.format(out["port"])
        c = conn_of(doc, out["client"], cl, sv)
        s = conn_of(doc, out["server"], sv, cl)
        assert (c["proto"], c["tx_bytes"], c["rx_bytes"]) == ("tcp", up, down), c
        assert (s["proto"], s["tx_bytes"], s["rx_bytes"]) == ("tcp", down, up), s
        for x in (c, s):
            assert x["start_ns"] and x["end_ns"] and x["start_ns"] <= x["end_ns"], x
        assert c["start_ns"] <= s["start_ns"], (c, s)  # connect before accept's establishment
        assert proc_net(doc, out["client"])["tx_bytes"] == up
        assert proc_net(doc, out["server"])["rx_bytes"] == up
        assert bucket_sum(doc, out["client"], "net_tx_bytes") == up
        assert bucket_sum(doc, out["server"], "net_rx_bytes") == up
        text = run([it.KSIGHT, "report", trace]).stdout
        assert "NETWORK" in text and cl in text, text

    @test
    def network_tcp4_loopback_bytes_exact_both_ways():
        check_tcp("tcp4", "127.0.0.1:{}")

    @test
    def network_tcp6_loopback_bytes_exact_both_ways():
        check_tcp("tcp6", "[::1]:{}")

    @test
    def network_udp4_bytes_and_endpoints():
        needs_bpf()
        up, down = 100_000, 30_000
        trace = tmp("udp4.lmdb")
        out = netxfer(trace, "udp4", up, down)
        if out["server_rx"] != up or out["client_rx"] != down:
            raise Skip(f"datagrams lost on loopback: {out}")
        doc = report_json(trace)
        cl, sv = f"127.0.0.1:{out['client_port']}", f"127.0.0.1:{out['port']}"
        c = conn_of(doc, out["client"], cl, sv)
        assert (c["proto"], c["tx_bytes"], c["rx_bytes"]) == ("udp", up, down), c
        s = proc_net(doc, out["server"])
        assert (s["tx_bytes"], s["rx_bytes"]) == (down, up), s
        # the server's replies go out on its socket once connected to the client
        assert conn_of(doc, out["server"], sv, cl)["tx_bytes"] == down

    def retrans_segs():
        """The kernel's count of TCP segments retransmitted (every socket)."""
        names, values = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
        return int(values[names.index("RetransSegs")])

    @test
    def network_retransmits_when_loopback_drops_packets():
        needs_bpf()
        if not shutil.which("iptables"):
            skip_or_fail("no iptables (apt-get install iptables)")
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        # Dropped on the way in: the sender saw it leave, so it retransmits (a drop
        # on the way out is an error TCP retries as a fresh send).
        rule = ["INPUT", "-i", "lo", "-s", "127.0.0.1", "-d", "127.0.0.1", "-p", "tcp",
                "--dport", str(port), "-m", "statistic", "--mode", "random",
                "--probability", "0.3", "-j", "DROP"]
        trace = tmp("retrans.lmdb")
        before = retrans_segs()
        proc = subprocess.Popen([it.KSIGHT, "record", "-q", "-o", trace, "--", "python3",
                                 NETXFER, "tcp4", "400000", "1000", str(port), "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        inserted = False
        try:
            time.sleep(0.8)
            p = run(["iptables", "-I", *rule])
            if p.returncode:
                skip_or_fail(f"iptables cannot add a rule: {p.stderr.strip()}")
            inserted = True
            time.sleep(1.0)
        finally:
            if inserted:
                run(["iptables", "-D", *rule])
            so, se = proc.communicate(timeout=120)
        assert proc.returncode == 0, se
        out = json.loads(so.strip().splitlines()[-1])
        after = retrans_segs()
        doc = report_json(trace)
        c = conn_of(doc, out["client"], f"127.0.0.1:{out['client_port']}",
                    f"127.0.0.1:{out['port']}")
        assert (c["tx_bytes"], c["rx_bytes"]) == (400000, 1000), c
        assert 1 <= c["retransmits"] <= after - before, (c, after - before)
        assert proc_net(doc, out["client"])["retransmits"] == c["retransmits"]
        assert doc["network"]["retransmits"] >= c["retransmits"]

    @test
    def io_probes_left_out_say_so():
        needs_bpf()
        trace = tmp("noio.lmdb")
        p = record(trace, ["python3", NETXFER, "tcp4", "1000", "1000"], "--no-block", "--no-net")
        assert p.returncode == 0, p.stderr
        doc = report_json(trace)
        assert not doc["block_io"]["recorded"] and not doc["network"]["recorded"], doc
        assert doc["network"]["connections"] == [] and doc["network"]["tx_bytes"] == 0
        text = run([it.KSIGHT, "report", trace]).stdout
        assert "BLOCK I/O  not recorded" in text and "network bytes not recorded" in text, text

    @test
    def io_records_lost_to_a_full_ring_are_counted():
        needs_bpf()
        # a ring of one page cannot hold a fast transfer's per-send records
        trace = tmp("ioloss.lmdb")
        out = netxfer(trace, "tcp4", 64 << 20, 0, opts=("--buffer-size", "4K", "--no-sched"))
        doc = report_json(trace)
        net = doc["network"]
        assert net["lost_events"] > 0 and not doc["complete"], (net["lost_events"], doc["complete"])
        assert net["lost_events"] <= doc["lost_events"], doc["lost_events"]
        mine = proc_net(doc, out["client"])
        assert mine["tx_bytes"] < 64 << 20, mine  # lost sends are missing, never invented
        text = run([it.KSIGHT, "report", trace]).stdout
        assert "block and network records lost" in text, text
