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
holding well under 20,000 descriptors.

With --processes N the sockets that hold descriptors (everything but
TIME_WAIT) are spread evenly over exactly N live processes instead: the few
builder workers create the sockets as above, pass all but their own share over
unix sockets (SCM_RIGHTS) to N - builders "holder" processes (forked by this
script, they only sleep) and close their copies, so every socket has exactly
one owner.  All N processes are named swholder-NNN (prctl PR_SET_NAME); the
builders keep the listeners, which they need to rebuild TIME_WAIT.

When the population is complete one JSON line is printed (and written to
--ready-file):

    {"ready": true, "counts": {"established": ..., ...}, "total": ..., "seconds": ...}

after which the script sleeps until SIGTERM/SIGINT/SIGHUP, when it kills its
workers (and holders) and exits.  Workers and holders also die if this process
dies (PR_SET_PDEATHSIG).

SIGUSR1 asks for the TIME_WAIT share to be rebuilt: the script waits until the
previous TIME_WAIT sockets have expired, creates a fresh set, and rewrites the
ready file with "generation" incremented.
"""

import argparse
import errno
import gc
import json
import math
import os
import random
import resource
import select
import signal
import socket
import sys
import time

from benchlib import (IP_BIND_ADDRESS_NO_PORT, TIME_WAIT_SECONDS, count_states, libc, read_sysctl, split,
                      in_initial_netns as same_netns_as_init)
import benchlib

MAX_FDS_PER_WORKER = 19000        # hard ceiling requested for this box
PERSISTENT_FDS_PER_WORKER = 15500 # leave room for the transient TIME_WAIT batches
BATCH = 1000                      # connections opened per batch (2 fds each)
IPV6_SHARE = 0.30
IPV4_SOURCES = ["127.0.0.%d" % i for i in range(1, 9)]
LISTEN_PORT_BASE = 200            # below ip_local_port_range, so never ephemeral

HOLDER_NAME = "swholder-%03d"     # comm of every socket-holding process with --processes
FDS_PER_MESSAGE = 250             # SCM_RIGHTS carries at most 253 descriptors per message
HANDOFF_TIMEOUT = 300.0           # seconds a builder waits for its holders to take their share
TCP_LINGER2 = getattr(socket, "TCP_LINGER2", 8)

def log(msg):
    sys.stderr.write("populate[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------
# helpers shared by parent and workers

def set_parent_death_signal(sig=signal.SIGKILL):
    """Ask the kernel to send `sig` to this process when its parent exits."""
    return benchlib.set_parent_death_signal(sig, log)


def set_comm(name):
    """Set this process's comm (as shown by ps and ss -p), at most 15 bytes."""
    benchlib.set_comm(name, log)


