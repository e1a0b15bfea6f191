# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge the partial reports of a sliced audit (AWX job slicing) into one report.

Each partial report names its slice (``slices``, and ``slice`` on every host). The merge keeps, for
a host present in more than one input, the result of the newest slice (by the slice's
``generated_at``; the slice id breaks a tie), lists every host once, and adds the fleet up again
from the kept host entries, so the totals are those of one audit of every host. Merging is
idempotent: merging a merged report with any of its inputs, or with itself, changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import (
    as_dict,
    as_int,
    dict_items,
)
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_model import assemble


def _check(report, idx):
    if not isinstance(report, Mapping) or not isinstance(report.get("hosts"), Mapping):
        raise AnsibleFilterError(
            "reaper_report_merge: input %d is not a report built by reaper.systemd.reaper_report (no hosts)" % idx
        )
    version = str(report.get("schema_version") or "")
    if version.split(".", 1)[0] != "1":
        raise AnsibleFilterError(
            "reaper_report_merge: input %d has schema_version %r; this collection reads 1.x" % (idx, version)
        )


def _own_slice_id(report):
    """The slice id of a report that was not written as a slice: its label and time."""
    return "%s@%s" % (report.get("label") or "audit", report.get("generated_at") or "")


def _upgrade(host):
    """A host entry of an older 1.x report gets the keys that 1.1 and 1.2 added."""
    host.setdefault("containers", [])
    host.setdefault("systemd_query", None)
    totals = host.get("totals")
    if isinstance(totals, dict):
        totals.setdefault("containers", sum(as_int(c.get("processes")) for c in dict_items(host["containers"])))
    return host


def merge(reports, label=None, top=10):
    """One report from a list of (partial or merged) reports; see the module docstring."""
    if isinstance(reports, Mapping) or not isinstance(reports, (list, tuple)):
        raise AnsibleFilterError("reaper_report_merge expects a list of reports, got %s" % type(reports).__name__)
    if not reports:
        raise AnsibleFilterError("reaper_report_merge: the list of reports is empty")
    slices = {}
    chosen = {}
    for idx, report in enumerate(reports):
        _check(report, idx)
        records = dict_items(report.get("slices"))
        if not records:
            records = [
                {
                    "id": _own_slice_id(report),
                    "generated_at": str(report.get("generated_at") or ""),
                    "hosts": len(report["hosts"]),
                }
            ]
        times = {}
        for record in records:
            sid = str(record.get("id") or "")
            record = {
                "id": sid,
                "generated_at": str(record.get("generated_at") or report.get("generated_at") or ""),
                "hosts": as_int(record.get("hosts")),
            }
            times[sid] = record["generated_at"]
            known = slices.get(sid)
            if known is None or (record["generated_at"], record["hosts"]) > (known["generated_at"], known["hosts"]):
                slices[sid] = record
        default_sid = records[0]["id"] if len(records) == 1 else _own_slice_id(report)
        for name, host in report["hosts"].items():
            host = as_dict(host)
            sid = str(host.get("slice") or default_sid)
            key = (times.get(sid, str(report.get("generated_at") or "")), sid)
            if name not in chosen or key > chosen[name][0]:
                chosen[name] = (key, host)
    hosts = {}
    for name in sorted(chosen, key=str):
        (_time, sid), host = chosen[name]
        entry = _upgrade(copy.deepcopy(dict(host)))
        entry["slice"] = sid
        hosts[str(name)] = entry
    labels = set(str(r.get("label") or "") for r in reports)
    if label is None:
        label = labels.pop() if len(labels) == 1 else ""
    records = [slices[sid] for sid in sorted(slices)]
    generated_at = max(r["generated_at"] for r in records)
    return assemble(hosts, generated_at, label, max(1, as_int(top, 10)), records)
