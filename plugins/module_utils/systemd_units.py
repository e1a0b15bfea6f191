# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the properties of every loaded service from systemd in one call.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import signal
import subprocess

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


def _signal_name(value):
    number = _int_or_none(value)
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class Unit:
    """The properties of one service that the analysis needs."""

    def __init__(self, props):
        self.name = props.get("Id", "")
        self.load_state = props.get("LoadState", "")
        self.active_state = props.get("ActiveState", "")
        self.sub_state = props.get("SubState", "")
        self.main_pid = _int_or_none(props.get("MainPID")) or 0
        self.exec_main_pid = _int_or_none(props.get("ExecMainPID")) or 0
        self.control_group = props.get("ControlGroup", "") or ""
        self.invocation_id = props.get("InvocationID", "") or None
        self.kill_mode = props.get("KillMode") or None
        self.kill_signal = _signal_name(props.get("KillSignal"))
        self.send_sigkill = _bool(props.get("SendSIGKILL"))
        self.timeout_stop_sec = _timespan_or_none(props.get("TimeoutStopUSec"))
        self.tasks_current = _int_or_none(props.get("TasksCurrent"))
        self.tasks_max = _int_or_none(props.get("TasksMax"))
        self.delegate = _bool(props.get("Delegate"))
        self.n_restarts = _int_or_none(props.get("NRestarts")) or 0
        self.inactive_exit_monotonic_us = _int_or_none(props.get("InactiveExitTimestampMonotonic")) or 0

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


def default_runner(argv, env):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemdError(
            "%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, err.decode("utf-8", "replace").strip())
        )
    return out.decode("utf-8", "replace")


def read_units(runner=default_runner):
    """All loaded services (inactive and failed included) plus init.scope's cgroup.

    Returns (units by name, ControlGroup of init.scope). One systemctl call:
    `--all` is needed, since without it inactive units (the ones holding
    left-overs) are missing.
    """
    text = _run_systemctl(
        ["show", "--all", "-p", ",".join(UNIT_PROPERTIES), "*.service", "init.scope"],
        runner,
    )
    units = {}
    init_scope_cgroup = ""
    for props in parse_show_output(text):
        if props.get("Id") == "init.scope":
            init_scope_cgroup = props.get("ControlGroup", "")
            continue
        if props.get("LoadState") in ("not-found", "masked", ""):
            continue
        unit = Unit(props)
        if unit.name.endswith(".service"):
            units[unit.name] = unit
    return units, init_scope_cgroup


def systemd_version(runner=default_runner):
    first = _run_systemctl(["--version"], runner).splitlines()[0:1]
    match = re.match(r"systemd (\d+)", first[0]) if first else None
    return int(match.group(1)) if match else None


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
        "--since",
        since,
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
