"""Unit names and patterns systemd would accept, and nothing else."""

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import unit_names


@pytest.mark.parametrize(
    "name",
    [
        "nginx",
        "nginx.service",
        "worker@a.service",
        "worker@*",
        "sys-*.service",
        "a:b_c-d.service",
        "x\\x2dy.service",
        "[ab]*.service",
    ],
)
def test_valid_names(name):
    assert unit_names.check_pattern(name) is None


@pytest.mark.parametrize(
    "name, message",
    [
        ("../etc/passwd", "'/' or '..'"),
        ("a/b.service", "'/' or '..'"),
        ("a..b", "'/' or '..'"),
        ("bad name.service", "characters systemd does not accept"),
        ("", "non-empty"),
        (".hidden", "must not start"),
        ("x.socket", "not a service"),
        ("a" * 300, "longer than"),
        (5, "non-empty string"),
    ],
)
def test_invalid_names(name, message):
    assert message in unit_names.check_pattern(name)


def test_select_normalizes_names_without_suffix():
    selected, unmatched = unit_names.select(["nginx.service", "worker@a.service"], ["nginx", "worker@*", "db"])
    assert selected == ["nginx.service", "worker@a.service"] and unmatched == ["db"]
