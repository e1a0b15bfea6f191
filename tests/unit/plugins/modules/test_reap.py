# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""reap as Ansible runs it: scope, check mode, the lock, and a real process cleaned up."""

import io
import json
import os
import subprocess
import sys
import threading

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.reaper.systemd.plugins.module_utils import journal as journal_mod
from ansible_collections.reaper.systemd.plugins.module_utils.cleanup_lock import CleanupLock
from ansible_collections.reaper.systemd.plugins.module_utils.proc_table import Process
from ansible_collections.reaper.systemd.plugins.modules import reap


class FakeTable:
    def __init__(self, processes):
        self.processes = processes


class FakeResult:
    def __init__(self, facts, processes):
        self.facts = facts
        self.table = FakeTable(processes)


def _unit(active="failed", leftovers=(), zombies=(), kill_mode="control-group"):
    return {
        "active_state": active,
        "main_pid": 0,
        "kill_mode": kill_mode,
        "invocation_id": "i" * 32,
        "zombies": list(zombies),
        "leftovers": list(leftovers),
        "survivors": [],
        "escaped": [],
        "counts": {"zombies": len(zombies), "leftovers": len(leftovers), "survivors": 0, "escaped": 0},
    }


def _stat(pid):
    with open("/proc/%d/stat" % pid) as handle:
        text = handle.read()
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[19])


class Host:
    """Scan results per call: the first is 'before', later ones 'after'."""

    def __init__(self, monkeypatch, tmp_path):
        self.results = []
        self.calls = []
        self.stream = io.StringIO()
        self.tmp_path = tmp_path
        monkeypatch.setattr(reap, "scan", self._scan)
        monkeypatch.setattr(
            reap, "Journal", lambda: journal_mod.Journal(socket_path=str(tmp_path / "no-journal"), stream=self.stream)
        )

    def _scan(self, options):
        self.calls.append(list(options.units))
        assert options.max_items >= 100000, "remediation must see every zombie"
        index = min(len(self.calls), len(self.results)) - 1
        return self.results[index]

    def args(self, **kw):
        kw.setdefault("lock_path", str(self.tmp_path / "run" / "lock"))
        kw.setdefault("state_path", str(self.tmp_path / "lib" / "state.json"))
        return kw


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            reap.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def host(monkeypatch, tmp_path):
    return Host(monkeypatch, tmp_path)


