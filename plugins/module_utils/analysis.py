# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribute every process of a snapshot to the service it belongs to, and
classify what each service leaks: zombies, left-overs, restart survivors and
escapes. The rules follow the design brief:

* zombies are attributed through their parent's cgroup (a zombie's own cgroup
  is unreliable on v1 and it is absent from cgroup.procs on v2);
* a process whose INVOCATION_ID is another unit's current invocation is that
  unit's escape, never a survivor of the unit whose cgroup it sits in;
* without environ, survivors fall back to start time (converted from
  CLOCK_BOOTTIME to systemd's CLOCK_MONOTONIC) and escapes to the session id
  and ancestry.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os

from .cgroups import unit_of_path

# systemd forks a unit's first process before it stamps
# InactiveExitTimestampMonotonic, and /proc start times have 10 ms ticks: a
# process of the current invocation can look older than the activation (by
# 7-21 ms on a quiet host, 150 ms under load). Real survivors predate the
# restart by the whole stop; the cost of the slack is that, without environ,
# a child forked less than a second before a restart is not flagged.
SURVIVOR_CLOCK_SLACK_US = 1000000
# Sessions that are the designed way out of a service's cgroup: interactive
# logins (sshd, login, display managers) and their service managers.
LEGIT_SESSION_CLASSES = ("user", "greeter", "lock-screen", "manager", "manager-early")
LEGIT_SESSION_SERVICES = ("sshd", "login", "cron", "crond", "atd", "systemd-user")
# Scopes a daemon creates on purpose to hand processes to a container or VM.
CONTAINER_SCOPE_PATTERNS = (
    "docker-*.scope",
    "libpod-*.scope",
    "crio-*.scope",
    "cri-containerd-*.scope",
    "machine-*.scope",
)
LEFTOVER_STATES = ("inactive", "failed")


class UnitLeaks:
    """Everything found for one service (uncapped; the facts builder caps)."""

    def __init__(self):
        self.processes = 0
        self.zombies = []
        self.leftovers = []
        self.survivors = []
        self.escaped = []


class Analysis:
    def __init__(self, units):
        self.by_unit = dict((name, UnitLeaks()) for name in units)
        self.zombies_outside_units = []
        self.unattributed_escapes = []


def read_session(sessions_dir, session_id):
    """logind's record of a session (CLASS=, SERVICE=, ...), {} when unknown."""
    record = {}
    try:
        with open(os.path.join(sessions_dir, session_id)) as handle:
            for line in handle:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    record[key] = value
    except (IOError, OSError):
        pass
    return record


class Analyzer:
    """Classify the processes of a ProcessTable against the units systemd reported."""

    def __init__(self, table, units, sessions_dir="/run/systemd/sessions"):
        self.table = table
        self.units = units
        self.sessions_dir = sessions_dir
        self._cgroup_units = dict(
            (u.control_group, name) for name, u in units.items() if u.control_group not in ("", "/")
        )
        self._invocations = dict((u.invocation_id, name) for name, u in units.items() if u.invocation_id)
        self._main_pids = {}
        for name, unit in units.items():
            for pid in set((unit.main_pid, unit.exec_main_pid)):
                if pid > 1:
                    self._main_pids.setdefault(pid, []).append(name)
        self._owner_cache = {}
        self._session_cache = {}

    # -- attribution helpers -------------------------------------------------

    def owner(self, proc):
        """The service whose cgroup (or a sub-cgroup of it: Delegate=yes) holds the process."""
        path = proc.cgroup
        if not path:
            return None
        if path not in self._owner_cache:
            found = None
            probe = path
            while probe and probe != "/":
                found = self._cgroup_units.get(probe)
                if found:
                    break
                probe = probe.rsplit("/", 1)[0]
            self._owner_cache[path] = found
        return self._owner_cache[path]

    def _session_record(self, scope):
        session_id = scope[len("session-") : -len(".scope")]
        if session_id not in self._session_cache:
            self._session_cache[session_id] = read_session(self.sessions_dir, session_id)
        return self._session_cache[session_id]

    def _handed_off(self, proc):
        """True for processes outside services that left on purpose (logins, containers)."""
        leaf = unit_of_path(proc.cgroup or "") or ""
        if leaf == "init.scope" or "/machine.slice/" in (proc.cgroup or ""):
            return True
        if any(fnmatch.fnmatchcase(leaf, p) for p in CONTAINER_SCOPE_PATTERNS):
            return True
        if leaf.startswith("session-") and leaf.endswith(".scope"):
            record = self._session_record(leaf)
            if record.get("CLASS") in LEGIT_SESSION_CLASSES:
                return True
            if record.get("SERVICE") in LEGIT_SESSION_SERVICES:
                return True
        return False

    def _background_session(self, proc):
        leaf = unit_of_path(proc.cgroup or "") or ""
        if leaf.startswith("session-") and leaf.endswith(".scope"):
            return self._session_record(leaf)
        return None

    def session_unit(self, proc):
        """The unit whose main process leads the process's session.

        A process keeps its session id unless it calls setsid. ExecMainPID may
        be stale, so the leader must be gone or still sit in that unit.
        """
        sid = proc.session
        if sid <= 1:
            return None
        leader = self.table.processes.get(sid)
        for name in self._main_pids.get(sid, ()):
            if leader is None or self.owner(leader) == name:
                return name
        return None

    def ancestry_unit(self, proc):
        """Walk parents through the process's own cgroup; the first service met elsewhere."""
        seen = set()
        parent = self.table.processes.get(proc.ppid)
        while parent is not None and parent.pid > 1 and parent.pid not in seen:
            seen.add(parent.pid)
            if parent.cgroup != proc.cgroup:
                return self.owner(parent)
            parent = self.table.processes.get(parent.ppid)
        return None

    def _started_before_activation(self, proc, unit, slack_us=0):
        """Did the process start before the unit's current activation began?"""
        if not unit.inactive_exit_monotonic_us:
            return False
        # systemd gives every main process a session of its own: the main
        # process and whatever it forked without setsid are this invocation's.
        current_leaders = (unit.main_pid, unit.exec_main_pid)
        if proc.pid in current_leaders or proc.session in current_leaders:
            return False
        started = self.table.start_monotonic_us(proc)
        return started < unit.inactive_exit_monotonic_us - slack_us

    # -- classification -------------------------------------------------------

    def escape_origin(self, proc, owner):
        """(origin unit, evidence) when the process escaped from a service, else None."""
        session_origin = self.session_unit(proc)
        ancestry_origin = self.ancestry_unit(proc)
        needs_environ = (
            owner is None
            or not self.units[owner].is_active
            or session_origin not in (None, owner)
            or ancestry_origin not in (None, owner)
            or self._started_before_activation(proc, self.units[owner])
        )
        invocation = self.table.invocation_id(proc.pid) if needs_environ else None
        if owner is not None and invocation is not None and invocation == self.units[owner].invocation_id:
            return None  # its environment agrees with where it sits
        origin = None
        evidence = []
        invocation_origin = self._invocations.get(invocation)
        if invocation_origin is not None and invocation_origin != owner:
            origin = invocation_origin
            evidence.append("invocation_id")
        for name, kind in ((session_origin, "session_id"), (ancestry_origin, "ancestry")):
            if name is None or name == owner:
                continue
            if origin is None:
                origin = name
            if name == origin:
                evidence.append(kind)
        if origin is None:
            return None
        return origin, evidence, invocation

    def is_survivor(self, proc, unit):
        """In an active unit's own cgroup but not of its current invocation.

        INVOCATION_ID decides when it can be read; start time alone must beat
        the clock slack.
        """
        if not self._started_before_activation(proc, unit):
            return False
        invocation = self.table.invocation_id(proc.pid)
        if invocation is not None:
            return invocation != unit.invocation_id
        return self._started_before_activation(proc, unit, SURVIVOR_CLOCK_SLACK_US)

    def run(self):
        analysis = Analysis(self.units)
        for proc in sorted(self.table.processes.values(), key=lambda p: p.pid):
            if proc.kthread or proc.pid <= 1:
                continue
            if proc.is_zombie:
                self._classify_zombie(proc, analysis)
            else:
                self._classify_live(proc, analysis)
        return analysis

    def _classify_zombie(self, proc, analysis):
        parent = self.table.processes.get(proc.ppid)
        owner = self.owner(parent) if parent is not None and parent.pid > 1 else None
        item = {
            "pid": proc.pid,
            "ppid": proc.ppid,
            "parent_comm": parent.comm if parent is not None else None,
            "parent_is_main": bool(owner and self.units[owner].main_pid == proc.ppid),
            "age_s": self.table.age_s(proc),
        }
        if owner is None:
            analysis.zombies_outside_units.append(item)
        else:
            analysis.by_unit[owner].zombies.append(item)

    def _classify_live(self, proc, analysis):
        owner = self.owner(proc)
        if owner is not None:
            analysis.by_unit[owner].processes += 1
        elif self._handed_off(proc):
            return
        escape = self.escape_origin(proc, owner)
        if escape is not None:
            origin, evidence, _invocation = escape
            analysis.by_unit[origin].escaped.append(self._escape_item(proc, evidence))
            return
        if owner is None:
            session = self._background_session(proc)
            if session and session.get("CLASS") == "background":
                item = self._escape_item(proc, [])
                item["session"] = {
                    "class": session.get("CLASS"),
                    "service": session.get("SERVICE"),
                    "uid": session.get("UID"),
                }
                analysis.unattributed_escapes.append(item)
            return
        unit = self.units[owner]
        if unit.active_state in LEFTOVER_STATES or unit.sub_state == "auto-restart":
            analysis.by_unit[owner].leftovers.append(self._process_item(proc))
        elif unit.is_active and self.is_survivor(proc, unit):
            analysis.by_unit[owner].survivors.append(self._process_item(proc))

    def _process_item(self, proc):
        return {"pid": proc.pid, "comm": proc.comm, "uid": proc.uid, "age_s": self.table.age_s(proc)}

    def _escape_item(self, proc, evidence):
        item = self._process_item(proc)
        del item["age_s"]
        leaf = unit_of_path(proc.cgroup) if proc.cgroup else None
        item["now_in"] = leaf or proc.cgroup
        item["route"] = escape_route(leaf, proc.cgroup)
        item["evidence"] = evidence
        return item


def escape_route(leaf, path):
    if path is None:
        return "unknown"
    if leaf and leaf.startswith("session-") and leaf.endswith(".scope"):
        return "pam_session"
    if leaf and leaf.endswith(".scope"):
        return "scope"
    return "cgroup_move"


def analyze(table, units, sessions_dir="/run/systemd/sessions"):
    return Analyzer(table, units, sessions_dir).run()
