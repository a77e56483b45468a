#!/usr/bin/env python3
"""The measuring half of bench/daemon.sh: run it inside the benchmark's network namespace.

Given the running daemon (sockwatch run), node_exporter (tcpstat only) and populate.py, for
--minutes it

    scrapes each every --scrape-interval seconds, like Prometheus (curl with Accept-Encoding:
        gzip, body discarded; curl's time_total is the latency); node_exporter half an interval
        after sockwatch, so that the two scrapes never run at the same time; unless --no-sweep,
        the interval is stretched by interval / (number of scrapes), so that the scrapes' phase
        against the daemon's own 15 s poll timer moves through one whole interval,
    samples each every --sample-interval seconds: CPU time (utime + stime of /proc/PID/stat,
        all threads, in clock ticks) and VmRSS / VmHWM (/proc/PID/status), and the sockets in
        the namespace (/proc/net/sockstat{,6}: TCP inuse + TCP6 inuse + tw),
    keeps the TIME_WAIT share alive: whenever populate.py announces a new generation it is sent
        SIGUSR1, so it rebuilds the set as soon as the current one expires (60 s), and keeps
        every generation's TIME_WAIT build window (time_wait_{started,done}_monotonic of the
        ready file, populate.py's time.monotonic(), the same clock as ours),
    probes sockwatch's latency, unless --probe-interval 0: a thread of its own scrapes the
        sockwatch URL (the same curl, gzip header and scrape() as above) and the same host's
        /healthz, in turn, every --probe-interval seconds on average (each gap drawn uniformly
        from 0.5 to 1.5 intervals, so that the samples' phase against the daemon's 15 s polls
        is uniform), never while one of the scrapes above is in flight; /healthz reads nothing,
        so it gives the floor of the HTTP stack and the machine. About once a minute it also
        fetches sockwatch_last_poll_success_timestamp_seconds (the start of the latest
        successful poll; not a latency sample), from which every sample's phase in the poll
        cycle follows, as the polls keep to the interval without drift,

then compares the daemon's sockwatch_tcp_sockets sum with node_exporter's
node_tcp_connection_states sum at a moment the population is stable, and writes a Markdown
report (--out) and every sample, scrape and probe as CSV (--csv). With the probe, the scrape
latency target is judged on the probe's /metrics p99 (the 15-s scrapes' p99 is reported beside
it), and every sockwatch scrape or probe over 10 ms is attributed: within a TIME_WAIT rebuild of
populate.py, within 1 s after a poll started, or neither. Exit status 0 when everything was
measured (targets are reported as meets / misses only), 1 when a process died or a scrape or
probe failed.
"""

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import threading
import time

from benchlib import (CLK_TCK, TIME_WAIT_SECONDS, TimeWaitKeeper, cpu_ticks, loadavg, machine, memory_kib,
                      notifier, percentile, read_json as read_ready, slope_per_hour, version_of)
import benchlib

TARGET_CPU_PERCENT = 2.0
TARGET_RSS_MIB = 80.0
TARGET_SCRAPE_MS = 10.0
FLAT_PERCENT = 5.0     # our reading of "flat": over the window RSS ends at most this much above its start
FLAT_SWING_PERCENT = 10.0   # ... and its max is at most this much above its min
SEGMENT_SECONDS = 300.0     # CPU is also reported per segment of this length
PROCS = ("sockwatch", "node_exporter")
POLL_GAUGE = "sockwatch_last_poll_success_timestamp_seconds"   # Unix time a successful poll started
ANCHOR_SECONDS = 60.0       # the probe fetches POLL_GAUGE this often
AFTER_POLL_SECONDS = 1.0    # a slow sample "within 1 s after a poll start"


note = notifier("daemon.py")


# -- reading the processes -------------------------------------------------------------------

def namespace_sockets():
    """TCP sockets in this namespace, cheaply: inuse (both families) plus time_wait."""
    tcp = benchlib.namespace_tcp()
    return tcp["inuse"] + tcp["tw"]


