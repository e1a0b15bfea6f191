#!/usr/bin/env bash
# Install the Debian packages whose command (or Python module) is missing.
#
#   tools/apt-ensure.sh COMMAND=PACKAGE ... [py:MODULE=PACKAGE ...]
#
# `py:MODULE` checks `python3 -c 'import MODULE'` instead of a command.
# Runs `apt-get update` at most once, and only when something is missing and the
# package lists are older than 6 hours. Non-interactive; does nothing when all is there.
set -euo pipefail

missing=()
for spec in "$@"; do
    what=${spec%%=*}
    pkg=${spec#*=}
    if [[ $what == py:* ]]; then
        python3 -c "import ${what#py:}" >/dev/null 2>&1 || missing+=("$pkg")
    else
        command -v "$what" >/dev/null 2>&1 || missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-ensure: missing ${missing[*]} and apt-get is not available: install them by hand" >&2
    exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "apt-ensure: missing ${missing[*]}: run as root or install them by hand" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# Packages are installed for the tests, never to run as services here: while apt-get runs, a
# policy-rc.d refuses every service start (invoke-rc.d and deb-systemd-invoke ask it, with or
# without systemd as PID 1), so installing e.g. `prometheus` leaves no daemon running. A
# policy-rc.d the machine already has is left as it is.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# tools/apt-ensure.sh (reaper.systemd): no service starts while it installs\nexit 101\n' |
        "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 0755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 -print -quit 2>/dev/null) ]]; then
    echo "apt-ensure: apt-get update"
    "${sudo[@]}" apt-get update -q -o DPkg::Lock::Timeout=600
fi
echo "apt-ensure: installing ${missing[*]}"
"${sudo[@]}" apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
