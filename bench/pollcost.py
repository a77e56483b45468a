#!/usr/bin/env python3
"""Several daemons side by side on one population: the CPU and RSS of each poll, per binary.

Run by bench/pollcost.sh inside the population's namespace. Every daemon (one per --daemon
LABEL=PATH) runs `sockwatch run --poll-interval S --netns self` with SOCKWATCH_DEBUG_MEMORY=1
(the Debug lines of each poll's cost: the pipeline, the metrics view, the publish, the release
between polls, in wall and process CPU), its start staggered by S / (number of daemons) so that
no two polls overlap. Each daemon is scraped (gzip) every S, half a slot after its poll, and its
utime + stime (/proc/PID/stat) and RSS (/proc/PID/smaps_rollup) are sampled then: the CPU delta
between two samples is one poll, its scrape and whatever the process did between (timers,
Kestrel). The first --skip samples (start-up, the cold owner scan) are left out.

The report gives per binary the median and mean of those figures and, for every stage of
`sockwatch_poll_stage_duration_seconds`, the median wall; with two or more daemons, each one's
ratio to the first. Same population, same window: an A/B that the machine's other load disturbs
alike (a whole-process % over a window is not such a comparison: a time_wait rebuild that falls
in one daemon's poll and not the other's moves it).
"""
import argparse
import gzip
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

COST = re.compile(r"poll cost, wall / process CPU: pipeline ([\d.]+) / ([\d.]+) ms, metrics view ([\d.]+) / ([\d.]+) ms, publish ([\d.]+) / ([\d.]+) ms")
GCS = re.compile(r"\(GC #(\d+)\)")
RELEASED = re.compile(r"released between polls in ([\d.]+) ms, process CPU ([\d.]+) ms")
STAGE = re.compile(r'^sockwatch_poll_stage_duration_seconds\{[^}]*stage="(\w+)"[^}]*\} ([\d.eE+-]+)', re.M)


def rss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1])
    return None


def scrape(url):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return body.decode("utf-8", "replace")


class Daemon:
    def __init__(self, label, binary, port, log_dir, interval, trace):
        self.label, self.binary, self.port, self.trace = label, binary, port, trace
        self.log_path = os.path.join(log_dir, "pollcost-%s.log" % label)
        self.interval = interval
        self.proc = None
        self.samples = []   # (t, cpu_ticks, rss_kib, {stage: seconds})

    def start(self):
        env = dict(os.environ, SOCKWATCH_DEBUG_MEMORY="1", SOCKWATCH_TRACE=self.trace)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "run", "--listen-address", "127.0.0.1:%d" % self.port,
             "--poll-interval", "%gs" % self.interval, "--netns", "self"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.started = time.monotonic()

    def sample(self):
        stages = {}
        try:
            for name, value in STAGE.findall(scrape("http://127.0.0.1:%d/metrics" % self.port)):
                stages[name] = float(value)
        except OSError:
            pass
        self.samples.append((time.monotonic(), benchlib.cpu_ticks(self.proc.pid), rss_kib(self.proc.pid), stages))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            benchlib.stop_process(self.proc)
        self.log.close()

    def costs(self):
        pipeline, view, publish, release, gcs = [], [], [], [], []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = COST.search(line)
                if m:
                    pipeline.append(float(m.group(2)))
                    view.append(float(m.group(4)))
                    publish.append(float(m.group(6)))
                m = RELEASED.search(line)
                if m:
                    release.append(float(m.group(2)))
                m = GCS.search(line)
                if m:
                    gcs.append(int(m.group(1)))
        # collections a poll: the GC index (the last collection's) after each poll, differenced
        return pipeline, view, publish, release, [b - a for a, b in zip(gcs, gcs[1:])]


