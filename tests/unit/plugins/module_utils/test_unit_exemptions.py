"""The one definition of units the collection does not act on: tiers, lifting, and what hardening skips."""

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import unit_exemptions


def test_every_by_design_entry_says_killmode_why_and_source():
    for entry in unit_exemptions.BY_DESIGN:
        assert entry.kill_mode in ("process", "none", "mixed", "control-group"), entry.pattern
        assert entry.why and entry.source, entry.pattern
        assert unit_exemptions.never_ours(entry.pattern) is None, entry.pattern


@pytest.mark.parametrize(
    "unit, tier, allowed",
    [
        ("systemd-journald.service", "never_ours", False),
        ("user@1000.service", "never_ours", False),
        ("dbus", "never_ours", False),
        ("ssh", "by_design", False),
        ("getty@tty1.service", "by_design", False),
        ("nginx.service", None, True),
    ],
)
def test_classify_without_allow(unit, tier, allowed):
    found = unit_exemptions.classify(unit)
    assert (found["tier"], found["allowed"]) == (tier, allowed)
    assert found["name"].endswith(".service")


def test_allow_lifts_by_design_entries_only():
    assert unit_exemptions.classify("cron.service", ["cron"])["allowed"] is True
    assert unit_exemptions.classify("getty@tty1.service", ["getty@tty1"])["allowed"] is True
    assert unit_exemptions.classify("getty@tty2.service", ["getty@tty1"])["allowed"] is False
    # allow never reaches the never-ours tier, even when it matches
    assert unit_exemptions.classify("systemd-udevd.service", ["systemd-udevd"])["allowed"] is False


@pytest.mark.parametrize("entry", ["systemd-journald", "systemd-*", "user@*", "*", "dbus.service"])
def test_allow_entries_that_cover_never_ours_units_are_refused(entry):
    problem = unit_exemptions.allow_problem(entry)
    assert problem is not None and repr(entry) in problem and "never ours" in problem


@pytest.mark.parametrize("entry", ["ssh", "cron.service", "getty@*", "nginx"])
def test_allow_entries_for_other_units_are_accepted(entry):
    assert unit_exemptions.allow_problem(entry) is None


def test_hardening_exemptions_keep_builtins_and_drop_only_lifted_entries():
    default = unit_exemptions.hardening_exemptions()
    assert default == unit_exemptions.builtin_patterns()
    lifted = unit_exemptions.hardening_exemptions(["cron", "getty@tty1"])
    assert set(default) - set(lifted) == {"cron.service", "getty@*.service"}
    assert "systemd-*" in lifted and "ssh.service" in lifted


@pytest.mark.parametrize("entry", ["*", "*.service", "s*-journald*", "[a-z]*", "?bus", "user@[0-9]*", "reaper-*"])
def test_allow_entries_that_can_match_a_never_ours_unit_are_refused_everywhere(entry):
    from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_policy

    assert unit_exemptions.allow_problem(entry) is not None
    with pytest.raises(cleanup_policy.PolicyError) as caught:
        cleanup_policy.Policy(units=["*"], allow=[entry])
    assert caught.value.option == "allow" and "never ours" in str(caught.value)


@pytest.mark.parametrize("entry", ["ssh*", "getty@*", "cron", "containerd.service", "serial-getty@ttyS0"])
def test_allow_entries_for_by_design_units_lift_them(entry):
    from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_policy

    policy = cleanup_policy.Policy(units=["*"], allow=[entry])
    assert policy.allow == [entry]
