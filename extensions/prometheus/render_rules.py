# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the reaper.systemd Prometheus rules with other durations and thresholds.

    python3 render_rules.py                      the default rules on stdout
    python3 render_rules.py --set zombies_for=1m --set zombies_min=1 --output lab.rules.yml
    python3 render_rules.py --check reaper-systemd.rules.yml   exit 1 if the file is not the default rendering
    python3 render_rules.py --list               every value, its default and what it sets

The source is reaper-systemd.rules.template.yml next to this script; the shipped
reaper-systemd.rules.yml is its rendering with the defaults (a unit test keeps them
equal). Nobody edits a rendered file by hand: a lab or a fleet with other needs
renders its own. Every value is checked (a duration must be a Prometheus
duration, a threshold a number), so a typo fails here, not in Prometheus.
Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import argparse
import difflib
import os
import re
import sys

__metaclass__ = type

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, 'reaper-systemd.rules.template.yml')
RULES = os.path.join(HERE, 'reaper-systemd.rules.yml')

RUNBOOK_URL_BASE = 'https://github.com/reaper-systemd/reaper.systemd/blob/main/docs/alerts.md'

# name, default, kind, what it sets. Durations also give NAME_seconds to the template.
PARAMETERS = (
    ('zombies_min', '5', 'count', 'ReaperUnitZombies: zombies in one unit that make it fire'),
    ('zombies_for', '30m', 'duration', 'ReaperUnitZombies: how long the count must hold (two timer runs or more)'),
    ('zombies_growth_window', '1h', 'duration', 'ReaperUnitZombiesGrowing: the range deriv() reads'),
    ('zombies_growth_per_hour', '5', 'number', 'ReaperUnitZombiesGrowing: zombies gained per hour that make it fire'),
    ('zombies_growth_for', '15m', 'duration', 'ReaperUnitZombiesGrowing: how long the growth must hold'),
    ('leaks_for', '30m', 'duration', 'ReaperUnitLeftovers, ReaperUnitSurvivors, ReaperUnitEscapes: how long'),
    ('pid_usage_ratio', '0.8', 'ratio', 'ReaperHostPidUsageHigh: share of kernel.pid_max in use'),
    ('pid_usage_for', '15m', 'duration', 'ReaperHostPidUsageHigh: how long'),
    ('forecast_window', '1h', 'duration', 'forecasts: the range predict_linear() reads'),
    ('forecast_horizon', '4h', 'duration', 'forecasts: how far ahead the limit must not be reached'),
    ('forecast_for', '15m', 'duration', 'forecasts: how long the forecast must hold'),
    ('stale_intervals', '3', 'number', "ReaperCleanupNotRunning: timer intervals without a run"),
    ('stale_for', '5m', 'duration', 'ReaperCleanupNotRunning: how long'),
    ('metrics_lookback', '1d', 'duration', 'ReaperMetricsMissing: how far back a host counts as exporting'),
    ('metrics_missing_for', '15m', 'duration', 'ReaperMetricsMissing: how long'),
    ('actions_window', '1h', 'duration', 'ReaperActionsFailing, ReaperActionsNotCleaning: the range increase() reads'),
    ('actions_for', '0s', 'duration', 'ReaperActionsFailing, ReaperActionsNotCleaning: how long'),
    ('parked_for', '0s', 'duration', 'ReaperUnitsParked: how long'),
    ('state_problem_for', '5m', 'duration', 'ReaperStateProblem: how long'),
    ('paused_for', '1d', 'duration', 'ReaperPausedLong: how long the pause may last unnoticed'),
    ('runbook_url_base', RUNBOOK_URL_BASE, 'url', 'runbook_url of every alert: this address plus #alertname'),
)
DEFAULTS = dict((name, default) for name, default, _kind, _help in PARAMETERS)
KINDS = dict((name, kind) for name, _default, kind, _help in PARAMETERS)

_DURATION_PART = re.compile(r'([0-9]+)(ms|s|m|h|d|w|y)')
_DURATION_SECONDS = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400, 'y': 365 * 86400}
_NUMBER = re.compile(r'[0-9]+(\.[0-9]+)?\Z')
_URL = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://[^\s"\'\\{}$]+\Z')
_PLACEHOLDER = re.compile(r'\$\{([a-z_]+)\}')


class RenderError(ValueError):
    """A value or a template that cannot give valid rules; the message names it."""


