# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one definition of the services the collection must not treat as leaking.

Two tiers, used by ``reap``, the timer's cleanup command, the default exemptions
of ``killmode_hardening`` and the posture findings of ``process_facts``, so the
lists can never disagree:

* **never ours**: systemd's own services, the bus, the per-user managers, this
  collection's cleanup. No option lifts them: acting on them takes the host or
  its logins down, or makes the cleanup fight itself.
* **by design**: packaged units that set ``KillMode=process`` on purpose so that
  their workers outlive a restart (a cron job, an SSH login, a container, a VM).
  Their survivors are real and reported, but they are not ours to kill: denied
  by default, an operator may lift one entry explicitly (``allow``).

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from . import unit_names

# (pattern, why). Patterns match full unit names ("dbus.service").
NEVER_OURS = (
    ("systemd-*", "systemd's own services (journald, logind, udevd, ...)"),
    ("dbus*", "the system bus: every service that talks D-Bus depends on it"),
    ("user@*", "a user's service manager: its processes are that user's session"),
    ("user-runtime-dir@*", "a user's runtime directory, managed by logind"),
    ("emergency.service", "the emergency shell on the console"),
    ("rescue.service", "the rescue shell on the console"),
    ("reaper-cleanup*", "this collection's own cleanup"),
)


class ByDesign:
    """A unit that keeps processes across a restart on purpose."""

    __slots__ = ("pattern", "kill_mode", "why", "source")

    def __init__(self, pattern, kill_mode, why, source):
        self.pattern = pattern
        self.kill_mode = kill_mode
        self.why = why
        self.source = source

    def as_dict(self):
        return dict((name, getattr(self, name)) for name in self.__slots__)


# ``source`` says where the KillMode was seen, so an operator knows how sure it is.
BY_DESIGN = (
    ByDesign(
        "ssh.service",
        "process",
        "login sessions must survive a restart of the SSH daemon",
        "Debian's openssh-server unit",
    ),
    ByDesign(
        "sshd.service",
        "process",
        "login sessions must survive a restart of the SSH daemon",
        "the sshd unit of Red Hat family distributions",
    ),
    ByDesign(
        "cron.service",
        "process",
        "a job cron started runs to its end across a restart of cron",
        "Debian's cron unit",
    ),
    ByDesign(
        "crond.service",
        "process",
        "a job cron started runs to its end across a restart of cron",
        "cronie's unit (Red Hat family)",
    ),
    ByDesign(
        "atd.service",
        "process",
        "an at job runs to its end across a restart of atd",
        "reported for some distributions; check with systemctl show -p KillMode atd",
    ),
    ByDesign(
        "anacron.service",
        "process",
        "a delayed job runs to its end across a restart of anacron",
        "reported for some distributions; check with systemctl show -p KillMode anacron",
    ),
    ByDesign(
        "containerd.service",
        "process",
        "containers (their shims) outlive a restart of containerd",
        "containerd's upstream unit",
    ),
    ByDesign(
        "docker.service",
        "process",
        "containers outlive a restart of the Docker engine (live-restore)",
        "Docker's upstream unit",
    ),
    ByDesign(
        "libvirtd.service",
        "process",
        "running virtual machines outlive a restart of libvirtd",
        "libvirt's upstream unit",
    ),
    ByDesign(
        "NetworkManager.service",
        "process",
        "DHCP clients and helpers keep the network up across a restart",
        "NetworkManager's upstream unit",
    ),
    ByDesign(
        "getty@*.service",
        "process",
        "the login on a virtual terminal outlives a restart of its getty",
        "systemd's getty@.service",
    ),
    ByDesign(
        "serial-getty@*.service",
        "process",
        "the login on a serial console outlives a restart of its getty",
        "systemd's serial-getty@.service",
    ),
)


def never_ours(unit):
    """The NEVER_OURS pattern that matches ``unit``, or None."""
    entry = never_ours_entry(unit)
    return entry[0] if entry else None


def never_ours_entry(unit):
    """The (pattern, why) of NEVER_OURS that matches ``unit``, or None."""
    for pattern, why in NEVER_OURS:
        if fnmatch.fnmatchcase(unit, pattern):
            return pattern, why
    return None


def by_design(unit):
    """The BY_DESIGN entry that matches ``unit``, or None."""
    for entry in BY_DESIGN:
        if fnmatch.fnmatchcase(unit, entry.pattern):
            return entry
    return None


def builtin_patterns():
    """Every built-in pattern, both tiers (the default exemptions of hardening)."""
    return [pattern for pattern, _why in NEVER_OURS] + [entry.pattern for entry in BY_DESIGN]


def allow_problem(entry):
    """Why an ``allow`` entry cannot be honoured, or None.

    The one rule for every surface (``reap``, the timer's cleanup.json and role
    variables, ``killmode_hardening``): only by-design entries can be lifted. An
    entry that could match any never-ours unit (``systemd-journald``, ``user@*``,
    ``*``, ``s*-journald``, ``[a-z]*``) is refused as a whole rather than half-applied:
    the operator must see the mistake.
    """
    name = unit_names.normalize(entry)
    for pattern, why in NEVER_OURS:
        if unit_names.patterns_overlap(name, pattern):
            return "%r can match %s, which is never ours (%s) and cannot be lifted" % (entry, pattern, why)
    return None


def lifted(unit, allow):
    """Does an ``allow`` entry (name or glob; 'cron' means cron.service) lift ``unit``?"""
    return unit_names.matches(unit, allow or ())


def classify(unit, allow=()):
    """Which tier ``unit`` is in, and whether ``allow`` lifts it, as a plain dict.

    ``tier`` is 'never_ours', 'by_design' or None; ``allowed`` says whether an
    action may touch the unit (never for never-ours, by design only if lifted);
    ``reason`` is the sentence an operator reads when a unit is left alone.
    """
    unit = unit_names.normalize(unit)
    data = {
        "name": unit,
        "tier": None,
        "pattern": None,
        "why": None,
        "kill_mode": None,
        "source": None,
        "allowed": True,
        "reason": None,
    }
    found = never_ours_entry(unit)
    entry = by_design(unit)
    if found:
        data.update(
            tier="never_ours",
            pattern=found[0],
            why=found[1],
            allowed=False,
            reason="%s is never ours (%s)" % (unit, found[1]),
        )
    elif entry is not None:
        data.update(entry.as_dict())
        data.update(
            tier="by_design",
            allowed=lifted(unit, allow),
            reason="%s sets KillMode=%s by design (%s; %s)" % (unit, entry.kill_mode, entry.why, entry.source),
        )
    return data


def hardening_exemptions(allow=()):
    """The built-in patterns killmode_hardening passes as exemptions: all, minus the lifted by-design ones.

    A by-design pattern is dropped when an ``allow`` entry names a unit it
    covers (or is the same glob), so that a lifted unit can be hardened.
    """
    patterns = [pattern for pattern, _why in NEVER_OURS]
    for entry in BY_DESIGN:
        if not any(
            fnmatch.fnmatchcase(unit_names.normalize(name), entry.pattern) or name == entry.pattern
            for name in allow or ()
        ):
            patterns.append(entry.pattern)
    return patterns
