"""What every bench/ script shares: the machine's description, socket counts, statistics,
process CPU and memory, namespaces and sysctls, the population's ready file, and reports.

The scripts live beside this file, and Python puts a script's own folder first on sys.path,
so `import benchlib` works from any working directory. Nothing here prints on its own or
changes a report's format: each function does what the scripts did with their own copies.
"""

import ctypes
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

TIME_WAIT_SECONDS = 60.0          # TCP_TIMEWAIT_LEN, fixed in the kernel
CLONE_NEWNET = 0x40000000
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

# The st column of /proc/net/tcp{,6}: the kernel's TCP state numbers.
STATE_NAMES = {
    0x01: "established", 0x02: "syn_sent", 0x03: "syn_recv",
    0x04: "fin_wait1", 0x05: "fin_wait2", 0x06: "time_wait",
    0x07: "close", 0x08: "close_wait", 0x09: "last_ack",
    0x0A: "listen", 0x0B: "closing", 0x0C: "new_syn_recv",
}


def notifier(prefix):
    """A function that writes "PREFIX: message" to stderr at once."""
    def note(msg):
        sys.stderr.write("%s: %s\n" % (prefix, msg))
        sys.stderr.flush()
    return note


# -- statistics ---------------------------------------------------------------------------------

def median(xs):
    """The median of the values that are not None, or None."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mean(xs):
    """The arithmetic mean of the values that are not None, or None."""
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def percentile(xs, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def slope_per_hour(points):
    """Least-squares slope of (seconds, value) points, per hour; None for fewer than two times."""
    if len(points) < 2 or len(set(t for t, _ in points)) < 2:
        return None
    return statistics.linear_regression([t for t, _ in points], [v for _, v in points]).slope * 3600.0


def split(n, parts):
    """n in `parts` near-equal whole shares, the larger ones first."""
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# -- the machine --------------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine():
    """{nproc, kernel, memory, cpu} of this machine."""
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 1024.0 / 1024.0)
    except OSError:
        pass
    return {"nproc": os.cpu_count() or 0, "kernel": "%s (%s)" % (platform.release(), platform.machine()),
            "memory": mem, "cpu": cpu_model()}


def machine_line():
    """The machine in one phrase: "2 cores (CPU), 7.8 GiB memory, kernel 6.x (x86_64)"."""
    m = machine()
    return "%d cores (%s), %s memory, kernel %s" % (m["nproc"], m["cpu"], m["memory"], m["kernel"])


def loadavg():
    """The 1, 5 and 15 minute load averages as /proc/loadavg gives them, or "n/a"."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def version_of(argv):
    """The first line a program prints for argv (e.g. --version), or "unknown"."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


# -- sockets --------------------------------------------------------------------------------------

def count_states():
    """TCP sockets of this namespace by state and by family, from /proc/net/tcp{,6}:
    ({state: n}, {"ipv4": n, "ipv6": n})."""
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


def format_counts(c):
    """"listen 100, established 35000, ... (total N)": the usual states first."""
    order = ["listen", "established", "close_wait", "fin_wait2", "time_wait"]
    keys = [k for k in order if k in c] + sorted(k for k in c if k not in order)
    return ", ".join("%s %d" % (k, c[k]) for k in keys) + " (total %d)" % sum(c.values())


def sockstat_tcp(path="/proc/net/sockstat", key="TCP:"):
    """The fields of the TCP line of a sockstat file ({"inuse": n, "orphan": n, "tw": n, ...}),
    a counter of the namespace: no socket table is walked. {} when there is none."""
    try:
        with open(path) as f:
            for line in f:
                words = line.split()
                if words and words[0] == key:
                    return {k: int(v) for k, v in zip(words[1::2], words[2::2])}
    except OSError:
        pass
    return {}


def namespace_tcp():
    """TCP sockets in this namespace from sockstat and sockstat6: {"inuse": both families, "tw": time_wait}."""
    v4, v6 = sockstat_tcp(), sockstat_tcp("/proc/net/sockstat6", "TCP6:")
    return {"inuse": v4.get("inuse", 0) + v6.get("inuse", 0), "tw": v4.get("tw", 0) + v6.get("tw", 0)}


# -- processes -----------------------------------------------------------------------------------

def cpu_ticks(pid):
    """utime + stime of /proc/PID/stat (all threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15)


def cpu_seconds(pid):
    return cpu_ticks(pid) / float(CLK_TCK)


def memory_kib(pid):
    """(VmRSS, VmHWM) of /proc/PID/status in KiB."""
    rss = hwm = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def run_timed(argv, stdout_path, stderr_path, timeout):
    """Run argv; return (exit status, wall s, CPU s of the child: user + system from wait4)."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, time.monotonic() - t0, ru.ru_utime + ru.ru_stime


def stop_process(proc, sig=signal.SIGTERM, timeout=15.0):
    """Send sig to a subprocess.Popen, wait up to timeout, then SIGKILL it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def json_lines(text):
    """Every line of text that is a JSON object, parsed; (objects, unparsable lines)."""
    docs, bad = [], []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if isinstance(doc, dict):
            docs.append(doc)
    return docs, bad


_LIBC = None


