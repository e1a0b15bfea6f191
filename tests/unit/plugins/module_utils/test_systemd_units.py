"""Parsing what systemctl prints: time spans, [not set], infinity, empty values."""

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import systemd_units
from ansible_collections.reaper.systemd.plugins.module_utils.systemd_units import Unit, parse_timespan


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("1min 30s", 90.0),
        ("90", 90.0),
        ("500ms", 0.5),
        ("1h 2min 3s", 3723.0),
        ("2d", 172800.0),
        ("250us", 0.00025),
        ("1.5s", 1.5),
        ("infinity", None),
        ("", None),
        ("5min", 300.0),
    ],
)
def test_parse_timespan(text, seconds):
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["abc", "5 parsecs", "1min x", "-3s"])
def test_parse_timespan_rejects_junk(text):
    with pytest.raises(ValueError):
        parse_timespan(text)


def test_unit_handles_unset_and_infinite_values():
    unit = Unit.from_show(
        {
            "Id": "a.service",
            "MainPID": "0",
            "TasksCurrent": "[not set]",
            "TasksMax": "infinity",
            "TimeoutStopUSec": "infinity",
            "InvocationID": "",
            "ControlGroup": "",
            "KillSignal": "15",
            "NRestarts": "",
            "InactiveExitTimestampMonotonic": "0",
            "SendSIGKILL": "no",
            "Delegate": "yes",
        }
    )
    assert unit.main_pid == 0 and unit.tasks_current is None and unit.tasks_max is None
    assert unit.timeout_stop_sec is None and unit.invocation_id is None and unit.tasks_usage is None
    assert unit.kill_signal == "SIGTERM" and unit.send_sigkill is False and unit.delegate is True
    assert Unit.from_show({"TasksCurrent": str(systemd_units.UINT64_UNSET)}).tasks_current is None


def test_read_units_keeps_inactive_units_and_init_scope_cgroup():
    calls = []

    def runner(argv, env):
        calls.append(argv)
        assert env["LC_ALL"] == "C"
        return (
            "Id=a.service\nLoadState=loaded\nActiveState=inactive\nControlGroup=/system.slice/a.service\n\n"
            "Id=gone.service\nLoadState=not-found\nActiveState=inactive\n\n"
            "Id=init.scope\nControlGroup=/init.scope\n"
        )

    units, init_cgroup = systemd_units.read_units(runner)
    assert list(units) == ["a.service"] and units["a.service"].active_state == "inactive"
    assert init_cgroup == "/init.scope"
    assert len(calls) == 1 and "--all" in calls[0] and "*.service" in calls[0]


def test_systemctl_failure_is_a_clear_error():
    def runner(argv, env):
        raise OSError(2, "No such file or directory")

    with pytest.raises(systemd_units.SystemdError, match="cannot run systemctl"):
        systemd_units.read_units(runner)


def test_systemd_version():
    assert systemd_units.systemd_version(lambda argv, env: "systemd 257 (257.9-1~deb13u1)\n+PAM\n") == 257
