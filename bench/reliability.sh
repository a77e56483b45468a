#!/usr/bin/env bash
# The daemon under load, churn and a cardinality attack, as root, each in a private network
# namespace of its own, where the daemon watches only that namespace (`--netns self`; `run` would
# watch every namespace on the host); bench/reliability.py does the measuring:
#   bench/reliability.sh load|soak|cardinality|all [--quick] [--minutes N] [--binary PATH | --ref REV]
#                        [--out FILE] [-- EXTRA ARGUMENTS FOR reliability.py]
#   load         wrk, 64 connections for 60 s on /metrics, while the daemon (--poll-interval 5s) polls
#                100,000 sockets (bench/populate.py); the poll watched from the daemon's own metrics
#   soak         --minutes (30) of churn (bench/churn.c, 2,500 connections a second) with --poll-interval
#                1s: RSS over the last 20 minutes, failed polls, counts against ss at the end
#   cardinality  50,000 connections from distinct 127.x.y.z source addresses held by 500 processes
#                with distinct names (bench/cardinality.py): series per family against the caps, RSS
#   all          the three, in that order
# --quick is a trial: load 10 s, soak 2 min, cardinality 5,000 connections from 100 processes, and the
# report goes to artifacts/bench/reliability/trial.md instead of bench/results/<UTC date>-reliability.md.
# A full run refuses to start while bench/daemon.py runs (SOCKWATCH_BENCH_FORCE=1 overrides).
# Without --binary the daemon is published (the release build, bench/lib.sh) from a
# clean export of REV (default HEAD), so uncommitted work in the tree is never what gets measured.
set -euo pipefail
me=reliability.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"

usage() {
  echo "usage: bench/reliability.sh load|soak|cardinality|all [--quick] [--minutes N] [--binary PATH | --ref REV]" >&2
  echo "       [--out FILE] [-- ARGUMENTS FOR bench/reliability.py]" >&2
}

what=""
quick=0
minutes=""
binary=""
ref=HEAD
out=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    load|soak|cardinality|all) [ -z "$what" ] || { usage; exit 2; }; what=$1; shift ;;
    --quick) quick=1; shift ;;
    --minutes) minutes="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --ref) ref="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/reliability.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done
[ -n "$what" ] || { usage; exit 2; }
# two benchmarks on the same cores disturb each other's figures: a full run waits for none
if [ "$quick" -eq 0 ] && [ -z "${SOCKWATCH_BENCH_FORCE:-}" ] && pgrep -f 'bench/daemon\.py' >/dev/null 2>&1; then
  echo "bench/reliability.sh: bench/daemon.py is running (pgrep -af daemon.py); run this when it is done," >&2
  echo "  or set SOCKWATCH_BENCH_FORCE=1 to measure anyway" >&2
  exit 2
fi

need_root "it makes network namespaces"
need_tools ss:iproute2 wrk:wrk "cc:gcc libc6-dev"

work=$repo/artifacts/bench/reliability
logs=$work/logs
mkdir -p "$logs"
revision=""
if [ -z "$binary" ]; then
  publish_from "$ref" "$work/sockwatch" "$logs/publish.log" || exit 1
  binary=$work/sockwatch/sockwatch
fi
check_binary "$binary"
cc -O2 -Wall -o "$work/churn" bench/churn.c

if [ -z "$out" ]; then
  if [ "$quick" -eq 1 ]; then out=$work/trial.md; else out=bench/results/$(date -u +%Y-%m-%d)-reliability.md; fi
fi

ns=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$ns" ]; then
    # reliability.py stops what it started; anything left in the namespace is ours too
    kill_netns_pids "$ns"
    ip netns del "$ns" 2>/dev/null || echo "bench/reliability.sh: ip netns del $ns failed" >&2
  fi
  exit "$rc"
}
on_exit cleanup

run() {   # subcommand, then its arguments for reliability.py
  local sub=$1 status=0
  shift
  ns="swrel-$sub-$$"
  ip netns add "$ns"
  echo "bench/reliability.sh: $sub in namespace $ns" >&2
  # in the background, so that a signal to this script is handled at once
  ip netns exec "$ns" python3 bench/reliability.py "$sub" --binary "$binary" --results "$out" --logs "$logs" \
    --command "$command_line" --revision "$revision" "$@" ${extra[@]+"${extra[@]}"} &
  wait "$!" || status=$?
  kill_netns_pids "$ns"
  ip netns del "$ns"
  ns=""
  return "$status"
}

status=0
if [ "$what" = load ] || [ "$what" = all ]; then
  if [ "$quick" -eq 1 ]; then run load --seconds 10 || status=$?; else run load || status=$?; fi
fi
if [ "$what" = soak ] || [ "$what" = all ]; then
  [ -n "$minutes" ] || { if [ "$quick" -eq 1 ]; then minutes=2; else minutes=30; fi; }
  run soak --minutes "$minutes" --churn-binary "$work/churn" || status=$?
fi
if [ "$what" = cardinality ] || [ "$what" = all ]; then
  if [ "$quick" -eq 1 ]; then
    run cardinality --connections 5000 --processes 100 --hold-seconds 20 || status=$?
  else
    run cardinality || status=$?
  fi
fi
echo "bench/reliability.sh: report in $out (exit status $status: 0 all targets met, 1 a target missed, 2 a run failed)" >&2
exit "$status"
