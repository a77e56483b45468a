#!/usr/bin/env python3
"""Time from exec to READY=1: how long `sockwatch run` takes to tell systemd it is ready.

Runs inside a network namespace that a population already fills (bench/daemon.sh calls it
after populate.py is ready). For each run it binds a unix datagram socket as systemd does for
Type=notify, starts the daemon with NOTIFY_SOCKET pointing at it (the clock starts just before
the fork), waits for the datagram holding READY=1 (the daemon sends it once its first poll
succeeded and its endpoint listens), then stops the daemon with SIGTERM. The figure includes
Python's fork and exec (about a millisecond); the target is READY=1 at most 0.5 s after exec
with 100,000 sockets in the namespace.

Prints one JSON object: the runs' times in ms, their median, and the sockets the namespace held.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def one_run(binary, port, timeout):
    folder = tempfile.mkdtemp(prefix="swready-")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        sock.settimeout(timeout)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        argv = [binary, "run", "--listen-address", "127.0.0.1:%d" % port, "--poll-interval", "15s", "--netns", "self"]
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = started + timeout
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(4096)
                if b"READY=1" in data.split(b"\n"):
                    return (time.monotonic() - started) * 1000.0
        finally:
            benchlib.stop_process(proc)
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(folder)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True, help="the sockwatch executable")
    ap.add_argument("--port", type=int, required=True, help="a free port for the daemon's endpoint, reserved in the namespace")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for READY=1 in one run")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    _, families = benchlib.count_states()
    sockets = sum(families.values())
    times = []
    for _ in range(args.runs):
        try:
            times.append(one_run(args.binary, args.port, args.timeout))
        except socket.timeout:
            print("bench/ready.py: no READY=1 within %.0f s" % args.timeout, file=sys.stderr)
            return 1
        time.sleep(1.0)  # the port and the daemon's netlink socket go away before the next run

    print(json.dumps({"ready_ms": times, "median_ms": benchlib.median(times), "sockets": sockets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
