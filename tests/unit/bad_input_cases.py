# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad values for every option of every surface, and the table docs/cleanup.md shows.

tests/unit/test_bad_input.py runs each row (the surface must refuse the value,
name the option, write nothing and signal nothing) and fails when an option of a
surface has no row. The option lists come from the code (argument specs, Policy
fields, cleanup.json keys, the role's meta/argument_specs.yml), not from here.

    python3 tests/unit/bad_input_cases.py --write docs/cleanup.md

regenerates the "Input validation" table (a test checks it is current).
"""

from __future__ import absolute_import, division, print_function

import math
import os
import sys

__metaclass__ = type

NAN = float("nan")
INF = float("inf")
NINF = float("-inf")

# Bad strings every string option must refuse, whatever else it accepts.
NEWLINE = "x\nExecStartPre=/bin/false"
NUL = "x\x00y"
DASH = "-x"
# A right-to-left override: the value reads differently from what it is.
BIDI = "app\u202ecod.exe"
# Numbers Ansible's own conversion (and Python's int()) would accept.
ARABIC_FIVE = "\u0665"
FIVE_NEWLINE = "5\n"
HUGE = "x" * 5000
# One path per way a path can name the whole system's directories or something else than a path.
SYSTEM_DIRS = ["/tmp", "/tmp/", "//etc", "/etc/.", "/var/lib", "/var/tmp//", "/proc/self/environ", "/usr", "/home"]


def _int(lo, hi, exact):
    """An int option: bounds, NaN/±Inf, bool, float, junk text, empty, a list (and "5" where types are exact)."""
    values = [lo - 1, hi + 1, NAN, INF, NINF, True, 1.5, "ten", "", [1], ARABIC_FIVE, FIVE_NEWLINE, "inf"]
    if exact:
        values.append("5")
    return values


def _number(lo, hi, exact, ansible=False):
    """A number option; through Ansible the text "nan" is converted to a float NaN first."""
    values = [lo - 1, hi + 1, NAN, INF, NINF, "ten", "", [1], True, ARABIC_FIVE, FIVE_NEWLINE, "1_0"]
    if exact:
        values.append("5")
    if ansible:
        values.extend(["nan", "inf", "-inf"])
    return values


def _bool(exact):
    values = ["maybe", "", NAN, [True], 2, "yes" + BIDI]
    if exact:
        values.extend(["no", "yes", 0, 1, None])
    return values


def _patterns(required, exact):
    """A list of unit names or patterns. Where types are exact a string is refused (never split)."""
    values = [[""], [NEWLINE], [NUL], [DASH], ["app.service\n"], ["../etc"], ["a b"], {"a": 1}, [BIDI], [HUGE]]
    if exact:
        # through Ansible, 5 becomes "5" (a valid name) and "myapp*" becomes ["myapp*"] (right)
        values.extend(["myapp*", [5], NAN, None])
    if required:
        values.append([])
    return values


def _path(unit_file=False):
    values = ["", "relative/path", "/", "/a/../b", "/a\nb", "/a\x00b", DASH, "~/x", "/var/lib/x*", "/var/lib/[ab]"]
    values += SYSTEM_DIRS + ["/var/lib/" + BIDI, "/" + "a/" * 2100, "/var/lib/" + "n" * 256]
    if unit_file:
        values.extend(["/var/lib/a b", "/var/%h"])
    return values


def _choice(bad):
    return [bad, "", NEWLINE, NUL, DASH, BIDI, HUGE]


# allow entries that could lift a never-ours unit: '*' and any pattern that can match one.
NEVER_OURS_ALLOW = [["*"], ["*.service"], ["s*-journald*"], ["[a-z]*"], ["user@[0-9]*"], ["reaper-*"]]
# A lock of its own would let a second cleanup act beside the timer.
OTHER_LOCK = ["/run/other/lock", "/var/lib/reaper-systemd/lock"]

# ------------------------------------------------------------------ Policy fields
# (exact types: cleanup.json and the Policy itself)
POLICY_EXACT = {
    "units": _patterns(required=True, exact=True),
    "deny": _patterns(required=False, exact=True),
    "allow": _patterns(required=False, exact=True) + [["systemd-journald.service"], ["dbus*"]] + NEVER_OURS_ALLOW,
    "actions": [["kill_everything"], "restart_unit", [NEWLINE], [NUL], [DASH], [""], [5], NAN],
    "min_zombies": _int(1, 1000000, exact=True),
    "min_zombie_age": _number(0, 366 * 86400, exact=True),
    "max_actions": _int(0, 100, exact=True),
    "max_actions_per_hour": _int(0, 1000, exact=True),
    "cooldown": _number(0, 366 * 86400, exact=True),
    "backoff_max": _number(0, 366 * 86400, exact=True) + [1],  # 1 < the default cooldown
    "park_after": _int(1, 100, exact=True),
    "zombie_wait": _number(0, 3600, exact=True),
    "grace": _number(0, 3600, exact=True),
    "action_timeout": _number(1, 86400, exact=True),
    "dry_run": _bool(exact=True),
}

# Non-policy keys of cleanup.json.
EXTRA_EXACT = {
    "textfile_dir": _path(unit_file=True) + [5, True, NAN],
    "state_path": _path() + [None, 5, NAN],
    "lock_path": _path() + OTHER_LOCK + [None, 5, NAN],
    "pause_path": _path() + [None, 5, NAN],
    "backend": _choice("ebpf") + [None, 5],
    "host_label": ["", NEWLINE, NUL, DASH, 5, ["a"], NAN, BIDI, HUGE],
    "timer_interval": [
        "15 minutes please",
        "1h\nOnCalendar=*:0/1",
        "",
        "-5min",
        NAN,
        True,
        ["5min"],
        "10s",
        0,
        "30d",
        "5min\n",
        ARABIC_FIVE + "min",
        BIDI,
        INF,
    ],
}

# ------------------------------------------------------------------ modules (after Ansible's conversion)
# Ansible converts "5" to 5 and "no" to False and a string to a one-element list
# (["myapp*"], which is right), so those are not bad values there; a dict is.
_ANSIBLE_POLICY = {
    "units": _patterns(required=True, exact=False),
    "deny": _patterns(required=False, exact=False),
    "allow": _patterns(required=False, exact=False) + [["systemd-journald.service"]] + NEVER_OURS_ALLOW,
    "actions": [["kill_everything"], [NEWLINE], [""], {"a": 1}],
    "min_zombies": _int(1, 1000000, exact=False),
    "min_zombie_age": _number(0, 366 * 86400, exact=False, ansible=True),
    "max_actions": _int(0, 100, exact=False),
    "max_actions_per_hour": _int(0, 1000, exact=False),
    "cooldown": _number(0, 366 * 86400, exact=False, ansible=True),
    "backoff_max": _number(0, 366 * 86400, exact=False, ansible=True) + [1],
    "park_after": _int(1, 100, exact=False),
    "zombie_wait": _number(0, 3600, exact=False, ansible=True),
    "grace": _number(0, 3600, exact=False, ansible=True),
    "action_timeout": _number(1, 86400, exact=False, ansible=True),
    "dry_run": _bool(exact=False),
}
_ANSIBLE_EXTRA = {
    "textfile_dir": _path(unit_file=True),
    "state_path": _path(),
    "lock_path": _path() + OTHER_LOCK,
    "pause_path": _path(),
    "backend": _choice("ebpf"),
    "host_label": ["", NEWLINE, NUL, DASH, ["a"], BIDI, HUGE],
}
REAP = dict(
    _ANSIBLE_POLICY,
    paused=_bool(exact=False),
    # names only (no glob, '*' alone means all)
    unpark=[[""], [NEWLINE], [NUL], [DASH], ["app.service\n"], ["../etc"], ["a b"], ["app*"], {"a": 1}, [BIDI], [HUGE]],
    **_ANSIBLE_EXTRA,
)

PROCESS_FACTS = {
    "units": _patterns(required=False, exact=False),
    "min_zombie_age": _number(0, 366 * 86400, exact=False, ansible=True),
    "min_zombies": _int(0, 1000000, exact=False),
    "tasks_usage_warn": _number(0, 1, exact=False, ansible=True),
    "pid_usage_warn": _number(0, 1, exact=False, ansible=True),
    # journalctl --since: "-1h" is a time there, so a leading '-' is allowed
    "journal_since": ["", NEWLINE, NUL, "today;reboot", "$(reboot)", ["today"], "--all", "-x", "--since", BIDI, HUGE],
    "max_items": _int(0, 1000000, exact=False),
    "backend": _choice("ebpf"),
}

KILLMODE_DROPIN = {
    "units": ["app", 5, [5], [{"settings": {"kill_mode": "mixed"}}]],
    "units[].name": [
        "",
        NEWLINE,
        NUL,
        DASH,
        "app.service\n",
        "../x",
        "a b",
        "getty@.service",
        "x.socket",
        ["x"],
        BIDI,
        HUGE,
        "app*",
    ],
    "units[].settings": ["junk", [1], {"colour": "red"}],
    "units[].content": [
        "[Service]\nKillMode=process\n",
        "[Service]\nKillMode=mixed\nExecStartPre=/bin/false\n",
        "[Service]\nKillMode=mixed\\\nExecStartPre=/bin/false\n",
        "[Unit]\nDescription=x\n[Service]\nKillMode=mixed\n",
        "KillMode=mixed\n",
        "[Service]\nKillMode=mixed\nKillMode=mixed\n",
        "[Service]\nKillMode=mixed\x00\n",
        "[Service]\r\nKillMode=mixed\r\n",
        "[Service]\n",
    ],
    "units[].settings.kill_mode": ["sometimes", "", NEWLINE, NUL, DASH, "mixed\n", NAN, 5, ["mixed"]],
    "units[].settings.send_sigkill": ["maybe", "", "yes\nExecStartPre=/bin/false", NUL, DASH, NAN, 5, ["yes"]],
    "units[].settings.final_kill_signal": ["SIGFOO", "", NEWLINE, NUL, "-9", 0, 65, NAN, INF, ["KILL"], ARABIC_FIVE],
    "units[].settings.timeout_stop_sec": [
        "ten minutes",
        "",
        "90\nExecStartPre=/bin/false",
        "90\x00",
        "-5",
        NAN,
        INF,
        NINF,
        True,
        ["90"],
        ARABIC_FIVE,
    ],
    "units[].settings.tasks_max": [0, -1, "lots", "", "10\nX=1", NUL, "-1", NAN, INF, True, ["10"], ARABIC_FIVE, "5\n"],
    "units[].settings.exit_type": ["both", "", "main\n", NUL, DASH, NAN, 5],
    "exempt": [[""], [NEWLINE], [NUL], [DASH], ["a/b"], ["x.service\n"], {"a": 1}, [BIDI], [HUGE]],
    "state": ["maybe", "", NEWLINE, 5],
    "remove_all": ["maybe", "", NAN, 2],
    "dropin_name": [
        "",
        "../x.conf",
        "x.txt",
        ".conf",
        "a\nb.conf",
        "a\x00.conf",
        "-x.conf",
        5,
        "a\u202efnoc.conf",
        "x" * 300 + ".conf",
        "*.conf",
        "x[ab].conf",
    ],
    "unit_dir": _path(),
    "verify": ["maybe", "", NAN, 2],
}

# ------------------------------------------------------------------ the role's variables (check_deployment)
# The role's argument spec converts "5" and "no" like Ansible does; a string for a list is refused.
_TIMESPAN = ["15 minutes please", "1h\nOnCalendar=*:0/1", "", "-5min", "5min;", NUL, NAN, INF, True, ["5min"]]
ROLE = {
    "state": _choice("maybe") + [5],
    "units": _patterns(required=True, exact=True),
    "deny": _patterns(required=False, exact=True),
    "allow": _patterns(required=False, exact=True) + [["systemd-journald.service"]] + NEVER_OURS_ALLOW,
    "actions": [["kill_everything"], "restart_unit", [NEWLINE], [""], NAN],
    "dry_run": _bool(exact=False) + [None],
    "min_zombies": _int(1, 1000000, exact=False) + ["5.5", None],
    "min_zombie_age": _number(0, 366 * 86400, exact=False, ansible=True),
    "max_actions": _int(0, 100, exact=False) + ["5.5"],
    "max_actions_per_hour": _int(0, 1000, exact=False),
    "cooldown": _number(0, 366 * 86400, exact=False, ansible=True),
    "backoff_max": _number(0, 366 * 86400, exact=False, ansible=True) + [1],
    "park_after": _int(1, 100, exact=False),
    "grace": _number(0, 3600, exact=False, ansible=True),
    "action_timeout": _int(1, 86400, exact=False),
    "backend": _choice("ebpf") + [5],
    "interval": _TIMESPAN + ["10s", "0", "30d"],
    "boot_delay": _TIMESPAN,
    "randomized_delay": _TIMESPAN,
    "enabled": _bool(exact=False) + [None],
    "textfile_dir": _path(unit_file=True)[1:] + [5, True],  # "" means "no metrics" for the role
    "paused": _bool(exact=False) + [None],
    "host_label": [NEWLINE, NUL, DASH, 5, ["a"], BIDI, HUGE],
}

# ------------------------------------------------------------------ the action fleet_report (controller)
FLEET_REPORT = {
    "report_dir": _path() + [5, None],
    "hosts": [[NEWLINE], [""], [BIDI], [NUL], {"a": 1}],
    "label": [NEWLINE, NUL, BIDI, "x\x1b[31m"],
    "all_units": _bool(exact=False),
    "slice": ["../../etc", "a/b", NEWLINE, BIDI, ".hidden", "-x", HUGE],
    "baseline": ["x", [1], {"hosts": "x"}, {"a": 1}],
    "merge_inputs": ["x", [5], [{"a": 1}], [{"hosts": {}, "schema_version": "9"}]],
}

# ------------------------------------------------------------------ the role killmode_hardening's variables
_KH_NAMES = [[""], [NEWLINE], [NUL], [DASH], ["a/b"], ["x.service\n"], {"a": 1}, [BIDI], [HUGE]]
KILLMODE_HARDENING = {
    "units": [
        [5],
        [{"kill_mode": "mixed"}],
        [{"name": "app\n"}],
        [{"name": "app", "kill_mode": "sometimes"}],
        [{"name": "app", "tasks_max": True}],
        [{"name": "app", "timeout_stop_sec": INF}],
        [{"name": "app", "colour": "red"}],
        ["systemd-journald"],
        ["ssh"],
        [BIDI],
        [HUGE],
        ["../etc"],
        {"a": 1},
    ],
    "kill_mode": ["sometimes", "mixed\n", "", 5, ["mixed"], BIDI],
    "from_facts": _bool(exact=False),
    "exempt": _KH_NAMES,
    "exempt_extra": _KH_NAMES,
    "allow": _KH_NAMES[:-3] + NEVER_OURS_ALLOW + [[BIDI], [HUGE]],
    "state": _choice("maybe") + [5],
    "restart": _choice("always") + [5],
}

SURFACES = (
    ("reap", "module reaper.systemd.reap", REAP),
    ("process_facts", "module reaper.systemd.process_facts", PROCESS_FACTS),
    ("killmode_dropin", "module reaper.systemd.killmode_dropin", KILLMODE_DROPIN),
    ("cleanup.json", "/etc/reaper-systemd/cleanup.json (cleanup command)", dict(POLICY_EXACT, **EXTRA_EXACT)),
    ("cleanup_timer", "role variables cleanup_timer_* (check_deployment)", ROLE),
    ("fleet_report", "action reaper.systemd.fleet_report (controller)", FLEET_REPORT),
    (
        "killmode_hardening",
        "role variables killmode_hardening_* (argument spec, exemptions, killmode_dropin)",
        KILLMODE_HARDENING,
    ),
)


def shown(value):
    """A value as the table shows it (a float NaN and the text "nan" must look different)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if value == INF and isinstance(value, float):
        return "+Inf"
    if value == NINF and isinstance(value, float):
        return "-Inf"
    text = _short_repr(value)
    return text.replace("|", "\\|").replace("`", "'")


def _short_repr(value):
    """repr(), with long strings (anywhere in a list) cut and their length said."""
    if isinstance(value, str) and len(value) > 40:
        return "%s...' (%d characters)" % (repr(value)[:24], len(value))
    if isinstance(value, list):
        return "[%s]" % ", ".join(_short_repr(item) for item in value)
    return repr(value)


BEGIN = "<!-- BEGIN generated by tests/unit/bad_input_cases.py: do not edit -->"
END = "<!-- END generated by tests/unit/bad_input_cases.py -->"


def table(options_by_surface=None):
    """The markdown table (surface, option, bad values refused). Only options that exist are listed."""
    lines = [
        BEGIN,
        "| surface | option | bad values refused (each: an error naming the option and the value, "
        "nothing written, nothing signalled) |",
        "| --- | --- | --- |",
    ]
    for key, _title, rows in SURFACES:
        names = sorted(rows)
        if options_by_surface is not None:
            names = sorted(set(rows) & set(options_by_surface[key]))
        for name in names:
            values = ", ".join("`%s`" % shown(value) for value in rows[name])
            lines.append("| %s | `%s` | %s |" % (key, name, values))
    lines.append(END)
    return "\n".join(lines) + "\n"


def replace_table(doc_text, new_table):
    if BEGIN not in doc_text or END not in doc_text:
        raise ValueError("the markers of the generated table are missing")
    head = doc_text[: doc_text.index(BEGIN)]
    tail = doc_text[doc_text.index(END) + len(END) :]
    return head + new_table.rstrip("\n") + tail


def main(argv):
    if len(argv) != 3 or argv[1] != "--write":
        sys.stderr.write("usage: %s --write docs/cleanup.md\n" % argv[0])
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import test_bad_input  # the options the code really has

    with open(argv[2]) as handle:
        text = handle.read()
    text = replace_table(text, table(test_bad_input.real_options()))
    with open(argv[2], "w") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
