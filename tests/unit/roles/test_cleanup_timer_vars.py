"""The cleanup_timer role and the cleanup command agree on the role's variables.

The role hands its variables, as given, to the command of a staged release
(``--check-deployment``, i.e. ``cleanup_config.check_deployment``), writes cleanup.json from
the values that check returned, has ``--check-config`` accept it, and renders the units from
the same values. These tests keep the pieces in step (argument spec, defaults/main.yml, the
mapping in vars/main.yml, check_deployment) and run the role's stage-and-check script on a
staged copy of the code, as the role does on a host.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_config

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROLE = os.path.join(REPO, "roles", "cleanup_timer")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PREFIX = cleanup_config.ROLE_PREFIX


def _yaml(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


DEFAULTS = _yaml("defaults", "main.yml")
SPEC = _yaml("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
ROLE_VARS = _yaml("vars", "main.yml")
MAPPING = ROLE_VARS["__cleanup_timer_deployment"]
# check_deployment's kinds, as the argument spec spells them
# integers are raw in the spec: check_deployment decides (Ansible's int takes true and "٥", and ±Inf aborts it)
SPEC_TYPES = {"timespan": "str", "path": "str", "int": "raw"}
# the one default the role computes per host
HOST_LABEL_DEFAULT = "{{ inventory_hostname }}"


def _defaults_as_given(host="web01.example.com"):
    """The mapping the role checks when the operator sets nothing (host_label templated)."""
    mapping = dict((name[len(PREFIX) :], value) for name, value in DEFAULTS.items())
    mapping["host_label"] = host
    return mapping


def test_argument_spec_and_defaults_name_the_same_variables_with_the_same_defaults():
    assert sorted(SPEC) == sorted(DEFAULTS)
    for name, value in DEFAULTS.items():
        assert SPEC[name].get("default") == value, name


def test_the_role_checks_exactly_the_variables_check_deployment_knows():
    assert sorted(MAPPING) == sorted(cleanup_config.ROLE_VARIABLE_NAMES)
    assert sorted(DEFAULTS) == sorted(PREFIX + name for name in cleanup_config.ROLE_VARIABLE_NAMES)


def test_every_variable_goes_to_the_check_as_given():
    # no filter between the operator's value and the check (| int, | list would convert first)
    for name, template in MAPPING.items():
        assert template == "{{ %s%s }}" % (PREFIX, name)


@pytest.mark.parametrize("name, kind, default", cleanup_config.ROLE_VARIABLES)
def test_argument_spec_and_defaults_agree_with_check_deployment(name, kind, default):
    spec = SPEC[PREFIX + name]
    assert spec["type"] == SPEC_TYPES.get(kind, kind)
    if name == "host_label":
        assert DEFAULTS[PREFIX + name] == HOST_LABEL_DEFAULT
    else:
        assert DEFAULTS[PREFIX + name] == default
    if "choices" in spec:
        for choice in spec["choices"]:
            mapping = _defaults_as_given()
            mapping[name] = [choice] if kind == "list" else choice
            cleanup_config.check_deployment(mapping)


def test_the_defaults_pass_the_command_check():
    checked = cleanup_config.check_deployment(_defaults_as_given())
    assert checked["units"] == ["*"]
    assert checked["host_label"] == "web01.example.com"


# ---------------------------------------------------------------- the role's stage-and-check script
def _stage(tmp_path, given):
    """What check.yml transfers: the release (module_utils as reaper_systemd, the launcher) and the variables."""
    release = {"reaper_systemd/__init__.py": ROLE_VARS["__cleanup_timer_package_init"]}
    for name in sorted(os.listdir(MODULE_UTILS)):
        if name.endswith(".py"):
            with open(os.path.join(MODULE_UTILS, name)) as handle:
                release["reaper_systemd/" + name] = handle.read()
    with open(os.path.join(ROLE, "files", "reaper-cleanup.py")) as handle:
        release["reaper-cleanup.py"] = handle.read()
    stage = tmp_path / "stage"
    stage.mkdir(mode=0o700)
    (stage / "stage.json").write_text(json.dumps({"release": release, "deployment": json.dumps(given)}))
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            ROLE_VARS["__cleanup_timer_stage_and_check"],
            str(stage),
            "reaper-cleanup.py",
            json.dumps(ROLE_VARS["__cleanup_timer_config_paths"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=False,
    )


def test_stage_and_check_returns_the_checked_values_and_a_cleanup_json_the_command_loads(tmp_path):
    given = _defaults_as_given()
    # -e name=value gives text: the check converts what Ansible would, and the role renders the result
    given.update(
        units=["myapp*", "web"],
        deny=["web-canary"],
        max_actions="5",
        dry_run="yes",
        textfile_dir="/srv/prom",
        interval="1h 30s",
    )
    result = _stage(tmp_path, given)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    checked = out["checked"]
    assert checked["units"] == ["myapp*", "web"]
    assert checked["max_actions"] == 5
    assert checked["dry_run"] is True
    config = tmp_path / "cleanup.json"
    config.write_text(out["cleanup_json"])
    config.chmod(0o600)
    policy, extra = cleanup_config.load_config(str(config))
    assert policy.units == ["myapp*", "web"]
    assert policy.deny == ["web-canary"]
    assert policy.max_actions == 5
    assert policy.dry_run is True
    assert extra["textfile_dir"] == "/srv/prom"
    assert extra["host_label"] == "web01.example.com"
    assert extra["pause_path"] == "/etc/reaper-systemd/paused"
    # the timer's interval, for reaper_timer_interval_seconds (the alert on runs that stopped)
    assert extra["timer_interval"] == 3630.0


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("units", "myapp*", "myapp*"),
        ("deny", "myapp*", "myapp*"),
        ("textfile_dir", "/", "'/'"),
        ("interval", "1h\nOnCalendar=minutely", "OnCalendar=minutely"),
        ("host_label", "web\nExecStart=/bin/sh", "ExecStart=/bin/sh"),
    ],
)
def test_stage_and_check_refuses_naming_the_variable_and_the_value(tmp_path, name, value, shown):
    given = _defaults_as_given()
    given[name] = value
    result = _stage(tmp_path, given)
    assert result.returncode == 2
    assert PREFIX + name in result.stderr
    assert shown in result.stderr
    # nothing for the role to render
    assert result.stdout == ""
    assert not (tmp_path / "stage" / "cleanup.json").exists()


# ---------------------------------------------------------------- the units, from the checked values
def _render(template, settings):
    variables = dict(
        (name, value) for name, value in ROLE_VARS.items() if name.startswith("__") and isinstance(value, (str, int))
    )
    variables.update(__cleanup_timer_settings=settings, ansible_managed="Ansible managed")
    templar = Templar(loader=DataLoader(), variables=variables)
    with open(os.path.join(ROLE, "templates", template)) as handle:
        source = trust_as_template(handle.read())
    # the template module's defaults
    return templar.template(source, escape_backslashes=False, overrides=dict(trim_blocks=True))


def test_the_units_carry_the_checked_schedule_and_bounds():
    given = _defaults_as_given()
    given.update(interval="1h", boot_delay="10min", max_actions="10", action_timeout=30, textfile_dir="/srv/prom")
    settings = cleanup_config.check_deployment(given)
    timer = _render("reaper-cleanup.timer.j2", settings).splitlines()
    service = _render("reaper-cleanup.service.j2", settings).splitlines()
    assert "OnUnitActiveSec=1h" in timer
    assert "OnBootSec=10min" in timer
    assert 'ReadWritePaths="/srv/prom"' in service
    assert "TimeoutStartSec=420" in service
    for bound in ("OOMScoreAdjust=-500", "MemoryMax=256M", "TasksMax=16", "Nice=10"):
        assert bound in service


def test_no_metrics_directory_means_no_writable_path():
    settings = cleanup_config.check_deployment(_defaults_as_given())
    assert settings["textfile_dir"] is None
    assert "ReadWritePaths" not in _render("reaper-cleanup.service.j2", settings)
