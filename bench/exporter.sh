#!/usr/bin/env bash
# Our /metrics (the direct path: poll -> PollMetrics -> MetricFamily -> bytes) beside
# OpenTelemetry.Exporter.Prometheus.AspNetCore over SockWatchMeter's instruments (issue 15,
# item 4), the same polls, in one process on 127.0.0.1 (bench/exporter):
#   bench/exporter.sh [--out DIR] [--scrapes N] [--runs N]
#   compare     the golden fixture poll (tests/fixtures/proc-metrics) and a synthetic
#               100,000-socket poll: series and values, every difference class, promtool check
#               metrics, the answer to Prometheus 2.42's Accept and Accept-Encoding: gzip
#   prometheus  a real Prometheus (on PATH) scraping both every second for 20 s: up, series
#   churn       10,000 distinct owners, 40 new a poll: does either export otel_metric_overflow?
#   latency     each exporter alone in its own process, N cycles (poll published, then scraped
#               as Prometheus scrapes): latency, CPU, allocation, RSS; --runs times each, alternating
# About two minutes in all. Bodies and logs go to DIR (default a new temp dir, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
out="" scrapes=2000 runs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --scrapes) scrapes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/exporter.sh [--out DIR] [--scrapes N] [--runs N]" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out=$(mktemp -d /tmp/exporter-bench.XXXXXX)
mkdir -p "$out"

dotnet build bench/exporter -c Release -nologo -v quiet >/dev/null
bench=(dotnet bench/exporter/bin/Release/net10.0/SockWatch.ExporterBench.dll)

"${bench[@]}" compare --out "$out" | tee "$out/compare.log"
"${bench[@]}" prometheus --seconds 20 | tee "$out/prometheus.log"
"${bench[@]}" churn --owners 10000 --per-poll 40 | tee "$out/churn.log"
for run in $(seq 1 "$runs"); do
  for exporter in ours otel; do
    "${bench[@]}" latency --exporter "$exporter" --scrapes "$scrapes" --sockets 100000 | tee "$out/latency-$exporter-$run.log"
  done
done
echo "bodies and logs: $out"
