#!/usr/bin/env bash
# What the tracer costs per state change, against the floors any tracer on this tracepoint has:
#   empty      a tp_btf program on sock:inet_sock_set_state that does nothing (bench/tracecost/)
#   clock      one that only reads the clock, as any program that times states must
#   counts     bpf/sockwatch.bpf.c built with SW_FLOOR_COUNTS: the clock and the count per
#              (netns, from, to), nothing kept per socket (no time in state: less than the
#              tracer must do)
#   durations  built with SW_FLOOR_DURATIONS: the counts and the time spent in each state (each
#              socket's entry time in the socket table, the log2 histograms), the least a
#              program gives sockwatch_tcp_state_changes_total and
#              sockwatch_tcp_state_duration_seconds from; no owner, destination or record
#   sockwatch  bpf/sockwatch.bpf.o, the object the Agent embeds
# Each is loaded alone (bench/tracecost/loader.c, its ring buffer drained every 20 ms as the
# daemon does) while bench/tracechurn.c runs in a private namespace: once for the connections a
# second, once more (2 s) with the kernel's run statistics on (kernel.bpf_stats_enabled,
# restored after; they cost two clock reads a run, so they are off for the rate) for the time
# spent in the program per change. ROUNDS rounds, alternating, each with an untraced run.
#
#   bench/tracecost.sh [--rounds 3] [--seconds 5] [--threads 4] [--out FILE]
# Needs root, gcc, clang, libbpf-dev. Everything it makes (the namespace, the builds) goes on exit.
set -euo pipefail
me=tracecost.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"
here="$repo/bench"
rounds=3 seconds=5 threads=4 out="$here/results/$(date -u +%F)-tracecost.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "bench/tracecost.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
need_root "it loads BPF programs and makes a network namespace"
need_tools gcc:gcc clang:clang python3:python3
[ -f /usr/include/bpf/libbpf.h ] || need_tools _libbpf_headers_:libbpf-dev

