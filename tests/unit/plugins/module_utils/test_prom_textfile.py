# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import os
import re

from ansible_collections.reaper.systemd.plugins.module_utils import prom_textfile as pt

__metaclass__ = type

FACTS = {
    'host': {'zombies': 7, 'pid_usage': 0.125},
    'units': {
        'factory.service': {'counts': {'zombies': 5, 'leftovers': 0, 'survivors': 0, 'escaped': 0}},
        'we"ird.service': {'counts': {'zombies': 0, 'leftovers': 2, 'survivors': 1, 'escaped': 3}},
    },
}


def test_render_names_labels_no_timestamps(tmp_path):
    path = pt.write(str(tmp_path), pt.samples_from(FACTS, {'restart_unit|done': 2}, 100.0, 101.5))
    text = open(path).read()
    assert os.listdir(str(tmp_path)) == ['reaper_systemd.prom']
    assert 'reaper_unit_zombies{unit="factory.service"} 5\n' in text
    assert 'reaper_unit_escaped{unit="we\\"ird.service"} 3\n' in text
    assert 'reaper_host_zombies 7\n' in text
    assert 'reaper_host_pid_usage_ratio 0.125\n' in text
    assert 'reaper_actions_total{action="restart_unit",result="done"} 2\n' in text
    assert 'reaper_last_run_duration_seconds 1.5\n' in text
    assert '# TYPE reaper_actions_total counter' in text
    for line in text.splitlines():
        if not line.startswith('#'):
            # name{labels} value  -- exactly two fields: no timestamp
            assert re.match(r'^[a-z_]+(\{[^}]*\})? \S+$', line), line
    assert text.count('# HELP reaper_unit_zombies ') == 1


def _unit(zombies=0, leftovers=0, tasks=None, tasks_max=None):
    return {
        'counts': {'zombies': zombies, 'leftovers': leftovers, 'survivors': 0, 'escaped': 0},
        'tasks_current': tasks,
        'tasks_max': tasks_max,
    }


BOUNDED = {
    'host': {'zombies': 3, 'pid_usage': 0.25, 'threads': 8192, 'pid_max': 32768},
    'units': {
        'clean.service': _unit(tasks=12, tasks_max=4915),
        'factory.service': _unit(zombies=3, tasks=40, tasks_max=4915),
        'busy.service': _unit(tasks=1300, tasks_max=4915),
        'unlimited.service': _unit(leftovers=2, tasks=5),
        'cron.service': _unit(leftovers=1, tasks=2, tasks_max=4915),
    },
    'findings': [
        {'code': 'leftovers', 'unit': 'cron.service', 'evidence': {'by_design': True}},
        {'code': 'weak_killmode', 'unit': 'clean.service', 'evidence': {}},
    ],
}


def _lines(samples):
    return pt.render(samples).splitlines()


def test_only_units_with_something_to_report_get_series():
    lines = _lines(pt.samples_from(BOUNDED, {}, 0.0, 1.0))
    assert not [line for line in lines if 'clean.service' in line], 'a clean unit is only in the host totals'
    assert 'reaper_unit_zombies{unit="factory.service"} 3' in lines
    assert 'reaper_unit_leftovers{unit="factory.service"} 0' in lines, 'a reported unit has all four gauges'
    # a quarter of TasksMax or more is worth forecasting, without any leak
    assert 'reaper_unit_tasks_current{unit="busy.service"} 1300' in lines
    assert 'reaper_unit_tasks_max{unit="busy.service"} 4915' in lines
    assert 'reaper_unit_zombies{unit="busy.service"} 0' in lines
    # TasksMax=infinity: tasks are exported, no limit series to forecast against
    assert 'reaper_unit_tasks_current{unit="unlimited.service"} 5' in lines
    assert not [line for line in lines if line.startswith('reaper_unit_tasks_max{unit="unlimited.service"')]
    assert 'reaper_host_zombies 3' in lines
    assert 'reaper_host_pids_current 8192' in lines
    assert 'reaper_host_pid_max 32768' in lines


def test_by_design_marked_only_for_reported_units():
    lines = _lines(pt.samples_from(BOUNDED, {}, 0.0, 1.0))
    assert [line for line in lines if line.startswith('reaper_unit_by_design')] == [
        'reaper_unit_by_design{unit="cron.service"} 1'
    ]


