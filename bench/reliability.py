#!/usr/bin/env python3
"""The measuring half of bench/reliability.sh: run it as root inside a private network namespace.

    reliability.py load        --binary B ...   /metrics under wrk while the daemon polls a
                                                populate.py population (100,000 sockets)
    reliability.py soak        --binary B ...   churn (bench/churn.c) for --minutes with a 1 s poll
    reliability.py cardinality --binary B ...   bench/cardinality.py: 50,000 connections from
                                                distinct source addresses, 500 process names

Each starts `sockwatch run` itself (in this namespace, so it polls this namespace), drives the
load, reads the daemon's own metrics over one kept-alive HTTP connection, and writes its section
of the Markdown report (--results; a section is replaced in place, the others are kept). Exit
status 0 when everything ran and every target was met, 1 when a target was missed (the report
says which), 2 when something could not be run.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time

from benchlib import (TIME_WAIT_SECONDS, TimeWaitKeeper, in_initial_netns, loadavg, machine_line as machine,
                      notifier, read_json, slope_per_hour, stop_process, write_report, write_sysctl as sysctl,
                      namespace_tcp as sockstat)
import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
STATES = ["established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait", "close",
          "close_wait", "last_ack", "listen", "closing"]
SS_STATES = {"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
             "FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
             "UNCONN": "close", "CLOSE": "close", "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack",
             "LISTEN": "listen", "CLOSING": "closing"}
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,"
                     "text/plain;version=0.0.4;q=0.4,*/*;q=0.1")


note = notifier("reliability.py")


# -- the namespace and the processes ----------------------------------------------------------

def prepare_namespace(port, tw_buckets=None):
    # the daemon's port is never a client's
    benchlib.prepare_namespace(reserved_ports=port, tw_buckets=tw_buckets)


class Daemon:
    """`sockwatch run` in this namespace, with its log in a file."""

    def __init__(self, binary, port, interval, extra, log_path):
        self.argv = [binary, "run", "--listen-address", "127.0.0.1:%d" % port, "--poll-interval", interval] + extra
        self.log_path = log_path
        self.port = port
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=180.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sockwatch exited with status %s; see %s" % (self.proc.returncode, self.log_path))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/readyz")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise RuntimeError("sockwatch not ready within %.0f s" % timeout)

    def alive(self):
        return self.proc.poll() is None

    def memory_kib(self):
        """VmRSS and VmHWM."""
        return benchlib.memory_kib(self.pid)

    def cpu_seconds(self):
        return benchlib.cpu_seconds(self.pid)

    def log_lines(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read().splitlines()

    def finish(self):
        """Stops the daemon; what its log says, whether it was alive, its argv and exit status."""
        lines = self.log_lines()
        alive = self.alive()
        return {"log": log_summary(lines), "lines": lines, "alive": alive, "argv": self.argv, "status": self.stop()}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def wait_ready_file(path, proc, log_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = read_json(path)
        if doc:
            return doc
        if proc.poll() is not None:
            raise RuntimeError("%s exited (status %s); see %s" % (proc.args[1] if len(proc.args) > 1 else proc.args[0],
                                                                  proc.returncode, log_path))
        time.sleep(0.2)
    raise RuntimeError("population not ready within %.0f s; see %s" % (timeout, log_path))


def snmp_tcp(field):
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index(field)])


def ss_counts(port):
    """ss -tanH by state: (all, on the daemon's port)."""
    r = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, check=True)
    every, daemon = {}, {}
    suffix = ":%d" % port
    for line in r.stdout.splitlines():
        w = line.split()
        if len(w) < 5:
            continue
        st = SS_STATES.get(w[0], w[0].lower())
        every[st] = every.get(st, 0) + 1
        if w[3].endswith(suffix) or w[4].endswith(suffix):
            daemon[st] = daemon.get(st, 0) + 1
    return every, daemon


# -- scraping ---------------------------------------------------------------------------------

