# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared vocabulary of the fleet report: names, tolerant converters, ordering and sanitizing.

Every string that comes from a host (unit names, ``comm`` values, cgroup paths, error messages) is
attacker-controlled: a process chooses its own ``comm``. ``clean`` replaces control and format
characters (terminal escape sequences, bidirectional overrides) with visible escapes; the renderers
escape for their own syntax on top of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping, Sequence

from ansible_collections.reaper.systemd.plugins.module_utils import safe_text

SCHEMA_VERSION = "1.2"
GENERATOR = "reaper.systemd.audit"
STATUSES = ("ok", "no_systemd", "unreachable", "failed")
SEVERITIES = ("info", "warning", "critical")
FAIL_ON = ("none", "info", "warning", "critical")
KINDS = ("zombies", "leftovers", "survivors", "escaped")


def rank(severity):
    """0 for no severity, then info < warning < critical."""
    try:
        return SEVERITIES.index(severity) + 1
    except ValueError:
        return 0


def as_int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# The checks against the abstract Mapping and Sequence cost more than the rest of the report model
# for thousands of hosts (ten times a check against dict): dicts and lists (nearly every value) are
# recognised first.


def as_list(value):
    if isinstance(value, list) or (isinstance(value, Sequence) and not isinstance(value, (str, bytes))):
        return list(value)
    return []


def as_dict(value):
    return value if isinstance(value, (dict, Mapping)) else {}


def dict_items(value):
    """Copies of the mappings in a list (anything else in it is dropped)."""
    return [dict(item) for item in as_list(value) if isinstance(item, (dict, Mapping))]


def empty_severities():
    return {"critical": 0, "warning": 0, "info": 0, "total": 0}


def issue_score(counts):
    return sum(as_int(counts.get(kind)) for kind in KINDS)


# --------------------------------------------------------------------------- ordering


def host_sort_key(item):
    """Worst host first: worst severity, critical and warning counts, leaked processes, name."""
    name, host = item
    t = host["totals"]
    return (
        -rank(t["worst_severity"]),
        -t["findings"]["critical"],
        -t["findings"]["warning"],
        -(t["zombies"] + t["leftovers"] + t["survivors"] + t["escapes"]),
        name,
    )


def sorted_units(host):
    return sorted(
        host["units"].items(),
        key=lambda kv: (-rank(kv[1].get("worst_severity")), -issue_score(kv[1]["counts"]), kv[0]),
    )


def all_findings(report):
    """[(host name, finding)] of the whole fleet, most severe first."""
    rows = []
    for hname, host in report["hosts"].items():
        for item in host["findings"]:
            rows.append((hname, item))
    rows.sort(key=lambda r: (-rank(r[1].get("severity")), r[0], str(r[1].get("unit") or ""), str(r[1].get("code"))))
    return rows


def zombies_by_parent(items):
    groups = {}
    for item in items:
        groups.setdefault((item.get("ppid"), item.get("parent_comm")), []).append(item)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), as_int(kv[0][0])))


# --------------------------------------------------------------------------- sanitizing and wording


def clean(value, keep_newlines=False):
    """Text of a value with control/format characters made visible (\\xNN, \\uNNNN).

    The one escaping rule of the collection (safe_text), shared with the host's logs."""
    return safe_text.clean(value, keep_newlines)


def pct(value):
    if value is None:
        return "-"
    try:
        return "%.1f%%" % (float(value) * 100)
    except (TypeError, ValueError):
        return "-"


def sev_counts(findings):
    parts = []
    for sev in ("critical", "warning", "info"):
        if as_int(findings.get(sev)):
            parts.append("%d %s" % (as_int(findings.get(sev)), sev))
    return ", ".join(parts) or "none"


def status_line(totals):
    status = totals.get("status", {})
    return ", ".join("%d %s" % (status[s], s) for s in STATUSES if status.get(s))


def zombie_text(item):
    seen = item.get("zombie_seen_s")
    return "pid %s (parent %s %s%s, age %ss%s)" % (
        clean(item.get("pid")),
        clean(item.get("ppid")),
        clean(item.get("parent_comm")),
        ", main" if item.get("parent_is_main") else "",
        clean(item.get("age_s")),
        ", zombie for %ss" % clean(seen) if seen is not None else "",
    )


def escape_text(item):
    return "pid %s %s in %s" % (clean(item.get("pid")), clean(item.get("comm")), clean(item.get("now_in")))


def pid_lines(comparison):
    """Per host and kind of a comparison: how many listed PIDs are gone, still present (named) or new."""
    lines = []
    for hname, host in comparison["hosts"].items():
        for kind, pids in host["pids"].items():
            if not (pids["gone"] or pids["remaining"] or pids["new"]):
                continue
            text = "%s: %s: %d gone, %d new" % (clean(hname), kind, len(pids["gone"]), len(pids["new"]))
            if pids["remaining"]:
                rest = pids["remaining"]
                text += ", still present: %s%s" % (
                    ", ".join(str(p) for p in rest[:20]),
                    " ..." if len(rest) > 20 else "",
                )
            if kind == "zombies" and pids["new"]:
                text += " (a restarted zombie factory leaks again, with new PIDs)"
            lines.append(text)
    return lines


def nothing_remains(comparison):
    return not any(p["remaining"] for host in comparison["hosts"].values() for p in host["pids"].values())
