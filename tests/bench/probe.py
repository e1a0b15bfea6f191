# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measurements taken INSIDE the lab container; each subcommand prints JSON on stdout.

    python3 probe.py scan-once --backend procfs   # one scan in this fresh process
    python3 probe.py series --repeat 5            # procfs, psutil and ps, round-robin
    python3 probe.py profile --backend procfs     # cProfile of one scan: top entries
    python3 probe.py runbook --repeat 1           # the per-unit shell loop (runbook.sh)
    python3 probe.py variants --repeat 5          # the scan's systemd query beside others, fewer /proc reads
    python3 probe.py cleanup-once --config F      # one run of the cleanup command's main()
    python3 probe.py command --repeat 5 -- CMD... # any command: wall and CPU per run

The module_utils of the collection are importable as the package ``reaper_systemd``
from lib/ next to this file (copied there by the driver, as the cleanup_timer role
installs them on a host). Python standard library only.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(HERE, "lib")
# Zombies are flagged at any age, so the bench's young zombies cost what old ones do.
SCAN_OPTIONS = {"min_zombie_age": 0}


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pid1_cpu():
    """CPU seconds systemd (PID 1) has used: answering the scan (or systemctl) costs it too."""
    with open("/proc/1/stat") as handle:
        rest = handle.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / float(os.sysconf("SC_CLK_TCK"))


def _timed_phases():
    """Wrap the scan's phases (systemd query, /proc table, analysis) with timers.

    Patches module attributes of the copied module_utils in this process only;
    the code under test is unchanged. systemd is asked in a thread while the
    main thread reads /proc: CPU is counted per thread (time.thread_time), and
    "wait" is how long the main thread waited for systemd's answer after its
    own /proc pass.
    """
    from reaper_systemd import scan as scan_mod  # pylint: disable=import-outside-toplevel

    phases = {}

    def timed(name, func):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            c0 = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
                phases[name + "_cpu"] = phases.get(name + "_cpu", 0.0) + time.thread_time() - c0

        return wrapper

    scan_mod.systemd_units.ask_systemd = timed("units", scan_mod.systemd_units.ask_systemd)
    scan_mod.proc_table.snapshot = timed("table", scan_mod.proc_table.snapshot)
    original_run = scan_mod.Analyzer.run
    scan_mod.Analyzer.run = timed("analysis", original_run)
    background = getattr(scan_mod, "_InBackground", None)
    if background is not None:
        background.result = timed("wait", background.result)
    return phases


def _rest(phases, wall, cpu):
    """What the timed phases leave of the scan's wall and CPU (facts, findings)."""
    if "wait" in phases:
        # systemd's phases overlap the table: the main thread's time is table + wait + analysis
        on_main = ("table", "wait", "analysis")
    else:
        on_main = ("table", "units", "analysis")
    phases["rest"] = wall - sum(phases.get(name, 0.0) for name in on_main)
    phases["rest_cpu"] = cpu - sum(v for k, v in phases.items() if k.endswith("_cpu"))


def cmd_scan_once(args):
    """One scan in this process: wall, CPU (own and children's), peak RSS, phases."""
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_import = time.perf_counter()
    sys.path.insert(0, LIB)
    from reaper_systemd.scan import ScanOptions, scan  # pylint: disable=import-outside-toplevel

    import_s = time.perf_counter() - t_import
    phases = _timed_phases()
    options = ScanOptions(backend=args.backend, **SCAN_OPTIONS)
    pid1_0 = _pid1_cpu()
    child_0 = _children_cpu()
    cpu_0 = time.process_time()
    t0 = time.perf_counter()
    result = scan(options)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu_0
    children = _children_cpu() - child_0
    pid1 = _pid1_cpu() - pid1_0
    host = result.facts["host"]
    _rest(phases, wall, cpu)
    return {
        "backend": args.backend,
        "wall_s": wall,
        "cpu_s": cpu,
        "children_cpu_s": children,
        "pid1_cpu_s": pid1,
        "import_s": import_s,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "maxrss_start_kb": rss_start,
        "phases": phases,
        "processes": host["processes"],
        "threads": host["threads"],
        "zombies": host["zombies"],
        "units": len(result.units),
        "systemd_source": result.systemd_source,
        "findings": len(result.facts["findings"]),
        "counts": _totals(result.facts["units"]),
    }


def _totals(units):
    totals = {}
    for unit in units.values():
        for key, value in unit["counts"].items():
            totals[key] = totals.get(key, 0) + value
    return totals


