"""process_facts as Ansible runs it: options, errors and the facts it returns."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.reaper.systemd.plugins.modules import process_facts
from ansible_collections.reaper.systemd.plugins.module_utils import systemd_units
from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.fake_host import FakeHost, ticks_at


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            process_facts.main()
    result = json.loads(capsys.readouterr().out)
    return exit_info.value.code, result


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    host = FakeHost(tmp_path, layout="unified")
    host.add_unit("factory.service", MainPID=100, ControlGroup="/system.slice/factory.service")
    host.add_process(100, 1, "factory", cgroup="/system.slice/factory.service")
    host.add_process(101, 100, "child", state="Z", cgroup="/system.slice/factory.service", start=ticks_at(10))

    def fake_scan(options):
        return host.scan(
            **dict(
                (k, getattr(options, k))
                for k in (
                    "units",
                    "min_zombie_age",
                    "min_zombies",
                    "tasks_usage_warn",
                    "pid_usage_warn",
                    "journal_since",
                    "max_items",
                    "backend",
                )
            )
        )

    monkeypatch.setattr(process_facts, "scan", fake_scan)
    return host


def test_facts_are_returned_and_nothing_changes(capsys, fake_host):
    rc, result = run_module(capsys, {"units": ["factory"], "min_zombie_age": 30})
    assert rc == 0 and result["changed"] is False
    reaper = result["ansible_facts"]["reaper"]
    assert reaper["units"]["factory.service"]["counts"]["zombies"] == 1
    assert [f["code"] for f in reaper["findings"]] == ["zombies"]
    assert reaper["unmatched"] == []


def test_check_mode_returns_the_same_facts(capsys, fake_host):
    rc, result = run_module(capsys, {"_ansible_check_mode": True})
    assert rc == 0 and result["changed"] is False
    assert "factory.service" in result["ansible_facts"]["reaper"]["units"]


def test_real_host_scan_does_not_fail_without_systemd(capsys):
    rc, result = run_module(capsys, {})
    host = result["ansible_facts"]["reaper"]["host"]
    assert rc == 0 and isinstance(host["systemd"], bool) and host["pid_max"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        ({"units": ["../../etc/passwd"]}, "must not contain '/' or '..'"),
        ({"units": ["bad name"]}, "characters systemd does not accept"),
        ({"units": ["a.socket"]}, "not a service"),
        ({"min_zombie_age": -1}, "min_zombie_age must be a finite number between 0 and"),
        ({"min_zombies": "many"}, "min_zombies"),
        ({"tasks_usage_warn": 1.5}, "tasks_usage_warn must be a finite number between 0 and 1, got 1.5"),
        ({"max_items": -5}, "max_items must be an integer between 0 and 1000000, got -5"),
        ({"backend": "ebpf"}, "backend"),
        ({"no_such_option": True}, "no_such_option"),
    ],
)
def test_bad_input_fails_with_a_clear_message(capsys, fake_host, args, message):
    rc, result = run_module(capsys, args)
    assert rc == 1 and result["failed"] is True
    assert message in result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_systemctl_errors_are_reported(capsys, monkeypatch):
    def broken(options):
        raise systemd_units.SystemdError("systemctl show failed (rc=1): Failed to connect to bus")

    monkeypatch.setattr(process_facts, "scan", broken)
    rc, result = run_module(capsys, {})
    assert rc == 1 and "Failed to connect to bus" in result["msg"]
