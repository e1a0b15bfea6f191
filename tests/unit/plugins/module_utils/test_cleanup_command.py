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


def test_symlinked_lock_refused_with_exit_2_and_target_untouched(env, leftover, capsys, tmp_path):
    paths, write_config, journal = env
    victim = tmp_path / "victim"
    victim.write_text("someone else's\n")
    os.makedirs(os.path.dirname(paths["lock_path"]))
    os.symlink(str(victim), paths["lock_path"])
    scanner = Scanner([_before(leftover.pid)])
    rc = cc.main(["--config", write_config(actions=["kill_leftovers"])], journal=journal, scanner=scanner)
    assert rc == 2
    assert scanner.calls == 0
    assert victim.read_text() == "someone else's\n"
    err = capsys.readouterr().err
    assert "symlink" in err and paths["lock_path"] in err
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


def test_corrupt_state_means_no_action_exit_3_and_the_file_untouched(env, leftover, capsys):
    paths, write_config, journal = env
    os.makedirs(os.path.dirname(paths["state_path"]))
    with open(paths["state_path"], "w") as handle:
        handle.write("garbage")
    rc = cc.main(
        ["--config", write_config(actions=["kill_leftovers"], grace=1)],
        journal=journal,
        scanner=Scanner([_before(leftover.pid)]),
    )
    assert rc == 3
    assert leftover.poll() is None, "no action with an unusable state"
    assert "corrupt" in capsys.readouterr().err
    assert open(paths["state_path"]).read() == "garbage", "never saved over"
    problem = [e for e in journal.sent if e["REAPER_ACTION"] == "state_problem"]
    assert problem and problem[0]["PRIORITY"] == 4 and problem[0]["MESSAGE_ID"] == MESSAGE_IDS["state_problem"]
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert 'reaper_state_problem{kind="corrupt"} 1' in metrics
    assert 'reaper_state_problem{kind="newer"} 0' in metrics


@pytest.mark.parametrize("entry", [{"parked": "true"}, {"ineffective": "9"}])
def test_a_wrong_type_inside_the_state_means_no_action_not_an_ignored_brake(env, leftover, capsys, entry):
    # before: the field was ignored as if absent, so a parked unit was acted on
    paths, write_config, journal = env
    os.makedirs(os.path.dirname(paths["state_path"]))
    text = json.dumps(
        {
            "version": 2,
            "zombies": {},
            "units": {"leaky.service": entry},
            "cooldowns": {},
            "counters": {},
            "actions": [],
        }
    )
    with open(paths["state_path"], "w") as handle:
        handle.write(text)
    rc = cc.main(
        ["--config", write_config(actions=["kill_leftovers"], grace=1)],
        journal=journal,
        scanner=Scanner([_before(leftover.pid)]),
    )
    assert rc == 3
    assert leftover.poll() is None, "no action with a corrupt state"
    err = capsys.readouterr().err
    assert "corrupt" in err and "units['leaky.service'].%s is a str" % list(entry)[0] in err
    assert open(paths["state_path"]).read() == text, "never saved over"


def _zombie_unit(pids):
    unit = _unit()
    unit.update(
        active_state="active",
        kill_mode="control-group",
        main_pid=50,
        invocation_id="i" * 32,
        zombies=[{"pid": p, "ppid": 50, "parent_is_main": True, "age_s": 90000} for p in pids],
    )
    unit["counts"]["zombies"] = len(pids)
    return unit


def _zombie_scan(pids):
    return FakeResult(
        {"host": {"zombies": len(pids), "pid_usage": 0.01}, "units": {"leaky.service": _zombie_unit(pids)}}
    )


class Clock:
    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


def test_zombies_count_from_when_the_timer_first_saw_them(env, capsys):
    """A zombie of an old process seen for the first time is new; the run 90 s later acts on it."""
    paths, write_config, journal = env
    config = write_config(actions=["restart_unit"], min_zombie_age=60, dry_run=True)
    clock = Clock(1_800_000_000.0)
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([_zombie_scan([201])]), now=clock) == 0
    assert "would restart" not in capsys.readouterr().out
    state = json.load(open(paths["state_path"]))
    assert [z["first_seen"] for z in state["zombies"].values()] == [1_800_000_000.0]
    clock.at += 90
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([_zombie_scan([201])]), now=clock) == 0
    assert "would restart leaky.service" in capsys.readouterr().out


def test_pause_file_makes_the_run_plan_only(env, leftover, capsys, tmp_path):
    paths, write_config, journal = env
    pause = tmp_path / "paused"
    pause.write_text("")
    config = write_config(actions=["kill_leftovers"], grace=1, pause_path=str(pause))
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([_before(leftover.pid)]))
    assert rc == 0
    assert leftover.poll() is None
    assert "paused: 1 action(s) planned" in capsys.readouterr().out
    assert journal.sent[0]["MESSAGE_ID"] == MESSAGE_IDS["paused"]
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert "reaper_paused 1" in metrics


