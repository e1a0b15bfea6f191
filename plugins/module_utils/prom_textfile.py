# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_exporter textfile collector output.

A ``*.prom`` file written to a temp file in the same directory and renamed
(node_exporter never reads half a file); samples carry no timestamps.

Cardinality stays bounded: per-unit series are written only for units with
something to report (``noteworthy``: a leak, or tasks at REPORT_TASKS_RATIO of
TasksMax or more), and for REPORT_HOLD_S after that (so a fixed unit's gauges
fall to 0 before they vanish: a graph and a resolving alert show the fix).
Every other unit in scope is counted in the host totals only.
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
    'reaper_unit_tasks_current': ('gauge', "Tasks in the unit's cgroup, zombies included (systemd's TasksCurrent)."),
    'reaper_unit_tasks_max': ('gauge', "The unit's TasksMax (no series when it is infinity)."),
    'reaper_unit_by_design': (
        'gauge',
        'The unit keeps processes across a stop or restart on purpose (KillMode set by its package).',
    ),
    'reaper_host_zombies': ('gauge', 'Zombie processes on the host.'),
    'reaper_host_pid_usage_ratio': ('gauge', 'Processes and threads in use divided by pid_max.'),
    'reaper_host_pids_current': ('gauge', 'Processes and threads on the host: each holds a PID.'),
    'reaper_host_pid_max': ('gauge', 'The kernel.pid_max sysctl: PIDs the host can hand out.'),
    'reaper_timer_interval_seconds': ('gauge', 'Interval of reaper-cleanup.timer between runs (OnUnitActiveSec).'),
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
    'reaper_systemd_query_fallback': (
        'gauge',
        "The scan asked systemctl: PID 1's private socket gave no clean answer (why: in the journal).",
    ),
}

STATE_PROBLEM_KINDS = ('corrupt', 'newer', 'unsafe', 'unreadable')

LEAK_METRICS = (
    ('reaper_unit_zombies', 'zombies'),
    ('reaper_unit_leftovers', 'leftovers'),
    ('reaper_unit_survivors', 'survivors'),
    ('reaper_unit_escaped', 'escaped'),
)
# A unit whose tasks reach this share of its TasksMax gets series even without a leak: its
# growth is worth forecasting (a quarter leaves hours of warning at a leak's usual rate).
REPORT_TASKS_RATIO = 0.25
# How long a unit keeps its series after it last had something to report.
REPORT_HOLD_S = 3600.0
# Results of the enabled actions written as 0 before they first happen: increase() over a
# counter that appears at 1 sees no increase, so the first failure would go unnoticed.
ALERTED_RESULTS = ('done', 'not_cleaned', 'failed', 'timeout', 'unit_down')


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


def _count(unit, key):
    counts = unit.get('counts') or {}
    return int(counts.get(key, len(unit.get(key) or [])))


def noteworthy(unit):
    """True when the unit's facts have something to report: a leak, or tasks worth forecasting."""
    if any(_count(unit, key) > 0 for _metric, key in LEAK_METRICS):
        return True
    current, limit = unit.get('tasks_current'), unit.get('tasks_max')
    return bool(limit) and current is not None and current >= REPORT_TASKS_RATIO * limit


def units_to_report(facts_list, last_reported, now, hold=REPORT_HOLD_S):
    """Names of the units to write series for, and the updated ``last_reported`` ({unit: time}).

    ``facts_list``: the scans of this run (before and after the actions: a unit
    fixed by this run still reports its 0). A unit is reported when noteworthy
    in one of them, or when it was within ``hold`` seconds; entries older than
    that are dropped from the returned mapping."""
    reported = {}
    for name, when in (last_reported or {}).items():
        if isinstance(when, (int, float)) and not isinstance(when, bool) and 0 <= now - when <= hold:
            reported[name] = when
    for facts in facts_list:
        for name, unit in (facts.get('units') or {}).items():
            if noteworthy(unit):
                reported[name] = now
    return set(reported), reported


def _by_design_units(facts):
    """Units with a finding marked by design (their left-overs and survivors are expected)."""
    return set(
        item.get('unit')
        for item in facts.get('findings') or []
        if item.get('unit') and (item.get('evidence') or {}).get('by_design')
    )


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
    report_units=None,
    interval_seconds=None,
    actions=(),
):
    """Build the sample list from scan facts, the cumulative action counters
    ({'action|result': n}), the run's timing and the brakes: ``state_problem``
    (None or the kind), ``paused``, ``units_parked`` and ``budget_remaining``
    (None: unknown, not exported). With ``host_label`` (the inventory name)
    every sample gets a ``host`` label.

    ``report_units``: the units that get per-unit series (None: the units of
    ``facts`` that are noteworthy now); units in scope but not listed are only
    in the host totals. ``interval_seconds``: the timer's interval (None: not
    run by the timer, not exported). ``actions``: the enabled action kinds,
    whose ALERTED_RESULTS counters are written as 0 until they happen."""
    samples = []
    units = facts.get('units') or {}
    if report_units is None:
        report_units = [name for name in units if noteworthy(units[name])]
    reported = sorted(name for name in set(report_units) if name in units)
    for metric, key in LEAK_METRICS:
        for name in reported:
            samples.append((metric, {'unit': name}, _count(units[name], key)))
    for metric, key in (('reaper_unit_tasks_current', 'tasks_current'), ('reaper_unit_tasks_max', 'tasks_max')):
        for name in reported:
            if units[name].get(key) is not None:
                samples.append((metric, {'unit': name}, int(units[name][key])))
    by_design = _by_design_units(facts)
    for name in reported:
        if name in by_design:
            samples.append(('reaper_unit_by_design', {'unit': name}, 1))
    host = facts.get('host') or {}
    samples.append(('reaper_host_zombies', None, int(host.get('zombies') or 0)))
    samples.append(('reaper_host_pid_usage_ratio', None, float(host.get('pid_usage') or 0.0)))
    if host.get('threads') is not None:
        samples.append(('reaper_host_pids_current', None, int(host['threads'])))
    if host.get('pid_max'):
        samples.append(('reaper_host_pid_max', None, int(host['pid_max'])))
    counters = dict(counters)
    for action in actions:
        for result in ALERTED_RESULTS:
            counters.setdefault('%s|%s' % (action, result), 0)
    for key in sorted(counters):
        action, result = key.split('|', 1)
        samples.append(('reaper_actions_total', {'action': action, 'result': result}, int(counters[key])))
    samples.append(('reaper_last_run_timestamp_seconds', None, float(round(finished, 3))))
    samples.append(('reaper_last_run_duration_seconds', None, float(round(finished - started, 3))))
    if interval_seconds is not None:
        samples.append(('reaper_timer_interval_seconds', None, float(interval_seconds)))
    # every kind, 0 or 1: an alert on `== 1` fires, and clears once the file is fixed
    for kind in STATE_PROBLEM_KINDS:
        samples.append(('reaper_state_problem', {'kind': kind}, int(kind == state_problem)))
    samples.append(('reaper_paused', None, int(bool(paused))))
    samples.append(('reaper_units_parked', None, int(units_parked)))
    if budget_remaining is not None:
        samples.append(('reaper_actions_budget_remaining', None, int(budget_remaining)))
    query = host.get('systemd_query')
    if query:  # None: systemd is not PID 1, nothing was asked
        samples.append(('reaper_systemd_query_fallback', None, int(query.get('source') != 'bus')))
    if host_label:
        samples = [(name, dict(labels or {}, host=host_label), value) for name, labels, value in samples]
    return samples
