# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet report of the reaper.systemd audit.

Turns what ``reaper.systemd.process_facts`` returned on each host (or why it
could not run there) into one report: a versioned dict (``report.json``, the
schema is docs/report-schema.md), a Markdown summary, a self-contained HTML page
and a plain-text summary for the terminal.

Every string that comes from a host (unit names, ``comm`` values, cgroup paths,
error messages) is attacker-controlled: a process chooses its own ``comm``.
The renderers escape it for their output (HTML entities, Markdown
punctuation) and replace control and format characters (terminal escape
sequences, bidirectional overrides) with visible escapes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import hashlib
import html
import os
import re
import unicodedata

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

SCHEMA_VERSION = "1.0"
STATUSES = ("ok", "no_systemd", "unreachable", "failed")
SEVERITIES = ("info", "warning", "critical")
FAIL_ON = ("none", "info", "warning", "critical")
KINDS = ("zombies", "leftovers", "survivors", "escaped")
UNIT_KEEP = (
    "active_state",
    "sub_state",
    "main_pid",
    "control_group",
    "kill_mode",
    "send_sigkill",
    "tasks_current",
    "tasks_max",
    "tasks_usage",
    "delegate",
    "n_restarts",
    "invocation_id",
    "processes",
)
HOST_KEEP = (
    "systemd",
    "systemd_version",
    "cgroup_layout",
    "backend",
    "privilege",
    "pid_max",
    "threads_max",
    "processes",
    "threads",
    "pid_usage",
    "thread_usage",
)


def _rank(severity):
    try:
        return SEVERITIES.index(severity) + 1
    except ValueError:
        return 0


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _list(value):
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []


def _dict(value):
    return value if isinstance(value, Mapping) else {}


# --------------------------------------------------------------------------- per-host result


def reaper_host_result(result):
    """Classify one host's registered ``process_facts`` result.

    Returns ``{status, message, facts}``; status is ``ok``, ``no_systemd``,
    ``unreachable`` or ``failed``.
    """
    if not isinstance(result, Mapping):
        return {"status": "failed", "message": "the scan did not run on this host", "facts": {}}
    message = result.get("msg") or ""
    if not isinstance(message, str):
        message = str(message)
    if result.get("unreachable"):
        return {"status": "unreachable", "message": message or "host unreachable", "facts": {}}
    if result.get("failed"):
        detail = result.get("module_stderr") or result.get("stderr") or ""
        if isinstance(detail, str) and detail.strip():
            message = "%s: %s" % (message or "the scan failed", detail.strip().splitlines()[-1][:300])
        return {"status": "failed", "message": message or "the scan failed", "facts": {}}
    if result.get("skipped"):
        return {
            "status": "failed",
            "message": "the scan was skipped: " + (result.get("skip_reason") or message),
            "facts": {},
        }
    facts = _dict(_dict(result.get("ansible_facts")).get("reaper"))
    if not facts:
        return {"status": "failed", "message": "the scan returned no reaper facts", "facts": {}}
    if not _dict(facts.get("host")).get("systemd"):
        return {"status": "no_systemd", "message": "systemd is not PID 1: host facts and zombies only", "facts": facts}
    return {"status": "ok", "message": message, "facts": facts}


# --------------------------------------------------------------------------- report dict


def _empty_totals():
    totals = dict((kind, 0) for kind in KINDS)
    totals.update(
        {
            "unattributed_escapes": 0,
            "zombies_in_units": 0,
            "zombies_outside_units": 0,
            "escapes": 0,
            "units_with_findings": 0,
            "findings": {"critical": 0, "warning": 0, "info": 0, "total": 0},
            "worst_severity": None,
        }
    )
    return totals


def _count_findings(findings, totals):
    worst = totals.get("worst_severity")
    for item in findings:
        severity = item.get("severity")
        if severity in SEVERITIES:
            totals["findings"][severity] += 1
            if _rank(severity) > _rank(worst):
                worst = severity
        totals["findings"]["total"] += 1
    totals["worst_severity"] = worst


def _host_entry(entry, all_units):
    status = entry.get("status") if entry.get("status") in STATUSES else "failed"
    facts = _dict(entry.get("facts"))
    host = _dict(facts.get("host"))
    units = _dict(facts.get("units"))
    findings = [dict(f) for f in _list(facts.get("findings")) if isinstance(f, Mapping)]
    out = {"status": status, "message": entry.get("message") or ""}
    for key in HOST_KEEP:
        out[key] = host.get(key)
    totals = _empty_totals()
    flagged = set(f.get("unit") for f in findings if f.get("unit"))
    out_units = {}
    for name in sorted(units):
        unit = _dict(units[name])
        counts = dict((kind, _int(_dict(unit.get("counts")).get(kind))) for kind in KINDS)
        for kind in KINDS:
            totals[kind] += counts[kind]
        unit_findings = [f for f in findings if f.get("unit") == name]
        if not (all_units or any(counts.values()) or unit_findings):
            continue
        item = dict((key, unit.get(key)) for key in UNIT_KEEP)
        item["counts"] = counts
        for kind in KINDS:
            item[kind] = [dict(i) for i in _list(unit.get(kind)) if isinstance(i, Mapping)]
        sev = {"critical": 0, "warning": 0, "info": 0, "total": 0}
        item_totals = {"findings": sev, "worst_severity": None}
        _count_findings(unit_findings, item_totals)
        item["findings"] = sev
        item["worst_severity"] = item_totals["worst_severity"]
        out_units[name] = item
    # a finding may name a unit the facts do not list (the module caps nothing there, but be safe)
    for name in sorted(flagged - set(out_units)):
        unit_findings = [f for f in findings if f.get("unit") == name]
        item_totals = {"findings": {"critical": 0, "warning": 0, "info": 0, "total": 0}, "worst_severity": None}
        _count_findings(unit_findings, item_totals)
        out_units[name] = {
            "counts": dict((k, 0) for k in KINDS),
            "findings": item_totals["findings"],
            "worst_severity": item_totals["worst_severity"],
        }
    zoo = [dict(i) for i in _list(host.get("zombies_outside_units")) if isinstance(i, Mapping)]
    unattributed = [dict(i) for i in _list(host.get("unattributed_escapes")) if isinstance(i, Mapping)]
    totals["zombies_in_units"] = totals["zombies"]
    # the host's own count is exact; the unit counts plus the (capped) list are the fallback
    totals["zombies"] = _int(host.get("zombies"), totals["zombies"] + len(zoo)) if host else 0
    # the list of zombies outside units is capped at max_items: count them from the exact numbers
    totals["zombies_outside_units"] = max(len(zoo), totals["zombies"] - totals["zombies_in_units"])
    totals["unattributed_escapes"] = len(unattributed)
    totals["escapes"] = totals["escaped"] + len(unattributed)
    totals["units_with_findings"] = len(flagged)
    _count_findings(findings, totals)
    out["totals"] = totals
    out["findings"] = findings
    out["units"] = out_units
    out["zombies_outside_units"] = zoo
    out["unattributed_escapes"] = unattributed
    out["unmatched"] = [str(p) for p in _list(facts.get("unmatched"))]
    return out


