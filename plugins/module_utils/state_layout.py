# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layout of the cleanup's state file, checked to the leaf, and its migrations.

A field that is present with a wrong type was ignored by the readers
(``parked: "true"``, ``ineffective: "9"``) and the unit was acted on as if
it were absent: a brake failed open. So every field of every entry is
checked here, and a wrong type anywhere makes the whole state corrupt (no
action, the file left as it is). A new field is one line in a table below.

Layout 3 (this release): layout 2 plus ``kind`` in each parking, which says
why the unit was parked (``ineffective`` actions in a row, or ``unit_down``: a
restart left it down). Layout 1 and 2 files are migrated on load, once.

Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import math

__metaclass__ = type

VERSION = 3
# Top level: key -> type. Anything else at the top level means "corrupt".
LAYOUT = (
    ('zombies', dict),
    ('units', dict),
    ('cooldowns', dict),
    ('counters', dict),
    ('actions', list),
)
# why a unit is parked (units.NAME.parked.kind)
PARK_KINDS = ('ineffective', 'unit_down')


class LayoutError(ValueError):
    """What is wrong, and where (``units['a.service'].parked``)."""


# -- leaf checks: each returns None or what is wrong -----------------------------


def is_finite_number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _kind_of(value):
    return type(value).__name__


def number(value):
    """A time: finite (NaN would switch a comparison with the clock off), never a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 'is a %s, not a number: %r' % (_kind_of(value), value)
    if not math.isfinite(value):
        return 'is not a finite number: %r' % (value,)
    return None


def count(value):
    """A counter or a streak: an integer >= 0 (true is no count, 1.5 none either)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 'is a %s, not an integer: %r' % (_kind_of(value), value)
    if value < 0:
        return 'must be >= 0: %r' % value
    return None


def text(value):
    if not isinstance(value, str):
        return 'is a %s, not a string: %r' % (_kind_of(value), value)
    return None


def flag(value):
    if not isinstance(value, bool):
        return 'is a %s, not a boolean: %r' % (_kind_of(value), value)
    return None


def optional(check):
    def check_optional(value):
        return None if value is None else check(value)

    return check_optional


def one_of(values):
    def check_one_of(value):
        if value not in values:
            return 'must be one of %s: %r' % (', '.join(values), value)
        return None

    return check_one_of


def history(value, where):
    """[[time, count], ...]: the zombie counts of a unit across runs."""
    if not isinstance(value, list):
        raise LayoutError('%s is a %s, not a list' % (where, _kind_of(value)))
    for index, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2:
            raise LayoutError('%s[%d] must be a [time, count] pair: %r' % (where, index, point))
        _leaf('%s[%d][0]' % (where, index), point[0], number)
        _leaf('%s[%d][1]' % (where, index), point[1], count)


# -- entries: field -> (check, required) ------------------------------------------

PARKING_FIELDS = {
    'since': (number, True),
    'reason': (text, True),
    'kind': (one_of(PARK_KINDS), True),
}
UNIT_FIELDS = {
    'last_seen': (number, False),
    'zombie_history': (history, False),
    'ineffective': (count, False),
    'awaiting_clean': (flag, False),
    'parked': (PARKING_FIELDS, False),
    'reported_at': (number, False),
}
ZOMBIE_FIELDS = {
    'first_seen': (number, True),
    'last_seen': (number, False),
    'unit': (optional(text), False),
    'ppid': (optional(count), False),
}


def _leaf(where, value, check):
    why = check(value)
    if why:
        raise LayoutError('%s %s' % (where, why))


def _entry(where, value, fields):
    """Check one object against its field table (nested tables are objects too)."""
    if not isinstance(value, dict):
        raise LayoutError('%s is a %s, not an object' % (where, _kind_of(value)))
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise LayoutError('%s has an unknown key: %s' % (where, ', '.join(unknown)))
    for name, (check, required) in sorted(fields.items()):
        path = '%s.%s' % (where, name)
        if name not in value:
            if required:
                raise LayoutError('%s is missing' % path)
            continue
        if isinstance(check, dict):
            _entry(path, value[name], check)
        elif check is history:
            history(value[name], path)
        else:
            _leaf(path, value[name], check)


def check(data):
    """Raise LayoutError naming the first field that is wrong in a (migrated) state."""
    if not isinstance(data, dict):
        raise LayoutError('the top level is a %s, not an object' % _kind_of(data))
    known = set(name for name, _type in LAYOUT) | set(['version'])
    extra = sorted(set(data) - known)
    if extra:
        raise LayoutError('unknown top-level keys: %s' % ', '.join(extra))
    for name, kind in LAYOUT:
        if name not in data:
            raise LayoutError('"%s" is missing' % name)
        if not isinstance(data[name], kind):
            raise LayoutError('"%s" is a %s, not a %s' % (name, _kind_of(data[name]), kind.__name__))
    for key, entry in sorted(data['zombies'].items()):
        _entry('zombies[%r]' % key, entry, ZOMBIE_FIELDS)
    for key, entry in sorted(data['units'].items()):
        _entry('units[%r]' % key, entry, UNIT_FIELDS)
    # cool-downs and the budget are compared with the clock: NaN or a string there would disable them
    for unit, when in sorted(data['cooldowns'].items()):
        if not is_finite_number(when):
            raise LayoutError('cool-down of %r is not a finite number: %r' % (unit, when))
    for when in data['actions']:
        if not is_finite_number(when):
            raise LayoutError('action time %r is not a finite number' % (when,))
    for key, value in sorted(data['counters'].items()):
        if isinstance(value, bool) or not isinstance(value, int):
            raise LayoutError('counter %r is not an integer: %r' % (key, value))


# -- migrations: one step per older layout, applied in order -----------------------


def _from_1(data):
    """Layout 1 had no counters and no budget."""
    data.setdefault('counters', {})
    data.setdefault('actions', [])


def _from_2(data):
    """Layout 2 parked units only after ineffective actions: say so."""
    for entry in (data.get('units') or {}).values() if isinstance(data.get('units'), dict) else ():
        parked = entry.get('parked') if isinstance(entry, dict) else None
        if isinstance(parked, dict):
            parked.setdefault('kind', 'ineffective')


MIGRATIONS = {1: _from_1, 2: _from_2}


def migrate(data):
    """A copy of ``data`` brought from its (older, known) layout version to VERSION."""
    data = dict(data)
    version = data['version']
    while version < VERSION:
        MIGRATIONS[version](data)
        version += 1
    data['version'] = VERSION
    return data
