#!/usr/bin/env bash
# The tracer's cost and exactness (issue 17's targets), in a private network namespace:
#   churn: bench/tracechurn.c at the highest loopback rate, ROUNDS times each, alternating:
#          untraced, traced by SockWatch (the daemon, --trace on), and traced by bpftrace
#          counting the same tracepoint; connections/s of each and their ratios, the daemon's
#          CPU over the traced runs (utime+stime from /proc/PID/stat), its lost records.
#   exactness: the test workload (tests/Agent.Tests/Tracing/workload.py) RUNS times under one
#          `sockwatch trace`, each run's count per transition against the known one.
#
#   bench/trace.sh --binary PATH [--rounds 3] [--seconds 5] [--threads 4] [--runs 10] [--out FILE]
# Needs root, gcc, bpftrace, python3. Everything it makes (the namespace, processes) goes on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
binary="" rounds=3 seconds=5 threads=4 runs=10 out="$here/results/$(date -u +%F)-trace.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "bench/trace.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench/trace.sh: needs root" >&2; exit 2; }
[ -x "$binary" ] || { echo "bench/trace.sh: --binary PATH (a published sockwatch) is required" >&2; exit 2; }
for t in gcc bpftrace python3 curl; do command -v "$t" >/dev/null || { echo "bench/trace.sh: $t missing" >&2; exit 2; }; done

