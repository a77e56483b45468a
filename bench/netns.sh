#!/usr/bin/env bash
# Every network namespace, measured against the issue's target, as root:
#   "200 namespaces of 500 sockets each: one full poll costs at most 3x one dump of 100,000
#    sockets in one namespace."
#   bench/netns.sh [--namespaces 200] [--per-namespace 500] [--big 100000] [--iterations 5] [--interval 15]
#                  [--dump-iterations 15] [--breakdown-iterations 2] [--processes 4]
#                  [--child-ehash N] [--ref REV] [--no-snapshot] [--out FILE]
# Publishes sockwatch and builds the harness (Release) from a clean export of REV (default HEAD;
# the harness sources are this tree's bench/harness), makes the namespaces swnsb-000... (filled by
# bench/netns_populate.py), swnsbig (bench/populate.py --total BIG) and swnsbempty (no sockets),
# and runs bench/netns.py, which measures and writes bench/results/<UTC date>-netns-<N>x<M>.md.
# By default the namespaces share the host's established-socket hash table, which every dump in
# every namespace walks whole (the kernel's default). --child-ehash N gives each namespace a table
# of its own (net.ipv4.tcp_child_ehash_entries: N buckets for swnsb-NNN and swnsbempty, 262144,
# the size of this host's, for swnsbig), set inside a parent namespace swnsbparent from which they
# are made, so the host's setting, and namespaces others make meanwhile, are left alone; the
# report is then ...-netns-<N>x<M>-child-ehash.md.
# Every namespace and process it made is removed on exit, failure or signal included.
set -euo pipefail
me=netns.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"

usage() {
  echo "usage: bench/netns.sh [--namespaces N] [--per-namespace N] [--big N] [--iterations N] [--interval S] [--dump-iterations N]" >&2
  echo "       [--breakdown-iterations N] [--processes N] [--child-ehash N] [--ref REV] [--no-snapshot] [--out FILE]" >&2
}

namespaces=200
per_namespace=500
big=100000
iterations=5
interval=15
dump_iterations=15
breakdown_iterations=2
processes=4
ref=HEAD
snapshot=1
child_ehash=""
big_ehash=262144
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --namespaces) namespaces="$2"; shift 2 ;;
    --per-namespace) per_namespace="$2"; shift 2 ;;
    --big) big="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --dump-iterations) dump_iterations="$2"; shift 2 ;;
    --breakdown-iterations) breakdown_iterations="$2"; shift 2 ;;
    --processes) processes="$2"; shift 2 ;;
    --ref) ref="$2"; shift 2 ;;
    --no-snapshot) snapshot=0; shift ;;
    --child-ehash) child_ehash="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/netns.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done

need_root "it makes network namespaces and enters them"
need_tools ip:iproute2

prefix=swnsb-
big_ns=swnsbig
empty_ns=swnsbempty
parent_ns=swnsbparent
ours="^(${prefix}[0-9]+|$big_ns|$empty_ns|$parent_ns)"
stale=$(ip netns list | awk '{print $1}' | grep -E "$ours\$" || true)
if [ -n "$stale" ]; then
  echo "bench/netns.sh: namespaces of another run exist ($(echo "$stale" | wc -l), e.g. $(echo "$stale" | head -1));" >&2
  echo "  if no run is in progress, remove them: ip netns list | grep -E '$ours( |\$)' | cut -d' ' -f1 | xargs -n1 ip netns del" >&2
  exit 2
fi

