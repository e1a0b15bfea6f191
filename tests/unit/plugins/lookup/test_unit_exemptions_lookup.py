"""The lookup that gives roles the built-in exemptions: what the killmode_hardening role relies on."""

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleLookupError

from ansible_collections.reaper.systemd.plugins.lookup import unit_exemptions as plugin_module

NAME = "reaper.systemd.unit_exemptions"


@pytest.fixture
def lookup():
    # What the plugin loader does, without depending on how earlier tests set it up:
    # register the options the plugin documents, then name the instance.
    options = yaml.safe_load(plugin_module.DOCUMENTATION)["options"]
    C.config.initialize_plugin_configuration_definitions("lookup", NAME, options)
    plugin = plugin_module.LookupModule()
    plugin._load_name = NAME
    return plugin


def test_classifies_names_given_as_a_list(lookup):
    found = lookup.run([["ssh", "nginx", "systemd-logind.service"]], variables={})
    assert [(f["name"], f["tier"], f["allowed"]) for f in found] == [
        ("ssh.service", "by_design", False),
        ("nginx.service", None, True),
        ("systemd-logind.service", "never_ours", False),
    ]
    assert found[0]["reason"].startswith("ssh.service sets KillMode=process by design (")


def test_allow_lifts_a_by_design_entry(lookup):
    found = lookup.run(["cron"], variables={}, allow=["cron"])
    assert found[0]["allowed"] is True
    exempt = lookup.run([], variables={}, allow=["cron"], want="hardening_exemptions")
    assert "cron.service" not in exempt and "ssh.service" in exempt and "systemd-*" in exempt


def test_allow_covering_a_never_ours_unit_fails_naming_the_option(lookup):
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run(["ssh"], variables={}, allow=["user@*"], allow_option="killmode_hardening_allow")
    assert "killmode_hardening_allow: 'user@*' can match user@*" in str(err.value)


@pytest.mark.parametrize("entry", ["a/b", "-x", "x\n", "app\u202ecod", "", "x" * 300])
def test_check_patterns_names_the_callers_variable(lookup, entry):
    with pytest.raises(AnsibleLookupError) as err:
        lookup.run([["nginx", entry]], variables={}, want="check_patterns", option="killmode_hardening_exempt_extra")
    assert str(err.value).startswith("killmode_hardening_exempt_extra ") and "nothing was changed" in str(err.value)


def test_check_patterns_returns_good_patterns(lookup):
    assert lookup.run([["nginx", "worker@*"]], variables={}, want="check_patterns", option="x") == ["nginx", "worker@*"]
