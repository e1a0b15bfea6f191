#!/usr/bin/env bash
# Build the systemd lab images used by the Molecule scenarios.
#
#   localhost/reaper-lab:bookworm           Debian 12, systemd 252, python3-psutil
#   localhost/reaper-lab:trixie             Debian 13, systemd 257, python3-psutil
#   localhost/reaper-lab:bookworm-nopsutil  Debian 12 without python3-psutil
#
# Root filesystems live under $REAPER_LAB_CACHE (default /var/cache/reaper-systemd-lab),
# outside the checkout. The trixie rootfs is also booted by systemd-nspawn in the
# cgroupv2 scenario. A stamp holds a hash of the inputs (package lists, image
# configuration, this script); a rootfs or image is rebuilt only when it is missing or
# its stamp differs.
#
# Usage: tests/lab/build-images.sh [--force] [--check]
#   --force  rebuild everything
#   --check  exit 0 when all images are present and current, 1 otherwise; build nothing
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${REAPER_LAB_CACHE:-/var/cache/reaper-systemd-lab}"
MIRROR="${REAPER_LAB_MIRROR:-http://deb.debian.org/debian}"
IMAGE_REPO="${REAPER_LAB_IMAGE_REPO:-localhost/reaper-lab}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$LAB_DIR/containers.conf}"

# Packages in every image. util-linux brings runuser, iproute2 gives ss/ip for
# debugging, prometheus-node-exporter serves the textfile collector tests, sudo and
# systemd-timesyncd are absent on purpose (noise units).
BASE_PACKAGES=(
  systemd systemd-sysv dbus libpam-systemd
  python3 python3-psutil
  procps psmisc util-linux iproute2 less
  prometheus-node-exporter
  ca-certificates
)
# Packages removed from the bookworm rootfs to make bookworm-nopsutil.
NOPSUTIL_PURGE=(python3-psutil)

FORCE=0
CHECK=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build-images.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, podman import and nspawn need it)"

stamp_ok() { # name: rootfs present and built from the current inputs
  [[ -f "$CACHE/$1.stamp" && "$(cat "$CACHE/$1.stamp")" == "$ROOTFS_HASH" && -d "$CACHE/$1/usr" ]]
}
image_ok() { # tag: image present and imported from the current inputs
  podman image exists "$IMAGE_REPO:$1" || return 1
  [[ "$(podman image inspect --format '{{ index .Config.Labels "reaper-lab.hash" }}' "$IMAGE_REPO:$1" 2>/dev/null)" == "$IMAGE_HASH" ]]
}

T_START=$SECONDS
declare -a TIMINGS=()
timed() { # label cmd...
  local t0=$SECONDS label=$1; shift
  "$@"
  TIMINGS+=("$(printf '%-34s %4ds' "$label" $((SECONDS - t0)))")
}

