# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input on every surface, for every option: refused, named, nothing written, nothing signalled.

The option lists come from the code (the modules' argument specs, Policy.FIELDS
and cleanup_config.EXTRA_KEYS, the role's meta/argument_specs.yml and
cleanup_config.ROLE_VARIABLE_NAMES): an option without a row in
bad_input_cases.py fails test_every_option_has_bad_values.
"""

from __future__ import absolute_import, division, print_function

import io
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_command,
    cleanup_config,
    cleanup_policy,
    killmode_dropin as killmode_utils,
    option_checks,
)
from ansible_collections.reaper.systemd.plugins.action import fleet_report
from ansible_collections.reaper.systemd.plugins.module_utils.journal import Journal
from ansible_collections.reaper.systemd.plugins.modules import killmode_dropin, process_facts, reap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bad_input_cases as cases

__metaclass__ = type

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLE_SPEC = os.path.join(REPO, "roles", "cleanup_timer", "meta", "argument_specs.yml")
KH_ROLE = os.path.join(REPO, "roles", "killmode_hardening")
KH_PREFIX = "killmode_hardening_"
DOC = os.path.join(REPO, "docs", "cleanup.md")


# ---------------------------------------------------------------- the options the code really has
def _role_options():
    with open(ROLE_SPEC) as handle:
        spec = yaml.safe_load(handle)
    names = spec["argument_specs"]["main"]["options"]
    return sorted(name[len(cleanup_config.ROLE_PREFIX) :] for name in names)


def _yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def _killmode_hardening_spec():
    return _yaml(KH_ROLE, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]


def real_options():
    """surface -> the option names the code defines (what needs a row)."""
    dropin_spec = killmode_dropin.ARGUMENT_SPEC
    dropin = [name for name in dropin_spec if name != "units"] + ["units"]
    dropin += ["units[].%s" % name for name in dropin_spec["units"]["options"]]
    dropin += ["units[].settings.%s" % key for key in killmode_utils.SETTING_KEYS]
    return {
        "reap": sorted(reap.ARGUMENT_SPEC),
        "process_facts": sorted(process_facts.ARGUMENT_SPEC),
        "killmode_dropin": sorted(dropin),
        "cleanup.json": sorted(set(cleanup_policy.Policy.FIELDS) | set(cleanup_config.EXTRA_KEYS)),
        "cleanup_timer": sorted(set(_role_options()) | set(cleanup_config.ROLE_VARIABLE_NAMES)),
        "fleet_report": sorted(fleet_report.ARGS),
        "killmode_hardening": sorted(name[len(KH_PREFIX) :] for name in _killmode_hardening_spec()),
    }


REAL = real_options()
ROWS = dict((key, rows) for key, _title, rows in cases.SURFACES)


def _params(surface):
    return [
        pytest.param(option, value, id="%s-%s-%d" % (surface, option, index))
        for option in REAL[surface]
        for index, value in enumerate(ROWS[surface].get(option, []))
    ]


@pytest.mark.parametrize("surface", sorted(REAL))
def test_every_option_has_bad_values(surface):
    missing = [option for option in REAL[surface] if not ROWS[surface].get(option)]
    assert missing == [], "options of %s without bad-input rows in bad_input_cases.py: %s" % (surface, missing)


def test_the_role_spec_and_check_deployment_know_the_same_variables():
    unknown = sorted(set(_role_options()) - set(cleanup_config.ROLE_VARIABLE_NAMES))
    assert unknown == [], "role variables check_deployment does not validate: %s" % unknown


def test_docs_table_is_current():
    with open(DOC) as handle:
        text = handle.read()
    expected = cases.table(REAL)
    assert cases.BEGIN in text and cases.END in text, "docs/cleanup.md lacks the generated table"
    current = text[text.index(cases.BEGIN) : text.index(cases.END) + len(cases.END)] + "\n"
    assert current == expected, "regenerate: python3 tests/unit/bad_input_cases.py --write docs/cleanup.md"


# ---------------------------------------------------------------- nothing signalled, nothing run
@pytest.fixture
def no_signals(monkeypatch):
    """Every way to signal or run a command records the attempt instead."""
    sent = []

    def record(name):
        def fake(*args, **kwargs):
            sent.append((name, args))
            raise AssertionError("%s called during bad input" % name)

        return fake

    monkeypatch.setattr(os, "kill", record("os.kill"))
    monkeypatch.setattr(os, "killpg", record("os.killpg"))
    if hasattr(signal, "pidfd_send_signal"):
        monkeypatch.setattr(signal, "pidfd_send_signal", record("signal.pidfd_send_signal"))
    if hasattr(os, "pidfd_open"):
        monkeypatch.setattr(os, "pidfd_open", record("os.pidfd_open"))
    monkeypatch.setattr(subprocess, "run", record("subprocess.run"))
    monkeypatch.setattr(subprocess, "Popen", record("subprocess.Popen"))
    return sent


def _files(root):
    found = []
    for directory, _dirs, files in os.walk(str(root)):
        found.extend(os.path.join(directory, name) for name in files)
        found.extend(os.path.join(directory, name) for name in _dirs)
    return sorted(found)


# ansible-core's own conversion of a list of dicts does not name the option in its message.
ANSIBLE_UNNAMED = ("dictionary requested, could not parse JSON or key=value",)


def _named(message, option, value, converted_by_ansible=False):
    """The error names the option, and the value (Ansible's own conversion errors name the type instead)."""
    if converted_by_ansible and message in ANSIBLE_UNNAMED:
        return
    assert option.split(".")[-1].replace("units[]", "units") in message or option in message, message
    if converted_by_ansible and (
        "unable to convert" in message or "must be one of" in message or "missing required" in message
    ):
        return
    candidates = [option_checks.shown(value), str(value)]
    if isinstance(value, list):
        candidates += [option_checks.shown(item) for item in value] + ["no match for: %s" % item for item in value]
        # a name is shown as given, or cut ('xxxx...') when it is long
        candidates += [item if len(item) < 30 else item[:30] for item in value if isinstance(item, str) and item]
        for item in value:
            if isinstance(item, dict):
                candidates += [option_checks.shown(v) for v in item.values()] + [str(v) for v in item.values()]
                candidates += [option_checks.shown(k) for k in item]
    if isinstance(value, float) and not math.isfinite(value):
        candidates += ["nan", "inf", "-inf"]
    if isinstance(value, str):
        candidates.append(option_checks.shown(value.strip()))
        if len(value) >= 30:
            candidates.append(value[:30])  # a long name is shown cut ('xxxx...')
        # a multi-line value (a drop-in's content) is named by its offending line
        candidates += [line for line in value.splitlines() if "=" in line or line.startswith("[")]
    if isinstance(value, dict):
        candidates += [option_checks.shown(key) for key in value]
    assert any(text in message for text in candidates), (value, message)


# ---------------------------------------------------------------- modules
class Exit(Exception):
    def __init__(self, kind, result):
        super(Exit, self).__init__(kind)
        self.kind = kind
        self.result = result


@pytest.fixture
def module_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exit("exit", kwargs)

    def fail_json(self, **kwargs):
        raise Exit("fail", kwargs)

    calls = []

    def run_command(self, args, **kwargs):
        calls.append(list(args))
        raise AssertionError("systemctl was asked during bad input: %r" % (args,))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, *a, **k: None)
    return calls


