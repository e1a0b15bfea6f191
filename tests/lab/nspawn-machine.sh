#!/usr/bin/env bash
# Boot a throw-away copy of the trixie lab rootfs with systemd-nspawn on the
# unified cgroup hierarchy (pure cgroup v2), for the cgroupv2 Molecule scenario.
#
#   nspawn-machine.sh start NAME [TIMEOUT]   copy the rootfs, boot it, wait for systemd;
#                                            prints "leader_pid=N" and "state=running|degraded"
#   nspawn-machine.sh stop NAME              power it off (SIGKILL after 30 s), remove the copy
#   nspawn-machine.sh status NAME            leader PID and `systemctl is-system-running`
#   nspawn-machine.sh shell NAME             a login shell inside (for debugging)
#   nspawn-machine.sh destroy-all            stop every machine this script started
#
# The machine's root is an overlay (or, without overlayfs, a copy) of the cached rootfs,
# under $REAPER_LAB_CACHE/run/NAME with its log (nspawn.log), so runs never change the
# cached rootfs. Any failure to boot exits non-zero with the
# tail of the log: a scenario that cannot start its machine fails, it never skips.
set -euo pipefail

CACHE="${REAPER_LAB_CACHE:-/var/cache/reaper-systemd-lab}"
SOURCE="${REAPER_LAB_NSPAWN_ROOTFS:-$CACHE/trixie}"
RUN="$CACHE/run"

