#!/usr/bin/env python3
"""Build a large, mixed TCP socket population in the current network namespace.

Run it inside a private namespace, e.g.

    ip netns add swb && ip netns exec swb python3 bench/populate.py --total 100000

The population (for --total N) is roughly:

    listen       ~100 listeners (N/1000, clamped to 4..100), IPv4 and IPv6
    close_wait   ~15% : 10% from the fin_wait2 pairs below, plus 5% whose
                        peer closed and has since vanished (TCP_LINGER2=1)
    fin_wait2    ~10% : client did shutdown(SHUT_WR) and keeps its fd
    established  the rest (~35%), both ends of each connection
    time_wait    ~40% : created last, right before "ready" (they last 60 s)

About 30% of every category is IPv6 (::1), the rest IPv4 (127.0.0.0/8, with
several source addresses).  Half of the TIME_WAIT sockets are on the client
side, half on the server (listener port) side.  Sockets are held by forked worker processes, each
holding well under 20,000 descriptors.  When the population is complete one
JSON line is printed (and written to --ready-file):

    {"ready": true, "counts": {"established": ..., ...}, "total": ..., "seconds": ...}

after which the script sleeps until SIGTERM/SIGINT/SIGHUP, when it kills its
workers and exits.  Workers also die if this process dies (PR_SET_PDEATHSIG).

SIGUSR1 asks for the TIME_WAIT share to be rebuilt: the script waits until the
previous TIME_WAIT sockets have expired, creates a fresh set, and rewrites the
ready file with "generation" incremented.
"""

import argparse
import ctypes
import errno
import json
import math
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time

TIME_WAIT_SECONDS = 60.0          # TCP_TIMEWAIT_LEN, fixed in the kernel
MAX_FDS_PER_WORKER = 19000        # hard ceiling requested for this box
PERSISTENT_FDS_PER_WORKER = 15500 # leave room for the transient TIME_WAIT batches
BATCH = 1000                      # connections opened per batch (2 fds each)
IPV6_SHARE = 0.30
IPV4_SOURCES = ["127.0.0.%d" % i for i in range(1, 9)]
LISTEN_PORT_BASE = 200            # below ip_local_port_range, so never ephemeral

PR_SET_PDEATHSIG = 1
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
TCP_LINGER2 = getattr(socket, "TCP_LINGER2", 8)

STATE_NAMES = {
    0x01: "established", 0x02: "syn_sent", 0x03: "syn_recv",
    0x04: "fin_wait1", 0x05: "fin_wait2", 0x06: "time_wait",
    0x07: "close", 0x08: "close_wait", 0x09: "last_ack",
    0x0A: "listen", 0x0B: "closing", 0x0C: "new_syn_recv",
}