def test_state_not_saved_before_the_action_means_no_action_and_exit_4(env, leftover, capsys, monkeypatch):
    paths, write_config, journal = env
    config = write_config(actions=["kill_leftovers"], grace=1)

    def full(state, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cc.cleanup_state, "save", full)
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([_before(leftover.pid)]))
    assert rc == 4
    assert leftover.poll() is None, "the process was not signalled"
    err = capsys.readouterr().err
    assert "state not saved before an action" in err and "No space left" in err
    assert "kill_leftovers" not in [e["REAPER_ACTION"] for e in journal.sent]


def _restart_fails(argv, stdout=None, stderr=None, env=None, timeout=None, universal_newlines=None, check=None):
    """systemctl for a unit that is active and whose restart job fails."""
    out = "InvocationID=%s\nActiveState=active\n" % ("i" * 32) if argv[1] == "show" else ""
    return subprocess.CompletedProcess(argv, 0 if argv[1] == "show" else 1, out, "Job failed")


def test_failed_action_exits_1(env, monkeypatch):
    paths, write_config, journal = env
    config = write_config(actions=["restart_unit"], min_zombie_age=0, action_timeout=5)
    monkeypatch.setattr(cc.remediation_executor.subprocess, "run", _restart_fails)
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([_zombie_scan([201]), _zombie_scan([201])]))
    assert rc == 1


def _parked_state(paths, *units):
    os.makedirs(os.path.dirname(paths["state_path"]), exist_ok=True)
    state = {
        "version": 2,
        "zombies": {},
        "units": dict(
            (u, {"last_seen": 1_800_000_000.0, "ineffective": 3, "parked": {"since": 1, "reason": "x"}}) for u in units
        ),
        "cooldowns": {},
        "counters": {},
        "actions": [],
    }
    with open(paths["state_path"], "w") as handle:
        json.dump(state, handle)


def test_parked_unit_is_left_alone_until_unparked(env, leftover, capsys):
    paths, write_config, journal = env
    _parked_state(paths, "leaky.service", "other.service")
    config = write_config(actions=["kill_leftovers"], grace=1)
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([_before(leftover.pid)])) == 0
    assert leftover.poll() is None
    assert "parked since" in capsys.readouterr().out
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert "reaper_units_parked 2" in metrics
    assert "reaper_actions_budget_remaining " in metrics

    assert cc.main(["--config", config, "--unpark", "leaky"], journal=journal) == 0
    assert "unparked leaky.service" in capsys.readouterr().out
    assert journal.sent[-1]["MESSAGE_ID"] == MESSAGE_IDS["unparked"]
    units = json.load(open(paths["state_path"]))["units"]
    assert "parked" not in units["leaky.service"] and "parked" in units["other.service"]
    assert cc.main(["--config", config, "--unpark-all"], journal=journal) == 0
    assert "parked" not in json.load(open(paths["state_path"]))["units"]["other.service"]


def test_unpark_refuses_an_unusable_state(env, capsys):
    paths, write_config, journal = env
    os.makedirs(os.path.dirname(paths["state_path"]))
    with open(paths["state_path"], "w") as handle:
        handle.write("{")
    assert cc.main(["--config", write_config(), "--unpark-all"], journal=journal) == 3
    assert open(paths["state_path"]).read() == "{"


@pytest.mark.parametrize("bad", ["-x.service", "a*", "../etc"])
def test_unpark_refuses_a_bad_unit_name(env, capsys, bad):
    paths, write_config, journal = env
    assert cc.main(["--config", write_config(), "--unpark=%s" % bad], journal=journal) == 2
    assert "--unpark" in capsys.readouterr().err
    assert not os.path.exists(paths["state_path"])


def test_check_deployment_names_the_role_variable(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"units": ["app"], "actions": ["restart_unit"], "paused": True}))
    assert cc.main(["--check-deployment", str(good)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"units": ["app"], "max_actions": -1}))
    assert cc.main(["--check-deployment", str(bad)]) == 2
    assert "cleanup_timer_max_actions" in capsys.readouterr().err


def test_metrics_carry_the_host_label_and_the_brakes(env, leftover):
    paths, write_config, journal = env
    config = write_config(actions=["kill_leftovers"], dry_run=True, host_label="web-1", max_actions_per_hour=7)
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([_before(leftover.pid)])) == 0
    metrics = open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read()
    assert 'reaper_paused{host="web-1"} 0' in metrics
    assert 'reaper_units_parked{host="web-1"} 0' in metrics
    assert 'reaper_actions_budget_remaining{host="web-1"} 7' in metrics
    assert 'reaper_state_problem{host="web-1",kind="corrupt"} 0' in metrics
    assert 'reaper_unit_leftovers{host="web-1",unit="leaky.service"} 1' in metrics