install_prereqs() {
  local need=()
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v systemd-nspawn >/dev/null || need+=(systemd-container)
  command -v nsenter >/dev/null || need+=(util-linux)
  # Root with podman needs neither uidmap, slirp4netns nor fuse-overlayfs: the
  # scenarios run podman as root, with the kernel's overlay driver.
  if ((${#need[@]})); then
    log "installing prerequisites: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # debian-archive-keyring checks the trixie Release file signature
  [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || {
    apt-get update -qq; apt-get install -y -qq debian-archive-keyring >/dev/null; }
}

# Make a debootstrapped tree boot cleanly as a container (podman and nspawn).
configure_rootfs() { # dir
  local root=$1
  # No consoles: a container has no ttys for getty, and serial-getty fails.
  local u
  for u in getty@tty1.service console-getty.service serial-getty@ttyS0.service \
           getty.target systemd-logind-varlink.socket \
           systemd-networkd-wait-online.service systemd-timesyncd.service \
           apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
           e2scrub_all.timer e2scrub_reap.service fstrim.timer \
           systemd-firstboot.service systemd-homed.service \
           sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
           dev-hugepages.mount systemd-remount-fs.service; do
    ln -sfn /dev/null "$root/etc/systemd/system/$u"
  done
  # node_exporter is installed for the metrics tests; those tests start it themselves.
  rm -f "$root/etc/systemd/system/multi-user.target.wants/prometheus-node-exporter.service"
  # systemd generates a machine-id at first boot when the file is empty; an empty
  # file (not a missing one) keeps first-boot units such as systemd-firstboot quiet.
  : > "$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  echo reaper-lab > "$root/etc/hostname"
  # No fstab entries for a container.
  : > "$root/etc/fstab"
  # Keep the journal small and in memory-sized limits.
  mkdir -p "$root/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=persistent\nSystemMaxUse=64M\n' > "$root/etc/systemd/journald.conf.d/reaper-lab.conf"
  # Apt lists and caches are not needed at run time.
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* 2>/dev/null || true
  # systemd version stamp for quick inspection
  # shellcheck disable=SC2016  # ${Version} is dpkg-query's, not the shell's
  chroot "$root" dpkg-query -W -f '${Version}\n' systemd > "$root/etc/reaper-lab-systemd-version"
}

build_debootstrap() { # suite name
  local suite=$1 name=$2 dir="$CACHE/$2"
  if (( ! FORCE )) && stamp_ok "$name"; then
    log "$name: rootfs current ($dir)"
    return
  fi
  log "$name: debootstrap $suite from $MIRROR"
  rm -rf "$dir.new" "$CACHE/$name.stamp"
  local incl
  incl=$(IFS=,; echo "${BASE_PACKAGES[*]}")
  if ! debootstrap --variant=minbase --include="$incl" "$suite" "$dir.new" "$MIRROR" \
        > "$CACHE/$name.debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE/$name.debootstrap.log" >&2
    [[ -f "$dir.new/debootstrap/debootstrap.log" ]] && tail -n 30 "$dir.new/debootstrap/debootstrap.log" >&2
    die "$name: debootstrap failed (full log: $CACHE/$name.debootstrap.log)"
  fi
  configure_rootfs "$dir.new"
  rm -rf "$dir"
  mv "$dir.new" "$dir"
  echo "$ROOTFS_HASH" > "$CACHE/$name.stamp"
}

build_nopsutil() {
  local name=bookworm-nopsutil dir="$CACHE/bookworm-nopsutil"
  if (( ! FORCE )) && stamp_ok "$name" && [[ "$CACHE/bookworm.stamp" -ot "$CACHE/$name.stamp" ]]; then
    log "$name: rootfs current ($dir)"
    return
  fi
  log "$name: copy of bookworm without ${NOPSUTIL_PURGE[*]}"
  rm -rf "$dir.new" "$CACHE/$name.stamp"
  cp -a --reflink=auto "$CACHE/bookworm" "$dir.new"
  chroot "$dir.new" env DEBIAN_FRONTEND=noninteractive dpkg --purge "${NOPSUTIL_PURGE[@]}" >/dev/null
  if chroot "$dir.new" python3 -c 'import psutil' 2>/dev/null; then
    die "$name: psutil still importable after purge"
  fi
  rm -rf "$dir"
  mv "$dir.new" "$dir"
  echo "$ROOTFS_HASH" > "$CACHE/$name.stamp"
}

import_image() { # name
  local name=$1
  if (( ! FORCE )) && image_ok "$name" && [[ "$CACHE/$name.stamp" -ot "$CACHE/$name.imported" ]]; then
    log "$name: image $IMAGE_REPO:$name current"
    return
  fi
  log "$name: podman import -> $IMAGE_REPO:$name"
  tar -C "$CACHE/$name" --numeric-owner -c . \
    | podman import -q \
        --change 'CMD ["/lib/systemd/systemd"]' \
        --change 'ENV container=podman' \
        --change 'STOPSIGNAL SIGRTMIN+3' \
        --change "LABEL reaper-lab.hash=$IMAGE_HASH" \
        --change "LABEL reaper-lab.systemd=$(cat "$CACHE/$name/etc/reaper-lab-systemd-version")" \
        - "$IMAGE_REPO:$name" >/dev/null
  touch "$CACHE/$name.imported"
}

# What defines a rootfs: the package lists and the functions that build and configure
# it. What defines an image: that plus the import step. Comments and the rest of the
# script do not trigger a rebuild.
ROOTFS_HASH="$( { declare -p BASE_PACKAGES NOPSUTIL_PURGE; declare -f configure_rootfs build_debootstrap build_nopsutil; } \
  | sha256sum | cut -c1-16)"
IMAGE_HASH="$( { echo "$ROOTFS_HASH"; declare -f import_image; } | sha256sum | cut -c1-16)"

if (( CHECK )); then
  command -v podman >/dev/null || exit 1
  for t in bookworm trixie bookworm-nopsutil; do
    stamp_ok "$t" && image_ok "$t" || exit 1
  done
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"

timed "prerequisites" install_prereqs
timed "rootfs bookworm (debootstrap)" build_debootstrap bookworm bookworm
timed "rootfs trixie (debootstrap)" build_debootstrap trixie trixie
timed "rootfs bookworm-nopsutil (copy)" build_nopsutil
for t in bookworm trixie bookworm-nopsutil; do
  timed "image $t (import)" import_image "$t"
done
# Old untagged layers from earlier imports
podman image prune -f >/dev/null 2>&1 || true

log "timings:"
for line in "${TIMINGS[@]}"; do echo "    $line"; done
echo "    $(printf '%-34s %4ds' total $((SECONDS - T_START)))"
podman images --filter "reference=$IMAGE_REPO" --format '    {{.Repository}}:{{.Tag}}  {{.Size}}  systemd {{ index .Labels "reaper-lab.systemd" }}'
