#!/usr/bin/env python3
"""The measuring half of bench/page.sh: run it inside the benchmark's network namespace.

Given the running daemon (sockwatch run) over populate.py's population, it measures the three
targets of the daemon's page (docs/web.md, "Targets"):

    weight: the bytes of /, /static/sockwatch.js and /static/sockwatch.css as served
        (uncompressed), and of the two JSON bodies;
    /api/v1/poll latency: --requests requests on one kept-alive connection (http.client, as a
        page's fetch reuses its connection), /api/v1/poll and /healthz in turn (/healthz reads
        nothing: the floor of the HTTP stack, the client and the machine), each timed from the
        request's send to the body's last byte; percentiles of both, and of
        /api/v1/poll?netns=NAME (a selection) and /api/v1/history;
    the poll loop with open pages: --polls polls with no client at all, then --polls polls while
        --pages threads each ask /api/v1/poll and /api/v1/history every --page-interval seconds
        (a real page asks both once a poll interval, so 20 threads at 1 s are 300 pages at a 15 s
        interval). After every poll it reads /metrics once: each stage's duration
        (sockwatch_poll_stage_duration_seconds) and the poll's own (the growth of
        sockwatch_poll_duration_seconds' sum over its count), and the daemon's CPU time.

It keeps the population's TIME_WAIT share alive (benchlib.TimeWaitKeeper) and writes a Markdown
report (--out). Exit status 0 when everything was measured (targets are reported, never
asserted), 1 when a request failed or the daemon died.
"""

import argparse
import datetime
import http.client
import json
import re
import statistics
import sys
import threading
import time
import urllib.parse

from benchlib import CLK_TCK, TimeWaitKeeper, cpu_ticks, loadavg, machine, notifier, percentile, version_of
import benchlib

TARGET_WEIGHT_BYTES = 100 * 1024
TARGET_P99_MS = 5.0

note = notifier("page.py")


class Client:
    """One kept-alive HTTP/1.1 connection to the daemon."""

    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=10)

    def get(self, path):
        start = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - start
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status}")
        return body, elapsed

    def close(self):
        self.conn.close()


def samples(text, name):
    """The (labels, value) pairs of one metric family in Prometheus text."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)", line)
        if m:
            out.append((m.group(1) or "", float(m.group(2))))
    return out


def poll_figures(client):
    text = client.get("/metrics")[0].decode()
    stages = {re.search(r'stage="([^"]+)"', l).group(1): v for l, v in samples(text, "sockwatch_poll_stage_duration_seconds")}
    total = sum(v for _, v in samples(text, "sockwatch_poll_duration_seconds_sum"))
    count = sum(v for _, v in samples(text, "sockwatch_poll_duration_seconds_count"))
    last = sum(v for _, v in samples(text, "sockwatch_last_poll_success_timestamp_seconds"))
    return last, stages, total, count


def watch_polls(client, polls, pid, keeper):
    """Stage and poll durations of the next `polls` polls, and the daemon's CPU over them."""
    rows = []
    last, _, s0, c0 = poll_figures(client)
    cpu0, t0 = cpu_ticks(pid), time.monotonic()
    while len(rows) < polls:
        time.sleep(0.5)
        keeper.check()
        at, stages, s1, c1 = poll_figures(client)
        if at != last and c1 > c0:
            rows.append({"stages": stages, "poll": (s1 - s0) / (c1 - c0)})
            last, s0, c0 = at, s1, c1
    cpu = (cpu_ticks(pid) - cpu0) / CLK_TCK / (time.monotonic() - t0) * 100
    return rows, cpu


class Pages(threading.Thread):
    """One open page: both API bodies every `every` seconds, on a connection of its own."""

    def __init__(self, host, port, query, every, stop):
        super().__init__(daemon=True)
        self.client, self.query, self.every, self.stop = Client(host, port), query, every, stop
        self.requests, self.errors = 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                self.client.get("/api/v1/poll" + self.query)
                self.client.get("/api/v1/history" + self.query)
                self.requests += 2
            except Exception as e:  # noqa: BLE001 -- counted and reported
                self.errors.append(str(e))
            self.stop.wait(self.every)
        self.client.close()


