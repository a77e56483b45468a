#!/usr/bin/env bash
# The daemon's running cost at 100,000 sockets, side by side with node_exporter's tcpstat
# collector, as root:
#   bench/daemon.sh [--minutes 30] [--sockets 100000] [--binary PATH | --ref REV] [--path /metrics]
# Builds the population in a private network namespace (bench/populate.py, as run.sh does),
# starts `sockwatch run --poll-interval 15s` and `prometheus-node-exporter` (tcpstat only) in
# it, scrapes both every 15 s (a little more unless --no-sweep, so that the scrapes meet the
# daemon's polls at every phase) and samples their CPU time and RSS every 30 s (bench/daemon.py).
# A latency probe (--probe-interval S, default 2; 0 turns it off) also scrapes the daemon every
# S s on average at random gaps, its /metrics and its /healthz (which reads nothing: the floor of
# the HTTP stack and the machine) in turn, for percentiles from thousands of samples instead of
# ~120; the report attributes every sample over 10 ms to a TIME_WAIT rebuild of populate.py, the
# first second after a poll start, or neither. populate.py runs under `chrt --idle 0`
# (SCHED_IDLE), so that its bursts (the TIME_WAIT rebuild every minute) yield the CPU to the
# measured processes.
# Results: bench/results/<date>-daemon-<N>.md and a CSV of every sample beside it.
# --minutes 2 is a quick trial. Without --binary the daemon is published from a clean export
# of REV (default HEAD), so uncommitted work in the tree is never what gets measured.
set -euo pipefail
me=daemon.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"

usage() {
  echo "usage: bench/daemon.sh [--minutes N] [--sockets N] [--binary PATH | --ref REV] [--path PATH]" >&2
  echo "       [--scrape-interval S] [--no-sweep] [--sample-interval S] [--probe-interval S (default 2; 0: no probe)]" >&2
  echo "       [--port-sockwatch P] [--port-node P] [--trace auto|on|off (default off)]" >&2
  echo "       [--out FILE]   (default bench/results/<UTC date>-daemon-<sockets>.md, and .csv beside it)" >&2
}

minutes=30
sockets=100000
binary=""
ref=HEAD
path=/metrics
scrape_interval=15
sweep=""
sample_interval=30
probe_interval=2
port_sw=9859
port_ne=9100
# The service as installed runs poll-only: tracing needs CAP_BPF and CAP_PERFMON, which only
# deploy/systemd/tracing.conf grants. As root the daemon would trace (--trace auto), so the
# default here is off, the service's conditions; --trace auto measures the daemon tracing.
trace=off
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --sockets) sockets="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --ref) ref="$2"; shift 2 ;;
    --path) path="$2"; shift 2 ;;
    --scrape-interval) scrape_interval="$2"; shift 2 ;;
    --no-sweep) sweep=--no-sweep; shift ;;
    --sample-interval) sample_interval="$2"; shift 2 ;;
    --probe-interval) probe_interval="$2"; shift 2 ;;
    --port-sockwatch) port_sw="$2"; shift 2 ;;
    --port-node) port_ne="$2"; shift 2 ;;
    --trace) trace="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/daemon.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done
