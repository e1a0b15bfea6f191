# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input validation for kill drop-ins, and the before/after check with the real systemd-analyze."""

from __future__ import absolute_import, division, print_function

import os
import shutil

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import killmode_dropin as kd

__metaclass__ = type

ANALYZE = shutil.which("systemd-analyze")
UNIT = """[Unit]
Description=test unit
[Service]
ExecStart=/bin/sleep 1000
KillMode=process
"""
OURS = "50-reaper-killmode.conf"


@pytest.mark.parametrize("name", ["nginx", "nginx.service", "getty@tty1.service", "a-b_c:d\\x2d.service"])
def test_valid_names(name):
    assert kd.unit_name_error(name) is None


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("", "non-empty"),
        ("../etc/passwd", "'/' or '..'"),
        ("foo/bar.service", "'/' or '..'"),
        ("..service", "'/' or '..'"),
        ("foo bar.service", "characters"),
        ("foo$.service", "characters"),
        ("foo.socket", "not a service"),
        ("@foo.service", "must not start"),
        ("a@b@c.service", "not a valid service name"),
        ("getty@.service", "is a template; name its instances (for example getty@INSTANCE.service)"),
        ("x" * 300 + ".service", "longer than"),
    ],
)
def test_invalid_names(name, fragment):
    error = kd.unit_name_error(name)
    assert error is not None and fragment in error


def test_good_settings_pass():
    settings = {
        "kill_mode": "mixed",
        "send_sigkill": True,
        "timeout_stop_sec": "1min 30s",
        "final_kill_signal": "SIGQUIT",
        "tasks_max": "25%",
        "exit_type": "cgroup",
    }
    assert kd.setting_errors("a.service", settings) == []
    assert (
        kd.setting_errors(
            "a.service", {"timeout_stop_sec": 90, "tasks_max": 512, "final_kill_signal": 9, "send_sigkill": "no"}
        )
        == []
    )
    assert (
        kd.setting_errors("a.service", {"kill_mode": None, "tasks_max": "infinity", "final_kill_signal": "RTMIN+3"})
        == []
    )


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({"kill_mode": "bogus"}, "kill_mode 'bogus' is not a KillMode"),
        ({"kill_mode": "Mixed"}, "is not a KillMode"),
        ({"timeout_stop_sec": "5 parsecs"}, "not a systemd time span"),
        ({"timeout_stop_sec": "-5s"}, "not a systemd time span"),
        ({"timeout_stop_sec": True}, "must be a time span"),
        ({"timeout_stop_sec": "5s\nExecStartPre=/bin/evil"}, "single-line"),
        ({"final_kill_signal": "SIGFOO"}, "not a signal"),
        ({"final_kill_signal": "99"}, "not a signal"),
        ({"tasks_max": 0}, "positive number"),
        ({"tasks_max": "lots"}, "positive number"),
        ({"send_sigkill": "maybe"}, "must be a boolean"),
        ({"exit_type": "whenever"}, "exit_type 'whenever'"),
        ({"killmode": "mixed"}, "unknown key 'killmode'"),
        ({"kill_mode": ["mixed"]}, "single value"),
    ],
)
def test_bad_settings_are_named(settings, fragment):
    errors = kd.setting_errors("a.service", settings)
    assert len(errors) == 1
    assert errors[0].startswith("a.service: ") and fragment in errors[0]


def test_all_errors_reported_at_once():
    errors = kd.setting_errors("a.service", {"kill_mode": "x", "exit_type": "y", "tasks_max": "z"})
    assert len(errors) == 3


def test_support_errors_name_the_version():
    settings = {"exit_type": "cgroup", "final_kill_signal": "SIGKILL", "kill_mode": "mixed"}
    errors = kd.support_errors("a.service", settings, 241)
    assert any("ExitType= needs systemd 250 or later; this host runs systemd 241" in e for e in errors)
    assert any("FinalKillSignal= needs systemd 243 or later; this host runs systemd 241" in e for e in errors)
    assert len(errors) == 2
    assert kd.support_errors("a.service", settings, 252) == []
    assert kd.support_errors("a.service", {"exit_type": None}, 249) == []
    assert kd.support_errors("a.service", {"tasks_max": "10%"}, 230)


def _unit_tree(tmp_path, extra_dropins=None):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "demo.service").write_text(UNIT)
    paths = []
    if extra_dropins:
        ddir = lib / "demo.service.d"
        ddir.mkdir()
        for name, text in extra_dropins.items():
            (ddir / name).write_text(text)
            paths.append(str(ddir / name))
    return str(lib / "demo.service"), paths


def _verify(fragment, dropins, content, target="/etc/systemd/system/demo.service.d/" + OURS):
    assert ANALYZE, "systemd-analyze is required for these tests (Debian package systemd)"
    return kd.verify_dropin(ANALYZE, "demo.service", fragment, dropins, OURS, content, target)


def test_verify_accepts_a_good_dropin(tmp_path):
    fragment, dropins = _unit_tree(tmp_path)
    added, with_rc, base_rc, _lines = _verify(fragment, dropins, "[Service]\nKillMode=mixed\nSendSIGKILL=yes\n")
    assert added == [] and with_rc == 0 and base_rc == 0