def _infinite(value):
    return isinstance(value, float) and math.isinf(value)


def _run_module(module, args, option, value):
    """(kind, result) of a module run: kind is 'exit' or 'fail'.

    ansible-core 2.19's check_type_int lets int(Decimal('Infinity')) raise
    OverflowError (fixed upstream: ansible/ansible#87253), so ±Inf given to an
    int option aborts argument validation before the module's code runs. That
    fails closed (the test still checks nothing was written or signalled), but
    with a traceback instead of a message: kind 'ansible-core-overflow'.
    """
    with patch_module_args(args):
        try:
            with pytest.raises(Exit) as caught:
                module.main()
        except OverflowError:
            spec = module.ARGUMENT_SPEC.get(option) or {}
            assert _infinite(value) and spec.get("type") == "int", "an OverflowError for anything else is ours"
            return "ansible-core-overflow", {"msg": "%s: %r" % (option, value)}
    return caught.value.kind, caught.value.result


@pytest.mark.parametrize("option, value", _params("reap"))
def test_reap_refuses(option, value, tmp_path, monkeypatch, module_exits, no_signals):
    scans = []
    monkeypatch.setattr(reap, "scan", scans.append)
    args = {
        "units": ["app"],
        "actions": ["kill_leftovers"],
        "lock_path": str(tmp_path / "run" / "lock"),
        "state_path": str(tmp_path / "lib" / "state.json"),
    }
    args[option] = value
    kind, result = _run_module(reap, args, option, value)
    assert kind in ("fail", "ansible-core-overflow"), result
    _named(result["msg"], option, value, converted_by_ansible=True)
    assert _files(tmp_path) == [], "nothing is written"
    assert scans == [] and no_signals == [] and module_exits == []