@pytest.fixture
def leftover():
    """A real process standing in for a left-over of a failed unit (own session, reaped by a thread)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()
    yield proc
    if proc.poll() is None:
        proc.kill()


def _leftover_result(pid, unit="leaky.service"):
    processes = {pid: Process(pid, 1, "S", "python3", 0, _stat(pid), pid, pid, False, 1, None)}
    facts = {
        "host": {},
        "units": {unit: _unit(leftovers=[{"pid": pid, "comm": "python3", "uid": 0, "age_s": 5}])},
        "unmatched": [],
    }
    return FakeResult(facts, processes)


EMPTY_AFTER = FakeResult({"host": {}, "units": {"leaky.service": _unit()}, "unmatched": []}, {})


def test_units_are_required(capsys, host):
    rc, result = run_module(capsys, host.args())
    assert rc == 1 and "units" in result["msg"]


def test_unknown_action_is_refused(capsys, host):
    rc, result = run_module(capsys, host.args(units=["x"], actions=["kill_all"]))
    assert rc == 1 and "actions" in result["msg"]


def test_empty_units_is_refused(capsys, host):
    rc, result = run_module(capsys, host.args(units=[]))
    assert rc == 1 and "at least one" in result["msg"]


def test_bad_pattern_is_refused(capsys, host):
    rc, result = run_module(capsys, host.args(units=["../x"]))
    assert rc == 1 and "Invalid option" in result["msg"]


def test_check_mode_returns_plan_and_changes_nothing(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid)]
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], _ansible_check_mode=True))
    assert rc == 0
    assert result["changed"] is False
    assert [(p["action"], p["pid"]) for p in result["plan"]] == [("kill_leftovers", leftover.pid)]
    assert result["actions"] == []
    assert leftover.poll() is None
    assert not os.path.exists(host.args()["lock_path"]), "check mode takes no lock"
    assert not os.path.exists(host.args()["state_path"])
    assert host.stream.getvalue() == "", "nothing is logged when nothing is done"


def test_real_leftover_is_killed_logged_and_rechecked(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid), EMPTY_AFTER]
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], grace=5))
    assert rc == 0, result
    assert result["changed"] is True
    action = result["actions"][0]
    assert action["result"] == "done"
    assert action["signals"] == ["SIGTERM"]
    assert action["after"] is None
    assert result["before"]["leaky.service"]["leftovers"] == 1
    assert result["after"]["leaky.service"]["leftovers"] == 0
    assert "kill left-over %d (python3) of leaky.service" % leftover.pid in host.stream.getvalue()
    state = json.load(open(host.args()["state_path"]))
    assert "leaky.service" in state["cooldowns"]
    # the lock file stays (never unlinked) and is free again
    assert os.path.exists(host.args()["lock_path"])
    CleanupLock(host.args()["lock_path"]).acquire().release()


def test_cooldown_from_previous_run_is_honoured(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid), EMPTY_AFTER]
    os.makedirs(str(host.tmp_path / "lib"))
    with open(host.args()["state_path"], "w") as handle:
        json.dump({"version": 1, "zombies": {}, "units": {}, "cooldowns": {"leaky.service": 4102444800}}, handle)
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"]))
    assert rc == 0 and result["changed"] is False
    assert "cool-down" in result["skipped_actions"][0]["reason"]
    assert leftover.poll() is None


def test_lock_held_fails_with_message(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid)]
    with CleanupLock(host.args()["lock_path"]):
        rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"]))
    assert rc == 1
    assert "A cleanup is already running" in result["msg"]
    assert leftover.poll() is None
    assert host.calls == [], "no scan while another cleanup runs"


def test_deny_list_applies_to_star(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid, unit="systemd-journald.service")]
    rc, result = run_module(capsys, host.args(units=["*"], actions=["kill_leftovers"]))
    assert rc == 0 and result["changed"] is False
    assert result["plan"] == []
    assert result["skipped_actions"][0]["reason"].startswith("denied: never ours: systemd-*")
    assert leftover.poll() is None


def test_out_of_scope_unit_untouched(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid, unit="decoy.service")]
    rc, result = run_module(capsys, host.args(units=["leaky"], actions=["kill_leftovers"]))
    assert rc == 0 and result["changed"] is False and result["plan"] == [] and result["skipped_actions"] == []
    assert leftover.poll() is None


def test_corrupt_state_means_no_action_a_failed_task_and_the_file_untouched(capsys, host, leftover, monkeypatch):
    warned = []
    monkeypatch.setattr(reap.AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    host.results = [_leftover_result(leftover.pid), EMPTY_AFTER]
    os.makedirs(str(host.tmp_path / "lib"))
    with open(host.args()["state_path"], "w") as handle:
        handle.write("{not json")
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], grace=5))
    assert rc == 1
    assert "no action was taken" in result["msg"]
    assert result["state_problem"] == "corrupt"
    assert result["actions"] == [] and result["changed"] is False
    assert [(p["action"], p["pid"]) for p in result["plan"]] == [("kill_leftovers", leftover.pid)]
    assert leftover.poll() is None
    assert any("corrupt" in w for w in warned), warned
    assert open(host.args()["state_path"]).read() == "{not json", "never saved over"


def test_restart_refused_under_killmode_process(capsys, host):
    zombies = [
        {"pid": 9000 + i, "ppid": 50, "parent_comm": "x", "parent_is_main": True, "age_s": 600} for i in range(3)
    ]
    facts = {"host": {}, "units": {"old.service": _unit(active="active", zombies=zombies, kill_mode="process")}}
    host.results = [FakeResult(facts, {})]
    rc, result = run_module(capsys, host.args(units=["old"], actions=["restart_unit"], min_zombie_age=0))
    assert rc == 0 and result["changed"] is False
    assert "harden first" in result["skipped_actions"][0]["reason"]


def _zombie_result(pids, unit="factory.service"):
    zombies = [{"pid": p, "ppid": 50, "parent_comm": "f", "parent_is_main": True, "age_s": 90000} for p in pids]
    facts = {"host": {}, "units": {unit: _unit(active="active", zombies=zombies)}, "unmatched": []}
    return FakeResult(facts, {})


def test_a_zombie_seen_for_the_first_time_triggers_nothing_and_is_recorded(capsys, host):
    host.results = [_zombie_result([9001])]
    rc, result = run_module(capsys, host.args(units=["factory"], actions=["restart_unit"], min_zombie_age=60))
    assert rc == 0 and result["plan"] == [] and result["changed"] is False
    state = json.load(open(host.args()["state_path"]))
    assert list(state["zombies"]) == ["9001:?"], "reap records the sighting for the next run"


def test_zombie_wait_takes_a_second_look_and_acts_in_one_run(capsys, host, monkeypatch):
    slept = []
    monkeypatch.setattr(reap.time, "sleep", slept.append)
    clock = [1_800_000_000.0]

    def fake_time():
        return clock[0]

    monkeypatch.setattr(reap.time, "time", fake_time)
    monkeypatch.setattr(reap.time, "sleep", lambda s: slept.append(s) or clock.__setitem__(0, clock[0] + s))
    # the second look: 9001 is still a zombie (a factory), 9002 was reaped meanwhile (transient)
    host.results = [_zombie_result([9001, 9002]), _zombie_result([9001])]
    args = host.args(units=["factory"], actions=["restart_unit"], min_zombie_age=60, zombie_wait=120)
    rc, result = run_module(capsys, dict(args, _ansible_check_mode=True))
    assert rc == 0
    assert slept == [60.0] and result["second_look_s"] == 60.0
    assert [(p["action"], p["unit"]) for p in result["plan"]] == [("restart_unit", "factory.service")]
    assert result["plan"][0]["evidence"]["zombie_pids"] == [9001]


def test_a_failed_restart_fails_the_task_with_the_full_result(capsys, host, monkeypatch):
    def systemctl(argv, **kw):
        if argv[1] == "show":
            return subprocess.CompletedProcess(argv, 0, "i" * 32 + "\n", "")
        return subprocess.CompletedProcess(argv, 1, "", "Job for factory.service failed")

    monkeypatch.setattr(reap.remediation_executor.subprocess, "run", systemctl)
    host.results = [_zombie_result([9001])]
    rc, result = run_module(capsys, host.args(units=["factory"], actions=["restart_unit"], min_zombie_age=0))
    assert rc == 1
    assert result["failed"] is True
    assert "1 action(s) failed or timed out" in result["msg"]
    assert result["actions"][0]["result"] == "failed"
    assert "Job for factory.service failed" in result["actions"][0]["message"]


def test_paused_option_and_pause_file_plan_only(capsys, host, leftover):
    host.results = [_leftover_result(leftover.pid)]
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], paused=True))
    assert rc == 0 and result["paused"] is True and result["actions"] == [] and len(result["plan"]) == 1
    assert leftover.poll() is None
    pause = host.tmp_path / "paused"
    pause.write_text("")
    host.calls = []
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], pause_path=str(pause)))
    assert rc == 0 and result["paused"] is True and result["actions"] == []
    assert leftover.poll() is None


def test_no_action_when_the_state_cannot_be_saved_first(capsys, host, leftover, monkeypatch):
    def full(state, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reap.cleanup_state, "save", full)
    host.results = [_leftover_result(leftover.pid), EMPTY_AFTER]
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], grace=1))
    assert rc == 1
    assert "could not be saved before an action" in result["msg"]
    assert result["actions"] == []
    assert leftover.poll() is None


def test_unpark_option_lets_the_cleanup_act_again(capsys, host, leftover):
    os.makedirs(str(host.tmp_path / "lib"))
    with open(host.args()["state_path"], "w") as handle:
        json.dump(
            {
                "version": 2,
                "zombies": {},
                "units": {"leaky.service": {"last_seen": 1, "ineffective": 3, "parked": {"since": 1, "reason": "x"}}},
                "cooldowns": {},
                "counters": {},
                "actions": [],
            },
            handle,
        )
    host.results = [_leftover_result(leftover.pid)]
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], _ansible_check_mode=True))
    assert result["plan"] == [] and result["skipped_actions"][0]["reason"].startswith("parked since")
    assert result["parked"] == ["leaky.service"]
    host.results = [_leftover_result(leftover.pid), EMPTY_AFTER]
    host.calls = []
    rc, result = run_module(capsys, host.args(units=["leaky*"], actions=["kill_leftovers"], grace=5, unpark=["leaky"]))
    assert rc == 0, result
    assert result["unparked"] == ["leaky.service"] and result["parked"] == []
    assert result["actions"][0]["result"] == "done"


def test_a_pause_file_that_cannot_be_checked_pauses_the_run(capsys, host, leftover, monkeypatch):
    warned = []
    monkeypatch.setattr(reap.AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    loop = host.tmp_path / "loop"
    loop.symlink_to(loop)
    host.results = [_leftover_result(leftover.pid)]
    args = host.args(units=["leaky*"], actions=["kill_leftovers"], pause_path=str(loop / "paused"))
    rc, result = run_module(capsys, args)
    assert rc == 0 and result["paused"] is True and result["actions"] == [] and len(result["plan"]) == 1
    assert leftover.poll() is None
    assert any("paused to be safe" in w for w in warned), warned
