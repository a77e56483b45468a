#!/usr/bin/env python3
"""A population built to blow up label cardinality, for bench/reliability.sh cardinality.

Run it inside a private network namespace (as root). It forks --processes processes, each named
swcard-NNN (prctl PR_SET_NAME, so every one is a distinct owner), each with one listener on
127.0.0.1:(--port-base + i). Process i opens its share of --connections client connections to
the listener of process i+1 (mod N), every client socket bound first to a source address of its
own (127.100.X.Y, a different one for each of the connections: every client socket is its own
(local address, remote address, remote port) destination), and accepts the connections its
predecessor opened. Then it shuts down the write side of its first --half-closed clients, so
that the peer holds that many close_wait sockets (and it holds as many fin_wait2).

So there are --connections established-or-half-closed pairs, --processes listeners and
--processes distinct owners, with close_wait spread over all of them.

When every process is done, one JSON line is printed (and written to --ready-file); the script
then sleeps until SIGTERM/SIGINT/SIGHUP and kills its children, which also die with it
(PR_SET_PDEATHSIG).
"""

import argparse
import gc
import os
import resource
import signal
import socket
import sys
import time

from benchlib import (IP_BIND_ADDRESS_NO_PORT, announce_ready, count_states, in_initial_netns, libc,
                      set_comm, set_parent_death_signal, split)

NAME = "swcard-%03d"


def source_address(k):
    """The k-th distinct loopback source address: 127.100.0.1, 127.100.0.2, ... (no .0, no .255)."""
    return "127.%d.%d.%d" % (100 + k // (254 * 254), 1 + (k // 254) % 254, 1 + k % 254)


def child(i, listen_fd, ready_w, port, first_source, clients, accepts, half_closed, parent_pid):
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    set_comm(NAME % i)
    held = []
    try:
        for k in range(clients):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((source_address(first_source + k), 0))
            s.connect(("127.0.0.1", port))
            held.append(s)
        lst = socket.socket(fileno=listen_fd)
        lst.settimeout(300)
        for _ in range(accepts):
            held.append(lst.accept()[0])
        for s in held[:min(half_closed, clients)]:
            s.shutdown(socket.SHUT_WR)
        os.write(ready_w, b"ok %d\n" % i)
    except BaseException as e:  # report, then die
        os.write(ready_w, ("error %d %s: %s\n" % (i, type(e).__name__, e)).encode()[:500])
        os._exit(1)
    while True:
        signal.pause()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=50000)
    ap.add_argument("--processes", type=int, default=500)
    ap.add_argument("--half-closed", type=int, default=2, help="half-closed clients per process (default 2)")
    ap.add_argument("--port-base", type=int, default=20000)
    ap.add_argument("--ready-file")
    args = ap.parse_args()
    if not 2 <= args.processes <= 9999 or args.connections < args.processes:
        ap.error("need 2..9999 processes and at least one connection per process")
    if args.connections > 254 * 254 * 155:
        ap.error("at most %d distinct source addresses" % (254 * 254 * 155))
    if in_initial_netns():
        print("cardinality.py: refusing to run in the initial network namespace", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.processes + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, min(hard, 1 << 20)), max(hard, want)))

    t0 = time.monotonic()
    listeners = []
    for i in range(args.processes):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", args.port_base + i))
        s.listen(65535)
        listeners.append(s.detach())   # plain descriptors: nothing a forked child could finalize
    ready_r, ready_w = os.pipe()
    shares = split(args.connections, args.processes)
    firsts = [sum(shares[:i]) for i in range(args.processes)]
    parent_pid = os.getpid()
    children = []

    def stop(signum, frame):
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    libc()   # loaded once, before forking
    gc.collect()
    gc.freeze()
    try:
        for i in range(args.processes):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                        signal.signal(sig, signal.SIG_DFL)
                    gc.disable()
                    os.close(ready_r)
                    for j, fd in enumerate(listeners):
                        if j != i:
                            os.close(fd)
                    nxt = (i + 1) % args.processes
                    prv = (i - 1) % args.processes
                    child(i, listeners[i], ready_w, args.port_base + nxt, firsts[i], shares[i], shares[prv],
                          args.half_closed, parent_pid)
                finally:
                    os._exit(1)
            children.append(pid)
        os.close(ready_w)
        for fd in listeners:
            os.close(fd)   # each child holds its own
        done = 0
        with os.fdopen(ready_r, "rb") as r:
            while done < args.processes:
                line = r.readline()
                if not line:
                    raise RuntimeError("a child exited before it was ready")
                if not line.startswith(b"ok"):
                    raise RuntimeError(line.decode(errors="replace").strip())
                done += 1
        doc = {"ready": True, "connections": args.connections, "processes": args.processes,
               "half_closed_per_process": args.half_closed,
               "first_source": source_address(0), "last_source": source_address(args.connections - 1),
               "counts": dict(sorted(count_states()[0].items())), "seconds": round(time.monotonic() - t0, 3), "pid": os.getpid()}
        announce_ready(doc, args.ready_file)
        while True:
            signal.pause()
    except SystemExit:
        return 0
    except Exception as e:
        print("cardinality.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


if __name__ == "__main__":
    sys.exit(main())