@pytest.mark.parametrize("option, value", _params("process_facts"))
def test_process_facts_refuses(option, value, tmp_path, monkeypatch, module_exits, no_signals):
    scans = []
    monkeypatch.setattr(process_facts, "scan", scans.append)
    monkeypatch.chdir(str(tmp_path))
    kind, result = _run_module(process_facts, {option: value}, option, value)
    assert kind in ("fail", "ansible-core-overflow"), result
    _named(result["msg"], option, value, converted_by_ansible=True)
    assert scans == [] and no_signals == [] and module_exits == []
    assert _files(tmp_path) == []


def _dropin_args(option, value, unit_dir):
    settings = {"kill_mode": "mixed"}
    item = {"name": "app.service", "settings": settings, "content": "[Service]\nKillMode=mixed\n"}
    args = {"units": [item], "unit_dir": unit_dir}
    if option.startswith("units[].settings."):
        key = option.split(".")[-1]
        settings[key] = value
        item["content"] = None  # rendered from the settings, which must be refused first
    elif option.startswith("units[]."):
        item[option.split(".")[-1]] = value
    else:
        args[option] = value
    return args


@pytest.mark.parametrize("option, value", _params("killmode_dropin"))
def test_killmode_dropin_refuses(option, value, tmp_path, module_exits, no_signals):
    etc = tmp_path / "etc"
    etc.mkdir()
    kind, result = _run_module(killmode_dropin, _dropin_args(option, value, str(etc)), option, value)
    assert kind == "fail", result
    _named(result["msg"], option, value, converted_by_ansible=True)
    assert _files(tmp_path) == [str(etc)], "nothing is written"
    assert module_exits == [], "validation fails before systemd is asked"
    assert no_signals == []


# ---------------------------------------------------------------- cleanup.json
def _config(tmp_path, option, value):
    data = {
        "units": ["app"],
        "actions": ["kill_leftovers"],
        "state_path": str(tmp_path / "lib" / "state.json"),
        "lock_path": str(tmp_path / "run" / "lock"),
        "pause_path": str(tmp_path / "etc" / "paused"),
    }
    data[option] = value
    path = tmp_path / "cleanup.json"
    path.write_text(json.dumps(data))
    os.chmod(str(path), 0o600)
    return str(path)


@pytest.mark.parametrize("option, value", _params("cleanup.json"))
def test_cleanup_json_refuses(option, value, tmp_path, capsys, no_signals):
    path = _config(tmp_path, option, value)
    with pytest.raises(cleanup_config.ConfigError) as caught:
        cleanup_config.load_config(path)
    assert caught.value.option == option
    _named(str(caught.value), option, value)

    scans = []
    journal = Journal(stream=io.StringIO(), enabled=False)
    rc = cleanup_command.main(["--config", path], journal=journal, scanner=scans.append)
    assert rc == 2
    assert option in capsys.readouterr().err
    assert _files(tmp_path) == [path], "nothing is written"
    assert scans == [] and no_signals == []
    assert cleanup_command.main(["--config", path, "--check-config"], journal=journal) == 2


# ---------------------------------------------------------------- role variables
@pytest.mark.parametrize("option, value", _params("cleanup_timer"))
def test_role_variables_refused(option, value, no_signals):
    with pytest.raises(cleanup_config.ConfigError) as caught:
        cleanup_config.check_deployment({option: value})
    assert caught.value.option == cleanup_config.ROLE_PREFIX + option
    _named(str(caught.value), cleanup_config.ROLE_PREFIX + option, value)
    assert no_signals == []