class Scraper:
    """GETs over one kept-alive connection (reconnects, and counts it, when the server closed it)."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.connects = 0

    def get(self, path="/metrics", headers=None, timeout=30.0):
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                    self.connects += 1
                t = time.monotonic()
                self.conn.request("GET", path, headers=headers or {})
                r = self.conn.getresponse()
                body = r.read()
                return r.status, body, (time.monotonic() - t) * 1000.0
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def metrics(self):
        status, body, ms = self.get()
        if status != 200:
            raise RuntimeError("/metrics answered %d" % status)
        return Exposition(body.decode("utf-8", errors="replace"), ms)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def parse_labels(s):
    """'a="x",b="y\\"z"' -> {'a': 'x', 'b': 'y"z'}."""
    labels, i = {}, 0
    while i < len(s):
        eq = s.index("=", i)
        name = s[i:eq].strip().lstrip(",").strip()
        j = eq + 2   # past ="
        val = []
        while s[j] != '"':
            if s[j] == "\\":
                j += 1
                val.append({"n": "\n"}.get(s[j], s[j]))
            else:
                val.append(s[j])
            j += 1
        labels[name] = "".join(val)
        i = j + 1
        while i < len(s) and s[i] in ", ":
            i += 1
    return labels


class Exposition:
    """One scrape in Prometheus text 0.0.4: samples, and the family each belongs to."""

    def __init__(self, text, ms=None):
        self.text = text
        self.ms = ms
        self.bytes = len(text.encode())
        self.types = {}
        self.samples = []   # (name, labels, value)
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                w = line.split()
                self.types[w[2]] = w[3]
                continue
            if not line or line.startswith("#"):
                continue
            if "{" in line.split(" ", 1)[0]:
                name, rest = line.split("{", 1)
                # the closing brace: the first } outside quotes
                i, quoted = 0, False
                while quoted or rest[i] != "}":
                    if rest[i] == "\\":
                        i += 1
                    elif rest[i] == '"':
                        quoted = not quoted
                    i += 1
                labels, value = parse_labels(rest[:i]), rest[i + 1:].split()[0]
            else:
                name, value = line.split()[:2]
                labels = {}
            self.samples.append((name, labels, float(value)))

    def family(self, name):
        if name in self.types:
            return name
        for suffix in ("_bucket", "_sum", "_count", "_created", "_total"):
            if name.endswith(suffix) and name[:-len(suffix)] in self.types:
                return name[:-len(suffix)]
        return name

    def series_by_family(self):
        out = {}
        for name, _, _ in self.samples:
            f = self.family(name)
            out[f] = out.get(f, 0) + 1
        return out

    def select(self, name, **labels):
        return [(l, v) for n, l, v in self.samples if n == name and all(l.get(k) == x for k, x in labels.items())]

    def total(self, name, **labels):
        xs = self.select(name, **labels)
        return sum(v for _, v in xs) if xs else None

    def by_label(self, name, label):
        out = {}
        for l, v in self.select(name):
            out[l.get(label)] = out.get(l.get(label), 0) + v
        return out

    def buckets(self, name):
        return {float(l["le"]): v for l, v in self.select(name + "_bucket")}


POLL = "sockwatch_poll_duration_seconds"
LAST = "sockwatch_last_poll_success_timestamp_seconds"
ERRORS = "sockwatch_poll_errors_total"
SOCKETS = "sockwatch_tcp_sockets"


def poll_sample(x, t):
    """What the poll-watching samplers keep of one scrape."""
    return {"t": t, "last": x.total(LAST), "count": x.total(POLL + "_count") or 0.0,
            "sum": x.total(POLL + "_sum") or 0.0, "buckets": x.buckets(POLL),
            "errors": x.total(ERRORS) or 0.0, "sockets": x.total(SOCKETS), "ms": x.ms}


def poll_window(samples, interval, wall_start, wall_end):
    """The polls of a window [wall_start, wall_end] (Unix time), from samples that begin before it
    and go on until a poll that started after it was published: the distinct poll start times
    (the last one before the window, every one in it, the first one after it) and the gaps
    between them, the polls published between the first and the last sample (`_count` delta),
    their mean duration, and the smallest histogram bound that holds them all."""
    a, b = samples[0], samples[-1]
    stamps, sockets_at = [], {}
    for s in samples:
        if s["last"] is not None and (not stamps or s["last"] != stamps[-1]):
            stamps.append(s["last"])
            sockets_at[s["last"]] = s["sockets"]
    before = [x for x in stamps if x <= wall_start][-1:]
    inside = [x for x in stamps if wall_start < x <= wall_end]
    after = [x for x in stamps if x > wall_end][:1]
    seq = before + inside + after
    gaps = [y - x for x, y in zip(seq, seq[1:])]
    polls = b["count"] - a["count"]
    bound = None
    for le in sorted(b["buckets"]):
        if b["buckets"][le] - a["buckets"].get(le, 0.0) >= polls:
            bound = le
            break
    socks = [sockets_at[x] for x in seq if sockets_at.get(x) is not None]
    return {
        "seconds": wall_end - wall_start, "polls": len(inside), "expected": (wall_end - wall_start) / interval,
        "published": polls, "mean_ms": (b["sum"] - a["sum"]) / polls * 1000.0 if polls else None,
        "bound": bound, "errors": b["errors"] - a["errors"], "stamps": len(seq), "gaps": gaps,
        "complete": bool(before and after),
        "gap_min": min(gaps) if gaps else None, "gap_median": statistics.median(gaps) if gaps else None,
        "gap_max": max(gaps) if gaps else None,
        "off": max(abs(g - interval) for g in gaps) if gaps else None,
        "sockets_min": min(socks) if socks else None, "sockets_median": statistics.median(socks) if socks else None,
        "sockets_max": max(socks) if socks else None,
        "scrape_ms_median": statistics.median([s["ms"] for s in samples]),
        "scrape_ms_max": max(s["ms"] for s in samples),
    }


# -- the report ---------------------------------------------------------------------------------

def fmt(v, digits=1):
    return "n/a" if v is None else ("{:,.%df}" % digits).format(v)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def header(title, args, started, load_start, argv):
    return [
        "## %s" % title, "",
        "- Date: %s (UTC)" % started.strftime("%Y-%m-%d %H:%M:%S"),
        "- Machine: %s; load average %s at the start, %s at the end" % (machine(), load_start, loadavg()),
        "- Command: `%s`" % args.command,
        "- sockwatch: `%s`%s" % (" ".join(argv), " (published from a clean export of %s)" % args.revision[:12]
                                 if args.revision else ""),
    ]


def log_summary(lines):
    failed = [l for l in lines if "poll failed" in l]
    slow = [l for l in lines if "longer than the" in l]
    bad = [l for l in lines if l.startswith(("fail:", "crit:")) or "Exception" in l or "Unhandled" in l]
    return {"lines": len(lines), "failed": failed, "slow": slow, "bad": bad}


def log_sentence(finish):
    logs = finish["log"]
    return ("The daemon's log: %d lines, %d \"poll failed\", %d slow-poll warnings, %d error lines%s; it was %s at "
            "the end and exited with status %s on SIGTERM."
            % (logs["lines"], len(logs["failed"]), len(logs["slow"]), len(logs["bad"]),
               (": `%s`" % logs["bad"][0]) if logs["bad"] else "", "alive" if finish["alive"] else "GONE",
               finish["status"])
            + (" Slow-poll warnings%s: %s." % (" (the first 3)" if len(logs["slow"]) > 3 else "",
                                              "; ".join("`%s`" % l for l in logs["slow"][:3])) if logs["slow"] else ""))


def write_section(path, key, text):
    """Replace this section of the results file (between its markers) or append it."""
    begin, end = "<!-- reliability:%s:begin -->" % key, "<!-- reliability:%s:end -->" % key
    block = "%s\n%s\n%s\n" % (begin, text.rstrip("\n"), end)
    try:
        with open(path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ("# SockWatch reliability: load, soak and cardinality\n\n"
               "Written by `bench/reliability.sh` (each section by its subcommand). Each figure: what was "
               "measured, the command that produced it, the date and the machine.\n\n")
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block.rstrip("\n") + doc[doc.index(end) + len(end):]
    else:
        order = ["load", "soak", "cardinality"]
        later = [k for k in order[order.index(key) + 1:] if "<!-- reliability:%s:begin -->" % k in doc] \
            if key in order else []
        if later:
            at = doc.index("<!-- reliability:%s:begin -->" % later[0])
            doc = doc[:at] + block + "\n" + doc[at:]
        else:
            doc = doc.rstrip("\n") + "\n\n" + block
    write_report(path, doc)


# -- load -----------------------------------------------------------------------------------------

def sample_polls(scraper, daemon, until, every=0.5):
    """Poll samples every `every` s until until() is true (checked between samples)."""
    out = []
    t0 = time.monotonic()
    while True:
        t = time.monotonic()
        out.append(poll_sample(scraper.metrics(), t))
        if until():
            return out
        if not daemon.alive():
            raise RuntimeError("sockwatch exited")
        time.sleep(max(0.0, every - (time.monotonic() - t)))
        if time.monotonic() - t0 > 3600:
            raise RuntimeError("sampling ran for an hour")


def parse_wrk(text):
    out = {"text": text.rstrip()}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", text)
    if m:
        out["requests"] = int(m.group(1))
        out["read"] = m.group(4) + m.group(5)
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    out["socket_errors_text"] = m.group(0) if m else "none"
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    out["latency"] = {}
    for p, v, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out["latency"][int(p)] = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    if m:
        conv = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        out["mean"], out["max"] = float(m.group(1)) * conv[m.group(2)], float(m.group(5)) * conv[m.group(6)]
    return out


class Population:
    """A population script (populate.py, cardinality.py) that writes a ready file when built."""

    def __init__(self, args, name, script, script_args):
        self.ready_file = os.path.join(args.logs, "%s-ready.json" % name)
        self.log_path = os.path.join(args.logs, "%s-population.log" % name)
        if os.path.exists(self.ready_file):
            os.remove(self.ready_file)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, script)] + script_args
                                         + ["--ready-file", self.ready_file],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=900.0):
        return wait_ready_file(self.ready_file, self.proc, self.log_path, timeout)

    def stop(self):
        stop_process(self.proc)


def begin(args, tw_buckets=None):
    """Prepares the namespace; the poll interval in seconds, the start time and the load average."""
    interval = parse_seconds(args.poll_interval)
    prepare_namespace(args.port, tw_buckets)
    return interval, datetime.datetime.now(datetime.timezone.utc), loadavg()


def run_load(args):
    interval, started, load_start = begin(args)
    pop = daemon = keeper = None
    try:
        note("building %d sockets (populate.py)" % args.sockets)
        pop = Population(args, "load", "populate.py", ["--total", str(args.sockets), "--die-with-parent"])
        population = pop.wait_ready()
        keeper = TimeWaitKeeper(pop.ready_file, pop.proc.pid)
        keeper.start()
        daemon = Daemon(args.binary, args.port, args.poll_interval, args.daemon_args,
                        os.path.join(args.logs, "load-sockwatch.log"))
        daemon.wait_ready()
        scraper = Scraper(args.port)
        first = scraper.metrics().total(POLL + "_count") or 0
        note("daemon ready; waiting for two more polls")
        sample_polls(scraper, daemon, lambda: (scraper.metrics().total(POLL + "_count") or 0) >= first + 2)

        def slow_polls():
            return len(log_summary(daemon.log_lines())["slow"])

        def window(seconds, wrk_argv=None):
            cpu0, (rss0, _) = daemon.cpu_seconds(), daemon.memory_kib()
            slow0 = slow_polls()
            t_end = time.monotonic() + seconds
            proc = None
            if wrk_argv:
                proc = subprocess.Popen(wrk_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                done = lambda: proc.poll() is not None
            else:
                done = lambda: time.monotonic() >= t_end
            t0, wall_start = time.monotonic(), time.time()
            samples = sample_polls(scraper, daemon, done)
            wall, wall_end = time.monotonic() - t0, time.time()
            out = proc.communicate()[0] if proc else None
            cpu1, (rss1, hwm1) = daemon.cpu_seconds(), daemon.memory_kib()
            # on until a poll that started after the window has been published: the window's last gap
            samples += sample_polls(scraper, daemon, lambda: (scraper.metrics().total(LAST) or 0) > wall_end)
            w = poll_window(samples, interval, wall_start, wall_end)
            w.update({"cpu_percent": (cpu1 - cpu0) / wall * 100.0, "rss0": rss0, "rss1": rss1, "hwm": hwm1,
                      "slow": slow_polls() - slow0,
                      "wrk": parse_wrk(out) if out is not None else None,
                      "wrk_status": proc.returncode if proc else None})
            return w

        note("baseline: %.0f s without load" % args.baseline_seconds)
        base = window(args.baseline_seconds)
        headers = ["-H", "Accept: " + PROMETHEUS_ACCEPT]
        if args.encoding == "gzip":
            headers += ["-H", "Accept-Encoding: gzip"]
        wrk_argv = ["wrk", "-t%d" % args.threads, "-c%d" % args.connections, "-d%ds" % args.seconds, "--latency",
                    "--timeout", "%ds" % args.wrk_timeout] + headers + ["http://127.0.0.1:%d/metrics" % args.port]
        note("load: %s" % " ".join(wrk_argv))
        load = window(args.seconds + 1, wrk_argv)
        _, body, _ = scraper.get("/metrics", {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": args.encoding})
        body_bytes = len(body)
        finish = daemon.finish()
        daemon = None
    finally:
        if keeper:
            keeper.stop()
        if daemon:
            daemon.stop()
        if pop:
            pop.stop()

    logs, argv = finish["log"], finish["argv"]
    wrk = load["wrk"] or {}
    lat = wrk.get("latency", {})
    ok_errors = wrk.get("requests", 0) > 0 and wrk.get("socket_errors", 1) == 0 and wrk.get("non2xx", 1) == 0 \
        and load["wrk_status"] == 0
    ok_polls = (load["complete"] and load["errors"] == 0 and load["off"] is not None
                and load["off"] <= args.gap_tolerance and not load["slow"] and not logs["failed"])
    L = header("Load: `/metrics` under %d connections for %d s" % (args.connections, args.seconds), args, started,
               load_start, argv)
    counts = population.get("counts", {})
    L += [
        "- Population: `bench/populate.py --total %d` in the namespace (built in %.0f s): %s; total %s. Its %s "
        "time_wait sockets live 60 s, so populate.py rebuilds them whenever a set expires (SIGUSR1 at every "
        "generation, as bench/daemon.py does): %d rebuild(s) during the run."
        % (args.sockets, population.get("seconds", 0), ", ".join("%s %s" % (k, fmt(v, 0)) for k, v in sorted(counts.items())),
           fmt(population.get("total"), 0), fmt(counts.get("time_wait"), 0), len(keeper.rebuilt) if keeper else 0),
        "- Load: `%s` (wrk %s), in the namespace. The headers are a Prometheus server's; %s."
        % (" ".join(wrk_argv), wrk_version(),
           "the daemon answers gzipped OpenMetrics, %s bytes a response" % fmt(body_bytes, 0)
           if args.encoding == "gzip" else "identity encoding, %s bytes a response" % fmt(body_bytes, 0)),
        "- The poll is watched from the daemon's own metrics: a scrape every 0.5 s over one kept-alive "
        "connection (text 0.0.4), first for %.0f s without load (baseline), then during the wrk run; "
        "`sockwatch_last_poll_success_timestamp_seconds` is the start of the latest successful poll, so the "
        "gaps between its successive values are the intervals between polls."
        % args.baseline_seconds,
        "",
        "| wrk, %d connections, %d threads, %d s | |" % (args.connections, args.threads, args.seconds),
        "|---|---:|",
        "| requests (per second) | %s (%s) |" % (fmt(wrk.get("requests"), 0), fmt(wrk.get("rps"), 0)),
        "| socket errors (connect, read, write, timeout) | %s |" % wrk.get("socket_errors_text", "n/a"),
        "| non-2xx/3xx responses | %s |" % fmt(wrk.get("non2xx"), 0),
    ]
    for p in (50, 75, 90, 99):
        L.append("| latency p%d (ms) | %s |" % (p, fmt(lat.get(p), 2)))
    L.append("| latency mean / max (ms) | %s / %s |" % (fmt(wrk.get("mean"), 2), fmt(wrk.get("max"), 2)))
    L += ["", "| the poll, from the daemon's metrics | baseline, no load | under wrk |", "|---|---:|---:|"]
    rows = [
        ("window (s)", "seconds", 1),
        ("polls started in the window / window length over %s" % args.poll_interval, None, 0),
        ("polls published while sampling (`_count` delta)", "published", 0),
        ("gaps between poll starts, from the last before to the first after the window: min / median / max (s)", None, 3),
        ("largest distance of a gap from %s (s)" % args.poll_interval, "off", 3),
        ("mean poll duration (`_sum`/`_count` delta, ms)", "mean_ms", 1),
        ("every poll at most (histogram bucket, s)", "bound", 3),
        ("failed polls (`sockwatch_poll_errors_total` delta)", "errors", 0),
        ("slow-poll warnings logged (a poll longer than the interval)", "slow", 0),
        ("sockets per poll: min / median / max (`sockwatch_tcp_sockets` sum)", None, 0),
        ("daemon CPU (% of one core)", "cpu_percent", 1),
        ("daemon RSS at the start / end (MiB)", None, 1),
        ("sampler's scrape latency: median / max (ms)", None, 1),
    ]
    for label, key, d in rows:
        cells = []
        for w in (base, load):
            if key:
                cells.append(fmt(w[key], d))
            elif label.startswith("polls"):
                cells.append("%s / %s" % (fmt(w["polls"], 0), fmt(w["expected"], 1)))
            elif label.startswith("gap"):
                cells.append("%s / %s / %s" % (fmt(w["gap_min"], d), fmt(w["gap_median"], d), fmt(w["gap_max"], d)))
            elif label.startswith("sockets"):
                cells.append("%s / %s / %s" % (fmt(w["sockets_min"], 0), fmt(w["sockets_median"], 0), fmt(w["sockets_max"], 0)))
            elif label.startswith("daemon RSS"):
                cells.append("%s / %s" % (fmt(w["rss0"] / 1024.0, 1), fmt(w["rss1"] / 1024.0, 1)))
            else:
                cells.append("%s / %s" % (fmt(w["scrape_ms_median"], 1), fmt(w["scrape_ms_max"], 1)))
        L.append("| %s | %s | %s |" % (label, cells[0], cells[1]))
    L += ["", "Gaps between successive polls under load (s): %s." % ", ".join("%.3f" % g for g in load["gaps"]), "",
          "| target | figure | |", "|---|---|---|",
          "| no errors under load (socket errors, non-2xx) | %s socket errors, %s non-2xx of %s requests | %s |"
          % (fmt(wrk.get("socket_errors"), 0), fmt(wrk.get("non2xx"), 0), fmt(wrk.get("requests"), 0), verdict(ok_errors)),
          "| poll interval undisturbed (every gap within %.2f s of %s, no poll missed or failed, no slow-poll warning) "
          "| gaps %s..%s s, %s polls started in the window (its length over the interval: %s), %d failed, %d slow-poll warnings | %s |"
          % (args.gap_tolerance, args.poll_interval, fmt(load["gap_min"], 3), fmt(load["gap_max"], 3),
             fmt(load["polls"], 0), fmt(load["expected"], 1), len(logs["failed"]) + int(load["errors"]),
             load["slow"], verdict(ok_polls)),
          "",
          log_sentence(finish),
          "", "<details><summary>wrk's output</summary>", "", "```", wrk.get("text", "(none)"), "```", "", "</details>"]
    write_section(args.results, "load", "\n".join(L))
    note("load: %s requests, %s rps, socket errors %s, non-2xx %s, p50 %s p99 %s ms; gaps %s..%s s; polls %s/%s"
         % (wrk.get("requests"), wrk.get("rps"), wrk.get("socket_errors"), wrk.get("non2xx"), lat.get(50), lat.get(99),
            fmt(load["gap_min"], 3), fmt(load["gap_max"], 3), load["polls"], fmt(load["expected"], 1)))
    return 0 if ok_errors and ok_polls else 1


def wrk_version():
    r = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    m = re.search(r"wrk (\S+)", r.stdout + r.stderr)
    return m.group(1) if m else "unknown"


def parse_seconds(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", s)
    if not m:
        raise SystemExit("reliability.py: --poll-interval: use a duration like 1s, 5s, 15s")
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


# -- soak ----------------------------------------------------------------------------------------

def read_line(proc, timeout):
    """One line of a child's stdout, or None after `timeout` seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else None


