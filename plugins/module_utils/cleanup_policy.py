# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the operator allows the cleanup to do: the policy and its validation.

Shared by ``reaper.systemd.reap`` and the timer's cleanup command (which reads
it from cleanup.json). The built-in deny tiers come from ``unit_exemptions``
and apply even to ``*``. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import fnmatch

from . import unit_exemptions, unit_names

__metaclass__ = type

ACTIONS = (
    'nudge_parent',
    'restart_unit',
    'kill_leftovers',
    'kill_survivors',
    'terminate_escaped',
    'kill_worker_parent',
)


class PolicyError(ValueError):
    """A policy value that cannot work; the message says what to fix."""


def _number(name, value, minimum, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise PolicyError('%s must be %s, got %r' % (name, 'an integer' if integer else 'a number', value))
    if value < minimum:
        raise PolicyError('%s must be >= %s, got %r' % (name, minimum, value))
    return value


class Policy:
    """What the operator allows. ``units`` is required: nothing is in scope by default."""

    FIELDS = (
        'units',
        'actions',
        'deny',
        'min_zombies',
        'min_zombie_age',
        'max_actions',
        'cooldown',
        'grace',
        'action_timeout',
        'dry_run',
    )

    def __init__(
        self,
        units,
        actions=(),
        deny=(),
        min_zombies=1,
        min_zombie_age=60,
        max_actions=10,
        cooldown=3600,
        grace=10.0,
        action_timeout=120,
        dry_run=False,
    ):
        self.units = list(units or [])
        self.actions = list(actions or [])
        self.deny = list(deny or [])
        self.min_zombies = min_zombies
        self.min_zombie_age = min_zombie_age
        self.max_actions = max_actions
        self.cooldown = cooldown
        self.grace = grace
        self.action_timeout = action_timeout
        self.dry_run = bool(dry_run)
        self.validate()

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise PolicyError('the policy must be a mapping, got %s' % type(data).__name__)
        unknown = sorted(set(data) - set(cls.FIELDS))
        if unknown:
            raise PolicyError('unknown policy keys: %s (known: %s)' % (', '.join(unknown), ', '.join(cls.FIELDS)))
        if 'units' not in data:
            raise PolicyError('units is required: name the units (or patterns) the cleanup may act on')
        return cls(**data)

    def validate(self):
        if not isinstance(self.units, list) or not self.units:
            raise PolicyError('units must name at least one unit or pattern: nothing is in scope by default')
        for pattern in self.units + self.deny:
            problem = unit_names.check_pattern(pattern)
            if problem:
                raise PolicyError(problem)
        for action in self.actions:
            if action not in ACTIONS:
                raise PolicyError('unknown action %r (known: %s)' % (action, ', '.join(ACTIONS)))
        _number('min_zombies', self.min_zombies, 1, integer=True)
        _number('min_zombie_age', self.min_zombie_age, 0)
        _number('max_actions', self.max_actions, 0, integer=True)
        _number('cooldown', self.cooldown, 0)
        _number('grace', self.grace, 0)
        _number('action_timeout', self.action_timeout, 1)

    def denied_by(self, unit):
        """The deny pattern that matches ``unit`` (built-in tiers first), or None."""
        pattern = unit_exemptions.never_ours(unit)
        if pattern:
            return pattern
        entry = unit_exemptions.by_design(unit)
        if entry is not None:
            return entry.pattern
        for pattern in self.deny:
            if fnmatch.fnmatchcase(unit, unit_names.normalize(pattern)):
                return pattern
        return None

    def in_scope(self, unit):
        return unit_names.matches(unit, self.units)

    def as_dict(self):
        data = dict((name, getattr(self, name)) for name in self.FIELDS)
        data['deny_builtin'] = unit_exemptions.builtin_patterns()
        return data