def test_report_units_decides_and_missing_units_are_skipped():
    lines = _lines(pt.samples_from(BOUNDED, {}, 0.0, 1.0, report_units={'clean.service', 'gone.service'}))
    assert 'reaper_unit_zombies{unit="clean.service"} 0' in lines
    assert 'reaper_unit_tasks_current{unit="clean.service"} 12' in lines
    assert not [line for line in lines if 'factory.service' in line or 'gone.service' in line]


def test_units_to_report_holds_a_fixed_unit_for_an_hour():
    leaking = {'units': {'a.service': _unit(zombies=4), 'b.service': _unit()}}
    fixed = {'units': {'a.service': _unit(), 'b.service': _unit()}}
    names, last = pt.units_to_report([leaking, fixed], {}, 1000.0)
    assert names == {'a.service'} and last == {'a.service': 1000.0}
    names, last = pt.units_to_report([fixed], last, 1000.0 + pt.REPORT_HOLD_S)
    assert names == {'a.service'} and last == {'a.service': 1000.0}, 'still within the hold: written as 0'
    names, last = pt.units_to_report([fixed], last, 1000.0 + pt.REPORT_HOLD_S + 1)
    assert names == set() and last == {}


def test_units_to_report_drops_malformed_and_future_times():
    fixed = {'units': {'a.service': _unit()}}
    names, last = pt.units_to_report([fixed], {'a.service': 'soon', 'b.service': True, 'c.service': 5000.0}, 1000.0)
    assert names == set() and last == {}


def test_interval_and_zero_counters_of_enabled_actions():
    samples = pt.samples_from(
        BOUNDED, {'restart_unit|done': 2}, 0.0, 1.0, interval_seconds=900.0, actions=['restart_unit']
    )
    lines = _lines(samples)
    assert 'reaper_timer_interval_seconds 900.0' in lines
    assert 'reaper_actions_total{action="restart_unit",result="done"} 2' in lines, 'a real count is kept'
    for result in ('not_cleaned', 'failed', 'timeout'):
        assert 'reaper_actions_total{action="restart_unit",result="%s"} 0' % result in lines
    assert not [line for line in lines if 'kill_leftovers' in line], 'only enabled actions'
    lines = _lines(pt.samples_from(BOUNDED, {}, 0.0, 1.0))
    assert not [line for line in lines if line.startswith('reaper_timer_interval_seconds')], 'not run by the timer'


def test_host_label_on_every_new_series():
    samples = pt.samples_from(BOUNDED, {}, 0.0, 1.0, host_label='web1', interval_seconds=60.0, actions=['restart_unit'])
    assert samples and all(labels.get('host') == 'web1' for _name, labels, _value in samples)


def test_unknown_pid_max_is_not_exported():
    facts = {'host': {'zombies': 0, 'pid_usage': None, 'threads': 10, 'pid_max': None}, 'units': {}}
    lines = _lines(pt.samples_from(facts, {}, 0.0, 1.0))
    assert 'reaper_host_pids_current 10' in lines
    assert not [line for line in lines if line.startswith('reaper_host_pid_max')]


def test_systemd_query_fallback_is_a_bounded_gauge():
    """1 when the scan asked systemctl because PID 1's socket gave no clean answer; the reason is in the journal."""
    for query, value in (({'source': 'systemctl', 'problem': 'systemd did not answer within 15.0s'}, 1),
                         ({'source': 'bus', 'problem': None}, 0)):  # fmt: skip
        facts = {'host': {'zombies': 0, 'pid_usage': 0.1, 'systemd_query': query}, 'units': {}}
        lines = _lines(pt.samples_from(facts, {}, 0.0, 1.0))
        assert [line for line in lines if line.startswith('reaper_systemd_query_fallback')] == [
            'reaper_systemd_query_fallback %d' % value
        ]
    lines = _lines(pt.samples_from({'host': {'zombies': 0, 'systemd_query': None}, 'units': {}}, {}, 0.0, 1.0))
    assert not [line for line in lines if 'systemd_query' in line], 'systemd is not PID 1: nothing to say'
