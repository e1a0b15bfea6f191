# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the fleet report filters, on synthetic process_facts results."""

import base64
import copy
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.reaper.systemd.plugins.filter import report as rp
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import SCHEMA_VERSION

NOW = "2026-11-26T12:00:00Z"
EVIL_UNIT = '<script>window.__xss=1</script>|x`*_[a](b)".service'
EVIL_COMM = "<img src=x onerror=alert(1)>\x1b[31m\u202e"


def unit(counts=None, **extra):
    counts = dict({"zombies": 0, "leftovers": 0, "survivors": 0, "escaped": 0}, **(counts or {}))
    base = {
        "active_state": "active",
        "sub_state": "running",
        "main_pid": 100,
        "control_group": "/system.slice/x.service",
        "kill_mode": "control-group",
        "kill_signal": 15,
        "send_sigkill": True,
        "timeout_stop_sec": 90,
        "tasks_current": 3,
        "tasks_max": 100,
        "tasks_usage": 0.03,
        "delegate": False,
        "n_restarts": 0,
        "invocation_id": "abc",
        "processes": 3,
        "zombies": [],
        "leftovers": [],
        "survivors": [],
        "escaped": [],
        "counts": counts,
    }
    base.update(extra)
    return base


def zombie(pid, ppid=100, main=True):
    return {"pid": pid, "ppid": ppid, "parent_comm": "python3", "parent_is_main": main, "age_s": 120}


def proc(pid, comm="sleep"):
    return {"pid": pid, "comm": comm, "uid": 0, "age_s": 300}


def escape(pid, comm="sleep", route="pam_session"):
    return {
        "pid": pid,
        "comm": comm,
        "uid": 0,
        "now_in": "/user.slice/session-3.scope",
        "route": route,
        "evidence": ["ancestry"],
    }


def finding(code, severity, unit_name, summary="s", remedy="r"):
    return {"code": code, "severity": severity, "unit": unit_name, "summary": summary, "evidence": {}, "remedy": remedy}


def host(systemd=True, units=None, findings=None, zombies=0, zoo=None, unattributed=None):
    return {
        "host": {
            "systemd": systemd,
            "systemd_version": 252 if systemd else None,
            "cgroup_layout": "hybrid",
            "backend": "procfs",
            "privilege": "full",
            "pid_max": 32768,
            "threads_max": 200000,
            "processes": 120,
            "threads": 150,
            "zombies": zombies,
            "pid_usage": 0.004,
            "thread_usage": 0.001,
            "zombies_outside_units": zoo or [],
            "unattributed_escapes": unattributed or [],
        },
        "units": units or {},
        "findings": findings or [],
        "unmatched": [],
    }


def scan(facts):
    """What `register:` holds after process_facts succeeded."""
    return {"changed": False, "ansible_facts": {"reaper": facts}}


@pytest.fixture
def fleet():
    sick = host(
        units={
            "zf.service": unit({"zombies": 150}, zombies=[zombie(p) for p in range(1000, 1100)]),
            "leaky.service": unit(
                {"leftovers": 2},
                active_state="inactive",
                sub_state="dead",
                kill_mode="process",
                leftovers=[proc(2001), proc(2002)],
            ),
            "restart.service": unit({"survivors": 1}, survivors=[proc(3001)]),
            "runner.service": unit({"escaped": 2}, escaped=[escape(4001), escape(4002, route="scope")]),
            "clean.service": unit(),
        },
        findings=[
            finding("zombies", "critical", "zf.service"),
            finding("tasks_usage", "warning", "zf.service"),
            finding("leftovers", "warning", "leaky.service"),
            finding("weak_killmode", "warning", "leaky.service"),
            finding("survivors", "warning", "restart.service"),
            finding("escaped", "warning", "runner.service"),
            finding("unattributed_escape", "warning", None),
            finding("sendsigkill_off", "info", "quiet.service"),
        ],
        zombies=153,
        zoo=[zombie(5001, ppid=77, main=False), zombie(5002, ppid=77, main=False), zombie(5003, ppid=77, main=False)],
        unattributed=[escape(6001, route="pam_session")],
    )
    healthy = host(units={"clean.service": unit(), "other.service": unit()})
    nosd = host(
        systemd=False,
        zombies=2,
        zoo=[zombie(7001, 1, False), zombie(7002, 1, False)],
        findings=[finding("zombies", "warning", None)],
    )
    return {
        "sick": scan(sick),
        "healthy": scan(healthy),
        "ci": scan(nosd),
        "gone": {
            "unreachable": True,
            "msg": "Failed to connect to the host via ssh: Connection refused",
            "changed": False,
        },
        "broken": {"failed": True, "msg": "MODULE FAILURE", "module_stderr": "Traceback\nImportError: no psutil"},
    }


