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
import re
import unicodedata

from .path_rules import path_problem

# Shown values are cut so that a megabyte of junk does not become a megabyte of error.
_SHOWN_MAX = 80
# Every C0 control character and DEL: NUL ends C strings, newlines start new lines in
# unit files and the journal, the others have no business in a name or a path.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Unicode categories nobody types in a name or a path on purpose: controls (C0, DEL, C1),
# format characters (the bidi overrides that make a value read differently from what it is,
# zero-width characters), surrogates, private use, unassigned, line and paragraph separators.
_UNPRINTABLE_CATEGORIES = ('Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp')
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


def unprintable(text):
    """The first character of ``text`` that is a control, bidi, invisible or unassigned one, or None."""
    if _CONTROL.search(text):
        return _CONTROL.search(text).group(0)
    for char in text:
        if ord(char) > 0x7E and unicodedata.category(char) in _UNPRINTABLE_CATEGORIES:
            return char
    return None


def safe_string(option, value, allow_empty=False, allow_dash=False, max_length=None):
    """A string without control, bidi or other invisible characters and not starting with '-'.

    A leading '-' would be read as an option by the commands the value reaches
    (systemctl, journalctl); ``allow_dash`` is for values passed only as an
    option's argument.
    """
    if not isinstance(value, str):
        raise InvalidOption(option, value, 'must be a string')
    if not value and not allow_empty:
        raise InvalidOption(option, value, 'must not be empty')
    if unprintable(value) is not None:
        raise InvalidOption(
            option,
            value,
            'must not contain NUL, newlines, other control characters, bidi or other invisible characters',
        )
    if value.startswith('-') and not allow_dash:
        raise InvalidOption(option, value, "must not start with '-'")
    if max_length is not None and len(value) > max_length:
        raise InvalidOption(option, value, 'must not be longer than %d characters' % max_length)
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
    """A normalised absolute path that is none of the system's shared directories; returns the normal form.

    One rule for every path option of every surface (path_problem says what it
    refuses). ``unit_file``: the path is written into a unit file, where
    whitespace, '%', quotes, ';' and backslashes change its meaning.
    """
    safe_string(option, value)
    normal, problem = path_problem(value)
    if problem:
        raise InvalidOption(option, value, problem)
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


# journalctl --since values: a date and time, or a relative time that starts with a sign and
# a digit ("-1h", "+2 days"), or one of the words journalctl knows. The value is an argument
# of a command: anything that could read as an option of its own ("--all") is refused.
_JOURNALCTL_DATE = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?\Z')
_JOURNALCTL_TIME_OF_DAY = re.compile(r'[0-9]{2}:[0-9]{2}(?::[0-9]{2})?\Z')
_JOURNALCTL_RELATIVE = re.compile(r'(?:[-+][0-9][0-9a-z .]{0,30}|[0-9][0-9a-z .]{0,30} ago|@[0-9]{1,12})\Z')
_JOURNALCTL_WORDS = ('now', 'today', 'yesterday', 'tomorrow')


def journalctl_time(option, value):
    """A journalctl time ('-1h', 'today', '2026-01-31 12:00:00').

    A leading '-' is allowed only before a digit: the value is passed as the
    argument of --since, and '--all' there would be read as journalctl's option.
    """
    safe_string(option, value, allow_dash=True)
    if not (
        value in _JOURNALCTL_WORDS
        or _JOURNALCTL_DATE.match(value)
        or _JOURNALCTL_TIME_OF_DAY.match(value)
        or _JOURNALCTL_RELATIVE.match(value)
    ):
        raise InvalidOption(
            option, value, "must be a journalctl time such as -1h, today, 12:00 or '2026-01-31 12:00:00'"
        )
    return value


