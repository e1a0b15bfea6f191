# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Actions on whole units through systemctl: the cgroup-wide kill of a stopped unit's
left-overs, and the checks before and after restart_unit."""

from __future__ import absolute_import, division, print_function

import subprocess

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_memory,
    remediation as rm,
    remediation_executor as rex,
    unit_actions,
)
from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.test_remediation import (
    NOW,
    _empty_state,
    _journal,
    _policy,
    item,
    unit,
)

__metaclass__ = type

INVOCATION = 'a' * 32


class FakeSystemctl:
    """`show` answers from ``props`` (key=value lines); any other verb is recorded with its rc."""

    def __init__(self, journal, props=None, rc=0, on_call=None):
        self.journal = journal
        self.props = dict(
            InvocationID=INVOCATION,
            ActiveState='active',
            SubState='running',
            Result='success',
            NRestarts='0',
            StartLimitBurst='5',
            StartLimitIntervalUSec='10s',
            ActiveEnterTimestampMonotonic='1000000',
            ControlGroup='/system.slice/leak.service',
        )
        self.props.update(props or {})
        self.rc = rc
        self.on_call = on_call
        self.calls = []

    def __call__(self, argv, timeout):
        if argv[1] == 'show':
            wanted = [a.split('=', 1)[1] for a in argv if a.startswith('--property=')][0].split(',')
            return 0, ''.join('%s=%s\n' % (k, self.props.get(k, '')) for k in wanted), ''
        self.calls.append((argv, len(self.journal.sent)))
        if self.on_call:
            self.on_call(argv)
        return self.rc, '', 'Job failed. See journalctl -xe' if self.rc else ''


def _run(action, runner, after, state=None, now_mono_us=None, **policy):
    policy.setdefault('actions', ['restart_unit', 'kill_leftovers'])
    plan = rm.Plan()
    plan.actions = [action]
    jr = runner.journal
    executor = rex.Executor(
        _policy(**policy), jr, rescan=lambda units: after(), runner=runner, clock=lambda: NOW, kill_wait=0.2
    )
    if now_mono_us is not None:
        executor.monotonic_us = lambda: now_mono_us
    return executor.run(plan, state), executor


def _restart_action():
    return rm.Action(
        'restart_unit',
        'web.service',
        '5 zombies',
        evidence={'zombies': 5, 'zombie_pids': [200, 201, 202, 203, 204], 'invocation_id': INVOCATION},
    )


# ---------------------------------------------------------------- restart_unit: before
@pytest.mark.parametrize(
    'props, why',
    [
        ({'ActiveState': 'failed', 'Result': 'start-limit-hit'}, 'is failed now'),
        ({'ActiveState': 'activating', 'SubState': 'auto-restart'}, 'is activating now'),
        # four automatic restarts inside StartLimitIntervalSec=10s: a restart now could be the sixth start of 5
        ({'NRestarts': '4', 'ActiveEnterTimestampMonotonic': '95000000'}, 'start limit'),
    ],
)
def test_restart_is_refused_before_when_it_could_leave_the_unit_down(props, why):
    jr = _journal()
    runner = FakeSystemctl(jr, props)
    results, _ex = _run(_restart_action(), runner, lambda: {'units': {}}, now_mono_us=100000000)
    assert results[0]['result'] == rex.REFUSED and why in results[0]['message']
    assert runner.calls == [], 'nothing but systemctl show was run'


def test_restarts_long_ago_do_not_block_a_restart():
    jr = _journal()
    runner = FakeSystemctl(jr, {'NRestarts': '4', 'ActiveEnterTimestampMonotonic': '1000000'})
    after = {'units': {'web.service': unit()}}
    results, _ex = _run(_restart_action(), runner, lambda: after, now_mono_us=100000000)
    assert results[0]['result'] == rex.DONE
    assert runner.calls[0][0] == ['systemctl', 'restart', '--no-ask-password', '--', 'web.service']


# ---------------------------------------------------------------- restart_unit: after
def test_a_restart_that_leaves_a_serving_unit_failed_is_the_worst_outcome_and_parks_it():
    # ExecStartPre fails at run time: nothing before could predict it
    jr = _journal()
    runner = FakeSystemctl(jr, rc=1)
    after = {'units': {'web.service': unit(active='failed')}}
    state = _empty_state()
    results, executor = _run(_restart_action(), runner, lambda: after, state=state, now_mono_us=100000000)
    entry = results[0]
    assert entry['result'] == rex.UNIT_DOWN
    assert 'was active and is failed' in entry['message'] and 'not started again' in entry['message']
    assert cleanup_memory.parked(state, 'web.service')['kind'] == 'unit_down'
    assert executor.newly_parked == ['web.service']
    assert any(e['PRIORITY'] == 2 and e['REAPER_ACTION'] == 'restart_unit' for e in jr.sent), 'crit in the journal'
    assert rex.count_results(results) == {'restart_unit|unit_down': 1}
    assert [c[0][1] for c in runner.calls] == ['restart'], 'no recovery start behind the unit owner back'


def test_unit_down_fails_the_timer_run_with_its_own_exit_status():
    assert rex.UNIT_DOWN in rex.BAD_RESULTS
    from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_command

    assert cleanup_command.exit_status([{'result': rex.FAILED}, {'result': rex.UNIT_DOWN}]) == 7
    assert cleanup_command.exit_status([{'result': rex.FAILED}]) == 1
    assert cleanup_command.exit_status([{'result': rex.DONE}]) == 0
    assert cleanup_command.exit_status([{'result': rex.DONE}], metrics_error='disk full') == 5
    assert cleanup_command.exit_status([{'result': rex.FAILED}], metrics_error='disk full') == 1


# ---------------------------------------------------------------- kill_leftovers: the whole cgroup
def _whole(count=12, state='inactive'):
    data = unit(active=state, leftovers=[item(p) for p in range(500, 500 + count)])
    data['control_group'] = '/system.slice/leak.service'
    data['processes'] = count
    return data


def _whole_action():
    from ansible_collections.reaper.systemd.plugins.module_utils.safe_signal import Guard
    from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.test_remediation import proc, table

    procs = table(*[proc(p) for p in range(500, 512)])
    guard = Guard()
    guard.self_pid, guard.ancestors, guard.pgrp = -2, set(), -2
    return rm.cgroup_wide_leftovers('leak.service', _whole(), procs, guard)


def test_a_stopped_units_leftovers_go_in_one_systemctl_kill_of_its_whole_cgroup():
    jr = _journal()
    gone = {'flag': False}
    runner = FakeSystemctl(
        jr, {'ActiveState': 'inactive', 'SubState': 'dead'}, on_call=lambda argv: gone.update(flag=True)
    )

    def after():
        return {'units': {'leak.service': unit(active='inactive') if gone['flag'] else _whole()}}

    results, _ex = _run(_whole_action(), runner, after, grace=1)
    assert [c[0] for c in runner.calls] == [
        ['systemctl', 'kill', '--no-ask-password', '--kill-who=all', '--signal=SIGTERM', '--', 'leak.service']
    ]
    assert runner.calls[0][1] == 1, 'the journal line is written before the kill'
    assert results[0]['result'] == rex.DONE and results[0]['signals'] == ['SIGTERM']
    assert 'kill the 12 left-over(s) of leak.service' in jr.sent[0]['MESSAGE']


def test_leftovers_that_ignore_sigterm_get_sigkill_after_the_grace():
    jr = _journal()
    sent = []
    runner = FakeSystemctl(jr, {'ActiveState': 'failed'}, on_call=lambda argv: sent.append(argv[4]))

    def after():
        return {
            'units': {'leak.service': unit(active='failed') if '--signal=SIGKILL' in sent else _whole(state='failed')}
        }

    results, _ex = _run(_whole_action(), runner, after, grace=0.2)
    assert sent == ['--signal=SIGTERM', '--signal=SIGKILL']
    assert results[0]['result'] == rex.DONE and results[0]['signals'] == ['SIGTERM', 'SIGKILL']


@pytest.mark.parametrize(
    'props, why',
    [
        ({'ActiveState': 'activating'}, 'is activating now'),
        ({'ActiveState': 'inactive', 'InvocationID': 'b' * 32}, 'started again since the scan'),
        ({'ActiveState': 'inactive', 'ControlGroup': '/system.slice/other.service'}, 'control group'),
    ],
)
def test_the_cgroup_wide_kill_is_refused_when_the_unit_moved_on_since_the_scan(props, why):
    jr = _journal()
    runner = FakeSystemctl(jr, props)
    results, _ex = _run(_whole_action(), runner, lambda: {'units': {'leak.service': _whole()}})
    assert results[0]['result'] == rex.REFUSED and why in results[0]['message']
    assert runner.calls == []


def test_show_failure_or_timeout_refuses():
    def broken(argv, timeout):
        raise subprocess.TimeoutExpired(argv, timeout)

    props, why = unit_actions.show(broken, 'x.service', ('ActiveState',), 5)
    assert props is None and 'did not answer' in why
