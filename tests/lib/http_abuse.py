"""http_abuse.py: the abusive clients of tests/integration/slowloris.sh and the connection
benchmark, over plain sockets bound to many loopback source addresses (127.0.0.0/8 all reaches
a server on 127.0.0.1; the servers' per-client limit counts each address apart).

  slowloris PORT[,PORT...] N STATUS_FILE SECONDS
      keeps N connections to each port, from 127.0.1.1 onwards (25 per address), each a request
      head begun and never finished, one more header byte each second; a connection the server
      closes is opened again. Writes "open=N reopened=N" (connections the server closed and
      this opened again) to STATUS_FILE every second.
  flood PORT N
      N connections at once from 127.0.2.1 onwards (20 per address), each sending GET /healthz
      and reading the answer (5 s each). Prints "ok=N refused503=N closed=N hung=N other=N"
      and, for any other answer, its first line.
  bodies PORT PATH N BYTES
      N connections at once (25 per address from 127.0.3.1), each a POST of BYTES bytes without
      credentials, all but their last bytes sent before any is finished. Prints
      "unauthorized=N closed=N hung=N other=N".
"""
import os
import resource
import select
import socket
import sys
import time


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def source(base, i, per):
    third, fourth = base
    n = i // per
    return "127.0.%d.%d" % (third + n // 250, fourth + n % 250)


def connect(port, src, blocking=True):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    if not blocking:
        s.setblocking(False)
    return s


def slowloris(ports, n, status_file, seconds):
    raise_fd_limit(len(ports) * n + 64)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    conns = []
    for p in ports:
        for i in range(n):
            conns.append([p, source((1, 1), len(conns), 25), None])
    reopened = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for c in conns:
            if c[2] is not None:
                try:
                    c[2].send(b"x")
                    continue
                except OSError:
                    c[2].close()
                    c[2] = None
                    reopened += 1
            try:
                c[2] = connect(c[0], c[1], blocking=False)
                c[2].send(head)
            except OSError:
                c[2] = None
        # A connection the server closed reads as the end of stream (or a 503 first).
        poller = select.poll()
        by_fd = {}
        for c in conns:
            if c[2] is not None:
                poller.register(c[2], select.POLLIN)
                by_fd[c[2].fileno()] = c
        for fd, _ in poller.poll(0):
            c = by_fd[fd]
            try:
                c[2].recv(4096)
            except OSError:
                pass
            c[2].close()
            c[2] = None
            reopened += 1
        with open(status_file + ".tmp", "w") as f:
            f.write("open=%d reopened=%d\n" % (sum(c[2] is not None for c in conns), reopened))
        os.rename(status_file + ".tmp", status_file)
        time.sleep(1)


def read_answer(s, deadline):
    got = b""
    while time.monotonic() < deadline:
        poller = select.poll()
        poller.register(s, select.POLLIN)
        if not poller.poll(max(0, deadline - time.monotonic()) * 1000):
            break
        try:
            b = s.recv(65536)
        except OSError:
            return got, True
        if not b:
            return got, True
        got += b
        if b"\r\n\r\n" in got:
            head, _, body = got.partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    if len(body) >= int(line.split(b":")[1]):
                        return got, False
    return got, time.monotonic() < deadline


def flood(port, n):
    raise_fd_limit(n + 64)
    socks = []
    counts = {"ok": 0, "refused503": 0, "closed": 0, "hung": 0, "other": 0}
    others = []
    for i in range(n):
        try:
            s = connect(port, source((2, 1), i, 20))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        except OSError:
            counts["closed"] += 1
    deadline = time.monotonic() + 5
    for s in socks:
        got, ended = read_answer(s, deadline)
        status = got.split(b"\r\n", 1)[0]
        if status.startswith(b"HTTP/1.1 200 "):
            counts["ok"] += 1
        elif status.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: " in got \
                and b'\r\n\r\n{"error":"' in got:
            counts["refused503"] += 1
        elif not got and ended:
            counts["closed"] += 1
        elif not got:
            counts["hung"] += 1
        else:
            counts["other"] += 1
            others.append(status.decode(errors="replace"))
        s.close()
    print(" ".join("%s=%d" % kv for kv in counts.items()))
    for o in sorted(set(others)):
        print("  other answer: " + o)


def bodies(port, path, n, size):
    raise_fd_limit(n + 64)
    chunk = b"x" * 65536
    socks = []
    for i in range(n):
        s = connect(port, source((3, 1), i, 25))
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, size)).encode())
        socks.append(s)
    # Every body but its last byte, as far as the server lets it in (5 s each at most), so that
    # a server that buffers them holds them all at once; then the last bytes.
    for s in socks:
        sent = 0
        while sent < size - 1:
            try:
                sent += s.send(chunk[:min(len(chunk), size - 1 - sent)])
            except OSError:
                break
    for s in socks:
        try:
            s.send(b"x")
        except OSError:
            pass
    counts = {"unauthorized": 0, "closed": 0, "hung": 0, "other": 0}
    deadline = time.monotonic() + 10
    for s in socks:
        s.setblocking(True)
        got, ended = read_answer(s, deadline)
        if got.startswith(b"HTTP/1.1 401 ") and got.endswith(b'{"error":"unauthorized"}'):
            counts["unauthorized"] += 1
        elif not got and ended:
            counts["closed"] += 1
        elif not got:
            counts["hung"] += 1
        else:
            counts["other"] += 1
        s.close()
    print(" ".join("%s=%d" % kv for kv in counts.items()))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "slowloris":
        slowloris([int(p) for p in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4],
                  float(sys.argv[5]))
    elif mode == "flood":
        flood(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "bodies":
        bodies(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit("usage: see the module's docstring")