def cmd_cleanup_once(args):
    """One run of the cleanup command's main() in this process, its output kept aside."""
    import io  # pylint: disable=import-outside-toplevel

    t_import = time.perf_counter()
    sys.path.insert(0, LIB)
    from reaper_systemd.cleanup_command import main  # pylint: disable=import-outside-toplevel

    import_s = time.perf_counter() - t_import
    real_stdout, sys.stdout = sys.stdout, io.StringIO()
    pid1_0 = _pid1_cpu()
    child_0 = _children_cpu()
    cpu_0 = time.process_time()
    t0 = time.perf_counter()
    try:
        rc = main(["--config", args.config])
    finally:
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu_0
        output, sys.stdout = sys.stdout.getvalue(), real_stdout
    return {
        "rc": rc,
        "wall_s": wall,
        "cpu_s": cpu,
        "children_cpu_s": _children_cpu() - child_0,
        "pid1_cpu_s": _pid1_cpu() - pid1_0,
        "import_s": import_s,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "output": output[-2000:],
    }


def _run_measured(cmd, capture=True):
    """Run CMD to completion: wall time, CPU of it and its children, stdout."""
    child_0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - child_0
    if proc.returncode != 0:
        sys.exit("probe: %s exited with %d" % (" ".join(cmd), proc.returncode))
    return wall, cpu, proc.stdout


def measure_scan(backend):
    """A fresh interpreter runs one scan: its own figures plus the whole process's.

    -B as the cleanup service runs: nothing writes bytecode caches, so every fresh
    process compiles the module_utils it imports (an AnsiballZ payload does too).
    """
    cmd = [sys.executable, "-I", "-B", os.path.abspath(__file__), "scan-once", "--backend", backend]
    pid1_0 = _pid1_cpu()
    wall, cpu, out = _run_measured(cmd)
    record = json.loads(out)
    record["process_wall_s"] = wall
    record["process_cpu_s"] = cpu
    record["process_pid1_cpu_s"] = _pid1_cpu() - pid1_0
    return record


# What the cleanup_timer role installs as the service's launcher (reaper-cleanup.py.j2).
LAUNCHER = """import sys

sys.path.insert(0, %r)

from reaper_systemd.cleanup_command import main  # noqa: E402

sys.exit(main())
"""


def measure_cleanup(config):
    """The cleanup command in fresh interpreters. The whole process: the role's launcher
    started as reaper-cleanup.service starts it (python3 -I -B launcher --config F).
    In-process figures: main() timed by this probe in another fresh interpreter."""
    launcher = os.path.join(HERE, "reaper-cleanup.py")
    if not os.path.exists(launcher):
        with open(launcher, "w") as handle:
            handle.write(LAUNCHER % LIB)
    pid1_0 = _pid1_cpu()
    wall, cpu, out = _run_measured([sys.executable, "-I", "-B", launcher, "--config", config])
    pid1 = _pid1_cpu() - pid1_0
    cmd = [sys.executable, "-I", "-B", os.path.abspath(__file__), "cleanup-once", "--config", config]
    record = json.loads(_run_measured(cmd)[2])
    if record["rc"] != 0:
        sys.exit("probe: the cleanup command exited with %s: %s" % (record["rc"], record["output"]))
    record["process_wall_s"] = wall
    record["process_cpu_s"] = cpu
    record["process_pid1_cpu_s"] = pid1
    record["launcher_output"] = out.decode("utf-8", "replace")[-2000:]
    return record


def measure_ps():
    """The floor: one `ps -eo pid,ppid,stat,cgroup` whose output is read in full."""
    wall, cpu, out = _run_measured(["ps", "-eo", "pid,ppid,stat,cgroup"])
    return {"wall_s": wall, "cpu_s": cpu, "lines": out.count(b"\n") - 1}


def cmd_series(args):
    """Round-robin over the measurements, so a noisy moment hits all of them alike."""
    what = args.what.split(",")
    out = {name: [] for name in what}
    for _rep in range(args.repeat):
        for name in what:
            if name == "ps":
                out[name].append(measure_ps())
            elif name == "cleanup":
                out[name].append(measure_cleanup(args.config))
            else:
                out[name].append(measure_scan(name))
    return out