def log(msg):
    sys.stderr.write("populate[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------
# helpers shared by parent and workers

def set_parent_death_signal(sig=signal.SIGKILL):
    """Ask the kernel to send `sig` to this process when its parent exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            log("prctl(PR_SET_PDEATHSIG) failed: errno %d" % ctypes.get_errno())
            return False
        return True
    except OSError as e:
        log("prctl unavailable: %s" % e)
        return False


def count_states():
    """Count TCP sockets by state from /proc/net/tcp and /proc/net/tcp6."""
    counts = {}
    families = {}
    for path, fam in (("/proc/net/tcp", "ipv4"), ("/proc/net/tcp6", "ipv6")):
        n = 0
        try:
            with open(path, "rb") as f:
                f.readline()  # header
                for line in f:
                    fields = line.split(None, 4)
                    if len(fields) < 4:
                        continue
                    name = STATE_NAMES.get(int(fields[3], 16), "unknown")
                    counts[name] = counts.get(name, 0) + 1
                    n += 1
        except FileNotFoundError:
            pass
        families[fam] = n
    return counts, families


def write_sysctl(name, value):
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(str(value))
        return True
    except OSError as e:
        log("could not set %s=%s: %s" % (name, value, e))
        return False


def read_sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return None


def same_netns_as_init():
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return False


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    elif hard == resource.RLIM_INFINITY and soft < MAX_FDS_PER_WORKER + 200:
        soft = MAX_FDS_PER_WORKER + 200
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


# --------------------------------------------------------------------------
# planning

def split(n, parts):
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def by_family(n):
    v6 = int(round(n * IPV6_SHARE))
    return {"ipv4": n - v6, "ipv6": v6}


def make_plan(total, fd_limit):
    listeners = min(100, max(4, int(round(total / 1000.0))))
    fw2_pairs = int(round(total * 0.10))
    cw_orphans = int(round(total * 0.05))
    time_wait = int(round(total * 0.40))
    est_sockets = max(0, total - listeners - 2 * fw2_pairs - cw_orphans - time_wait)
    est_pairs = (est_sockets + 1) // 2

    persistent_fds = listeners + 2 * fw2_pairs + cw_orphans + 2 * est_pairs
    per_worker_cap = min(PERSISTENT_FDS_PER_WORKER, fd_limit - 2 * BATCH - 300)
    if per_worker_cap < 1000:
        raise SystemExit("populate: RLIMIT_NOFILE (%d) is too small" % fd_limit)
    workers = max(int(math.ceil(persistent_fds / float(per_worker_cap))),
                  min(os.cpu_count() or 1, 4))
    workers = max(1, min(workers, max(1, (persistent_fds + time_wait) // 50)))

    specs = []
    shares = {
        "listeners": split(listeners, workers),
        "cw_orphans": split(cw_orphans, workers),
        "fw2_pairs": split(fw2_pairs, workers),
        "est_pairs": split(est_pairs, workers),
        "time_wait": split(time_wait, workers),
    }
    port = LISTEN_PORT_BASE
    for w in range(workers):
        # Per family, listener 0 only serves the orphaned close_wait group:
        # their client ends vanish, and a later connect() reusing the same
        # 4-tuple would hit (and reset) the lingering CLOSE_WAIT socket.
        nl = max(4, shares["listeners"][w])
        nl6 = max(2, int(round(nl * IPV6_SHARE)))
        nl4 = max(2, nl - nl6)
        lst = []
        for i in range(nl4):
            # mostly loopback-bound, some wildcard listeners
            lst.append(("ipv4", "0.0.0.0" if i % 4 == 3 else "127.0.0.1", port,
                        "orphan" if i == 0 else "general"))
            port += 1
        for i in range(nl6):
            lst.append(("ipv6", "::" if i % 4 == 3 else "::1", port,
                        "orphan" if i == 0 else "general"))
            port += 1
        specs.append({
            "index": w,
            "listeners": lst,
            "cw_orphans": by_family(shares["cw_orphans"][w]),
            "fw2_pairs": by_family(shares["fw2_pairs"][w]),
            "est_pairs": by_family(shares["est_pairs"][w]),
            "time_wait": by_family(shares["time_wait"][w]),
        })
    summary = {
        "total": total, "workers": workers, "listeners": sum(len(s["listeners"]) for s in specs),
        "established_pairs": est_pairs, "fin_wait2_pairs": fw2_pairs,
        "close_wait_orphaned": cw_orphans, "time_wait": time_wait,
        "persistent_fds": persistent_fds,
    }
    return specs, summary


# --------------------------------------------------------------------------
# worker side

class Builder:
    def __init__(self, spec):
        self.spec = spec
        # role -> family -> [(listen socket, connect address)]
        self.listeners = {"general": {"ipv4": [], "ipv6": []},
                          "orphan": {"ipv4": [], "ipv6": []}}
        self.held = []
        self.short = 0     # connections that never completed
        self.rr = {}

    def open_listeners(self):
        for fam, addr, port, role in self.spec["listeners"]:
            if fam == "ipv4":
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                target = ("127.0.0.1", port)
            else:
                s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                target = ("::1", port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(65535)
            s.setblocking(False)
            self.listeners[role][fam].append((s, target))
            self.held.append(s)

    def open_batch(self, fam, count, role="general"):
        """Open `count` loopback connections; return (client sockets, accepted sockets)."""
        lst = self.listeners[role][fam]
        af = socket.AF_INET if fam == "ipv4" else socket.AF_INET6
        clients = []
        used = set()
        for i in range(count):
            k = self.rr.get((role, fam), 0)
            self.rr[(role, fam)] = k + 1
            lsock, target = lst[k % len(lst)]
            used.add(lsock)
            c = socket.socket(af, socket.SOCK_STREAM)
            c.setblocking(False)
            if fam == "ipv4":
                # spread over several source addresses; port chosen at connect()
                c.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                c.bind((IPV4_SOURCES[(k // len(lst)) % len(IPV4_SOURCES)], 0))
            err = c.connect_ex(target)
            if err not in (0, errno.EINPROGRESS):
                c.close()
                raise OSError(err, "connect to %r: %s" % (target, os.strerror(err)))
            clients.append(c)
        servers = []
        used = list(used)
        poller = select.poll()
        for l in used:
            poller.register(l, select.POLLIN)
        deadline = time.monotonic() + 15.0
        while len(servers) < count:
            for l in used:
                while True:
                    try:
                        conn, _ = l.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    servers.append(conn)
            if len(servers) >= count:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.short += count - len(servers)
                log("worker %d: only %d of %d %s connections accepted"
                    % (self.spec["index"], len(servers), count, fam))
                break
            poller.poll(min(left, 0.2) * 1000)
        return clients, servers

    def batches(self, n):
        while n > 0:
            b = min(BATCH, n)
            n -= b
            yield b

    def build_persistent(self):
        self.open_listeners()
        # 1) close_wait whose peer has gone: the client closes with a 1 s
        #    FIN_WAIT2 lifetime (TCP_LINGER2) and then silently disappears.
        last_orphan = None
        for fam, n in self.spec["cw_orphans"].items():
            for b in self.batches(n):
                clients, servers = self.open_batch(fam, b, "orphan")
                for c in clients:
                    c.setsockopt(socket.IPPROTO_TCP, TCP_LINGER2, 1)
                    c.close()
                self.held.extend(servers)
                last_orphan = time.monotonic()
        # 2) fin_wait2 / close_wait pairs: client half-closes and keeps its fd
        for fam, n in self.spec["fw2_pairs"].items():
            for b in self.batches(n):
                clients, servers = self.open_batch(fam, b)
                for c in clients:
                    try:
                        c.shutdown(socket.SHUT_WR)
                    except OSError as e:
                        log("shutdown failed: %s" % e)
                self.held.extend(clients)
                self.held.extend(servers)
        # 3) established pairs
        for fam, n in self.spec["est_pairs"].items():
            for b in self.batches(n):
                clients, servers = self.open_batch(fam, b)
                self.held.extend(clients)
                self.held.extend(servers)
        # let the orphaned FIN_WAIT2 ends expire (~1 s) before reporting
        if last_orphan is not None:
            wait = last_orphan + 2.5 - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def build_time_wait(self, extra=None):
        """Create this worker's TIME_WAIT share, or `extra` client-side ones.

        Server-side TIME_WAIT leaves the client's port free, so a later
        connect() may pick the same 4-tuple and its SYN recycles that
        TIME_WAIT socket; the parent tops up such (rare) losses with
        client-side ones, which cannot collide.
        """
        made = 0
        flip = self.spec["index"] % 2
        share = self.spec["time_wait"] if extra is None else {"ipv4": extra}
        if extra is not None:
            flip = 0
        for fam, n in share.items():
            for b in self.batches(n):
                clients, servers = self.open_batch(fam, b)
                # The side that closes first ends up in TIME_WAIT; alternate so
                # both client-side and server-side TIME_WAIT sockets exist.
                first, second = (clients, servers) if flip == 0 else (servers, clients)
                if extra is None:
                    flip ^= 1
                for s in first:
                    s.close()
                for s in second:
                    s.close()
                made += min(len(clients), len(servers))
        return made


def worker_main(spec, parent_pid, cmd_fd, status_fd):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    status = os.fdopen(status_fd, "w", buffering=1)
    cmds = os.fdopen(cmd_fd, "r")
    b = Builder(spec)
    try:
        b.build_persistent()
        status.write(json.dumps({"phase": "base", "ok": True, "fds": len(b.held),
                                 "short": b.short}) + "\n")
        for line in cmds:
            words = line.split()
            if words and words[0] == "tw":
                n = b.build_time_wait(int(words[1]) if len(words) > 1 else None)
                status.write(json.dumps({"phase": "tw", "ok": True, "made": n,
                                         "short": b.short}) + "\n")
    except BaseException as e:  # report, then die
        try:
            status.write(json.dumps({"phase": "error", "ok": False,
                                     "error": "%s: %s" % (type(e).__name__, e)}) + "\n")
        except OSError:
            pass
        os._exit(1)
    os._exit(0)  # command pipe closed: parent is gone


# --------------------------------------------------------------------------
# parent side

class Parent:
    def __init__(self, args):
        self.args = args
        self.children = {}   # pid -> dict(cmd=file, status=file, buf=str)
        self.generation = 0
        self.t0 = time.monotonic()
        self.tw_started = None
        self.tw_done = None
        self.refresh_requested = False

    def spawn(self, specs):
        parent_pid = os.getpid()
        for spec in specs:
            cmd_r, cmd_w = os.pipe()
            st_r, st_w = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(cmd_w)
                    os.close(st_r)
                    for other in self.children.values():
                        os.close(other["cmd"])
                        os.close(other["status"])
                    worker_main(spec, parent_pid, cmd_r, st_w)
                finally:
                    os._exit(1)
            os.close(cmd_r)
            os.close(st_w)
            self.children[pid] = {"cmd": cmd_w, "status": st_r, "buf": b"", "index": spec["index"]}

    def wait_phase(self, phase):
        """Wait until every worker reports `phase`; return their messages."""
        pending = {c["status"]: pid for pid, c in self.children.items()}
        results = {}
        while pending:
            try:
                ready, _, _ = select.select(list(pending), [], [])
            except InterruptedError:
                continue
            for fd in ready:
                pid = pending[fd]
                child = self.children[pid]
                data = os.read(fd, 65536)
                if not data:
                    raise RuntimeError("worker %d (pid %d) exited unexpectedly"
                                       % (child["index"], pid))
                child["buf"] += data
                while b"\n" in child["buf"]:
                    line, child["buf"] = child["buf"].split(b"\n", 1)
                    msg = json.loads(line)
                    if not msg.get("ok"):
                        raise RuntimeError("worker %d failed: %s" % (child["index"], msg.get("error")))
                    if msg.get("phase") == phase:
                        results[pid] = msg
                        pending.pop(fd, None)
        return results

    def command_all(self, cmd):
        for c in self.children.values():
            os.write(c["cmd"], (cmd + "\n").encode())

    def build_time_wait(self, planned):
        self.tw_started = time.monotonic()
        self.command_all("tw")
        res = self.wait_phase("tw")
        # top up TIME_WAIT sockets recycled by colliding connects (see Builder)
        for attempt in range(2):
            counts, _ = count_states()
            deficit = planned - counts.get("time_wait", 0)
            if deficit <= 0:
                break
            shares = split(deficit, len(self.children))
            for (pid, c), n in zip(sorted(self.children.items()), shares):
                os.write(c["cmd"], ("tw %d\n" % n).encode())
            self.wait_phase("tw")
        self.tw_done = time.monotonic()
        return sum(m.get("made", 0) for m in res.values())

    def announce(self, plan_summary, build_seconds, short):
        counts, families = count_states()
        self.generation += 1
        doc = {
            "ready": True,
            "counts": dict(sorted(counts.items())),
            "total": sum(counts.values()),
            "families": families,
            "seconds": round(build_seconds, 3),
            "generation": self.generation,
            "pid": os.getpid(),
            "workers": sorted(self.children),
            "time_wait_started_monotonic": self.tw_started,
            "time_wait_done_monotonic": self.tw_done,
            "unaccepted_connections": short,
            "plan": plan_summary,
        }
        line = json.dumps(doc, separators=(", ", ": "))
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if self.args.ready_file:
            tmp = self.args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(line + "\n")
            os.replace(tmp, self.args.ready_file)
        return doc

    def wait_for_time_wait_expiry(self, planned_tw):
        target = self.tw_started + TIME_WAIT_SECONDS
        while time.monotonic() < target:
            time.sleep(min(1.0, target - time.monotonic()))
        deadline = self.tw_done + TIME_WAIT_SECONDS + 15.0
        while True:
            counts, _ = count_states()
            left = counts.get("time_wait", 0)
            if left <= max(5, planned_tw // 200) or time.monotonic() > deadline:
                return left
            time.sleep(0.5)

    def kill_children(self):
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            self.children.pop(pid, None)


def prepare_namespace():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    write_sysctl("net.ipv4.ip_local_port_range", "1024 65535")
    write_sysctl("net.core.somaxconn", 65535)
    write_sysctl("net.ipv4.tcp_max_syn_backlog", 65535)
    # Loopback TIME_WAIT reuse (default 2) would let later connect()s recycle
    # the TIME_WAIT sockets we are trying to keep; turn it off here.
    write_sysctl("net.ipv4.tcp_tw_reuse", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--total", type=int, default=100000, help="approximate number of sockets (default 100000)")
    ap.add_argument("--ready-file", help="also write the ready JSON line to this file (atomically)")
    ap.add_argument("--die-with-parent", action="store_true",
                    help="exit when the process that started this one exits (PR_SET_PDEATHSIG)")
    ap.add_argument("--allow-init-netns", action="store_true",
                    help="allow running in the initial network namespace (changes its sysctls!)")
    args = ap.parse_args()
    if args.total < 100:
        ap.error("--total must be at least 100")
    if os.geteuid() != 0:
        print("populate.py: must run as root (sysctls, binding ports < 1024)", file=sys.stderr)
        return 2
    if same_netns_as_init() and not args.allow_init_netns:
        print("populate.py: refusing to run in the initial network namespace; "
              "use 'ip netns exec NAME ...' (or --allow-init-netns)", file=sys.stderr)
        return 2

    if args.die_with_parent:
        ppid = os.getppid()
        set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != ppid:
            return 1

    parent = Parent(args)

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    def on_usr1(signum, frame):
        parent.refresh_requested = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)

    try:
        fd_limit = raise_fd_limit()
        specs, summary = make_plan(args.total, fd_limit)
        prepare_namespace()
        tw_buckets = read_sysctl("net.ipv4.tcp_max_tw_buckets")
        if tw_buckets is not None and int(tw_buckets) < 2 * summary["time_wait"] + 1000:
            write_sysctl("net.ipv4.tcp_max_tw_buckets", 2 * summary["time_wait"] + 1000)

        parent.spawn(specs)
        base = parent.wait_phase("base")
        short = sum(m.get("short", 0) for m in base.values())
        parent.build_time_wait(summary["time_wait"])
        doc = parent.announce(summary, time.monotonic() - parent.t0, short)
        if doc["total"] < 0.97 * args.total:
            log("warning: only %d sockets visible (asked for %d)" % (doc["total"], args.total))

        status_fds = {c["status"]: pid for pid, c in parent.children.items()}
        while True:
            if parent.refresh_requested:
                parent.refresh_requested = False
                t = time.monotonic()
                left = parent.wait_for_time_wait_expiry(summary["time_wait"])
                if left:
                    log("%d TIME_WAIT sockets still present before refresh" % left)
                parent.build_time_wait(summary["time_wait"])
                parent.announce(summary, time.monotonic() - t, short)
                continue
            try:
                ready, _, _ = select.select([wake_r] + list(status_fds), [], [])
            except InterruptedError:
                continue
            for fd in ready:
                if fd == wake_r:
                    os.read(wake_r, 4096)
                else:
                    data = os.read(fd, 65536)
                    if not data:
                        raise RuntimeError("worker pid %d exited unexpectedly" % status_fds[fd])
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        log("error: %s: %s" % (type(e).__name__, e))
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        parent.kill_children()


if __name__ == "__main__":
    sys.exit(main())
