# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report model: classify each host's scan, keep what the report needs, add up the fleet.

``host_result`` turns a registered ``process_facts`` result into ``{status, message, facts}`` with
the facts trimmed to what the report shows (the audit keeps that per host, not the full scan).
``build_report`` makes the versioned dict of ``report.json`` (schema: report.schema.json beside
this file, described in docs/report-schema.md); ``fleet_summary`` adds up host entries, so a merge
of partial reports counts exactly as one audit of all their hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import (
    FAIL_ON,
    GENERATOR,
    KINDS,
    SCHEMA_VERSION,
    SEVERITIES,
    STATUSES,
    as_dict,
    as_int,
    as_list,
    dict_items,
    empty_severities,
    host_sort_key,
    issue_score,
    rank,
)

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
    "systemd_query",
)
# host facts the report reads besides HOST_KEEP
HOST_LISTS = ("zombies_outside_units", "unattributed_escapes", "containers")
SUM_KEYS = KINDS + (
    "unattributed_escapes",
    "zombies_in_units",
    "zombies_outside_units",
    "escapes",
    "units_with_findings",
    "containers",
)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- per-host result


def _unit_counts(unit):
    return dict((kind, as_int(as_dict(unit.get("counts")).get(kind))) for kind in KINDS)


def trim_facts(facts, all_units=False):
    """The part of ``ansible_facts.reaper`` that the report reads.

    Units without leaked processes and without findings are dropped (unless ``all_units``), and of
    each unit and of the host only the keys the report shows are kept.
    """
    host = as_dict(facts.get("host"))
    findings = dict_items(facts.get("findings"))
    flagged = set(f.get("unit") for f in findings if f.get("unit"))
    units = {}
    for name, unit in as_dict(facts.get("units")).items():
        unit = as_dict(unit)
        counts = _unit_counts(unit)
        if not (all_units or any(counts.values()) or name in flagged):
            continue
        item = dict((key, unit.get(key)) for key in UNIT_KEEP)
        item["counts"] = counts
        for kind in KINDS:
            item[kind] = dict_items(unit.get(kind))
        units[name] = item
    kept_host = dict((key, host.get(key)) for key in HOST_KEEP if key in host)
    if "zombies" in host:
        kept_host["zombies"] = host.get("zombies")
    for key in HOST_LISTS:
        kept_host[key] = dict_items(host.get(key))
    return {
        "host": kept_host,
        "units": units,
        "findings": findings,
        "unmatched": [str(p) for p in as_list(facts.get("unmatched"))],
    }