work=$(mktemp -d /tmp/swnsb.XXXXXX)
logs=$repo/artifacts/bench/netns/logs
made=()          # namespaces to delete
pids=()          # population processes to stop
cleanup() {
  local rc=$? pid ns left=0
  trap - EXIT INT TERM HUP
  # the populations first (their sockets and the namespaces they hold), then the names
  [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    timeout 10 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for ns in "${made[@]}"; do
    ip netns del "$ns" 2>/dev/null || left=$((left + 1))
  done
  [ "$left" -eq 0 ] || echo "bench/netns.sh: $left namespaces could not be deleted" >&2
  rm -rf "$work"
  exit "$rc"
}
on_exit cleanup

mkdir -p "$logs" bench/results
stamp=$(date -u +%Y-%m-%d)
[ -n "$out" ] || out="bench/results/$stamp-netns-${namespaces}x${per_namespace}${child_ehash:+-child-ehash}.md"

# What is measured: a clean export of REV, so that uncommitted work elsewhere in the tree is never
# measured; the harness is this tree's (it may be newer than REV).
export_tree "$ref" "$work/src-export"
cp bench/harness/*.cs bench/harness/*.csproj "$work/src-export/bench/harness/"
artifacts=$repo/artifacts/bench/netns
if [ "$snapshot" -eq 1 ]; then
  publish_sockwatch "$work/src-export" "$artifacts/sockwatch" "$logs/publish.log" || exit 1
fi
build_harness "$work/src-export" "$artifacts/harness" "$logs/build.log" || exit 1

setup_notes=()
add_ns() {   # NAME: a namespace, made from the parent namespace with --child-ehash
  if [ -n "$child_ehash" ]; then
    nsenter --net="/run/netns/$parent_ns" ip netns add "$1"
  else
    ip netns add "$1"
  fi
  made+=("$1")
}
child_table() {   # BUCKETS: the table size of namespaces made from now on
  ip netns exec "$parent_ns" sysctl -qw net.ipv4.tcp_child_ehash_entries="$1"
}
if [ -n "$child_ehash" ]; then
  ip netns add "$parent_ns"
  made+=("$parent_ns")
  child_table "$child_ehash"
fi
echo "bench/netns.sh: making $namespaces namespaces ${prefix}NNN, $big_ns and $empty_ns${child_ehash:+ (tables of their own)}" >&2
for ((i = 0; i < namespaces; i++)); do
  add_ns "$(printf '%s%03d' "$prefix" "$i")"
done
add_ns "$empty_ns"
[ -z "$child_ehash" ] || child_table "$big_ehash"
add_ns "$big_ns"
ip -n "$empty_ns" link set lo up
for ns in "${prefix}000" "$big_ns"; do
  # a namespace's default tcp_max_tw_buckets is half its established table: what it got
  setup_notes+=(--setup-note "$ns made with tcp_max_tw_buckets $(ip netns exec "$ns" cat /proc/sys/net/ipv4/tcp_max_tw_buckets) (half its established-socket table; the host's is $(cat /proc/sys/net/ipv4/tcp_max_tw_buckets)); net.ipv4.tcp_child_ehash_entries ${child_ehash:-0}${child_ehash:+ in $parent_ns (262144 when $big_ns was made)}")
done

echo "bench/netns.sh: building $big sockets in $big_ns and $per_namespace in each of $namespaces namespaces" >&2
# at the lowest priority: they rebuild their time_wait sockets every minute while the harness runs
# (nice and ip netns exec exec what they run, so $! is the population's own pid)
nice -n 19 ip netns exec "$big_ns" python3 bench/populate.py --total "$big" --ready-file "$work/big.json" \
  --die-with-parent </dev/null >"$logs/populate.log" 2>&1 &
pids+=($!)
big_pid=$!
nice -n 19 python3 bench/netns_populate.py --prefix "$prefix" --count "$namespaces" --per-namespace "$per_namespace" \
  --processes "$processes" --ready-file "$work/small.json" --die-with-parent </dev/null >"$logs/netns_populate.log" 2>&1 &
pids+=($!)
small_pid=$!

sockwatch_args=()
[ "$snapshot" -eq 0 ] || sockwatch_args=(--sockwatch "$artifacts/sockwatch/sockwatch")
python3 bench/netns.py --harness "$artifacts/harness/SockWatch.Bench" "${sockwatch_args[@]}" \
  --pattern "${prefix}*" --big-ns "$big_ns" --empty-ns "$empty_ns" \
  --namespaces "$namespaces" --per-namespace "$per_namespace" --big "$big" \
  --small-ready "$work/small.json" --small-pid "$small_pid" --big-ready "$work/big.json" --big-pid "$big_pid" \
  --iterations "$iterations" --interval "$interval" --dump-iterations "$dump_iterations" --breakdown-iterations "$breakdown_iterations" \
  --logdir "$logs" --out "$out" --command "$command_line" "${setup_notes[@]}" --child-ehash "${child_ehash:-0}" \
  --revision "measured: $(git log -1 --format='%h' "$revision"), harness from the work tree"
echo "bench/netns.sh: report in $out" >&2
