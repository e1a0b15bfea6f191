# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the properties of every loaded service from systemd, in one pass.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os
import re
import signal
import subprocess

from . import systemd_bus

UNIT_PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "MainPID",
    "ExecMainPID",
    "ControlGroup",
    "InvocationID",
    "KillMode",
    "KillSignal",
    "SendSIGKILL",
    "TimeoutStopUSec",
    "TasksCurrent",
    "TasksMax",
    "Delegate",
    "NRestarts",
    "InactiveExitTimestampMonotonic",
)
# systemd prints 2^64-1 for "not set" counters on older releases.
UINT64_UNSET = 18446744073709551615
ACTIVE_STATES = ("active", "reloading")

_TIMESPAN_UNITS = {
    "us": 1e-6,
    "usec": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "msec": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
    "weeks": 604800.0,
    "M": 2629800.0,
    "month": 2629800.0,
    "months": 2629800.0,
    "y": 31557600.0,
    "year": 31557600.0,
    "years": 31557600.0,
}
_TIMESPAN_TOKEN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Zµ]*)")


class SystemdError(Exception):
    """systemctl could not be run or answered with an error."""


def parse_timespan(text):
    """Seconds (float) from a systemd time span ('1min 30s', '90', '500ms'); None for infinity.

    A bare number means seconds, as in unit files. Raises ValueError on junk.
    """
    text = (text or "").strip()
    if text in ("", "infinity"):
        return None
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _TIMESPAN_TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError("invalid time span %r" % text)
        number, unit = match.groups()
        if unit not in _TIMESPAN_UNITS and unit != "":
            raise ValueError("invalid time span %r: unknown unit %r" % (text, unit))
        total += float(number) * _TIMESPAN_UNITS.get(unit, 1.0)
        pos = match.end()
    return total


def _int_or_none(value):
    value = (value or "").strip()
    if value in ("", "[not set]", "infinity"):
        return None
    number = int(value)
    return None if number == UINT64_UNSET else number


def _bool(value):
    return (value or "").strip() == "yes"


def _signal_name(number):
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _unset_to_none(number):
    """systemd's 2^64-1 means 'not set' (or infinity, for limits and time spans)."""
    return None if number is None or number == UINT64_UNSET else number


