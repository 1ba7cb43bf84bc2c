"""State-dir workload for bounded recordings: rewrites files in STATE every
fraction of a second for SECONDS, and after each round copies STATE aside into
SNAPS/<CLOCK_MONOTONIC ns>, the oracle a restore --at is compared with.
With BULK, each round also rewrites bulk.bin with BULK random bytes (a trace
that fills fast).
usage: retention_workload.py STATE SNAPS SECONDS [BULK]"""
import os
import shutil
import sys
import time


def main():
    state, snaps, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    bulk = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < secs:
        i += 1
        for n in range(3):
            with open(os.path.join(state, f"f{n}.txt"), "w") as f:
                f.write(f"round {i} file {n}\n" * (50 + i % 7))
        if bulk:
            with open(os.path.join(state, "bulk.bin"), "wb") as f:
                f.write(os.urandom(bulk))
        if i % 5 == 0:
            with open(os.path.join(state, "log.bin"), "ab") as f:
                f.write(os.urandom(3000))
        if i % 20 == 3:
            try:
                os.unlink(os.path.join(state, f"tmp{i - 20}"))
            except FileNotFoundError:
                pass
            with open(os.path.join(state, f"tmp{i}"), "w") as f:
                f.write("x" * i)
        ts = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        shutil.copytree(state, os.path.join(snaps, str(ts)))
        time.sleep(0.15)


if __name__ == "__main__":
    main()
