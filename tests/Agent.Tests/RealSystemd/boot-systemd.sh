#!/usr/bin/env bash
# Boots Debian's systemd as PID 1 of private namespaces, for RealSystemdTests (root only).
#
#   boot-systemd.sh CGROUP
#
# CGROUP: a name for the cgroup this run gets on the host; the caller removes it afterwards
# (teardown: kill the namespace's PID 1, which takes every process of the PID namespace with it,
# then rmdir the cgroup tree). systemd gets cgroup2 at /sys/fs/cgroup (unified mode), rooted at
# that cgroup by the cgroup namespace, whether the host is pure v2 or hybrid (v1 controllers,
# name=systemd, and cgroup2 at /sys/fs/cgroup/unified). Not hybrid inside: in hybrid mode
# systemd mounts the v1 controllers itself and makes its slices in the host's v1 hierarchies
# (pids, devices, memory) below whatever cgroup the caller had there, which this script does not
# own and could not clean up.
#
# Everything else lives in the new mount namespace and goes with it: a tmpfs holding an
# overlay of / (so every write of the booted system, /etc/passwd included, lands on the tmpfs),
# fresh /proc and /sys, tmpfs /dev, /run and /tmp, then pivot_root into the overlay and systemd
# with container=other in a clean environment. Units the tests do not need are masked so the
# boot is short. Output: the host's view goes to stdout/stderr of this script.
set -euo pipefail

if [ "${1:-}" = "--inside" ]; then
  # The tmpfs goes over /mnt, which every Debian system has, in this mount namespace only: a
  # directory made for it on the host's file system would outlive the test.
  [ -d /mnt ] || { echo "boot-systemd.sh: /mnt is missing" >&2; exit 1; }
  mount -t tmpfs -o mode=0755 swboot /mnt
  mkdir /mnt/upper /mnt/work /mnt/root
  mount -t overlay overlay -o lowerdir=/,upperdir=/mnt/upper,workdir=/mnt/work /mnt/root
  r=/mnt/root
  mount -t proc proc "$r/proc"
  mount -t sysfs sysfs "$r/sys"
  mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
  mount -t tmpfs -o mode=0755,nosuid dev "$r/dev"
  for d in null zero full random urandom tty; do
    touch "$r/dev/$d"
    mount --bind "/dev/$d" "$r/dev/$d"
  done
  mkdir "$r/dev/pts" "$r/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
  ln -s pts/ptmx "$r/dev/ptmx"
  mount -t tmpfs -o mode=0755,nosuid,nodev run "$r/run"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$r/tmp"

  # Debian images forbid maintainer scripts to start services; this root is a test machine's.
  rm -f "$r/usr/sbin/policy-rc.d"
  # Only what the tests need: journald, the units under test, dbus when installed.
  for u in getty@tty1.service console-getty.service e2scrub_reap.service postgresql.service \
           prometheus-node-exporter.service prometheus.service remote-fs.target \
           systemd-pstore.service systemd-timesyncd.service apt-daily-upgrade.timer apt-daily.timer \
           dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer systemd-logind.service \
           systemd-networkd.service systemd-resolved.service cron.service ssh.service \
           systemd-update-utmp.service systemd-tmpfiles-clean.timer logrotate.timer \
           systemd-hwdb-update.service ldconfig.service systemd-journal-flush.service \
           systemd-udevd.service systemd-udev-trigger.service systemd-random-seed.service \
           systemd-machine-id-commit.service systemd-firstboot.service; do
    ln -sf /dev/null "$r/etc/systemd/system/$u"
  done
  rm -f "$r/etc/machine-id"
  mkdir -p "$r/.oldroot"
  cd "$r"
  pivot_root . .oldroot
  umount -l /.oldroot
  rmdir /.oldroot
  exec env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system --show-status=no --unit=multi-user.target
fi

name="$1"
# A cgroup of its own on the host, so systemd's cgroups below the namespace's root land there
# and the caller can remove the whole tree.
for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
  if [ -e "$h/cgroup.procs" ] && { [ "$h" != /sys/fs/cgroup ] || [ -e "$h/cgroup.controllers" ]; }; then
    mkdir -p "$h/$name"
    echo $$ > "$h/$name/cgroup.procs"
  fi
done
exec unshare --pid --fork --mount --uts --net --ipc --cgroup --propagation private -- "$0" --inside
