#!/usr/bin/env python3
"""Prints a loopback TCP port that no other test script of this user has taken.

Binding port 0 and closing the socket (what the scripts did before) hands out the kernel's
ephemeral ports: two scripts running side by side could be given the same one, and an outgoing
connection's source port could take it before the server bound it. Here a port comes from
20000-32767, below Linux's ephemeral range (32768-60999) and macOS's (49152-65535); it is
claimed by creating a file under $TMPDIR/clawfleet-ports-UID with O_EXCL, so no two scripts
get it, and it must bind free at that moment. A claim older than an hour is stale (its script
is long gone) and may be taken again. With COUNT, prints COUNT ports, one per line."""
import os
import random
import socket
import sys
import time

LOW, HIGH = 20000, 32767
STALE_SECONDS = 3600


def claim_dir():
    d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "clawfleet-ports-%d" % os.getuid())
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def claim(d, port):
    path = os.path.join(d, str(port))
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        try:
            if time.time() - os.stat(path).st_mtime < STALE_SECONDS:
                return False
            os.utime(path)
            return True
        except FileNotFoundError:
            return False


def binds(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    d = claim_dir()
    rng = random.SystemRandom()
    for _ in range(count):
        for _ in range(10000):
            port = rng.randint(LOW, HIGH)
            if claim(d, port) and binds(port):
                print(port)
                break
        else:
            sys.exit("free_port: no free port in %d-%d" % (LOW, HIGH))


main()
