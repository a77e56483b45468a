#!/usr/bin/env python3
"""Fill many network namespaces with populate.py's socket mix, from a few processes.

    netns_populate.py --prefix swnsb- --count 200 --per-namespace 500 [--processes 4]
                      [--ready-file FILE] [--die-with-parent] [--defer-time-wait]

The namespaces /run/netns/PREFIX000 ... must exist (ip netns add). Running populate.py
in each (a parent and its workers: three Python processes a namespace) would take 600
processes for 200 namespaces; here each of --processes forked workers takes an equal share
of the namespaces, enters each in turn with setns(2), brings lo up, sets populate.py's
sysctls there, and builds what `populate.py --total N` builds (its plan and its Builder,
with one builder a namespace): listeners, close_wait whose peer vanished, fin_wait2 /
close_wait pairs, established pairs, time_wait (client and server side), about 30% IPv6.
A socket stays in the namespace it was made in, so a worker holds the descriptors of all
its namespaces (populate.py's limit of 19,000 a process holds).

When every namespace has its sockets, time_wait included, one JSON line is printed (and
written to --ready-file): per-state totals, families, sockets per namespace (min, max and
each), generation, time_wait_started_monotonic. With --defer-time-wait the line is written
first without time_wait (generation 0) and the time_wait sockets are built on the first
SIGUSR1. SIGUSR1 (re)builds them: in each namespace once its previous ones have expired
(they live 60 s), then writes the line again with the generation incremented.
SIGTERM/SIGINT/SIGHUP end it; the workers die with it (PR_SET_PDEATHSIG).
"""

import argparse
import json
import os
import signal
import sys
import time

from benchlib import count_states, enter_netns as enter, read_sysctl, sockstat_tcp, split
import populate  # the plan, the Builder and the helpers

TRANSIENT_FDS = 2 * populate.BATCH + 300   # a time_wait batch, and the rest of the process


def one_spec(total, fd_limit):
    """populate.py's plan for `total` sockets, as one builder: its first worker's listeners,
    every worker's shares summed (the number of workers depends on the CPU count)."""
    specs, summary = populate.make_plan(total, fd_limit)
    spec = dict(specs[0])
    for key in ("cw_orphans", "fw2_pairs", "est_pairs", "time_wait"):
        spec[key] = {fam: sum(s[key][fam] for s in specs) for fam in ("ipv4", "ipv6")}
    summary = dict(summary, workers=1, listeners=len(spec["listeners"]),
                   persistent_fds=len(spec["listeners"]) + 2 * sum(spec["fw2_pairs"].values())
                   + sum(spec["cw_orphans"].values()) + 2 * sum(spec["est_pairs"].values()))
    return spec, summary


def worker_main(first, names, spec, parent_pid, cmd_fd, status_fd):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    populate.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    populate.set_comm("swnsbuild-%03d" % first)
    status = os.fdopen(status_fd, "w", buffering=1)
    cmds = os.fdopen(cmd_fd, "r")
    planned_tw = sum(spec["time_wait"].values())
    built = []            # (name, Builder)
    tw_at = {}            # name -> monotonic time its time_wait set was started
    per_ns = {}           # name -> (counts by state, by family)
    try:
        for k, name in enumerate(names):
            enter(name)
            populate.prepare_namespace()
            buckets = read_sysctl("net.ipv4.tcp_max_tw_buckets")
            if buckets is not None and int(buckets) < 2 * planned_tw + 1000:
                populate.write_sysctl("net.ipv4.tcp_max_tw_buckets", 2 * planned_tw + 1000)
            b = populate.Builder(dict(spec, index=first + k))   # index: which side closes first
            b.build_persistent(wait_orphans=False)
            built.append((name, b))
        time.sleep(2.5)   # the orphaned FIN_WAIT2 ends (TCP_LINGER2 = 1 s) are gone by now
        status.write(json.dumps({"phase": "base", "ok": True, "fds": sum(len(b.held) for _, b in built),
                                 "short": sum(b.short for _, b in built)}) + "\n")
        for line in cmds:
            if line.split()[:1] != ["tw"]:
                continue
            made = 0
            left_before = 0
            for name, b in built:
                enter(name)
                if name in tw_at:
                    left_before += wait_expired(tw_at[name], planned_tw)
                tw_at[name] = time.monotonic()
                made += b.build_time_wait()
                # a server-side time_wait recycled by a later connect() to the same 4-tuple:
                # top up with client-side ones, as populate.py does
                deficit = planned_tw - time_wait_count()
                if deficit > 0:
                    made += b.build_time_wait(extra=deficit)
                # Counted by state the first time only, right away (a separate pass could outlast
                # the time_wait sockets): reading /proc/net/tcp in a namespace walks the socket
                # table the host's namespaces share (every namespace's sockets), which would
                # compete with what is measured; later only time_wait is recounted, from
                # sockstat, a counter of the namespace.
                if name in per_ns:
                    per_ns[name][0]["time_wait"] = time_wait_count()
                else:
                    per_ns[name] = count_states()
            status.write(json.dumps({"phase": "tw", "ok": True, "made": made, "left_before": left_before,
                                     "short": sum(b.short for _, b in built), "namespaces": per_ns}) + "\n")
    except BaseException as e:
        populate.worker_failed(status, e)
    os._exit(0)  # command pipe closed: parent is gone


def time_wait_count():
    """This namespace's time_wait sockets, from /proc/net/sockstat (a counter: no table walked)."""
    return sockstat_tcp("/proc/thread-self/net/sockstat").get("tw", 0)