ns="swcost-$$"
work="$(mktemp -d)"
stats_before="$(sysctl -n kernel.bpf_stats_enabled)"
loader_pid=""
cleanup() {
  [ -n "$loader_pid" ] && kill "$loader_pid" 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$stats_before" || true
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
gcc -O2 -Wall -pthread -o "$work/tracechurn" "$here/tracechurn.c"
gcc -O2 -Wall -o "$work/loader" "$here/tracecost/loader.c" -lbpf
arch_include=/usr/include/$(uname -m)-linux-gnu
for p in empty clock; do
  clang -target bpf -O2 -g -Wall -D__TARGET_ARCH_x86 -I"$arch_include" -c "$here/tracecost/$p.bpf.c" -o "$work/$p.bpf.o"
done
cp "$repo/bpf/sockwatch.bpf.o" "$work/sockwatch.bpf.o"
for floor in counts durations; do
  clang -target bpf -O2 -g -Wall -D__TARGET_ARCH_x86 -DSW_FLOOR_${floor^^} -I"$arch_include" -c "$repo/bpf/sockwatch.bpf.c" -o "$work/$floor.bpf.o"
done

port=7400
churn() { port=$((port + 1)); ip netns exec "$ns" "$work/tracechurn" "$1" "$threads" "$port" | sed -n 's/.*rate=\([0-9]*\).*/\1/p'; }
# Churn for SECONDS with OBJECT loaded; prints the rate, then the loader's statistics lines.
loaded() {
  local object="$1" secs="$2"
  "$work/loader" "$work/$object.bpf.o" >"$work/loader.out" 2>"$work/loader.err" &
  loader_pid=$!
  until grep -q attached "$work/loader.out"; do sleep 0.1; kill -0 "$loader_pid" || { cat "$work/loader.err" >&2; exit 1; }; done
  churn "$secs"
  kill "$loader_pid"; wait "$loader_pid" || true; loader_pid=""
}
# One run: RATE RUNS RUN_NS MISSES STATS_RATE of the on_state program (0s untraced).
run() {
  local object="$1"
  if [ "$object" = none ]; then echo "$(churn "$seconds") 0 0 0 0"; return; fi
  local rate; rate="$(loaded "$object" "$seconds")"
  sysctl -qw kernel.bpf_stats_enabled=1
  local measured; measured="$(loaded "$object" 2)"
  sysctl -qw kernel.bpf_stats_enabled=0
  awk -v rate="$rate" -v measured="$measured" '$1 == "on_state" { split($2, a, "="); split($3, b, "="); split($4, c, "="); print rate, a[2], b[2], c[2], measured }' "$work/loader.out"
}

load_start="$(cat /proc/loadavg)"
: >"$work/runs.txt"
for r in $(seq "$rounds"); do
  for object in none empty clock counts durations sockwatch; do
    echo "$object $(run "$object")" >>"$work/runs.txt"
  done
  echo "round $r: $(awk -v r="$r" 'NR > (r - 1) * 6 { printf "%s %s/s ", $1, $2 }' "$work/runs.txt")" >&2
done
load_end="$(cat /proc/loadavg)"

mkdir -p "$(dirname "$out")"
python3 - "$work/runs.txt" "$rounds" "$seconds" "$threads" "$(nproc)" >"$work/table.md" <<'PY'
import statistics
import sys
path, rounds, seconds, threads, cores = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
rows = {}
for line in open(path):
    name, rate, runs, run_ns, misses, stats_rate = line.split()
    rows.setdefault(name, []).append((int(rate), int(runs), int(run_ns), int(misses), int(stats_rate)))
# This machine's rate wanders from run to run: each round's ratio is against that round's
# untraced run, and the table gives their median and range.
print("| program | conn/s (mean) | ratio to untraced, median of rounds (range) | changes a connection | ns in the program a change | its share of the CPU | recursion misses |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in ("none", "empty", "clock", "counts", "durations", "sockwatch"):
    rs = rows[name]
    rate = sum(r[0] for r in rs) / len(rs)
    if name == "none":
        print(f"| untraced | {rate:.0f} | 1.000 | | | | |")
        continue
    ratios = [r[0] / u[0] for r, u in zip(rs, rows["none"])]
    runs = sum(r[1] for r in rs); ns = sum(r[2] for r in rs); misses = sum(r[3] for r in rs)
    # the statistics come from the 2 s runs, with their own rate
    per_conn = runs / (sum(r[4] for r in rs) * 2)
    share = ns / (len(rs) * 2 * cores * 1e9)
    print(f"| {name} | {rate:.0f} | {statistics.median(ratios):.3f} ({min(ratios):.3f} to {max(ratios):.3f}) | {per_conn:.1f} | {ns / runs:.0f} | {share * 100:.1f}% | {misses} |")
PY
{
  echo "# Tracing: the program's cost per state change, against the floors"
  echo
  echo "Measured $(date -u '+%F %H:%M UTC') with \`$command_line\`"
  echo "at $(git -C "$repo" log -1 --format=%h), kernel $(uname -r), $(nproc) cores, clock source $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource);"
  echo "load average at start: $load_start; at end: $load_end."
  echo
  echo "bench/tracechurn.c ($threads client threads, $seconds s a run, private namespace), $rounds rounds alternating"
  echo "untraced, an empty program, a clock-only program (bench/tracecost/), bpf/sockwatch.bpf.c built"
  echo "with SW_FLOOR_COUNTS (\"counts\": the clock and the counts per (netns, from, to), nothing per"
  echo "socket) and with SW_FLOOR_DURATIONS (\"durations\": the counts and the time in each state, the"
  echo "least the two exact metrics need; no owners, destinations, resets or records), and"
  echo "bpf/sockwatch.bpf.o, each loaded alone by bench/tracecost/loader.c. The rates are with the kernel's run statistics"
  echo "off; \"ns in the program\" is run_time_ns / run_cnt of on_state from a 2 s run with them on"
  echo "(kernel.bpf_stats_enabled=1, which adds two clock reads a run that the time does not include),"
  echo "and \"share of the CPU\" is that time over all cores for that run. \"changes a connection\" is"
  echo "run_cnt over the connections of that run (one program run a change)."
  echo
  cat "$work/table.md"
} >"$out"
echo "bench/tracecost.sh: wrote $out" >&2