class Unit:
    """The properties of one service that the analysis needs, whichever way systemd gave them."""

    def __init__(
        self,
        name="",
        load_state="",
        active_state="",
        sub_state="",
        main_pid=0,
        exec_main_pid=0,
        control_group="",
        invocation_id=None,
        kill_mode=None,
        kill_signal=None,
        send_sigkill=False,
        timeout_stop_sec=None,
        tasks_current=None,
        tasks_max=None,
        delegate=False,
        n_restarts=0,
        inactive_exit_monotonic_us=0,
    ):
        self.name = name
        self.load_state = load_state
        self.active_state = active_state
        self.sub_state = sub_state
        self.main_pid = main_pid
        self.exec_main_pid = exec_main_pid
        self.control_group = control_group
        self.invocation_id = invocation_id
        self.kill_mode = kill_mode
        self.kill_signal = kill_signal
        self.send_sigkill = send_sigkill
        self.timeout_stop_sec = timeout_stop_sec
        self.tasks_current = tasks_current
        self.tasks_max = tasks_max
        self.delegate = delegate
        self.n_restarts = n_restarts
        self.inactive_exit_monotonic_us = inactive_exit_monotonic_us

    @classmethod
    def from_show(cls, props):
        """From one block of `systemctl show` text (property -> printed value)."""
        return cls(
            name=props.get("Id", ""),
            load_state=props.get("LoadState", ""),
            active_state=props.get("ActiveState", ""),
            sub_state=props.get("SubState", ""),
            main_pid=_int_or_none(props.get("MainPID")) or 0,
            exec_main_pid=_int_or_none(props.get("ExecMainPID")) or 0,
            control_group=props.get("ControlGroup", "") or "",
            invocation_id=props.get("InvocationID", "") or None,
            kill_mode=props.get("KillMode") or None,
            kill_signal=_signal_name(_int_or_none(props.get("KillSignal"))),
            send_sigkill=_bool(props.get("SendSIGKILL")),
            timeout_stop_sec=_timespan_or_none(props.get("TimeoutStopUSec")),
            tasks_current=_int_or_none(props.get("TasksCurrent")),
            tasks_max=_int_or_none(props.get("TasksMax")),
            delegate=_bool(props.get("Delegate")),
            n_restarts=_int_or_none(props.get("NRestarts")) or 0,
            inactive_exit_monotonic_us=_int_or_none(props.get("InactiveExitTimestampMonotonic")) or 0,
        )

    @classmethod
    def from_bus(cls, values):
        """From systemd_bus.UnitValues (typed D-Bus values; None where systemd lacks one)."""
        props = values.properties
        invocation = props.get("InvocationID")
        timeout_us = _unset_to_none(props.get("TimeoutStopUSec"))
        return cls(
            name=values.name,
            load_state=values.load_state,
            active_state=values.active_state,
            sub_state=values.sub_state,
            main_pid=props.get("MainPID") or 0,
            exec_main_pid=props.get("ExecMainPID") or 0,
            control_group=props.get("ControlGroup") or "",
            # systemctl prints the 16 bytes as 32 hex digits; an all-zero or empty ID is none
            invocation_id=binascii.hexlify(invocation).decode("ascii") if invocation and any(invocation) else None,
            kill_mode=props.get("KillMode") or None,
            kill_signal=_signal_name(props.get("KillSignal")),
            send_sigkill=bool(props.get("SendSIGKILL")),
            timeout_stop_sec=None if timeout_us is None else timeout_us / 1e6,
            tasks_current=_unset_to_none(props.get("TasksCurrent")),
            tasks_max=_unset_to_none(props.get("TasksMax")),
            delegate=bool(props.get("Delegate")),
            n_restarts=props.get("NRestarts") or 0,
            inactive_exit_monotonic_us=props.get("InactiveExitTimestampMonotonic") or 0,
        )

    def as_dict(self):
        """Every property by attribute name (the readers' comparison tests use it)."""
        return dict(vars(self))

    @property
    def is_active(self):
        return self.active_state in ACTIVE_STATES

    @property
    def tasks_usage(self):
        if self.tasks_current is None or not self.tasks_max:
            return None
        return round(self.tasks_current / float(self.tasks_max), 4)


def _timespan_or_none(value):
    try:
        return parse_timespan(value)
    except ValueError:
        return None


def parse_show_output(text):
    """Split `systemctl show` output (blank-line separated blocks) into dicts."""
    blocks = []
    current = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def _run_systemctl(args, runner):
    env = dict(os.environ, LC_ALL="C", SYSTEMD_PAGER="", SYSTEMD_COLORS="0")
    try:
        return runner(["systemctl", "--no-pager"] + args, env)
    except OSError as exc:
        raise SystemdError("cannot run systemctl: %s" % exc)


# How long one systemctl call may take. systemctl asks PID 1 too: with PID 1 hung it would wait
# out sd-bus's 90 s authentication timeout, then its 25 s call timeout. The scan's fallback took
# 570 ms on a busy host (docs/benchmarks.md); 30 s is fifty times that. With the bus's own
# deadline (systemd_bus.DEFAULT_TIMEOUT, 15 s) a hung PID 1 ends the scan's query within 45 s.
SYSTEMCTL_TIMEOUT = 30.0


def default_runner(argv, env):
    """Run a command; its stdout as text. systemctl is stopped after SYSTEMCTL_TIMEOUT
    (journalctl reads files, not PID 1, and runs unbounded as before)."""
    timeout = SYSTEMCTL_TIMEOUT if argv[0] == "systemctl" else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemdError("%s did not answer within %ss (is PID 1 hung?)" % (" ".join(argv), timeout))
    if proc.returncode != 0:
        raise SystemdError(
            "%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, err.decode("utf-8", "replace").strip())
        )
    return out.decode("utf-8", "replace")