def _metrics(paths):
    return open(os.path.join(paths["textfile_dir"], "reaper_systemd.prom")).read().splitlines()


def test_metrics_export_the_timer_interval_given_in_the_config(env):
    paths, write_config, journal = env
    config = write_config(timer_interval="15min", host_label="web-1")
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([AFTER])) == 0
    assert 'reaper_timer_interval_seconds{host="web-1"} 900.0' in _metrics(paths)


def test_bad_timer_interval_is_refused_naming_it(env, capsys):
    paths, write_config, journal = env
    assert cc.main(["--config", write_config(timer_interval="15 minutes please")], journal=journal) == 2
    assert "timer_interval" in capsys.readouterr().err


def test_a_fixed_unit_reports_0_for_an_hour_then_its_series_go(env):
    """Per-unit series only for units with something to report, and for an hour after that."""
    paths, write_config, journal = env
    config = write_config(units=["*"])
    clean = {"host": {"zombies": 0, "pid_usage": 0.01}, "units": {"leaky.service": _unit(), "quiet.service": _unit()}}
    leaking = {
        "host": {"zombies": 0, "pid_usage": 0.01},
        "units": {"leaky.service": _unit([{"pid": 4242, "comm": "x", "uid": 0, "age_s": 9}]), "quiet.service": _unit()},
    }
    clock = Clock(1_800_000_000.0)
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([FakeResult(leaking)]), now=clock) == 0
    metrics = _metrics(paths)
    assert 'reaper_unit_leftovers{unit="leaky.service"} 1' in metrics
    assert not [line for line in metrics if "quiet.service" in line], "nothing to report: host totals only"
    clock.at += 3000
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([FakeResult(clean)]), now=clock) == 0
    assert 'reaper_unit_leftovers{unit="leaky.service"} 0' in _metrics(paths)
    clock.at += 900
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([FakeResult(clean)]), now=clock) == 0
    metrics = _metrics(paths)
    assert not [line for line in metrics if "leaky.service" in line], "an hour after the last leak the series go"
    assert "reaper_host_zombies 0" in metrics


FORGED = "x\nreaper-cleanup[1]: all clear\x1b[2K\r\u202egnp.exe\x00"


def _hostile_before(pid):
    before = _before(pid)
    before.table.processes[pid].comm = FORGED
    before.facts["units"]["leaky.service"]["leftovers"][0]["comm"] = FORGED
    return before


def _physical_lines(text):
    return text.split("\n")[:-1] if text else []


def test_a_hostile_process_name_stays_on_its_line(env, leftover, capsys):
    """A comm with a newline, CR, ANSI, bidi and NUL cannot forge a separate journal line."""
    paths, write_config, journal = env
    config = write_config(actions=["kill_leftovers"], dry_run=True)
    assert cc.main(["--config", config], journal=journal, scanner=Scanner([_hostile_before(leftover.pid)])) == 0
    out = capsys.readouterr().out
    would = [line for line in _physical_lines(out) if "would kill left-over" in line]
    assert len(would) == 1
    assert "x\\x0areaper-cleanup[1]: all clear\\x1b[2K\\x0d\\u202egnp.exe\\x00" in would[0]
    for line in _physical_lines(out) + _physical_lines(journal.stream.getvalue()):
        assert line.isprintable(), repr(line)
        assert not line.startswith("reaper-cleanup[1]")


def test_a_hostile_error_text_stays_on_its_line(env, capsys, monkeypatch):
    """Error texts (here a state path's OSError) are escaped on stderr and in the journal too."""
    paths, write_config, journal = env
    config = write_config()

    def broken(state, path):
        raise OSError(5, "I/O error\nreaper-cleanup[1]: forged \x1b[31m")

    monkeypatch.setattr(cc.cleanup_state, "save", broken)
    cc.main(["--config", config], journal=journal, scanner=Scanner([AFTER]))
    err = capsys.readouterr().err
    assert "I/O error\\x0areaper-cleanup[1]: forged \\x1b[31m" in err
    for line in _physical_lines(err) + _physical_lines(journal.stream.getvalue()):
        assert line.isprintable(), repr(line)
    for entry in journal.sent:
        assert entry["MESSAGE"].isprintable()