case "$path" in /*) ;; *) echo "bench/daemon.sh: --path must start with /" >&2; exit 2 ;; esac

need_root "it makes a network namespace"
# of node_exporter only the binary is used: the package's systemd unit plays no part (and needs no systemd)
node_exporter=/usr/bin/prometheus-node-exporter
need_tools ss:iproute2 curl:curl "$node_exporter:prometheus-node-exporter"

work=$(mktemp -d /tmp/swdaemon.XXXXXX)
ns="swdaemon-$$"
ns_made=0
pids=()          # sockwatch, node_exporter, populate: stopped in reverse order
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  stop_pids
  if [ "$ns_made" -eq 1 ]; then
    ip netns del "$ns" 2>/dev/null || echo "bench/daemon.sh: ip netns del $ns failed" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
on_exit cleanup

logs=$repo/artifacts/bench/daemon/logs
mkdir -p "$logs"
revision=""
if [ -z "$binary" ]; then
  publish_from "$ref" "$repo/artifacts/bench/daemon/sockwatch" "$logs/publish.log" || exit 1
  binary=$repo/artifacts/bench/daemon/sockwatch/sockwatch
fi
check_binary "$binary"

ip netns add "$ns"
ns_made=1
# populate.py opens ~100,000 connections from the whole ephemeral range (1024-65535): keep the two
# listening ports out of it, or a client socket may hold one before the exporters bind it
ip netns exec "$ns" sh -c "echo $port_sw,$port_ne > /proc/sys/net/ipv4/ip_local_reserved_ports"
echo "bench/daemon.sh: namespace $ns; building $sockets sockets" >&2
start_population "$ns" "$sockets" "$work/ready.json" "$logs/populate.log"   # under SCHED_IDLE

# The trace mode of every start below, ready.py's included.
export SOCKWATCH_TRACE="$trace"

# Start-up first, on the same population: exec to READY=1, five starts (bench/ready.py).
echo "bench/daemon.sh: timing READY=1 after exec (5 starts)" >&2
ip netns exec "$ns" python3 bench/ready.py --binary "$binary" --port "$port_sw" --runs 5 >"$work/ready.json.times" 2>"$logs/ready.log" \
  || echo "bench/daemon.sh: bench/ready.py failed; see $logs/ready.log" >&2

# ip netns exec runs the command in place (no fork), so $! is the measured process itself.
# --netns self: the population's namespace only, the scope node_exporter's tcpstat has (run as
# root, the daemon would otherwise watch every namespace of the host, other benchmarks' too).
ip netns exec "$ns" "$binary" run --listen-address "127.0.0.1:$port_sw" --poll-interval 15s --netns self \
  </dev/null >"$logs/sockwatch.log" 2>&1 &
pids+=($!)
sw_pid=$!
ip netns exec "$ns" "$node_exporter" --collector.disable-defaults --collector.tcpstat \
  --web.listen-address="127.0.0.1:$port_ne" </dev/null >"$logs/node_exporter.log" 2>&1 &
pids+=($!)
ne_pid=$!

wait_http() {   # name pid url: until the URL answers 200 (60 s at most)
  local _
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || { echo "bench/daemon.sh: $1 exited; its log:" >&2; tail -20 "$logs/$1.log" >&2; exit 1; }
    [ "$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}' "$3" 2>/dev/null)" = 200 ] && return 0
    sleep 0.1
  done
  echo "bench/daemon.sh: $1 did not answer 200 on $3 within 60 s" >&2
  exit 1
}
wait_http sockwatch "$sw_pid" "http://127.0.0.1:$port_sw/readyz"       # the first poll is done
wait_http node_exporter "$ne_pid" "http://127.0.0.1:$port_ne/metrics"

stamp=$(date -u +%Y-%m-%d)
[ -n "$out" ] || out=bench/results/$stamp-daemon-$sockets.md
mkdir -p "$(dirname "$out")"
# in the background, so that a signal to this script is handled at once (a foreground child
# would defer the trap until it ends)
ip netns exec "$ns" python3 bench/daemon.py \
  --sockwatch-pid "$sw_pid" --node-pid "$ne_pid" --populate-pid "${pids[0]}" \
  --ready-file "$work/ready.json" \
  --sockwatch-url "http://127.0.0.1:$port_sw$path" --node-url "http://127.0.0.1:$port_ne/metrics" \
  --minutes "$minutes" --scrape-interval "$scrape_interval" $sweep --sample-interval "$sample_interval" \
  --probe-interval "$probe_interval" \
  --sockets "$sockets" --binary "$binary" --revision "$revision" --node-exporter "$node_exporter" \
  --sockwatch-log "$logs/sockwatch.log" --ready-times "$work/ready.json.times" \
  --command "$command_line (SOCKWATCH_TRACE=$trace)" \
  --out "$out" --csv "${out%.md}.csv" &
pids+=($!)
status=0
wait "$!" || status=$?
exit "$status"
