# What the bench/*.sh wrappers share; sourced, never run. Each wrapper sets `me` (its name in
# messages) and calls bench_init "$@" first.

# Runs from the repository's root; sets repo and command_line (this wrapper's command, quoted).
bench_init() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  repo=$PWD
  command_line="bench/$me${*:+ $(printf '%q ' "$@")}"
  command_line=${command_line% }
}

# need_root WHY: exit 2 unless root.
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench/$me: needs root ($1)" >&2
    exit 2
  fi
}

# need_tools COMMAND:PACKAGE...: installs (apt) the packages whose command is missing.
need_tools() {
  local want missing=()
  for want in "$@"; do
    command -v "${want%%:*}" >/dev/null 2>&1 || missing+=(${want#*:})
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# publish_sockwatch SOURCE_TREE DIR LOG: the shipped binary, DIR/sockwatch, published the one way
# every benchmark uses (the release build: Native AOT once src/Agent's project asks for it).
publish_sockwatch() {
  rm -rf "$2"
  (cd "$1" && dotnet publish src/Agent -c Release -r linux-x64 -o "$2") >"$3" 2>&1 \
    || { echo "bench/$me: dotnet publish failed; see $3" >&2; return 1; }
}

# export_tree REV DIR: a clean copy of REV's files in DIR (uncommitted work is never measured);
# says which commit it is and sets revision to its full hash.
export_tree() {
  revision=$(git rev-parse --verify "$1^{commit}")
  echo "bench/$me: building from a clean export of $(git log -1 --format='%h %s' "$revision")" >&2
  mkdir -p "$2"
  git archive "$revision" | tar -x -C "$2"
}

# publish_from REV DIR LOG: publish_sockwatch from a clean export of REV (a temporary copy).
publish_from() {
  local tree
  tree=$(mktemp -d /tmp/swbench-export.XXXXXX)
  export_tree "$1" "$tree"
  publish_sockwatch "$tree" "$2" "$3" || { rm -rf "$tree"; return 1; }
  rm -rf "$tree"
}

# build_harness SOURCE_TREE DIR LOG: the in-process harness, DIR/SockWatch.Bench.
build_harness() {
  rm -rf "$2"
  (cd "$1" && dotnet build bench/harness -c Release -o "$2") >"$3" 2>&1 \
    || { echo "bench/$me: dotnet build bench/harness failed; see $3" >&2; return 1; }
}

# check_binary PATH: sets binary to PATH resolved; exit 2 unless it is executable.
check_binary() {
  binary=$(readlink -f "$1")
  [ -x "$binary" ] || { echo "bench/$me: --binary $binary is not an executable file" >&2; exit 2; }
}

# on_exit FUNCTION: FUNCTION runs once at exit, on failure or on a signal too (exit status kept;
# 128 + the signal's number on a signal).
on_exit() {
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

# kill_netns_pids NS: SIGKILL whatever still runs in network namespace NS.
kill_netns_pids() {
  local pids
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

# delete_netns NS: SIGKILL whatever still runs in network namespace NS, then delete it (a line on
# stderr when that fails).
delete_netns() {
  kill_netns_pids "$1"
  ip netns del "$1" 2>/dev/null || echo "bench/$me: ip netns del $1 failed" >&2
}

# stop_pids: SIGTERM every pid of the caller's pids array, newest first, then SIGKILL whatever
# is still there 5 s later, and reap them all.
stop_pids() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    for _ in $(seq 1 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}

# start_population NS SOCKETS READY_FILE LOG: bench/populate.py building SOCKETS sockets in
# namespace NS, its pid appended to pids; returns once READY_FILE is written (180 s at most).
# SCHED_IDLE (inherited by its workers): the load generator's bursts, the TIME_WAIT rebuild of
# ~40,000 connections every minute above all, take only the CPU that the measured processes
# leave. chrt execs in place as ip netns exec does, so the pid is populate.py itself.
start_population() {
  local pop _
  ip netns exec "$1" chrt --idle 0 python3 bench/populate.py --total "$2" --ready-file "$3" \
    --die-with-parent </dev/null >"$4" 2>&1 &
  pop=$!
  pids+=("$pop")
  for _ in $(seq 1 1800); do
    [ -s "$3" ] && return 0
    kill -0 "$pop" 2>/dev/null || { echo "bench/$me: populate.py exited:" >&2; tail -20 "$4" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench/$me: population not ready after 180 s" >&2
  exit 1
}
