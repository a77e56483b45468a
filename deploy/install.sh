#!/usr/bin/env bash
# Installs or removes SockWatch as a systemd service.
#
#   deploy/install.sh install [--from DIR] [--all-namespaces] [--tracing]
#                                            publish (or take DIR's already published sockwatch),
#                                            install binary, unit and default configuration
#                                            (--all-namespaces: and the drop-in of that name;
#                                            --tracing: and systemd/tracing.conf, CAP_BPF,
#                                            CAP_PERFMON and bpf(), so trace=auto traces),
#                                            create the sockwatch system user, enable and start;
#                                            over a running service (an upgrade): restart it, so
#                                            that it runs the new binary
#   deploy/install.sh uninstall              stop, disable, remove all of it: the binary, the
#                                            unit, every drop-in in sockwatch.service.d (they
#                                            configure only this unit, and a later install would
#                                            silently pick them up again), the configuration
#                                            file too unless it was changed: then it is kept
#
# DESTDIR=/some/root stages everything under that root instead (no user, no systemctl): for
# packaging and tests. Exit status: 0 done, 2 bad usage, 1 a step failed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
root="${DESTDIR:-}"
bin_dir="$root/usr/lib/sockwatch"
unit="$root/etc/systemd/system/sockwatch.service"
dropin_dir="$root/etc/systemd/system/sockwatch.service.d"
conf_dir="$root/etc/sockwatch"
doc_dir="$root/usr/share/doc/sockwatch"

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { echo "install.sh: usage: install.sh install [--from DIR] [--all-namespaces] [--tracing] | uninstall" >&2; exit 2; }
live() { [ -z "$root" ]; }

install_sockwatch() {
  local from="" all_namespaces="" tracing=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --from) [ $# -ge 2 ] || usage; from="$2"; shift 2 ;;
      --all-namespaces) all_namespaces=1; shift ;;
      --tracing) tracing=1; shift ;;
      *) usage ;;
    esac
  done
  if live && [ "$(id -u)" -ne 0 ]; then die "needs root (or DESTDIR=... to stage)"; fi

  if [ -z "$from" ]; then
    from="$repo/artifacts/install"
    echo "install.sh: publishing the native AOT binary to $from" >&2
    dotnet publish "$repo/src/Agent" -c Release -r linux-x64 \
      -o "$from" --nologo -v quiet >/dev/null || die "dotnet publish failed"
  fi
  [ -x "$from/sockwatch" ] || die "$from/sockwatch is missing or not executable"

  install -d -m 0755 "$bin_dir" "$conf_dir" "$(dirname "$unit")" "$doc_dir"
  install -m 0755 "$from/sockwatch" "$bin_dir/sockwatch"
  install -m 0644 "$here/systemd/sockwatch.service" "$unit"
  local dropin
  for dropin in ${all_namespaces:+all-namespaces.conf} ${tracing:+tracing.conf}; do
    install -d -m 0755 "$dropin_dir"
    install -m 0644 "$here/systemd/$dropin" "$dropin_dir/$dropin"
  done
  if [ -e "$conf_dir/sockwatch.json" ]; then
    echo "install.sh: keeping the existing $conf_dir/sockwatch.json" >&2
  else
    install -m 0644 "$here/systemd/sockwatch.json" "$conf_dir/sockwatch.json"
  fi
  install -m 0644 "$repo/README.md" "$doc_dir/README.md"

  if live; then
    getent passwd sockwatch >/dev/null || useradd --system --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --user-group sockwatch
    if [ -d /run/systemd/system ]; then
      systemctl daemon-reload
      systemctl enable --quiet sockwatch.service
      # An upgrade replaces the binary under a running service: without a restart it would run
      # on from the deleted file. `systemctl start` (Type=notify) returns once READY=1 came, or
      # fails with systemd's reason.
      if systemctl is-active --quiet sockwatch.service; then
        systemctl restart sockwatch.service || die "the restart failed; see: systemctl status sockwatch, journalctl -u sockwatch"
        echo "install.sh: restarted on the new binary; see: systemctl status sockwatch, journalctl -u sockwatch" >&2
      else
        systemctl start sockwatch.service || die "the start failed; see: systemctl status sockwatch, journalctl -u sockwatch"
        echo "install.sh: started; see: systemctl status sockwatch, journalctl -u sockwatch" >&2
      fi
    else
      echo "install.sh: installed; systemd is not running here, so nothing was started" >&2
    fi
  fi
}

uninstall_sockwatch() {
  if live && [ "$(id -u)" -ne 0 ]; then die "needs root (or DESTDIR=... to stage)"; fi
  if live && [ -d /run/systemd/system ]; then
    systemctl disable --now sockwatch.service 2>/dev/null || true
  fi
  rm -f "$unit" "$bin_dir/sockwatch" "$doc_dir/README.md"
  if [ -d "$dropin_dir" ]; then
    for f in "$dropin_dir"/*; do
      [ -e "$f" ] || continue
      rm -f "$f"
      echo "install.sh: removed the drop-in $f" >&2
    done
    rmdir "$dropin_dir" 2>/dev/null || echo "install.sh: $dropin_dir is not empty; left in place" >&2
  fi
  rmdir "$bin_dir" "$doc_dir" 2>/dev/null || true
  if [ -e "$conf_dir/sockwatch.json" ] && ! cmp -s "$conf_dir/sockwatch.json" "$here/systemd/sockwatch.json"; then
    echo "install.sh: keeping $conf_dir/sockwatch.json (it was changed)" >&2
  else
    rm -f "$conf_dir/sockwatch.json"
    rmdir "$conf_dir" 2>/dev/null || true
  fi
  if live; then
    [ -d /run/systemd/system ] && systemctl daemon-reload
    getent passwd sockwatch >/dev/null && userdel sockwatch 2>/dev/null || true
  fi
  echo "install.sh: removed" >&2
}

[ $# -ge 1 ] || usage
cmd="$1"; shift
case "$cmd" in
  install) install_sockwatch "$@" ;;
  uninstall) [ $# -eq 0 ] || usage; uninstall_sockwatch ;;
  *) usage ;;
esac
