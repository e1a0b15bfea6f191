# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before and after: compare two reports of the same fleet (a remediation's two audits)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import KINDS, as_dict, as_int, as_list

COMPARE_KEYS = KINDS + ("escapes", "unattributed_escapes")


def pid_sets(host):
    sets = dict((kind, set()) for kind in KINDS + ("zombies_outside_units", "unattributed_escapes"))
    for unit in as_dict(host.get("units")).values():
        for kind in KINDS:
            for item in as_list(as_dict(unit).get(kind)):
                pid = as_int(as_dict(item).get("pid"), None)
                if pid is not None:
                    sets[kind].add(pid)
    for kind in ("zombies_outside_units", "unattributed_escapes"):
        for item in as_list(host.get(kind)):
            pid = as_int(as_dict(item).get("pid"), None)
            if pid is not None:
                sets[kind].add(pid)
    return sets


def finding_keys(host):
    return set(
        (str(f.get("unit") or ""), str(f.get("code"))) for f in as_list(host.get("findings")) if isinstance(f, Mapping)
    )


def compare(before, after):
    """Compare two reports (before and after a remediation).

    For each host: status and totals before and after, the findings that were
    resolved or are new (by unit and code), and per kind the PIDs listed before
    that are gone, still there or new.
    """
    before = as_dict(before)
    after = as_dict(after)
    bhosts = as_dict(before.get("hosts"))
    ahosts = as_dict(after.get("hosts"))
    hosts = {}
    for name in sorted(set(bhosts) | set(ahosts)):
        b = as_dict(bhosts.get(name))
        a = as_dict(ahosts.get(name))
        bt = as_dict(b.get("totals"))
        at = as_dict(a.get("totals"))
        entry = {
            "status": {"before": b.get("status"), "after": a.get("status")},
            "totals": dict((k, {"before": as_int(bt.get(k)), "after": as_int(at.get(k))}) for k in COMPARE_KEYS),
            "findings": {
                "before": as_int(as_dict(bt.get("findings")).get("total")),
                "after": as_int(as_dict(at.get("findings")).get("total")),
            },
        }
        bkeys = finding_keys(b)
        akeys = finding_keys(a)
        entry["findings_resolved"] = [{"unit": u or None, "code": c} for u, c in sorted(bkeys - akeys)]
        entry["findings_remaining"] = [{"unit": u or None, "code": c} for u, c in sorted(bkeys & akeys)]
        entry["findings_new"] = [{"unit": u or None, "code": c} for u, c in sorted(akeys - bkeys)]
        comparable = b.get("status") in ("ok", "no_systemd") and a.get("status") in ("ok", "no_systemd")
        entry["comparable"] = comparable
        bsets = pid_sets(b)
        asets = pid_sets(a)
        pids = {}
        for kind in bsets:
            pids[kind] = {
                "gone": sorted(bsets[kind] - asets[kind]) if comparable else [],
                "remaining": sorted(bsets[kind] & asets[kind]) if comparable else [],
                "new": sorted(asets[kind] - bsets[kind]) if comparable else [],
            }
        entry["pids"] = pids
        units = {}
        bunits = as_dict(b.get("units"))
        aunits = as_dict(a.get("units"))
        for uname in sorted(set(bunits) | set(aunits)):
            bc = as_dict(as_dict(bunits.get(uname)).get("counts"))
            ac = as_dict(as_dict(aunits.get(uname)).get("counts"))
            units[uname] = dict((k, {"before": as_int(bc.get(k)), "after": as_int(ac.get(k))}) for k in KINDS)
        entry["units"] = units
        hosts[name] = entry
    btot = as_dict(before.get("totals"))
    atot = as_dict(after.get("totals"))
    totals = dict((k, {"before": as_int(btot.get(k)), "after": as_int(atot.get(k))}) for k in COMPARE_KEYS)
    for sev in ("critical", "warning", "info", "total"):
        totals["findings_" + sev] = {
            "before": as_int(as_dict(btot.get("findings")).get(sev)),
            "after": as_int(as_dict(atot.get("findings")).get(sev)),
        }
    return {
        "before": {"generated_at": before.get("generated_at"), "label": before.get("label")},
        "after": {"generated_at": after.get("generated_at"), "label": after.get("label")},
        "totals": totals,
        "hosts": hosts,
    }
