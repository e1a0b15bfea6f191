#!/usr/bin/env bash
# The runbook approach the benchmark compares against: what an operator scripts today
# to find the zombies each service leaves, one unit at a time. Runs INSIDE the lab
# container. For every loaded service: ask systemd for its main PID and control group,
# list the processes (`ps`), keep the unit's own by cgroup (grep) and count the defunct
# processes whose parent is one of them (zombies show `/` in the v1 hierarchies, so
# they are found through their parent).
# Prints "UNIT ZOMBIES" for each unit with zombies, then a JSON summary line.
set -euo pipefail

units=0
with_zombies=0
zombies=0
while read -r unit _; do
    units=$((units + 1))
    main_pid=0
    cgroup=
    while IFS='=' read -r key value; do
        case "$key" in
            MainPID) main_pid=$value ;;
            ControlGroup) cgroup=$value ;;
        esac
    done < <(systemctl show -p MainPID,ControlGroup "$unit")
    [[ -n "$cgroup" ]] || continue
    table=$(ps -eo pid,ppid,stat,cgroup)
    pids=$(grep -F -- "$cgroup" <<<"$table" | awk '{print $1}' || true)
    n=$(awk -v pids="$pids $main_pid" '
        BEGIN { split(pids, list); for (i in list) mine[list[i]] = 1 }
        $3 ~ /^Z/ && ($2 in mine) { n++ }
        END { print n + 0 }' <<<"$table")
    if ((n > 0)); then
        echo "$unit $n"
        with_zombies=$((with_zombies + 1))
        zombies=$((zombies + n))
    fi
done < <(systemctl list-units --type=service --all --no-legend --plain)
printf '{"units": %d, "units_with_zombies": %d, "zombies": %d}\n' "$units" "$with_zombies" "$zombies"