def cmd_profile(args):
    import cProfile  # pylint: disable=import-outside-toplevel
    import io  # pylint: disable=import-outside-toplevel
    import pstats  # pylint: disable=import-outside-toplevel

    sys.path.insert(0, LIB)
    from reaper_systemd.scan import ScanOptions, scan  # pylint: disable=import-outside-toplevel

    options = ScanOptions(backend=args.backend, **SCAN_OPTIONS)
    # CPU time, not wall: on a shared machine wall time mostly measures the others'
    # work (and the wait for systemd, whose CPU is its own, not this process's).
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    scan(options)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():
        where = "%s:%d(%s)" % (os.path.basename(path), line, func) if line else func
        rows.append({"where": where, "ncalls": ncalls, "tottime_s": tottime, "cumtime_s": cumtime})
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.top)
    return {
        "backend": args.backend,
        "clock": "process_time",
        "total_s": stats.total_tt,
        "by_tottime": sorted(rows, key=lambda r: -r["tottime_s"])[: args.top],
        "by_cumtime": sorted(rows, key=lambda r: -r["cumtime_s"])[: args.top],
    }


# What-if measurements behind the optimisations the report proposes (the code under
# test is not changed: these read the same sources another way). A command is a list
# of argv run one after the other (wall and CPU summed); "%(props)s" is what the scan
# asks systemctl for, "%(holding)s" the services that hold processes. The scan's own way
# (systemd_bus, in this process) is measured by _measure_bus.
BUS_LABEL = "D-Bus: ListUnitsByPatterns + Properties.Get of %d properties per service (as the scan, as root)"
SYSTEMD_VARIANTS = (
    (
        "systemctl show --all -p <%(count)d properties> + systemctl --version (the scan's fallback, not root)",
        [
            ["systemctl", "show", "--all", "-p", "%(props)s", "*.service", "init.scope"],
            ["systemctl", "--version"],
        ],
    ),
    (
        "systemctl show --all -p Id,ControlGroup,MainPID",
        [["systemctl", "show", "--all", "-p", "Id,ControlGroup,MainPID", "*.service", "init.scope"]],
    ),
    (
        "systemctl show -p <%(count)d properties> for the units holding processes only",
        [["systemctl", "show", "-p", "%(props)s", "%(holding)s"]],
    ),
    (
        "systemctl list-units --all --type=service (names and states only)",
        [["systemctl", "list-units", "--all", "--type=service", "--no-legend", "--plain", "--full"]],
    ),
    ("ps -eo pid,ppid,stat,cgroup", [["ps", "-eo", "pid,ppid,stat,cgroup"]]),
)
SYSTEMD_PRIVATE = "/run/systemd/private"


def _measure_bus(systemd_bus):
    """The scan's query, in this process: its wall, its CPU and PID 1's."""
    pid1_0 = _pid1_cpu()
    cpu_0 = time.process_time()
    t0 = time.perf_counter()
    try:
        listed, _cgroup, _version = systemd_bus.read_units(SYSTEMD_PRIVATE)
    except systemd_bus.BusUnavailable as exc:
        sys.exit("probe: systemd's private socket is unusable here (the scan would use systemctl): %s" % exc)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu_0,
        "pid1_cpu_s": _pid1_cpu() - pid1_0,
        "units": len(listed),
    }


def _measure_commands(commands):
    """Run the commands one after the other: wall and CPU summed, and PID 1's CPU."""
    pid1_0 = _pid1_cpu()
    wall = cpu = 0.0
    for argv in commands:
        one_wall, one_cpu, _out = _run_measured(argv)
        wall += one_wall
        cpu += one_cpu
    return {"wall_s": wall, "cpu_s": cpu, "pid1_cpu_s": _pid1_cpu() - pid1_0}


def _properties_per_service(name):
    """How many properties `systemctl show --all` prints for one service: what PID 1 computes for it."""
    shown = subprocess.run(
        ["systemctl", "show", "--all", "--", name],
        stdout=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    ).stdout
    return sum(1 for line in shown.splitlines() if "=" in line)


