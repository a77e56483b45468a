#!/usr/bin/env python3
"""Driver of bench/netns.sh: full polls of many namespaces against one dump of a big one.

bench/netns.sh builds the harness, makes the namespaces and starts the two populations
(netns_populate.py in PREFIX000..., populate.py in the big namespace); this script, as root
in the host's network namespace:

  1. waits until both are ready, then keeps their TIME_WAIT sockets alive (they live 60 s):
     whenever a population announces a generation it gets SIGUSR1, so it rebuilds the set as
     each one expires, as bench/daemon.py does; every measurement records the sockets it saw;
  2. runs the harness's existing `netlink` item inside the big namespace (ip netns exec), as
     bench/bench.py runs it: one dump of the big namespace, median of --dump-iterations;
  3. runs the harness in the host's namespace with --netns PATTERN --netns-dump BIG: full polls
     (discovery, setns into each namespace, dump, facts, owners) interleaved with dumps of the
     big namespace from a thread that entered it, median of --iterations, plus the first and a
     cold poll;
  4. runs the harness's --breakdown (the parts of a poll one at a time, and a dump of an empty
     namespace: the kernel's walk of its shared socket table) and, once, the CLI
     `sockwatch snapshot --netns PATTERN --format summary`;
  5. writes a Markdown report (--out).

CPU is each process's user + system time (getrusage in the harness; wait4 for the CLI), so
other work on the machine does not inflate it; wall time is disturbed by that work.
Exit status: 0 when every measurement ran, 1 otherwise, 2 for usage errors.
"""

import argparse
import datetime
import os
import shlex
import sys
import time

from benchlib import (TimeWaitKeeper, json_lines, machine_line as machine, mean, median, notifier, run_timed,
                      setns, sockstat_tcp, write_report, format_counts as counts_line)

TARGET = 3.0


note = notifier("netns")


class Population(TimeWaitKeeper):
    """Follows one population's ready file; SIGUSR1 at every new generation keeps its
    TIME_WAIT set alive (each rebuild waits for the previous set to expire)."""

    def __init__(self, name, ready_file, pid):
        super().__init__(ready_file, pid, every=0.2)
        self.name = name

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.latest()
            if doc and doc.get("generation", 1) >= 1:
                return doc
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                raise SystemExit("netns: %s (pid %d) exited before it was ready" % (self.name, self.pid))
            time.sleep(0.2)
        raise SystemExit("netns: %s not ready after %.0f s" % (self.name, timeout))


def run_harness(argv, label, logdir, timeout):
    note("%s: %s" % (label, shlex.join(argv)))
    out, err = os.path.join(logdir, label + ".out"), os.path.join(logdir, label + ".err")
    rc, wall, cpu = run_timed(argv, out, err, timeout)
    with open(out, errors="replace") as f:
        items = {doc.get("name"): doc for doc in json_lines(f.read())[0]}
    if rc != 0:
        with open(err, errors="replace") as f:
            note("%s exited %d: %s" % (label, rc, f.read()[-1500:]))
    return {"argv": argv, "rc": rc, "wall_s": wall, "cpu_s": cpu, "items": items}


