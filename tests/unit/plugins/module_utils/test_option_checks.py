# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared checks, over large value spaces (hypothesis): names, strings, numbers, time spans."""

from __future__ import absolute_import, division, print_function

import math
import re
import unicodedata

import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_policy, option_checks, unit_names

__metaclass__ = type

NAME_ALPHABET = re.compile(r"[A-Za-z0-9:_.\\@*?\[\]!-]+\Z")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _invisible(text):
    """Controls, bidi and other format characters, unassigned, line/paragraph separators."""
    return CONTROL.search(text) or any(
        unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in text
    )


@settings(max_examples=400)
@given(st.text(min_size=0, max_size=40))
def test_a_unit_name_passes_only_in_systemds_alphabet(name):
    problem = unit_names.check_pattern(name)
    if problem is None:
        assert NAME_ALPHABET.match(name), name
        assert not name.startswith(("-", ".", "@")) and "\n" not in name and "/" not in name


@given(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}\.service", fullmatch=True),
    st.sampled_from(["\n", "\x00", "\r", "\t", " "]),
)
def test_a_control_character_anywhere_refuses_the_name(name, bad):
    assert unit_names.check_pattern(name) is None
    for variant in (name + bad, bad + name, name[:2] + bad + name[2:]):
        assert unit_names.check_pattern(variant) is not None, repr(variant)
        with pytest.raises(cleanup_policy.PolicyError) as caught:
            cleanup_policy.Policy(units=[variant])
        assert caught.value.option == "units"


@given(st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True))
def test_a_leading_dash_refuses_the_name(name):
    assert unit_names.check_pattern("-" + name) is not None


@given(st.text(max_size=30))
def test_safe_string_refuses_exactly_invisible_characters_and_a_leading_dash(text):
    bad = not text or _invisible(text) or text.startswith("-")
    try:
        option_checks.safe_string("opt", text)
    except option_checks.InvalidOption as exc:
        assert bad and exc.option == "opt" and str(exc).startswith("opt ")
    else:
        assert not bad


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans()))
def test_number_accepts_only_finite_numbers_within_bounds(value):
    inside = not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 3600
    try:
        assert option_checks.number("grace", value, 0, 3600) == value
    except option_checks.InvalidOption as exc:
        assert not inside and exc.option == "grace" and exc.value is value
    else:
        assert inside


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=5)))
def test_every_policy_number_refuses_nan_inf_bool_and_text(value):
    assume(isinstance(value, (bool, str)) or not math.isfinite(value))
    for name in ("min_zombies", "min_zombie_age", "max_actions", "cooldown", "grace", "action_timeout", "zombie_wait"):
        with pytest.raises(cleanup_policy.PolicyError) as caught:
            cleanup_policy.Policy(units=["app"], **{name: value})
        assert caught.value.option == name


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=999),
            st.sampled_from(["s", "sec", "min", "m", "h", "hour", "d", "ms", "w"]),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["", " "]),
)
def test_timespans_in_systemds_form_are_read(parts, glue):
    text = " ".join("%d%s%s" % (number, glue, unit) for number, unit in parts)
    units = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "d": 86400, "ms": 0.001, "w": 604800}
    expected = sum(number * units[unit] for number, unit in parts)
    assert option_checks.timespan("interval", text) == pytest.approx(expected)


@given(st.text(max_size=20), st.sampled_from(["\n", "\x00", ";", "%", "'", "="]))
def test_timespans_with_anything_else_are_refused(text, bad):
    for value in ("5min" + bad + text, bad + "5min", "-5min"):
        with pytest.raises(option_checks.InvalidOption) as caught:
            option_checks.timespan("interval", value)
        assert caught.value.option == "interval"


@pytest.mark.parametrize(
    "value, normal",
    [("/var/lib/x", "/var/lib/x"), ("/var/lib/x/", "/var/lib/x"), ("//var//lib/x", "/var/lib/x"), ("/a/./b", "/a/b")],
)
def test_paths_are_normalised(value, normal):
    assert option_checks.absolute_path("state_path", value) == normal


def test_a_string_is_never_split_into_a_list():
    with pytest.raises(option_checks.InvalidOption, match="units must be a list of strings, got 'myapp\\*'"):
        option_checks.string_list("units", "myapp*")


@pytest.mark.parametrize("value", ["yes", "no", "true", 0, 1, None, "False"])
def test_boolean_is_exact(value):
    with pytest.raises(option_checks.InvalidOption, match="dry_run must be true or false"):
        option_checks.boolean("dry_run", value)


def test_long_values_are_cut_in_messages():
    with pytest.raises(option_checks.InvalidOption) as caught:
        option_checks.choice("backend", "x" * 10000, ("procfs",))
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        "٥",
        "5\n",
        " 5",
        "5 ",
        float("inf"),
        float("-inf"),
        float("nan"),
        "inf",
        "1e400",
        1.5,
        "",
        "0x10",
        None,
        [5],
    ],
)
def test_strict_int_refuses_what_ansible_would_convert(value):
    with pytest.raises((TypeError, ValueError)):
        option_checks.strict_int(value)


@pytest.mark.parametrize("value, expected", [(5, 5), ("5", 5), ("-3", -3), (7.0, 7), ("+2", 2)])
def test_strict_int_reads_plain_numbers(value, expected):
    assert option_checks.strict_int(value) == expected


@pytest.mark.parametrize(
    "value", [True, "٥", "5\n", "nan", "inf", "-Infinity", float("inf"), float("nan"), "1e999", "", "1,5", None]
)
def test_strict_float_refuses_what_ansible_would_convert(value):
    with pytest.raises((TypeError, ValueError)):
        option_checks.strict_float(value)


@pytest.mark.parametrize("value, expected", [(5, 5.0), ("2.5", 2.5), (".5", 0.5), ("1e3", 1000.0), (0.25, 0.25)])
def test_strict_float_reads_plain_numbers(value, expected):
    assert option_checks.strict_float(value) == expected


def test_documented_types_equal_their_documented_name_and_convert_strictly():
    # validate-modules compares the spec's type with the DOCUMENTATION's type
    assert option_checks.STRICT_INT == "int" and option_checks.STRICT_FLOAT == "float"
    assert option_checks.PLAIN_PATH == "path" and option_checks.PLAIN_PATH("~/x") == "~/x"
    assert option_checks.STRICT_INT.__name__ == "int"
    with pytest.raises(TypeError):
        option_checks.STRICT_FLOAT(True)
    import copy

    assert copy.deepcopy(option_checks.STRICT_INT)("5") == 5


@pytest.mark.parametrize(
    "value",
    [
        "-1h",
        "today",
        "yesterday",
        "2026-01-31 12:00:00",
        "2026-01-31",
        "12:00",
        "+2 days",
        "3 hours ago",
        "@1700000000",
        "-30min",
    ],
)
def test_journalctl_times(value):
    assert option_checks.journalctl_time("journal_since", value) == value


@pytest.mark.parametrize(
    "value", ["--all", "--since", "-x", "-", "today;reboot", "$(reboot)", "to\nday", "", "-1h --all", "--output=json"]
)
def test_journalctl_times_that_could_be_options_or_junk_are_refused(value):
    with pytest.raises(option_checks.InvalidOption) as caught:
        option_checks.journalctl_time("journal_since", value)
    assert caught.value.option == "journal_since"
