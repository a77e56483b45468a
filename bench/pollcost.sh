#!/usr/bin/env bash
# Several daemons side by side on one population, as root: the CPU and RSS of each poll, per binary.
#   bench/pollcost.sh --daemon LABEL=PATH [--daemon LABEL=PATH ...] [--sockets 100000] [--polls 20]
#                     [--interval 15] [--out FILE]
# Builds the population in a private network namespace (bench/populate.py under SCHED_IDLE, its
# time_wait share rebuilt as it expires, as bench/daemon.sh does) and runs bench/pollcost.py
# there: every daemon polls the same sockets in the same window, their polls staggered so that
# they never overlap; the report compares them poll by poll. For A/B work on per-poll cost on a
# shared machine; bench/daemon.sh stays the measurement of the targets.
# Results: artifacts/bench/pollcost/report.md unless --out FILE.
set -euo pipefail
me=pollcost.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"

usage() {
  echo "usage: bench/pollcost.sh --daemon LABEL=PATH [--daemon LABEL=PATH ...] [--sockets N] [--polls N] [--interval S] [--out FILE]" >&2
}

daemons=()
sockets=100000
polls=20
interval=15
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --daemon) daemons+=(--daemon "$2"); shift 2 ;;
    --sockets) sockets="$2"; shift 2 ;;
    --polls) polls="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/pollcost.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done
[ ${#daemons[@]} -gt 0 ] || { usage; exit 2; }
need_root "it makes a network namespace"
need_tools ss:iproute2

work=$(mktemp -d /tmp/swpollcost.XXXXXX)
ns="swpollcost-$$"
ns_made=0
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  stop_pids
  [ "$ns_made" -eq 0 ] || delete_netns "$ns"
  rm -rf "$work"
  exit "$rc"
}
on_exit cleanup

logs=$repo/artifacts/bench/pollcost
mkdir -p "$logs"
[ -n "$out" ] || out=$logs/report.md
ip netns add "$ns"
ns_made=1
# the daemons' ports (9871 and up) out of the population's ephemeral range
ip netns exec "$ns" sh -c "echo 9871-9879 > /proc/sys/net/ipv4/ip_local_reserved_ports"
echo "bench/pollcost.sh: namespace $ns; building $sockets sockets" >&2
start_population "$ns" "$sockets" "$work/ready.json" "$logs/populate.log"
ip netns exec "$ns" python3 bench/pollcost.py "${daemons[@]}" --polls "$polls" --interval "$interval" \
  --ready-file "$work/ready.json" --populate-pid "${pids[0]}" --log-dir "$logs" \
  --command "$command_line" --out "$out" &
pids+=($!)
status=0
wait "$!" || status=$?
exit "$status"