def run_soak(args):
    tw_expected = int(args.rate * TIME_WAIT_SECONDS)
    interval, started, load_start = begin(args, tw_buckets=max(262144, 2 * tw_expected))
    sysctl("net.ipv4.tcp_tw_reuse", 0)   # keep every time_wait for its 60 s
    churn = args.churn_binary
    ports = ",".join(str(7001 + i) for i in range(4))
    server = client = daemon = None
    stats_path = os.path.join(args.logs, "soak-churn.stats")
    samples = []    # {t, rss, hwm, cpu, inuse, tw, polls, sum, errors, sockets, completed}
    try:
        server = subprocess.Popen([churn, "server", "--ports", ports, "--hold-port", "7100"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if not read_line(server, 10):
            raise RuntimeError("churn server did not start")
        daemon = Daemon(args.binary, args.port, args.poll_interval, args.daemon_args,
                        os.path.join(args.logs, "soak-sockwatch.log"))
        daemon.wait_ready()
        scraper = Scraper(args.port)
        opens0 = snmp_tcp("ActiveOpens")
        client = subprocess.Popen([churn, "client", "--ports", ports, "--hold-port", "7100", "--rate", str(args.rate),
                                   "--hold", str(args.hold), "--half-closed", str(args.half_closed),
                                   "--stats", stats_path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if not read_line(client, 60):
            raise RuntimeError("churn client did not start")
        t0 = time.monotonic()
        duration = args.minutes * 60.0
        note("churning at %s/s for %.1f min; sampling every %.0f s" % (fmt(args.rate, 0), args.minutes, args.sample_interval))
        k, last_note = 0, t0
        csv = open(os.path.join(args.logs, "soak-samples.csv"), "w")   # every sample as it comes
        csv.write("t_s,rss_kib,hwm_kib,cpu_s,tcp_inuse,time_wait,polls,poll_seconds_sum,poll_errors,sockets,churned\n")
        while True:
            target = t0 + k * args.sample_interval
            time.sleep(max(0.0, target - time.monotonic()))
            if not daemon.alive() or client.poll() is not None or server.poll() is not None:
                raise RuntimeError("a process exited during the soak (sockwatch %s, client %s, server %s)"
                                   % (daemon.proc.returncode, client.returncode, server.returncode))
            t = time.monotonic() - t0
            x = scraper.metrics()
            rss, hwm = daemon.memory_kib()
            ss_ = sockstat()
            samples.append({"t": t, "rss": rss, "hwm": hwm, "cpu": daemon.cpu_seconds(), "inuse": ss_["inuse"],
                            "buckets": x.buckets(POLL),
                            "tw": ss_["tw"], "polls": x.total(POLL + "_count") or 0, "sum": x.total(POLL + "_sum") or 0,
                            "errors": x.total(ERRORS) or 0, "sockets": x.total(SOCKETS), "completed": churn_completed(stats_path)})
            csv.write("%.1f,%d,%d,%.2f,%d,%d,%d,%.3f,%d,%s,%s\n" % tuple(
                samples[-1][f] for f in ("t", "rss", "hwm", "cpu", "inuse", "tw", "polls", "sum", "errors", "sockets",
                                         "completed")))
            csv.flush()
            if time.monotonic() - last_note >= 300:
                last_note = time.monotonic()
                s = samples[-1]
                note("+%.0f min: RSS %.1f MiB, %d sockets, %d polls, %d churned" % (t / 60, s["rss"] / 1024.0,
                                                                                    s["sockets"] or 0, s["polls"], s["completed"]))
            if t >= duration:
                break
            k += 1
        csv.close()
        client.send_signal(signal.SIGUSR1)
        line = read_line(client, 30)
        summary = json.loads(line) if line else {}
        opens = snmp_tcp("ActiveOpens") - opens0
        churn_seconds = time.monotonic() - t0
        note("churn stopped: %s; waiting for the time_wait tail to expire" % summary)
        drain_t = time.monotonic()
        while sockstat()["tw"] > 0 and time.monotonic() - drain_t < TIME_WAIT_SECONDS + 60:
            time.sleep(1.0)
        drained = time.monotonic() - drain_t
        tw_left = sockstat()["tw"]
        # compare: ss before and after one scrape, the scrape taken after two polls of the quiet namespace
        comparison = None
        for attempt in range(10):
            p0 = scraper.metrics().total(POLL + "_count")
            while (scraper.metrics().total(POLL + "_count") or 0) < p0 + 2:
                time.sleep(0.2)
            ss0, daemon_port0 = ss_counts(args.port)
            x = scraper.metrics()
            ss1, _ = ss_counts(args.port)
            if ss0 == ss1:
                comparison = (x.by_label(SOCKETS, "state"), ss0, daemon_port0, attempt + 1)
                break
        end_metrics = scraper.metrics()
        rss_end, hwm_end = daemon.memory_kib()
        finish = daemon.finish()
        daemon = None
    finally:
        if daemon:
            daemon.stop()
        stop_process(client)
        stop_process(server)

    logs, argv = finish["log"], finish["argv"]
    # RSS over the last window
    window = min(20.0, args.minutes * 2.0 / 3.0)
    end = samples[-1]
    win = [s for s in samples if s["t"] >= end["t"] - window * 60.0 - 1.0]
    growth = (end["rss"] - win[0]["rss"]) * 100.0 / win[0]["rss"]
    peak_growth = (max(s["rss"] for s in win) - win[0]["rss"]) * 100.0 / win[0]["rss"]
    slope = slope_per_hour([(s["t"], s["rss"] / 1024.0) for s in win])
    by_duration = []   # polls over the run by duration, from the histogram's buckets
    prev = 0.0
    for le in (0.25, 0.5, 1.0, 2.5, float("inf")):
        n = end["buckets"].get(le, 0.0) - samples[0]["buckets"].get(le, 0.0)
        by_duration.append((le, n - prev))
        prev = n
    polls = end["polls"] - samples[0]["polls"]
    expected = (end["t"] - samples[0]["t"]) / interval
    errors_total = end_metrics.total(ERRORS)
    rate = summary.get("rate")
    sockets_seen = [s["sockets"] for s in samples[1:] if s["sockets"] is not None]
    ok_rate = rate is not None and rate >= 2000 and summary.get("failed", 1) == 0
    ok_rss = growth < 5.0
    ok_polls = not errors_total and not logs["failed"]
    states_equal = None
    rows = []
    if comparison:
        sw, ss0, dport, attempts = comparison
        states_equal = True
        for st in STATES:
            a = int(sw.get(st, 0)) - dport.get(st, 0)
            b = ss0.get(st, 0) - dport.get(st, 0)
            if a or b or sw.get(st):
                rows.append("| %s | %d | %d | %d | %s |" % (st, int(sw.get(st, 0)), dport.get(st, 0), b, "yes" if a == b else "**no**"))
            states_equal = states_equal and a == b
        extra = set(ss0) - set(STATES)
        if extra:
            states_equal = False
            rows.append("| (ss states not mapped: %s) | | | | **no** |" % ", ".join(sorted(extra)))
    L = header("Soak: %s min of churn at a %s poll" % (fmt(args.minutes, 0), args.poll_interval), args, started,
               load_start, argv)
    L += [
        "- Churn: `churn client --rate %s --hold %d --half-closed %d` against `churn server` (bench/churn.c, epoll, "
        "one process each) in the namespace: every connection binds one of 32 source addresses 127.0.1.N, "
        "connects to one of 4 ports, sends a byte, reads the answer and closes first (the client keeps a 60 s "
        "time_wait; the server passes close_wait and last_ack). Standing population held all along: %d "
        "connections to a hold port, %d of them half-closed (fin_wait2 on the client, close_wait on the server)."
        % (fmt(args.rate, 0), args.hold, args.half_closed, args.hold, args.half_closed),
        "- Namespace: tcp_max_tw_buckets raised to %s, tcp_tw_reuse 0, ip_local_port_range 1024-65535, the "
        "daemon's port reserved." % fmt(max(262144, 2 * tw_expected), 0),
        "- Sampled every %.0f s: the daemon's VmRSS and CPU time, a scrape of its /metrics over one kept-alive "
        "connection (%d connection(s) opened in all), /proc/net/sockstat." % (args.sample_interval, scraper.connects),
        "",
        "| | |", "|---|---:|",
        "| churn: connections opened and closed (client's count; failed) | %s (%s) |"
        % (fmt(summary.get("completed"), 0), fmt(summary.get("failed"), 0)),
        "| churn: achieved rate, client's count / seconds (per s) | **%s** over %s s |" % (fmt(rate, 0), fmt(summary.get("seconds"), 0)),
        "| churn: the kernel's Tcp ActiveOpens delta / seconds (per s; includes the hold connections and the sampler) | %s |"
        % fmt(opens / churn_seconds, 0),
        "| sockets in the namespace during the churn: min / median / max (sockwatch_tcp_sockets sum at the samples) | %s / %s / %s |"
        % (fmt(min(sockets_seen), 0), fmt(statistics.median(sockets_seen), 0), fmt(max(sockets_seen), 0)) if sockets_seen else "| sockets | n/a |",
        "| polls counted (`_count` delta) / expected at one a second | %s / %s |" % (fmt(polls, 0), fmt(expected, 0)),
        "| polls by duration (histogram buckets): %s | %s |"
        % (" / ".join("<= %g s" % le if le != float("inf") else "longer" for le, _ in by_duration),
           " / ".join(fmt(n, 0) for _, n in by_duration)),
        "| mean poll duration over the run (ms) | %s |" % fmt((end["sum"] - samples[0]["sum"]) / polls * 1000.0 if polls else None, 1),
        "| slow-poll warnings in the log (a poll longer than the interval) | %d |" % len(logs["slow"]),
        "| daemon CPU over the run (%% of one core) | %s |" % fmt((end["cpu"] - samples[0]["cpu"]) / (end["t"] - samples[0]["t"]) * 100.0, 1),
        "| RSS at the first sample / at the end of the churn / after the drain (MiB) | %s / %s / %s |"
        % (fmt(samples[0]["rss"] / 1024.0), fmt(end["rss"] / 1024.0), fmt(rss_end / 1024.0)),
        "| RSS over the last %s min: start / min / max / end (MiB) | %s / %s / %s / %s |"
        % (fmt(window, 0), fmt(win[0]["rss"] / 1024.0), fmt(min(s["rss"] for s in win) / 1024.0),
           fmt(max(s["rss"] for s in win) / 1024.0), fmt(end["rss"] / 1024.0)),
        "| RSS trend over the last %s min, least squares (MiB/h) | %s |" % (fmt(window, 0), fmt(slope, 1)),
        "| peak RSS, VmHWM (MiB) | %s |" % fmt(hwm_end / 1024.0),
        "",
        "| target | figure | |", "|---|---|---|",
        "| at least 2,000 connections opened and closed per second | %s/s, %s failed | %s |"
        % (fmt(rate, 0), fmt(summary.get("failed"), 0), verdict(ok_rate)),
        "| RSS growth under 5%% over the last %s min | %+.2f%% (end vs start; highest sample %+.2f%%) | %s |"
        % (fmt(window, 0), growth, peak_growth, verdict(ok_rss)),
        "| no failed poll | `sockwatch_poll_errors_total` %s; %d \"poll failed\" lines | %s |"
        % ("absent" if errors_total is None else fmt(errors_total, 0), len(logs["failed"]), verdict(ok_polls)),
        "| counts equal to ss's at the end, per state | %s | %s |"
        % ("see below" if comparison else "no stable ss reading in 10 tries", verdict(bool(states_equal))),
        "",
    ]
    if comparison:
        L += ["At the end: the churn stopped, the time_wait tail expired (%.0f s; %d left), then, after two more "
              "polls, `ss -tanH` twice around one scrape gave the same counts (try %d). The daemon's port: its "
              "listener and the sampler's one kept-alive connection (both ends), taken out of both sides."
              % (drained, tw_left, comparison[3]), "",
              "| state | sockwatch_tcp_sockets | on the daemon's port (ss) | ss -tanH, without the daemon's port | equal |",
              "|---|---:|---:|---:|---|"] + rows + [""]
    L.append("RSS and sockets through the run (every %s):" % ("minute" if args.sample_interval <= 60 else "sample"))
    L += ["", "| minute | RSS (MiB) | sockets (sockwatch) | time_wait (sockstat) | polls | churned |", "|---:|---:|---:|---:|---:|---:|"]
    step = max(1, int(round(60.0 / args.sample_interval)))
    for s in samples[::step] + ([] if (len(samples) - 1) % step == 0 else [samples[-1]]):
        L.append("| %.1f | %.1f | %s | %s | %s | %s |" % (s["t"] / 60.0, s["rss"] / 1024.0, fmt(s["sockets"], 0),
                                                          fmt(s["tw"], 0), fmt(s["polls"], 0), fmt(s["completed"], 0)))
    L += ["", log_sentence(finish)]
    write_section(args.results, "soak", "\n".join(L))
    note("soak: rate %s/s, RSS growth %.2f%% over the last %s min, poll errors %s, log failures %d, states equal %s"
         % (fmt(rate, 0), growth, fmt(window, 0), errors_total, len(logs["failed"]), states_equal))
    return 0 if ok_rate and ok_rss and ok_polls and states_equal else 1


def churn_completed(path):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        return int(lines[-1].split()[1]) if lines else 0
    except (OSError, IndexError, ValueError):
        return None


# -- cardinality ----------------------------------------------------------------------------------

def capped_families(owners, destinations, namespaces):
    states = len(STATES)
    return [
        ("sockwatch_tcp_owner_sockets", (owners + 1) * states, "(max_owner_series + 1) x %d states" % states),
        ("sockwatch_close_wait_leaked_sockets", owners + 1, "max_owner_series + 1"),
        ("sockwatch_close_wait_oldest_age_seconds", owners + 1, "max_owner_series + 1"),
        ("sockwatch_process_descriptor_utilization_ratio", owners + 1, "max_owner_series + 1"),
        ("sockwatch_ephemeral_port_utilization_ratio", destinations + 1, "max_destination_series + 1"),
        ("sockwatch_listen_queue_utilization_ratio", destinations + 1, "max_destination_series + 1"),
        ("sockwatch_tcp_sockets", 2 * states * namespaces, "2 families x %d states x %d namespace(s)" % (states, namespaces)),
        ("sockwatch_tcp_transitions_total", states * states, "%d x %d state pairs" % (states, states)),
        ("sockwatch_tcp_transition_anomalies_total", states * states, "%d x %d state pairs" % (states, states)),
    ]


def run_cardinality(args):
    _, started, load_start = begin(args)
    extra = ["--max-owner-series", str(args.max_owner_series), "--max-destination-series",
             str(args.max_destination_series), "--close-wait-leak-after", args.close_wait_leak_after] + args.daemon_args
    pop = daemon = None
    try:
        daemon = Daemon(args.binary, args.port, args.poll_interval, extra, os.path.join(args.logs, "cardinality-sockwatch.log"))
        daemon.wait_ready()
        scraper = Scraper(args.port)

        def after_polls(n):
            c = scraper.metrics().total(POLL + "_count") or 0
            while True:
                x = scraper.metrics()
                if (x.total(POLL + "_count") or 0) >= c + n:
                    return x
                time.sleep(0.2)

        before = after_polls(5)
        rss_before, _ = daemon.memory_kib()
        note("building %d connections from %d processes" % (args.connections, args.processes))
        pop = Population(args, "cardinality", "cardinality.py",
                         ["--connections", str(args.connections), "--processes", str(args.processes)])
        population = pop.wait_ready()
        note("population ready in %.0f s; holding it for %.0f s" % (population["seconds"], args.hold_seconds))
        after_polls(1)
        t0 = time.monotonic()
        scrapes, rss = [], []
        while time.monotonic() - t0 < args.hold_seconds:
            x = after_polls(1)
            scrapes.append(x)
            rss.append(daemon.memory_kib()[0])
        rss_with, hwm_with = daemon.memory_kib()
        ss_states, _ = ss_counts(args.port)
        pop.stop()
        pop = None
        gone = time.monotonic()   # the connections close, then their time_wait sockets live 60 s
        while (sockstat()["inuse"] > 10 or sockstat()["tw"] > 0) and time.monotonic() - gone < TIME_WAIT_SECONDS + 60:
            time.sleep(0.5)
        after = after_polls(5)
        rss_after, hwm_after = daemon.memory_kib()
        finish = daemon.finish()
        daemon = None
    finally:
        if daemon:
            daemon.stop()
        if pop:
            pop.stop()

    logs, argv, log_lines = finish["log"], finish["argv"], finish["lines"]
    fams_max = {}
    for x in scrapes:
        for f, n in x.series_by_family().items():
            fams_max[f] = max(fams_max.get(f, 0), n)
    totals = [len(x.samples) for x in scrapes]
    hold_polls = scrapes[-1].total(POLL + "_count") - scrapes[0].total(POLL + "_count")
    hold_mean_ms = ((scrapes[-1].total(POLL + "_sum") - scrapes[0].total(POLL + "_sum")) / hold_polls * 1000.0
                    if hold_polls else None)
    last = scrapes[-1]
    overflow = sum(1 for x in scrapes for _, l, _ in x.samples if "otel_metric_overflow" in l)
    findings = sum(1 for l in log_lines if l.startswith("warn:") and "PollLoop[3005]" in l)
    ok_caps = True
    rows = []
    namespaces = len(set(l.get("netns") for l, _ in last.select(SOCKETS)))
    for fam, bound, why in capped_families(args.max_owner_series, args.max_destination_series, namespaces):
        n = fams_max.get(fam, 0)
        other = sum(1 for name, l, _ in last.samples if last.family(name) == fam and "other" in l.values())
        ok = n <= bound
        ok_caps = ok_caps and ok
        rows.append("| `%s` | %s | %s | %s | %s | %s | %s | %s |"
                    % (fam, why, fmt(bound, 0), fmt(before.series_by_family().get(fam, 0), 0), fmt(n, 0), fmt(other, 0),
                       fmt(after.series_by_family().get(fam, 0), 0), "yes" if ok else "**no**"))
    owner_sum = last.total("sockwatch_tcp_owner_sockets")
    sockets_sum = last.total(SOCKETS)
    distinct_processes = len(set(l.get("process") for l, _ in last.select("sockwatch_tcp_owner_sockets")))
    growth_mib = (rss_with - rss_before) / 1024.0
    L = header("Cardinality: %s connections from distinct source addresses, %d process names"
               % (fmt(args.connections, 0), args.processes), args, started, load_start, argv)
    counts = population.get("counts", {})
    L += [
        "- Population: `bench/cardinality.py --connections %d --processes %d` (built in %.0f s): %d processes named "
        "swcard-000.. (prctl PR_SET_NAME), each with a listener on 127.0.0.1 (ports %d..); every client socket bound to "
        "its own source address (%s .. %s) before connect, so every one is a distinct (local address, remote address, "
        "remote port); 2 clients per process half-closed, so every process also holds close_wait sockets (aged past "
        "the `--close-wait-leak-after %s` given to the daemon while held). Sockets by state (ss): %s."
        % (args.connections, args.processes, population.get("seconds", 0), args.processes, 20000,
           population.get("first_source"), population.get("last_source"), args.close_wait_leak_after,
           ", ".join("%s %s" % (k, fmt(v, 0)) for k, v in sorted(ss_states.items()))),
        "- Caps given to the daemon: `max_owner_series` %d, `max_destination_series` %d (the defaults). Scraped after "
        "every poll for %.0f s while the population was held (%d scrapes; text 0.0.4); series counted per family as "
        "sample lines, the most seen in any scrape." % (args.max_owner_series, args.max_destination_series,
                                                       args.hold_seconds, len(scrapes)),
        "",
        "| family | bound | bound | before (empty namespace) | most seen | of them `other` | after teardown | within |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ] + rows + [
        "",
        "| | |", "|---|---:|",
        "| series in one scrape: empty namespace / with the population (most) / after it was torn down | %s / %s / %s |"
        % (fmt(len(before.samples), 0), fmt(max(totals), 0), fmt(len(after.samples), 0)),
        "| response body with the population, text 0.0.4 uncompressed (bytes) | %s |" % fmt(last.bytes, 0),
        "| distinct `process` values in `sockwatch_tcp_owner_sockets` (of %d processes) | %d |" % (args.processes, distinct_processes),
        "| sum of `sockwatch_tcp_owner_sockets` / sum of `sockwatch_tcp_sockets` (same scrape; folding keeps counts) | %s / %s |"
        % (fmt(owner_sum, 0), fmt(sockets_sum, 0)),
        "| `otel_metric_overflow` series seen | %d |" % overflow,
        "| RSS: empty namespace / with the population (end of hold) / after teardown and the time_wait tail (MiB) | %s / %s / %s |"
        % (fmt(rss_before / 1024.0), fmt(rss_with / 1024.0), fmt(rss_after / 1024.0)),
        "| RSS during the hold: min / max (MiB); peak VmHWM (MiB) | %s / %s; %s |"
        % (fmt(min(rss) / 1024.0), fmt(max(rss) / 1024.0), fmt(hwm_after / 1024.0)),
        "| findings logged (close_wait_leak etc., one line each as they appear) | %d |" % findings,
        "| polls during the hold: count, mean duration (ms) | %s, %s |" % (fmt(hold_polls, 0), fmt(hold_mean_ms, 1)),
        "",
        "| target | figure | |", "|---|---|---|",
        "| exported series stay under the caps | every capped family within its bound (table above) | %s |" % verdict(ok_caps),
        "| memory bounded | RSS %s MiB with the population (%+.1f MiB over the empty namespace), %s MiB after teardown | "
        "see figures |" % (fmt(rss_with / 1024.0), growth_mib, fmt(rss_after / 1024.0)),
        "",
        log_sentence(finish),
        "",
        "Every family in the last scrape with the population (series): %s."
        % ", ".join("`%s` %d" % kv for kv in sorted(last.series_by_family().items())),
    ]
    write_section(args.results, "cardinality", "\n".join(L))
    note("cardinality: caps %s; series %d..%d; RSS %.1f -> %.1f -> %.1f MiB"
         % ("met" if ok_caps else "MISSED", len(before.samples), max(totals), rss_before / 1024.0, rss_with / 1024.0,
            rss_after / 1024.0))
    return 0 if ok_caps and not logs["failed"] else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["load", "soak", "cardinality"])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--port", type=int, default=9859)
    ap.add_argument("--results", required=True, help="the Markdown file; this subcommand's section is replaced")
    ap.add_argument("--logs", required=True, help="directory for the daemon's and the generators' logs")
    ap.add_argument("--command", default="bench/reliability.sh")
    ap.add_argument("--revision", default="")
    ap.add_argument("--poll-interval")
    ap.add_argument("--daemon-arg", dest="daemon_args", action="append", default=[],
                    help="one more argument for `sockwatch run` (repeatable)")
    ap.add_argument("--netns", default="self",
                    help="the daemon's --netns (default self: only the benchmark's namespace, not every namespace "
                         "on the host, which `run` watches by default); empty: leave the flag out")
    # load
    ap.add_argument("--sockets", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--baseline-seconds", type=float)
    ap.add_argument("--connections", type=int, help="load: wrk connections (64); cardinality: connections (50000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wrk-timeout", type=int, default=2)
    ap.add_argument("--encoding", choices=["gzip", "identity"], default="gzip")
    ap.add_argument("--gap-tolerance", type=float, default=0.25, help="load: seconds a gap may differ from the interval")
    # soak
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=2500.0)
    ap.add_argument("--hold", type=int, default=2000)
    ap.add_argument("--half-closed", type=int, default=500)
    ap.add_argument("--sample-interval", type=float, default=10.0)
    ap.add_argument("--churn-binary")
    # cardinality
    ap.add_argument("--processes", type=int, default=500)
    ap.add_argument("--hold-seconds", type=float, default=60.0)
    ap.add_argument("--max-owner-series", type=int, default=50)
    ap.add_argument("--max-destination-series", type=int, default=20)
    ap.add_argument("--close-wait-leak-after", default="10s")
    args = ap.parse_args()
    if os.geteuid() != 0 or in_initial_netns():
        print("reliability.py: run it as root in a private network namespace (bench/reliability.sh does)", file=sys.stderr)
        return 2
    if args.what == "load":
        args.poll_interval = args.poll_interval or "5s"
        args.connections = args.connections or 64
        if args.baseline_seconds is None:
            args.baseline_seconds = float(args.seconds)
    elif args.what == "soak":
        args.poll_interval = args.poll_interval or "1s"
        if not args.churn_binary:
            ap.error("soak needs --churn-binary")
    else:
        args.poll_interval = args.poll_interval or "2s"
        args.connections = args.connections or 50000
    if args.netns:
        args.daemon_args = ["--netns", args.netns] + args.daemon_args
    os.makedirs(args.logs, exist_ok=True)
    try:
        return {"load": run_load, "soak": run_soak, "cardinality": run_cardinality}[args.what](args)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        note("%s failed: %s: %s" % (args.what, type(e).__name__, e))
        return 2


if __name__ == "__main__":
    sys.exit(main())
