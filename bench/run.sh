#!/usr/bin/env bash
# Builds what is measured and runs the benchmark on 100,000 and 10,000 sockets, as root.
#   bench/run.sh [--sockets N ...] [--iterations N]
# Results: bench/results/<date>-<N>.md (Markdown tables of medians and ratios).
set -euo pipefail
me=run.sh
. "$(dirname "$0")/lib.sh"
bench_init "$@"
need_root "it makes a network namespace"
need_tools ss:iproute2

sizes=()
iterations=15
ownership=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sockets) sizes+=("$2"); shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --ownership) ownership=1; shift ;;
    *) echo "bench/run.sh: unknown argument '$1'; accepted: --sockets N (repeatable), --iterations N, --ownership" >&2; exit 2 ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 10000)

echo "bench/run.sh: publishing sockwatch (the release build) and building the harness from this tree" >&2
mkdir -p artifacts/bench/logs
publish_sockwatch "$repo" "$repo/artifacts/bench/sockwatch" "$repo/artifacts/bench/logs/publish.log"
build_harness "$repo" "$repo/artifacts/bench/harness" "$repo/artifacts/bench/logs/harness.log"

mkdir -p bench/results
stamp=$(date -u +%Y-%m-%d)
if [ "$ownership" -eq 1 ]; then
  # Ownership: 100,000 sockets held by 1,000 processes, against ss -tanp (whole process, cold)
  # and the daemon's second and later attribution in one process (steady).
  exec python3 bench/bench.py --ownership --processes 1000 --sockets 100000 --iterations "$iterations" \
    --sockwatch "$PWD/artifacts/bench/sockwatch/sockwatch" \
    --harness-cmd "$PWD/artifacts/bench/harness/SockWatch.Bench" \
    --out "bench/results/$stamp-ownership-100000.md"
fi
for n in "${sizes[@]}"; do
  python3 bench/bench.py --sockets "$n" --iterations "$iterations" \
    --sockwatch "$PWD/artifacts/bench/sockwatch/sockwatch" \
    --harness-cmd "$PWD/artifacts/bench/harness/SockWatch.Bench" \
    --out "bench/results/$stamp-$n.md"
done
