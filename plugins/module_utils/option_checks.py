# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one set of checks every option goes through, whatever surface it came from.

The modules (after Ansible's own type conversion), cleanup.json (no conversion:
types must be exact) and the role's variables (through the cleanup command's
``--check-deployment``) all validate with these primitives, so a value refused
in one place is refused everywhere, with the same words. Each refusal names the
option and the value. Stdlib only: the cleanup command runs this on hosts
without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import os
import re

# Shown values are cut so that a megabyte of junk does not become a megabyte of error.
_SHOWN_MAX = 80
# Every C0 control character and DEL: NUL ends C strings, newlines start new lines in
# unit files and the journal, the others have no business in a name or a path.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters a path may not carry into a unit file: whitespace separates list entries
# (ReadWritePaths=), '%' starts a specifier, quotes and backslashes are unquoted by systemd.
_UNIT_FILE_UNSAFE = re.compile(r"[\s%\"'\\;]")

# systemd's time units (time-util.c), ASCII spellings.
_TIME_UNITS = {
    'usec': 1e-6,
    'us': 1e-6,
    'msec': 1e-3,
    'ms': 1e-3,
    'seconds': 1.0,
    'second': 1.0,
    'sec': 1.0,
    's': 1.0,
    'minutes': 60.0,
    'minute': 60.0,
    'min': 60.0,
    'm': 60.0,
    'hours': 3600.0,
    'hour': 3600.0,
    'hr': 3600.0,
    'h': 3600.0,
    'days': 86400.0,
    'day': 86400.0,
    'd': 86400.0,
    'weeks': 604800.0,
    'week': 604800.0,
    'w': 604800.0,
    'months': 2629800.0,
    'month': 2629800.0,
    'M': 2629800.0,
    'years': 31557600.0,
    'year': 31557600.0,
    'y': 31557600.0,
}
_UNIT_ALTERNATION = '|'.join(sorted(_TIME_UNITS, key=len, reverse=True))
# A bare number of seconds ("300"), or one or more "NUMBER UNIT" parts ("15min", "1h 30s", "1h30s").
_SPAN_BARE = re.compile(r'[0-9]{1,12}(?:\.[0-9]{1,6})?\Z')
_SPAN_PART = re.compile(r'([0-9]{1,12}(?:\.[0-9]{1,6})?) ?(%s)(?: |\Z)' % _UNIT_ALTERNATION)


def shown(value):
    """repr() of a value, cut to a readable length."""
    text = repr(value)
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 3] + '...'
    return text


class InvalidOption(ValueError):
    """A refused option value. ``option`` and ``value`` say which; the message says why."""

    def __init__(self, option, value, requirement, message=None):
        self.option = option
        self.value = value
        self.requirement = requirement
        super(InvalidOption, self).__init__(message or '%s %s, got %s' % (option, requirement, shown(value)))

    def renamed(self, option, cls=None):
        """The same refusal under the name the operator used (e.g. cleanup_timer_grace)."""
        return (cls or InvalidOption)(option, self.value, self.requirement)


def _bounds_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return ' between %s and %s' % (minimum, maximum)
    if minimum is not None:
        return ' >= %s' % minimum
    if maximum is not None:
        return ' <= %s' % maximum
    return ''


