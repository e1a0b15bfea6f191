# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_exporter textfile collector output.

A ``*.prom`` file written to a temp file in the same directory and renamed
(node_exporter never reads half a file); samples carry no timestamps.
"""

from __future__ import absolute_import, division, print_function

import os

from .atomic_file import write_atomically

__metaclass__ = type

FILE_NAME = 'reaper_systemd.prom'

HELP = {
    'reaper_unit_zombies': ('gauge', 'Zombie processes attributed to the unit (through their parent).'),
    'reaper_unit_leftovers': ('gauge', 'Processes left in the cgroup of a stopped or failed unit.'),
    'reaper_unit_survivors': ('gauge', 'Processes of an earlier invocation in an active unit.'),
    'reaper_unit_escaped': ('gauge', 'Processes of the unit that now live in another cgroup.'),
    'reaper_host_zombies': ('gauge', 'Zombie processes on the host.'),
    'reaper_host_pid_usage_ratio': ('gauge', 'Processes and threads in use divided by pid_max.'),
    'reaper_actions_total': ('counter', 'Remediation actions by action kind and result.'),
    'reaper_last_run_timestamp_seconds': ('gauge', 'Unix time the last cleanup run finished.'),
    'reaper_last_run_duration_seconds': ('gauge', 'Duration of the last cleanup run.'),
    'reaper_state_problem': (
        'gauge',
        'The state file could not be used (1 for the kind found); the run took no action.',
    ),
    'reaper_paused': ('gauge', 'The pause switch is set: runs plan and take no action.'),
    'reaper_units_parked': ('gauge', 'Units parked after ineffective actions, waiting for an operator.'),
    'reaper_actions_budget_remaining': ('gauge', 'Actions still allowed on this host in the sliding hour.'),
}

STATE_PROBLEM_KINDS = ('corrupt', 'newer', 'unsafe', 'unreadable')


def escape_label(value):
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _fmt(value):
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return {'inf': '+Inf', '-inf': '-Inf', 'nan': 'NaN'}.get(text, text)


def render(samples):
    """``samples``: list of (name, labels dict, value). Grouped by name, HELP/TYPE once."""
    by_name = {}
    order = []
    for name, labels, value in samples:
        if name not in by_name:
            by_name[name] = []
            order.append(name)
        by_name[name].append((labels or {}, value))
    lines = []
    for name in order:
        kind, text = HELP.get(name, ('gauge', name))
        lines.append('# HELP %s %s' % (name, text))
        lines.append('# TYPE %s %s' % (name, kind))
        for labels, value in by_name[name]:
            if labels:
                lab = ','.join('%s="%s"' % (k, escape_label(v)) for k, v in sorted(labels.items()))
                lines.append('%s{%s} %s' % (name, lab, _fmt(value)))
            else:
                lines.append('%s %s' % (name, _fmt(value)))
    return '\n'.join(lines) + '\n'


def write(directory, samples, file_name=FILE_NAME):
    """Write atomically into ``directory``; returns the final path."""
    path = os.path.join(directory, file_name)
    return write_atomically(path, render(samples), 0o644)


def samples_from(
    facts,
    counters,
    started,
    finished,
    state_problem=None,
    paused=False,
    units_parked=0,
    budget_remaining=None,
    host_label=None,
):
    """Build the sample list from scan facts, the cumulative action counters
    ({'action|result': n}), the run's timing and the brakes: ``state_problem``
    (None or the kind), ``paused``, ``units_parked`` and ``budget_remaining``
    (None: unknown, not exported). With ``host_label`` (the inventory name)
    every sample gets a ``host`` label."""
    samples = []
    units = facts.get('units') or {}
    for metric, key in (
        ('reaper_unit_zombies', 'zombies'),
        ('reaper_unit_leftovers', 'leftovers'),
        ('reaper_unit_survivors', 'survivors'),
        ('reaper_unit_escaped', 'escaped'),
    ):
        for name in sorted(units):
            counts = units[name].get('counts') or {}
            samples.append((metric, {'unit': name}, int(counts.get(key, len(units[name].get(key) or [])))))
    host = facts.get('host') or {}
    samples.append(('reaper_host_zombies', None, int(host.get('zombies') or 0)))
    samples.append(('reaper_host_pid_usage_ratio', None, float(host.get('pid_usage') or 0.0)))
    for key in sorted(counters):
        action, result = key.split('|', 1)
        samples.append(('reaper_actions_total', {'action': action, 'result': result}, int(counters[key])))
    samples.append(('reaper_last_run_timestamp_seconds', None, float(round(finished, 3))))
    samples.append(('reaper_last_run_duration_seconds', None, float(round(finished - started, 3))))
    # every kind, 0 or 1: an alert on `== 1` fires, and clears once the file is fixed
    for kind in STATE_PROBLEM_KINDS:
        samples.append(('reaper_state_problem', {'kind': kind}, int(kind == state_problem)))
    samples.append(('reaper_paused', None, int(bool(paused))))
    samples.append(('reaper_units_parked', None, int(units_parked)))
    if budget_remaining is not None:
        samples.append(('reaper_actions_budget_remaining', None, int(budget_remaining)))
    if host_label:
        samples = [(name, dict(labels or {}, host=host_label), value) for name, labels, value in samples]
    return samples
