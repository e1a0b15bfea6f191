"""reaper.systemd.audit end to end on this machine, with real ansible-playbook runs.

The inventory has three hosts: this machine (local connection; its zombies are made by the test),
one that cannot be reached (ssh to a closed port on the loopback address) and one whose scan fails
(no Python where the inventory says it is). The run must not abort for the last two; each host is in
report.json with its status, and report.md and report.html name every host. The report goes to
reaper-report/ under the directory ansible-playbook runs from. reaper_fail_on gates the exit code.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import COLLECTIONS, REPO, assert_valid_report

PLAYBOOK = os.path.join(REPO, "playbooks", "audit.yml")
ZOMBIES = 3

MAKER = (
    """
import os, sys, time
pids = []
for _ in range(%d):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    pids.append(pid)
sys.stdout.write(" ".join(map(str, pids)) + "\\n")
sys.stdout.flush()
# until the fixture ends it (the module's audit runs take as long as the machine makes them),
# or the test run that started it is gone
parent = os.getppid()
while os.getppid() == parent:
    time.sleep(1)
"""
    % ZOMBIES
)


def _ansible_playbook():
    path = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.access(path, os.X_OK):
        pytest.fail(
            "ansible-playbook is not beside %s: run the tests from the venv (make report-test)" % sys.executable
        )
    return path


@pytest.fixture(scope="module")
def zombie_maker():
    proc = subprocess.Popen([sys.executable, "-c", MAKER], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    deadline = time.time() + 60
    while time.time() < deadline:
        states = []
        for pid in pids:
            with open("/proc/%d/stat" % pid) as handle:
                states.append(handle.read().rsplit(")", 1)[1].split()[0])
        if states == ["Z"] * ZOMBIES:
            break
        time.sleep(0.05)
    assert states == ["Z"] * ZOMBIES
    yield proc.pid, pids
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit")
    inventory = path / "inventory.ini"
    inventory.write_text(
        "[fleet]\n"
        "this-machine ansible_connection=local ansible_python_interpreter=%s\n"
        "down-host ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh "
        "ansible_ssh_common_args='-o ConnectTimeout=5 -o StrictHostKeyChecking=no -o BatchMode=yes'\n"
        "broken-host ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n" % sys.executable
    )
    return path


def run_audit(workdir, *extra, playbook=PLAYBOOK, inventory="inventory.ini", env_extra=None):
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
        [COLLECTIONS] + [p for p in [env.get("ANSIBLE_COLLECTIONS_PATH")] if p]
    )
    # a program that starts ansible-playbook in a directory leaves $PWD as it was: not where it runs
    env["PWD"] = REPO
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env.update(env_extra or {})
    cmd = [
        _ansible_playbook(),
        "-i",
        str(workdir / inventory),
        playbook,
        "-e",
        "reaper_min_zombie_age=0",
        "-e",
        "reaper_max_items=100000",
    ]
    cmd += list(extra)
    return subprocess.run(
        cmd,
        cwd=str(workdir),
        env=env,
        stdout=subprocess.PIPE,
        # apart from stdout: the tests read the playbook's output, never a dependency's warnings
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def audit(workdir, zombie_maker):
    result = run_audit(workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(str(workdir / "reaper-report" / "report.json")) as handle:
        report = json.load(handle)
    assert_valid_report(report)
    return result, report


def test_every_host_is_in_the_report_with_its_status(audit):
    _result, report = audit
    hosts = report["hosts"]
    assert set(hosts) == {"this-machine", "down-host", "broken-host"}
    expected = "ok" if os.path.isdir("/run/systemd/system") else "no_systemd"
    assert hosts["this-machine"]["status"] == expected
    assert hosts["down-host"]["status"] == "unreachable"
    assert hosts["down-host"]["message"]
    assert hosts["broken-host"]["status"] == "failed"
    assert "nonexistent" in hosts["broken-host"]["message"] or hosts["broken-host"]["message"]
    assert report["schema_version"] == "1.2"
    assert report["totals"]["status"][expected] == 1
    assert report["totals"]["status"]["unreachable"] == 1 and report["totals"]["status"]["failed"] == 1


def test_the_zombies_the_test_made_are_reported_with_their_parent(audit, zombie_maker):
    _result, report = audit
    parent, pids = zombie_maker
    me = report["hosts"]["this-machine"]
    listed = dict((z["pid"], z) for z in me["zombies_outside_units"])
    for unit in me["units"].values():
        listed.update((z["pid"], z) for z in unit["zombies"])
    for pid in pids:
        assert pid in listed, (pid, sorted(listed))
        assert listed[pid]["ppid"] == parent
    assert me["totals"]["zombies"] >= ZOMBIES
    assert report["totals"]["zombies"] == me["totals"]["zombies"]
    codes = [(f["code"], f["severity"]) for f in me["findings"]]
    assert ("zombies", "warning") in codes or ("zombies", "critical") in codes


def test_markdown_and_html_name_every_host(audit, workdir):
    _result, report = audit
    md = (workdir / "reaper-report" / "report.md").read_text()
    page = (workdir / "reaper-report" / "report.html").read_text()
    for host in report["hosts"]:
        assert "| %s |" % host.replace("-", "-") in md, host
        assert ">%s<" % host in page, host
    assert page.startswith("<!DOCTYPE html>")


def test_summary_is_printed_per_unit_with_the_report_path(audit, workdir, zombie_maker):
    result, _report = audit
    out = result.stdout
    assert "this-machine [" in out
    assert "down-host [unreachable]" in out
    assert "broken-host [failed]" in out
    assert "zombies outside units (" in out and "zombie(s), pids" in out
    assert "report: %s/reaper-report/report.html" % workdir in out
    # the unreachable and failed hosts did not abort the run
    assert "failed=0" in out.split("PLAY RECAP", 1)[1]


def test_fail_on_gates_the_exit_code(workdir, zombie_maker):
    failing = run_audit(workdir, "-e", "reaper_fail_on=warning", "-e", "reaper_report_dir=gate")
    assert failing.returncode != 0, failing.stdout + failing.stderr
    assert "Findings reach reaper_fail_on=warning" in failing.stdout
    # the report is still written, relative paths are under the working directory
    with open(str(workdir / "gate" / "report.json")) as handle:
        assert_valid_report(json.load(handle))
    passing = run_audit(workdir, "-e", "reaper_fail_on=critical", "-e", "reaper_report_dir=gate")
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_bad_fail_on_is_refused_before_scanning(workdir):
    result = run_audit(workdir, "-e", "reaper_fail_on=sometimes", "-e", "reaper_report_dir=bad")
    assert result.returncode != 0
    assert "reaper_fail_on must be none, info, warning or critical" in result.stdout
    assert not (workdir / "bad").exists()


def test_check_mode_still_writes_the_report(workdir, zombie_maker):
    result = run_audit(workdir, "--check", "-e", "reaper_report_dir=%s" % (workdir / "checked"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (workdir / "checked" / "report.html").is_file()
    with open(str(workdir / "checked" / "report.json")) as handle:
        assert_valid_report(json.load(handle))


def test_summary_is_published_with_set_stats(workdir, zombie_maker):
    result = run_audit(workdir, "-e", "reaper_report_dir=stats", env_extra={"ANSIBLE_SHOW_CUSTOM_STATS": "True"})
    assert result.returncode == 0, result.stdout + result.stderr
    stats = result.stdout.split("CUSTOM STATS:", 1)[1]
    summary = json.loads(stats[stats.index("{") : stats.rindex("}") + 1])["reaper_audit_summary"]
    assert summary["hosts"] == 3
    assert summary["status"]["unreachable"] == 1 and summary["status"]["failed"] == 1
    assert summary["hosts_not_audited"] == ["broken-host", "down-host"]
    assert summary["zombies"] >= ZOMBIES
    assert summary["report_dir"] == str(workdir / "stats")


def test_plays_that_follow_read_the_report_and_the_host_results(workdir, zombie_maker):
    # docs/fleet.md: hostvars['localhost']['reaper_audit_report'] holds the report dict (the same as
    # report.json) and each audited host keeps reaper_audit, for plays that follow in the same run
    playbook = workdir / "audit_then_read.yml"
    playbook.write_text(
        "- ansible.builtin.import_playbook: reaper.systemd.audit\n"
        "- hosts: this-machine\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.copy:\n"
        "        content: \"{{ {'report': hostvars['localhost']['reaper_audit_report'],\n"
        "                      'status': reaper_audit.status,\n"
        "                      'zombies': reaper_audit.facts.host.zombies} | to_json }}\"\n"
        "        dest: \"{{ playbook_dir }}/followers.json\"\n"
        "        mode: '0644'\n"
    )
    result = run_audit(workdir, "-e", "reaper_report_dir=followers", playbook=str(playbook))
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads((workdir / "followers.json").read_text())
    written = json.loads((workdir / "followers" / "report.json").read_text())
    assert seen["report"] == written
    assert seen["status"] == written["hosts"]["this-machine"]["status"]
    assert seen["zombies"] >= ZOMBIES


def test_report_is_never_written_inside_the_collection(audit):
    # runs last: every run above used relative report directories
    assert not os.path.exists(os.path.join(REPO, "playbooks", "reaper-report"))
    # playbooks/vars/ holds the collection's own vars file (audit_report.yml loads it)
    assert [n for n in os.listdir(os.path.join(REPO, "playbooks")) if not n.endswith(".yml") and n != "vars"] == []
    assert os.listdir(os.path.join(REPO, "playbooks", "vars")) == ["audit_report.yml"]