def close_all_but(keep):
    """Close every descriptor >= 3 except those in `keep` (close_range(2) underneath)."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(resource.getrlimit(resource.RLIMIT_NOFILE)[0], low + 1, 65536))


def write_sysctl(name, value):
    return benchlib.write_sysctl(name, value, log)


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

def split_weighted(n, weights):
    """Split n in proportion to weights (equal weights: the same as split())."""
    total = float(sum(weights))
    out = [int(n * w // total) for w in weights]
    for i in range(n - sum(out)):
        out[i % len(out)] += 1
    return out


def by_family(n):
    v6 = int(round(n * IPV6_SHARE))
    return {"ipv4": n - v6, "ipv6": v6}


def make_plan(total, fd_limit, processes=None):
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
    if processes is not None:
        # every one of the N processes holds about persistent_fds / N descriptors
        needed = int(math.ceil(persistent_fds / float(per_worker_cap)))
        if processes < needed:
            raise SystemExit("populate: --processes %d is too few: %d descriptors need at least %d "
                             "processes of at most %d each" % (processes, persistent_fds, needed, per_worker_cap))
        if processes > persistent_fds:
            raise SystemExit("populate: --processes %d is more than the %d sockets that hold a descriptor"
                             % (processes, persistent_fds))
        # builder w builds for itself and its holders (group_sizes[w] processes),
        # so its share of the sockets is weighted by that; more builders if
        # the largest share would not fit one builder's descriptor budget
        workers = min(workers, processes)
        while True:
            group_sizes = split(processes, workers)
            if workers >= processes or max(group_sizes) * persistent_fds / float(processes) <= per_worker_cap:
                break
            workers += 1
        dist = lambda n, parts: split_weighted(n, group_sizes)
    else:
        dist = split

    specs = []
    shares = {
        "listeners": split(listeners, workers),
        "cw_orphans": dist(cw_orphans, workers),
        "fw2_pairs": dist(fw2_pairs, workers),
        "est_pairs": dist(est_pairs, workers),
        "time_wait": dist(time_wait, workers),
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
        if processes is not None:
            first = sum(group_sizes[:w])
            specs[-1]["process_index"] = first
            specs[-1]["holders"] = list(range(first + 1, first + group_sizes[w]))
    summary = {
        "total": total, "workers": workers, "listeners": sum(len(s["listeners"]) for s in specs),
        "established_pairs": est_pairs, "fin_wait2_pairs": fw2_pairs,
        "close_wait_orphaned": cw_orphans, "time_wait": time_wait,
        "persistent_fds": persistent_fds,
    }
    if processes is not None:
        summary["processes"] = processes
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

    def build_persistent(self, wait_orphans=True):
        """Listeners, then close_wait with a vanished peer, fin_wait2 pairs, established pairs.

        wait_orphans=False returns without waiting for the orphaned FIN_WAIT2 ends to expire
        (~1 s; the caller waits once for many builders, as netns_populate.py does).
        """
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
        if last_orphan is not None and wait_orphans:
            wait = last_orphan + 2.5 - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def hand_off(self, chans):
        """Give all but this builder's share of the held sockets to its holders.

        `chans` is [(holder index, unix SOCK_SEQPACKET descriptor)].  Each
        holder gets an equal share (shuffled, so a mix of states and
        families) in SCM_RIGHTS messages - b"F" while more follow, b"E" for
        the last - and answers b"K<count>"; this builder closes its copies,
        so the holder is the socket's only owner.  The builder keeps its
        listeners (it needs them for TIME_WAIT) topped up to an equal share.
        """
        if not chans:
            return
        listeners = [l for role in self.listeners.values() for fam in role.values() for l, _ in fam]
        lset = set(id(l) for l in listeners)
        others = [s for s in self.held if id(s) not in lset]
        random.Random(1000 + self.spec["index"]).shuffle(others)
        own = int(round(len(self.held) / float(len(chans) + 1)))
        keep_n = max(0, min(len(others), own - len(listeners)))
        kept, rest = others[:keep_n], others[keep_n:]
        socks = []
        pos = 0
        for (idx, fd), n in zip(chans, split(len(rest), len(chans))):
            part = rest[pos:pos + n]
            pos += n
            ch = socket.socket(fileno=fd)
            socks.append((idx, ch, n))
            if not part:
                ch.send(b"E")
            for i in range(0, len(part), FDS_PER_MESSAGE):
                chunk = part[i:i + FDS_PER_MESSAGE]
                last = i + FDS_PER_MESSAGE >= len(part)
                socket.send_fds(ch, [b"E" if last else b"F"], [c.fileno() for c in chunk])
            for c in part:
                c.close()   # the in-flight message keeps them alive until received
        self.held = listeners + kept
        deadline = time.monotonic() + HANDOFF_TIMEOUT
        for idx, ch, n in socks:
            ch.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                reply = ch.recv(4096)
            except socket.timeout:
                raise RuntimeError("holder %d did not take its sockets within %.0f s" % (idx, HANDOFF_TIMEOUT))
            if reply != b"K%d" % n:
                raise RuntimeError("holder %d: %s" % (idx, reply.decode(errors="replace")[:300] or "exited"))
            ch.close()
        log("worker %d: %d sockets handed to %d holders, %d kept"
            % (self.spec["index"], len(rest), len(chans), len(self.held)))

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


def worker_failed(status, e):
    """Report `e` on the status pipe (the parent raises it), then die."""
    try:
        status.write(json.dumps({"phase": "error", "ok": False,
                                 "error": "%s: %s" % (type(e).__name__, e)}) + "\n")
    except OSError:
        pass
    os._exit(1)


def worker_main(spec, parent_pid, cmd_fd, status_fd, chans=()):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    if spec.get("process_index") is not None:
        set_comm(HOLDER_NAME % spec["process_index"])
    status = os.fdopen(status_fd, "w", buffering=1)
    cmds = os.fdopen(cmd_fd, "r")
    b = Builder(spec)
    try:
        b.build_persistent()
        b.hand_off(chans)
        status.write(json.dumps({"phase": "base", "ok": True, "fds": len(b.held),
                                 "short": b.short}) + "\n")
        for line in cmds:
            words = line.split()
            if words and words[0] == "tw":
                n = b.build_time_wait(int(words[1]) if len(words) > 1 else None)
                status.write(json.dumps({"phase": "tw", "ok": True, "made": n,
                                         "short": b.short}) + "\n")
    except BaseException as e:
        worker_failed(status, e)
    os._exit(0)  # command pipe closed: parent is gone


def holder_main(index, chan_fd, parent_pid):
    """A --processes holder: take a share of sockets from a builder, then sleep."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    gc.disable()    # never finalize inherited objects whose descriptors are closed below
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    set_comm(HOLDER_NAME % index)
    close_all_but({chan_fd})
    ch = socket.socket(fileno=chan_fd)
    held = []
    try:
        while True:
            msg, fds, flags, _ = socket.recv_fds(ch, 16, FDS_PER_MESSAGE + 3)
            held.extend(fds)
            if flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC):
                raise RuntimeError("truncated message (flags 0x%x)" % flags)
            if not msg:
                os._exit(1)     # builder gone
            if msg == b"E":
                break
        ch.send(b"K%d" % len(held))
        ch.close()
    except BaseException as e:
        try:
            ch.send(("holder %d: %s: %s" % (index, type(e).__name__, e)).encode())
        except OSError:
            pass
        os._exit(1)
    while True:
        signal.pause()


