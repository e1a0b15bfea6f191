# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Synthetic host load for the benchmarks; runs as root INSIDE a lab container.

    python3 loadgen.py setup
    python3 loadgen.py scale --processes N --units U --zombies Z --zombie-units ZU
    python3 loadgen.py extras --leftovers L --escapes E
    python3 loadgen.py status

The load is made of real services and real processes, as on a host:
- bench@1..U.service: each main process (/bin/sh) starts its share of N `sleep`
  processes and waits for them (the bulk: `sleep` keeps memory low);
- bench-zombie@1..ZU.service: the main process forks Z/ZU children that exit at once
  and execs a `sleep` that never reaps them: Z zombies attributed through their parent;
- bench-leftover.service (KillMode=process), stopped: its children stay behind (left-overs);
- bench-escape.service: children started with `systemd-run --scope` (escapes).
Prints one JSON object on stdout. Python standard library only.
"""

import argparse
import json
import os
import subprocess
import sys
import time

UNIT_DIR = "/etc/systemd/system"
STATE_DIR = "/run/reaper-bench"
LIB_DIR = "/opt/reaper-bench"

UNITS = {
    "bench@.service": """\
# reaper.systemd benchmark load: one instance runs its share of the sleeping processes
[Unit]
Description=reaper bench load %i

[Service]
Type=exec
EnvironmentFile=/run/reaper-bench/load.env
ExecStart=/bin/sh /opt/reaper-bench/spawn.sh %i
TimeoutStopSec=30s
""",
    "bench-zombie@.service": """\
# reaper.systemd benchmark load: a main process that never reaps its children
[Unit]
Description=reaper bench zombie factory %i

[Service]
Type=exec
EnvironmentFile=/run/reaper-bench/load.env
ExecStart=/usr/bin/python3 /opt/reaper-bench/zombies.py %i
TimeoutStopSec=30s
""",
    "bench-leftover.service": """\
# reaper.systemd benchmark load: KillMode=process leaves the children behind on stop
[Unit]
Description=reaper bench left-overs

[Service]
Type=exec
EnvironmentFile=/run/reaper-bench/extras.env
ExecStart=/bin/sh -c 'i=0; while [ $i -lt $BENCH_LEFTOVERS ]; do sleep infinity & i=$((i+1)); done; exec sleep infinity'
KillMode=process
TimeoutStopSec=10s
""",
    "bench-escape.service": """\
# reaper.systemd benchmark load: children escape into transient scopes
[Unit]
Description=reaper bench escapes

[Service]
Type=exec
EnvironmentFile=/run/reaper-bench/extras.env
ExecStart=/bin/sh -c 'i=0; while [ $i -lt $BENCH_ESCAPES ]; do systemd-run --quiet --scope --unit=bench-escape-$i sleep infinity & i=$((i+1)); done; wait'
TimeoutStopSec=10s
""",
}

SCRIPTS = {
    # $1 = instance number; instance i runs BENCH_PER (+1 for the first BENCH_REM) sleeps.
    "spawn.sh": """\
n=$BENCH_PER
if [ "$1" -le "$BENCH_REM" ]; then n=$((n + 1)); fi
i=0
while [ $i -lt $n ]; do sleep infinity & i=$((i + 1)); done
wait
""",
    # Children exit at once and nothing reaps them: Python does not wait() unless asked,
    # and the `sleep` it execs into (the unit's main process from then on) never does.
    # (A shell loop of short `sleep`s is not reliable: dash reaps children that exit
    # while its loop still runs, which a loaded machine makes likely.)
    "zombies.py": """\
import os
import sys

n = int(os.environ["BENCH_ZPER"]) + (1 if int(sys.argv[1]) <= int(os.environ["BENCH_ZREM"]) else 0)
for _ in range(n):
    if os.fork() == 0:
        os._exit(0)