def test_verify_reports_what_our_dropin_adds(tmp_path):
    fragment, dropins = _unit_tree(tmp_path)
    added, _rc, _base, _lines = _verify(fragment, dropins, "[Service]\nKillMode=bogus\nTimeoutStopSec=abc\n")
    assert len(added) == 2
    target = "/etc/systemd/system/demo.service.d/" + OURS
    assert any(target + ":2: Failed to parse kill mode specification, ignoring: bogus" in line for line in added)
    assert any("Failed to parse time value, ignoring: abc" in line for line in added)


def test_verify_ignores_warnings_the_unit_already_had(tmp_path):
    # A foreign drop-in with its own problem: present in both runs, so not ours.
    fragment, dropins = _unit_tree(tmp_path, {"10-foreign.conf": "[Service]\nNoSuchKey=1\n"})
    added, _rc, _base, lines = _verify(fragment, dropins, "[Service]\nKillMode=mixed\n")
    assert added == []
    assert any("NoSuchKey" in line for line in lines), lines


def test_verify_sees_foreign_dropins(tmp_path):
    # A foreign drop-in breaks the section header; ours then adds a new message about it.
    fragment, dropins = _unit_tree(tmp_path, {"10-foreign.conf": "[Service]\nKillMode=process\n"})
    added, _rc, _base, _lines = _verify(fragment, dropins, "[Servic\nKillMode=mixed\n")
    assert added and "Invalid section header" in added[0]


def test_verify_shadows_an_installed_copy_of_our_dropin(tmp_path):
    # DropInPaths lists our own (installed, broken) file: it must not count in either run.
    fragment, dropins = _unit_tree(tmp_path, {OURS: "[Service]\nKillMode=bogus\n"})
    added, _rc, _base, lines = _verify(fragment, dropins, "[Service]\nKillMode=mixed\n")
    assert added == [] and not any("bogus" in line for line in lines)


def test_verify_leaves_no_temporary_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "t"))
    os.mkdir(str(tmp_path / "t"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    fragment, dropins = _unit_tree(tmp_path)
    _verify(fragment, dropins, "[Service]\nKillMode=mixed\n")
    assert os.listdir(str(tmp_path / "t")) == []


# ---------------------------------------------------------------- content must match the settings
ROLE_TEMPLATE = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "..",
    "..",
    "roles",
    "killmode_hardening",
    "templates",
    "50-reaper-killmode.conf.j2",
)


@pytest.mark.parametrize(
    "settings",
    [
        {"kill_mode": "mixed"},
        {"kill_mode": "mixed", "send_sigkill": "yes", "timeout_stop_sec": "1min 30s", "tasks_max": "25%"},
        {"kill_mode": "control-group", "send_sigkill": False, "final_kill_signal": "SIGKILL", "exit_type": "cgroup"},
        {"kill_mode": "process", "timeout_stop_sec": 90, "tasks_max": None},
    ],
)
def test_the_roles_template_renders_exactly_the_settings(settings):
    """The role renders content with its template; the module must accept it (and would refuse a drift)."""
    import jinja2
    from ansible.plugins.filter.core import comment, to_bool

    env = jinja2.Environment(trim_blocks=True)  # Ansible's template module default
    env.filters.update(comment=comment, bool=to_bool)
    with open(ROLE_TEMPLATE) as handle:
        template = env.from_string(handle.read())
    content = template.render(
        ansible_managed="Ansible managed",
        __killmode_hardening_name="app.service",
        __killmode_hardening_settings=settings,
    )
    assert kd.setting_errors("app.service", settings) == []
    assert kd.content_errors("app.service", settings, content) == []
    assert kd.content_errors("app.service", dict(settings, kill_mode="none"), content) != []


def test_rendered_dropin_parses_back_to_the_settings():
    settings = {"kill_mode": "mixed", "send_sigkill": True, "timeout_stop_sec": "90s", "exit_type": None}
    content = kd.render_dropin("app.service", settings)
    assert kd.parse_dropin(content) == ({"KillMode": "mixed", "SendSIGKILL": "yes", "TimeoutStopSec": "90s"}, [])
    assert kd.content_errors("app.service", settings, content) == []


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[Service]\nKillMode=mixed\nExecStart=/bin/sh\n", "not one of the directives"),
        ("[Service]\nKillMode=mixed \\\n", "continuation"),
        ("# note \\\n[Service]\nKillMode=mixed\n", "continuation"),
        ("[Service]\n[Service]\nKillMode=mixed\n", "only one [Service] section"),
        ("[Install]\nKillMode=mixed\n", "only one [Service] section"),
        ("KillMode=mixed\n[Service]\n", "before the [Service] section"),
        ("[Service]\nKillMode=process\n", "content sets KillMode=process but settings give kill_mode='mixed'"),
        ("[Service]\nKillMode=mixed\nSendSIGKILL=no\n", "settings leave send_sigkill unset"),
        ("[Service]\n", "does not set KillMode="),
    ],
)
def test_content_that_differs_from_the_settings_is_refused(content, problem):
    errors = kd.content_errors("app.service", {"kill_mode": "mixed"}, content)
    assert any(problem in error for error in errors), errors