# --------------------------------------------------------------------------
# parent side

def fork_worker(parent, pipes, k, run):
    """Fork worker k of `parent`: the child keeps only its own ends of pipes[k]
    (cmd_r, cmd_w, st_r, st_w: it reads commands and writes status) and calls run(),
    never returning; the parent closes the child's ends and gets the pid."""
    cmd_r, cmd_w, st_r, st_w = pipes[k]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(cmd_w)
            os.close(st_r)
            for other in parent.children.values():
                os.close(other["cmd"])
                os.close(other["status"])
            for later in pipes[k + 1:]:
                for fd in later:
                    os.close(fd)
            run()
        finally:
            os._exit(1)
    os.close(cmd_r)
    os.close(st_w)
    return pid


class Parent:
    def __init__(self, args):
        self.args = args
        self.children = {}   # pid -> dict(cmd=file, status=file, buf=str)
        self.holders = {}    # pid -> holder index (--processes only)
        self.generation = 0
        self.t0 = time.monotonic()
        self.tw_started = None
        self.tw_done = None
        self.refresh_requested = False

    def spawn(self, specs):
        parent_pid = os.getpid()
        # the pipes first: the parent select()s on them, so they must stay below 1024
        pipes = [os.pipe() + os.pipe() for spec in specs]
        # --processes: one unix SOCK_SEQPACKET pair per holder, as plain
        # descriptors (no socket objects a forked child could finalize)
        chans = {}   # holder index -> (builder end, holder end)
        for spec in specs:
            for idx in spec.get("holders", ()):
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                chans[idx] = (a.detach(), b.detach())
        for k, spec in enumerate(specs):
            cmd_r, cmd_w, st_r, st_w = pipes[k]

            def run(spec=spec, cmd_r=cmd_r, st_w=st_w):
                mine = set(spec.get("holders", ()))
                for idx, (a, b) in chans.items():
                    os.close(b)
                    if idx not in mine:
                        os.close(a)
                worker_main(spec, parent_pid, cmd_r, st_w,
                            [(idx, chans[idx][0]) for idx in spec.get("holders", ())])

            pid = fork_worker(self, pipes, k, run)
            self.children[pid] = {"cmd": cmd_w, "status": st_r, "buf": b"", "index": spec["index"]}
        for a, b in chans.values():
            os.close(a)
        # holders: forked while the builders work; each keeps only its end.
        # Forking is the slow part (~10 ms of CPU per holder on a small VM,
        # mostly copy-on-write faults): touch as little as possible.
        if chans:
            try:
                libc()
            except OSError:
                pass
            gc.collect()
            gc.freeze()
        for idx, (a, b) in sorted(chans.items()):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    holder_main(idx, b, parent_pid)
                finally:
                    os._exit(1)
            os.close(b)
            self.holders[pid] = idx

    def reap_holders(self):
        """Raise if a holder (or worker) has exited; called when SIGCHLD wakes the main loop."""
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.holders:
                idx = self.holders.pop(pid)
                raise RuntimeError("holder %d (pid %d) exited unexpectedly (status %d)"
                                   % (idx, pid, os.waitstatus_to_exitcode(st)))
            if pid in self.children:
                self.children.pop(pid)
                raise RuntimeError("worker pid %d exited unexpectedly" % pid)

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
        if "processes" in plan_summary:
            doc["processes"] = len(self.children) + len(self.holders)
            doc["holders"] = sorted(self.holders)
        self.publish(doc)
        return doc

    def serve(self, wake_r, refresh):
        """Sleep until signalled, for ever: refresh() on SIGUSR1; raise when a worker or holder exits."""
        status_fds = {c["status"]: pid for pid, c in self.children.items()}
        while True:
            if self.refresh_requested:
                self.refresh_requested = False
                refresh()
                continue
            try:
                ready, _, _ = select.select([wake_r] + list(status_fds), [], [])
            except InterruptedError:
                continue
            for fd in ready:
                if fd == wake_r:
                    os.read(wake_r, 4096)
                    if self.holders:
                        self.reap_holders()
                elif not os.read(fd, 65536):
                    raise RuntimeError("worker pid %d exited unexpectedly" % status_fds[fd])

    def publish(self, doc):
        """Print the ready line and write it to --ready-file (atomically)."""
        benchlib.announce_ready(doc, self.args.ready_file, separators=(", ", ": "))

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

    def take_signals(self):
        """With --die-with-parent, SIGTERM when the caller exits; SIGTERM, SIGINT and SIGHUP
        end this process (SystemExit), SIGUSR1 sets refresh_requested. Returns the read end of
        a pipe that every signal makes readable (for select), or None when the caller is gone."""
        if self.args.die_with_parent:
            ppid = os.getppid()
            set_parent_death_signal(signal.SIGTERM)
            if os.getppid() != ppid:
                return None

        def on_term(signum, frame):
            raise SystemExit(128 + signum)

        def on_usr1(signum, frame):
            self.refresh_requested = True

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_term)
        signal.signal(signal.SIGUSR1, on_usr1)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        return wake_r

    def finish(self):
        """Ignore further signals and kill the workers (and holders): the last step of main."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        self.kill_children()

    def kill_children(self):
        for pid in list(self.children) + list(self.holders):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(self.children) + list(self.holders):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            self.children.pop(pid, None)
            self.holders.pop(pid, None)


def prepare_namespace():
    # Loopback TIME_WAIT reuse (default 2) would let later connect()s recycle
    # the TIME_WAIT sockets we are trying to keep; turn it off here.
    benchlib.prepare_namespace(tw_reuse=0, log=log)


def add_parent_arguments(ap):
    """--ready-file and --die-with-parent, which Parent reads."""
    ap.add_argument("--ready-file", help="also write the ready JSON line to this file (atomically)")
    ap.add_argument("--die-with-parent", action="store_true",
                    help="exit when the process that started this one exits (PR_SET_PDEATHSIG)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--total", type=int, default=100000, help="approximate number of sockets (default 100000)")
    add_parent_arguments(ap)
    ap.add_argument("--allow-init-netns", action="store_true",
                    help="allow running in the initial network namespace (changes its sysctls!)")
    ap.add_argument("--processes", type=int,
                    help="spread the sockets that hold descriptors evenly over exactly N processes "
                         "named swholder-NNN (default: as few workers as the descriptor limit needs)")
    args = ap.parse_args()
    if args.total < 100:
        ap.error("--total must be at least 100")
    if args.processes is not None and args.processes < 1:
        ap.error("--processes must be at least 1")
    if os.geteuid() != 0:
        print("populate.py: must run as root (sysctls, binding ports < 1024)", file=sys.stderr)
        return 2
    if same_netns_as_init() and not args.allow_init_netns:
        print("populate.py: refusing to run in the initial network namespace; "
              "use 'ip netns exec NAME ...' (or --allow-init-netns)", file=sys.stderr)
        return 2

    parent = Parent(args)
    wake_r = parent.take_signals()
    if wake_r is None:
        return 1

    try:
        fd_limit = raise_fd_limit()
        specs, summary = make_plan(args.total, fd_limit, args.processes)
        prepare_namespace()
        tw_buckets = read_sysctl("net.ipv4.tcp_max_tw_buckets")
        if tw_buckets is not None and int(tw_buckets) < 2 * summary["time_wait"] + 1000:
            write_sysctl("net.ipv4.tcp_max_tw_buckets", 2 * summary["time_wait"] + 1000)

        parent.spawn(specs)
        base = parent.wait_phase("base")
        short = sum(m.get("short", 0) for m in base.values())
        if parent.holders:
            # a holder that dies takes its sockets with it: notice (SIGCHLD wakes the loop)
            signal.signal(signal.SIGCHLD, lambda signum, frame: None)
            parent.reap_holders()
        parent.build_time_wait(summary["time_wait"])
        doc = parent.announce(summary, time.monotonic() - parent.t0, short)
        if doc["total"] < 0.97 * args.total:
            log("warning: only %d sockets visible (asked for %d)" % (doc["total"], args.total))

        def refresh():
            t = time.monotonic()
            left = parent.wait_for_time_wait_expiry(summary["time_wait"])
            if left:
                log("%d TIME_WAIT sockets still present before refresh" % left)
            parent.build_time_wait(summary["time_wait"])
            parent.announce(summary, time.monotonic() - t, short)

        parent.serve(wake_r, refresh)
    except SystemExit as e:
        if isinstance(e.code, str):
            sys.stderr.write(e.code + "\n")
        return e.code if isinstance(e.code, int) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        log("error: %s: %s" % (type(e).__name__, e))
        return 1
    finally:
        parent.finish()


if __name__ == "__main__":
    sys.exit(main())