os.execv("/bin/sleep", ["sleep", "infinity"])
""",
}


def run(*cmd):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def counts():
    """What /proc holds now: processes, threads, zombies, sleeping `sleep`s."""
    total = threads = zombies = sleeps = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                text = handle.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        total += 1
        threads += int(rest[17])
        if rest[0] == "Z":
            zombies += 1
        elif comm == "sleep":
            sleeps += 1
    return {"processes": total, "threads": threads, "zombies": zombies, "sleeps": sleeps}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        now = counts()
        if predicate(now):
            return now
        if time.monotonic() > deadline:
            sys.exit("loadgen: timed out after %ds waiting for %s; /proc holds %s" % (timeout, what, now))
        time.sleep(0.5)


def instances(template, count):
    return ["%s@%d.service" % (template, i) for i in range(1, count + 1)]


def cmd_setup(_args):
    os.makedirs(STATE_DIR, exist_ok=True)
    for name, text in SCRIPTS.items():
        write(os.path.join(LIB_DIR, name), text)
    for name, text in UNITS.items():
        write(os.path.join(UNIT_DIR, name), text)
    write(os.path.join(STATE_DIR, "load.env"), "BENCH_PER=0\nBENCH_REM=0\nBENCH_ZPER=0\nBENCH_ZREM=0\n")
    write(os.path.join(STATE_DIR, "extras.env"), "BENCH_LEFTOVERS=0\nBENCH_ESCAPES=0\n")
    run("systemctl", "daemon-reload")
    return counts()


def cmd_scale(args):
    """Stop the previous load, then start N sleeping processes over U units and Z zombies over ZU."""
    started = time.monotonic()
    subprocess.run(["systemctl", "stop", "bench@*.service", "bench-zombie@*.service"], check=True)
    baseline = wait_for(lambda c: True, 0, "nothing")
    per, rem = divmod(args.processes, args.units)
    zper, zrem = divmod(args.zombies, args.zombie_units)
    write(
        os.path.join(STATE_DIR, "load.env"),
        "BENCH_PER=%d\nBENCH_REM=%d\nBENCH_ZPER=%d\nBENCH_ZREM=%d\n" % (per, rem, zper, zrem),
    )
    units = instances("bench", args.units) + instances("bench-zombie", args.zombie_units)
    # Start in batches: one systemctl call per batch keeps the command line short.
    for i in range(0, len(units), 50):
        run("systemctl", "start", *units[i : i + 50])
    want_sleeps = baseline["sleeps"] + args.processes
    now = wait_for(
        lambda c: c["zombies"] >= baseline["zombies"] + args.zombies and c["sleeps"] >= want_sleeps,
        args.timeout,
        "%d sleeping processes and %d zombies" % (args.processes, args.zombies),
    )
    now["setup_s"] = round(time.monotonic() - started, 1)
    return now


def cmd_extras(args):
    """Left-overs of a stopped KillMode=process unit, and escapes into transient scopes."""
    write(
        os.path.join(STATE_DIR, "extras.env"), "BENCH_LEFTOVERS=%d\nBENCH_ESCAPES=%d\n" % (args.leftovers, args.escapes)
    )
    before = counts()
    run("systemctl", "start", "bench-leftover.service", "bench-escape.service")
    wait_for(
        lambda c: c["sleeps"] >= before["sleeps"] + args.leftovers + 1 + args.escapes,
        args.timeout,
        "%d left-over and %d escaped sleeping processes" % (args.leftovers, args.escapes),
    )
    run("systemctl", "stop", "bench-leftover.service")
    return wait_for(
        lambda c: c["sleeps"] >= before["sleeps"] + args.leftovers + args.escapes,
        args.timeout,
        "the left-overs to outlive the stop",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.required = True
    sub.add_parser("setup")
    sub.add_parser("status")
    scale = sub.add_parser("scale")
    scale.add_argument("--processes", type=int, required=True)
    scale.add_argument("--units", type=int, required=True)
    scale.add_argument("--zombies", type=int, required=True)
    scale.add_argument("--zombie-units", type=int, default=5)
    scale.add_argument("--timeout", type=int, default=600)
    extras = sub.add_parser("extras")
    extras.add_argument("--leftovers", type=int, default=20)
    extras.add_argument("--escapes", type=int, default=10)
    extras.add_argument("--timeout", type=int, default=120)
    args = parser.parse_args()
    handler = {
        "setup": cmd_setup,
        "status": lambda _a: counts(),
        "scale": cmd_scale,
        "extras": cmd_extras,
    }[args.command]
    print(json.dumps(handler(args), sort_keys=True))


if __name__ == "__main__":
    main()
