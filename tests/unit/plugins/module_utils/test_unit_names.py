"""Unit names and patterns systemd would accept, and nothing else."""

import fnmatch

import pytest
from hypothesis import given, settings, strategies as st

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


@pytest.mark.parametrize(
    "one, other, overlap",
    [
        ("*", "systemd-*", True),
        ("s*-journald*", "systemd-*", True),
        ("[a-z]*", "dbus*", True),
        ("?bus.service", "dbus*", True),
        ("[!d]bus*", "dbus*", False),
        ("ssh*", "systemd-*", False),
        ("cron.service", "systemd-*", False),
        ("user@1000.service", "user@*", True),
        ("*.service", "emergency.service", True),
        ("getty@*.service", "user@*", False),
        ("reaper-*", "reaper-cleanup*", True),
        ("reaper-x*", "reaper-cleanup*", False),
        ("[ab", "*", False),  # an unclosed '[' is a '[', which no unit name holds
    ],
)
def test_patterns_overlap(one, other, overlap):
    # the answer does not depend on the order
    assert unit_names.patterns_overlap(one, other) is overlap
    assert unit_names.patterns_overlap(other, one) is overlap


@settings(max_examples=300)
@given(
    st.text(alphabet="ab*?", min_size=0, max_size=5),
    st.text(alphabet="ab*?[]!", min_size=0, max_size=5),
)
def test_patterns_overlap_agrees_with_every_short_name(first, second):
    # brute force over every name up to 6 characters from a small alphabet (and one other letter)
    import itertools

    names = ["".join(p) for n in range(7) for p in itertools.product("abc", repeat=n)]
    expected = any(fnmatch.fnmatchcase(n, first) and fnmatch.fnmatchcase(n, second) for n in names)
    if expected:
        assert unit_names.patterns_overlap(first, second)