def duration_seconds(name, text):
    """Seconds of a Prometheus duration ('90s', '1h30m', '0s'); RenderError naming ``name`` otherwise."""
    seconds = 0.0
    pos = 0
    last_unit = -1
    order = ('y', 'w', 'd', 'h', 'm', 's', 'ms')
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        # units must come largest first, each once, as Prometheus parses them
        if not match or order.index(match.group(2)) <= last_unit:
            raise RenderError('%s=%r is not a Prometheus duration such as 90s, 15m or 1h30m' % (name, text))
        last_unit = order.index(match.group(2))
        seconds += int(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        pos = match.end()
    if not text:
        raise RenderError('%s=%r is not a Prometheus duration such as 90s, 15m or 1h30m' % (name, text))
    return seconds


def _seconds_text(seconds):
    return str(int(seconds)) if seconds == int(seconds) else repr(seconds)


def check_value(name, text):
    """The value as it goes into the rules; RenderError naming the value and what it must be."""
    if name not in KINDS:
        raise RenderError('unknown value %r (known: %s)' % (name, ', '.join(sorted(KINDS))))
    kind = KINDS[name]
    if kind == 'duration':
        duration_seconds(name, text)
    elif kind in ('number', 'count', 'ratio'):
        if not _NUMBER.match(text):
            raise RenderError('%s=%r must be a non-negative number' % (name, text))
        if kind == 'count' and '.' in text:
            raise RenderError('%s=%r must be a whole number' % (name, text))
        if kind == 'ratio' and not 0 < float(text) <= 1:
            raise RenderError('%s=%r must be a share above 0 and at most 1 (0.8 is 80%%)' % (name, text))
    elif kind == 'url' and not _URL.match(text):
        raise RenderError('%s=%r must be an address such as https://host/docs/alerts.md' % (name, text))
    return text


def values_with(overrides):
    """Every value (defaults, then ``overrides`` checked), plus NAME_seconds for each duration."""
    values = dict(DEFAULTS)
    for name, text in overrides.items():
        values[name] = check_value(name, text)
    for name, kind in KINDS.items():
        if kind == 'duration':
            values[name + '_seconds'] = _seconds_text(duration_seconds(name, values[name]))
    return values


def render(template_text, overrides=None):
    """The rules: ``template_text`` with every ${name} filled in.

    A placeholder without a value, or a value the template never uses, is an
    error: the list of values stays the template's."""
    overrides = overrides or {}
    values = values_with(overrides)
    used = set()

    def fill(match):
        name = match.group(1)
        if name not in values:
            raise RenderError('the template uses ${%s}, which is not a known value' % name)
        used.add(name[: -len('_seconds')] if name.endswith('_seconds') and name not in KINDS else name)
        return values[name]

    kept = [line for line in template_text.splitlines(True) if not line.startswith('## ')]
    body = _PLACEHOLDER.sub(fill, ''.join(kept))
    unused = sorted(set(KINDS) - used)
    if unused:
        raise RenderError('values the template does not use: %s' % ', '.join(unused))
    changed = sorted(name for name in overrides if overrides[name] != DEFAULTS[name])
    header = [
        '# Generated by extensions/prometheus/render_rules.py from reaper-systemd.rules.template.yml: do not edit.',
    ]
    if changed:
        header.append('# Rendered with: %s' % ' '.join('%s=%s' % (name, overrides[name]) for name in changed))
    else:
        header.append('# The default values (python3 extensions/prometheus/render_rules.py --list).')
    if body.startswith('---\n'):
        return '---\n' + '\n'.join(header) + '\n' + body[len('---\n') :]
    return '\n'.join(header) + '\n' + body


def _parse_sets(items):
    overrides = {}
    for item in items:
        if '=' not in item:
            raise RenderError('--set %r: expected NAME=VALUE' % item)
        name, text = item.split('=', 1)
        if name in overrides:
            raise RenderError('--set %s is given twice' % name)
        overrides[name] = text
    return overrides


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='render_rules.py', description='Render the reaper.systemd Prometheus rules with other values.'
    )
    parser.add_argument('--set', metavar='NAME=VALUE', action='append', default=[], help='a value (repeatable)')
    parser.add_argument('--template', default=TEMPLATE, help='the source (default: %(default)s)')
    parser.add_argument('--output', metavar='FILE', help='write the rules to FILE (default: stdout)')
    parser.add_argument('--check', metavar='FILE', help='compare FILE with the rendering; exit 1 if they differ')
    parser.add_argument('--list', action='store_true', help='list the values, their defaults and what they set')
    args = parser.parse_args(argv)
    if args.list:
        for name, default, kind, text in PARAMETERS:
            sys.stdout.write('%-24s %-10s %-8s %s\n' % (name, default, kind, text))
        return 0
    try:
        with open(args.template) as handle:
            text = render(handle.read(), _parse_sets(args.set))
    except (IOError, OSError) as exc:
        sys.stderr.write('render_rules.py: cannot read the template: %s\n' % exc)
        return 2
    except RenderError as exc:
        sys.stderr.write('render_rules.py: %s\n' % exc)
        return 2
    if args.check:
        with open(args.check) as handle:
            current = handle.read()
        if current != text:
            diff = difflib.unified_diff(current.splitlines(True), text.splitlines(True), args.check, 'rendering', n=1)
            sys.stderr.write(''.join(diff))
            sys.stderr.write('render_rules.py: %s is not the rendering: re-render it, do not edit it\n' % args.check)
            return 1
        sys.stdout.write('render_rules.py: %s is the rendering\n' % args.check)
        return 0
    if args.output:
        partial = args.output + '.partial'
        with open(partial, 'w') as handle:
            handle.write(text)
        os.rename(partial, args.output)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
