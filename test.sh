#!/usr/bin/env bash
# Runs every test of SockWatch. Works on a fresh machine: installs what the tests need.
# Live tests need Linux and iproute2's ss (the oracle); the exposition lint, the alert rules'
# unit tests and the end-to-end test need Debian's prometheus package (promtool and the
# server); the page's browser tests need Debian's chromium; tests that need root skip, with the
# reason, when not run as root. CI runs this as root.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || need_apt+=(prometheus)
# The daemon's page is tested in Debian's Chromium, driven by Playwright (never a downloaded browser).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# The real-systemd tests (root, where Debian's systemd is installed) ask systemd over the system
# bus of the booted system, which is this machine's file system: it needs a bus daemon.
if [ -x /lib/systemd/systemd ] && ! command -v dbus-daemon >/dev/null 2>&1 && ! command -v dbus-broker >/dev/null 2>&1; then
  need_apt+=(dbus)
fi
# The kernel tracer: libbpf.so.1 to load it (iproute2 brings it), bpftool as the unload oracle,
# clang, llvm-strip and libbpf-dev's headers to rebuild bpf/sockwatch.bpf.o and compare.
command -v bpftool >/dev/null 2>&1 || need_apt+=(bpftool)
# bpftrace counting the same tracepoint: the exact counts' second oracle (TraceLiveTests).
command -v bpftrace >/dev/null 2>&1 || need_apt+=(bpftrace)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
command -v llvm-strip >/dev/null 2>&1 || need_apt+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need_apt+=(libbpf-dev)
# The native binary's start-up prefault is seen through strace (NativeStartupTests).
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
# The Debian package is checked with lintian (DebianPackageTests).
command -v lintian >/dev/null 2>&1 || need_apt+=(lintian)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need_apt[*]}" >&2
    # --no-install-recommends: prometheus would otherwise bring node-exporter and more along.
    if ! { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null; }; then
      echo "test.sh: could not install ${need_apt[*]}; the tests that need them will skip" >&2
    fi
  else
    echo "test.sh: ${need_apt[*]} missing and cannot be installed here; the tests that need them will skip" >&2
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test SockWatch.sln --nologo "$@" 2>&1 | tee "$log" || status=$?

# One closing line for any reader: the per-assembly counts of `dotnet test`, added up.
awk '
  /(Passed|Failed)!/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  { f += $(i+1) + 0 }
      if ($i == "Passed:")  { p += $(i+1) + 0 }
      if ($i == "Skipped:") { s += $(i+1) + 0 }
    }
  }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }
' "$log"
exit "$status"