# Ansible's spellings of booleans (module_utils.parsing.convert_bool), for role variables.
_ANSIBLE_TRUE = ('yes', 'on', '1', 'true', 't', 'y')
_ANSIBLE_FALSE = ('no', 'off', '0', 'false', 'f', 'n')
# ASCII digits only: Python's int() and float() also read "٥" (Arabic-Indic five), " 5\n" and
# "1_0"; float() reads "nan" and "inf".
_INT_TEXT = re.compile(r'[-+]?[0-9]{1,18}\Z')
_STRICT_FLOAT_TEXT = re.compile(r'[-+]?(?:[0-9]{1,18}(?:\.[0-9]{0,18})?|\.[0-9]{1,18})(?:[eE][-+]?[0-9]{1,3})?\Z')


def as_ansible_would(kind, value):
    """Convert a role variable the way the role's argument spec and filters read it.

    Role variables may come from ``-e name=value`` as strings; the role's argument
    spec accepts "5" for an int and "no" for a bool, and the role renders them with
    ``| int`` / ``| bool``. Only those unambiguous spellings are converted (ASCII
    digits, no surrounding whitespace or newline, no "nan" or "inf"); the result is
    then checked like any other value. Lists are never converted: a string where a
    list belongs is refused.
    """
    if not isinstance(value, str):
        return value
    if kind == 'int' and _INT_TEXT.match(value):
        return int(value)
    if kind == 'float' and _STRICT_FLOAT_TEXT.match(value):
        return float(value)
    if kind == 'bool':
        lowered = value.lower()
        if lowered in _ANSIBLE_TRUE:
            return True
        if lowered in _ANSIBLE_FALSE:
            return False
    return value


# ------------------------------------------------------------------ numbers from Ansible


def strict_int(value):
    """An int as an operator writes one: 5, 5.0 or "5". Raises TypeError/ValueError otherwise.

    Refused where Ansible's own conversion accepts: true/false (1/0), non-ASCII digits,
    surrounding whitespace or a trailing newline, and ±Inf/NaN (int() of those aborts
    ansible-core 2.19's argument validation with a traceback).
    """
    if isinstance(value, bool):
        raise TypeError('true/false is not a number, got %s' % shown(value))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError('must be a whole finite number, got %s' % shown(value))
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    raise ValueError('must be a whole number written with the digits 0-9, got %s' % shown(value))


def strict_float(value):
    """A finite number as an operator writes one: 5, 2.5 or "2.5". Raises TypeError/ValueError otherwise.

    Refused where Ansible's own conversion accepts: true/false, non-ASCII digits,
    whitespace or a trailing newline, "nan", "inf" and ±Inf.
    """
    if isinstance(value, bool):
        raise TypeError('true/false is not a number, got %s' % shown(value))
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ValueError('must be a finite number, got %s' % shown(value))
    if isinstance(value, str) and _STRICT_FLOAT_TEXT.match(value):
        converted = float(value)
        if math.isfinite(converted):
            return converted
    raise ValueError('must be a finite number written with the digits 0-9, got %s' % shown(value))


def plain_path(value):
    """A path as given: a string, with no '~' or '$VAR' expansion (Ansible's 'path' type expands both).

    What a path may be is absolute_path's decision, made after this.
    """
    if not isinstance(value, str):
        raise TypeError('must be a path (a string), got %s' % shown(value))
    return value


class DocumentedType(str):
    """An argument_spec ``type`` that is its documented type ('int', 'float', 'path') and converts strictly.

    ansible-core uses a callable ``type`` instead of its own conversion (which takes
    true for 1 and "٥" for 5). Being also the string of the documented type keeps the
    spec equal to the DOCUMENTATION's type, as ``ansible-test sanity``'s
    validate-modules requires, and names the type in Ansible's error messages.
    """

    _CONVERTERS = {'int': strict_int, 'float': strict_float, 'path': plain_path}

    def __new__(cls, name):
        if name not in cls._CONVERTERS:
            raise ValueError('no strict conversion for type %r' % name)
        self = super(DocumentedType, cls).__new__(cls, name)
        self.__name__ = name
        return self

    def __call__(self, value):
        return self._CONVERTERS[str(self)](value)


STRICT_INT = DocumentedType('int')
STRICT_FLOAT = DocumentedType('float')
PLAIN_PATH = DocumentedType('path')
