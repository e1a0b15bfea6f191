# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate kill settings for a service drop-in and check a drop-in with systemd-analyze.

Used by the killmode_dropin module (the killmode_hardening role). Stdlib only, like
every module_utils file of the collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import tempfile

from .systemd_units import parse_timespan
from .unit_names import check_pattern, normalize

# Characters no setting value may hold: NUL, newlines and other controls would end
# the value or start a new directive in the drop-in.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

KILL_MODES = ("control-group", "mixed", "process", "none")
EXIT_TYPES = ("main", "cgroup")

# setting key -> (directive, first systemd release that knows it)
DIRECTIVES = (
    ("kill_mode", "KillMode", 209),  # 'mixed' appeared in 209
    ("send_sigkill", "SendSIGKILL", 0),
    ("final_kill_signal", "FinalKillSignal", 243),
    ("timeout_stop_sec", "TimeoutStopSec", 0),
    ("tasks_max", "TasksMax", 227),
    ("exit_type", "ExitType", 250),
)
SETTING_KEYS = tuple(key for key, _directive, _version in DIRECTIVES)

# Names systemd's signal_from_string() accepts (without the optional SIG prefix).
SIGNAL_NAMES = frozenset(
    (
        "HUP",
        "INT",
        "QUIT",
        "ILL",
        "TRAP",
        "ABRT",
        "IOT",
        "BUS",
        "FPE",
        "KILL",
        "USR1",
        "SEGV",
        "USR2",
        "PIPE",
        "ALRM",
        "TERM",
        "STKFLT",
        "CHLD",
        "CONT",
        "STOP",
        "TSTP",
        "TTIN",
        "TTOU",
        "URG",
        "XCPU",
        "XFSZ",
        "VTALRM",
        "PROF",
        "WINCH",
        "IO",
        "POLL",
        "PWR",
        "SYS",
    )
)
# \Z, not $ ('$' also matches before a trailing newline); [0-9], not isdigit() (which takes "٥")
_RT_SIGNAL = re.compile(r"(RTMIN|RTMAX)([+-][0-9]+)?\Z")
_TASKS_PERCENT = re.compile(r"[0-9]+(\.[0-9]{1,2})?%\Z")
_ASCII_NUMBER = re.compile(r"[0-9]{1,19}\Z")
# Bools as systemd's parse_boolean() reads them.
_SYSTEMD_TRUE = ("1", "yes", "y", "true", "t", "on")
_SYSTEMD_FALSE = ("0", "no", "n", "false", "f", "off")


def unit_name_error(name):
    """Error message for a name that cannot be a service we may write a drop-in for, or None."""
    error = check_pattern(name, allow_glob=False)
    if error:
        return error
    full = normalize(name)
    if not full.endswith(".service"):
        return "%r is not a service: only .service units get a kill drop-in" % name
    prefix = full[: -len(".service")]
    if not prefix or prefix.startswith("@") or prefix.count("@") > 1:
        return "%r is not a valid service name (expected NAME.service or NAME@INSTANCE.service)" % name
    if prefix.endswith("@"):
        return (
            "%r is a template; name its instances (for example %sINSTANCE.service): "
            "systemd cannot show or verify a template on its own" % (name, prefix)
        )
    return None


def _is_signal(value):
    text = str(value).strip()
    if _ASCII_NUMBER.match(text):
        return 1 <= int(text) <= 64
    if text.startswith("SIG"):
        text = text[3:]
    if text in SIGNAL_NAMES:
        return True
    match = _RT_SIGNAL.match(text)
    return bool(match)


def _as_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _SYSTEMD_TRUE:
        return True
    if text in _SYSTEMD_FALSE:
        return False
    return None