def host_result(result, all_units=False):
    """Classify one host's registered ``process_facts`` result: ``{status, message, facts}``.

    status is ``ok``, ``no_systemd``, ``unreachable`` or ``failed``; ``facts`` holds what the report
    needs of the scan (``trim_facts``).
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
    facts = as_dict(as_dict(result.get("ansible_facts")).get("reaper"))
    if not facts:
        return {"status": "failed", "message": "the scan returned no reaper facts", "facts": {}}
    facts = trim_facts(facts, all_units)
    if not facts["host"].get("systemd"):
        return {"status": "no_systemd", "message": "systemd is not PID 1: host facts and zombies only", "facts": facts}
    return {"status": "ok", "message": message, "facts": facts}


# --------------------------------------------------------------------------- host entry


def empty_totals():
    totals = dict((key, 0) for key in SUM_KEYS)
    totals["findings"] = empty_severities()
    totals["worst_severity"] = None
    return totals


def count_findings(findings, totals):
    worst = totals.get("worst_severity")
    for item in findings:
        severity = item.get("severity")
        if severity in SEVERITIES:
            totals["findings"][severity] += 1
            if rank(severity) > rank(worst):
                worst = severity
        totals["findings"]["total"] += 1
    totals["worst_severity"] = worst


def _unit_entry(name, unit, findings):
    item = dict((key, unit.get(key)) for key in UNIT_KEEP)
    item["counts"] = _unit_counts(unit)
    for kind in KINDS:
        item[kind] = dict_items(unit.get(kind))
    sev = {"findings": empty_severities(), "worst_severity": None}
    count_findings([f for f in findings if f.get("unit") == name], sev)
    item["findings"] = sev["findings"]
    item["worst_severity"] = sev["worst_severity"]
    return item


def _containers(host):
    """Container hand-offs: [{cgroup, processes, pid_namespace}] (older facts have none)."""
    out = []
    for item in dict_items(host.get("containers")):
        ns = item.get("pid_namespace")
        out.append(
            {
                "cgroup": str(item.get("cgroup") or ""),
                "processes": as_int(item.get("processes")),
                "pid_namespace": None if ns is None else str(ns),
            }
        )
    return out


def host_entry(entry, all_units=False):
    """One host of the report from a ``host_result`` entry."""
    status = entry.get("status") if entry.get("status") in STATUSES else "failed"
    facts = as_dict(entry.get("facts"))
    host = as_dict(facts.get("host"))
    units = as_dict(facts.get("units"))
    findings = dict_items(facts.get("findings"))
    out = {"status": status, "message": entry.get("message") or ""}
    for key in HOST_KEEP:
        out[key] = host.get(key)
    totals = empty_totals()
    flagged = set(f.get("unit") for f in findings if f.get("unit"))
    out_units = {}
    for name in sorted(units):
        unit = as_dict(units[name])
        counts = _unit_counts(unit)
        for kind in KINDS:
            totals[kind] += counts[kind]
        if all_units or any(counts.values()) or name in flagged:
            out_units[name] = _unit_entry(name, unit, findings)
    # a finding may name a unit the facts do not list (the module caps nothing there, but be safe)
    for name in sorted(flagged - set(out_units)):
        sev = {"findings": empty_severities(), "worst_severity": None}
        count_findings([f for f in findings if f.get("unit") == name], sev)
        out_units[name] = {
            "counts": dict((k, 0) for k in KINDS),
            "findings": sev["findings"],
            "worst_severity": sev["worst_severity"],
        }
    zoo = dict_items(host.get("zombies_outside_units"))
    unattributed = dict_items(host.get("unattributed_escapes"))
    containers = _containers(host)
    totals["zombies_in_units"] = totals["zombies"]
    # the host's own count is exact; the unit counts plus the (capped) list are the fallback
    totals["zombies"] = as_int(host.get("zombies"), totals["zombies"] + len(zoo)) if host else 0
    # the list of zombies outside units is capped at max_items: count them from the exact numbers
    totals["zombies_outside_units"] = max(len(zoo), totals["zombies"] - totals["zombies_in_units"])
    totals["unattributed_escapes"] = len(unattributed)
    totals["escapes"] = totals["escaped"] + len(unattributed)
    totals["units_with_findings"] = len(flagged)
    totals["containers"] = sum(c["processes"] for c in containers)
    count_findings(findings, totals)
    out["totals"] = totals
    out["findings"] = findings
    out["units"] = out_units
    out["zombies_outside_units"] = zoo
    out["unattributed_escapes"] = unattributed
    out["containers"] = containers
    out["unmatched"] = [str(p) for p in as_list(facts.get("unmatched"))]
    return out


# --------------------------------------------------------------------------- fleet


def fleet_summary(hosts, top=10):
    """Fleet totals, the per-unit aggregate and the worst lists of a dict of host entries."""
    totals = empty_totals()
    totals["hosts"] = len(hosts)
    totals["status"] = dict((s, 0) for s in STATUSES)
    totals["hosts_with_findings"] = 0
    units = {}
    for name in sorted(hosts):
        host = hosts[name]
        totals["status"][host["status"]] += 1
        t = host["totals"]
        for key in SUM_KEYS:
            totals[key] += as_int(t.get(key))
        for sev in ("critical", "warning", "info", "total"):
            totals["findings"][sev] += t["findings"][sev]
        if rank(t["worst_severity"]) > rank(totals["worst_severity"]):
            totals["worst_severity"] = t["worst_severity"]
        if t["findings"]["total"]:
            totals["hosts_with_findings"] += 1
        for uname, unit in host["units"].items():
            agg = units.get(uname)
            if agg is None:
                agg = units[uname] = {
                    "hosts": [],
                    "counts": dict((k, 0) for k in KINDS),
                    "findings": empty_severities(),
                    "worst_severity": None,
                }
            agg["hosts"].append(name)
            for kind in KINDS:
                agg["counts"][kind] += unit["counts"][kind]
            for sev in ("critical", "warning", "info", "total"):
                agg["findings"][sev] += unit["findings"][sev]
            if rank(unit["worst_severity"]) > rank(agg["worst_severity"]):
                agg["worst_severity"] = unit["worst_severity"]

    worst_hosts = [
        name
        for name, host in sorted(hosts.items(), key=host_sort_key)
        if host["totals"]["findings"]["total"] or host["totals"]["zombies"] or host["totals"]["escapes"]
    ][:top]
    worst_units = [
        name
        for name, unit in sorted(
            units.items(),
            key=lambda kv: (
                -rank(kv[1]["worst_severity"]),
                -kv[1]["findings"]["critical"],
                -kv[1]["findings"]["warning"],
                -issue_score(kv[1]["counts"]),
                -len(kv[1]["hosts"]),
                kv[0],
            ),
        )
        if unit["findings"]["total"] or issue_score(unit["counts"])
    ][:top]
    return totals, dict(sorted(units.items())), {"hosts": worst_hosts, "units": worst_units}


def assemble(hosts, generated_at, label, top=10, slices=None):
    totals, units, worst = fleet_summary(hosts, top)
    report = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": str(generated_at),
        "generator": GENERATOR,
        "label": str(label or ""),
        "totals": totals,
        "worst": worst,
        "units": units,
        "hosts": hosts,
    }
    if slices:
        report["slices"] = slices
    return report


def build_report(results, generated_at=None, label="", all_units=False, top=10, slice_id=None):
    """The report dict from ``{inventory_hostname: host result}``.

    A host result is what ``host_result`` returns, or a registered ``process_facts`` result, which
    is classified first. ``slice_id`` marks the report as the partial report of one slice of a
    sliced audit (docs/fleet.md): every host and the report's ``slices`` name it.
    """
    if not isinstance(results, Mapping):
        raise AnsibleFilterError(
            "reaper_report expects a dict of inventory_hostname: scan result, got %s" % type(results).__name__
        )
    if generated_at is None:
        generated_at = now_utc()
    top = max(1, as_int(top, 10))
    slice_id = str(slice_id).strip() if slice_id not in (None, "") else ""
    hosts = {}
    for name in sorted(results, key=str):
        entry = results[name]
        if not (isinstance(entry, Mapping) and "status" in entry and "facts" in entry):
            entry = host_result(entry, all_units)
        hosts[str(name)] = host_entry(entry, bool(all_units))
        if slice_id:
            hosts[str(name)]["slice"] = slice_id
    slices = None
    if slice_id:
        slices = [{"id": slice_id, "generated_at": str(generated_at), "hosts": len(hosts)}]
    return assemble(hosts, generated_at, label, top, slices)


def reaches(report, level="none"):
    """True when the report has a finding at ``level`` or above (``none`` never)."""
    if level not in FAIL_ON:
        raise AnsibleFilterError("reaper_fail_on must be one of %s, got %r" % (", ".join(FAIL_ON), level))
    if level == "none":
        return False
    findings = as_dict(as_dict(as_dict(report).get("totals")).get("findings"))
    return any(as_int(findings.get(sev)) for sev in SEVERITIES if rank(sev) >= rank(level))


def summary(report, report_dir=None, top=5):
    """The few numbers a workflow or a notification needs (``set_stats`` data): small at any fleet size."""
    report = as_dict(report)
    t = as_dict(report.get("totals"))
    hosts = as_dict(report.get("hosts"))
    not_ok = sorted(name for name, host in hosts.items() if as_dict(host).get("status") in ("unreachable", "failed"))
    out = {
        "schema_version": report.get("schema_version"),
        "generated_at": report.get("generated_at"),
        "label": report.get("label") or "",
        "hosts": as_int(t.get("hosts")),
        "status": dict(as_dict(t.get("status"))),
        "hosts_with_findings": as_int(t.get("hosts_with_findings")),
        "findings": dict(as_dict(t.get("findings"))),
        "worst_severity": t.get("worst_severity"),
        "zombies": as_int(t.get("zombies")),
        "leftovers": as_int(t.get("leftovers")),
        "survivors": as_int(t.get("survivors")),
        "escapes": as_int(t.get("escapes")),
        "worst_hosts": as_list(as_dict(report.get("worst")).get("hosts"))[:top],
        "worst_units": as_list(as_dict(report.get("worst")).get("units"))[:top],
        "hosts_not_audited": not_ok[:20],
        "slices": [s.get("id") for s in dict_items(report.get("slices"))],
    }
    if report_dir:
        out["report_dir"] = str(report_dir)
    return out