@pytest.fixture
def report(fleet):
    return rp.reaper_report(fleet, generated_at=NOW)


# ------------------------------------------------------------------ host result


def test_host_result_statuses(fleet):
    assert rp.reaper_host_result(fleet["sick"])["status"] == "ok"
    assert rp.reaper_host_result(fleet["ci"])["status"] == "no_systemd"
    gone = rp.reaper_host_result(fleet["gone"])
    assert gone["status"] == "unreachable" and "Connection refused" in gone["message"] and gone["facts"] == {}
    broken = rp.reaper_host_result(fleet["broken"])
    assert broken["status"] == "failed" and "ImportError: no psutil" in broken["message"]
    assert rp.reaper_host_result(None)["status"] == "failed"
    assert rp.reaper_host_result({"skipped": True, "skip_reason": "Conditional result was False"})["status"] == "failed"
    assert rp.reaper_host_result({"changed": False, "ansible_facts": {}})["status"] == "failed"


def test_report_accepts_classified_entries(fleet):
    classified = dict((name, rp.reaper_host_result(res)) for name, res in fleet.items())
    assert rp.reaper_report(classified, generated_at=NOW) == rp.reaper_report(fleet, generated_at=NOW)


# ------------------------------------------------------------------ report dict


def test_report_header(report):
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["generated_at"] == NOW
    assert set(report["hosts"]) == {"sick", "healthy", "ci", "gone", "broken"}
    assert report["totals"]["status"] == {"ok": 2, "no_systemd": 1, "unreachable": 1, "failed": 1}
    assert report["totals"]["hosts"] == 5
    json.dumps(report)  # serializable as report.json