ns="swtrace-$$"
work="$(mktemp -d)"
daemon=""
mounted_tracefs=""
cleanup() {
  [ -n "$mounted_tracefs" ] && umount /sys/kernel/tracing 2>/dev/null || true
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# bpftrace finds tracepoints through tracefs; mounted only for this run when it is not.
if ! mountpoint -q /sys/kernel/tracing; then mount -t tracefs nodev /sys/kernel/tracing && mounted_tracefs=1; fi
ip netns add "$ns"
ip -n "$ns" link set lo up
gcc -O2 -Wall -pthread -o "$work/tracechurn" "$here/tracechurn.c"

port=7000
churn() { port=$((port + 1)); ip netns exec "$ns" "$work/tracechurn" "$seconds" "$threads" "$port" | sed -n 's/.*rate=\([0-9]*\).*/\1/p'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

load_start="$(cat /proc/loadavg)"
declare -a untraced traced bpf cpu lost_all
metrics_port=$((20000 + $$ % 20000))
for r in $(seq "$rounds"); do
  untraced+=("$(churn)")

  "$binary" run --trace on --netns all --poll-interval 15s --listen-address "127.0.0.1:$metrics_port" >"$work/daemon.log" 2>&1 &
  daemon=$!
  until curl -sf "http://127.0.0.1:$metrics_port/readyz" >/dev/null; do sleep 0.2; kill -0 "$daemon" || { cat "$work/daemon.log" >&2; exit 1; }; done
  before=$(cpu_ticks "$daemon"); t0=$(date +%s.%N)
  traced+=("$(churn)")
  after=$(cpu_ticks "$daemon"); t1=$(date +%s.%N)
  cpu+=("$(python3 -c "print(f'{($after - $before) / $(getconf CLK_TCK) / ($t1 - $t0) * 100:.2f}')")")
  sleep 16 # one more poll reads the counters and the lost records
  lost=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^sockwatch_trace_events_lost_total/ {print $2}')
  kill "$daemon"; wait "$daemon" || true; daemon=""

  bpftrace -e 'tracepoint:sock:inet_sock_set_state { @[args->oldstate, args->newstate] = count(); }' >"$work/bpftrace.out" 2>&1 &
  bt=$!
  until grep -q Attaching "$work/bpftrace.out"; do sleep 0.2; kill -0 "$bt" || { cat "$work/bpftrace.out" >&2; exit 1; }; done
  sleep 1
  bpf+=("$(churn)")
  kill -INT "$bt"; wait "$bt" || true
  echo "round $r: untraced ${untraced[-1]}/s, sockwatch ${traced[-1]}/s (daemon CPU ${cpu[-1]}% of a core, lost $lost), bpftrace ${bpf[-1]}/s" >&2
  lost_all+=("$lost")
done

# Exactness: RUNS runs of the test workload under one `sockwatch trace`.
"$binary" trace --format json --netns "$ns" --port 5001 --port 9 >"$work/trace.json" 2>"$work/trace.err" &
tr=$!
until grep -q "tracing every" "$work/trace.err"; do sleep 0.2; done
exact_ok=0
for i in $(seq "$runs"); do
  lines_before=$(wc -l <"$work/trace.json")
  ip netns exec "$ns" python3 "$repo/tests/Agent.Tests/Tracing/workload.py" server 5001 0.1 >/dev/null &
  srv=$!
  sleep 0.3
  ip netns exec "$ns" python3 "$repo/tests/Agent.Tests/Tracing/workload.py" client 5001 9 20 15 10 5 3 >/dev/null
  wait "$srv"
  sleep 0.5
  got=$(( $(wc -l <"$work/trace.json") - lines_before ))
  echo "$got" >>"$work/exact.txt"
done
kill -TERM "$tr"; wait "$tr" || true # SIGINT is ignored by a background job of a script
# The known total (TraceLiveTests.ExpectedChanges): graceful g = N + (M + 1) + J, connected c = g + L;
# listen and its close, c + K connects, K refused, c of each handshake step, g of each of the six
# close steps, 2L aborted.
expected_total=$(python3 -c "g=20+16+3; c=g+5; print(2 + (c+10) + 10 + 3*c + 6*g + 2*5)")
exact_ok=$(awk -v e="$expected_total" '$1 == e {n++} END {print n+0}' "$work/exact.txt")

load_end="$(cat /proc/loadavg)"
mkdir -p "$(dirname "$out")"
{
  echo "# Tracing: cost under loopback churn, and exactness"
  echo
  echo "Measured $(date -u '+%F %H:%M UTC') with \`bench/trace.sh --binary $binary --rounds $rounds --seconds $seconds --threads $threads --runs $runs\`"
  echo "at $(git -C "$repo" log -1 --format=%h), kernel $(uname -r), $(nproc) cores shared with other work;"
  echo "load average at start: $load_start; at end: $load_end."
  echo
  echo "## Churn (bench/tracechurn.c, $threads client threads, $seconds s a run, private namespace)"
  echo
  echo "| round | untraced conn/s | SockWatch tracing conn/s | ratio | daemon CPU % of a core | lost | bpftrace conn/s | ratio |"
  echo "|---|---|---|---|---|---|---|---|"
  for i in $(seq 0 $((rounds - 1))); do
    python3 -c "u=${untraced[$i]}; t=${traced[$i]}; b=${bpf[$i]}; print(f'| {$i+1} | {u} | {t} | {t/u:.3f} | ${cpu[$i]} | ${lost_all[$i]} | {b} | {b/u:.3f} |')"
  done
  python3 -c "
import statistics
us=[${untraced[*]/%/,}]; ts=[${traced[*]/%/,}]; bs=[${bpf[*]/%/,}]
u=sum(us); t=sum(ts); b=sum(bs)
print(f'| all (mean rates) | {u/$rounds:.0f} | {t/$rounds:.0f} | {t/u:.3f} | | | {b/$rounds:.0f} | {b/u:.3f} |')
# the machine's speed wanders between runs: each round against its own untraced run
print(f'| median of the rounds\' ratios | | | {statistics.median(x/y for x, y in zip(ts, us)):.3f} | | | | {statistics.median(x/y for x, y in zip(bs, us)):.3f} |')"
  echo
  echo "## Exactness (tests/Agent.Tests/Tracing/workload.py: N=20 client-closed, M=15+1 server-closed, K=10 refused, L=5 aborted, J=3 held)"
  echo
  echo "Runs whose \`sockwatch trace\` lines were exactly the known $expected_total changes: $exact_ok of $runs"
  echo "(per run: $(tr '\n' ' ' <"$work/exact.txt"))."
} >"$out"
echo "bench/trace.sh: wrote $out" >&2