class Sockstat:
    """TCP figures of every namespace under /run/netns and the host's (/proc/net/sockstat)."""

    def read(self):
        host = sockstat_tcp()
        per_ns = {}
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            for name in sorted(os.listdir("/run/netns")):
                try:
                    fd = os.open("/run/netns/" + name, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    setns(fd)
                    per_ns[name] = sockstat_tcp("/proc/thread-self/net/sockstat")
                except OSError:
                    continue
                finally:
                    os.close(fd)
                    setns(home)
        finally:
            os.close(home)
        return {"allocated": host.get("alloc", 0), "host_inuse": host.get("inuse", 0),
                "host_tw": host.get("tw", 0),
                "per_ns": {k: (v.get("inuse", 0), v.get("tw", 0)) for k, v in per_ns.items()}}


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    return ("%.0f" % v if abs(v) >= 100 else "%.1f" % v if abs(v) >= 10 else "%.2f" % v) + unit


def spread(xs):
    xs = [x for x in xs if x is not None]
    return "%s-%s" % (fmt(min(xs)), fmt(max(xs))) if xs else "n/a"


def report(a, r):
    L = []
    add = L.append
    items = {}
    for h in (r["dump"], r["main"]):   # the breakdown's netns_poll goes in its own table
        if h:
            items.update(h["items"])
    nl = items.get("netlink")
    small, big = r["small"], r["big"]
    n_ns, per_ns = a.namespaces, a.per_namespace

    add("# Every network namespace: %d namespaces of %d sockets, one full poll against one dump of %d"
        % (n_ns, per_ns, a.big))
    add("")
    add("- Date: %s" % r["started"].strftime("%Y-%m-%d %H:%M:%S %Z"))
    add("- Machine: %s; load average %s at the start, %s at the end"
        % (machine(), " ".join("%.2f" % x for x in r["load_start"]), " ".join("%.2f" % x for x in r["load_end"])))
    add("- Command: `%s`%s" % (a.command, " (%s)" % a.revision if a.revision else ""))
    add("- Harness: `%s` (Release), in-process; CPU is the process's user + system time "
        "(getrusage RUSAGE_SELF: every thread, the kernel's work for the dumps included), wall from a Stopwatch"
        % a.harness)
    add("- Population, %d namespaces `%s` (netns_populate.py: populate.py's plan and builder for %d "
        "sockets in each, held by %d processes): %s; families %s; sockets a namespace %d-%d; built in %.1f s + "
        "time_wait %.1f s"
        % (small["namespaces"], a.pattern, per_ns, len(small["workers"]), counts_line(small["counts"]),
           ", ".join("%s %d" % kv for kv in sorted(small["families"].items())),
           small["per_namespace_min"], small["per_namespace_max"], r["small_base_seconds"], r["small_tw_seconds"]))
    add("- Big namespace `%s` (populate.py --total %d): %s; built in %.1f s"
        % (a.big_ns, a.big, counts_line(big["counts"]), r["big_seconds"]))
    st0, st1 = r["sockstat_start"], r["sockstat_end"]
    add("- TCP sockets on the host (sockstat): %d allocated at the start and %d at the end (all namespaces; "
        "time_wait not included), time_wait in other namespaces %d / %d; other network namespaces: %s"
        % (st0["allocated"], st1["allocated"], r["other_tw_start"], r["other_tw_end"],
           ", ".join(r["other_namespaces"]) or "none"))
    for n in a.setup_note:
        add("- Setup: %s" % n)
    add("- TIME_WAIT kept alive during the run: %d generations in the namespaces (sockets counted as each was "
        "built: %s) and %d in `%s` (%s); the population lines above are the last generation's; every "
        "measurement below says how many sockets it saw"
        % (len(r["small_docs"]), spread([d["total"] for d in r["small_docs"] if d.get("generation")]),
           len(r["big_docs"]), a.big_ns, spread([d["total"] for d in r["big_docs"]])))
    add("")

    add("## The target")
    add("")
    add("| | sockets | median CPU ms | median wall ms | CPU min-max | runs |")
    add("|---|---:|---:|---:|---:|---:|")

    def row(label, it, sockets=None):
        if not it:
            add("| %s | n/a | n/a | n/a | n/a | 0 |" % label)
            return
        s = sockets if sockets is not None else spread(it.get("sockets_each") or [it["sockets"]])
        add("| %s | %s | %s | %s | %s | %d |" % (label, s, fmt(median(it["cpu_ms"])), fmt(median(it["wall_ms"])),
                                              spread(it["cpu_ms"]), len(it["cpu_ms"])))

    row("**full poll** of `%s` (steady, as the daemon polls: a new table, discovery, setns, a dump of each "
        "namespace whose counters moved in the %s s since the last poll and of the listeners of the rest, facts, owners)"
        % (a.pattern, fmt(a.interval)), items.get("netns_poll"))
    row("full poll with every namespace dumped (`netns_redump_after` 0, or every namespace moved)", items.get("netns_poll_redump_all"))
    row("full poll, the process's first (JIT, %d netlink sockets opened, owners cold)" % n_ns, items.get("netns_poll_first"))
    row("full poll, cold with the JIT warm (new collector and resolver)", items.get("netns_poll_cold"))
    row("**one dump** of `%s`: the `netlink` item, its own process inside it" % a.big_ns, nl)
    row("one dump of `%s` from a thread that entered it, interleaved with the polls" % a.big_ns, items.get("netlink_setns"))
    row("the same with the daemon's request (tcp_info for close_wait and fin_wait2)", items.get("netlink_setns_daemon"))
    add("")
    add("| ratio | value | target | result |")
    add("|---|---:|---:|---|")

    def ratio(label, num, den, field, target=None, of=median):
        n = of(num[field]) if num else None
        d = median(den[field]) if den else None
        v = n / d if n is not None and d else None
        verdict = "" if target is None or v is None else ("meets" if v <= target else "misses")
        add("| %s | %s | %s | %s |" % (label, "n/a" if v is None else "%.1fx" % v,
                                        "<= %.0fx" % target if target else "", verdict))

    ratio("**full poll CPU / one dump CPU** (`netlink`)", items.get("netns_poll"), nl, "cpu_ms", TARGET)
    ratio("full poll wall / one dump wall (`netlink`)", items.get("netns_poll"), nl, "wall_ms", TARGET)
    ratio("full poll CPU, the **mean** of the steady polls (those that dumped the namespaces that moved "
          "included) / one dump CPU", items.get("netns_poll"), nl, "cpu_ms", TARGET, of=mean)
    ratio("full poll with every namespace dumped, CPU / one dump CPU", items.get("netns_poll_redump_all"), nl, "cpu_ms", TARGET)
    ratio("full poll CPU / dump from a thread in it (same process, interleaved)", items.get("netns_poll"), items.get("netlink_setns"), "cpu_ms")
    ratio("full poll CPU / that dump with the daemon's request", items.get("netns_poll"), items.get("netlink_setns_daemon"), "cpu_ms")
    add("")

    p = items.get("netns_poll")
    if p:
        add("Sockets in each steady poll (sum of the %d segments): %s; expected about %d x %d = %d. "
            "Namespaces collected a poll: %s; vanished %d, denied %d, failed %s; namespaces discovered "
            "on the host a poll: %s; sockets attributed to an owner: %s. How each steady poll read the "
            "namespaces (dumped / carried / empty: CPU ms), poll by poll: %s."
            % (n_ns, spread(p["sockets_each"]), n_ns, per_ns, n_ns * per_ns, spread(p["namespaces_each"]),
               sum(p["vanished_each"]), sum(p["denied_each"]), ", ".join(p["failed"]) or "none",
               spread(p["discovered_each"]), spread(p["attributed_each"]),
               ", ".join("%d/%d/%d: %s" % (d, c, e, fmt(ms)) for d, c, e, ms in
                         zip(p.get("dumped_each", []), p.get("carried_each", []), p.get("empty_each", []), p["cpu_ms"]))
               or "n/a"))
        add("")
        add("Where a steady poll's time goes (medians of the same polls):")
        add("")
        add("| part of the poll | CPU ms | wall ms |")
        add("|---|---:|---:|")
        disc_c, disc_w = median(p["discovery_cpu_ms"]), median(p["discovery_wall_ms"])
        col_c, col_w = median(p["collect_cpu_ms"]), median(p["collect_wall_ms"])
        add("| discovery (`/proc/*/ns/net`, `/run/netns`, names) | %s | %s |" % (fmt(disc_c), fmt(disc_w)))
        add("| the rest of `NamespaceCollector.Collect`: a thread, setns, %d dumps into one table, facts | %s | %s |"
            % (n_ns, fmt(col_c - disc_c), fmt(col_w - disc_w)))
        add("| `OwnerResolver.Resolve(table, segments)` | %s | %s |"
            % (fmt(median(p["owners_cpu_ms"])), fmt(median(p["owners_wall_ms"]))))
        add("")
        add("Managed allocation (GC.GetTotalAllocatedBytes, every thread), MB:")
        add("")
        add("| poll | collection | owners | whole poll |")
        add("|---|---:|---:|---:|")
        for label, key in (("the process's first", "netns_poll_first"), ("cold with the JIT warm", "netns_poll_cold"),
                           ("steady (median)", "netns_poll")):
            it = items.get(key)
            if it and it.get("collect_alloc_bytes"):
                mb = lambda xs: "%.1f" % (median(xs) / 1e6)
                add("| %s | %s | %s | %s |" % (label, mb(it["collect_alloc_bytes"]), mb(it["owners_alloc_bytes"]),
                                              mb(it["alloc_bytes"])))
        add("")

    if r["breakdown"]:
        add("## The parts, one at a time (`--breakdown`)")
        add("")
        add("| item | what | sockets | median CPU ms | median wall ms | CPU per namespace ms | runs |")
        add("|---|---|---:|---:|---:|---:|---:|")
        what = {
            "netns_discovery": "NamespaceDiscovery.Discover and the selection",
            "thread_start_join": "a thread started and joined (one a poll)",
            "netns_enter": "one thread; open, fstat and setns into each namespace",
            "netns_socket_open": "the same, and a netlink socket opened and closed in each",
            "netns_dumps": "the same, and one collection in each, appended to one table (the daemon's request: one walk for both families, tcp_info kept for close_wait and fin_wait2)",
            "netns_facts": "the same, and each namespace's facts (sysctls, TcpExt), through files kept open since a first read, as the daemon reads them",
            "owners_steady": "owners of the poll's table, the resolver reused",
            "owners_cold": "owners with a new resolver",
            "netns_poll": "the whole poll again, same process",
            "dump_empty_all": "one dump of a namespace without sockets (CollectRequest.All)",
            "dump_empty_daemon": "the same with the daemon's request",
        }
        per = {"netns_enter", "netns_socket_open", "netns_dumps", "netns_facts"}
        for name, label in what.items():
            it = r["breakdown"]["items"].get(name)
            if not it:
                continue
            c = median(it["cpu_ms"])
            add("| %s | %s | %s | %s | %s | %s | %d |" % (
                name, label, it["sockets"], fmt(c), fmt(median(it["wall_ms"])),
                fmt(c / n_ns) if name in per and c is not None else "", len(it["cpu_ms"])))
        add("")
        extra = r["breakdown"]["items"].get("netns_discovery", {})
        if extra:
            add("Discovery saw %s processes and %s namespaces." % (extra.get("processes"), extra.get("discovered")))
            add("")

    if r["snapshot"]:
        s = r["snapshot"]
        add("## The CLI, once")
        add("")
        add("`%s`: exit %d, wall %.0f ms, CPU %.0f ms (wait4), whole process, cold (no owners with `summary`)."
            % (shlex.join(s["argv"]), s["rc"], s["wall_s"] * 1000, s["cpu_s"] * 1000))
        if s.get("stdout"):
            add("")
            add("```")
            add(s["stdout"].rstrip())
            add("```")
        add("")

    if r["notes"]:
        add("## Notes")
        add("")
        for n in r["notes"]:
            add("- %s" % n)
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description="driver of bench/netns.sh (see there)")
    ap.add_argument("--harness", required=True)
    ap.add_argument("--sockwatch")
    ap.add_argument("--pattern", default="swnsb-*")
    ap.add_argument("--big-ns", required=True)
    ap.add_argument("--empty-ns")
    ap.add_argument("--namespaces", type=int, required=True)
    ap.add_argument("--per-namespace", type=int, required=True)
    ap.add_argument("--big", type=int, required=True)
    ap.add_argument("--small-ready", required=True)
    ap.add_argument("--small-pid", type=int, required=True)
    ap.add_argument("--big-ready", required=True)
    ap.add_argument("--big-pid", type=int, required=True)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--interval", type=float, default=15, help="seconds between the steady polls (the daemon's poll_interval)")
    ap.add_argument("--dump-iterations", type=int, default=15)
    ap.add_argument("--breakdown-iterations", type=int, default=2)
    ap.add_argument("--ready-timeout", type=float, default=900)
    ap.add_argument("--timeout", type=float, default=3600, help="per harness run, seconds")
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/netns.sh")
    ap.add_argument("--revision", default="")
    ap.add_argument("--child-ehash", type=int, default=0, help="the namespaces were made with tables of N buckets")
    ap.add_argument("--setup-note", action="append", default=[], help="a line for the report's header (repeatable)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.stderr.write("netns.py: must run as root\n")
        return 2

    r = {"started": datetime.datetime.now().astimezone(), "load_start": os.getloadavg(), "notes": [],
         "dump": None, "main": None, "breakdown": None, "snapshot": None}
    small = Population("netns_populate.py", a.small_ready, a.small_pid)
    big = Population("populate.py", a.big_ready, a.big_pid)
    small.start()
    big.start()
    big.wait_ready(a.ready_timeout)
    r["small"] = small.wait_ready(a.ready_timeout)
    r["big"] = big.wait_ready(a.ready_timeout)
    r["small_base_seconds"] = r["small"]["base_seconds"]
    r["small_tw_seconds"], r["big_seconds"] = r["small"]["seconds"], r["big"]["seconds"]
    note("ready: %d sockets in %d namespaces, %d in %s" % (r["small"]["total"], r["small"]["namespaces"], r["big"]["total"], a.big_ns))

    sockstat = Sockstat()
    mine = lambda name: name == a.big_ns or name == a.empty_ns or name.startswith(a.pattern.rstrip("*"))
    st = sockstat.read()
    r["sockstat_start"] = st
    r["other_namespaces"] = sorted(n for n in st["per_ns"] if not mine(n))
    r["other_tw_start"] = st["host_tw"] + sum(tw for n, (_, tw) in st["per_ns"].items() if not mine(n))

    failed = False
    r["dump"] = run_harness(["ip", "netns", "exec", a.big_ns, a.harness, "--items", "netlink",
                             "--iterations", str(a.dump_iterations)], "netlink", a.logdir, a.timeout)
    r["main"] = run_harness([a.harness, "--netns", a.pattern, "--netns-dump", a.big_ns,
                             "--iterations", str(a.iterations), "--netns-interval", str(a.interval)],
                            "netns_poll", a.logdir, a.timeout)
    argv = [a.harness, "--netns", a.pattern, "--breakdown", "--iterations", str(a.breakdown_iterations)]
    if a.empty_ns:
        argv += ["--netns-empty", a.empty_ns]
    r["breakdown"] = run_harness(argv, "breakdown", a.logdir, a.timeout)
    # the breakdown's items are reported apart from the main run's (both have netns_poll)
    for h in (r["dump"], r["main"], r["breakdown"]):
        failed |= h["rc"] != 0 or not h["items"]
    if a.sockwatch:
        argv = [a.sockwatch, "snapshot", "--netns", a.pattern, "--format", "summary"]
        note("cli: %s" % shlex.join(argv))
        out, err = os.path.join(a.logdir, "snapshot.out"), os.path.join(a.logdir, "snapshot.err")
        rc, wall, cpu = run_timed(argv, out, err, a.timeout)
        with open(out, errors="replace") as f:
            text = f.read()
        r["snapshot"] = {"argv": argv, "rc": rc, "wall_s": wall, "cpu_s": cpu, "stdout": text[:3000]}
        failed |= rc != 0

    st = sockstat.read()
    r["sockstat_end"] = st
    r["other_tw_end"] = st["host_tw"] + sum(tw for n, (_, tw) in st["per_ns"].items() if not mine(n))
    r["load_end"] = os.getloadavg()
    small.stop()
    big.stop()
    # the population as last built before the end (each generation is counted as it is built)
    r["small"], r["big"] = small.latest(), big.latest()
    r["small_docs"], r["big_docs"] = small.docs, big.docs

    r["notes"] += notes(a, r)
    text = report(a, r)
    write_report(a.out, text)
    sys.stdout.write(text)
    return 1 if failed else 0


def notes(a, r):
    out = []
    out.append("CPU figures are each process's own CPU time, so the load of other work on this machine's "
               "cores (other engineers' benchmarks and tests; see the load averages above) does not inflate "
               "them much; wall figures are disturbed by it and are given for context only.")
    if a.child_ehash:
        out.append("Every namespace of this run has an established-socket hash table of its own "
                   "(net.ipv4.tcp_child_ehash_entries = %d in the namespace they were made from; 262144 for "
                   "`%s`): a dump walks only its namespace's table (and the listeners' table, still shared). "
                   "The host's own setting (%s) was not changed; namespaces made by others share the host's "
                   "table, so their sockets no longer weigh on these dumps, nor ours on theirs."
                   % (a.child_ehash, a.big_ns, read_text("/proc/sys/net/ipv4/tcp_child_ehash_entries")))
    else:
        out.append("A sock_diag dump, like /proc/net/tcp, is made inside one network namespace, but by default "
                   "(net.ipv4.tcp_child_ehash_entries = %s here) the kernel keeps one established-socket hash "
                   "table for the host and every namespace: a dump walks all of its buckets and every socket "
                   "of every namespace in them, and keeps its own. `dump_empty_*` above is that walk alone; "
                   "`bench/netns.sh --child-ehash N` measures namespaces with tables of their own. So the "
                   "sockets of other work on this machine (the header's count) are walked by every dump here, "
                   "and this run's 200,000 or so by every dump anyone else makes meanwhile."
                   % read_text("/proc/sys/net/ipv4/tcp_child_ehash_entries"))
    out.append("TIME_WAIT sockets live 60 s; both populations rebuilt theirs as each set expired, all run long, "
               "so a measurement can fall just after a set expired and before the next was built; the "
               "socket counts above are what each measurement saw.")
    for label, h in (("netlink", r["dump"]), ("netns_poll", r["main"]), ("breakdown", r["breakdown"])):
        if h:
            out.append("Harness run `%s`: exit %d, %.0f s, %.1f s of CPU (wait4); command `%s`."
                       % (label, h["rc"], h["wall_s"], h["cpu_s"], shlex.join(h["argv"])))
    return out


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
