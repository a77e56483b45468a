#!/usr/bin/env python3
"""SockWatch benchmark driver.

Creates a private network namespace, fills it with a TCP socket population
(bench/populate.py), enters it with setns(2), and measures - on that same
population, with runs interleaved round by round -

    a) ss -tan                           (stdout -> /dev/null)
    b) cat /proc/net/tcp /proc/net/tcp6  (stdout -> /dev/null)
    c) SOCKWATCH snapshot --format summary   (only with --sockwatch)

taking the wall time and the child's CPU time (user+sys, from wait4 rusage)
of every run.  With --harness-cmd it also runs an in-process harness once
(with "--iterations N" appended) that prints one JSON line per item:

    {"name": "netlink", "sockets": 100123, "cpu_ms": [...], "wall_ms": [...], "alloc_bytes": [...]}

With --ownership (socket ownership: which process holds each socket) the
external commands are instead

    a) ss -tanp                          (stdout -> /dev/null)
    b) SOCKWATCH snapshot --format json  (only with --sockwatch)

and the harness gets "--ownership" appended too; its "owners_steady" and
"owners_cold" items are compared with ss -tanp.  --processes N spreads the
population's sockets over N processes (populate.py --processes).

It prints a Markdown report of medians and ratios (and writes it to --out).
Timing targets are reported as meets/misses only; they never affect the
exit status (0 = all measurements ran, 1 = a measured command failed or the
population could not be built, 2 = usage error / not root).

TIME_WAIT sockets live only 60 s.  Before a round that would run past the
life of the current TIME_WAIT set, and before the harness, the driver asks
populate.py (SIGUSR1) to rebuild them once the old ones have expired, so
every measurement sees the full population (disable with --no-refresh).
"""

import argparse
import atexit
import datetime
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import (TIME_WAIT_SECONDS, cmdline, cpu_model, enter_netns, json_lines, median, notifier,
                      read_json, setns, format_counts as fmt_counts, markdown_code as code)
import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
POPULATE = os.path.join(HERE, "populate.py")
WINDOW_MARGIN = 3.0   # stop this long before the first TIME_WAIT socket can expire
TARGETS = [
    # (label, numerator item, denominator item, field, target or None = reported only)
    ("netlink CPU / ss CPU", "netlink", "ss -tan", "cpu", 0.5),
    ("proc CPU / cat CPU", "proc", "cat /proc/net/tcp{,6}", "cpu", 1.3),
    ("snapshot wall / ss wall", "sockwatch snapshot", "ss -tan", "wall", 1.0),
]
OWNERSHIP_TARGETS = [
    ("sockwatch snapshot json wall / ss -tanp wall (cold)", "sockwatch snapshot json", "ss -tanp", "wall", 1.0),
    ("owners_steady CPU / ss -tanp CPU (steady state)", "owners_steady", "ss -tanp", "cpu", 0.1),
    ("owners_cold CPU / ss -tanp CPU (cold)", "owners_cold", "ss -tanp", "cpu", None),
]


class BenchError(Exception):
    pass


note = notifier("bench")


