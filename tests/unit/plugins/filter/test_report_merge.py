# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the partial reports of a sliced audit (AWX job slicing) into one report."""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.reaper.systemd.plugins.filter import report as rp
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import SCHEMA_VERSION

from test_report import finding, host, scan, unit, zombie

T1 = "2026-11-27T10:00:00Z"
T2 = "2026-11-27T10:05:00Z"
T3 = "2026-11-27T11:00:00Z"


def sick(n):
    return scan(
        host(
            units={"zf.service": unit({"zombies": n}, zombies=[zombie(1000 + k) for k in range(n)])},
            findings=[finding("zombies", "critical" if n > 5 else "warning", "zf.service")],
            zombies=n,
        )
    )


@pytest.fixture
def fleet():
    results = dict(("web%d" % i, sick(i)) for i in range(1, 7))
    results["clean"] = scan(host(units={"ok.service": unit()}))
    results["down"] = {"unreachable": True, "msg": "Connection refused"}
    return results


def split(results, *groups):
    return [
        rp.reaper_report(dict((h, results[h]) for h in names), generated_at=when, slice_id=sid)
        for sid, when, names in groups
    ]


def without_slices(report):
    report = copy.deepcopy(report)
    report.pop("slices", None)
    report.pop("generated_at")
    for entry in report["hosts"].values():
        entry.pop("slice", None)
    return report


def test_merged_slices_count_as_one_audit_of_every_host(fleet):
    whole = rp.reaper_report(fleet, generated_at=T2)
    parts = split(
        fleet,
        ("1", T1, ["web1", "web2", "web3"]),
        ("2", T2, ["web4", "web5", "web6"]),
        ("3", T1, ["clean", "down"]),
    )
    merged = rp.reaper_report_merge(parts)
    assert without_slices(merged) == without_slices(whole)
    assert merged["totals"]["hosts"] == 8 and merged["totals"]["zombies"] == 21
    assert merged["totals"]["status"] == {"ok": 7, "no_systemd": 0, "unreachable": 1, "failed": 0}
    assert merged["units"]["zf.service"]["hosts"] == ["web1", "web2", "web3", "web4", "web5", "web6"]
    assert merged["worst"]["hosts"][0] == "web6"
    assert merged["slices"] == [
        {"id": "1", "generated_at": T1, "hosts": 3},
        {"id": "2", "generated_at": T2, "hosts": 3},
        {"id": "3", "generated_at": T1, "hosts": 2},
    ]
    assert merged["generated_at"] == T2
    assert merged["hosts"]["web5"]["slice"] == "2" and merged["hosts"]["down"]["slice"] == "3"


def test_merge_is_idempotent(fleet):
    parts = split(fleet, ("a", T1, ["web1", "web2", "down"]), ("b", T2, ["web3", "clean"]))
    merged = rp.reaper_report_merge(parts)
    assert rp.reaper_report_merge([merged]) == merged
    assert rp.reaper_report_merge([merged, merged]) == merged
    assert rp.reaper_report_merge([merged, parts[0]]) == merged
    assert rp.reaper_report_merge([parts[1], merged, parts[0]]) == merged
    assert rp.reaper_report_merge(list(reversed(parts))) == merged


def test_a_host_in_two_slices_keeps_the_newer_result_and_is_listed_once(fleet):
    old = rp.reaper_report({"web1": fleet["down"], "web2": fleet["web2"]}, generated_at=T1, slice_id="1")
    new = rp.reaper_report({"web1": fleet["web1"]}, generated_at=T3, slice_id="2")
    for order in ([old, new], [new, old]):
        merged = rp.reaper_report_merge(order)
        assert sorted(merged["hosts"]) == ["web1", "web2"]
        assert merged["hosts"]["web1"]["status"] == "ok" and merged["hosts"]["web1"]["slice"] == "2"
        assert merged["totals"]["hosts"] == 2 and merged["totals"]["status"]["unreachable"] == 0
        assert merged["totals"]["zombies"] == 1 + 2
    # the slice that ran again later replaces its earlier run
    rerun = rp.reaper_report({"web1": fleet["down"]}, generated_at=T3, slice_id="1")
    merged = rp.reaper_report_merge([old, rerun])
    assert merged["hosts"]["web1"]["status"] == "unreachable"
    assert [s["generated_at"] for s in merged["slices"]] == [T3]


def test_reports_written_without_a_slice_merge_too(fleet):
    first = rp.reaper_report({"web1": fleet["web1"]}, generated_at=T1, label="nightly")
    second = rp.reaper_report({"web2": fleet["web2"]}, generated_at=T2, label="nightly")
    merged = rp.reaper_report_merge([first, second])
    assert merged["label"] == "nightly"
    assert [s["id"] for s in merged["slices"]] == ["nightly@%s" % T1, "nightly@%s" % T2]
    assert rp.reaper_report_merge([merged, second]) == merged
    assert rp.reaper_report_merge([first, second], label="all")["label"] == "all"


def test_merge_upgrades_a_1_0_report(fleet):
    part = copy.deepcopy(rp.reaper_report({"web1": fleet["web1"]}, generated_at=T1))
    part["schema_version"] = "1.0"
    for entry in part["hosts"].values():
        entry.pop("containers")
        entry["totals"].pop("containers")
    part["totals"].pop("containers")
    merged = rp.reaper_report_merge([part])
    assert merged["schema_version"] == SCHEMA_VERSION
    assert merged["hosts"]["web1"]["containers"] == [] and merged["totals"]["containers"] == 0


def test_merge_with_a_baseline_compares(fleet):
    before = rp.reaper_report({"web3": fleet["web3"]}, generated_at=T1)
    after = rp.reaper_report({"web3": fleet["clean"]}, generated_at=T2, slice_id="1")
    merged = rp.reaper_report_merge([after], baseline=before)
    assert merged["comparison"]["totals"]["zombies"] == {"before": 3, "after": 0}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"hosts": {}}, "expects a list of reports"),
        ([], "the list of reports is empty"),
        ([{"schema_version": "1.1"}], "input 0 is not a report"),
        (["text"], "input 0 is not a report"),
        ([{"schema_version": "2.0", "hosts": {}}], "input 0 has schema_version '2.0'"),
    ],
)
def test_merge_refuses_what_is_not_a_list_of_reports(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        rp.reaper_report_merge(bad)
