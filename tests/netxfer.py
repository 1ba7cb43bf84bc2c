"""A loopback transfer of known sizes for the network tests: a forked server and
the client exchange UP bytes client -> server and DOWN bytes server -> client,
then close. Prints one JSON line: both pids and both endpoints.

usage: netxfer.py tcp4|tcp6|udp4 UP DOWN [PORT [SECONDS]]
  PORT 0 picks a free one; SECONDS > 0 spreads the client's sends over that
  long (for retransmits while packets are dropped)."""
import json
import os
import socket
import sys
import time

CHUNK = 16384


def recv_exact(s, n):
    got = 0
    while got < n:
        b = s.recv(min(CHUNK * 4, n - got))
        if not b:
            break
        got += len(b)
    return got


def send_spread(s, n, seconds):
    sent, buf = 0, b"u" * CHUNK
    t0 = time.monotonic()
    while sent < n:
        k = min(CHUNK // 8 if seconds else CHUNK, n - sent)
        s.sendall(buf[:k])
        sent += k
        if seconds:
            # an even pace: the next chunk is due at its share of the time
            due = t0 + seconds * sent / n
            time.sleep(max(0.0, due - time.monotonic()))


def tcp(family, host, up, down, port, seconds):
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    port = ls.getsockname()[1]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        c, _ = ls.accept()
        got = recv_exact(c, up)
        c.sendall(b"d" * down)
        c.shutdown(socket.SHUT_WR)
        recv_exact(c, 1)  # the client's close
        c.close()
        os.write(w, b"%d" % got)
        os._exit(0)
    os.close(w)
    ls.close()
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect((host, port))
    local = s.getsockname()
    send_spread(s, up, seconds)
    got = recv_exact(s, down)
    s.close()
    srv_got = int(os.read(r, 64) or b"0")
    os.waitpid(pid, 0)
    return {"client": os.getpid(), "server": pid, "port": port, "client_port": local[1],
            "client_rx": got, "server_rx": srv_got}


def udp4(up, down, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", port))
    port = srv.getsockname()[1]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        got, peer = 0, None
        while got < up:
            b, peer = srv.recvfrom(65536)
            got += len(b)
        srv.connect(peer)  # replies from a connected socket: endpoints known
        left = down
        while left > 0:
            k = min(1000, left)
            srv.send(b"d" * k)
            left -= k
            time.sleep(0.0005)
        os.write(w, b"%d" % got)
        os._exit(0)
    os.close(w)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(5)
    local = s.getsockname()
    left = up
    while left > 0:
        k = min(1000, left)
        s.send(b"u" * k)
        left -= k
        time.sleep(0.0005)
    got = 0
    try:
        while got < down:
            got += len(s.recv(65536))
    except socket.timeout:
        pass
    srv_got = int(os.read(r, 64) or b"0")
    os.waitpid(pid, 0)
    return {"client": os.getpid(), "server": pid, "port": port, "client_port": local[1],
            "client_rx": got, "server_rx": srv_got}


def main():
    mode, up, down = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    if mode == "tcp4":
        out = tcp(socket.AF_INET, "127.0.0.1", up, down, port, seconds)
    elif mode == "tcp6":
        out = tcp(socket.AF_INET6, "::1", up, down, port, seconds)
    elif mode == "udp4":
        out = udp4(up, down, port)
    else:
        sys.exit(f"netxfer: unknown mode {mode}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