def _host_sort_key(item):
    name, host = item
    t = host["totals"]
    return (
        -_rank(t["worst_severity"]),
        -t["findings"]["critical"],
        -t["findings"]["warning"],
        -(t["zombies"] + t["leftovers"] + t["survivors"] + t["escapes"]),
        name,
    )


def _issue_score(counts):
    return sum(_int(counts.get(k)) for k in KINDS)


def reaper_report(results, generated_at=None, label="", baseline=None, all_units=False, top=10):
    """Build the fleet report dict from ``{inventory_hostname: host result}``.

    A host result is what ``reaper_host_result`` returns, or a registered
    ``process_facts`` result, which is classified first.
    """
    if not isinstance(results, Mapping):
        raise AnsibleFilterError(
            "reaper_report expects a dict of inventory_hostname: scan result, got %s" % type(results).__name__
        )
    if generated_at is None:
        generated_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    top = max(1, _int(top, 10))
    hosts = {}
    for name in sorted(results, key=str):
        entry = results[name]
        if not (isinstance(entry, Mapping) and "status" in entry and "facts" in entry):
            entry = reaper_host_result(entry)
        hosts[str(name)] = _host_entry(entry, bool(all_units))

    totals = _empty_totals()
    totals["hosts"] = len(hosts)
    totals["status"] = dict((s, 0) for s in STATUSES)
    totals["hosts_with_findings"] = 0
    units = {}
    for name, host in hosts.items():
        totals["status"][host["status"]] += 1
        t = host["totals"]
        for key in KINDS + (
            "unattributed_escapes",
            "zombies_in_units",
            "zombies_outside_units",
            "escapes",
            "units_with_findings",
        ):
            totals[key] += t[key]
        for sev in ("critical", "warning", "info", "total"):
            totals["findings"][sev] += t["findings"][sev]
        if _rank(t["worst_severity"]) > _rank(totals["worst_severity"]):
            totals["worst_severity"] = t["worst_severity"]
        if t["findings"]["total"]:
            totals["hosts_with_findings"] += 1
        for uname, unit in host["units"].items():
            agg = units.setdefault(
                uname,
                {
                    "hosts": [],
                    "counts": dict((k, 0) for k in KINDS),
                    "findings": {"critical": 0, "warning": 0, "info": 0, "total": 0},
                    "worst_severity": None,
                },
            )
            agg["hosts"].append(name)
            for kind in KINDS:
                agg["counts"][kind] += unit["counts"][kind]
            for sev in ("critical", "warning", "info", "total"):
                agg["findings"][sev] += unit["findings"][sev]
            if _rank(unit["worst_severity"]) > _rank(agg["worst_severity"]):
                agg["worst_severity"] = unit["worst_severity"]

    worst_hosts = [
        name
        for name, host in sorted(hosts.items(), key=_host_sort_key)
        if host["totals"]["findings"]["total"] or host["totals"]["zombies"] or host["totals"]["escapes"]
    ][:top]
    worst_units = [
        name
        for name, unit in sorted(
            units.items(),
            key=lambda kv: (
                -_rank(kv[1]["worst_severity"]),
                -kv[1]["findings"]["critical"],
                -kv[1]["findings"]["warning"],
                -_issue_score(kv[1]["counts"]),
                -len(kv[1]["hosts"]),
                kv[0],
            ),
        )
        if unit["findings"]["total"] or _issue_score(unit["counts"])
    ][:top]

    report = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": str(generated_at),
        "generator": "reaper.systemd.audit",
        "label": str(label or ""),
        "totals": totals,
        "worst": {"hosts": worst_hosts, "units": worst_units},
        "units": units,
        "hosts": hosts,
    }
    if baseline:
        report["comparison"] = reaper_report_compare(baseline, report)
    return report


# --------------------------------------------------------------------------- before / after


def _pid_sets(host):
    sets = dict((kind, set()) for kind in KINDS + ("zombies_outside_units", "unattributed_escapes"))
    for unit in _dict(host.get("units")).values():
        for kind in KINDS:
            for item in _list(_dict(unit).get(kind)):
                pid = _int(_dict(item).get("pid"), None)
                if pid is not None:
                    sets[kind].add(pid)
    for kind in ("zombies_outside_units", "unattributed_escapes"):
        for item in _list(host.get(kind)):
            pid = _int(_dict(item).get("pid"), None)
            if pid is not None:
                sets[kind].add(pid)
    return sets


def _finding_keys(host):
    return set(
        (str(f.get("unit") or ""), str(f.get("code"))) for f in _list(host.get("findings")) if isinstance(f, Mapping)
    )


COMPARE_KEYS = KINDS + ("escapes", "unattributed_escapes")


def reaper_report_compare(before, after):
    """Compare two reports (before and after a remediation).

    For each host: status and totals before and after, the findings that were
    resolved or are new (by unit and code), and per kind the PIDs listed before
    that are gone, still there or new.
    """
    before = _dict(before)
    after = _dict(after)
    bhosts = _dict(before.get("hosts"))
    ahosts = _dict(after.get("hosts"))
    hosts = {}
    for name in sorted(set(bhosts) | set(ahosts)):
        b = _dict(bhosts.get(name))
        a = _dict(ahosts.get(name))
        bt = _dict(b.get("totals"))
        at = _dict(a.get("totals"))
        entry = {
            "status": {"before": b.get("status"), "after": a.get("status")},
            "totals": dict((k, {"before": _int(bt.get(k)), "after": _int(at.get(k))}) for k in COMPARE_KEYS),
            "findings": {
                "before": _int(_dict(bt.get("findings")).get("total")),
                "after": _int(_dict(at.get("findings")).get("total")),
            },
        }
        bkeys = _finding_keys(b)
        akeys = _finding_keys(a)
        entry["findings_resolved"] = [{"unit": u or None, "code": c} for u, c in sorted(bkeys - akeys)]
        entry["findings_remaining"] = [{"unit": u or None, "code": c} for u, c in sorted(bkeys & akeys)]
        entry["findings_new"] = [{"unit": u or None, "code": c} for u, c in sorted(akeys - bkeys)]
        comparable = b.get("status") in ("ok", "no_systemd") and a.get("status") in ("ok", "no_systemd")
        entry["comparable"] = comparable
        bsets = _pid_sets(b)
        asets = _pid_sets(a)
        pids = {}
        for kind in bsets:
            pids[kind] = {
                "gone": sorted(bsets[kind] - asets[kind]) if comparable else [],
                "remaining": sorted(bsets[kind] & asets[kind]) if comparable else [],
                "new": sorted(asets[kind] - bsets[kind]) if comparable else [],
            }
        entry["pids"] = pids
        units = {}
        bunits = _dict(b.get("units"))
        aunits = _dict(a.get("units"))
        for uname in sorted(set(bunits) | set(aunits)):
            bc = _dict(_dict(bunits.get(uname)).get("counts"))
            ac = _dict(_dict(aunits.get(uname)).get("counts"))
            units[uname] = dict((k, {"before": _int(bc.get(k)), "after": _int(ac.get(k))}) for k in KINDS)
        entry["units"] = units
        hosts[name] = entry
    btot = _dict(before.get("totals"))
    atot = _dict(after.get("totals"))
    totals = dict((k, {"before": _int(btot.get(k)), "after": _int(atot.get(k))}) for k in COMPARE_KEYS)
    for sev in ("critical", "warning", "info", "total"):
        totals["findings_" + sev] = {
            "before": _int(_dict(btot.get("findings")).get(sev)),
            "after": _int(_dict(atot.get("findings")).get(sev)),
        }
    return {
        "before": {"generated_at": before.get("generated_at"), "label": before.get("label")},
        "after": {"generated_at": after.get("generated_at"), "label": after.get("label")},
        "totals": totals,
        "hosts": hosts,
    }


