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
  and ancestry;
* a process in another PID namespace than the host's init was handed to a
  container (cgroupfs driver: /docker/<id>, /kubepods/..., /lxc/<name>): never
  an escape, a left-over or a survivor. The kernel decides, not a name list.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os

from .cgroups import INIT_SCOPE, unit_of_path
from .proc_table import NAMESPACE_DENIED

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
# What the PID namespace says about a process (Analyzer.namespace_verdict).
NS_HOST = "host"
NS_CONTAINER = "container"
NS_UNKNOWN = "unknown"
NS_GONE = "gone"


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
        # processes whose only tie to a unit is an INVOCATION_ID their owner could have forged
        self.unconfirmed_escapes = []
        # cgroup path -> {cgroup, processes, pid_namespace}: processes handed to a container
        self.containers = {}

    def add_container_process(self, cgroup, namespace):
        entry = self.containers.get(cgroup)
        if entry is None:
            entry = self.containers[cgroup] = {"cgroup": cgroup, "processes": 0, "pid_namespace": None}
        entry["processes"] += 1
        if entry["pid_namespace"] is None:
            entry["pid_namespace"] = namespace


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
        self._unit_uids = {}  # unit -> uids of its live processes, read when first needed
        self._root = False  # not looked up yet

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

    def _container_scope(self, proc):
        """Under the systemd driver an engine names its container's scope; machines live in machine.slice."""
        leaf = unit_of_path(proc.cgroup or "") or ""
        if "/machine.slice/" in (proc.cgroup or ""):
            return True
        return any(fnmatch.fnmatchcase(leaf, p) for p in CONTAINER_SCOPE_PATTERNS)

    def _handed_off(self, proc):
        """True for processes outside services that left on purpose (logins, containers)."""
        leaf = unit_of_path(proc.cgroup or "") or ""
        if leaf == "init.scope" or self._container_scope(proc):
            return True
        if leaf.startswith("session-") and leaf.endswith(".scope"):
            record = self._session_record(leaf)
            if record.get("CLASS") in LEGIT_SESSION_CLASSES:
                return True
            if record.get("SERVICE") in LEGIT_SESSION_SERVICES:
                return True
        return False

    def _systemd_root(self):
        """The cgroup systemd's tree hangs from: PID 1's path minus init.scope ('' on a host), or None."""
        if self._root is False:
            init = self.table.processes.get(1)
            path = init.cgroup if init is not None else None
            suffix = "/" + INIT_SCOPE
            self._root = path[: -len(suffix)] if path and path.endswith(suffix) else None
        return self._root

    def outside_unit_tree(self, proc, owner):
        """In a cgroup systemd did not make (/docker/<id>, /kubepods/..., /lxc/<name>): a cgroupfs driver's.

        systemd's tree holds only slices and scopes at its top (init.scope,
        system.slice, user.slice, machine.slice); anything else beside them was
        made by someone writing to the cgroup file system.
        """
        if owner is not None or proc.cgroup is None:
            return False
        root = self._systemd_root()
        if root is None:
            return unit_of_path(proc.cgroup) is None
        if root and proc.cgroup != root and not proc.cgroup.startswith(root + "/"):
            return True
        top = proc.cgroup[len(root) :].lstrip("/").split("/", 1)[0]
        return not top.endswith((".slice", ".scope"))

    def namespace_verdict(self, proc):
        """(verdict, namespace): does the kernel put the process in the host's PID namespace?

        The host is PID 1 as this scanner's /proc shows it. Read lazily: only
        for processes that would otherwise be escapes, left-overs or survivors.
        """
        own = self.table.pid_namespace(proc.pid)
        if own is None:
            return NS_GONE, None
        if own == NAMESPACE_DENIED:
            return NS_UNKNOWN, None
        init = self.table.host_pid_namespace()
        if init is None or init == NAMESPACE_DENIED:
            return NS_UNKNOWN, own
        return (NS_HOST if own == init else NS_CONTAINER), own

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
        """(origin unit, evidence, invocation, unconfirmed unit) when the process escaped, else None.

        ``unconfirmed unit`` names the unit an INVOCATION_ID claims when that
        claim alone is not believed (see environ_claim_is_unconfirmed); the
        origin then rests on the other evidence only, or is None."""
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
        others = [
            (name, kind)
            for name, kind in ((session_origin, "session_id"), (ancestry_origin, "ancestry"))
            if name is not None and name != owner
        ]
        claimed = self._invocations.get(invocation)
        if claimed == owner:
            claimed = None
        unconfirmed = None
        if claimed is not None and self.environ_claim_is_unconfirmed(proc, claimed, others):
            unconfirmed, claimed = claimed, None
        origin = claimed if claimed is not None else (others[0][0] if others else None)
        if origin is None:
            return (None, [], invocation, unconfirmed) if unconfirmed else None
        evidence = ["invocation_id"] if claimed is not None else []
        evidence.extend(kind for name, kind in others if name == origin)
        return origin, evidence, invocation, unconfirmed

    # -- rules on environ evidence --------------------------------------------
    # INVOCATION_ID is readable by every user (systemctl show), and a process
    # chooses its own environment: environ is evidence its owner could forge.

    def environ_claim_is_unconfirmed(self, proc, claimed, others):
        """An INVOCATION_ID claim that nothing else backs, from an owner who could have forged it.

        Such a process is reported, never acted on and never counted against
        the unit it names (a forger could otherwise get that unit parked)."""
        if any(name == claimed for name, _kind in others):
            return False  # session id or ancestry agrees: a second piece of evidence
        return self.owner_could_forge(proc, claimed)

    def owner_could_forge(self, proc, claimed):
        """True unless the process runs as root or as a user the claimed unit runs as.

        Root, or the unit's own user, can already signal the unit's processes:
        forging the id gains them nothing, so the claim may stand alone. Any
        other user gains a lever on a unit that is not theirs. This is no
        rule on its own: a service that switches users keeps its escapes
        through the session id or ancestry (environ_claim_is_unconfirmed)."""
        if proc.uid == 0:
            return False
        return proc.uid not in self.unit_uids(claimed)

    def unit_uids(self, name):
        """The uids of the live processes in the unit's cgroup (its users, as the kernel says).

        A uid is read lazily from /proc: only the claimed unit's processes pay for it."""
        if name not in self._unit_uids:
            self._unit_uids[name] = set(
                other.uid
                for other in self.table.processes.values()
                if not other.kthread and not other.is_zombie and self.owner(other) == name
            )
        return self._unit_uids[name]

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
            # How long it has been seen as a zombie needs memory across scans:
            # reap and the timer fill it in, a one-shot scan cannot know.
            "zombie_seen_s": None,
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
            if self._container_scope(proc):
                self._record_named_container(proc, analysis)
            return
        escape = self.escape_origin(proc, owner)
        if escape is not None:
            # Fail closed outside the unit tree: a cgroupfs container cannot be told from a
            # cgroup_move without the namespace, and an action needs certainty.
            if self._not_a_leak(proc, analysis, fail_closed=self.outside_unit_tree(proc, owner)):
                return
            origin, evidence, _invocation, unconfirmed = escape
            if unconfirmed is not None:
                analysis.unconfirmed_escapes.append(self._unconfirmed_item(proc, unconfirmed))
            if origin is not None:
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
            found = analysis.by_unit[owner].leftovers
        elif unit.is_active and self.is_survivor(proc, unit):
            found = analysis.by_unit[owner].survivors
        else:
            return
        # A container living in a (delegated) unit cgroup is its engine's, not a leak.
        if not self._not_a_leak(proc, analysis):
            found.append(self._process_item(proc))

    def _not_a_leak(self, proc, analysis, fail_closed=False):
        """True when the kernel says a would-be leak is none of ours: gone, or in another PID
        namespace (a container's, counted in host.containers). With ``fail_closed`` a
        namespace that cannot be read counts as a container's too."""
        verdict, namespace = self.namespace_verdict(proc)
        if verdict == NS_GONE:
            return True
        if verdict == NS_CONTAINER or (fail_closed and verdict == NS_UNKNOWN):
            analysis.add_container_process(proc.cgroup, namespace if verdict == NS_CONTAINER else None)
            return True
        return False

    def _record_named_container(self, proc, analysis):
        """Count a process of a systemd-driver container scope; one namespace read per cgroup."""
        entry = analysis.containers.get(proc.cgroup)
        namespace = None
        if entry is None or entry["pid_namespace"] is None:
            namespace = self.table.pid_namespace(proc.pid)
            if namespace == NAMESPACE_DENIED:
                namespace = None
        analysis.add_container_process(proc.cgroup, namespace)

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

    def _unconfirmed_item(self, proc, claimed):
        """An environ-only claim: where the process sits and which unit its INVOCATION_ID names."""
        return _unconfirmed(self._escape_item(proc, ["invocation_id"]), claimed)


def _unconfirmed(item, claimed):
    item["claimed_unit"] = claimed
    item["escape_evidence"] = "environ_only"
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
