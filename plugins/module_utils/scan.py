# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one entry point for detection: scan the host once and return the facts.

Used by the process_facts and reap modules, by the cleanup command the timer
runs, and by the benchmarks. Stdlib only: no Ansible on the host is needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import threading

from . import cgroups, findings, option_checks, proc_table, systemd_units, unit_names
from .analysis import Analyzer

CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19


class OptionError(ValueError):
    """An option value the scan cannot work with; the message says what to fix."""


class ScanOptions:
    """What to scan and the thresholds that turn observations into findings."""

    def __init__(
        self,
        units=None,
        min_zombie_age=60,
        min_zombies=1,
        tasks_usage_warn=0.8,
        pid_usage_warn=0.8,
        journal_since=None,
        max_items=100,
        backend="procfs",
    ):
        # not list(units): a string would become its characters; validate() refuses it
        self.units = [] if units is None else units
        self.min_zombie_age = min_zombie_age
        self.min_zombies = min_zombies
        self.tasks_usage_warn = tasks_usage_warn
        self.pid_usage_warn = pid_usage_warn
        self.journal_since = journal_since
        self.max_items = max_items
        self.backend = backend
        self.validate()

    def validate(self):
        """Check every option with the shared primitives; OptionError names the option and the value."""
        try:
            self.units = option_checks.string_list("units", self.units, unit_names.check_pattern)
            self.min_zombie_age = option_checks.number("min_zombie_age", self.min_zombie_age, 0, 366 * 86400)
            self.min_zombies = option_checks.integer("min_zombies", self.min_zombies, 0, 1000000)
            self.max_items = option_checks.integer("max_items", self.max_items, 0, 1000000)
            for name in ("tasks_usage_warn", "pid_usage_warn"):
                setattr(self, name, option_checks.number(name, getattr(self, name), 0, 1))
            if self.journal_since is not None:
                option_checks.journalctl_time("journal_since", self.journal_since)
            option_checks.choice("backend", self.backend, proc_table.BACKENDS)
        except option_checks.InvalidOption as exc:
            raise OptionError(str(exc))


class ScanResult:
    def __init__(self, facts, table, units, analysis, systemd_source=None):
        self.facts = facts
        self.table = table
        self.units = units
        self.analysis = analysis
        # how systemd was asked: "bus", "systemctl", or None without systemd
        self.systemd_source = systemd_source


class HostPaths:
    """Where the scan reads the host from; tests point these at synthetic trees."""

    def __init__(self, proc_root="/proc", run_systemd="/run/systemd"):
        self.proc_root = proc_root
        self.run_systemd = run_systemd

    @property
    def sessions_dir(self):
        return os.path.join(self.run_systemd, "sessions")

    @property
    def booted_marker(self):
        return os.path.join(self.run_systemd, "system")


def _read_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().split()[0])
    except (IOError, OSError, ValueError, IndexError):
        return None


def _privilege(proc_root):
    """'full' when environ of every user's processes is readable (CAP_SYS_PTRACE + DAC)."""
    try:
        with open(os.path.join(proc_root, "self", "status")) as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    break
            else:
                return "limited"
    except (IOError, OSError, ValueError):
        return "limited"
    ptrace = caps & (1 << CAP_SYS_PTRACE)
    dac = caps & ((1 << CAP_DAC_READ_SEARCH) | (1 << CAP_DAC_OVERRIDE))
    return "full" if ptrace and dac else "limited"


def _ratio(used, limit):
    if not limit:
        return None
    # Six places: with pid_max at 4,194,304 (a pid namespace's default) four would read 0.
    return round(used / float(limit), 6)


def _capped(items, limit):
    return sorted(items, key=lambda i: i["pid"])[: int(limit)]


class _InBackground:
    """Run a call in a thread while this one reads /proc; result() returns or raises what it did."""

    def __init__(self, func, *args):
        self._outcome = None
        self._thread = threading.Thread(target=self._run, args=(func,) + args)
        self._thread.daemon = True
        self._thread.start()

    def _run(self, func, *args):
        try:
            self._outcome = (True, func(*args))
        except BaseException as exc:  # handed to the caller's thread by result()
            self._outcome = (False, exc)

    def result(self):
        self._thread.join()
        ok, value = self._outcome
        if not ok:
            raise value
        return value


def _to_systemd_paths(table, view):
    """Rewrite the table's cgroup paths into systemd's namespace (a no-op without a prefix)."""
    if view.prefix:
        seen = {}
        for proc in table.processes.values():
            if proc.cgroup is not None:
                path = seen.get(proc.cgroup)
                if path is None:
                    path = seen[proc.cgroup] = view.to_systemd(proc.cgroup)
                proc.cgroup = path
    # Kept so that safe signalling re-reads a cgroup exactly as the scan did.
    table.cgroup_view = view