die() { printf 'nspawn-machine: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'nspawn-machine: %s\n' "$*" >&2; }

ns_exec() { # leader cmd...
  local leader=$1; shift
  nsenter --target="$leader" --mount --uts --ipc --net --pid -- "$@"
}

# PID (host view) of the container's init: a descendant of nspawn that is PID 1 in
# its own PID namespace.
find_leader() { # nspawn_pid
  local npid=$1 st pid p
  for st in /proc/[0-9]*/status; do
    awk '/^NSpid:/ { exit !(NF > 2 && $NF == 1) }' "$st" 2>/dev/null || continue
    pid=${st#/proc/}
    pid=${pid%/status}
    p=$pid
    while [[ -n "$p" && "$p" != 0 && "$p" != 1 ]]; do
      p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || break
      if [[ "$p" == "$npid" ]]; then echo "$pid"; return 0; fi
    done
  done
  return 1
}

fail_with_log() { # dir message
  local dir=$1; shift
  {
    printf 'nspawn-machine: ERROR: %s\n' "$*"
    printf 'nspawn-machine: last lines of %s:\n' "$dir/nspawn.log"
    tail -n 40 "$dir/nspawn.log" 2>/dev/null | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/    /'
  } >&2
  stop_machine "$(basename "$dir")" >/dev/null 2>&1 || true
  exit 1
}

start_machine() { # name timeout
  local name=$1 timeout=${2:-120} dir="$RUN/$1"
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run 'make lab-images' (installs systemd-container)"
  [[ -x "$SOURCE/lib/systemd/systemd" ]] || die "no lab rootfs at $SOURCE: run 'make lab-images' first"
  if [[ -f "$dir/nspawn.pid" ]] && kill -0 "$(cat "$dir/nspawn.pid")" 2>/dev/null; then
    die "machine $name is already running (nspawn PID $(cat "$dir/nspawn.pid")); stop it first"
  fi
  rm -rf --one-file-system "$dir"
  mkdir -p "$dir"
  local t0=$SECONDS
  # An overlay over the cached rootfs: instant, and the cache is never written. Where
  # overlayfs is not available, a full copy.
  mkdir -p "$dir/rootfs" "$dir/upper" "$dir/work"
  if mount -t overlay overlay -o "lowerdir=$SOURCE,upperdir=$dir/upper,workdir=$dir/work" "$dir/rootfs" 2>"$dir/mount.err"; then
    log "$name: overlay of $SOURCE on $dir/rootfs"
  else
    log "$name: overlay mount failed ($(cat "$dir/mount.err")), copying the rootfs instead"
    rmdir "$dir/upper" "$dir/work"
    cp -a --reflink=auto "$SOURCE/." "$dir/rootfs/"
    log "$name: rootfs copied in $((SECONDS - t0))s to $dir/rootfs"
  fi
  echo "$name" > "$dir/rootfs/etc/hostname"

  # setsid: its own session and process group, so stop can signal all of it and
  # the machine outlives the Ansible task that started it.
  TERM=dumb SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_NSPAWN_TMPFS_TMP=0 setsid \
    systemd-nspawn --quiet --register=no --keep-unit --private-network \
      --machine="$name" --hostname="$name" -D "$dir/rootfs" -b \
      </dev/null >"$dir/nspawn.log" 2>&1 &
  local npid=$!
  echo "$npid" > "$dir/nspawn.pid"

  local deadline=$((SECONDS + timeout)) leader=""
  while [[ -z "$leader" ]]; do
    kill -0 "$npid" 2>/dev/null || fail_with_log "$dir" "systemd-nspawn exited before the container's init started"
    ((SECONDS < deadline)) || fail_with_log "$dir" "no container init after ${timeout}s"
    leader=$(find_leader "$npid") || leader=""
    [[ -n "$leader" ]] || sleep 0.2
  done
  echo "$leader" > "$dir/leader.pid"

  local state=""
  while :; do
    kill -0 "$leader" 2>/dev/null || fail_with_log "$dir" "container init (PID $leader) died during boot"
    state=$(ns_exec "$leader" systemctl is-system-running 2>/dev/null) || true
    case "$state" in
      running|degraded) break ;;
    esac
    ((SECONDS < deadline)) || fail_with_log "$dir" "systemd did not finish booting within ${timeout}s (state: ${state:-unknown}); jobs: $(ns_exec "$leader" systemctl list-jobs --no-legend 2>&1 | head -5 | tr '\n' ';')"
    sleep 0.5
  done
  if [[ "$state" == degraded ]]; then
    log "$name: degraded; failed units: $(ns_exec "$leader" systemctl --failed --no-legend --plain 2>&1 | tr '\n' ';')"
  fi
  local fs
  fs=$(ns_exec "$leader" stat -f -c %T /sys/fs/cgroup)
  [[ "$fs" == cgroup2fs ]] || fail_with_log "$dir" "/sys/fs/cgroup in the container is $fs, not cgroup2fs"
  log "$name: booted in $((SECONDS - t0))s, leader PID $leader, $state, /sys/fs/cgroup is $fs"
  echo "leader_pid=$leader"
  echo "nspawn_pid=$npid"
  echo "state=$state"
  echo "cgroup_fs=$fs"
  echo "dir=$dir"
}

stop_machine() { # name
  local name=$1 dir="$RUN/$1" npid="" leader=""
  [[ -d "$dir" ]] || { log "$name: not present"; return 0; }
  [[ -f "$dir/nspawn.pid" ]] && npid=$(cat "$dir/nspawn.pid")
  [[ -f "$dir/leader.pid" ]] && leader=$(cat "$dir/leader.pid")
  if [[ -n "$npid" ]] && kill -0 "$npid" 2>/dev/null; then
    # Clean shutdown first: systemd powers off, nspawn exits.
    if [[ -n "$leader" ]] && kill -0 "$leader" 2>/dev/null; then
      ns_exec "$leader" systemctl poweroff --no-block >/dev/null 2>&1 || kill -RTMIN+4 "$leader" 2>/dev/null || true
    fi
    local i
    for ((i = 0; i < 150; i++)); do
      kill -0 "$npid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$npid" 2>/dev/null; then
      log "$name: no clean shutdown in 30 s, killing process group $npid"
      kill -KILL -- "-$npid" 2>/dev/null || true
      if [[ -n "$leader" ]]; then kill -KILL "$leader" 2>/dev/null || true; fi
      for ((i = 0; i < 50; i++)); do kill -0 "$npid" 2>/dev/null || break; sleep 0.2; done
    fi
  fi
  # Nothing may still be mounted at or below the copy before it is removed.
  local mp
  while read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "$name: cannot unmount $mp"
  done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  if awk -v d="$dir/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    die "$name: $dir still has mounts; not removing it"
  fi
  rm -rf --one-file-system "$dir"
  log "$name: stopped and removed"
}

status_machine() { # name
  local dir="$RUN/$1" leader
  [[ -f "$dir/leader.pid" ]] || die "$1: not started"
  leader=$(cat "$dir/leader.pid")
  kill -0 "$leader" 2>/dev/null || die "$1: leader PID $leader is gone"
  echo "leader_pid=$leader"
  echo "state=$(ns_exec "$leader" systemctl is-system-running 2>&1 || true)"
}

case "${1:-}" in
  start) [[ $# -ge 2 ]] || die "usage: $0 start NAME [TIMEOUT]"; start_machine "$2" "${3:-120}" ;;
  stop) [[ $# -eq 2 ]] || die "usage: $0 stop NAME"; stop_machine "$2" ;;
  status) [[ $# -eq 2 ]] || die "usage: $0 status NAME"; status_machine "$2" ;;
  shell)
    [[ $# -eq 2 ]] || die "usage: $0 shell NAME"
    leader=$(cat "$RUN/$2/leader.pid" 2>/dev/null) || die "$2: not started"
    exec nsenter --target="$leader" --mount --uts --ipc --net --pid -- /bin/bash -l ;;
  destroy-all)
    [[ -d "$RUN" ]] || exit 0
    for d in "$RUN"/*/; do [[ -d "$d" ]] && stop_machine "$(basename "$d")"; done ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