def test_role_defaults_pass_check_deployment():
    with open(os.path.join(REPO, "roles", "cleanup_timer", "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    mapping = dict((name[len(cleanup_config.ROLE_PREFIX) :], value) for name, value in defaults.items())
    checked = cleanup_config.check_deployment(mapping)
    assert checked["units"] == ["*"] and checked["dry_run"] is False


# ---------------------------------------------------------------- fleet_report (the controller's action)
def _fleet_report_args(option, value, out):
    args = {"report_dir": out, "hosts": ["web1"]}
    args[option] = value
    return args


@pytest.mark.parametrize("option, value", _params("fleet_report"))
def test_fleet_report_refuses(option, value, tmp_path, monkeypatch):
    from unittest import mock

    from ansible.errors import AnsibleActionFail
    from ansible.parsing.dataloader import DataLoader

    monkeypatch.chdir(str(tmp_path))
    out = str(tmp_path / "report")
    task = mock.MagicMock()
    task.args = _fleet_report_args(option, value, out)
    task.async_val = 0
    task.check_mode = False
    action = fleet_report.ActionModule(task, mock.MagicMock(), mock.MagicMock(), DataLoader(), mock.MagicMock(), None)
    with pytest.raises(AnsibleActionFail) as caught:
        action.run(task_vars={"hostvars": None})
    message = str(caught.value)
    if message.startswith("Validation of arguments failed"):
        message = " ".join(str(m) for m in getattr(caught.value, "result", {}).get("argument_errors", [])) or message
    _named(message, option, value, converted_by_ansible=True)
    assert _files(tmp_path) == [], "nothing is written"


# ---------------------------------------------------------------- killmode_hardening's variables
# The role's module option each variable reaches, when the module is what refuses it.
KH_MODULE_OPTION = {"kill_mode": "kill_mode", "units": "units"}


def _killmode_hardening(variables, unit_dir):
    """The role's checks in its order (tasks/main.yml): the argument spec, the shape of the
    units, the exemptions lookup (the exempt lists, allow), the never-ours and by-design
    refusals, then the killmode_dropin module as the role calls it. Returns the first error
    message, or None."""
    from ansible import constants as C
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    from ansible_collections.reaper.systemd.plugins.lookup import unit_exemptions as lookup_plugin

    given = dict((KH_PREFIX + name, value) for name, value in variables.items())
    checked = ArgumentSpecValidator(_killmode_hardening_spec()).validate(
        dict(_yaml(KH_ROLE, "defaults", "main.yml"), **given)
    )
    if checked.error_messages:
        return "; ".join(checked.error_messages)
    v = dict((name[len(KH_PREFIX) :], value) for name, value in checked.validated_parameters.items())
    shape = [u for u in v["units"] if not isinstance(u, (str, dict)) or (isinstance(u, dict) and "name" not in u)]
    if shape:
        return "killmode_hardening_units must list service names or dicts with a 'name' key; got %s" % shape
    names = [u if isinstance(u, str) else u["name"] for u in v["units"]]
    # what the plugin loader does: register the documented options, name the instance
    lookup_name = "reaper.systemd.unit_exemptions"
    C.config.initialize_plugin_configuration_definitions(
        "lookup", lookup_name, yaml.safe_load(lookup_plugin.DOCUMENTATION)["options"]
    )
    lookup = lookup_plugin.LookupModule()
    lookup._load_name = lookup_name
    try:
        for name in ("exempt", "exempt_extra"):
            lookup.run(v[name], variables={}, want="check_patterns", option=KH_PREFIX + name)
        named = lookup.run(names, variables={}, allow=v["allow"], allow_option="killmode_hardening_allow")
        exempt = lookup.run([], variables={}, want="hardening_exemptions", allow=v["allow"], allow_option="x")
    except Exception as exc:  # AnsibleLookupError names the option
        return str(exc)
    if v["state"] == "present":
        refused = [n["reason"] for n in named if n["tier"] == "never_ours" or (n["tier"] and not n["allowed"])]
        if refused:
            return "killmode_hardening_units names %s" % "; ".join(refused)
    units = []
    for item in v["units"]:
        settings = {"kill_mode": v["kill_mode"]}
        settings.update(dict((k, val) for k, val in (item.items() if isinstance(item, dict) else []) if k != "name"))
        units.append({"name": item if isinstance(item, str) else item["name"], "settings": settings})
    args = {
        "units": units,
        "exempt": exempt + v["exempt"] + v["exempt_extra"],
        "state": v["state"],
        "unit_dir": unit_dir,
    }
    kind, result = _run_module(killmode_dropin, args, "units", None)
    assert kind == "fail", "the role would have gone on to write drop-ins: %r" % (result,)
    return result["msg"]


@pytest.mark.parametrize("option, value", _params("killmode_hardening"))
def test_killmode_hardening_refuses(option, value, tmp_path, module_exits, no_signals):
    etc = tmp_path / "etc"
    etc.mkdir()
    message = _killmode_hardening({option: value}, str(etc))
    assert message, "accepted"
    name = KH_PREFIX + option
    named_as = name if name in message else KH_MODULE_OPTION.get(option, name)
    if named_as == "units" and named_as not in message:
        # the module names a bad setting of a unit by the unit and the setting's key (the item's key)
        keys = [key for item in value for key in item if key != "name"]
        named_as = next((key for key in keys if key in message), named_as)
    _named(message, named_as, value, converted_by_ansible=True)
    assert _files(tmp_path) == [str(etc)], "nothing is written"
    assert no_signals == []