def libc():
    """The C library, loaded once (before forking: dlopen in each child is costly)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.prctl   # resolve the symbol now too
    return _LIBC


def set_parent_death_signal(sig=signal.SIGKILL, log=None):
    """Ask the kernel to send `sig` to this process when its parent exits; failures go to log."""
    try:
        if libc().prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            if log:
                log("prctl(PR_SET_PDEATHSIG) failed: errno %d" % ctypes.get_errno())
            return False
        return True
    except OSError as e:
        if log:
            log("prctl unavailable: %s" % e)
        return False


def set_comm(name, log=None):
    """Set this process's comm (as shown by ps and ss -p), at most 15 bytes."""
    try:
        if libc().prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0) != 0 and log:
            log("prctl(PR_SET_NAME) failed: errno %d" % ctypes.get_errno())
    except OSError as e:
        if log:
            log("prctl unavailable: %s" % e)


# -- namespaces and sysctls ----------------------------------------------------------------------

def setns(fd):
    """Move the calling thread into the network namespace of fd."""
    if libc().setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def enter_netns(name):
    """Move the calling thread into /run/netns/NAME."""
    fd = os.open("/run/netns/" + name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd)
    except OSError as e:
        raise OSError(e.errno, "setns %s: %s" % (name, os.strerror(e.errno)))
    finally:
        os.close(fd)


def in_initial_netns():
    """Whether this process shares init's network namespace (the host's)."""
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return False


def write_sysctl(name, value, log=None):
    """Set a sysctl (dotted name). Without log a failure raises; with it, it is logged and False returned."""
    try:
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write(str(value))
        return True
    except OSError as e:
        if log is None:
            raise
        log("could not set %s=%s: %s" % (name, value, e))
        return False


def read_sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return None


def prepare_namespace(reserved_ports=None, tw_buckets=None, tw_reuse=None, log=None):
    """Make this (private) namespace fit for a population: lo up, the whole ephemeral range, deep
    accept queues; optionally ports no client may take, a time_wait limit and tcp_tw_reuse.
    Without log a failure raises (as write_sysctl)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=log is None)
    write_sysctl("net.ipv4.ip_local_port_range", "1024 65535", log)
    if reserved_ports is not None:
        write_sysctl("net.ipv4.ip_local_reserved_ports", str(reserved_ports), log)
    write_sysctl("net.core.somaxconn", 65535, log)
    write_sysctl("net.ipv4.tcp_max_syn_backlog", 65535, log)
    if tw_buckets:
        write_sysctl("net.ipv4.tcp_max_tw_buckets", tw_buckets, log)
    if tw_reuse is not None:
        write_sysctl("net.ipv4.tcp_tw_reuse", tw_reuse, log)


# -- the population's ready file ----------------------------------------------------------------

def read_json(path):
    """The JSON document in a file, or None when it is missing or not (yet) whole."""
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def announce_ready(doc, ready_file=None, separators=None):
    """A population is built: print its JSON line and write it to ready_file, atomically
    (readers never see half a line)."""
    line = json.dumps(doc, separators=separators)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if ready_file:
        tmp = ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, ready_file)


class TimeWaitKeeper(threading.Thread):
    """Keeps a population's (populate.py, netns_populate.py) TIME_WAIT share alive: at every new
    generation of its ready file the population is sent SIGUSR1, so it rebuilds the set as soon
    as the current one expires (they live 60 s). check() does one step, for a caller's own loop;
    start() runs it on a thread of its own every `every` seconds until stop().

    docs holds every generation's document (with "seen_monotonic"), rebuilt the monotonic times
    of the generations after the first; gone is set when the population has exited."""

    def __init__(self, ready_file, pid, every=0.5):
        super().__init__(daemon=True)
        self.ready_file, self.pid, self.every = ready_file, pid, every
        self.signalled = 0
        self.docs = []
        self.rebuilt = []
        self.gone = False
        self.lock = threading.Lock()
        self.done = threading.Event()

    def check(self):
        doc = read_json(self.ready_file)
        if not doc:
            return None
        gen = doc.get("generation", 1)
        if gen > self.signalled:
            doc["seen_monotonic"] = time.monotonic()
            with self.lock:
                if self.signalled:
                    self.rebuilt.append(doc["seen_monotonic"])
                self.docs.append(doc)
                self.signalled = gen
            try:
                os.kill(self.pid, signal.SIGUSR1)
            except ProcessLookupError:
                self.gone = True
        return doc

    def latest(self):
        with self.lock:
            return self.docs[-1] if self.docs else None

    def run(self):
        while not self.done.is_set() and not self.gone:
            self.check()
            self.done.wait(self.every)

    def stop(self):
        self.done.set()


# -- reports -------------------------------------------------------------------------------------

def cmdline():
    """This process's command line, shell-quoted."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            parts = [p.decode(errors="replace") for p in f.read().split(b"\0") if p]
        return shlex.join(parts)
    except OSError:
        return shlex.join([sys.executable] + sys.argv)


def markdown_code(text):
    """Inline Markdown code, or a fenced block when the text spans lines."""
    if "\n" in text or "`" in text:
        return "\n\n```\n%s\n```\n" % text
    return "`%s`" % text


def write_report(path, text):
    """Write a report, making its folder if need be."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