def number(option, value, minimum=None, maximum=None):
    """A finite int or float within the bounds. bool is not a number; NaN and ±Inf are refused."""
    requirement = 'must be a finite number%s' % _bounds_text(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidOption(option, value, requirement)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidOption(option, value, requirement)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidOption(option, value, requirement)
    return value


def integer(option, value, minimum=None, maximum=None):
    """An int within the bounds; bool and float (even 3.0) are refused."""
    requirement = 'must be an integer%s' % _bounds_text(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOption(option, value, requirement)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidOption(option, value, requirement)
    return value


def boolean(option, value):
    """true or false, nothing else: in cleanup.json "no" is a string, and a non-empty string is truthy."""
    if not isinstance(value, bool):
        raise InvalidOption(option, value, 'must be true or false')
    return value


def choice(option, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise InvalidOption(option, value, 'must be one of %s' % ', '.join(choices))
    return value


def safe_string(option, value, allow_empty=False, allow_dash=False):
    """A string without NUL, newline or other control characters and not starting with '-'.

    A leading '-' would be read as an option by the commands the value reaches
    (systemctl, journalctl); ``allow_dash`` is for values passed only as an
    option's argument.
    """
    if not isinstance(value, str):
        raise InvalidOption(option, value, 'must be a string')
    if not value and not allow_empty:
        raise InvalidOption(option, value, 'must not be empty')
    if _CONTROL.search(value):
        raise InvalidOption(option, value, 'must not contain NUL, newlines or other control characters')
    if value.startswith('-') and not allow_dash:
        raise InvalidOption(option, value, "must not start with '-'")
    return value


def string_list(option, value, check_item=None, allow_empty=True):
    """A list of strings. A string is refused, never split into its characters."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidOption(option, value, 'must be a list of strings')
    if not value and not allow_empty:
        raise InvalidOption(option, value, 'must not be empty')
    for item in value:
        safe_string(option, item)
        if check_item is not None:
            problem = check_item(item)
            if problem:
                raise InvalidOption(option, item, 'entry is refused: %s' % problem)
    return list(value)


def absolute_path(option, value, unit_file=False):
    """A normalised absolute path, not '/', without '..', NUL or newlines.

    ``unit_file``: the path is written into a unit file, where whitespace,
    '%', quotes, ';' and backslashes change its meaning.
    """
    safe_string(option, value)
    if not value.startswith('/'):
        raise InvalidOption(option, value, 'must be an absolute path')
    if '..' in value.split('/'):
        raise InvalidOption(option, value, "must not contain '..'")
    normal = os.path.normpath(value)
    if normal.startswith('//'):
        normal = '/' + normal.lstrip('/')
    if normal == '/':
        raise InvalidOption(option, value, "must not be '/'")
    if unit_file and _UNIT_FILE_UNSAFE.search(normal):
        raise InvalidOption(option, value, "must not contain whitespace, '%', quotes, ';' or backslashes")
    return normal


def optional_path(option, value, unit_file=False):
    """None (or an empty string) for "not set", otherwise an absolute path."""
    if value is None or value == '':
        return None
    return absolute_path(option, value, unit_file=unit_file)


def timespan(option, value, minimum=None, maximum=None):
    """A systemd time span ('15min', '1h 30s', '300' or a number of seconds); returns seconds.

    Stricter than systemd on purpose: the value is written into a timer unit,
    so anything but digits, dots, single spaces and unit names is refused.
    """
    requirement = "must be a systemd time span such as 300, 15min or '1h 30s'%s" % _bounds_text(minimum, maximum)
    if isinstance(value, bool):
        raise InvalidOption(option, value, requirement)
    if isinstance(value, (int, float)):
        try:
            return number(option, value, minimum, maximum)
        except InvalidOption:
            raise InvalidOption(option, value, requirement)
    if not isinstance(value, str) or not value:
        raise InvalidOption(option, value, requirement)
    if _SPAN_BARE.match(value):
        seconds = float(value)
    else:
        seconds = 0.0
        pos = 0
        while pos < len(value):
            match = _SPAN_PART.match(value, pos)
            if not match:
                raise InvalidOption(option, value, requirement)
            seconds += float(match.group(1)) * _TIME_UNITS[match.group(2)]
            pos = match.end()
        if value.endswith(' '):
            raise InvalidOption(option, value, requirement)
    if (minimum is not None and seconds < minimum) or (maximum is not None and seconds > maximum):
        raise InvalidOption(option, value, requirement)
    return seconds


# journalctl --since values: dates, times, relative offsets ("-1h") and words such as "today".
_JOURNALCTL_TIME = re.compile(r'[A-Za-z0-9 :+.-]{1,64}\Z')


def journalctl_time(option, value):
    """A journalctl time ('-1h', 'today', '2026-01-31 12:00:00').

    A leading '-' is allowed: the value is only ever passed as the argument of
    --since, where it is a relative time, not an option.
    """
    safe_string(option, value, allow_dash=True)
    if not _JOURNALCTL_TIME.match(value):
        raise InvalidOption(option, value, "must be a journalctl time such as -1h, today or '2026-01-31 12:00:00'")
    return value


# Ansible's spellings of booleans (module_utils.parsing.convert_bool), for role variables.
_ANSIBLE_TRUE = ('yes', 'on', '1', 'true', 't', 'y')
_ANSIBLE_FALSE = ('no', 'off', '0', 'false', 'f', 'n')
_INT_TEXT = re.compile(r'[-+]?[0-9]{1,18}\Z')


def as_ansible_would(kind, value):
    """Convert a role variable the way the role's argument spec and filters read it.

    Role variables may come from ``-e name=value`` as strings; the role's argument
    spec accepts "5" for an int and "no" for a bool, and the role renders them with
    ``| int`` / ``| bool``. Only those unambiguous spellings are converted; the
    result is then checked like any other value. Lists are never converted: a
    string where a list belongs is refused.
    """
    if not isinstance(value, str):
        return value
    if kind == 'int' and _INT_TEXT.match(value.strip()):
        return int(value.strip())
    if kind == 'float':
        try:
            return float(value.strip()) if value.strip() else value
        except ValueError:
            return value
    if kind == 'bool':
        lowered = value.strip().lower()
        if lowered in _ANSIBLE_TRUE:
            return True
        if lowered in _ANSIBLE_FALSE:
            return False
    return value