class Session:
    """Owns the namespace, the populate process and the netns switch; cleans up once."""

    def __init__(self, ns):
        self.ns = ns
        self.ns_created = False
        self.populate = None
        self.tmpdir = tempfile.mkdtemp(prefix="swbench-")
        self.ready_file = os.path.join(self.tmpdir, "ready.json")
        self.log_path = os.path.join(self.tmpdir, "populate.log")
        self.orig_ns_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.in_ns = False
        self.child = None      # pid of a measured command in flight
        self.cleaned = False

    # -- namespace -------------------------------------------------------
    def create_ns(self):
        r = subprocess.run(["ip", "netns", "add", self.ns], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("ip netns add %s failed: %s" % (self.ns, r.stderr.strip()))
        self.ns_created = True

    def enter_ns(self):
        enter_netns(self.ns)
        self.in_ns = True

    def leave_ns(self):
        if self.in_ns:
            setns(self.orig_ns_fd)
            self.in_ns = False

    # -- population ------------------------------------------------------
    def start_populate(self, total, processes=None):
        log = open(self.log_path, "w")
        cmd = ["ip", "netns", "exec", self.ns, sys.executable, POPULATE,
               "--total", str(total), "--ready-file", self.ready_file, "--die-with-parent"]
        if processes is not None:
            cmd += ["--processes", str(processes)]
        self.populate = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def populate_log_tail(self, n=20):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, generation, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.populate.poll() is not None:
                raise BenchError("populate.py exited with status %s:\n%s"
                                 % (self.populate.returncode, self.populate_log_tail()))
            doc = read_json(self.ready_file)
            if doc and doc.get("ready") and doc.get("generation", 1) >= generation:
                return doc
            time.sleep(0.1)
        raise BenchError("population not ready after %.0f s:\n%s" % (timeout, self.populate_log_tail()))

    def request_refresh(self, current):
        os.kill(self.populate.pid, signal.SIGUSR1)
        return self.wait_ready(current["generation"] + 1, TIME_WAIT_SECONDS + 90)

    # -- cleanup ---------------------------------------------------------
    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        if self.child:
            try:
                os.kill(self.child, signal.SIGKILL)
                os.waitpid(self.child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            self.leave_ns()
        except OSError as e:
            note("could not return to the original namespace: %s" % e)
        p = self.populate
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)   # populate + its workers
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p is not None:
            # workers die with their parent (PDEATHSIG); make sure of it
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.ns_created:
            r = subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, text=True)
            if r.returncode != 0:
                note("ip netns del %s failed: %s" % (self.ns, r.stderr.strip()))
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class Measurer:
    def __init__(self, session):
        self.session = session
        self.env = dict(os.environ)

    def run(self, argv, errpath):
        """Spawn argv directly (no shell), stdout to /dev/null; return one sample."""
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, errpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, self.env, file_actions=actions)
        self.session.child = pid
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        self.session.child = None
        return {
            "wall_ms": (t1 - t0) / 1e6,
            "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000.0,
            "exit": os.waitstatus_to_exitcode(status),
        }


def resolve(prog):
    path = shutil.which(prog)
    if not path:
        raise BenchError("%s not found in PATH" % prog)
    return path


def build_commands(args):
    if args.ownership:
        cmds = [("ss -tanp", [resolve("ss"), "-tanp"])]
    else:
        cmds = [
            ("ss -tan", [resolve("ss"), "-tan"]),
            ("cat /proc/net/tcp{,6}", [resolve("cat"), "/proc/net/tcp", "/proc/net/tcp6"]),
        ]
    if args.sockwatch:
        sw = os.path.abspath(args.sockwatch)
        if not os.path.isfile(sw):
            raise BenchError("--sockwatch %s: no such file" % args.sockwatch)
        if sw.endswith(".dll"):
            argv = [resolve("dotnet"), sw]
        elif os.access(sw, os.X_OK):
            argv = [sw]
        else:
            raise BenchError("--sockwatch %s is not executable" % args.sockwatch)
        if args.ownership:
            cmds.append(("sockwatch snapshot json", argv + ["snapshot", "--format", "json"]))
        else:
            cmds.append(("sockwatch snapshot", argv + ["snapshot", "--format", "summary"]))
    return cmds


def harness_argv(args):
    argv = shlex.split(args.harness_cmd) + ["--iterations", str(args.iterations)]
    if args.ownership:
        argv.append("--ownership")
    return argv


