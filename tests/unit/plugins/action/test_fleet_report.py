# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_report action writes the same report the filters produce, from the variables the audit stored."""

import json
import os
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.reaper.systemd.plugins.action import fleet_report
from ansible_collections.reaper.systemd.plugins.filter import report as rp

TEMPLATE_LIKE = "{{ lookup('pipe', 'touch /tmp/pwned') }}"


def scan(zombies=0, comm="worker"):
    unit = {
        "active_state": "active",
        "sub_state": "running",
        "main_pid": 100,
        "control_group": "/system.slice/a.service",
        "kill_mode": "process",
        "processes": 3,
        "zombies": [
            {"pid": 200 + i, "ppid": 100, "parent_comm": comm, "parent_is_main": True, "age_s": 90}
            for i in range(zombies)
        ],
        "leftovers": [],
        "survivors": [],
        "escaped": [],
        "counts": {"zombies": zombies, "leftovers": 0, "survivors": 0, "escaped": 0},
    }
    findings = []
    if zombies:
        findings.append(
            {
                "code": "zombies",
                "severity": "warning",
                "unit": "a.service",
                "summary": "%d zombie(s)" % zombies,
                "evidence": {},
                "remedy": "restart",
            }
        )
    facts = {
        "host": {"systemd": True, "systemd_version": 252, "processes": 10, "zombies": zombies, "pid_max": 32768},
        "units": {"a.service": unit},
        "findings": findings,
        "unmatched": [],
    }
    return {"changed": False, "ansible_facts": {"reaper": facts}}


@pytest.fixture
def fleet(tmp_path):
    """An inventory of three hosts; web1 and web2 were audited (web2 has zombies), db1 was not reached."""
    inventory_file = tmp_path / "hosts.ini"
    inventory_file.write_text("[fleet]\nweb1\nweb2\ndb1\n")
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(inventory_file)])
    variables = VariableManager(loader=loader, inventory=inventory)
    stored = {"web1": rp.reaper_host_result(scan()), "web2": rp.reaper_host_result(scan(zombies=3, comm=TEMPLATE_LIKE))}
    for name, value in stored.items():
        variables.set_nonpersistent_facts(name, {"reaper_audit": value})
    return HostVars(inventory=inventory, variable_manager=variables, loader=loader), stored


def run_action(args, hostvars):
    task = mock.MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = False
    action = fleet_report.ActionModule(task, mock.MagicMock(), mock.MagicMock(), DataLoader(), mock.MagicMock(), None)
    return action.run(task_vars={"hostvars": hostvars})


def test_reads_what_the_audit_stored_and_marks_unreached_hosts(fleet):
    hostvars, stored = fleet
    results = fleet_report.host_results(hostvars, ["web1", "web2", "db1"])
    assert results == {"web1": stored["web1"], "web2": stored["web2"], "db1": None}


def test_reads_the_same_without_the_set_fact_store(fleet):
    hostvars, stored = fleet
    with mock.patch.object(fleet_report, "_set_fact_store", return_value=None):
        results = fleet_report.host_results(hostvars, ["web1", "web2", "db1"])
    assert results == {"web1": stored["web1"], "web2": stored["web2"], "db1": None}


def test_writes_the_reports_the_filters_render(fleet, tmp_path):
    hostvars, stored = fleet
    out = tmp_path / "report"
    result = run_action({"report_dir": str(out), "hosts": ["web1", "web2", "db1"], "label": "nightly"}, hostvars)
    assert result["changed"] is True
    report = rp.reaper_report_from_json((out / "report.json").read_text())
    assert sorted(report["hosts"]) == ["db1", "web1", "web2"]
    assert report["hosts"]["db1"]["status"] == "failed"
    assert report["hosts"]["db1"]["message"] == "the scan did not run on this host"
    assert report["totals"]["zombies"] == 3
    # the same report as the filters build from the same results, rendered by the same functions
    expected = rp.reaper_report(dict(stored, db1=None), generated_at=report["generated_at"], label="nightly")
    assert json.loads(rp.reaper_report_json(expected)) == report
    assert (out / "report.md").read_text() == rp.reaper_report_markdown(expected)
    assert (out / "report.html").read_text() == rp.reaper_report_html(expected)
    # a process name that looks like a template stays text
    assert TEMPLATE_LIKE in (out / "report.json").read_text()
    assert result["summary"] == rp.reaper_report_summary(report, str(out))
    assert result["totals"] == report["totals"]
    assert result["text"] == rp.reaper_report_text(report, report_dir=str(out)).split("\n")
    assert rp.reaper_report_from_json(result["report_json"]) == report
    assert oct(os.stat(out).st_mode & 0o777) == "0o755"
    assert {oct(os.stat(out / n).st_mode & 0o777) for n in fleet_report.FILES} == {"0o644"}


