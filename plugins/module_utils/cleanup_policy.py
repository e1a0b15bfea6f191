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

from . import option_checks, unit_exemptions, unit_names

__metaclass__ = type

ACTIONS = (
    'nudge_parent',
    'restart_unit',
    'kill_leftovers',
    'kill_survivors',
    'terminate_escaped',
    'kill_worker_parent',
)


class PolicyError(option_checks.InvalidOption):
    """A policy value that cannot work; the message names the option and the value."""


# (field, default). Seconds are bounded by a year: a larger value is a typo, not a policy.
YEAR = 366 * 86400
DEFAULTS = (
    ('units', None),
    ('actions', ()),
    ('deny', ()),
    ('allow', ()),
    ('min_zombies', 1),
    ('min_zombie_age', 60),
    ('max_actions', 10),
    ('max_actions_per_hour', 30),
    ('cooldown', 3600),
    ('backoff_max', None),
    ('park_after', 3),
    ('zombie_wait', 0),
    ('grace', 10.0),
    ('action_timeout', 120),
    ('dry_run', False),
)
# backoff_max when not set: a day, or the cool-down when that is longer.
BACKOFF_MAX_DEFAULT = 86400

# field -> (check, keyword bounds): every number goes through option_checks, so NaN,
# ±Inf and bool are refused everywhere.
_NUMBERS = (
    ('min_zombies', option_checks.integer, dict(minimum=1, maximum=1000000)),
    ('min_zombie_age', option_checks.number, dict(minimum=0, maximum=YEAR)),
    ('max_actions', option_checks.integer, dict(minimum=0, maximum=100)),
    ('max_actions_per_hour', option_checks.integer, dict(minimum=0, maximum=1000)),
    ('cooldown', option_checks.number, dict(minimum=0, maximum=YEAR)),
    ('park_after', option_checks.integer, dict(minimum=1, maximum=100)),
    ('zombie_wait', option_checks.number, dict(minimum=0, maximum=3600)),
    ('grace', option_checks.number, dict(minimum=0, maximum=3600)),
    ('action_timeout', option_checks.number, dict(minimum=1, maximum=86400)),
)


def _allow_entry_problem(pattern):
    # the same rule as killmode_hardening's (through the unit_exemptions lookup)
    return unit_names.check_pattern(pattern) or unit_exemptions.allow_problem(pattern)


class Policy:
    """What the operator allows. ``units`` is required: nothing is in scope by default.

    Every value is checked before it is stored: a string where a list belongs
    is refused (list('myapp*') would put every service in scope), numbers must be
    finite and within bounds, dry_run must be a real boolean.
    """

    FIELDS = tuple(name for name, _default in DEFAULTS)

    def __init__(self, units=None, **options):
        options['units'] = units
        unknown = sorted(set(options) - set(self.FIELDS))
        if unknown:
            raise TypeError('unknown policy keys: %s' % ', '.join(unknown))
        values = dict(DEFAULTS)
        values.update(options)
        self._backoff_max_given = values['backoff_max'] is not None
        for name in self.FIELDS:
            setattr(self, name, values[name])
        self.validate()

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise PolicyError('the policy', data, 'must be a mapping')
        unknown = sorted(set(data) - set(cls.FIELDS))
        if unknown:
            raise PolicyError(
                unknown[0],
                data[unknown[0]],
                'is not a policy option',
                message='unknown policy keys: %s (known: %s)' % (', '.join(unknown), ', '.join(cls.FIELDS)),
            )
        if 'units' not in data:
            raise PolicyError('units', None, 'is required: name the units (or patterns) the cleanup may act on')
        return cls(**data)

    def validate(self):
        """Check every field; raise PolicyError naming the first bad option and its value."""
        try:
            self._validate()
        except PolicyError:
            raise
        except option_checks.InvalidOption as exc:
            raise exc.renamed(exc.option, PolicyError)

    def _validate(self):
        if self.units is None or (isinstance(self.units, (list, tuple)) and not self.units):
            raise PolicyError(
                'units', self.units, 'must name at least one unit or pattern: nothing is in scope by default'
            )
        self.units = option_checks.string_list('units', self.units, unit_names.check_pattern, allow_empty=False)
        self.deny = option_checks.string_list('deny', self.deny, unit_names.check_pattern)
        self.allow = option_checks.string_list('allow', self.allow, _allow_entry_problem)
        self.actions = option_checks.string_list('actions', self.actions)
        for action in self.actions:
            if action not in ACTIONS:
                raise PolicyError(
                    'actions',
                    action,
                    'entry must be a known action',
                    message='actions: unknown action %r (known: %s)' % (action, ', '.join(ACTIONS)),
                )
        for name, check, bounds in _NUMBERS:
            setattr(self, name, check(name, getattr(self, name), **bounds))
        if not self._backoff_max_given:
            self.backoff_max = max(BACKOFF_MAX_DEFAULT, self.cooldown)
        self.backoff_max = option_checks.number('backoff_max', self.backoff_max, minimum=0, maximum=YEAR)
        if self.backoff_max < self.cooldown:
            raise PolicyError(
                'backoff_max',
                self.backoff_max,
                'must be >= cooldown (%s): it caps the doubled cool-down' % self.cooldown,
            )
        option_checks.boolean('dry_run', self.dry_run)

    def denied_by(self, unit):
        """Why ``unit`` is never acted on (built-in tiers first), or None."""
        pattern = unit_exemptions.never_ours(unit)
        if pattern:
            why = dict(unit_exemptions.NEVER_OURS).get(pattern, '')
            return 'never ours: %s (%s)' % (pattern, why)
        entry = unit_exemptions.by_design(unit)
        if entry is not None and not unit_names.matches(unit, self.allow):
            return 'by design: %s sets KillMode=%s (%s; %s); lift it with allow' % (
                unit,
                entry.kill_mode,
                entry.why,
                entry.source,
            )
        for pattern in self.deny:
            if fnmatch.fnmatchcase(unit, unit_names.normalize(pattern)):
                return 'deny list pattern %r' % pattern
        return None

    def in_scope(self, unit):
        return unit_names.matches(unit, self.units)

    def as_dict(self):
        data = dict((name, getattr(self, name)) for name in self.FIELDS)
        data['deny_builtin'] = unit_exemptions.builtin_patterns()
        return data