def measure_external(args, session, measurer, cmds, population):
    """Interleaved rounds; returns (samples per item, generations used, notes)."""
    samples = {name: [] for name, _ in cmds}
    failures = {}
    notes = []
    gens = [population]
    errpaths = {name: os.path.join(session.tmpdir, "stderr-%d.txt" % i)
                for i, (name, _) in enumerate(cmds)}

    def one_round(order, record):
        t = time.monotonic()
        for name, argv in order:
            s = measurer.run(argv, errpaths[name])
            if s["exit"] != 0:
                with open(errpaths[name], errors="replace") as f:
                    failures[name] = "exit %d: %s" % (s["exit"], f.read().strip()[:500])
            if record:
                s["generation"] = gens[-1]["generation"]
                samples[name].append(s)
        return time.monotonic() - t

    round_s = 0.0
    for w in range(args.warmup):
        round_s = max(round_s, one_round(cmds, record=False))
    refresh_useless = False
    for i in range(args.iterations):
        k = i % len(cmds)
        order = cmds[k:] + cmds[:k]     # rotate who goes first
        if not args.no_refresh:
            window_end = gens[-1]["time_wait_started_monotonic"] + TIME_WAIT_SECONDS - WINDOW_MARGIN
            if time.monotonic() + round_s * 1.2 > window_end:
                if round_s * 1.2 > TIME_WAIT_SECONDS - WINDOW_MARGIN - 5:
                    if not refresh_useless:
                        notes.append("one round takes %.1f s, longer than a TIME_WAIT lifetime; "
                                     "later runs saw TIME_WAIT sockets expire" % round_s)
                        refresh_useless = True
                else:
                    note("TIME_WAIT set about to expire; rebuilding (waits for the old set, up to ~60 s)")
                    gens.append(session.request_refresh(gens[-1]))
                    note("population generation %d ready: %d sockets" % (gens[-1]["generation"], gens[-1]["total"]))
        round_s = max(round_s * 0.5, one_round(order, record=True))
    end_counts = benchlib.count_states()[0]
    return samples, failures, gens, end_counts, notes


def run_harness(args, session, population):
    argv = harness_argv(args)
    notes = []
    gen = population
    if not args.no_refresh:
        left = population["time_wait_started_monotonic"] + TIME_WAIT_SECONDS - time.monotonic()
        if left < args.harness_window:
            note("rebuilding TIME_WAIT set before the harness (waits for the old set, up to ~60 s)")
            gen = session.request_refresh(population)
    started = time.monotonic()
    note("running harness: %s" % shlex.join(argv))
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           timeout=args.harness_timeout)
    except FileNotFoundError as e:
        raise BenchError("harness command not found: %s" % e)
    except subprocess.TimeoutExpired:
        raise BenchError("harness did not finish within %d s" % args.harness_timeout)
    elapsed = time.monotonic() - started
    docs, bad = json_lines(r.stdout.decode(errors="replace"))
    notes += ["harness: unparsable line: %s" % line[:120] for line in bad]
    items = [doc for doc in docs if "name" in doc]
    if r.returncode != 0:
        notes.append("harness exited with status %d" % r.returncode)
    if not items:
        notes.append("harness printed no JSON result lines")
    if gen["time_wait_started_monotonic"] + TIME_WAIT_SECONDS < started + elapsed:
        notes.append("harness ran %.1f s and outlived the TIME_WAIT set (first TIME_WAIT expiry at "
                     "+%.1f s); its later iterations saw fewer sockets"
                     % (elapsed, gen["time_wait_started_monotonic"] + TIME_WAIT_SECONDS - started))
    end_counts = benchlib.count_states()[0]
    return items, r.returncode, gen, end_counts, elapsed, notes


def fmt_ms(v):
    return "n/a" if v is None else ("%.1f" % v if v >= 10 else "%.2f" % v)


def fmt_bytes(v):
    if v is None:
        return "n/a"
    return "{:,}".format(int(round(v)))


