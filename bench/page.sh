#!/usr/bin/env bash
# The daemon's page at 100,000 sockets, as root:
#   bench/page.sh [--sockets 100000] [--binary PATH | --ref REV] [--poll-interval 15s]
#                 [--requests 3000] [--polls 12] [--pages 20] [--page-interval 1] [--out FILE]
# Builds the population in a private network namespace (bench/populate.py, as daemon.sh does),
# starts `sockwatch run --netns self` in it and runs bench/page.py there: the weight of the page,
# its script and style sheet; /api/v1/poll's latency percentiles beside /healthz's; and each
# poll stage's duration over --polls polls with no page open, then over --polls polls while
# --pages clients ask both API endpoints every --page-interval seconds.
# Results: bench/results/<date>-page-<N>.md. Without --binary the daemon is published from a
# clean export of REV (default HEAD), so uncommitted work in the tree is never what gets measured.
set -euo pipefail
me=page.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"

usage() {
  echo "usage: bench/page.sh [--sockets N] [--binary PATH | --ref REV] [--poll-interval D] [--requests N]" >&2
  echo "       [--polls N] [--pages N] [--page-interval S] [--port P] [--out FILE]" >&2
}

sockets=100000
binary=""
ref=HEAD
poll_interval=15s
requests=3000
polls=12
pages=20
page_interval=1
port=9859
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sockets) sockets="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --ref) ref="$2"; shift 2 ;;
    --poll-interval) poll_interval="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --polls) polls="$2"; shift 2 ;;
    --pages) pages="$2"; shift 2 ;;
    --page-interval) page_interval="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/page.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done

need_root "it makes a network namespace"
need_tools ss:iproute2

work=$(mktemp -d /tmp/swpage.XXXXXX)
ns="swpage-$$"
ns_made=0
pids=()          # populate, sockwatch, page.py: stopped in reverse order
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  stop_pids
  if [ "$ns_made" -eq 1 ]; then
    kill_netns_pids "$ns"
    ip netns del "$ns" 2>/dev/null || echo "bench/page.sh: ip netns del $ns failed" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
on_exit cleanup

logs=$repo/artifacts/bench/page/logs
mkdir -p "$logs"
revision=""
if [ -z "$binary" ]; then
  publish_from "$ref" "$repo/artifacts/bench/page/sockwatch" "$logs/publish.log" || exit 1
  binary=$repo/artifacts/bench/page/sockwatch/sockwatch
fi
check_binary "$binary"

ip netns add "$ns"
ns_made=1
ip netns exec "$ns" sh -c "echo $port > /proc/sys/net/ipv4/ip_local_reserved_ports"
echo "bench/page.sh: namespace $ns; building $sockets sockets" >&2
start_population "$ns" "$sockets" "$work/ready.json" "$logs/populate.log"   # under SCHED_IDLE

ip netns exec "$ns" "$binary" run --listen-address "127.0.0.1:$port" --poll-interval "$poll_interval" --netns self \
  </dev/null >"$logs/sockwatch.log" 2>&1 &
pids+=($!)
sw_pid=$!
for _ in $(seq 1 600); do
  kill -0 "$sw_pid" 2>/dev/null || { echo "bench/page.sh: sockwatch exited; its log:" >&2; tail -20 "$logs/sockwatch.log" >&2; exit 1; }
  [ "$(ip netns exec "$ns" python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/readyz').status)" 2>/dev/null)" = 200 ] && break
  sleep 0.1
done

stamp=$(date -u +%Y-%m-%d)
[ -n "$out" ] || out=bench/results/$stamp-page-$sockets.md
ip netns exec "$ns" python3 bench/page.py --url "http://127.0.0.1:$port" --pid "$sw_pid" --populate-pid "${pids[0]}" \
  --ready-file "$work/ready.json" --requests "$requests" --polls "$polls" --pages "$pages" --page-interval "$page_interval" \
  --binary "$binary" --command "$command_line" --out "$out" &
pids+=($!)
status=0
wait "$!" || status=$?
exit "$status"