def wait_expired(started, planned):
    """Wait until this namespace's previous time_wait set has expired; return how many were left."""
    target = started + populate.TIME_WAIT_SECONDS
    while time.monotonic() < target:
        time.sleep(min(1.0, target - time.monotonic()))
    deadline = target + 15.0
    while True:
        left = time_wait_count()
        if left <= max(2, planned // 200) or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


class Parent(populate.Parent):
    """populate.py's parent (phases, commands, killing), with workers that each own namespaces."""

    def spawn(self, shares, spec):
        parent_pid = os.getpid()
        pipes = [os.pipe() + os.pipe() for _ in shares]
        for k, (first, names) in enumerate(shares):
            cmd_r, cmd_w, st_r, st_w = pipes[k]
            pid = populate.fork_worker(self, pipes, k, lambda first=first, names=names, cmd_r=cmd_r, st_w=st_w:
                                       worker_main(first, names, spec, parent_pid, cmd_r, st_w))
            self.children[pid] = {"cmd": cmd_w, "status": st_r, "buf": b"", "index": k}

    def build_all_time_wait(self):
        self.tw_started = time.monotonic()
        self.command_all("tw")
        res = self.wait_phase("tw")
        self.tw_done = time.monotonic()
        per_ns = {}
        for msg in res.values():
            per_ns.update(msg["namespaces"])
        return per_ns, sum(m.get("left_before", 0) for m in res.values()), sum(m.get("short", 0) for m in res.values())

    def announce_all(self, summary, per_ns, seconds, short, left_before=0):
        counts, families = {}, {}
        for c, f in per_ns.values():
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
            for k, v in f.items():
                families[k] = families.get(k, 0) + v
        totals = {name: sum(c.values()) for name, (c, _) in sorted(per_ns.items())}
        doc = {
            "ready": True,
            "generation": self.generation,
            "namespaces": len(totals),
            "counts": dict(sorted(counts.items())),
            "total": sum(counts.values()),
            "families": families,
            "per_namespace_min": min(totals.values()) if totals else 0,
            "per_namespace_max": max(totals.values()) if totals else 0,
            "per_namespace": totals,
            "seconds": round(seconds, 3),
            "base_seconds": round(self.base_seconds, 3),
            "time_wait_started_monotonic": self.tw_started,
            "time_wait_done_monotonic": self.tw_done,
            "time_wait_left_before": left_before,
            "unaccepted_connections": short,
            "pid": os.getpid(),
            "workers": sorted(self.children),
            "plan": summary,
        }
        self.publish(doc)
        self.generation += 1
        return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", default="swnsb-", help="namespace names: PREFIX000, PREFIX001, ...")
    ap.add_argument("--count", type=int, default=200, help="namespaces (default 200)")
    ap.add_argument("--per-namespace", type=int, default=500, help="sockets in each (default 500)")
    ap.add_argument("--processes", type=int, default=4, help="socket-holding processes (default 4)")
    populate.add_parent_arguments(ap)
    ap.add_argument("--defer-time-wait", action="store_true",
                    help="announce without time_wait first (generation 0); build them on SIGUSR1")
    args = ap.parse_args()
    if args.count < 1 or args.processes < 1 or args.per_namespace < 100:
        ap.error("--count >= 1, --processes >= 1 and --per-namespace >= 100 required")
    if os.geteuid() != 0:
        print("netns_populate.py: must run as root (setns, sysctls)", file=sys.stderr)
        return 2
    names = ["%s%03d" % (args.prefix, i) for i in range(args.count)]
    missing = [n for n in names if not os.path.exists("/run/netns/" + n)]
    if missing:
        print("netns_populate.py: no /run/netns/%s (%d missing); ip netns add them first"
              % (missing[0], len(missing)), file=sys.stderr)
        return 2
    fd_limit = populate.raise_fd_limit()
    spec, summary = one_spec(args.per_namespace, fd_limit)
    processes = min(args.processes, args.count)
    shares, pos = [], 0
    for n in split(args.count, processes):
        shares.append((pos, names[pos:pos + n]))
        pos += n
    need = max(len(s[1]) for s in shares) * summary["persistent_fds"] + TRANSIENT_FDS
    if need > min(fd_limit, populate.MAX_FDS_PER_WORKER):
        print("netns_populate.py: %d descriptors a process (%d namespaces of %d) is over %d; use more --processes"
              % (need, max(len(s[1]) for s in shares), summary["persistent_fds"],
                 min(fd_limit, populate.MAX_FDS_PER_WORKER)), file=sys.stderr)
        return 2
    parent = Parent(args)
    parent.generation = 0 if args.defer_time_wait else 1
    wake_r = parent.take_signals()
    if wake_r is None:
        return 1
    try:
        populate.libc()   # loaded once, before forking
        parent.spawn(shares, spec)
        base = parent.wait_phase("base")
        parent.base_seconds = time.monotonic() - parent.t0
        short = sum(m.get("short", 0) for m in base.values())
        if args.defer_time_wait:
            # generation 0 says only "base built": its counts are not gathered
            parent.announce_all(summary, {}, time.monotonic() - parent.t0, short)
        else:
            parent.refresh_requested = True
        def refresh():
            t = time.monotonic()
            per_ns, left, tw_short = parent.build_all_time_wait()
            parent.announce_all(summary, per_ns, time.monotonic() - t, tw_short, left)

        parent.serve(wake_r, refresh)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        populate.log("error: %s: %s" % (type(e).__name__, e))
        return 1
    finally:
        parent.finish()


if __name__ == "__main__":
    sys.exit(main())