def scan(options, paths=None, runner=systemd_units.default_runner, clock=None, hz=None):
    """Scan the host once: ScanResult with the facts, the process table and the units.

    systemd is asked while /proc is read: PID 1 (and systemctl, when not
    root) does its share of the work on another CPU, and the scan waits for
    the longer of the two instead of their sum. The /proc paths are read as
    this process sees them and turned into systemd's (the init.scope prefix)
    once systemd answered.
    """
    paths = paths or HostPaths()
    view, pid1_raw = cgroups.read_view(paths.proc_root)
    is_systemd = systemd_units.systemd_is_pid1(paths.booted_marker)
    units = {}
    version = source = query = None
    systemd = _InBackground(systemd_units.ask_systemd, paths.run_systemd, runner) if is_systemd else None
    table = proc_table.snapshot(view, options.backend, paths.proc_root, clock, hz)
    if systemd is not None:
        answer = systemd.result()
        units, version, source = answer.units, answer.version, answer.source
        query = systemd_query(answer)
        view = view.with_init_scope(pid1_raw, answer.init_scope_cgroup)
        _to_systemd_paths(table, view)
    analysis = Analyzer(table, units, paths.sessions_dir).run()
    journal_counts = (
        systemd_units.journal_leftover_counts(options.journal_since, runner)
        if (is_systemd and options.journal_since)
        else None
    )

    host = _host_facts(options, paths, table, analysis, is_systemd, version, view)
    host["systemd_query"] = query
    selected, unmatched = unit_names.select(list(units), options.units)
    unit_facts = {}
    found = []
    for name in selected:
        unit = units[name]
        leaks = analysis.by_unit[name]
        unit_facts[name] = _unit_facts(unit, leaks, options.max_items)
        if journal_counts is not None:
            unit_facts[name]["journal_leftover_messages"] = journal_counts.get(name, 0)
        found.extend(findings.unit_findings(name, unit, leaks, options))
    found.extend(findings.host_findings(host, analysis, options))
    facts = {
        "host": host,
        "units": unit_facts,
        "findings": findings.sort_findings(found),
        "unmatched": unmatched,
    }
    return ScanResult(facts, table, units, analysis, source)


def systemd_query(answer):
    """How systemd was asked (``host.systemd_query``): ``source`` "bus" (PID 1's private
    socket) or "systemctl", and ``problem``, why the bus gave no clean answer (None on the bus).
    Not root, the fallback is normal; as root it means PID 1 or its socket misbehaved."""
    return {"source": answer.source, "problem": answer.bus_problem}


def _host_facts(options, paths, table, analysis, is_systemd, version, view):
    live = [p for p in table.processes.values() if not p.kthread]
    threads = sum(p.num_threads for p in table.processes.values())
    pid_max = _read_int(os.path.join(paths.proc_root, "sys", "kernel", "pid_max"))
    threads_max = _read_int(os.path.join(paths.proc_root, "sys", "kernel", "threads-max"))
    privilege = _privilege(paths.proc_root)
    if table.environ_denied or table.namespace_denied:
        privilege = "limited"
    return {
        "systemd": is_systemd,
        "systemd_version": version,
        "cgroup_layout": view.layout,
        "backend": table.backend,
        "privilege": privilege,
        "pid_max": pid_max,
        "threads_max": threads_max,
        "processes": len(live),
        "threads": threads,
        "zombies": sum(1 for p in live if p.is_zombie),
        "pid_usage": _ratio(threads, pid_max),
        "thread_usage": _ratio(threads, threads_max),
        "zombies_outside_units": _capped(analysis.zombies_outside_units, options.max_items),
        "unattributed_escapes": _capped(analysis.unattributed_escapes, options.max_items),
        "unconfirmed_escapes": _capped(analysis.unconfirmed_escapes, options.max_items),
        "containers": _containers(analysis.containers, options.max_items),
        "environ_denied": table.environ_denied,
        "unreadable_processes": table.unreadable,
    }


def _containers(containers, limit):
    """Container cgroups with the most handed-off processes first (capped like every list)."""
    ordered = sorted(containers.values(), key=lambda c: (-c["processes"], c["cgroup"]))
    return [dict(entry) for entry in ordered[: int(limit)]]


def _unit_facts(unit, leaks, max_items):
    return {
        "active_state": unit.active_state,
        "sub_state": unit.sub_state,
        "main_pid": unit.main_pid,
        "control_group": unit.control_group or None,
        "kill_mode": unit.kill_mode,
        "kill_signal": unit.kill_signal,
        "send_sigkill": unit.send_sigkill,
        "timeout_stop_sec": unit.timeout_stop_sec,
        "tasks_current": unit.tasks_current,
        "tasks_max": unit.tasks_max,
        "tasks_usage": unit.tasks_usage,
        "delegate": unit.delegate,
        "n_restarts": unit.n_restarts,
        "invocation_id": unit.invocation_id,
        "processes": leaks.processes,
        "zombies": _capped(leaks.zombies, max_items),
        "leftovers": _capped(leaks.leftovers, max_items),
        "survivors": _capped(leaks.survivors, max_items),
        "escaped": _capped(leaks.escaped, max_items),
        "counts": {
            "zombies": len(leaks.zombies),
            "leftovers": len(leaks.leftovers),
            "survivors": len(leaks.survivors),
            "escaped": len(leaks.escaped),
        },
    }