def setting_errors(unit, settings):
    """Validate one unit's settings dict; return a list of error messages (empty when fine).

    Keys whose value is None are unset and not validated. Values must be single-line
    so a drop-in cannot gain directives through a value.
    """
    errors = []
    for key in sorted(settings):
        if key not in SETTING_KEYS:
            errors.append("%s: settings has an unknown key %r (known: %s)" % (unit, key, ", ".join(SETTING_KEYS)))
    for key, _directive, _version in DIRECTIVES:
        value = settings.get(key)
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            errors.append("%s: %s must be a single value, got %r" % (unit, key, value))
            continue
        text = str(value)
        if _CONTROL.search(text) or not text.strip():
            errors.append("%s: %s must be a non-empty single-line value, got %r" % (unit, key, text))
            continue
        text = text.strip()
        if key == "kill_mode" and text not in KILL_MODES:
            errors.append(
                "%s: kill_mode %r is not a KillMode= systemd knows (use one of: %s)"
                % (unit, text, ", ".join(KILL_MODES))
            )
        elif key == "send_sigkill" and _as_bool(value) is None:
            errors.append("%s: send_sigkill must be a boolean, got %r" % (unit, value))
        elif key == "timeout_stop_sec":
            if isinstance(value, bool):
                errors.append("%s: timeout_stop_sec must be a time span, got %r" % (unit, value))
                continue
            try:
                parse_timespan(text)
            except ValueError:
                errors.append(
                    "%s: timeout_stop_sec %r is not a systemd time span "
                    "(examples: 90, 90s, 1min 30s, 500ms, infinity)" % (unit, text)
                )
        elif key == "final_kill_signal" and not _is_signal(text):
            errors.append(
                "%s: final_kill_signal %r is not a signal systemd knows (examples: SIGKILL, SIGQUIT, 9)" % (unit, text)
            )
        elif key == "tasks_max":
            if isinstance(value, bool) or not (
                (_ASCII_NUMBER.match(text) and int(text) > 0) or text == "infinity" or _TASKS_PERCENT.match(text)
            ):
                errors.append(
                    "%s: tasks_max %r must be a positive number, a percentage (e.g. 25%%) or infinity" % (unit, text)
                )
        elif key == "exit_type" and text not in EXIT_TYPES:
            errors.append("%s: exit_type %r is not valid (use one of: %s)" % (unit, text, ", ".join(EXIT_TYPES)))
    return errors


def support_errors(unit, settings, version):
    """Errors for directives the host's systemd release does not know."""
    if version is None:
        return []
    errors = []
    for key, directive, since in DIRECTIVES:
        if settings.get(key) is not None and version < since:
            errors.append(
                "%s: %s= needs systemd %d or later; this host runs systemd %d. "
                "Remove %s for this host." % (unit, directive, since, version, key)
            )
    if settings.get("tasks_max") is not None and str(settings["tasks_max"]).endswith("%") and version < 231:
        errors.append(
            "%s: TasksMax= as a percentage needs systemd 231 or later; this host runs systemd %d." % (unit, version)
        )
    return errors


