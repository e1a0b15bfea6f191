# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timer's command: config, lock, dry-run, a real clean-up, state and metrics."""

import io
import json
import os
import subprocess
import sys
import threading

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_command as cc
from ansible_collections.reaper.systemd.plugins.module_utils.cleanup_lock import CleanupLock
from ansible_collections.reaper.systemd.plugins.module_utils.journal import MESSAGE_IDS, Journal
from ansible_collections.reaper.systemd.plugins.module_utils.proc_table import Process


class FakeTable:
    def __init__(self, processes):
        self.processes = processes


class FakeResult:
    def __init__(self, facts, processes=None):
        self.facts = facts
        self.table = FakeTable(processes or {})


def _unit(leftovers=()):
    return {
        "active_state": "failed",
        "main_pid": 0,
        "kill_mode": "process",
        "zombies": [],
        "leftovers": list(leftovers),
        "survivors": [],
        "escaped": [],
        "counts": {"zombies": 0, "leftovers": len(leftovers), "survivors": 0, "escaped": 0},
    }


def _starttime(pid):
    with open("/proc/%d/stat" % pid) as handle:
        text = handle.read()
    return int(text[text.rindex(")") + 2 :].split()[19])


class Scanner:
    def __init__(self, results):
        self.results = results
        self.calls = 0

    def __call__(self, units):
        self.calls += 1
        return self.results[min(self.calls, len(self.results)) - 1]


@pytest.fixture
def env(tmp_path):
    paths = {
        "state_path": str(tmp_path / "lib" / "state.json"),
        "lock_path": str(tmp_path / "run" / "lock"),
        "textfile_dir": str(tmp_path / "textfile"),
    }
    os.makedirs(paths["textfile_dir"])

    def write_config(**policy):
        policy.setdefault("units", ["leaky*"])
        policy.update(paths)
        path = tmp_path / "cleanup.json"
        path.write_text(json.dumps(policy))
        return str(path)

    journal = Journal(socket_path=str(tmp_path / "no-journal"), stream=io.StringIO())
    return paths, write_config, journal


@pytest.fixture
def leftover():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()
    yield proc
    if proc.poll() is None:
        proc.kill()


def _before(pid):
    processes = {pid: Process(pid, 1, "S", "python3", 0, _starttime(pid), pid, pid, False, 1, None)}
    facts = {
        "host": {"zombies": 0, "pid_usage": 0.01, "zombies_outside_units": []},
        "units": {"leaky.service": _unit([{"pid": pid, "comm": "python3", "uid": 0, "age_s": 3}])},
    }
    return FakeResult(facts, processes)


AFTER = FakeResult({"host": {"zombies": 0, "pid_usage": 0.01}, "units": {"leaky.service": _unit()}})


@pytest.mark.parametrize(
    "content, match",
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"actions": []}', "units is required"),
        ('{"units": ["x"], "actions": ["explode"]}', "unknown action"),
        ('{"units": ["x"], "typo": 1}', "unknown policy keys: typo"),
    ],
)
def test_config_errors_exit_2(tmp_path, capsys, content, match):
    path = tmp_path / "cleanup.json"
    path.write_text(content)
    assert cc.main(["--config", str(path)], journal=Journal(stream=io.StringIO(), enabled=False)) == 2
    assert match in capsys.readouterr().err


def test_check_config(env, capsys):
    paths, write_config, journal = env
    assert cc.main(["--config", write_config(actions=["restart_unit"]), "--check-config"], journal=journal) == 0
    assert "is valid" in capsys.readouterr().out
    assert journal.sent == []