def test_generated_at_defaults_to_utc_now(fleet):
    stamp = rp.reaper_report(fleet)["generated_at"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", stamp)


def test_unit_counts_match_facts(fleet, report):
    facts = fleet["sick"]["ansible_facts"]["reaper"]
    sick = report["hosts"]["sick"]
    for name in ("zf.service", "leaky.service", "restart.service", "runner.service"):
        assert sick["units"][name]["counts"] == facts["units"][name]["counts"]
    # lists are kept (capped by the module), so the PIDs are in report.json
    assert [z["pid"] for z in sick["units"]["zf.service"]["zombies"]] == list(range(1000, 1100))
    assert sick["units"]["zf.service"]["counts"]["zombies"] == 150
    assert sick["units"]["leaky.service"]["kill_mode"] == "process"


def test_clean_units_are_left_out_unless_asked(fleet, report):
    assert "clean.service" not in report["hosts"]["sick"]["units"]
    assert report["hosts"]["healthy"]["units"] == {}
    full = rp.reaper_report(fleet, generated_at=NOW, all_units=True)
    assert set(full["hosts"]["healthy"]["units"]) == {"clean.service", "other.service"}
    assert full["hosts"]["healthy"]["units"]["clean.service"]["counts"]["zombies"] == 0


def test_finding_for_unit_without_leaks_is_kept(report):
    quiet = report["hosts"]["sick"]["units"]["quiet.service"]
    assert quiet["findings"] == {"critical": 0, "warning": 0, "info": 1, "total": 1}
    assert quiet["counts"] == {"zombies": 0, "leftovers": 0, "survivors": 0, "escaped": 0}


def test_host_totals(fleet, report):
    t = report["hosts"]["sick"]["totals"]
    assert t["zombies"] == 153  # the host's exact count
    assert t["zombies_in_units"] == 150
    assert t["zombies_outside_units"] == 3
    capped = copy.deepcopy(fleet["sick"])
    capped["ansible_facts"]["reaper"]["host"]["zombies"] = 400  # the list stays capped at 3 items
    assert rp.reaper_report({"s": capped}, generated_at=NOW)["hosts"]["s"]["totals"]["zombies_outside_units"] == 250
    assert t["leftovers"] == 2 and t["survivors"] == 1 and t["escaped"] == 2
    assert t["unattributed_escapes"] == 1 and t["escapes"] == 3
    assert t["findings"] == {"critical": 1, "warning": 6, "info": 1, "total": 8}
    assert t["worst_severity"] == "critical"
    assert t["units_with_findings"] == 5
    ci = report["hosts"]["ci"]
    assert ci["status"] == "no_systemd" and ci["totals"]["zombies"] == 2
    assert [z["pid"] for z in ci["zombies_outside_units"]] == [7001, 7002]
    gone = report["hosts"]["gone"]
    assert gone["totals"]["zombies"] == 0 and gone["findings"] == [] and gone["units"] == {}
    assert "Connection refused" in gone["message"]


def test_fleet_totals_are_sums(report):
    t = report["totals"]
    for key in ("zombies", "leftovers", "survivors", "escaped", "escapes", "unattributed_escapes"):
        assert t[key] == sum(h["totals"][key] for h in report["hosts"].values()), key
    assert t["zombies"] == 155
    assert t["findings"] == {"critical": 1, "warning": 7, "info": 1, "total": 9}
    assert t["hosts_with_findings"] == 2
    assert t["worst_severity"] == "critical"


def test_units_aggregate_across_hosts(fleet):
    fleet = copy.deepcopy(fleet)
    fleet["sick2"] = copy.deepcopy(fleet["sick"])
    rep = rp.reaper_report(fleet, generated_at=NOW)
    zf = rep["units"]["zf.service"]
    assert zf["hosts"] == ["sick", "sick2"]
    assert zf["counts"]["zombies"] == 300
    assert zf["findings"]["critical"] == 2
    assert rep["worst"]["units"][0] == "zf.service"


def test_worst_hosts_order(report):
    assert report["worst"]["hosts"] == ["sick", "ci"]


def test_top_limits_worst_lists(fleet):
    rep = rp.reaper_report(fleet, generated_at=NOW, top=1)
    assert rep["worst"]["hosts"] == ["sick"] and len(rep["worst"]["units"]) == 1


def test_bad_input_raises_filter_error():
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        rp.reaper_report(["a", "b"])
    with pytest.raises(AnsibleFilterError):
        rp.reaper_report_markdown({"x": 1})
    with pytest.raises(AnsibleFilterError):
        rp.reaper_report_html("nope")
    with pytest.raises(AnsibleFilterError):
        rp.reaper_report_text(None)


@pytest.mark.invalid_report
def test_garbage_facts_do_not_crash():
    rep = rp.reaper_report(
        {
            "odd": scan(
                {
                    "host": {"systemd": True},
                    "units": {"a.service": {"counts": "x"}},
                    "findings": ["not a dict", {"severity": "bogus"}],
                }
            )
        },
        generated_at=NOW,
    )
    odd = rep["hosts"]["odd"]
    assert odd["status"] == "ok"
    assert odd["totals"]["findings"]["total"] == 1
    rp.reaper_report_html(rep)
    rp.reaper_report_markdown(rep)
    rp.reaper_report_text(rep)


# ------------------------------------------------------------------ severity gate


@pytest.mark.parametrize("level,expected", [("none", False), ("info", True), ("warning", True), ("critical", True)])
def test_reaches_with_critical(report, level, expected):
    assert rp.reaper_report_reaches(report, level) is expected


def test_reaches_levels_without_critical(fleet):
    healthy = rp.reaper_report({"h": fleet["healthy"]}, generated_at=NOW)
    assert not rp.reaper_report_reaches(healthy, "info")
    ci = rp.reaper_report({"ci": fleet["ci"]}, generated_at=NOW)
    assert rp.reaper_report_reaches(ci, "warning")
    assert not rp.reaper_report_reaches(ci, "critical")
    unreachable = rp.reaper_report({"gone": fleet["gone"]}, generated_at=NOW)
    assert not rp.reaper_report_reaches(unreachable, "info")


def test_reaches_rejects_unknown_level(report):
    with pytest.raises(AnsibleFilterError, match="reaper_fail_on"):
        rp.reaper_report_reaches(report, "severe")


# ------------------------------------------------------------------ before / after


def test_compare_before_after(fleet, report):
    after_fleet = copy.deepcopy(fleet)
    facts = after_fleet["sick"]["ansible_facts"]["reaper"]
    # restarted zombie factory leaks again with new PIDs; left-overs and survivors are gone
    facts["units"]["zf.service"] = unit({"zombies": 4}, zombies=[zombie(p) for p in (9001, 9002, 9003, 1050)])
    facts["units"]["leaky.service"] = unit(kill_mode="mixed")
    facts["units"]["restart.service"] = unit()
    facts["units"]["runner.service"] = unit()
    facts["host"]["unattributed_escapes"] = []
    facts["findings"] = [finding("zombies", "warning", "zf.service")]
    after_fleet["gone"] = after_fleet["healthy"]
    after = rp.reaper_report(after_fleet, generated_at="2026-11-26T12:05:00Z", label="after", baseline=report)
    comp = after["comparison"]
    assert comp["before"]["generated_at"] == NOW and comp["after"]["label"] == "after"
    sick = comp["hosts"]["sick"]
    assert sick["comparable"] is True
    assert sick["units"]["leaky.service"]["leftovers"] == {"before": 2, "after": 0}
    assert sick["units"]["zf.service"]["zombies"] == {"before": 150, "after": 4}
    assert sick["pids"]["leftovers"] == {"gone": [2001, 2002], "remaining": [], "new": []}
    assert sick["pids"]["escaped"]["gone"] == [4001, 4002]
    assert sick["pids"]["unattributed_escapes"]["gone"] == [6001]
    assert sick["pids"]["zombies"]["remaining"] == [1050]
    assert sick["pids"]["zombies"]["new"] == [9001, 9002, 9003]
    assert {"unit": "leaky.service", "code": "leftovers"} in sick["findings_resolved"]
    assert {"unit": None, "code": "unattributed_escape"} in sick["findings_resolved"]
    assert sick["findings_remaining"] == [{"unit": "zf.service", "code": "zombies"}]
    dropped = rp.reaper_report({"sick": after_fleet["sick"]}, generated_at=NOW, baseline=report)
    assert dropped["comparison"]["hosts"]["broken"]["status"] == {"before": "failed", "after": None}
    assert "broken [failed -> not audited]" in rp.reaper_report_text(dropped)
    gone = comp["hosts"]["gone"]
    assert gone["status"] == {"before": "unreachable", "after": "ok"} and gone["comparable"] is False
    assert comp["totals"]["leftovers"] == {"before": 2, "after": 0}
    assert comp["totals"]["findings_critical"] == {"before": 1, "after": 0}
    md = rp.reaper_report_markdown(after)
    assert "## Before and after" in md and "150 → 4" in md
    assert "sick: zombies: 99 gone, 3 new, still present: 1050 (a restarted zombie factory leaks again" in md.replace(
        "\\", ""
    )
    assert "sick: leftovers: 2 gone, 0 new" in md.replace("\\", "")
    text = rp.reaper_report_text(after)
    assert "before -> after" in text and "leftovers 2 -> 0" in text
    html_page = rp.reaper_report_html(after)
    assert 'id="comparison"' in html_page and "150 &rarr; 4" in html_page


# ------------------------------------------------------------------ renderers


class _Collector(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.scripts = []
        self.styles = []
        self._in = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def evil_fleet():
    facts = host(
        units={EVIL_UNIT: unit({"escaped": 1}, escaped=[escape(11, comm=EVIL_COMM)])},
        findings=[
            finding(
                "escaped", "warning", EVIL_UNIT, summary="left via %s" % EVIL_COMM, remedy="</td></tr><tr><td>injected"
            )
        ],
        unattributed=[escape(12, comm=EVIL_COMM)],
    )
    return {"<b>host</b>": scan(facts), "gone": {"unreachable": True, "msg": "<svg onload=alert(1)>"}}


def test_html_escapes_attacker_strings():
    page = rp.reaper_report_html(rp.reaper_report(evil_fleet(), generated_at=NOW))
    assert "<script>window.__xss" not in page
    assert "<img src=x" not in page
    assert "<svg onload" not in page
    assert "</td></tr><tr><td>injected" not in page
    assert "<b>host</b>" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page
    parser = _Collector()
    parser.feed(page)
    assert [t for t, _a in parser.tags].count("script") == 1
    assert not [t for t, _a in parser.tags if t in ("img", "iframe", "object", "embed", "link")]
    for _tag, attrs in parser.tags:
        assert not [k for k in attrs if k.startswith("on")], attrs


def test_html_is_self_contained_with_hash_csp(report):
    page = rp.reaper_report_html(report)
    parser = _Collector()
    parser.feed(page)
    csp = [a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and "default-src 'none'" in csp[0]
    for body in parser.scripts + parser.styles:
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        assert "'sha256-%s'" % digest in csp[0]
    for _tag, attrs in parser.tags:
        for key in ("src", "href"):
            assert key not in attrs, attrs
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_html_content(report):
    page = rp.reaper_report_html(report)
    parser = _Collector()
    parser.feed(page)
    text = " ".join(parser.text)
    for name in report["hosts"]:
        assert name in text
    assert page.count("<svg") == 2
    assert 'id="chart-hosts"' in page and 'id="chart-units"' in page
    assert 'id="findings" class="sortable"' in page
    assert page.count('<tr data-i="') >= 9 + 5  # every finding and every host row
    assert 'data-sort="3"' in page  # critical sorts above warning (2) and info (1)
    assert "Hosts not fully audited" in page and "Connection refused" in page


def test_html_caps_findings(report):
    page = rp.reaper_report_html(report, max_findings=3)
    assert "6 more finding(s) in report.json" in page


def test_chart_bars_scale_to_the_largest_value(report):
    page = rp.reaper_report_html(report)
    chart = page.split('id="chart-hosts"', 1)[1].split("</svg>", 1)[0]
    bars = [
        (int(w), int(v))
        for w, v in re.findall(r'<rect class="bar bz" x="\d+" y="\d+" width="(\d+)" height="\d+" data-v="(\d+)"', chart)
    ]
    assert [v for _w, v in bars] == [153, 2]  # sick, ci: zombies per host, largest first
    assert bars[0][0] == 680 - 190 - 44  # the largest value fills the plot
    assert bars[1][0] == round(bars[0][0] * 2 / 153)


def test_markdown_escapes_and_names_every_host():
    rep = rp.reaper_report(evil_fleet(), generated_at=NOW)
    md = rp.reaper_report_markdown(rep)
    for line in md.splitlines():
        if line.startswith("| "):
            # every row keeps its column count: no unescaped pipe came from a host
            cells = re.split(r"(?<!\\)\|", line)
            header_cells = len(cells)
            assert header_cells >= 3
    assert "<script>" not in md and "<img" not in md and "<svg" not in md and "<b>" not in md
    assert "&lt;b&gt;host&lt;/b&gt;" in md and "gone" in md
    assert "\x1b" not in md and "\\x1b" in md and "\\u202e" in md


def test_markdown_tables_keep_their_columns():
    rep = rp.reaper_report(evil_fleet(), generated_at=NOW)
    md = rp.reaper_report_markdown(rep)
    table = [line for line in md.split("## Findings", 1)[1].splitlines() if line.startswith("|")]
    counts = set(len(re.split(r"(?<!\\)\|", line)) for line in table)
    assert len(counts) == 1, table


def test_markdown_summary(report):
    md = rp.reaper_report_markdown(report)
    assert md.startswith("# reaper.systemd audit report")
    for name in report["hosts"]:
        assert "| %s |" % name in md
    assert "| zf.service | 1 | 150 |" in md.replace("\\", "")
    assert md.count("| critical | sick |") == 1
    capped = rp.reaper_report_markdown(report, max_findings=2)
    assert "7 more finding(s) in report.json" in capped


def test_text_summary_per_unit(report):
    text = rp.reaper_report_text(report, report_dir="/srv/out")
    lines = text.splitlines()
    assert lines[0].startswith("reaper.systemd audit at %s: 5 host(s)" % NOW)
    assert "2 ok, 1 no_systemd, 1 unreachable, 1 failed" in lines[0]
    row = [line for line in lines if line.strip().startswith("zf.service")][0]
    assert row.split()[1:5] == ["150", "0", "0", "0"]
    row = [line for line in lines if line.strip().startswith("leaky.service")][0]
    assert row.split()[1:5] == ["0", "2", "0", "0"]
    assert any(line.startswith("gone [unreachable]") for line in lines)
    assert any(line.startswith("broken [failed]") for line in lines)
    assert any(line.startswith("ci [no_systemd]") for line in lines)
    assert "zombies outside units (2), by parent:" in text
    capped = copy.deepcopy(report)
    capped["hosts"]["ci"]["totals"]["zombies_outside_units"] = 250
    assert "zombies outside units (250, 2 listed), by parent:" in rp.reaper_report_text(capped)
    assert "parent 1 python3: 2 zombie(s), pids 7001, 7002" in text
    assert "      remedy: r" in text
    assert lines[-1] == "report: /srv/out/report.html (also report.md, report.json)"


def test_text_summary_neutralizes_terminal_escapes():
    text = rp.reaper_report_text(rp.reaper_report(evil_fleet(), generated_at=NOW))
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\x1b[31m" in text


def test_text_summary_limits_large_fleets(fleet):
    big = dict(("web%03d" % i, fleet["healthy"]) for i in range(120))
    big["sick"] = fleet["sick"]
    text = rp.reaper_report_text(rp.reaper_report(big, generated_at=NOW), max_hosts=10)
    assert "sick [ok]" in text
    assert "120 more host(s) not shown" in text
    assert len(text.splitlines()) < 60


def test_report_path(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    assert rp.reaper_report_path("reaper-report") == str(tmp_path / "reaper-report")
    assert rp.reaper_report_path("out/../r") == str(tmp_path / "r")
    assert rp.reaper_report_path("/srv/reports/") == "/srv/reports"
    for bad in ("", "  ", None, ["x"]):
        with pytest.raises(AnsibleFilterError, match="reaper_report_dir"):
            rp.reaper_report_path(bad)


def test_filters_are_registered():
    names = set(rp.FilterModule().filters())
    assert names == {
        "reaper_host_result",
        "reaper_report",
        "reaper_report_compare",
        "reaper_report_merge",
        "reaper_report_summary",
        "reaper_report_reaches",
        "reaper_report_text",
        "reaper_report_json",
        "reaper_report_from_json",
        "reaper_report_markdown",
        "reaper_report_html",
        "reaper_report_path",
    }