def read_units(runner=default_runner):
    """All loaded services (inactive and failed included) plus init.scope's cgroup, from systemctl.

    Returns (units by name, ControlGroup of init.scope). One systemctl call:
    `--all` is needed, since without it inactive units (the ones holding
    left-overs) are missing.
    """
    text = _run_systemctl(
        ["show", "--all", "-p", ",".join(UNIT_PROPERTIES), "*.service", "init.scope"],
        runner,
    )
    shown = [Unit.from_show(props) for props in parse_show_output(text)]
    return _loaded_services(shown), _init_scope_cgroup(shown)


def _loaded_services(units):
    return dict(
        (unit.name, unit)
        for unit in units
        if unit.name.endswith(".service") and unit.load_state not in ("not-found", "masked", "")
    )


def _init_scope_cgroup(units):
    return next((unit.control_group for unit in units if unit.name == "init.scope"), "")


def _version_number(text):
    match = re.match(r"\s*(?:systemd\s+)?(\d+)", text or "")
    return int(match.group(1)) if match else None


def systemd_version(runner=default_runner):
    first = _run_systemctl(["--version"], runner).splitlines()[0:1]
    return _version_number(first[0]) if first else None


class SystemdAnswer:
    """What the scan asks systemd, and which way it was asked."""

    def __init__(self, units, init_scope_cgroup, version, source, bus_problem=None):
        self.units = units
        self.init_scope_cgroup = init_scope_cgroup
        self.version = version
        # "bus" (PID 1's private socket) or "systemctl"; bus_problem says why not the bus
        self.source = source
        self.bus_problem = bus_problem


def ask_systemd(run_systemd="/run/systemd", runner=default_runner):
    """Every loaded service, init.scope's cgroup and systemd's version, as one SystemdAnswer.

    Over PID 1's private socket when this process may use it (root): the same
    properties as `systemctl show --all`, for a fraction of systemd's CPU (see
    systemd_bus). Otherwise, or when the socket gives anything but a clean
    answer, through systemctl as before.
    """
    try:
        listed, init_scope_cgroup, version = systemd_bus.read_units(
            os.path.join(run_systemd, "private"), timeout=systemd_bus.DEFAULT_TIMEOUT
        )
    except systemd_bus.BusUnavailable as exc:
        units, init_scope_cgroup = read_units(runner)
        return SystemdAnswer(units, init_scope_cgroup, systemd_version(runner), "systemctl", str(exc))
    units = _loaded_services(Unit.from_bus(values) for values in listed)
    return SystemdAnswer(units, init_scope_cgroup, _version_number(version), "bus")


def systemd_is_pid1(run_dir="/run/systemd/system"):
    """sd_booted(): systemd creates this directory when it runs as PID 1."""
    return os.path.isdir(run_dir)


def journal_leftover_counts(since, runner=default_runner):
    """Count systemd's left-over messages per unit since a journalctl time spec."""
    env = dict(os.environ, LC_ALL="C", SYSTEMD_PAGER="")
    argv = [
        "journalctl",
        "--no-pager",
        "-q",
        "_PID=1",
        # one argument: a value can never be read as an option of its own
        "--since=%s" % since,
        "-o",
        "json",
        "--output-fields=UNIT,MESSAGE",
    ]
    try:
        text = runner(argv, env)
    except OSError as exc:
        raise SystemdError("cannot run journalctl: %s" % exc)
    return count_leftover_messages(text)


LEFTOVER_PATTERNS = ("Found left-over process", "remains running after unit stopped")


def count_leftover_messages(json_lines):
    import json  # pylint: disable=import-outside-toplevel

    counts = {}
    for line in json_lines.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("MESSAGE")
        unit = entry.get("UNIT")
        if not isinstance(message, str) or not unit:
            continue
        if any(pattern in message for pattern in LEFTOVER_PATTERNS):
            counts[unit] = counts.get(unit, 0) + 1
    return counts
