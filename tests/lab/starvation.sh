#!/usr/bin/env bash
# The starvation case of issue 20 (point 5), on a lab container that runs systemd:
# a-leak.service (first in name order) leaves LEFTOVERS processes behind when stopped
# (KillMode=process), b-factory.service holds ZOMBIES zombies its main process never
# reaps. The cleanup command of REF (a git ref of this checkout) runs RUNS times, as the
# timer's service would (systemd-run, stdout to the journal), with kill_leftovers and
# restart_unit on both units, no cool-down and the default budget (max_actions 10, 30 an hour).
# After each run it prints both units' remaining leaks and how many journal lines the
# run wrote.
#
#   CONTAINERS_CONF=tests/lab/containers.conf tests/lab/starvation.sh CONTAINER REF [LEFTOVERS] [ZOMBIES] [RUNS]
#
# The container: podman run -d --systemd=always --pids-limit=-1 localhost/reaper-lab:bookworm /lib/systemd/systemd
# Keep LEFTOVERS + ZOMBIES well below pid_max (32768 host-wide).
set -euo pipefail

C="$1"
REF="$2"
LEFTOVERS="${3:-5000}"
ZOMBIES="${4:-2000}"
RUNS="${5:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
in_lab() { podman exec -i "$C" bash -c "$1"; }

# The code under test, as the role installs it: module_utils as the package reaper_systemd.
git -C "$ROOT" archive "$REF" plugins/module_utils | in_lab '
  rm -rf /opt/rs && mkdir -p /opt/rs && tar -x -C /opt/rs && mv /opt/rs/plugins/module_utils /opt/rs/reaper_systemd
  printf "%s\n" "import sys" "sys.path.insert(0, \"/opt/rs\")" \
    "from reaper_systemd.cleanup_command import main" "sys.exit(main())" > /opt/rs/run.py'

in_lab "
  cat > /etc/systemd/system/a-leak.service <<UNIT
[Service]
KillMode=process
TimeoutStopSec=5
ExecStart=/bin/bash -c 'for ((i = 0; i < $LEFTOVERS; i++)); do sleep 1d & done; exec sleep 1d'
UNIT
  cat > /etc/systemd/system/b-factory.service <<UNIT
[Service]
KillMode=mixed
TimeoutStopSec=5
ExecStart=/usr/bin/python3 /opt/rs/factory.py $ZOMBIES
UNIT
  printf '%s\n' 'import os, sys, time' 'for _ in range(int(sys.argv[1])):' '    os.fork() or os._exit(0)' \
    'time.sleep(86400)' > /opt/rs/factory.py
  mkdir -p /etc/rs /var/lib/rs /run/reaper-systemd && chmod 0700 /etc/rs /var/lib/rs
  rm -f /var/lib/rs/state.json
  cat > /etc/rs/cleanup.json <<JSON
{\"units\": [\"a-leak.service\", \"b-factory.service\"], \"actions\": [\"kill_leftovers\", \"restart_unit\"],
 \"min_zombie_age\": 0, \"grace\": 3, \"cooldown\": 0, \"state_path\": \"/var/lib/rs/state.json\",
 \"pause_path\": \"/etc/rs/paused\"}
JSON
  chmod 0600 /etc/rs/cleanup.json
  systemctl daemon-reload
  systemctl stop a-leak b-factory 2>/dev/null || true
  systemctl kill --kill-who=all --signal=SIGKILL a-leak 2>/dev/null || true
  systemctl start a-leak b-factory
"
# wait for the loads, then stop a-leak: its children stay behind
in_lab "
  cg() { echo /sys/fs/cgroup/systemd\$(systemctl show -p ControlGroup --value \$1)/cgroup.procs; }
  for _ in \$(seq 120); do [ \$(wc -l < \$(cg a-leak)) -gt $LEFTOVERS ] && break; sleep 1; done
  systemctl stop a-leak
  for _ in \$(seq 60); do [ \$(ps -o stat= --ppid \$(systemctl show -p MainPID --value b-factory) | grep -c Z) -ge $ZOMBIES ] && break; sleep 1; done
"

# shellcheck disable=SC2016  # expanded by the shell inside the container
status='
  cg=/sys/fs/cgroup/systemd$(systemctl show -p ControlGroup --value a-leak)
  left=$(cat $cg/cgroup.procs 2>/dev/null | wc -l)
  main=$(systemctl show -p MainPID --value b-factory)
  zombies=$(ps -o stat= --ppid $main | grep -c Z || true)
  echo "  a-leak.service: $(systemctl show -p ActiveState --value a-leak), $left left-over(s)"
  echo "  b-factory.service: $(systemctl show -p ActiveState --value b-factory), main PID $main, $zombies zombie(s), InvocationID $(systemctl show -p InvocationID --value b-factory)"'
echo "== $REF ($(git -C "$ROOT" rev-parse --short "$REF")): before"
in_lab "$status"
for run in $(seq "$RUNS"); do
  in_lab "
    since=\$(date +%s.%N)
    start=\$(date +%s.%N)
    systemd-run --quiet --wait --collect --unit=rs-cleanup-$run -p StandardOutput=journal -p StandardError=journal \
      /usr/bin/python3 -I -B /opt/rs/run.py --config /etc/rs/cleanup.json && rc=0 || rc=\$?
    end=\$(date +%s.%N)
    sleep 1
    lines=\$(journalctl --no-pager -o cat --since @\$since _SYSTEMD_UNIT=rs-cleanup-$run.service + SYSLOG_IDENTIFIER=reaper-systemd | wc -l)
    echo \"== run $run: exit \$rc, \$(echo \"\$end - \$start\" | python3 -c 'import sys; print(\"%.1fs\" % eval(sys.stdin.read()))'), \$lines journal line(s)\"
    journalctl --no-pager -o cat --since @\$since SYSLOG_IDENTIFIER=reaper-systemd | grep -E 'kill|restart|circuit|summary|action\\(s\\)' | head -6 | sed 's/^/  journal: /'
    journalctl --no-pager -o cat --since @\$since _SYSTEMD_UNIT=rs-cleanup-$run.service | grep -v '^reaper-systemd' | head -4 | cut -c1-160 | sed 's/^/  stdout: /'
  "
  in_lab "$status"
done
