# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""killmode_dropin module: systemctl is faked, files are real (tmp dir), systemd-analyze is the real one."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.reaper.systemd.plugins.modules import killmode_dropin

__metaclass__ = type

OURS = "50-reaper-killmode.conf"
GOOD = "# managed\n[Service]\nKillMode=mixed\n"


class Exit(Exception):
    def __init__(self, kind, result):
        super(Exit, self).__init__(kind)
        self.kind = kind
        self.result = result


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake systemd that knows a few units whose files live under tmp_path."""
    lib = tmp_path / "lib"
    etc = tmp_path / "etc"
    lib.mkdir()
    etc.mkdir()
    state = {"version": 252, "units": {}, "calls": [], "warnings": []}

    def add(name, load_state="loaded", kill_mode="process", active="active", dropins=None, alias_of=None):
        fragment = ""
        if load_state == "loaded" and not alias_of:
            fragment = str(lib / name)
            (lib / name).write_text("[Service]\nExecStart=/bin/sleep 1000\nKillMode=%s\n" % kill_mode)
        paths = []
        for dname, text in (dropins or {}).items():
            ddir = etc / (name + ".d")
            ddir.mkdir(exist_ok=True)
            (ddir / dname).write_text(text)
            paths.append(str(ddir / dname))
        state["units"][name] = dict(
            Id=alias_of or name,
            LoadState=load_state,
            ActiveState=active,
            KillMode=kill_mode,
            FragmentPath=fragment,
            DropInPaths=" ".join(paths),
        )

    def run_command(self, args, **kwargs):
        state["calls"].append(list(args))
        if args[-1] == "--version":
            return 0, "systemd %d (%d.1-1)\n+PAM +AUDIT\n" % (state["version"], state["version"]), ""
        assert args[2] == "show", args
        names = args[args.index("--") + 1 :]
        blocks = []
        for name in names:
            props = state["units"].get(name) or dict(
                Id=name,
                LoadState="not-found",
                ActiveState="inactive",
                KillMode="control-group",
                FragmentPath="",
                DropInPaths="",
            )
            if props["Id"] != name:
                props = state["units"][props["Id"]]
            blocks.append("\n".join("%s=%s" % kv for kv in props.items()))
        return 0, "\n\n".join(blocks) + "\n", ""

    def exit_json(self, **kwargs):
        raise Exit("exit", kwargs)

    def fail_json(self, **kwargs):
        raise Exit("fail", kwargs)

    def warn(self, warning, *args, **kwargs):
        state["warnings"].append(warning)

    monkeypatch.setattr(basic.AnsibleModule, "warn", warn)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    state["add"] = add
    state["etc"] = etc
    return state


def run(host, check_mode=False, **args):
    args.setdefault("unit_dir", str(host["etc"]))
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(Exit) as caught:
            killmode_dropin.main()
    return caught.value.kind, caught.value.result


def tree(etc):
    found = {}
    for root, _dirs, files in os.walk(str(etc)):
        for name in files:
            path = os.path.join(root, name)
            with open(path) as handle:
                found[os.path.relpath(path, str(etc))] = handle.read()
    return found


def dropin(name, content=GOOD, **settings):
    return {"name": name, "settings": settings or {"kill_mode": "mixed"}, "content": content}


def test_creates_then_is_idempotent(host):
    host["add"]("app.service")
    kind, result = run(host, units=[dropin("app")])
    assert kind == "exit" and result["changed"] is True
    assert result["changed_units"] == ["app.service"]
    assert result["units"][0]["action"] == "created"
    assert result["units"][0]["kill_mode_before"] == "process"
    path = host["etc"] / "app.service.d" / OURS
    assert path.read_text() == GOOD
    assert oct(os.stat(str(path)).st_mode & 0o777) == "0o644"
    assert result["diff"][0]["after"] == GOOD and result["diff"][0]["before"] == ""
    kind, result = run(host, units=[dropin("app")])
    assert kind == "exit" and result["changed"] is False and result["units"][0]["action"] == "unchanged"
    assert "diff" not in result


def test_check_mode_writes_nothing_but_shows_the_diff(host):
    host["add"]("app.service")
    kind, result = run(host, check_mode=True, units=[dropin("app")])
    assert kind == "exit" and result["changed"] is True
    assert result["diff"][0]["after"] == GOOD
    assert tree(host["etc"]) == {}


def test_update_shows_before_and_after(host):
    host["add"]("app.service", dropins={OURS: "[Service]\nKillMode=control-group\n"})
    kind, result = run(host, units=[dropin("app")])
    assert kind == "exit" and result["units"][0]["action"] == "updated"
    assert result["diff"][0]["before"] == "[Service]\nKillMode=control-group\n"
    assert result["diff"][0]["after"] == GOOD


def test_foreign_dropins_are_untouched(host):
    host["add"]("app.service", dropins={"10-local.conf": "[Service]\nEnvironment=A=1\n"})
    run(host, units=[dropin("app")])
    run(host, state="absent", units=[dropin("app")])
    assert tree(host["etc"]) == {"app.service.d/10-local.conf": "[Service]\nEnvironment=A=1\n"}


def test_absent_removes_file_and_empty_directory(host):
    host["add"]("app.service")
    run(host, units=[dropin("app")])
    kind, result = run(host, state="absent", units=[{"name": "app.service"}])
    assert kind == "exit" and result["changed_units"] == ["app.service"]
    assert result["diff"][0]["before"] == GOOD and result["diff"][0]["after"] == ""
    assert tree(host["etc"]) == {} and not (host["etc"] / "app.service.d").exists()
    kind, result = run(host, state="absent", units=[{"name": "app.service"}])
    assert result["changed"] is False and result["units"][0]["action"] == "absent"


def test_absent_remove_all_finds_every_dropin(host):
    host["add"]("a.service")
    host["add"]("b.service")
    host["add"]("c.service", dropins={"10-x.conf": "[Service]\n"})
    run(host, units=[dropin("a"), dropin("b")])
    kind, result = run(host, state="absent", remove_all=True)
    assert sorted(result["changed_units"]) == ["a.service", "b.service"]
    assert tree(host["etc"]) == {"c.service.d/10-x.conf": "[Service]\n"}


def test_exempt_wins_and_is_reported(host):
    host["add"]("ssh.service")
    host["add"]("user@1000.service")
    host["add"]("app.service")
    kind, result = run(
        host,
        units=[dropin("ssh"), dropin("user@1000.service"), dropin("app")],
        exempt=["ssh.service", "user@*.service"],
    )
    assert kind == "exit"
    assert result["exempted"] == ["ssh.service", "user@1000.service"]
    assert result["changed_units"] == ["app.service"]
    assert sorted(tree(host["etc"])) == ["app.service.d/" + OURS]


def test_exempt_alias_resolves_to_real_name(host):
    host["add"]("ssh.service")
    host["units"]["sshd.service"] = dict(host["units"]["ssh.service"])
    kind, result = run(host, units=[dropin("sshd.service")], exempt=["ssh.service"])
    assert kind == "exit" and result["exempted"] == ["ssh.service"] and tree(host["etc"]) == {}


def test_alias_writes_under_the_real_name(host):
    host["add"]("real.service")
    host["units"]["alias.service"] = dict(host["units"]["real.service"])
    kind, result = run(host, units=[dropin("alias.service")])
    assert result["changed_units"] == ["real.service"]
    assert sorted(tree(host["etc"])) == ["real.service.d/" + OURS]


def test_bad_input_writes_nothing_and_names_every_problem(host):
    host["add"]("good.service")
    kind, result = run(
        host,
        units=[
            dropin("good"),
            dropin("../../etc/cron.d/x"),
            dropin("other", kill_mode="sometimes"),
            dropin("third", timeout_stop_sec="ten minutes"),
        ],
    )
    assert kind == "fail"
    assert result["msg"].startswith("Invalid input, nothing was changed")
    assert len(result["errors"]) == 3
    assert "'/' or '..'" in result["errors"][0]
    assert "kill_mode 'sometimes'" in result["errors"][1]
    assert "timeout_stop_sec 'ten minutes'" in result["errors"][2]
    assert tree(host["etc"]) == {}
    # Name and value checks need no systemd: it was not even asked.
    assert host["calls"] == []


def test_unknown_and_masked_units_are_errors(host):
    host["add"]("good.service")
    host["add"]("hidden.service", load_state="masked")
    kind, result = run(host, units=[dropin("good"), dropin("nosuch"), dropin("hidden")])
    assert kind == "fail"
    assert "nosuch.service: unknown unit (systemd reports LoadState=not-found)" in result["msg"]
    assert "hidden.service: the unit is masked" in result["msg"]
    assert tree(host["etc"]) == {}


def test_unsupported_directive_names_the_version(host):
    host["version"] = 249
    host["add"]("app.service")
    kind, result = run(host, units=[dropin("app", content="[Service]\nExitType=cgroup\n", exit_type="cgroup")])
    assert kind == "fail"
    assert "ExitType= needs systemd 250 or later; this host runs systemd 249" in result["msg"]
    assert tree(host["etc"]) == {}


def test_verify_failure_leaves_every_unit_unchanged(host):
    host["add"]("a.service")
    host["add"]("b.service", dropins={"10-local.conf": "[Service]\nEnvironment=A=1\n"})
    # b's signal looks fine to the settings check; only systemd knows RTMIN+99 is out of range.
    content = "[Service]\nKillMode=mixed\nFinalKillSignal=RTMIN+99\n"
    b = dropin("b", content=content, kill_mode="mixed", final_kill_signal="RTMIN+99")
    kind, result = run(host, units=[dropin("a"), b])
    assert kind == "fail"
    assert result["msg"].startswith("Validation failed, nothing was changed")
    assert "b.service: systemd-analyze verify rejects the drop-in" in result["msg"]
    assert "Failed to parse signal name" in result["msg"]
    assert os.path.join(str(host["etc"]), "b.service.d", OURS) in result["msg"]
    assert tree(host["etc"]) == {"b.service.d/10-local.conf": "[Service]\nEnvironment=A=1\n"}


def test_content_that_sets_more_than_the_settings_is_refused_before_systemd_is_asked(host):
    host["add"]("b.service")
    content = "[Service]\nKillMode=mixed\nExecStartPre=/bin/sh -c 'echo pwned'\n"
    kind, result = run(host, units=[dropin("b", content=content)])
    assert kind == "fail" and result["msg"].startswith("Invalid input, nothing was changed")
    assert "ExecStartPre" in result["msg"] and "not one of the directives" in result["msg"]
    assert tree(host["etc"]) == {} and host["calls"] == []


def test_content_is_rendered_from_the_settings_when_omitted(host):
    host["add"]("app.service")
    kind, result = run(host, units=[{"name": "app", "settings": {"kill_mode": "mixed", "send_sigkill": True}}])
    assert kind == "exit" and result["changed_units"] == ["app.service"]
    text = (host["etc"] / "app.service.d" / OURS).read_text()
    assert "[Service]\nKillMode=mixed\nSendSIGKILL=yes\n" in text


def test_duplicates_first_entry_wins(host):
    host["add"]("app.service")
    kind, result = run(host, units=[dropin("app"), dropin("app.service", content="[Service]\nKillMode=process\n")])
    assert kind == "exit" and result["changed_units"] == ["app.service"]
    assert (host["etc"] / "app.service.d" / OURS).read_text() == GOOD
    assert any("listed more than once" in w for w in host["warnings"])


def test_bad_dropin_name_is_refused(host):
    kind, result = run(host, units=[], dropin_name="../x.conf")
    assert kind == "fail" and "plain file name ending in .conf" in result["msg"]


def test_documentation_is_yaml():
    import yaml

    doc = yaml.safe_load(killmode_dropin.DOCUMENTATION)
    assert doc["module"] == "killmode_dropin"
    assert set(doc["options"]) == {"units", "exempt", "state", "remove_all", "dropin_name", "unit_dir", "verify"}
    yaml.safe_load(killmode_dropin.EXAMPLES)
    json.dumps(yaml.safe_load(killmode_dropin.RETURN))


def test_exempt_unit_with_an_old_dropin_is_left_alone_with_a_warning(host):
    host["add"]("ssh.service", dropins={OURS: GOOD})
    kind, result = run(host, units=[dropin("ssh")], exempt=["ssh.service"])
    assert kind == "exit" and result["changed"] is False and result["exempted"] == ["ssh.service"]
    assert any("ssh.service is exempt but still carries" in w for w in host["warnings"])
    assert (host["etc"] / "ssh.service.d" / OURS).read_text() == GOOD
    # Removal ignores exemptions: it only gives the unit its own settings back.
    kind, result = run(host, state="absent", units=[{"name": "ssh"}], exempt=["ssh.service"])
    assert result["changed_units"] == ["ssh.service"] and tree(host["etc"]) == {}


def test_template_units_are_refused(host):
    kind, result = run(host, units=[dropin("getty@.service")])
    assert kind == "fail" and "is a template" in result["msg"] and host["calls"] == []
