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
import ctypes
import gc
import json
import os
import resource
import signal
import socket
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
NAME = "swcard-%03d"
LIBC = ctypes.CDLL(None, use_errno=True)


def source_address(k):
    """The k-th distinct loopback source address: 127.100.0.1, 127.100.0.2, ... (no .0, no .255)."""
    return "127.%d.%d.%d" % (100 + k // (254 * 254), 1 + (k // 254) % 254, 1 + k % 254)


def split(n, parts):
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def child(i, listen_fd, ready_w, port, first_source, clients, accepts, half_closed, parent_pid):
    LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
    LIBC.prctl(PR_SET_NAME, ctypes.c_char_p((NAME % i).encode()), 0, 0, 0)
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


def count_states():
    names = {1: "established", 2: "syn_sent", 3: "syn_recv", 4: "fin_wait1", 5: "fin_wait2", 6: "time_wait",
             7: "close", 8: "close_wait", 9: "last_ack", 10: "listen", 11: "closing"}
    counts = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    st = names.get(int(line.split(None, 4)[3], 16), "other")
                    counts[st] = counts.get(st, 0) + 1
        except OSError:
            pass
    return dict(sorted(counts.items()))


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
    try:
        in_init = os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        in_init = False
    if in_init:
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
               "counts": count_states(), "seconds": round(time.monotonic() - t0, 3), "pid": os.getpid()}
        line = json.dumps(doc)
        print(line, flush=True)
        if args.ready_file:
            with open(args.ready_file + ".tmp", "w") as f:
                f.write(line + "\n")
            os.replace(args.ready_file + ".tmp", args.ready_file)
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