def report(args, population, rows, ratios, ext_info, harness_info, notes, started_at):
    out = []
    out.append("# SockWatch benchmark")
    out.append("")
    out.append("- Date: %s" % started_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip())
    out.append("- Kernel: %s (%s)" % (platform.release(), platform.machine()))
    out.append("- CPU: %s, %d cores" % (cpu_model(), os.cpu_count() or 0))
    out.append("- Command: %s" % code(cmdline()))
    out.append("- Population (requested %d, built in %.1f s): %s"
               % (args.sockets, population["seconds"], fmt_counts(population["counts"])))
    fam = population.get("families", {})
    if fam:
        out.append("- Families: IPv4 %d, IPv6 %d" % (fam.get("ipv4", 0), fam.get("ipv6", 0)))
    if "processes" in population:
        out.append("- Socket-holding processes: %d (swholder-NNN; %d persistent sockets, ~%d each)"
                   % (population["processes"], population["plan"]["persistent_fds"],
                      int(round(population["plan"]["persistent_fds"] / float(max(1, population["processes"]))))))
    if ext_info:
        out.append("- External commands: %d iterations (+%d warm-up), interleaved with rotating order; "
                   "population generation(s) %s; at end of phase: %s"
                   % (args.iterations, args.warmup, ext_info["generations"], fmt_counts(ext_info["end_counts"])))
    if harness_info:
        out.append("- Harness: %.1f s, population generation %d; at end: %s; command: %s"
                   % (harness_info["elapsed"], harness_info["generation"],
                      fmt_counts(harness_info["end_counts"]), code(harness_info["cmd"])))
    out.append("")
    out.append("| item | sockets | median wall ms | median CPU ms | median alloc bytes | runs |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            r["name"], r["sockets"] if r["sockets"] is not None else "n/a",
            fmt_ms(r["wall"]), fmt_ms(r["cpu"]), fmt_bytes(r["alloc"]), r["runs"]))
    out.append("")
    out.append("| ratio | value | target | result |")
    out.append("|---|---:|---:|---|")
    for label, value, target, verdict in ratios:
        out.append("| %s | %s | %s | %s |" % (
            label, "n/a" if value is None else "%.2fx" % value,
            "none" if target is None else "<= %.1fx" % target, verdict))
    if notes:
        out.append("")
        out.append("Notes:")
        for n in notes:
            out.append("- %s" % n)
    return "\n".join(out) + "\n"