# --------------------------------------------------------------------------- severity gate


def reaper_report_reaches(report, level="none"):
    """True when the report has a finding at ``level`` or above (``none`` never)."""
    if level not in FAIL_ON:
        raise AnsibleFilterError("reaper_fail_on must be one of %s, got %r" % (", ".join(FAIL_ON), level))
    if level == "none":
        return False
    findings = _dict(_dict(_dict(report).get("totals")).get("findings"))
    return any(_int(findings.get(sev)) for sev in SEVERITIES if _rank(sev) >= _rank(level))


# --------------------------------------------------------------------------- sanitizing

_BIDI_OR_CONTROL = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")


def _clean(value, keep_newlines=False):
    """Text of a value with control/format characters made visible (\\xNN, \\uNNNN)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    out = []
    for char in text:
        if keep_newlines and char == "\n":
            out.append(char)
        elif unicodedata.category(char) in _BIDI_OR_CONTROL:
            code = ord(char)
            out.append("\\x%02x" % code if code < 0x100 else "\\u%04x" % code)
        else:
            out.append(char)
    return "".join(out)


def _h(value):
    return html.escape(_clean(value), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(value):
    text = _clean(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _pct(value):
    if value is None:
        return "-"
    try:
        return "%.1f%%" % (float(value) * 100)
    except (TypeError, ValueError):
        return "-"


def _sev_counts(findings):
    parts = []
    for sev in ("critical", "warning", "info"):
        if _int(findings.get(sev)):
            parts.append("%d %s" % (_int(findings.get(sev)), sev))
    return ", ".join(parts) or "none"


def _status_line(totals):
    status = totals.get("status", {})
    return ", ".join("%d %s" % (status[s], s) for s in STATUSES if status.get(s))


def _all_findings(report):
    rows = []
    for hname, host in report["hosts"].items():
        for item in host["findings"]:
            rows.append((hname, item))
    rows.sort(key=lambda r: (-_rank(r[1].get("severity")), r[0], str(r[1].get("unit") or ""), str(r[1].get("code"))))
    return rows


def _sorted_units(host):
    return sorted(
        host["units"].items(),
        key=lambda kv: (-_rank(kv[1].get("worst_severity")), -_issue_score(kv[1]["counts"]), kv[0]),
    )


def _zombies_by_parent(items):
    groups = {}
    for item in items:
        groups.setdefault((item.get("ppid"), item.get("parent_comm")), []).append(item)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), _int(kv[0][0])))


def _zombie_text(item):
    return "pid %s (parent %s %s%s, age %ss)" % (
        _clean(item.get("pid")),
        _clean(item.get("ppid")),
        _clean(item.get("parent_comm")),
        ", main" if item.get("parent_is_main") else "",
        _clean(item.get("age_s")),
    )


# --------------------------------------------------------------------------- plain text


def reaper_report_text(report, max_hosts=50, max_findings=20, report_dir=None):
    """A readable per-unit summary for the terminal."""
    report = _dict(report)
    if "hosts" not in report:
        raise AnsibleFilterError("reaper_report_text expects the dict built by reaper.systemd.reaper_report")
    max_hosts = _int(max_hosts, 50)
    max_findings = _int(max_findings, 20)
    t = report["totals"]
    lines = []
    title = "reaper.systemd audit"
    if report.get("label"):
        title += " (%s)" % _clean(report["label"])
    lines.append(
        "%s at %s: %d host(s): %s" % (title, _clean(report.get("generated_at")), t["hosts"], _status_line(t) or "none")
    )
    lines.append(
        "fleet: %d zombies (%d in units), %d leftovers, %d survivors, %d escaped (%d unattributed); "
        "findings: %s"
        % (
            t["zombies"],
            t["zombies_in_units"],
            t["leftovers"],
            t["survivors"],
            t["escapes"],
            t["unattributed_escapes"],
            _sev_counts(t["findings"]),
        )
    )
    ordered = sorted(
        report["hosts"].items(),
        key=lambda kv: (kv[1]["status"] == "ok" and not kv[1]["totals"]["findings"]["total"], _host_sort_key(kv)),
    )
    shown = 0
    clean_hosts = []
    for name, host in ordered:
        ht = host["totals"]
        interesting = host["status"] != "ok" or ht["findings"]["total"] or ht["zombies"]
        if shown >= max_hosts or (len(ordered) > max_hosts and not interesting):
            clean_hosts.append(name)
            continue
        shown += 1
        lines.append("")
        if host["status"] in ("unreachable", "failed"):
            lines.append("%s [%s] %s" % (_clean(name), host["status"], _clean(host.get("message"))))
            continue
        desc = []
        if host["status"] == "ok":
            desc.append("systemd %s" % _clean(host.get("systemd_version") or "?"))
        else:
            desc.append("no systemd as PID 1")
        desc.append("%s cgroups" % _clean(host.get("cgroup_layout") or "?"))
        desc.append("privilege %s" % _clean(host.get("privilege") or "?"))
        lines.append(
            "%s [%s] %s: %s processes, %s threads, %d zombies, pid usage %s, thread usage %s"
            % (
                _clean(name),
                host["status"],
                ", ".join(desc),
                _clean(host.get("processes")),
                _clean(host.get("threads")),
                ht["zombies"],
                _pct(host.get("pid_usage")),
                _pct(host.get("thread_usage")),
            )
        )
        if host["units"]:
            width = max([len("unit")] + [len(_clean(u)) for u in host["units"]])
            width = min(width, 48)
            lines.append(
                "  %s %8s %9s %9s %8s  %s"
                % ("unit".ljust(width), "zombies", "leftovers", "survivors", "escaped", "findings")
            )
            for uname, unit in _sorted_units(host):
                c = unit["counts"]
                lines.append(
                    "  %s %8d %9d %9d %8d  %s"
                    % (
                        _clean(uname).ljust(width),
                        c["zombies"],
                        c["leftovers"],
                        c["survivors"],
                        c["escaped"],
                        _sev_counts(unit["findings"]),
                    )
                )
        if host["zombies_outside_units"]:
            listed = len(host["zombies_outside_units"])
            lines.append(
                "  zombies outside units (%d%s), by parent:"
                % (ht["zombies_outside_units"], "" if listed == ht["zombies_outside_units"] else ", %d listed" % listed)
            )
            groups = _zombies_by_parent(host["zombies_outside_units"])
            for (ppid, comm), items in groups[:10]:
                pids = [str(_clean(i.get("pid"))) for i in items]
                lines.append(
                    "    parent %s %s: %d zombie(s), pids %s%s"
                    % (_clean(ppid), _clean(comm), len(items), ", ".join(pids[:8]), " ..." if len(pids) > 8 else "")
                )
            if len(groups) > 10:
                lines.append("    ... %d more parent(s) in report.json" % (len(groups) - 10))
        if host["unattributed_escapes"]:
            lines.append("  unattributed escapes (%d):" % ht["unattributed_escapes"])
            for item in host["unattributed_escapes"][:10]:
                lines.append(
                    "    pid %s %s in %s (%s)"
                    % (
                        _clean(item.get("pid")),
                        _clean(item.get("comm")),
                        _clean(item.get("now_in")),
                        _clean(item.get("route")),
                    )
                )
        findings = sorted(host["findings"], key=lambda f: (-_rank(f.get("severity")), str(f.get("unit") or "")))
        if findings:
            lines.append("  findings (%s):" % _sev_counts(ht["findings"]))
            for item in findings[:max_findings]:
                lines.append(
                    "    [%s] %s %s: %s"
                    % (
                        _clean(item.get("severity")),
                        _clean(item.get("unit") or "(host)"),
                        _clean(item.get("code")),
                        _clean(item.get("summary")),
                    )
                )
                if item.get("remedy"):
                    lines.append("      remedy: %s" % _clean(item.get("remedy")))
            if len(findings) > max_findings:
                lines.append("    ... %d more in report.json" % (len(findings) - max_findings))
        elif host["status"] == "ok":
            lines.append("  no findings")
        if host.get("unmatched"):
            lines.append("  unit patterns that matched nothing: %s" % ", ".join(_clean(p) for p in host["unmatched"]))
    if clean_hosts:
        lines.append("")
        lines.append(
            "%d more host(s) not shown (no findings or over the limit of %d): see the report"
            % (len(clean_hosts), max_hosts)
        )
    comparison = report.get("comparison")
    if comparison:
        lines.append("")
        lines.extend(_compare_text(comparison))
    if report_dir:
        lines.append("")
        lines.append("report: %s/report.html (also report.md, report.json)" % _clean(report_dir))
    return "\n".join(lines)


def _compare_text(comparison):
    lines = [
        "before -> after (%s -> %s):"
        % (_clean(comparison["before"].get("generated_at")), _clean(comparison["after"].get("generated_at")))
    ]
    ct = comparison["totals"]
    lines.append(
        "  fleet: "
        + ", ".join(
            "%s %d -> %d" % (k, ct[k]["before"], ct[k]["after"])
            for k in ("zombies", "leftovers", "survivors", "escapes")
        )
    )
    lines.append(
        "  findings: %d -> %d (critical %d -> %d, warning %d -> %d)"
        % (
            ct["findings_total"]["before"],
            ct["findings_total"]["after"],
            ct["findings_critical"]["before"],
            ct["findings_critical"]["after"],
            ct["findings_warning"]["before"],
            ct["findings_warning"]["after"],
        )
    )
    for name, host in comparison["hosts"].items():
        st = host["status"]
        before_st, after_st = st["before"] or "not audited", st["after"] or "not audited"
        status = after_st if before_st == after_st else "%s -> %s" % (before_st, after_st)
        lines.append(
            "  %s [%s]: findings %d -> %d, resolved %d, new %d"
            % (
                _clean(name),
                _clean(status),
                host["findings"]["before"],
                host["findings"]["after"],
                len(host["findings_resolved"]),
                len(host["findings_new"]),
            )
        )
        for uname, counts in host["units"].items():
            changed = [k for k in KINDS if counts[k]["before"] or counts[k]["after"]]
            if changed:
                lines.append(
                    "    %s: %s"
                    % (
                        _clean(uname),
                        ", ".join("%s %d -> %d" % (k, counts[k]["before"], counts[k]["after"]) for k in changed),
                    )
                )
        for kind, pids in host["pids"].items():
            if pids["remaining"]:
                rest = pids["remaining"]
                lines.append(
                    "    %s still present (%d): %s%s"
                    % (kind, len(rest), ", ".join(str(p) for p in rest[:10]), " ..." if len(rest) > 10 else "")
                )
            if pids["new"] and kind == "zombies":
                lines.append(
                    "    zombies new since before (a zombie factory leaks again after a restart): %d" % len(pids["new"])
                )
    return lines


def _pid_lines(comparison):
    """Per host and kind: how many listed PIDs are gone, still present (named) or new."""
    lines = []
    for hname, host in comparison["hosts"].items():
        for kind, pids in host["pids"].items():
            if not (pids["gone"] or pids["remaining"] or pids["new"]):
                continue
            text = "%s: %s: %d gone, %d new" % (_clean(hname), kind, len(pids["gone"]), len(pids["new"]))
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


# --------------------------------------------------------------------------- Markdown


def _md_row(cells):
    return "| " + " | ".join(cells) + " |"


def reaper_report_markdown(report, max_findings=200):
    """A Markdown summary of the report (every host is named)."""
    report = _dict(report)
    if "hosts" not in report:
        raise AnsibleFilterError("reaper_report_markdown expects the dict built by reaper.systemd.reaper_report")
    max_findings = _int(max_findings, 200)
    t = report["totals"]
    out = ["# reaper.systemd audit report" + (" (%s)" % _md(report["label"]) if report.get("label") else ""), ""]
    out.append(
        "Generated %s, schema %s. %d host(s): %s."
        % (
            _md(report.get("generated_at")),
            _md(report.get("schema_version")),
            t["hosts"],
            _md(_status_line(t) or "none"),
        )
    )
    out += ["", "## Fleet totals", ""]
    out.append(
        _md_row(
            [
                "zombies",
                "in units",
                "leftovers",
                "survivors",
                "escaped",
                "unattributed",
                "critical",
                "warning",
                "info",
                "hosts with findings",
            ]
        )
    )
    out.append(_md_row(["---:"] * 10))
    out.append(
        _md_row(
            [
                str(x)
                for x in (
                    t["zombies"],
                    t["zombies_in_units"],
                    t["leftovers"],
                    t["survivors"],
                    t["escapes"],
                    t["unattributed_escapes"],
                    t["findings"]["critical"],
                    t["findings"]["warning"],
                    t["findings"]["info"],
                    t["hosts_with_findings"],
                )
            ]
        )
    )
    out += ["", "## Hosts", ""]
    out.append(
        _md_row(
            [
                "host",
                "status",
                "systemd",
                "processes",
                "zombies",
                "leftovers",
                "survivors",
                "escaped",
                "findings",
                "note",
            ]
        )
    )
    out.append(_md_row(["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---", "---"]))
    for name, host in sorted(report["hosts"].items(), key=_host_sort_key):
        ht = host["totals"]
        out.append(
            _md_row(
                [
                    _md(name),
                    _md(host["status"]),
                    _md(host.get("systemd_version") or "-"),
                    _md(host.get("processes") or "-"),
                    str(ht["zombies"]),
                    str(ht["leftovers"]),
                    str(ht["survivors"]),
                    str(ht["escapes"]),
                    _md(_sev_counts(ht["findings"])),
                    _md(host.get("message") or ""),
                ]
            )
        )
    if report["worst"]["units"]:
        out += ["", "## Worst units", ""]
        out.append(_md_row(["unit", "hosts", "zombies", "leftovers", "survivors", "escaped", "findings"]))
        out.append(_md_row(["---", "---:", "---:", "---:", "---:", "---:", "---"]))
        for uname in report["worst"]["units"]:
            unit = report["units"][uname]
            c = unit["counts"]
            out.append(
                _md_row(
                    [
                        _md(uname),
                        str(len(unit["hosts"])),
                        str(c["zombies"]),
                        str(c["leftovers"]),
                        str(c["survivors"]),
                        str(c["escaped"]),
                        _md(_sev_counts(unit["findings"])),
                    ]
                )
            )
    rows = _all_findings(report)
    out += ["", "## Findings", ""]
    if rows:
        out.append(_md_row(["severity", "host", "unit", "code", "summary", "remedy"]))
        out.append(_md_row(["---"] * 6))
        for hname, item in rows[:max_findings]:
            out.append(
                _md_row(
                    [
                        _md(item.get("severity")),
                        _md(hname),
                        _md(item.get("unit") or "(host)"),
                        _md(item.get("code")),
                        _md(item.get("summary")),
                        _md(item.get("remedy")),
                    ]
                )
            )
        if len(rows) > max_findings:
            out += ["", "%d more finding(s) in report.json." % (len(rows) - max_findings)]
    else:
        out.append("No findings.")
    zombies = [(n, h) for n, h in report["hosts"].items() if h["zombies_outside_units"] or h["unattributed_escapes"]]
    if zombies:
        out += ["", "## Outside any unit", ""]
        for name, host in zombies:
            if host["zombies_outside_units"]:
                out.append(
                    "- %s: %d zombie(s) outside units: %s"
                    % (
                        _md(name),
                        host["totals"]["zombies_outside_units"],
                        _md("; ".join(_zombie_text(i) for i in host["zombies_outside_units"][:10])),
                    )
                )
            if host["unattributed_escapes"]:
                out.append(
                    "- %s: %d unattributed escape(s): %s"
                    % (
                        _md(name),
                        host["totals"]["unattributed_escapes"],
                        _md(
                            "; ".join(
                                "pid %s %s in %s" % (i.get("pid"), _clean(i.get("comm")), _clean(i.get("now_in")))
                                for i in host["unattributed_escapes"][:10]
                            )
                        ),
                    )
                )
    comparison = report.get("comparison")
    if comparison:
        ct = comparison["totals"]
        out += ["", "## Before and after", ""]
        out.append(
            "Before: %s. After: %s."
            % (_md(comparison["before"].get("generated_at")), _md(comparison["after"].get("generated_at")))
        )
        out.append("")
        out.append(_md_row(["", "zombies", "leftovers", "survivors", "escaped", "critical", "warning", "findings"]))
        out.append(_md_row(["---"] + ["---:"] * 7))
        for when in ("before", "after"):
            out.append(
                _md_row(
                    [when]
                    + [
                        str(ct[k][when])
                        for k in (
                            "zombies",
                            "leftovers",
                            "survivors",
                            "escapes",
                            "findings_critical",
                            "findings_warning",
                            "findings_total",
                        )
                    ]
                )
            )
        out.append("")
        out.append(_md_row(["host", "unit", "zombies", "leftovers", "survivors", "escaped"]))
        out.append(_md_row(["---", "---", "---", "---", "---", "---"]))
        for hname, host in comparison["hosts"].items():
            st = host["status"]
            if st["before"] != st["after"]:
                out.append(
                    _md_row(
                        [
                            _md(hname),
                            "(status)",
                            _md("%s -> %s" % (st["before"] or "not audited", st["after"] or "not audited")),
                            "",
                            "",
                            "",
                        ]
                    )
                )
            for uname, counts in host["units"].items():
                if any(counts[k]["before"] or counts[k]["after"] for k in KINDS):
                    out.append(
                        _md_row(
                            [_md(hname), _md(uname)]
                            + ["%d → %d" % (counts[k]["before"], counts[k]["after"]) for k in KINDS]
                        )
                    )
        out.append("")
        out.extend("- " + _md(line) for line in _pid_lines(comparison))
        if not any(p["remaining"] for host in comparison["hosts"].values() for p in host["pids"].values()):
            out.append("")
            out.append("None of the PIDs listed before is still listed after.")
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- HTML

_CSS = """
:root{--bg:#fff;--fg:#1d2430;--muted:#5b6472;--line:#d8dde5;--card:#f5f7fa;--crit:#b3261e;--warn:#9a5b00;
--info:#245f9e;--ok:#1f7a3a;--z:#6b4fbb;--e:#d9730d}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e3e7ee;--muted:#9aa3b2;--line:#333a45;--card:#1d2128;
--crit:#ff8a80;--warn:#ffc061;--info:#8ab4f8;--ok:#7bd88f;--z:#b39ddb;--e:#ffab66}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:1.5rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
background:var(--bg);color:var(--fg)}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;border-bottom:1px solid var(--line)}
.meta{color:var(--muted);margin:0}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.5rem .8rem;min-width:7.5rem}
.card b{display:block;font-size:1.4rem}.card span{color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:.3rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .45rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
.sev{font-weight:600;text-transform:uppercase;font-size:.8rem}
.sev-critical{color:var(--crit)}.sev-warning{color:var(--warn)}.sev-info{color:var(--info)}
.st-ok{color:var(--ok)}.st-unreachable,.st-failed{color:var(--crit)}.st-no_systemd{color:var(--warn)}
.remedy{color:var(--muted);font-size:.9em}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.chart{flex:1 1 520px}
svg text{fill:var(--fg);font-size:11px}svg .axis{stroke:var(--line)}
.bz{fill:var(--z)}.be{fill:var(--e)}.legend{fill:var(--muted)}
input[type=search]{font:inherit;padding:.25rem .4rem;margin:.3rem 0;width:20rem;max-width:100%;
background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:4px}
details{margin:.3rem 0}summary{cursor:pointer}
footer{margin-top:2rem;color:var(--muted);font-size:.85em}
"""

_JS = """
(function () {
  'use strict';
  function value(row, idx) {
    var cell = row.cells[idx];
    if (!cell) { return ''; }
    var key = cell.getAttribute('data-sort');
    return key === null ? cell.textContent.trim() : key;
  }
  function sortTable(table, th, idx) {
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    var numeric = th.getAttribute('data-type') === 'num';
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute('aria-sort'); }
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, idx), y = value(b, idx), r;
      if (numeric) { r = (parseFloat(x) || 0) - (parseFloat(y) || 0); }
      else { r = x.localeCompare(y); }
      if (r === 0) { r = Number(a.getAttribute('data-i')) - Number(b.getAttribute('data-i')); return r; }
      return ascending ? r : -r;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (row) { frag.appendChild(row); });
    body.appendChild(frag);
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, idx) {
      var button = th.querySelector('button');
      if (button) { button.addEventListener('click', function () { sortTable(table, th, idx); }); }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('input[data-filter]'), function (input) {
    var table = document.getElementById(input.getAttribute('data-filter'));
    input.addEventListener('input', function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== '' && row.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  });
}());
"""


def _csp_hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _th(label, numeric=False, sortable=True, right=None):
    cls = ' class="n"' if (numeric if right is None else right) else ""
    dtype = ' data-type="num"' if numeric else ' data-type="text"'
    if sortable:
        return '<th scope="col"%s%s><button type="button">%s</button></th>' % (cls, dtype, _h(label))
    return '<th scope="col"%s>%s</th>' % (cls, _h(label))


def _td(value, numeric=False, sort=None, cls=None):
    classes = []
    if numeric:
        classes.append("n")
    if cls:
        classes.append(cls)
    attrs = ' class="%s"' % " ".join(classes) if classes else ""
    if sort is not None:
        attrs += ' data-sort="%s"' % _h(sort)
    return "<td%s>%s</td>" % (attrs, value)


def _sev_cell(severity):
    sev = severity if severity in SEVERITIES else "info"
    return _td('<span class="sev sev-%s">%s</span>' % (sev, _h(severity)), sort=str(_rank(severity)))


def _worst_table(lead_headers, rows):
    """A "worst" table: the leading columns, then worst severity, the four leak counts and the findings.

    rows: (leading cells, worst severity, (zombies, leftovers, survivors, escaped), findings by severity).
    """
    headers = tuple(lead_headers) + (
        ("worst", False),
        ("zombies", True),
        ("leftovers", True),
        ("survivors", True),
        ("escaped", True),
        ("findings", False),
    )
    out = ["<table><thead><tr>%s</tr></thead><tbody>" % "".join(_th(x, n, False) for x, n in headers)]
    for lead, worst, leaks, found in rows:
        cells = list(lead) + [_sev_cell(worst or "")] + [_td(v, True) for v in leaks] + [_td(_h(_sev_counts(found)))]
        out.append("<tr>%s</tr>" % "".join(cells))
    out.append("</tbody></table>")
    return "".join(out)


def _bar_chart(chart_id, title, rows, series):
    """Horizontal grouped bars. rows: [(label, [values...])]; series: [(name, css class)]."""
    label_w, bar_h, gap, width, pad = 190, 12, 10, 680, 44
    plot_w = width - label_w - pad
    group_h = bar_h * len(series) + gap
    height = 28 + max(1, len(rows)) * group_h + 6
    vmax = max([1] + [v for _label, values in rows for v in values])
    parts = [
        '<svg id="%s" role="img" aria-labelledby="%s-t" width="%d" height="%d" viewBox="0 0 %d %d" '
        'xmlns="http://www.w3.org/2000/svg">' % (chart_id, chart_id, width, height, width, height),
        '<title id="%s-t">%s</title>' % (chart_id, _h(title)),
    ]
    x = label_w
    for idx, (name, css) in enumerate(series):
        parts.append(
            '<rect class="%s" x="%d" y="6" width="10" height="10"/><text class="legend" x="%d" y="15">%s</text>'
            % (css, x + idx * 110, x + idx * 110 + 14, _h(name))
        )
    if not rows:
        parts.append('<text x="%d" y="44">nothing to show</text>' % label_w)
    y = 28
    for label, values in rows:
        text = _clean(label)
        short = text if len(text) <= 30 else text[:29] + "\u2026"
        parts.append(
            '<g><title>%s: %s</title>'
            % (_h(text), _h(", ".join("%s %d" % (name, v) for (name, _css), v in zip(series, values))))
        )
        parts.append(
            '<text x="%d" y="%d" text-anchor="end">%s</text>'
            % (label_w - 6, y + bar_h * len(series) / 2 + 4, html.escape(short, quote=True))
        )
        for idx, ((_name, css), value) in enumerate(zip(series, values)):
            w = int(round(plot_w * value / vmax)) if value else 0
            by = y + idx * bar_h
            parts.append(
                '<rect class="bar %s" x="%d" y="%d" width="%d" height="%d" data-v="%d"/>'
                % (css, label_w, by, max(w, 1 if value else 0), bar_h - 2, value)
            )
            parts.append('<text x="%d" y="%d">%d</text>' % (label_w + w + 4, by + bar_h - 3, value))
        parts.append("</g>")
        y += group_h
    parts.append('<line class="axis" x1="%d" y1="24" x2="%d" y2="%d"/>' % (label_w, label_w, height - 4))
    parts.append("</svg>")
    return "".join(parts)


def reaper_report_html(report, max_findings=5000, chart_top=20):
    """One self-contained HTML page (no external assets, strict CSP)."""
    report = _dict(report)
    if "hosts" not in report:
        raise AnsibleFilterError("reaper_report_html expects the dict built by reaper.systemd.reaper_report")
    max_findings = _int(max_findings, 5000)
    chart_top = max(1, _int(chart_top, 20))
    t = report["totals"]
    label = report.get("label") or ""
    title = (
        "reaper.systemd audit"
        + (" (%s)" % _clean(label) if label else "")
        + " \u2014 "
        + _clean(report.get("generated_at"))
    )
    csp = "default-src 'none'; style-src %s; script-src %s; img-src data:; base-uri 'none'; form-action 'none'" % (
        _csp_hash(_CSS),
        _csp_hash(_JS),
    )
    b = [
        '<!DOCTYPE html>',
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % _h(csp),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="reaper.systemd %s">' % _h(report.get("schema_version")),
        "<title>%s</title>" % html.escape(title, quote=True),
        "<style>%s</style>" % _CSS,
        "</head>",
        "<body>",
    ]
    b.append(
        '<header><h1>%s</h1><p class="meta">Generated %s &middot; schema %s &middot; %d host(s): %s</p></header>'
        % (
            _h("reaper.systemd audit" + (" (%s)" % label if label else "")),
            _h(report.get("generated_at")),
            _h(report.get("schema_version")),
            t["hosts"],
            _h(_status_line(t) or "none"),
        )
    )

    # fleet totals
    cards = [
        ("hosts", t["hosts"]),
        ("ok", t["status"]["ok"]),
        ("no systemd", t["status"]["no_systemd"]),
        ("unreachable", t["status"]["unreachable"]),
        ("failed", t["status"]["failed"]),
        ("zombies", t["zombies"]),
        ("leftovers", t["leftovers"]),
        ("survivors", t["survivors"]),
        ("escaped", t["escapes"]),
        ("critical", t["findings"]["critical"]),
        ("warning", t["findings"]["warning"]),
        ("info", t["findings"]["info"]),
    ]
    b.append('<section id="totals"><h2>Fleet totals</h2><div class="cards">')
    for name, value in cards:
        b.append('<div class="card"><b>%d</b><span>%s</span></div>' % (_int(value), _h(name)))
    b.append("</div></section>")

    # hosts the audit could not fully cover
    notok = [(n, h) for n, h in report["hosts"].items() if h["status"] != "ok"]
    if notok:
        b.append(
            '<section id="not-audited"><h2>Hosts not fully audited</h2><table><thead><tr>%s%s</tr></thead><tbody>'
            % (_th("host", sortable=False), _th("status / reason", sortable=False))
        )
        for name, host in notok:
            b.append(
                "<tr><td>%s</td><td><span class=\"st-%s\">%s</span> %s</td></tr>"
                % (_h(name), _h(host["status"]), _h(host["status"]), _h(host.get("message")))
            )
        b.append("</tbody></table></section>")

    # worst hosts and units
    b.append('<section id="worst"><h2>Worst hosts and units</h2>')
    if report["worst"]["hosts"]:
        rows = []
        for name in report["worst"]["hosts"]:
            ht = report["hosts"][name]["totals"]
            leaks = (ht["zombies"], ht["leftovers"], ht["survivors"], ht["escapes"])
            rows.append(([_td(_h(name))], ht["worst_severity"], leaks, ht["findings"]))
        b.append(_worst_table((("host", False),), rows))
    else:
        b.append("<p>No host has findings.</p>")
    if report["worst"]["units"]:
        rows = []
        for name in report["worst"]["units"]:
            unit = report["units"][name]
            c = unit["counts"]
            leaks = (c["zombies"], c["leftovers"], c["survivors"], c["escaped"])
            lead = [_td("<code>%s</code>" % _h(name)), _td(len(unit["hosts"]), True)]
            rows.append((lead, unit["worst_severity"], leaks, unit["findings"]))
        b.append(_worst_table((("unit", False), ("hosts", True)), rows))
    b.append("</section>")

    # charts
    host_rows = sorted(
        ((n, [h["totals"]["zombies"], h["totals"]["escapes"]]) for n, h in report["hosts"].items()),
        key=lambda r: (-(r[1][0] + r[1][1]), r[0]),
    )
    host_rows = [r for r in host_rows if r[1][0] or r[1][1]][:chart_top]
    unit_rows = sorted(
        ((n, [u["counts"]["zombies"], u["counts"]["escaped"]]) for n, u in report["units"].items()),
        key=lambda r: (-(r[1][0] + r[1][1]), r[0]),
    )
    unit_rows = [r for r in unit_rows if r[1][0] or r[1][1]][:chart_top]
    series = [("zombies", "bz"), ("escapes", "be")]
    b.append('<section id="charts"><h2>Zombies and escapes</h2><div class="charts">')
    b.append(
        '<div class="chart"><h3>Per host (top %d)</h3>%s</div>'
        % (chart_top, _bar_chart("chart-hosts", "Zombies and escapes per host", host_rows, series))
    )
    b.append(
        '<div class="chart"><h3>Per unit, all hosts (top %d)</h3>%s</div>'
        % (chart_top, _bar_chart("chart-units", "Zombies and escapes per unit", unit_rows, series))
    )
    b.append("</div></section>")

    # findings
    rows = _all_findings(report)
    b.append('<section id="findings-section"><h2>Findings (%d)</h2>' % len(rows))
    b.append('<input type="search" placeholder="Filter findings" aria-label="Filter findings" data-filter="findings">')
    b.append(
        '<table id="findings" class="sortable"><thead><tr>%s</tr></thead><tbody>'
        % "".join(
            _th(x, n, right=False)
            for x, n in (("severity", True), ("host", False), ("unit", False), ("code", False), ("summary", False))
        )
    )
    for idx, (hname, item) in enumerate(rows[:max_findings]):
        b.append(
            '<tr data-i="%d">%s%s%s%s%s</tr>'
            % (
                idx,
                _sev_cell(item.get("severity")),
                _td(_h(hname)),
                _td("<code>%s</code>" % _h(item.get("unit") or "(host)"), sort=_clean(item.get("unit") or "")),
                _td(_h(item.get("code"))),
                _td(
                    '%s<div class="remedy">%s</div>' % (_h(item.get("summary")), _h(item.get("remedy"))),
                    sort=_clean(item.get("summary")),
                ),
            )
        )
    b.append("</tbody></table>")
    if len(rows) > max_findings:
        b.append("<p>%d more finding(s) in report.json.</p>" % (len(rows) - max_findings))
    elif not rows:
        b.append("<p>No findings.</p>")
    b.append("</section>")

    # before / after
    comparison = report.get("comparison")
    if comparison:
        ct = comparison["totals"]
        b.append(
            '<section id="comparison"><h2>Before and after</h2><p class="meta">before %s &middot; after %s</p>'
            % (_h(comparison["before"].get("generated_at")), _h(comparison["after"].get("generated_at")))
        )
        keys = (
            ("zombies", "zombies"),
            ("leftovers", "leftovers"),
            ("survivors", "survivors"),
            ("escapes", "escaped"),
            ("findings_critical", "critical"),
            ("findings_warning", "warning"),
            ("findings_total", "findings"),
        )
        b.append(
            "<table><thead><tr>%s%s</tr></thead><tbody>"
            % (_th("", sortable=False), "".join(_th(lab, True, False) for _k, lab in keys))
        )
        for when in ("before", "after"):
            b.append("<tr>%s%s</tr>" % (_td(when), "".join(_td(ct[k][when], True) for k, _lab in keys)))
        b.append("</tbody></table>")
        b.append(
            '<table id="comparison-units" class="sortable"><thead><tr>%s</tr></thead><tbody>'
            % "".join(
                _th(x, n)
                for x, n in (
                    ("host", False),
                    ("unit", False),
                    ("zombies", True),
                    ("leftovers", True),
                    ("survivors", True),
                    ("escaped", True),
                )
            )
        )
        idx = 0
        for hname, host in comparison["hosts"].items():
            for uname, counts in host["units"].items():
                if not any(counts[k]["before"] or counts[k]["after"] for k in KINDS):
                    continue
                b.append(
                    '<tr data-i="%d">%s%s%s</tr>'
                    % (
                        idx,
                        _td(_h(hname)),
                        _td("<code>%s</code>" % _h(uname)),
                        "".join(
                            _td(
                                "%d &rarr; %d" % (counts[k]["before"], counts[k]["after"]),
                                True,
                                sort=str(counts[k]["after"]),
                            )
                            for k in KINDS
                        ),
                    )
                )
                idx += 1
        b.append("</tbody></table>")
        lines = _pid_lines(comparison)
        if lines:
            b.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _h(line) for line in lines))
        if not any(p["remaining"] for host in comparison["hosts"].values() for p in host["pids"].values()):
            b.append("<p>None of the PIDs listed before is still listed after.</p>")
        b.append("</section>")

    # every host
    b.append('<section id="hosts"><h2>Hosts (%d)</h2>' % t["hosts"])
    b.append(
        '<table id="hosts-table" class="sortable"><thead><tr>%s</tr></thead><tbody>'
        % "".join(
            _th(x, n)
            for x, n in (
                ("host", False),
                ("status", False),
                ("systemd", False),
                ("processes", True),
                ("zombies", True),
                ("leftovers", True),
                ("survivors", True),
                ("escaped", True),
                ("critical", True),
                ("warning", True),
                ("pid usage", True),
            )
        )
    )
    for idx, (name, host) in enumerate(sorted(report["hosts"].items(), key=_host_sort_key)):
        ht = host["totals"]
        b.append(
            '<tr data-i="%d">%s%s%s%s%s%s%s%s%s%s%s</tr>'
            % (
                idx,
                _td(_h(name)),
                _td('<span class="st-%s">%s</span>' % (_h(host["status"]), _h(host["status"]))),
                _td(_h(host.get("systemd_version") or "-")),
                _td(
                    _h(host.get("processes") if host.get("processes") is not None else "-"),
                    True,
                    sort=str(_int(host.get("processes"))),
                ),
                _td(ht["zombies"], True),
                _td(ht["leftovers"], True),
                _td(ht["survivors"], True),
                _td(ht["escapes"], True),
                _td(ht["findings"]["critical"], True),
                _td(ht["findings"]["warning"], True),
                _td(_h(_pct(host.get("pid_usage"))), True, sort=str(host.get("pid_usage") or 0)),
            )
        )
    b.append("</tbody></table>")
    for name, host in sorted(report["hosts"].items(), key=_host_sort_key):
        if not host["units"] and not host["zombies_outside_units"] and not host["unattributed_escapes"]:
            continue
        b.append("<details><summary>%s: %d unit(s) with leaks or findings</summary>" % (_h(name), len(host["units"])))
        if host["units"]:
            b.append(
                "<table><thead><tr>%s</tr></thead><tbody>"
                % "".join(
                    _th(x, n, False)
                    for x, n in (
                        ("unit", False),
                        ("state", False),
                        ("KillMode", False),
                        ("zombies", True),
                        ("leftovers", True),
                        ("survivors", True),
                        ("escaped", True),
                        ("findings", False),
                    )
                )
            )
            for uname, unit in _sorted_units(host):
                c = unit["counts"]
                b.append(
                    "<tr>%s%s%s%s%s%s%s%s</tr>"
                    % (
                        _td("<code>%s</code>" % _h(uname)),
                        _td(_h("%s/%s" % (unit.get("active_state") or "?", unit.get("sub_state") or "?"))),
                        _td(_h(unit.get("kill_mode") or "-")),
                        _td(c["zombies"], True),
                        _td(c["leftovers"], True),
                        _td(c["survivors"], True),
                        _td(c["escaped"], True),
                        _td(_h(_sev_counts(unit["findings"]))),
                    )
                )
            b.append("</tbody></table>")
        if host["zombies_outside_units"]:
            b.append(
                "<p>Zombies outside units: %s</p>"
                % _h("; ".join(_zombie_text(i) for i in host["zombies_outside_units"][:20]))
            )
        if host["unattributed_escapes"]:
            b.append(
                "<p>Unattributed escapes: %s</p>"
                % _h(
                    "; ".join(
                        "pid %s %s in %s" % (i.get("pid"), _clean(i.get("comm")), _clean(i.get("now_in")))
                        for i in host["unattributed_escapes"][:20]
                    )
                )
            )
        b.append("</details>")
    b.append("</section>")
    b.append(
        '<footer>reaper.systemd report, schema %s. The full data is in report.json.</footer>'
        % _h(report.get("schema_version"))
    )
    b.append("<script>%s</script>" % _JS)
    b.append("</body></html>")
    return "\n".join(b) + "\n"


def reaper_report_path(path="reaper-report"):
    """Absolute path of the report directory: a relative one is taken from the directory
    ansible-playbook runs in (not from the playbook's, which may be the installed collection)."""
    if not isinstance(path, str) or not path.strip():
        raise AnsibleFilterError("reaper_report_dir must be a non-empty path, got %r" % (path,))
    path = os.path.expanduser(path.strip())
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    return os.path.normpath(path)


class FilterModule(object):
    """reaper.systemd report filters."""

    def filters(self):
        return {
            "reaper_host_result": reaper_host_result,
            "reaper_report": reaper_report,
            "reaper_report_compare": reaper_report_compare,
            "reaper_report_reaches": reaper_report_reaches,
            "reaper_report_text": reaper_report_text,
            "reaper_report_markdown": reaper_report_markdown,
            "reaper_report_html": reaper_report_html,
            "reaper_report_path": reaper_report_path,
        }