def test_a_metrics_write_failure_fails_the_run_after_logging_the_actions(env, leftover, capsys):
    """A stale .prom must not go unnoticed: error entry, exit 5; the actions taken are still logged."""
    paths, write_config, journal = env
    config = write_config(actions=["kill_leftovers"], grace=5, cooldown=0)
    os.rmdir(paths["textfile_dir"])  # gone: the write fails (ENOENT) as on a full or read-only disk
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([_before(leftover.pid), AFTER]))
    assert rc == cc.EXIT_METRICS_NOT_WRITTEN == 5
    kinds = [e["REAPER_ACTION"] for e in journal.sent]
    assert kinds == ["kill_leftovers", "run_summary", "metrics_failed"]
    failed = journal.sent[-1]
    assert failed["PRIORITY"] == 3 and failed["MESSAGE_ID"] == MESSAGE_IDS["metrics_failed"]
    assert paths["textfile_dir"] in failed["MESSAGE"] and "No such file" in failed["MESSAGE"]
    assert "cannot write metrics" in capsys.readouterr().err
    state = json.load(open(paths["state_path"]))
    assert state["counters"]["kill_leftovers|done"] == 1, "the action is remembered"


def test_an_action_failure_outranks_a_metrics_failure(env, monkeypatch):
    paths, write_config, journal = env
    config = write_config(actions=["restart_unit"], min_zombie_age=0, action_timeout=5)
    monkeypatch.setattr(cc.remediation_executor.subprocess, "run", _restart_fails)
    os.rmdir(paths["textfile_dir"])
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([_zombie_scan([201]), _zombie_scan([201])]))
    assert rc == cc.EXIT_ACTION_FAILED
    assert "metrics_failed" in [e["REAPER_ACTION"] for e in journal.sent]


def test_a_fallback_to_systemctl_is_in_the_journal_and_the_metrics(env, capsys):
    paths, write_config, journal = env
    problem = "systemd did not answer within 15.0s\n\x1b[31m"
    fell_back = FakeResult(
        {
            "host": {"zombies": 0, "pid_usage": 0.01, "systemd_query": {"source": "systemctl", "problem": problem}},
            "units": {"leaky.service": _unit()},
        }
    )
    assert cc.main(["--config", write_config()], journal=journal, scanner=Scanner([fell_back])) == 0
    entry = [e for e in journal.sent if e["REAPER_ACTION"] == "systemd_query_fallback"]
    assert len(entry) == 1 and entry[0]["PRIORITY"] == 4
    assert entry[0]["MESSAGE_ID"] == MESSAGE_IDS["systemd_query_fallback"]
    assert "did not answer within 15.0s\\x0a\\x1b[31m" in entry[0]["MESSAGE"]
    assert "reaper_systemd_query_fallback 1" in _metrics(paths)
    journal.sent[:] = []
    on_the_bus = FakeResult(
        {
            "host": {"zombies": 0, "pid_usage": 0.01, "systemd_query": {"source": "bus", "problem": None}},
            "units": {"leaky.service": _unit()},
        }
    )
    assert cc.main(["--config", write_config()], journal=journal, scanner=Scanner([on_the_bus])) == 0
    assert [e["REAPER_ACTION"] for e in journal.sent] == ["run_summary"]
    assert "reaper_systemd_query_fallback 0" in _metrics(paths)


def test_systemd_that_cannot_be_asked_ends_the_run_with_exit_6_and_no_action(env, leftover, capsys):
    """A hung PID 1: the scan gives up within its bound; the run says so, acts on nothing, no traceback."""
    paths, write_config, journal = env

    def hung(units):
        raise cc.SystemdError("systemctl --no-pager show did not answer within 30.0s (is PID 1 hung?)")

    rc = cc.main(["--config", write_config(actions=["kill_leftovers"])], journal=journal, scanner=hung)
    assert rc == cc.EXIT_SYSTEMD == 6
    assert leftover.poll() is None
    entry = journal.sent[-1]
    assert entry["PRIORITY"] == 3 and "did not answer within 30.0s" in entry["MESSAGE"]
    assert "nothing done" in capsys.readouterr().err


def test_a_pause_file_that_cannot_be_checked_pauses_the_run(env, leftover, capsys, tmp_path):
    # lexists() said "no" for any error (a path past PATH_MAX, a loop, no permission) and the run acted
    paths, write_config, journal = env
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    config = write_config(actions=["kill_leftovers"], grace=1, pause_path=str(loop / "paused"))
    rc = cc.main(["--config", config], journal=journal, scanner=Scanner([_before(leftover.pid)]))
    assert rc == 0
    assert leftover.poll() is None, "no action while the pause cannot be checked"
    assert "paused: 1 action(s) planned" in capsys.readouterr().out
    assert journal.sent[0]["MESSAGE_ID"] == MESSAGE_IDS["paused"]
    assert "paused to be safe" in journal.sent[0]["MESSAGE"]