def test_missing_config_exit_2(tmp_path, capsys):
    assert cc.main(["--config", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_lock_held_skips_and_exits_0(env, leftover, capsys):
    paths, write_config, journal = env
    scanner = Scanner([_before(leftover.pid)])
    with CleanupLock(paths["lock_path"]):
        rc = cc.main(["--config", write_config(actions=["kill_leftovers"])], journal=journal, scanner=scanner)
    assert rc == 0
    assert scanner.calls == 0
    assert journal.sent[-1]["MESSAGE"] == "skipped: locked"
    assert journal.sent[-1]["MESSAGE_ID"] == MESSAGE_IDS["skipped_locked"]
    assert "skipped: locked" in capsys.readouterr().out
    assert leftover.poll() is None


def test_dry_run_changes_nothing(env, leftover, capsys):
    paths, write_config, journal = env
    scanner = Scanner([_before(leftover.pid)])
    rc = cc.main(["--config", write_config(actions=["kill_leftovers"], dry_run=True)], journal=journal, scanner=scanner)
    assert rc == 0
    assert leftover.poll() is None
    assert scanner.calls == 1
    out = capsys.readouterr().out
    assert "dry-run: 1 action(s) planned" in out
    assert "would kill left-over %d" % leftover.pid in out
    assert [e["REAPER_ACTION"] for e in journal.sent] == ["run_summary"]
    state = json.load(open(paths["state_path"]))
    assert state["counters"] == {"kill_leftovers|planned": 1}
    assert state["cooldowns"] == {}
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert 'reaper_unit_leftovers{unit="leaky.service"} 1' in metrics


def test_dry_run_flag_overrides_policy(env, leftover):
    paths, write_config, journal = env
    rc = cc.main(
        ["--config", write_config(actions=["kill_leftovers"]), "--dry-run"],
        journal=journal,
        scanner=Scanner([_before(leftover.pid)]),
    )
    assert rc == 0 and leftover.poll() is None


def test_default_actions_report_only(env, leftover):
    paths, write_config, journal = env
    rc = cc.main(["--config", write_config()], journal=journal, scanner=Scanner([_before(leftover.pid)]))
    assert rc == 0 and leftover.poll() is None
    assert os.path.exists(os.path.join(paths["textfile_dir"], "reaper_systemd.prom"))


def test_real_run_then_second_run_does_nothing(env, leftover, capsys):
    paths, write_config, journal = env
    config = write_config(actions=["kill_leftovers"], grace=5, cooldown=0)
    rc = cc.main(["--config", config, "--json"], journal=journal, scanner=Scanner([_before(leftover.pid), AFTER]))
    assert rc == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["actions"][0]["result"] == "done"
    assert result["before"]["leaky.service"]["leftovers"] == 1
    assert result["after"]["leaky.service"]["leftovers"] == 0
    kinds = [e["REAPER_ACTION"] for e in journal.sent]
    assert kinds == ["kill_leftovers", "run_summary"], "the action is logged before the summary"
    assert journal.sent[0]["OBJECT_PID"] == leftover.pid
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert 'reaper_actions_total{action="kill_leftovers",result="done"} 1' in metrics
    assert 'reaper_unit_leftovers{unit="leaky.service"} 0' in metrics
    assert "reaper_last_run_timestamp_seconds " in metrics

    journal.sent[:] = []
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([AFTER]))
    assert rc == 0
    assert [e["REAPER_ACTION"] for e in journal.sent] == ["run_summary"]
    assert "0 action(s) taken (nothing to do)" in journal.sent[0]["MESSAGE"]
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert 'reaper_actions_total{action="kill_leftovers",result="done"} 1' in metrics, "counters persist"


def test_corrupt_state_means_no_action_exit_3_and_file_kept(env, leftover, capsys):
    paths, write_config, journal = env
    os.makedirs(os.path.dirname(paths["state_path"]))
    with open(paths["state_path"], "w") as handle:
        handle.write("garbage")
    rc = cc.main(
        ["--config", write_config(actions=["kill_leftovers"])],
        journal=journal,
        scanner=Scanner([_before(leftover.pid)]),
    )
    assert rc == 3
    assert "corrupt" in capsys.readouterr().err
    assert leftover.poll() is None, "no action without trustworthy cool-downs"
    with open(paths["state_path"]) as handle:
        assert handle.read() == "garbage", "the state file is never saved over"