def warn_stale_namespaces():
    """Mention namespaces left by a driver that was SIGKILLed (not removed here)."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for name in names:
        if name.startswith("swbench-") and name[8:].isdigit() and not os.path.exists("/proc/" + name[8:]):
            note("stale namespace %s from an earlier run; remove it with: ip netns del %s" % (name, name))


def parse_args():
    ap = argparse.ArgumentParser(description="SockWatch benchmark driver (run as root).")
    ap.add_argument("--sockets", type=int, default=100000, help="population size (default 100000)")
    ap.add_argument("--iterations", type=int, default=15, help="measured runs per item (default 15)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured warm-up rounds (default 1)")
    ap.add_argument("--processes", type=int,
                    help="spread the population over N socket-holding processes (populate.py --processes)")
    ap.add_argument("--ownership", action="store_true",
                    help="measure socket ownership: ss -tanp and 'sockwatch snapshot --format json', "
                         "harness gets --ownership (owners_steady / owners_cold items)")
    ap.add_argument("--sockwatch", help="path to the sockwatch executable (or .dll)")
    ap.add_argument("--harness-cmd", help="in-process harness command (split with shlex)")
    ap.add_argument("--harness-timeout", type=int, default=900, help="seconds (default 900)")
    ap.add_argument("--harness-window", type=float, default=50.0,
                    help="rebuild TIME_WAIT before the harness unless this many seconds of "
                         "TIME_WAIT life are left (default 50)")
    ap.add_argument("--no-refresh", action="store_true",
                    help="never rebuild the TIME_WAIT set (measurements may see it expire)")
    ap.add_argument("--ready-timeout", type=float, default=120.0, help="seconds (default 120)")
    ap.add_argument("--out", help="also write the Markdown report to this file")
    return ap.parse_args()


def main():
    if os.geteuid() != 0:
        sys.stderr.write("bench.py: must be run as root (it creates a network namespace and uses setns)\n")
        return 2
    args = parse_args()
    if args.iterations < 1 or args.sockets < 100 or args.warmup < 0:
        sys.stderr.write("bench.py: --iterations >= 1, --warmup >= 0 and --sockets >= 100 required\n")
        return 2
    if args.processes is not None and args.processes < 1:
        sys.stderr.write("bench.py: --processes must be at least 1\n")
        return 2
    started_at = datetime.datetime.now().astimezone()
    try:
        cmds = build_commands(args)
    except BenchError as e:
        sys.stderr.write("bench.py: %s\n" % e)
        return 2

    warn_stale_namespaces()
    session = Session("swbench-%d" % os.getpid())
    atexit.register(session.cleanup)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)

    status = 0
    try:
        session.create_ns()
        note("namespace %s; building %d sockets%s" % (session.ns, args.sockets,
             "" if args.processes is None else " held by %d processes" % args.processes))
        session.start_populate(args.sockets, args.processes)
        population = session.wait_ready(1, args.ready_timeout)
        note("population ready in %.1f s: %s" % (population["seconds"], fmt_counts(population["counts"])))

        session.enter_ns()
        measurer = Measurer(session)
        notes = []
        samples, failures, gens, ext_end, ext_notes = measure_external(args, session, measurer, cmds, population)
        notes += ext_notes
        ext_info = {"generations": ", ".join(str(g["generation"]) for g in gens), "end_counts": ext_end}
        gen_total = {g["generation"]: g["total"] for g in gens}

        rows = []
        for name, _ in cmds:
            ss = samples[name]
            socks = [gen_total[s["generation"]] for s in ss]
            rows.append({
                "name": name,
                "sockets": int(median(socks)) if socks else None,
                "wall": median([s["wall_ms"] for s in ss]),
                "cpu": median([s["cpu_ms"] for s in ss]),
                "alloc": None,
                "runs": len(ss),
            })
        for name, msg in failures.items():
            notes.append("%s failed (%s)" % (name, msg))
            status = 1

        harness_info = None
        if args.harness_cmd:
            items, rc, hgen, hend, elapsed, hnotes = run_harness(args, session, gens[-1])
            notes += hnotes
            if rc != 0 or not items:
                status = 1
            harness_info = {"cmd": shlex.join(harness_argv(args)),
                            "elapsed": elapsed, "generation": hgen["generation"], "end_counts": hend}
            for it in items:
                def nums(key):
                    v = it.get(key)
                    if isinstance(v, (int, float)):
                        return [v]
                    return [x for x in v if isinstance(x, (int, float))] if isinstance(v, list) else []
                rows.append({
                    "name": str(it["name"]),
                    "sockets": it.get("sockets"),
                    "wall": median(nums("wall_ms")),
                    "cpu": median(nums("cpu_ms")),
                    "alloc": median(nums("alloc_bytes")),
                    "runs": max(len(nums("cpu_ms")), len(nums("wall_ms"))),
                })

        by_name = {r["name"]: r for r in rows}
        ratios = []
        for label, num, den, field, target in (OWNERSHIP_TARGETS if args.ownership else TARGETS):
            a, b = by_name.get(num), by_name.get(den)
            value = None
            if a and b and a[field] is not None and b[field]:
                value = a[field] / b[field]
            if value is None:
                verdict = "n/a"
            elif target is None:
                verdict = "reported"
            else:
                verdict = "meets" if value <= target else "misses"
            ratios.append((label, value, target, verdict))

        text = report(args, population, rows, ratios, ext_info, harness_info, notes, started_at)
        sys.stdout.write(text)
        sys.stdout.flush()
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
            note("report written to %s" % args.out)
    except BenchError as e:
        sys.stderr.write("bench.py: %s\n" % e)
        status = 1
    finally:
        session.cleanup()
    return status


if __name__ == "__main__":
    sys.exit(main())
