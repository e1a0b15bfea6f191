# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schema 1.1 and 1.2 of the report: containers, how systemd was asked, zombie_seen_s, what the audit keeps per host, the set_stats summary."""

import json

from ansible_collections.reaper.systemd.plugins.filter import report as rp

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import SCHEMA_VERSION
from test_report import NOW, escape, finding, host, scan, unit, zombie

CONTAINERS = [
    {"cgroup": "/docker/0123abcd", "processes": 3, "pid_namespace": "pid:[4026532301]"},
    {"cgroup": "/kubepods/besteffort/pod1/c0ffee", "processes": 2, "pid_namespace": None},
]


def containered_host():
    facts = host(
        units={
            "containerd.service": unit(kill_mode="process"),
            "zf.service": unit(
                {"zombies": 2},
                zombies=[dict(zombie(11), zombie_seen_s=900.5), dict(zombie(12), zombie_seen_s=None)],
            ),
        },
        findings=[
            dict(
                finding("weak_killmode", "info", "containerd.service"),
                evidence={"kill_mode": "process", "by_design": True, "packaged": "/lib/systemd/system"},
            ),
            finding("zombies", "warning", "zf.service"),
        ],
        zombies=2,
    )
    facts["host"]["containers"] = CONTAINERS
    return facts


def test_containers_and_their_fleet_total():
    report = rp.reaper_report(
        {"node1": scan(containered_host()), "old": scan(host(units={"a.service": unit()}))}, generated_at=NOW
    )
    assert report["schema_version"] == SCHEMA_VERSION
    node = report["hosts"]["node1"]
    assert node["containers"] == CONTAINERS
    assert node["totals"]["containers"] == 5
    # facts from before the container hand-off detection have no list: an empty one, not an error
    assert report["hosts"]["old"]["containers"] == [] and report["hosts"]["old"]["totals"]["containers"] == 0
    assert report["totals"]["containers"] == 5
    # hand-offs are not leaks
    assert node["totals"]["escapes"] == 0


def test_zombie_seen_and_by_design_pass_through():
    report = rp.reaper_report({"node1": scan(containered_host())}, generated_at=NOW)
    node = report["hosts"]["node1"]
    seen = [z.get("zombie_seen_s") for z in node["units"]["zf.service"]["zombies"]]
    assert seen == [900.5, None]
    weak = [f for f in node["findings"] if f["code"] == "weak_killmode"][0]
    assert weak["evidence"]["by_design"] is True and weak["evidence"]["packaged"] == "/lib/systemd/system"


def test_renderers_show_containers_and_zombie_age():
    report = rp.reaper_report({"node1": scan(containered_host())}, generated_at=NOW)
    text = rp.reaper_report_text(report)
    assert "containers: 5 process(es) handed off by a container engine (not leaks)" in text
    assert "containers (5 process(es)): /docker/0123abcd: 3" in text
    md = rp.reaper_report_markdown(report)
    assert "5 process(es) run in containers handed off by a container engine" in md
    page = rp.reaper_report_html(report)
    assert "/kubepods/besteffort/pod1/c0ffee (2 process(es))" in page
    assert "in containers</span>" in page


def test_zombie_seen_shows_in_the_outside_list():
    facts = host(zombies=1, zoo=[dict(zombie(50, ppid=7, main=False), zombie_seen_s=3600)])
    md = rp.reaper_report_markdown(rp.reaper_report({"h": scan(facts)}, generated_at=NOW))
    assert "zombie for 3600s" in md


def big_scan(units=150):
    """A host with many clean units and a few leaking ones, as process_facts returns it."""
    all_units = dict(("svc%03d.service" % i, unit()) for i in range(units))
    all_units["svc007.service"] = unit({"escaped": 1}, escaped=[escape(70)])
    facts = host(units=all_units, findings=[finding("weak_killmode", "info", "svc009.service")])
    facts["host"]["environ_denied"] = 0
    return scan(facts)


def test_the_audit_keeps_only_what_the_report_needs():
    full = big_scan()
    kept = rp.reaper_host_result(full)
    assert kept["status"] == "ok"
    assert sorted(kept["facts"]["units"]) == ["svc007.service", "svc009.service"]
    assert "environ_denied" not in kept["facts"]["host"]
    assert "kill_signal" not in kept["facts"]["units"]["svc007.service"]
    assert kept["facts"]["findings"] == full["ansible_facts"]["reaper"]["findings"]
    assert len(json.dumps(kept)) * 20 < len(json.dumps(full))
    # the report from the kept part equals the report from the full scan
    assert rp.reaper_report({"h": kept}, generated_at=NOW) == rp.reaper_report({"h": full}, generated_at=NOW)
    every = rp.reaper_host_result(full, all_units=True)
    assert len(every["facts"]["units"]) == 150
    assert rp.reaper_report({"h": every}, generated_at=NOW, all_units=True) == rp.reaper_report(
        {"h": full}, generated_at=NOW, all_units=True
    )


def test_summary_is_small_and_names_what_a_workflow_needs():
    results = dict(("web%04d" % i, big_scan(10)) for i in range(300))
    results["down"] = {"unreachable": True, "msg": "timeout"}
    report = rp.reaper_report(results, generated_at=NOW, slice_id="2")
    summary = rp.reaper_report_summary(report, report_dir="/srv/reaper")
    assert summary["hosts"] == 301 and summary["status"]["unreachable"] == 1
    assert summary["findings"]["info"] == 300 and summary["worst_severity"] == "info"
    assert summary["hosts_not_audited"] == ["down"]
    assert len(summary["worst_hosts"]) == 5 and summary["slices"] == ["2"]
    assert summary["report_dir"] == "/srv/reaper"
    assert len(json.dumps(summary)) < 2000


def test_report_json_is_one_line_per_host_and_loads_back():
    results = {"b-host": scan(containered_host()), "a-host": scan(host()), "gone": {"unreachable": True, "msg": "x"}}
    report = rp.reaper_report(results, generated_at=NOW)
    text = rp.reaper_report_json(report)
    assert json.loads(text) == json.loads(json.dumps(report))
    lines = text.splitlines()
    hosts = lines[lines.index('"hosts": {') + 1 : -2]
    assert [line.split('"')[1] for line in hosts] == ["a-host", "b-host", "gone"]
    assert text.endswith("}\n")
    empty = rp.reaper_report({}, generated_at=NOW)
    assert json.loads(rp.reaper_report_json(empty)) == json.loads(json.dumps(empty))


def test_how_each_host_asked_systemd_is_kept():
    """Schema 1.2: a host whose scan fell back to systemctl says so, and why, in the report."""
    fell_back = host(units={"a.service": unit()})
    fell_back["host"]["systemd_query"] = {"source": "systemctl", "problem": "systemd did not answer within 15.0s"}
    on_bus = host(units={"a.service": unit()})
    on_bus["host"]["systemd_query"] = {"source": "bus", "problem": None}
    report = rp.reaper_report(
        {"slow": scan(fell_back), "fine": scan(on_bus), "old": scan(host(units={}))}, generated_at=NOW
    )
    assert report["schema_version"] == "1.2"  # the schema itself is checked after every test
    assert report["hosts"]["slow"]["systemd_query"] == fell_back["host"]["systemd_query"]
    assert report["hosts"]["fine"]["systemd_query"] == {"source": "bus", "problem": None}
    assert report["hosts"]["old"]["systemd_query"] is None, "facts from before 1.2: not known"
    text = rp.reaper_report_text(report)
    assert "asked systemctl (systemd did not answer within 15.0s)" in text
    assert text.count("asked systemctl") == 1