def ms(xs, p):
    return percentile(xs, p) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the daemon's base URL, http://HOST:PORT")
    ap.add_argument("--pid", type=int, required=True, help="the daemon's pid")
    ap.add_argument("--populate-pid", type=int, required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--polls", type=int, default=12)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--page-interval", type=float, default=1.0)
    ap.add_argument("--binary", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    url = urllib.parse.urlparse(args.url)
    host, port = url.hostname, url.port
    keeper = TimeWaitKeeper(args.ready_file, args.populate_pid)
    doc = keeper.check()
    load_start = loadavg()
    client = Client(host, port)

    # Weight.
    weight = {p: len(client.get(p)[0]) for p in ("/", "/static/sockwatch.js", "/static/sockwatch.css", "/api/v1/poll", "/api/v1/history")}
    page_bytes = weight["/"] + weight["/static/sockwatch.js"] + weight["/static/sockwatch.css"]
    note(f"page {page_bytes} B")

    # Latency: /api/v1/poll and /healthz in turn, then a selection and the history.
    first = json.loads(client.get("/api/v1/poll")[0])
    netns = first["namespaces"][0]["name"]
    sel = "?netns=" + urllib.parse.quote(netns)
    lat = {"/api/v1/poll": [], "/healthz": [], "/api/v1/poll" + sel: [], "/api/v1/history": []}
    for i in range(args.requests):
        for path in ("/api/v1/poll", "/healthz"):
            lat[path].append(client.get(path)[1])
        if i % 3 == 0:
            lat["/api/v1/poll" + sel].append(client.get("/api/v1/poll" + sel)[1])
            lat["/api/v1/history"].append(client.get("/api/v1/history")[1])
        if i % 200 == 0:
            keeper.check()
    sockets = json.loads(client.get("/api/v1/poll")[0])["sockets"]
    note(f"/api/v1/poll p99 {ms(lat['/api/v1/poll'], 99):.2f} ms at {sockets} sockets")

    # The poll loop without and with open pages.
    note(f"{args.polls} polls with no page open")
    quiet, quiet_cpu = watch_polls(client, args.polls, args.pid, keeper)
    stop = threading.Event()
    pages = [Pages(host, port, "" if i % 2 == 0 else sel, args.page_interval, stop) for i in range(args.pages)]
    for p in pages:
        p.start()
    note(f"{args.polls} polls with {args.pages} pages asking every {args.page_interval} s")
    busy, busy_cpu = watch_polls(client, args.polls, args.pid, keeper)
    stop.set()
    for p in pages:
        p.join()
    errors = [e for p in pages for e in p.errors]
    page_requests = sum(p.requests for p in pages)

    stages = list(quiet[0]["stages"].keys())
    lines = []
    lines.append(f"# The daemon's page at {sockets} sockets ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)\n")
    lines.append(f"- Machine: {machine()}; load average at start {load_start}, at end {loadavg()}")
    lines.append(f"- Binary: `{args.binary}` ({version_of([args.binary, '--version']) if args.binary else '?'})")
    lines.append(f"- Population (populate.py, as built): {benchlib.format_counts(doc['counts']) if doc else '?'}")
    lines.append(f"- Command: `{args.command}`\n")
    lines.append("## Weight (uncompressed, as served)\n")
    lines.append("| resource | bytes |\n|---|---:|")
    for p, n in weight.items():
        lines.append(f"| `{p}` | {n:,} |")
    verdict = "met" if page_bytes <= TARGET_WEIGHT_BYTES else "**missed**"
    lines.append(f"| **page + script + style sheet** | **{page_bytes:,}** (target <= {TARGET_WEIGHT_BYTES:,}: {verdict}) |\n")
    lines.append(f"## Latency, {args.requests} requests each on one kept-alive connection (ms)\n")
    lines.append("| path | requests | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|")
    for p, xs in lat.items():
        lines.append(f"| `{p}` | {len(xs)} | {ms(xs, 50):.3f} | {ms(xs, 90):.3f} | {ms(xs, 99):.3f} | {max(xs) * 1000:.3f} |")
    p99 = ms(lat["/api/v1/poll"], 99)
    floor = ms(lat["/healthz"], 99)
    lines.append(f"\n`/api/v1/poll` p99 {p99:.3f} ms (target <= {TARGET_P99_MS} ms: {'met' if p99 <= TARGET_P99_MS else '**missed**'}); "
                 f"`/healthz` p99 {floor:.3f} ms, the floor: ratio {p99 / floor:.2f}x.\n")
    lines.append(f"## The poll loop: {args.polls} polls with no page, {args.polls} with {args.pages} pages asking every {args.page_interval} s\n")
    lines.append(f"Pages made {page_requests} requests ({len(errors)} failed) while the second set of polls ran.\n")
    lines.append("| stage | median, no page (ms) | median, pages (ms) | ratio | max, no page | max, pages |\n|---|---:|---:|---:|---:|---:|")
    for s in stages + ["poll"]:
        a = [r["stages"].get(s, 0) if s != "poll" else r["poll"] for r in quiet]
        b = [r["stages"].get(s, 0) if s != "poll" else r["poll"] for r in busy]
        ma, mb = statistics.median(a) * 1000, statistics.median(b) * 1000
        ratio = f"{mb / ma:.2f}x" if ma > 0 else "-"
        lines.append(f"| {s} | {ma:.2f} | {mb:.2f} | {ratio} | {max(a) * 1000:.2f} | {max(b) * 1000:.2f} |")
    lines.append(f"\nDaemon CPU (% of one core) over each set: {quiet_cpu:.2f}% with no page, {busy_cpu:.2f}% with the pages "
                 "(the pages' requests are served on the daemon's other threads and count here).\n")
    benchlib.write_report(args.out, "\n".join(lines) + "\n")
    note(f"report: {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
