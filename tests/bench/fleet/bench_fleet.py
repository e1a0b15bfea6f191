# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: the audit's report plays for thousands of simulated hosts, on the controller alone.

Every simulated host has the same recorded process_facts result (150 units, ``recorded_facts``).
controller.py puts into Ansible's variables what the audit's scan play leaves for each host, before
(the registered scan plus the full facts in reaper_audit) or after the trimming (what the report
needs), then runs the real report plays (reaper.systemd.audit_report) with Ansible's PlaybookExecutor.
No host is contacted: the per-host scan tasks cost connections, not controller memory, and are left
out. Prints, per fleet size and mode, the report plays' wall and CPU time and the controller's peak
RSS; writes the Markdown table to tests/bench/output/fleet.md.

    python3 tests/bench/fleet/bench_fleet.py --hosts 1000 5000 --units 150
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUTPUT = os.path.join(REPO, "tests", "bench", "output")
REPORT_PLAY = "Write the fleet report on the controller"


def unit(idx, leaking):
    """One unit as process_facts returns it; a leaking one has zombies, left-overs and an escape."""
    name = "svc%03d.service" % idx
    base = 10000 + idx * 100
    item = {
        "active_state": "active",
        "sub_state": "running",
        "main_pid": base,
        "control_group": "/system.slice/%s" % name,
        "kill_mode": "process" if idx in (1, 2) else "control-group",
        "kill_signal": 15,
        "send_sigkill": True,
        "timeout_stop_sec": 90,
        "tasks_current": 12,
        "tasks_max": 4915,
        "tasks_usage": 0.0024,
        "delegate": False,
        "n_restarts": idx % 3,
        "invocation_id": "%032x" % (idx * 7919),
        "active_enter_monotonic": 12345678 + idx,
        "inactive_exit_monotonic": 12345000 + idx,
        "processes": 12,
        "zombies": [],
        "leftovers": [],
        "survivors": [],
        "escaped": [],
        "counts": {"zombies": 0, "leftovers": 0, "survivors": 0, "escaped": 0},
    }
    if leaking:
        item["zombies"] = [
            {"pid": base + k, "ppid": base, "parent_comm": "worker", "parent_is_main": True, "age_s": 600.5 + k}
            for k in range(1, 6)
        ]
        item["leftovers"] = [{"pid": base + 50 + k, "comm": "batch-job", "uid": 0, "age_s": 3600.0} for k in range(3)]
        item["escaped"] = [
            {
                "pid": base + 80,
                "comm": "runner",
                "uid": 1000,
                "now_in": "/user.slice/user-1000.slice/session-4.scope",
                "route": "pam_session",
                "evidence": ["ancestry", "session_id"],
            }
        ]
        item["counts"] = {"zombies": 5, "leftovers": 3, "survivors": 0, "escaped": 1}
    return name, item


def recorded_facts(units):
    # a typical host: every unit reported, one of them leaking, two packaged KillMode=process units
    all_units = dict(unit(i, i == 7) for i in range(units))
    findings = []
    for name, item in sorted(all_units.items()):
        if item["counts"]["zombies"]:
            findings.append(
                {
                    "code": "zombies",
                    "severity": "warning",
                    "unit": name,
                    "summary": "5 zombie(s) older than 60s under unit %s (parents: %d x5)" % (name, item["main_pid"]),
                    "evidence": {"zombies": 5, "parents": {str(item["main_pid"]): 5}},
                    "remedy": "restart the unit: reaper.systemd.reap (actions: [restart_unit])",
                }
            )
        if item["kill_mode"] == "process":
            findings.append(
                {
                    "code": "weak_killmode",
                    "severity": "info",
                    "unit": name,
                    "summary": "%s uses KillMode=process" % name,
                    "evidence": {"kill_mode": "process"},
                    "remedy": "reaper.systemd.killmode_hardening",
                }
            )
    return {
        "host": {
            "systemd": True,
            "systemd_version": 252,
            "cgroup_layout": "hybrid",
            "backend": "procfs",
            "privilege": "full",
            "pid_max": 32768,
            "threads_max": 250000,
            "processes": 1850,
            "threads": 2400,
            "zombies": 5,
            "pid_usage": 0.073,
            "thread_usage": 0.0096,
            "zombies_outside_units": [],
            "unattributed_escapes": [],
            "containers": [],
            "environ_denied": 0,
            "unreadable_processes": 0,
        },
        "units": all_units,
        "findings": findings,
        "unmatched": [],
    }


def load1():
    return os.getloadavg()[0]