def fmt(x, digits=1):
    return "-" if x is None else ("%.*f" % (digits, x))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daemon", action="append", required=True, metavar="LABEL=PATH")
    ap.add_argument("--polls", type=int, default=20)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--skip", type=int, default=2)
    ap.add_argument("--port", type=int, default=9871)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--populate-pid", type=int, required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--trace", default="off", choices=["auto", "on", "off"],
                    help="SOCKWATCH_TRACE of every daemon (default off: the service's poll-only default, as bench/daemon.sh)")
    ap.add_argument("--command", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    keeper = benchlib.TimeWaitKeeper(a.ready_file, a.populate_pid)
    keeper.start()
    daemons = []
    for i, spec in enumerate(a.daemon):
        label, _, path = spec.partition("=")
        daemons.append(Daemon(label, path, a.port + i, a.log_dir, a.interval, a.trace))
    slot = a.interval / len(daemons)
    load_start = benchlib.loadavg()
    t0 = time.monotonic()
    try:
        for i, d in enumerate(daemons):
            d.start()
            time.sleep(slot)
        # sample each half a slot after its own poll
        first = t0 + slot / 2
        for k in range(a.polls + a.skip + 1):
            for i, d in enumerate(daemons):
                at = first + k * a.interval + i * slot + slot / 2
                delay = at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if d.proc.poll() is not None:
                    raise SystemExit("bench/pollcost.py: %s exited; see %s" % (d.label, d.log_path))
                d.sample()
    finally:
        for d in daemons:
            d.stop()
        keeper.done.set()
    load_end = benchlib.loadavg()

    rows = []
    for d in daemons:
        s = d.samples[a.skip:]
        cpu = [(s[i][1] - s[i - 1][1]) * 1000.0 / benchlib.CLK_TCK for i in range(1, len(s))]
        rss = [x[2] / 1024.0 for x in s if x[2]]
        pipeline, view, publish, release, gcs = d.costs()
        pipeline, view, publish, release, gcs = (v[a.skip:] for v in (pipeline, view, publish, release, gcs))
        stages = {}
        for x in s:
            for name, value in x[3].items():
                stages.setdefault(name, []).append(value * 1000.0)
        rows.append(dict(label=d.label, binary=d.binary, cpu=cpu, rss=rss, pipeline=pipeline, view=view,
                         publish=publish, release=release, gcs=gcs, stages=stages))

    L = ["# Daemons side by side: CPU and RSS per poll", ""]
    L.append("- Date: %s UTC" % time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    L.append("- %s; load average %s at the start, %s at the end" % (benchlib.machine_line(), load_start, load_end))
    L.append("- Command: `%s`" % a.command)
    for r in rows:
        L.append("- %s: `%s run --poll-interval %gs --netns self` (SOCKWATCH_DEBUG_MEMORY=1, SOCKWATCH_TRACE=%s)" % (r["label"], r["binary"], a.interval, a.trace))
    L.append("- %d samples each after %d skipped; polls staggered by %.1f s; time_wait rebuilt %d time(s)"
             % (a.polls, a.skip, slot, len(keeper.rebuilt)))
    L.append("")
    head = "| per poll | " + " | ".join(r["label"] for r in rows) + " |"
    L.append(head)
    L.append("|---|" + "---:|" * len(rows))

    def line(name, key, fn, digits=1):
        L.append("| %s | %s |" % (name, " | ".join(fmt(fn(r[key]) if r[key] else None, digits) for r in rows)))

    line("process CPU between samples, median (ms)", "cpu", benchlib.median)
    line("process CPU between samples, mean (ms)", "cpu", benchlib.mean)
    line("pipeline CPU, median (ms)", "pipeline", benchlib.median)
    line("pipeline CPU, mean (ms)", "pipeline", benchlib.mean)
    line("metrics view CPU, median (ms)", "view", benchlib.median)
    line("publish CPU, median (ms)", "publish", benchlib.median)
    line("release between polls CPU, median (ms)", "release", benchlib.median)
    line("garbage collections a poll, median (the one between polls included)", "gcs", benchlib.median)
    line("RSS at the end (MiB)", "rss", lambda v: v[-1])
    line("RSS min (MiB)", "rss", min)
    line("RSS max (MiB)", "rss", max)
    names = []
    for r in rows:
        for n in r["stages"]:
            if n not in names:
                names.append(n)
    for n in names:
        L.append("| stage %s wall, median (ms) | %s |" % (n, " | ".join(
            fmt(benchlib.median(r["stages"][n])) if r["stages"].get(n) else "-" for r in rows)))
    if len(rows) > 1:
        base = rows[0]
        L.append("")
        L.append("Ratios to %s (median process CPU between samples): %s" % (base["label"], ", ".join(
            "%s %.2fx" % (r["label"], benchlib.median(r["cpu"]) / benchlib.median(base["cpu"])) for r in rows[1:])))
    L.append("")
    L.append("Process CPU between samples, in order (ms):")
    L.append("")
    for r in rows:
        L.append("- %s: %s" % (r["label"], ", ".join("%.0f" % c for c in r["cpu"])))
    with open(a.out, "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