def test_merges_partial_reports(fleet, tmp_path):
    hostvars, stored = fleet
    part1 = rp.reaper_report({"web1": stored["web1"]}, generated_at="2026-11-26T12:00:00Z", slice_id="1")
    part2 = rp.reaper_report({"web2": stored["web2"]}, generated_at="2026-11-26T12:01:00Z", slice_id="2")
    out = tmp_path / "merged"
    run_action({"report_dir": str(out), "merge_inputs": [part1, part2]}, hostvars)
    report = json.loads((out / "report.json").read_text())
    assert sorted(report["hosts"]) == ["web1", "web2"]
    assert [s["id"] for s in report["slices"]] == ["1", "2"]


def test_a_relative_report_dir_is_refused_and_nothing_is_written(fleet, tmp_path, monkeypatch):
    hostvars = fleet[0]
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    with pytest.raises(AnsibleActionFail, match="report_dir must be an absolute path"):
        run_action({"report_dir": "reports", "hosts": ["web1"]}, hostvars)
    assert list(workdir.iterdir()) == []


def test_from_json_refuses_text_that_is_not_a_report():
    with pytest.raises(Exception, match="not a fleet report"):
        rp.reaper_report_from_json('{"a": 1}')
    with pytest.raises(Exception, match="text of a report.json"):
        rp.reaper_report_from_json("{nope")


@pytest.mark.parametrize(
    "report_dir",
    [
        "/",
        "/tmp",
        "/tmp/",
        "//etc",
        "/etc/.",
        "/var/lib",
        "/a/../etc",
        "/x/*",
        "/srv/re\u202eport",
        "/srv/a\nb",
        "/" + "r" * 300,
    ],
)
def test_report_dir_is_checked_like_every_path_and_nothing_is_written(fleet, report_dir):
    hostvars = fleet[0]
    with mock.patch.object(fleet_report, "write_if_changed") as written, mock.patch.object(
        os, "makedirs"
    ) as made, mock.patch.object(os, "chmod") as chmodded:
        with pytest.raises(AnsibleActionFail, match="report_dir"):
            run_action({"report_dir": report_dir, "hosts": ["web1"]}, hostvars)
    assert not written.called and not made.called and not chmodded.called


def test_report_dir_through_a_symlink_to_a_shared_directory_is_refused(fleet, tmp_path):
    hostvars = fleet[0]
    link = tmp_path / "reports"
    link.symlink_to("/etc")
    with pytest.raises(AnsibleActionFail, match="report_dir must not be a symlink"):
        run_action({"report_dir": str(link), "hosts": ["web1"]}, hostvars)
    up = tmp_path / "up"
    up.symlink_to("/")
    with pytest.raises(AnsibleActionFail, match="report_dir must not be a system or shared directory .* once symlinks"):
        run_action({"report_dir": str(up / "tmp"), "hosts": ["web1"]}, hostvars)


def test_an_existing_report_dir_keeps_its_mode(fleet, tmp_path):
    hostvars = fleet[0]
    out = tmp_path / "shared"
    out.mkdir()
    os.chmod(str(out), 0o1777)
    run_action({"report_dir": str(out), "hosts": ["web1"]}, hostvars)
    assert oct(os.stat(str(out)).st_mode & 0o7777) == "0o1777"
    assert (out / "report.json").exists()


def test_a_report_file_that_is_a_symlink_is_replaced_not_followed(fleet, tmp_path):
    hostvars = fleet[0]
    out = tmp_path / "report"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.chmod(str(victim), 0o600)
    (out / "report.json").symlink_to(victim)
    run_action({"report_dir": str(out), "hosts": ["web1"]}, hostvars)
    assert victim.read_text() == "keep" and oct(os.stat(str(victim)).st_mode & 0o777) == "0o600"
    assert not (out / "report.json").is_symlink()


def test_a_host_the_inventory_does_not_know_is_reported_as_not_reached(fleet, tmp_path):
    # raw_get of such a host used to fail with "A required TemplateContext context is not active"
    hostvars, stored = fleet
    assert fleet_report.host_results(hostvars, ["web1", "gone"]) == {"web1": stored["web1"], "gone": None}
    with mock.patch.object(fleet_report, "_set_fact_store", return_value=None):
        assert fleet_report.host_results(hostvars, ["gone"]) == {"gone": None}
    result = run_action({"report_dir": str(tmp_path / "r"), "hosts": ["web1", "gone"]}, hostvars)
    assert result["hosts"] == 2