def verify_lines(text, tmpdir, replacements):
    """Normalise systemd-analyze output into a set-comparable list of lines."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        for old, new in replacements:
            line = line.replace(old, new)
        line = line.replace(tmpdir, "<copy>")
        lines.append(line)
    return lines


def _run_verify(analyze, tmpdir, unit):
    env = dict(os.environ, LC_ALL="C", SYSTEMD_PAGER="", SYSTEMD_COLORS="0", SYSTEMD_LOG_COLOR="0")
    # Our copy first; the trailing ':' keeps the default search path so that
    # dependencies (After=, WantedBy= targets...) still resolve.
    env["SYSTEMD_UNIT_PATH"] = tmpdir + ":"
    proc = subprocess.Popen(
        [analyze, "verify", "--man=no", os.path.join(tmpdir, unit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = proc.communicate()
    return proc.returncode, (out + err).decode("utf-8", "replace")


def verify_dropin(analyze, unit, fragment_path, dropin_paths, dropin_name, content, target_path):
    """Check `content` as drop-in `dropin_name` of `unit` with systemd-analyze verify.

    The unit file and every drop-in systemd loads for it are copied into a temporary
    directory (a same-named file there shadows the installed one) and verified twice:
    without our drop-in (an empty file shadows an installed copy) and with it.
    Returns (added_lines, with_rc, baseline_rc, with_lines): added_lines are the
    messages only the version with our drop-in produced.
    """
    tmpdir = tempfile.mkdtemp(prefix="reaper-killmode-verify-")
    try:
        if fragment_path:
            shutil.copyfile(fragment_path, os.path.join(tmpdir, os.path.basename(fragment_path)))
        dropin_dir = os.path.join(tmpdir, unit + ".d")
        os.mkdir(dropin_dir)
        for path in dropin_paths:
            if os.path.basename(path) == dropin_name:
                continue
            shutil.copyfile(path, os.path.join(dropin_dir, os.path.basename(path)))
        ours = os.path.join(dropin_dir, dropin_name)
        replacements = [(ours, target_path)]
        with open(ours, "w") as handle:
            handle.write("")
        baseline_rc, baseline_text = _run_verify(analyze, tmpdir, unit)
        with open(ours, "w") as handle:
            handle.write(content)
        with_rc, with_text = _run_verify(analyze, tmpdir, unit)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    baseline = set(verify_lines(baseline_text, tmpdir, replacements))
    with_lines = verify_lines(with_text, tmpdir, replacements)
    added = [line for line in with_lines if line not in baseline]
    return added, with_rc, baseline_rc, with_lines


# ---------------------------------------------------------------- the drop-in text
_COMMENT_PREFIXES = ("#", ";")
_SECTION = "[Service]"


def directive_value(key, value):
    """The text written after ``Directive=`` for a validated setting."""
    if key == "send_sigkill":
        return "yes" if _as_bool(value) else "no"
    return str(value).strip()


def render_dropin(unit, settings, header=None):
    """The drop-in text for validated ``settings`` (keys with None are left out)."""
    lines = []
    if header:
        lines.extend("# %s" % line if line else "#" for line in header.splitlines())
    lines.append("# Kill behaviour for %s (reaper.systemd.killmode_dropin)." % unit)
    lines.append(_SECTION)
    for key, directive, _version in DIRECTIVES:
        value = settings.get(key)
        if value is not None:
            lines.append("%s=%s" % (directive, directive_value(key, value)))
    return "\n".join(lines) + "\n"


def _shown(text, limit=80):
    text = repr(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_dropin(content):
    """(directives, errors): the Directive=value pairs of a drop-in, read the way systemd reads them.

    Only comments, blank lines, one [Service] section and our directives (each
    once) are accepted; anything else is an error, so nothing can ride along.
    """
    errors = []
    found = {}
    if not isinstance(content, str):
        return found, ["content must be a string, got %s" % type(content).__name__]
    if "\x00" in content or "\r" in content:
        errors.append("content must not contain NUL or carriage returns")
    known = dict((directive, key) for key, directive, _version in DIRECTIVES)
    section = None
    for number, raw in enumerate(content.split("\n"), 1):
        line = raw.strip()
        if line.endswith("\\"):
            # systemd joins a line ending in a backslash with the next one
            errors.append("line %d ends with a backslash (a continuation line): %r" % (number, raw))
            continue
        if not line or line.startswith(_COMMENT_PREFIXES):
            continue
        if line.startswith("["):
            if line != _SECTION or section is not None:
                errors.append("line %d: only one [Service] section is allowed, got %r" % (number, raw))
            section = line
            continue
        if section is None:
            errors.append("line %d: %r comes before the [Service] section" % (number, raw))
            continue
        directive, sep, value = line.partition("=")
        directive = directive.strip()
        if not sep or directive not in known:
            errors.append(
                "line %d: %r is not one of the directives this module writes (%s)"
                % (number, raw, ", ".join(sorted(known)))
            )
            continue
        if directive in found:
            errors.append("line %d: %r sets %s= a second time" % (number, raw, directive))
            continue
        found[directive] = value.strip()
    return found, errors


def content_errors(unit, settings, content):
    """Errors when ``content`` does not set exactly the validated ``settings`` (and nothing else)."""
    found, errors = parse_dropin(content)
    errors = ["%s: content %s" % (unit, error) for error in errors]
    for key, directive, _version in DIRECTIVES:
        value = settings.get(key)
        if value is None:
            if directive in found:
                errors.append(
                    "%s: content sets %s=%s but settings leave %s unset" % (unit, directive, found[directive], key)
                )
            continue
        if directive not in found:
            errors.append(
                "%s: content %s does not set %s= although settings give %s=%r"
                % (unit, _shown(content), directive, key, value)
            )
            continue
        want = directive_value(key, value)
        got = found[directive]
        same = _as_bool(got) == _as_bool(want) if key == "send_sigkill" else got == want
        if not same:
            errors.append(
                "%s: content sets %s=%s but settings give %s=%r: render the content from the settings"
                % (unit, directive, got, key, value)
            )
    return errors