def scrape(url, gzip=True):
    argv = ["curl", "-s", "-o", "/dev/null", "--max-time", "10",
            "-w", "%{http_code} %{time_total} %{size_download} %header{content-encoding}"]
    if gzip:
        argv += ["-H", "Accept-Encoding: gzip"]
    r = subprocess.run(argv + [url], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    words = r.stdout.split()
    if r.returncode != 0 or len(words) < 3:
        return {"code": 0, "ms": None, "bytes": 0, "encoding": "", "error": "curl exit %d" % r.returncode}
    return {"code": int(words[0]), "ms": float(words[1]) * 1000.0, "bytes": int(words[2]),
            "encoding": words[3] if len(words) > 3 else "identity", "error": ""}


def timed_scrape(url):
    """scrape(url), with the monotonic and wall-clock time before it and the monotonic time after
    it: the curl process's whole life, which holds the request."""
    wall, mono = time.time(), time.monotonic()
    r = scrape(url)
    r["mono"], r["wall"], r["mono_end"] = mono, wall, time.monotonic()
    return r


def fetch(url, compressed=False):
    """The body (uncompressed), or None."""
    argv = ["curl", "-s", "-f", "--max-time", "30"] + (["--compressed"] if compressed else [])
    r = subprocess.run(argv + [url], stdin=subprocess.DEVNULL, capture_output=True)
    return r.stdout.decode(errors="replace") if r.returncode == 0 else None


def url_base(url):
    """scheme://host:port of a URL."""
    return "/".join(url.split("/", 3)[:3])


def url_path(url):
    parts = url.split("/", 3)
    return "/" + (parts[3] if len(parts) > 3 else "")


def sched_policies(pid):
    """{policy name: number of processes} over pid and its descendants (/proc/PID/task/TID/children)."""
    names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE", "SCHED_FIFO", "SCHED_RR")
             if hasattr(os, n)}
    out, todo, seen = {}, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            name = names.get(os.sched_getscheduler(p), "policy %d" % os.sched_getscheduler(p))
        except OSError:
            continue
        out[name] = out.get(name, 0) + 1
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    todo.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def metric_sum(text, name, skip=()):
    """Sum of the samples of `name` in Prometheus / OpenMetrics text, leaving out those whose
    labels contain any string of `skip`; None if there are none."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name):len(name) + 1] not in ("{", " "):
            continue
        if any(x in line for x in skip):
            continue
        rest = line[len(name):]
        if rest.startswith("{"):   # skip the labels; values are quoted and may hold } or spaces
            i, quoted = 1, False
            while i < len(rest) and (quoted or rest[i] != "}"):
                if rest[i] == "\\":
                    i += 1
                elif rest[i] == '"':
                    quoted = not quoted
                i += 1
            rest = rest[i + 1:]
        try:
            total += float(rest.split()[0])
            seen = True
        except (IndexError, ValueError):
            pass
    return total if seen else None


def cpu_percent(a, b):
    dt = b["t"] - a["t"]
    return None if dt <= 0 else (b["ticks"] - a["ticks"]) / float(CLK_TCK) / dt * 100.0


# -- the run -----------------------------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.pids = {"sockwatch": args.sockwatch_pid, "node_exporter": args.node_pid}
        self.urls = {"sockwatch": args.sockwatch_url, "node_exporter": args.node_url}
        self.samples = {p: [] for p in PROCS}     # {t, ticks, rss, hwm, sockets}
        self.scrapes = {p: [] for p in PROCS}     # {t, code, ms, bytes, encoding, error}
        self.sockets = []                         # (t, sockets) at every sample time
        self.loads = []                           # (t, 1-minute load average) at every sample time
        self.keeper = TimeWaitKeeper(args.ready_file, args.populate_pid)
        self.first_generation = None
        self.refreshes = 0
        self.died = {}
        self.t0 = None
        self.t_end = None                         # monotonic end of the measured period
        self.scrape_every = args.scrape_interval
        self.probes = []           # {t, path, code, ms, bytes, encoding, error, mono, wall, mono_end, cpu_ticks}
        self.anchors = []          # (monotonic, wall, POLL_GAUGE value) at each fetch of it
        self.rebuilds = {}         # generation: (time_wait_started_monotonic, time_wait_done_monotonic)
        self.populate_sched = {}   # {scheduling policy: processes} of populate.py and its workers
        self.curl_lock = threading.Lock()   # one scrape, probe or gauge fetch at a time
        self.probe_stop = threading.Event()
        self.probe_error = None

    def keep_time_wait(self):
        doc = self.keeper.check()   # SIGUSR1 at a new generation: rebuild once this set expires
        if not doc:
            return
        gen = doc.get("generation", 1)
        if self.first_generation is None:
            self.first_generation = doc
        started, done = doc.get("time_wait_started_monotonic"), doc.get("time_wait_done_monotonic")
        if gen not in self.rebuilds and started is not None and done is not None:
            self.rebuilds[gen] = (started, done)
        self.refreshes = len(self.keeper.rebuilt)
        if self.keeper.gone:
            self.died.setdefault("populate.py", time.monotonic() - (self.t0 or time.monotonic()))

    def sample(self, t):
        socks = namespace_sockets()
        self.sockets.append((t, socks))
        try:
            self.loads.append((t, float(loadavg().split()[0])))
        except ValueError:
            self.loads.append((t, float("nan")))
        for p in PROCS:
            if p in self.died:
                continue
            try:
                ticks = cpu_ticks(self.pids[p])
                rss, hwm = memory_kib(self.pids[p])
            except (OSError, IndexError, ValueError):
                self.died[p] = t
                note("%s (pid %d) is gone at +%.0f s" % (p, self.pids[p], t))
                continue
            self.samples[p].append({"t": t, "ticks": ticks, "rss": rss, "hwm": hwm, "sockets": socks,
                                    "load1": self.loads[-1][1]})

    def scrape(self, p, t):
        if p in self.died:
            return
        with self.curl_lock:
            r = timed_scrape(self.urls[p])
        r["t"] = t
        r["path"] = url_path(self.urls[p])
        self.scrapes[p].append(r)
        if r["code"] != 200:
            note("%s scrape at +%.0f s: HTTP %s %s" % (p, t, r["code"], r["error"]))

    def fetch_anchor(self, text=None, mono=None, wall=None):
        """The start of the daemon's latest successful poll (POLL_GAUGE), kept with the times it
        was asked for; from the given /metrics text, or fetched (curl --compressed, not timed)."""
        if text is None:
            with self.curl_lock:
                mono, wall = time.monotonic(), time.time()
                text = fetch(url_base(self.args.sockwatch_url) + "/metrics", compressed=True)
        v = metric_sum(text, POLL_GAUGE) if text else None
        if v:
            self.anchors.append((time.monotonic() if mono is None else mono, time.time() if wall is None else wall, v))

    def probe(self, duration):
        """The latency probe (a thread of its own): sockwatch's URL and /healthz in turn, every
        --probe-interval seconds on average, until the end of the measured period."""
        try:
            a = self.args
            targets = [(url_path(a.sockwatch_url), a.sockwatch_url), ("/healthz", url_base(a.sockwatch_url) + "/healthz")]
            rng = random.Random()
            end = self.t0 + duration
            due = self.t0 + rng.uniform(0.0, a.probe_interval)
            next_anchor = self.t0
            n = failed = 0
            while not self.probe_stop.is_set() and due < end:
                if time.monotonic() >= next_anchor:
                    self.fetch_anchor()
                    next_anchor = time.monotonic() + ANCHOR_SECONDS
                if self.probe_stop.wait(max(0.0, due - time.monotonic())):
                    break
                if "sockwatch" in self.died:
                    break
                path, url = targets[n % len(targets)]
                n += 1
                with self.curl_lock:
                    try:
                        ticks = cpu_ticks(a.sockwatch_pid)
                    except (OSError, IndexError, ValueError):
                        ticks = None
                    r = timed_scrape(url)
                    try:
                        r["cpu_ticks"] = None if ticks is None else cpu_ticks(a.sockwatch_pid) - ticks
                    except (OSError, IndexError, ValueError):
                        r["cpu_ticks"] = None
                r["t"] = r["mono"] - self.t0
                r["path"] = path
                self.probes.append(r)
                if r["code"] != 200:
                    failed += 1
                    if failed <= 5:
                        note("probe of %s at +%.1f s: HTTP %s %s%s" % (path, r["t"], r["code"], r["error"],
                                                                    " (further failures not shown)" if failed == 5 else ""))
                # random gaps (0.5 to 1.5 intervals) so that the phase against the poll timer is uniform;
                # a tick missed (a slow answer, or a scrape holding the lock) is not made up
                due += a.probe_interval * rng.uniform(0.5, 1.5)
                while due < time.monotonic():
                    due += a.probe_interval * rng.uniform(0.5, 1.5)
        except Exception as e:   # the measurement goes on; the report says the probe stopped
            self.probe_error = "%s: %s" % (type(e).__name__, e)
            note("the probe stopped: %s" % self.probe_error)

    def measure(self):
        a = self.args
        duration = a.minutes * 60.0
        try:
            self.populate_sched = sched_policies(a.populate_pid)
        except OSError:
            pass
        self.t0 = time.monotonic()
        events = []   # (offset seconds, order, kind, process)
        k = 0
        while k * a.sample_interval < duration:
            events.append((k * a.sample_interval, 0, "sample", None))
            k += 1
        events.append((duration, 0, "sample", None))
        # Scrape k comes k * (interval + step) after the first: with the sweep, step is one
        # interval divided by the number of scrapes, so the scrapes' phase against the daemon's
        # poll timer (also every 15 s) moves through one whole interval over the run, and some
        # scrapes meet a poll in progress, as some Prometheus would.
        n = max(1, int((duration - 1.0) // a.scrape_interval))
        every = a.scrape_interval + (a.scrape_interval / n if a.sweep else 0.0)
        k = 0
        while 1.0 + k * every < duration:
            events.append((1.0 + k * every, 1, "scrape", "sockwatch"))
            if 1.0 + (k + 0.5) * every < duration:
                events.append((1.0 + (k + 0.5) * every, 1, "scrape", "node_exporter"))
            k += 1
        self.scrape_every = every
        events.sort()
        note("measuring for %.1f min: %d scrapes of each, %d samples%s"
             % (a.minutes, sum(1 for e in events if e[3] == "sockwatch"), sum(1 for e in events if e[2] == "sample"),
                ", a latency probe every %s s" % fmt(a.probe_interval, 2) if a.probe_interval > 0 else ""))
        last_progress = self.t0
        prober = None
        if a.probe_interval > 0:
            prober = threading.Thread(target=self.probe, args=(duration,), name="probe", daemon=True)
            prober.start()
        try:
            for offset, _, kind, proc in events:
                while True:
                    self.keep_time_wait()
                    left = self.t0 + offset - time.monotonic()
                    if left <= 0:
                        break
                    time.sleep(min(left, 1.0))
                t = time.monotonic() - self.t0
                if kind == "sample":
                    self.sample(t)
                else:
                    self.scrape(proc, t)
                if time.monotonic() - last_progress >= 300:
                    last_progress = time.monotonic()
                    note("+%.0f min: %s" % (t / 60.0, self.progress()))
                if all(p in self.died for p in PROCS):
                    break
        finally:
            self.probe_stop.set()
            if prober is not None:
                prober.join(30.0)
        self.t_end = time.monotonic()
        return self.t_end - self.t0

    def progress(self):
        out = []
        for p in PROCS:
            s = self.samples[p]
            if len(s) >= 2:
                out.append("%s %.2f%% CPU, %.1f MiB" % (p, cpu_percent(s[0], s[-1]), s[-1]["rss"] / 1024.0))
        return "; ".join(out)

    def sanity_check(self):
        """Socket sums from both exporters when the population is stable and the daemon has polled it."""
        a = self.args
        base = a.sockwatch_url.split("/", 3)
        metrics_url = "/".join(base[:3]) + "/metrics"
        deadline = time.monotonic() + 2 * TIME_WAIT_SECONDS + 30
        waited = False
        while time.monotonic() < deadline:
            self.keep_time_wait()
            doc = read_ready(a.ready_file) or {}
            started, done = doc.get("time_wait_started_monotonic"), doc.get("time_wait_done_monotonic")
            now = time.monotonic()
            if started is None or done is None:
                break
            if done + a.poll_interval + 1.0 <= now <= started + TIME_WAIT_SECONDS - 3.0:
                break
            if not waited:
                note("waiting for a stable population (a poll after the TIME_WAIT set is complete) for the socket count check")
                waited = True
            time.sleep(0.5)
        live = namespace_sockets()
        anchor_mono, anchor_wall = time.monotonic(), time.time()
        sw_text = fetch(metrics_url)
        if sw_text:   # one more poll-phase anchor (the only one when the probe is off)
            self.fetch_anchor(sw_text, anchor_mono, anchor_wall)
        ne_text = fetch(a.node_url)
        sw = metric_sum(sw_text, "sockwatch_tcp_sockets") if sw_text else None
        ne = metric_sum(ne_text, "node_tcp_connection_states",
                                                  # byte counts that tcpstat exports as two more "states"
                                                  ('state="rx_queued_bytes"', 'state="tx_queued_bytes"')) if ne_text else None
        return {"live": live, "sockwatch": sw, "node_exporter": ne,
                "sockwatch_metrics": sw_text is not None, "url": metrics_url}


# -- the report --------------------------------------------------------------------------------

def fmt(v, digits=2, unit=""):
    if v is None:
        return "n/a"
    return ("%." + str(digits) + "f%s") % (v, unit)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def summarize(run, window_minutes):
    """Per process: CPU over the run and the window, RSS figures, scrape latency percentiles."""
    out = {}
    for p in PROCS:
        s = run.samples[p]
        lat = [x["ms"] for x in run.scrapes[p] if x["code"] == 200 and x["ms"] is not None]
        d = {"samples": len(s), "scrapes": len(run.scrapes[p]),
             "failed": sum(1 for x in run.scrapes[p] if x["code"] != 200)}
        if s:
            end = s[-1]
            wstart_t = end["t"] - window_minutes * 60.0
            win = [x for x in s if x["t"] >= wstart_t - 1.0]
            d.update({
                "cpu": cpu_percent(s[0], end) if len(s) > 1 else None,
                "cpu_window": cpu_percent(win[0], end) if len(win) > 1 else None,
                "cpu_start_s": s[0]["ticks"] / float(CLK_TCK),   # start-up and first poll(s)
                "cpu_s": (end["ticks"] - s[0]["ticks"]) / float(CLK_TCK),
                "rss_end": end["rss"] / 1024.0,
                "hwm_end": end["hwm"] / 1024.0 if end["hwm"] else None,
                "rss_first": s[0]["rss"] / 1024.0,
                "rss_win_first": win[0]["rss"] / 1024.0,
                "rss_win_min": min(x["rss"] for x in win) / 1024.0,
                "rss_win_max": max(x["rss"] for x in win) / 1024.0,
                "rss_growth": (end["rss"] - win[0]["rss"]) * 100.0 / win[0]["rss"],
                "rss_spread": (max(x["rss"] for x in win) - min(x["rss"] for x in win)) * 100.0
                              / min(x["rss"] for x in win),
                "rss_slope": slope_per_hour([(x["t"], x["rss"] / 1024.0) for x in win]),
                "window_s": end["t"] - win[0]["t"],
            })
        for q in (50, 90, 99):
            d["p%d" % q] = percentile(lat, q)
        d["max"] = max(lat) if lat else None
        d["bytes"] = statistics.median([x["bytes"] for x in run.scrapes[p] if x["code"] == 200] or [0])
        encs = sorted(set(x["encoding"] for x in run.scrapes[p] if x["code"] == 200))
        d["encoding"] = ", ".join(encs) or "n/a"
        out[p] = d
    return out


def latency_summary(samples):
    """Samples, failures, percentiles and how many were over TARGET_SCRAPE_MS, of scrapes or probes."""
    lat = [x["ms"] for x in samples if x["code"] == 200 and x["ms"] is not None]
    d = {"n": len(samples), "failed": len(samples) - len(lat),
         "over": sum(1 for v in lat if v > TARGET_SCRAPE_MS), "max": max(lat) if lat else None}
    for q in (50, 90, 99, 99.9):
        d["p%g" % q] = percentile(lat, q)
    return d


def probe_cpu(run, elapsed):
    """(seconds, % of one core over the run) of sockwatch CPU time while the probe's requests
    were in flight, or None."""
    ticks = [x["cpu_ticks"] for x in run.probes if x.get("cpu_ticks") is not None]
    if not ticks or elapsed <= 0:
        return None
    secs = sum(ticks) / float(CLK_TCK)
    return secs, secs / elapsed * 100.0


def attribute(run):
    """In every scrape and probe with its curl's times: rebuild, the generation whose TIME_WAIT
    build (populate.py) the curl process overlapped, or None; phase, the seconds since the latest
    poll start when it began, or None without a POLL_GAUGE anchor; after_poll, whether it
    overlapped the first AFTER_POLL_SECONDS of a poll. The polls keep to the interval without
    drift, so any anchor would do; each sample takes the latest one fetched before it."""
    period = run.args.poll_interval
    windows = sorted(run.rebuilds.items())
    anchors = sorted(run.anchors)
    everything = run.probes + [x for p in PROCS for x in run.scrapes[p]]
    for r in everything:
        if "mono" not in r:
            continue
        r["rebuild"] = next((g for g, (a, b) in windows if r["mono"] <= b and r["mono_end"] >= a), None)
        r["phase"] = r["after_poll"] = None
        if anchors and period > 0:
            before = [x for x in anchors if x[0] <= r["mono"]]
            anchor = before[-1] if before else anchors[0]
            r["phase"] = (r["wall"] - anchor[2]) % period
            r["after_poll"] = r["phase"] < AFTER_POLL_SECONDS or r["phase"] + (r["mono_end"] - r["mono"]) >= period


def anchor_spread_ms(run):
    """How far the anchors' poll starts stray from the first one's grid (ms), or None."""
    period = run.args.poll_interval
    if len(run.anchors) < 2 or period <= 0:
        return None
    first = run.anchors[0][2]
    return max(abs((a[2] - first + period / 2.0) % period - period / 2.0) for a in run.anchors) * 1000.0


def cpu_segments(samples):
    """(CPU % of one core, mean load1) per SEGMENT_SECONDS of samples."""
    out, start = [], 0
    for i in range(1, len(samples)):
        if samples[i]["t"] - samples[start]["t"] >= SEGMENT_SECONDS - 1.0 or i == len(samples) - 1:
            part = samples[start:i + 1]
            out.append((cpu_percent(samples[start], samples[i]), statistics.fmean(x["load1"] for x in part)))
            start = i
    return out


def verdict(ok):
    return "n/a" if ok is None else ("meets" if ok else "misses")


def report(args, run, elapsed, stats, check, started_at, load_start, load_end, window_minutes):
    sw, ne = stats["sockwatch"], stats["node_exporter"]
    m = machine()
    pop = run.first_generation or {}
    socks = [n for _, n in run.sockets]
    path = args.sockwatch_url.split("/", 3)
    path = "/" + (path[3] if len(path) > 3 else "")
    L = []
    L.append("# SockWatch daemon benchmark: %s sockets, %s s poll, side by side with node_exporter tcpstat"
             % ("{:,}".format(args.sockets), fmt(args.poll_interval, 0)))
    L.append("")
    L.append("- Date: %s" % started_at.strftime("%Y-%m-%d %H:%M:%S %Z"))
    L.append("- Machine: %d cores (%s), %s memory, kernel %s; load average %s at the start, %s at the end"
             % (m["nproc"], m["cpu"], m["memory"], m["kernel"], load_start, load_end))
    L.append("- Command: `%s`" % args.command)
    L.append("- sockwatch: `%s run --listen-address %s --poll-interval 15s --netns self`%s; scraped at `%s`"
             % (args.binary, args.sockwatch_url.split("/")[2],
                " (published from a clean export of %s)" % args.revision[:12] if args.revision else "", path))
    L.append("- node_exporter: `%s --collector.disable-defaults --collector.tcpstat` (%s)"
             % (args.node_exporter, version_of([args.node_exporter, "--version"])))
    if pop:
        counts = pop.get("counts", {})
        L.append("- Population (populate.py, built in %.1f s): %s (total %d)"
                 % (pop.get("seconds", 0), ", ".join("%s %d" % kv for kv in sorted(counts.items())), pop.get("total", 0)))
    L.append("- Run: %.1f min measured. Scrapes: sockwatch every %s s, node_exporter half an interval after "
             "each, so the two never overlap%s. Samples every %s s. \"Last\" figures: the last %s min."
             % (elapsed / 60.0, fmt(run.scrape_every, 3),
                "; the %s s interval is stretched by %s / (number of scrapes), so that the scrapes' phase against "
                "the daemon's own %s s poll timer sweeps one whole interval and some scrapes meet a poll in progress"
                % (fmt(args.scrape_interval, 0), fmt(args.scrape_interval, 0), fmt(args.poll_interval, 0))
                if args.sweep else "",
                fmt(args.sample_interval, 0), fmt(window_minutes, 1)))
    if args.ready_times:
        ready = benchlib.read_json(args.ready_times)
        if ready:
            L.append("- READY=1 after exec (bench/ready.py, NOTIFY_SOCKET as systemd sets it, %d sockets in the namespace, "
                     "before the measured run): median %s ms over %d starts (%s ms); target <= 500 ms: %s"
                     % (ready["sockets"], fmt(ready["median_ms"], 1), len(ready["ready_ms"]),
                        ", ".join(fmt(x, 1) for x in ready["ready_ms"]), "met" if ready["median_ms"] <= 500 else "missed"))
    if socks:
        L.append("- Sockets in the namespace at the samples: min %d, median %d, max %d; TIME_WAIT set rebuilt %d time(s) during the run"
                 % (min(socks), int(statistics.median(socks)), max(socks), run.refreshes))
    if run.loads:
        loads = [x for _, x in run.loads]
        L.append("- Other load: the 1-minute load average at the samples was %.2f on average (min %.2f, max %.2f) "
                 "on %d cores" % (statistics.fmean(loads), min(loads), max(loads), m["nproc"]))
    L.append("")
    L.append("| | sockwatch | node_exporter | sockwatch / node_exporter |")
    L.append("|---|---:|---:|---:|")
    rows = [
        ("CPU, average over the run (% of one core)", "cpu", 3, "%"),
        ("CPU, average over the last %s min" % fmt(window_minutes, 0 if window_minutes == int(window_minutes) else 1), "cpu_window", 3, "%"),
        ("CPU time over the run (s)", "cpu_s", 2, ""),
        ("CPU time before the first sample: start-up and first poll (s)", "cpu_start_s", 2, ""),
        ("RSS at the end (MiB)", "rss_end", 1, ""),
        ("peak RSS, VmHWM (MiB)", "hwm_end", 1, ""),
        ("RSS min over the last window (MiB)", "rss_win_min", 1, ""),
        ("RSS max over the last window (MiB)", "rss_win_max", 1, ""),
        ("RSS growth over the last window, end vs start (%)", "rss_growth", 1, ""),
        ("RSS swing over the last window, (max - min) / min (%)", "rss_spread", 1, ""),
        ("RSS trend over the last window, least squares (MiB/h)", "rss_slope", 2, ""),
        ("scrape latency p50 (ms)", "p50", 2, ""),
        ("scrape latency p90 (ms)", "p90", 2, ""),
        ("scrape latency p99 (ms)", "p99", 2, ""),
        ("scrape latency max (ms)", "max", 2, ""),
    ]
    for label, key, digits, unit in rows:
        a, b = sw.get(key), ne.get(key)
        r = ratio(a, b) if key not in ("rss_growth", "rss_spread", "rss_slope", "cpu_start_s") else None
        L.append("| %s | %s | %s | %s |" % (label, fmt(a, digits, unit), fmt(b, digits, unit),
                                          "" if r is None else "%.2fx" % r))
    L.append("| scrapes (failed) | %d (%d) | %d (%d) | |" % (sw["scrapes"], sw["failed"], ne["scrapes"], ne["failed"]))
    L.append("| response body, median bytes (encoding) | %d (%s) | %d (%s) | |"
             % (sw["bytes"], sw["encoding"], ne["bytes"], ne["encoding"]))
    L.append("")
    short = elapsed < 29.5 * 60
    L.append("| target (the daemon issue) | sockwatch | result |")
    L.append("|---|---:|---|")
    pc = probe_cpu(run, elapsed)
    L.append("| average CPU <= %.0f%% of one core | %s | %s%s |"
             % (TARGET_CPU_PERCENT, fmt(sw.get("cpu"), 3, "%"), verdict(None if sw.get("cpu") is None else sw["cpu"] <= TARGET_CPU_PERCENT),
                " (includes serving the latency probe, about %.2f%% by the estimate in the notes)" % pc[1] if pc else ""))
    rss_note = " (run shorter than 30 min: indicative)" if short else ""
    L.append("| RSS <= %.0f MiB after 30 min | %s MiB | %s%s |"
             % (TARGET_RSS_MIB, fmt(sw.get("rss_end"), 1), verdict(None if sw.get("rss_end") is None else sw["rss_end"] <= TARGET_RSS_MIB), rss_note))
    g, sw_ = sw.get("rss_growth"), sw.get("rss_spread")
    if g is None:
        flat = "n/a"
    elif g <= FLAT_PERCENT and sw_ <= FLAT_SWING_PERCENT:
        flat = "meets"
    elif g <= FLAT_PERCENT:
        flat = "misses: no upward trend, but it swings %.0f%%" % sw_
    else:
        flat = "misses: grows"
    L.append("| RSS flat over the last 20 min (here: ends <= %.0f%% above the window's start, swings <= %.0f%%) "
             "| growth %s%%, swing %s%% (min %s, max %s MiB) | %s%s |"
             % (FLAT_PERCENT, FLAT_SWING_PERCENT, fmt(g, 1), fmt(sw_, 1), fmt(sw.get("rss_win_min"), 1),
                fmt(sw.get("rss_win_max"), 1), flat, rss_note))
    pm = latency_summary([x for x in run.probes if x["path"] == path]) if run.probes else None
    probed = pm is not None and pm["n"] > pm["failed"]
    if probed:
        v = pm["p99"]
        L.append("| scrape < %.0f ms at %s sockets (p99 of the probe's %d `%s` samples, one every %s s on average; "
                 "see \"Scrape latency, probe\") | %s ms | %s%s |"
                 % (TARGET_SCRAPE_MS, "{:,}".format(args.sockets), pm["n"] - pm["failed"], path,
                    fmt(2 * args.probe_interval, 2), fmt(v, 2), verdict(v < TARGET_SCRAPE_MS),
                    "" if path == "/metrics" else " (path %s, not /metrics)" % path))
    for q in ("p99", "max"):
        v = sw.get(q)
        L.append("| scrape < %.0f ms at %s sockets (%s) | %s ms | %s%s |"
                 % (TARGET_SCRAPE_MS, "{:,}".format(args.sockets),
                    "%s of the %d %s-s scrapes" % (q, sw["scrapes"] - sw["failed"], fmt(args.scrape_interval, 0)) if probed else q,
                    fmt(v, 2), verdict(None if v is None else v < TARGET_SCRAPE_MS),
                    "" if path == "/metrics" else " (path %s, not /metrics)" % path))
    L.append("")
    L.append("Socket count check at the end (population stable, the daemon's latest poll taken after it was):")
    if check["sockwatch_metrics"]:
        L.append("sum of `sockwatch_tcp_sockets` %s, sum of `node_tcp_connection_states` %s, "
                 "sockets in the namespace (sockstat) %d."
                 % (fmt(check["sockwatch"], 0), fmt(check["node_exporter"], 0), check["live"]))
    else:
        L.append("the daemon serves no `/metrics` yet (%s); `node_tcp_connection_states` sums to %s, "
                 "the namespace holds %d." % (check["url"], fmt(check["node_exporter"], 0), check["live"]))
    L.append("")
    L.append("Notes:")
    L.append("- CPU figures are each process's own CPU time (utime + stime of all its threads from "
             "/proc/PID/stat, %d ticks/s), sampled every %s s, so the time other work takes on this machine's %d "
             "cores is not counted in them (contention for caches and the scheduler can still move them a "
             "little: see the per-segment figures below). Scrape latencies are wall-clock (curl's time_total, a new connection "
             "each time) and can be disturbed by that other load." % (CLK_TCK, fmt(args.sample_interval, 0), m["nproc"]))
    for p in PROCS:
        segs = cpu_segments(run.samples[p])
        if len(segs) > 1:
            L.append("- %s CPU per %.0f min (%% of one core, with the mean 1-minute load average): %s."
                     % (p, SEGMENT_SECONDS / 60.0, ", ".join("%.2f%% (%.1f)" % x for x in segs)))
    L.append("- Both processes are scraped at the same rate, so both CPU figures include serving the scrapes; "
             "node_exporter dumps the socket table on every scrape, the daemon every %s s whatever the "
             "scrapes, and answers from its latest poll." % fmt(args.poll_interval, 0))
    L.append("- TIME_WAIT sockets live 60 s: populate.py rebuilds its %s TIME_WAIT sockets as each set "
             "expires (SIGUSR1 at every generation), so about that many sockets go and come every minute, and a "
             "poll can fall in the few seconds between one set expiring and the next being built (the "
             "min above). The rebuilding costs CPU in populate.py, not in the measured processes."
             % ("{:,}".format(pop.get("plan", {}).get("time_wait", 0))))
    pol = run.populate_sched
    if pol:
        n = sum(pol.values())
        mix = ", ".join("%s %d" % kv for kv in sorted(pol.items()))
        if set(pol) == {"SCHED_IDLE"}:
            L.append("- populate.py ran in the idle scheduling class (bench/daemon.sh starts it with `chrt --idle 0`; "
                     "SCHED_IDLE in all its %d processes at the start, by sched_getscheduler), so its bursts, the "
                     "TIME_WAIT rebuilds above all, only get the CPU time the measured processes and curl leave. "
                     "What the kernel does for its sockets outside its processes (softirqs, the timers that expire "
                     "TIME_WAIT sockets) is not under that class." % n)
        else:
            L.append("- populate.py's %d processes were not all in the idle scheduling class at the start (%s): its "
                     "bursts compete for the CPU with the measured processes." % (n, mix))
    L.append("- Sockets are counted from /proc/net/sockstat{,6} (TCP inuse of both families plus tw).")
    L.append("- RSS is VmRSS. \"Growth\" compares the last sample with the first sample of the last window; "
             "\"flat\" is read here as ending at most %.0f%% above the window's first sample and a max at most "
             "%.0f%% above the min; the swing is what tells a sawtooth from a flat line, the trend what tells "
             "it from a leak." % (FLAT_PERCENT, FLAT_SWING_PERCENT))
    L.append("- Percentiles interpolate between closest ranks; with %d scrapes p99 sits between the two "
             "slowest." % sw["scrapes"])
    for p in PROCS:
        slow = sorted((x for x in run.scrapes[p] if x["ms"] is not None), key=lambda x: -x["ms"])[:3]
        if slow:
            L.append("- Slowest %s scrapes: %s." % (p, ", ".join("%.1f ms at +%.0f s" % (x["ms"], x["t"]) for x in slow)))
    if run.died:
        L.append("- Gone before the end: %s." % ", ".join("%s at +%.0f s" % kv for kv in sorted(run.died.items())))
    try:
        with open(args.sockwatch_log, errors="replace") as f:
            lines = f.read().splitlines()
        L.append("- The daemon logged %d lines (%s)." % (len(lines), args.sockwatch_log))
    except OSError:
        pass
    if pc:
        L.append("- sockwatch also serves the probe (%d requests, below), so its CPU figures above include that: it "
                 "used %.2f s of CPU while the probe's requests were in flight, %.3f%% of one core over the run "
                 "(from /proc/PID/stat ticks read around each request: rough, and it takes in any other work of "
                 "the daemon's at those moments; `--probe-interval 0` measures without the probe)."
                 % (len(run.probes), pc[0], pc[1]))
    L.append("- Samples and scrapes: `%s` (t_s from the first sample; kind sample: cpu_ticks, rss_kib, "
             "hwm_kib, sockets, load1 (the 1-minute load average); kind scrape: latency_ms, http_code, bytes; kind "
             "probe: the same, process sockwatch; for scrapes and probes also path, unix_s (wall clock at the start), "
             "poll_phase_s (seconds since sockwatch's latest poll start), time_wait_rebuild (the populate.py "
             "generation whose TIME_WAIT build it overlapped) and after_poll (1 if within %s s after a poll start))."
             % (os.path.basename(args.csv), fmt(AFTER_POLL_SECONDS, 0)))
    L.extend(probe_section(args, run, elapsed, path))
    return "\n".join(L) + "\n"


def probe_section(args, run, elapsed, path):
    """The "Scrape latency, probe" section and the attribution of the slow samples."""
    L = [""]
    L.append("## Scrape latency, probe")
    L.append("")
    if not run.probes:
        L.append("The probe was off (`--probe-interval 0`)%s." % (": %s" % run.probe_error if run.probe_error else ""))
    else:
        span = run.probes[-1]["t"] - run.probes[0]["t"]
        L.append("Besides the %s-s scrapes, a probe scraped sockwatch %d times over %s min, one request every %s s on "
                 "average (gaps drawn uniformly from %s to %s s, so that the samples' phase against the %s s poll timer "
                 "is uniform), alternating between `%s` (the URL and `Accept-Encoding: gzip` of the %s-s scrapes) and "
                 "`/healthz`, with the same curl, never while a %s-s scrape of either exporter was in flight. "
                 "`/healthz` reads nothing, so its latency is the floor set by the HTTP stack and the machine; "
                 "what `%s` takes above it is the daemon's own."
                 % (fmt(args.scrape_interval, 0), len(run.probes), fmt(span / 60.0, 1), fmt(args.probe_interval, 2),
                    fmt(args.probe_interval * 0.5, 2), fmt(args.probe_interval * 1.5, 2), fmt(args.poll_interval, 0),
                    path, fmt(args.scrape_interval, 0), fmt(args.scrape_interval, 0), path))
        if run.probe_error:
            L.append("")
            L.append("The probe stopped early: %s." % run.probe_error)
        L.append("")
        L.append("| path | samples (failed) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | over %.0f ms |" % TARGET_SCRAPE_MS)
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for p in dict.fromkeys([path, "/healthz"]):
            d = latency_summary([x for x in run.probes if x["path"] == p])
            L.append("| `%s` | %d (%d) | %s | %s | %s | %s | %s | %d |"
                     % (p, d["n"], d["failed"], fmt(d["p50"]), fmt(d["p90"]), fmt(d["p99"]), fmt(d["p99.9"]),
                        fmt(d["max"]), d["over"]))
    L.append("")
    L.append("### Slow sockwatch samples (over %.0f ms): TIME_WAIT rebuild or poll" % TARGET_SCRAPE_MS)
    L.append("")
    groups = []
    if run.probes:
        for p in dict.fromkeys([path, "/healthz"]):
            groups.append(("probe `%s`" % p, [x for x in run.probes if x["path"] == p]))
    groups.append(("%s-s scrapes `%s`" % (fmt(args.scrape_interval, 0), path), run.scrapes["sockwatch"]))
    L.append("| samples | all | over %.0f ms | in a TIME_WAIT rebuild | within %s s after a poll start | both | neither | poll phase unknown |"
             % (TARGET_SCRAPE_MS, fmt(AFTER_POLL_SECONDS, 0)))
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    slow_all = []
    for label, xs in groups:
        slow = [x for x in xs if x["code"] == 200 and x["ms"] is not None and x["ms"] > TARGET_SCRAPE_MS]
        slow_all += [(label, x) for x in slow]
        rb = [x for x in slow if x.get("rebuild") is not None]
        ap = [x for x in slow if x.get("after_poll")]
        both = [x for x in rb if x.get("after_poll")]
        neither = [x for x in slow if x.get("rebuild") is None and x.get("after_poll") is False]
        unknown = [x for x in slow if x.get("rebuild") is None and x.get("after_poll") is None]
        L.append("| %s | %d | %d | %d | %d | %d | %d | %d |"
                 % (label, len(xs), len(slow), len(rb), len(ap), len(both), len(neither), len(unknown)))
    L.append("")
    # how much of the time the two windows cover, to weigh the counts against chance
    t0, t1 = run.t0, run.t_end
    covered = sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in run.rebuilds.values()) if t0 is not None and t1 else 0.0
    inside = [(g, b - a) for g, (a, b) in sorted(run.rebuilds.items())
              if t0 is not None and t1 and b >= t0 and a <= t1]
    everything = run.probes + run.scrapes["sockwatch"]
    known = [x for x in everything if x.get("after_poll") is not None]
    spread = anchor_spread_ms(run)
    L.append("For scale: %d TIME_WAIT rebuild(s) of populate.py (%s s each, median) fell in the measured period and "
             "covered %s of it; the first %s s after each poll start is %s of the time. Of all %d sockwatch samples "
             "above, %s overlapped a rebuild and %s the first %s s after a poll start. A sample counts as in a "
             "window when its curl process (start to exit) overlaps it. Rebuild windows: time_wait_started_monotonic to "
             "time_wait_done_monotonic of every generation in populate.py's ready file. Poll starts: `%s` fetched %d "
             "time(s) (%s), the latest one fetched before each sample (else the first) taken as its anchor."
             % (len(inside), fmt(statistics.median([d for _, d in inside]), 2) if inside else "n/a",
                fmt(covered * 100.0 / (t1 - t0), 1, "%") if t0 is not None and t1 and t1 > t0 else "n/a",
                fmt(AFTER_POLL_SECONDS, 0), fmt(AFTER_POLL_SECONDS * 100.0 / args.poll_interval, 1, "%"),
                len(everything),
                fmt(sum(1 for x in everything if x.get("rebuild") is not None) * 100.0 / len(everything), 1, "%") if everything else "n/a",
                fmt(sum(1 for x in known if x["after_poll"]) * 100.0 / len(known), 1, "%") if known else "n/a (no poll phase)",
                fmt(AFTER_POLL_SECONDS, 0), POLL_GAUGE, len(run.anchors),
                "their poll starts sit on one %s s grid within %s ms" % (fmt(args.poll_interval, 0), fmt(spread, 1))
                if spread is not None else "one anchor for the whole run" if run.anchors else "none found: no phases"))
    if slow_all:
        L.append("")
        shown = sorted(slow_all, key=lambda lx: -lx[1]["ms"])[:20]
        L.append("%s, in time order: %s." % ("The 20 slowest of %d" % len(slow_all) if len(slow_all) > 20 else "All of them",
                 "; ".join("%.1f ms at +%.1f s, %s (%s%s)"
                           % (x["ms"], x["t"], label,
                              "poll phase %s s" % fmt(x["phase"], 2) if x.get("phase") is not None else "poll phase unknown",
                              ", rebuild %d" % x["rebuild"] if x.get("rebuild") is not None else "")
                           for label, x in sorted(shown, key=lambda lx: lx[1]["t"]))))
    return L


def write_csv(path, run):
    def timing(s):   # path, unix_s, poll_phase_s, time_wait_rebuild, after_poll
        return (s.get("path", ""), "%.3f" % s["wall"] if "wall" in s else "",
                "" if s.get("phase") is None else "%.3f" % s["phase"],
                "" if s.get("rebuild") is None else s["rebuild"],
                "" if s.get("after_poll") is None else int(s["after_poll"]))
    rows = []
    for p in PROCS:
        for s in run.samples[p]:
            rows.append((s["t"], "sample", p, s["ticks"], s["rss"], s["hwm"], s["sockets"], "", "", "", s["load1"],
                         "", "", "", "", ""))
        for s in run.scrapes[p]:
            rows.append((s["t"], "scrape", p, "", "", "", "",
                         "" if s["ms"] is None else "%.3f" % s["ms"], s["code"], s["bytes"], "") + timing(s))
    for s in run.probes:
        rows.append((s["t"], "probe", "sockwatch", "", "", "", "",
                     "" if s["ms"] is None else "%.3f" % s["ms"], s["code"], s["bytes"], "") + timing(s))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    with open(path, "w") as f:
        f.write("t_s,kind,process,cpu_ticks,rss_kib,hwm_kib,sockets,latency_ms,http_code,bytes,load1,"
                "path,unix_s,poll_phase_s,time_wait_rebuild,after_poll\n")
        for r in rows:
            f.write("%.3f,%s\n" % (r[0], ",".join(str(x) for x in r[1:])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockwatch-pid", type=int, required=True)
    ap.add_argument("--node-pid", type=int, required=True)
    ap.add_argument("--populate-pid", type=int, required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--sockwatch-url", required=True)
    ap.add_argument("--node-url", required=True)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--scrape-interval", type=float, default=15.0)
    ap.add_argument("--sample-interval", type=float, default=30.0)
    ap.add_argument("--no-sweep", dest="sweep", action="store_false",
                    help="scrape exactly every --scrape-interval (default: a little slower, so that the "
                         "scrapes' phase against the daemon's polls covers one whole interval)")
    ap.add_argument("--poll-interval", type=float, default=15.0, help="the daemon's, for the report")
    ap.add_argument("--probe-interval", type=float, default=2.0,
                    help="the latency probe: a request to sockwatch every S seconds on average, its URL and "
                         "/healthz in turn (default 2; 0: no probe)")
    ap.add_argument("--window-minutes", type=float, default=20.0,
                    help="the \"last\" window (default 20; at most two thirds of a shorter run)")
    ap.add_argument("--sockets", type=int, default=100000)
    ap.add_argument("--binary", default="sockwatch")
    ap.add_argument("--revision", default="")
    ap.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    ap.add_argument("--sockwatch-log", default="")
    ap.add_argument("--ready-times", default="", help="bench/ready.py's output, for the report")
    ap.add_argument("--command", default="bench/daemon.sh")
    ap.add_argument("--out", required=True)
    ap.add_argument("--csv", required=True)
    args = ap.parse_args()
    if args.minutes <= 0 or args.scrape_interval <= 0 or args.sample_interval <= 0:
        ap.error("--minutes, --scrape-interval and --sample-interval must be positive")
    if args.probe_interval < 0:
        ap.error("--probe-interval must be 0 (no probe) or positive")
    window = min(args.window_minutes, args.minutes * 2.0 / 3.0)

    started_at = datetime.datetime.now(datetime.timezone.utc)
    load_start = loadavg()
    run = Run(args)
    elapsed = run.measure()
    load_end = loadavg()
    check = run.sanity_check()
    attribute(run)
    stats = summarize(run, window)

    sw, ne = stats["sockwatch"], stats["node_exporter"]
    print("sockwatch_tcp_sockets sum: %s   node_tcp_connection_states sum: %s   namespace: %d%s"
          % (fmt(check["sockwatch"], 0), fmt(check["node_exporter"], 0), check["live"],
             "" if check["sockwatch_metrics"] else "   (no /metrics on the daemon yet)"))
    for p, d in stats.items():
        print("%-13s CPU %s%% (last %s min %s%%)  RSS end %s MiB, window %s..%s MiB, growth %s%%  "
              "scrape ms p50 %s p90 %s p99 %s max %s  (%d scrapes, %d failed)"
              % (p, fmt(d.get("cpu"), 3), fmt(window, 1), fmt(d.get("cpu_window"), 3), fmt(d.get("rss_end"), 1),
                 fmt(d.get("rss_win_min"), 1), fmt(d.get("rss_win_max"), 1), fmt(d.get("rss_growth"), 1),
                 fmt(d["p50"]), fmt(d["p90"]), fmt(d["p99"]), fmt(d["max"]), d["scrapes"], d["failed"]))
    print("ratios sockwatch/node_exporter: CPU %s, RSS end %s, latency p50 %s p90 %s p99 %s max %s"
          % tuple(fmt(ratio(sw.get(k), ne.get(k)), 3) for k in ("cpu", "rss_end", "p50", "p90", "p99", "max")))
    probe_paths = list(dict.fromkeys(x["path"] for x in run.probes))
    for p in probe_paths:
        d = latency_summary([x for x in run.probes if x["path"] == p])
        print("probe %-8s ms p50 %s p90 %s p99 %s p99.9 %s max %s  (%d samples, %d failed, %d over %.0f ms)"
              % (p, fmt(d["p50"]), fmt(d["p90"]), fmt(d["p99"]), fmt(d["p99.9"]), fmt(d["max"]), d["n"], d["failed"],
                 d["over"], TARGET_SCRAPE_MS))

    text = report(args, run, elapsed, stats, check, started_at, load_start, load_end, window)
    with open(args.out, "w") as f:
        f.write(text)
    write_csv(args.csv, run)
    note("wrote %s and %s" % (args.out, args.csv))
    failed = run.died or any(d["failed"] for d in stats.values()) or any(x["code"] != 200 for x in run.probes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
