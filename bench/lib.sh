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