def run(hosts, mode, facts_path, workdir, cap_s=0):
    """One measurement in a fresh process (controller.py); returns its figures.

    With ``cap_s``, a run still going after that many seconds is stopped and reported as capped.
    """
    report_dir = os.path.join(workdir, "report-%d-%s" % (hosts, mode))
    log = os.path.join(workdir, "run-%d-%s.log" % (hosts, mode))
    start = time.monotonic()
    load_start = load1()
    with open(log, "w") as handle:
        try:
            proc = subprocess.run(
                [sys.executable, os.path.join(HERE, "controller.py"), str(hosts), mode, facts_path, report_dir],
                stdout=handle,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
                timeout=cap_s or None,
            )
        except subprocess.TimeoutExpired:
            return {"hosts": hosts, "mode": mode, "capped_s": cap_s, "load_start": load_start, "load_end": load1()}
    lines = [line for line in proc.stderr.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit("bench-fleet: the run for %d hosts (%s) failed; its output: %s" % (hosts, mode, log))
    row = json.loads(lines[-1][len("BENCH ") :])
    row["process_s"] = time.monotonic() - start
    row["load_start"], row["load_end"] = load_start, load1()
    if row["rc"] != 0 or row["report_hosts"] != hosts:
        raise SystemExit("bench-fleet: the report plays failed or missed hosts (%s); see %s" % (row, log))
    return row


def table(rows):
    lines = [
        "| hosts | what the audit keeps per host | report plays, wall | their CPU | controller peak RSS "
        "| of which before the report | load (1 min) at start / end | report.json | report.html |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        kept = "what the report needs (now)" if r["mode"] == "after" else "registered scan + full facts (before)"
        load = "%.1f / %.1f" % (r["load_start"], r["load_end"])
        if "capped_s" in r:
            lines.append(
                "| {:,} | {} | not finished in {:.0f} s (capped) | - | - | - | {} | - | - |".format(
                    r["hosts"], kept, r["capped_s"], load
                )
            )
            continue
        lines.append(
            "| {:,} | {} | {:.1f} s | {:.1f} s | {:.0f} MiB | {:.0f} MiB | {} | {:.1f} MiB | {:.1f} MiB |".format(
                r["hosts"],
                kept,
                r["report_wall_s"],
                r["report_cpu_s"],
                r["peak_rss_mb"],
                r["rss_before_report_mb"],
                load,
                r["report_json_mb"],
                r["report_html_mb"],
            )
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--units", type=int, default=150)
    parser.add_argument("--modes", default="before,after", help="before (no trimming), after (trimming), or both")
    parser.add_argument("--timeout", type=float, default=0, help="skip the remaining runs after this many seconds")
    parser.add_argument(
        "--cap",
        type=float,
        default=0,
        help="stop a run (setup included) still going after this many seconds and report it as capped",
    )
    args = parser.parse_args()
    os.makedirs(OUTPUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="reaper-bench-fleet-")
    facts = recorded_facts(args.units)
    facts_path = os.path.join(workdir, "facts.json")
    with open(facts_path, "w") as handle:
        json.dump(facts, handle)
    scan_kb = len(json.dumps({"changed": False, "ansible_facts": {"reaper": facts}})) / 1024.0
    load_start = " ".join("%.2f" % v for v in os.getloadavg())
    modes = [m.strip() for m in args.modes.split(",")]
    rows = []
    began = time.monotonic()
    for hosts in args.hosts:
        for mode in modes:
            if args.timeout and time.monotonic() - began > args.timeout:
                print("%5d hosts, %-6s: skipped (--timeout %.0f s reached)" % (hosts, mode, args.timeout), flush=True)
                continue
            row = run(hosts, mode, facts_path, workdir, args.cap)
            rows.append(row)
            if "capped_s" in row:
                print("%5d hosts, %-6s: not finished in %.0f s (capped)" % (hosts, mode, args.cap), flush=True)
                continue
            print(
                "%5d hosts, %-6s: report plays %.1f s wall, %.1f s CPU, peak RSS %.0f MiB (load %.1f to %.1f)"
                % (
                    hosts,
                    mode,
                    row["report_wall_s"],
                    row["report_cpu_s"],
                    row["peak_rss_mb"],
                    row["load_start"],
                    row["load_end"],
                ),
                flush=True,
            )
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join("%.2f" % v for v in os.getloadavg())
    header = (
        "%s; %d CPUs, load average at the start %s, at the end %s; Python %s; one scan of %d units "
        "(%.0f KB of JSON as registered) on every host"
        % (when, os.cpu_count(), load_start, load, platform.python_version(), args.units, scan_kb)
    )
    text = header + "\n\n" + table(rows) + "\n"
    print()
    print(text)
    with open(os.path.join(OUTPUT, "fleet.md"), "w") as handle:
        handle.write(text)
    with open(os.path.join(OUTPUT, "fleet.json"), "w") as handle:
        json.dump({"header": header, "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