def _read_proc(names, files, fstat_uid):
    for name in names:
        try:
            dir_fd = os.open("/proc/" + name, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            for entry in files:
                fd = os.open(entry, os.O_RDONLY, dir_fd=dir_fd)
                try:
                    os.read(fd, 65536)
                finally:
                    os.close(fd)
            if fstat_uid:
                os.fstat(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def cmd_variants(args):
    sys.path.insert(0, LIB)
    from reaper_systemd import systemd_bus, systemd_units  # pylint: disable=import-outside-toplevel

    words = {"props": ",".join(systemd_units.UNIT_PROPERTIES), "count": len(systemd_units.UNIT_PROPERTIES)}
    holding = _services_holding_processes()
    bus_label = BUS_LABEL % len(systemd_bus.SERVICE_PROPERTIES)
    systemd = {bus_label: []}
    systemd.update((label % words, []) for label, _commands in SYSTEMD_VARIANTS)
    bus_units = None
    for _rep in range(args.repeat):
        record = _measure_bus(systemd_bus)
        bus_units = record.pop("units")
        systemd[bus_label].append(record)
        for label, commands in SYSTEMD_VARIANTS:
            argvs = []
            for cmd in commands:
                argv = []
                for word in cmd:
                    argv.extend(holding if word == "%(holding)s" else [word % words])
                argvs.append(argv)
            systemd[label % words].append(_measure_commands(argvs))
    reads = {
        "stat + status + cgroup (the previous scan)": (("stat", "status", "cgroup"), False),
        "stat + cgroup (as the scan: the uid is read later, for listed processes)": (("stat", "cgroup"), False),
        "stat + cgroup, uid from fstat of /proc/PID": (("stat", "cgroup"), True),
        "stat alone": (("stat",), False),
    }
    proc = {label: [] for label in reads}
    names = [name for name in os.listdir("/proc") if name.isdigit()]
    for _rep in range(args.repeat):
        for label, (files, fstat_uid) in reads.items():
            cpu_0 = time.process_time()
            t0 = time.perf_counter()
            _read_proc(names, files, fstat_uid)
            proc[label].append({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu_0})
    return {
        "systemd": systemd,
        "proc_reads": proc,
        "processes": len(names),
        "holding_units": len(holding),
        "bus_units": bus_units,
        "bus_properties": len(systemd_bus.SERVICE_PROPERTIES),
        "show_properties": len(systemd_units.UNIT_PROPERTIES),
        # what `systemctl show` makes PID 1 compute per service (GetAll on each of its interfaces)
        "all_properties": _properties_per_service(holding[0]) if holding else None,
        "all_properties_of": holding[0] if holding else None,
    }


def _services_holding_processes():
    """Loaded services whose name is a component of some process's cgroup path (name=systemd or 0::)."""
    listed = subprocess.run(
        ["systemctl", "list-units", "--all", "--type=service", "--no-legend", "--plain", "--full"],
        stdout=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    ).stdout
    loaded = set(line.split()[0] for line in listed.splitlines() if line.strip())
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % name) as handle:
                text = handle.read()
        except OSError:
            continue
        for line in text.splitlines():
            found.update(part for part in line.split(":", 2)[-1].split("/") if part in loaded)
    return sorted(found)


def cmd_runbook(args):
    runs = []
    for _rep in range(args.repeat):
        wall, cpu, out = _run_measured(["bash", os.path.join(HERE, "runbook.sh")])
        lines = out.decode("utf-8", "replace").splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        summary.update({"wall_s": wall, "cpu_s": cpu})
        runs.append(summary)
    return {"runs": runs}


def cmd_command(args):
    runs = []
    for _rep in range(args.repeat):
        wall, cpu, out = _run_measured(args.cmd)
        runs.append({"wall_s": wall, "cpu_s": cpu, "stdout_tail": out.decode("utf-8", "replace")[-2000:]})
    return {"runs": runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.required = True
    once = sub.add_parser("scan-once")
    once.add_argument("--backend", default="procfs")
    series = sub.add_parser("series")
    series.add_argument("--repeat", type=int, default=5)
    series.add_argument("--what", default="procfs,psutil,ps")
    series.add_argument("--config", help="cleanup policy file, for --what cleanup")
    cleanup = sub.add_parser("cleanup-once")
    cleanup.add_argument("--config", required=True)
    profile = sub.add_parser("profile")
    profile.add_argument("--backend", default="procfs")
    profile.add_argument("--top", type=int, default=15)
    variants = sub.add_parser("variants")
    variants.add_argument("--repeat", type=int, default=5)
    runbook = sub.add_parser("runbook")
    runbook.add_argument("--repeat", type=int, default=1)
    command = sub.add_parser("command")
    command.add_argument("--repeat", type=int, default=5)
    command.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command == "command" and args.cmd[:1] == ["--"]:
        args.cmd = args.cmd[1:]
    handler = {
        "scan-once": cmd_scan_once,
        "cleanup-once": cmd_cleanup_once,
        "series": cmd_series,
        "profile": cmd_profile,
        "runbook": cmd_runbook,
        "variants": cmd_variants,
        "command": cmd_command,
    }[args.command]
    print(json.dumps(handler(args), sort_keys=True))


if __name__ == "__main__":
    main()
