# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner guard rails on synthetic facts; executor on real child processes."""

from __future__ import absolute_import, division, print_function

import io
import os
import subprocess
import sys
import threading

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_memory,
    cleanup_policy as cp,
    remediation as rm,
    safe_signal,
)
from ansible_collections.reaper.systemd.plugins.module_utils.journal import Journal
from ansible_collections.reaper.systemd.plugins.module_utils.proc_table import Process

__metaclass__ = type

NOW = 1_800_000_000.0


def proc(
    pid,
    comm='worker',
    state='S',
    ppid=100,
    starttime=None,
    pgrp=None,
    kthread=False,
    cgroup='/system.slice/app.service',
):
    return Process(
        pid,
        ppid,
        state,
        comm,
        0,
        starttime if starttime is not None else pid * 10,
        pid,
        pgrp or pid,
        kthread,
        1,
        cgroup,
    )


def unit(active='active', kill_mode='control-group', main_pid=100, zombies=(), leftovers=(), survivors=(), escaped=()):
    return {
        'active_state': active,
        'sub_state': 'running' if active == 'active' else 'dead',
        'main_pid': main_pid,
        'kill_mode': kill_mode,
        'invocation_id': 'a' * 32,
        'tasks_current': 10,
        'tasks_max': 100,
        'zombies': list(zombies),
        'leftovers': list(leftovers),
        'survivors': list(survivors),
        'escaped': list(escaped),
        'counts': {
            'zombies': len(zombies),
            'leftovers': len(leftovers),
            'survivors': len(survivors),
            'escaped': len(escaped),
        },
    }


def zombie(pid, ppid=100, age=120, parent_is_main=True, seen=None):
    """A zombie item as record_scan leaves it: age_s is the process's age, zombie_seen_s how long it was seen."""
    return {
        'pid': pid,
        'ppid': ppid,
        'parent_comm': 'factory',
        'parent_is_main': parent_is_main,
        'age_s': age,
        'zombie_seen_s': age if seen is None else seen,
    }


def item(pid, comm='worker', age=300):
    return {'pid': pid, 'comm': comm, 'uid': 0, 'age_s': age}


def table(*procs):
    return dict((p.pid, p) for p in procs)


def _empty_state():
    return {'version': 2, 'zombies': {}, 'units': {}, 'cooldowns': {}, 'counters': {}, 'actions': []}


@pytest.fixture
def guard():
    return safe_signal.Guard()


def _policy(**kw):
    kw.setdefault('units', ['*'])
    return cp.Policy(**kw)


def plan_at(facts, processes, policy, **kw):
    """The planner with every process 100 s old at scan time unless told otherwise."""
    kw.setdefault('age_s', lambda p: 100.0)
    kw.setdefault('now', NOW)
    return rm.plan(facts, processes, policy, **kw)


def kinds(plan):
    return [(a.kind, a.unit, a.pid) for a in plan.actions]


# ---------------------------------------------------------------- policy
@pytest.mark.parametrize(
    'bad, match',
    [
        ({'units': []}, 'at least one'),
        ({'units': ['x'], 'actions': ['kill_everything']}, 'unknown action'),
        ({'units': ['x'], 'max_actions': -1}, 'max_actions'),
        ({'units': ['x'], 'min_zombies': 0}, 'min_zombies'),
        ({'units': ['../etc']}, 'must not contain'),
    ],
)
def test_policy_validation(bad, match):
    with pytest.raises(cp.PolicyError, match=match):
        cp.Policy(**bad)


def test_policy_from_dict_requires_units_and_rejects_unknown():
    with pytest.raises(cp.PolicyError, match='units is required'):
        cp.Policy.from_dict({'actions': []})
    with pytest.raises(cp.PolicyError, match='unknown policy keys: colour'):
        cp.Policy.from_dict({'units': ['x'], 'colour': 'red'})


def test_actions_are_off_unless_named(guard):
    facts = {'units': {'app.service': unit(active='failed', leftovers=[item(501)])}}
    plan = plan_at(facts, table(proc(501)), _policy(actions=[]), guard=guard)
    assert plan.actions == [] and plan.skipped == []


# ---------------------------------------------------------------- scope and deny list
@pytest.mark.parametrize(
    'name',
    [
        'systemd-journald.service',
        'dbus.service',
        'dbus-broker.service',
        'ssh.service',
        'sshd.service',
        'user@0.service',
        'getty@tty1.service',
        'reaper-cleanup.service',
    ],
)
def test_builtin_deny_list_applies_to_star(name, guard):
    facts = {
        'units': {
            name: unit(active='failed', leftovers=[item(501)]),
            'app.service': unit(active='failed', leftovers=[item(502)]),
        }
    }
    plan = plan_at(
        facts, table(proc(501), proc(502)), _policy(units=['*'], actions=['kill_leftovers']), now=NOW, guard=guard
    )
    assert kinds(plan) == [('kill_leftovers', 'app.service', 502)]
    assert plan.skipped[0]['unit'] == name
    assert plan.skipped[0]['reason'].startswith('denied: ')


def test_deny_list_can_only_be_extended(guard):
    facts = {'units': {'app.service': unit(active='failed', leftovers=[item(502)])}}
    plan = plan_at(facts, table(proc(502)), _policy(actions=['kill_leftovers'], deny=['app']), guard=guard)
    assert plan.actions == []
    assert "'app'" in plan.skipped[0]['reason']


def test_out_of_scope_decoy_untouched(guard):
    """Same command name, another unit outside the scope: never a target."""
    facts = {
        'units': {
            'leaky.service': unit(active='failed', leftovers=[item(501, comm='leaky-worker')]),
            'leaky-decoy.service': unit(active='failed', leftovers=[item(601, comm='leaky-worker')]),
        }
    }
    procs = table(proc(501, comm='leaky-worker'), proc(601, comm='leaky-worker'))
    plan = plan_at(facts, procs, _policy(units=['leaky.service'], actions=['kill_leftovers']), guard=guard)
    assert kinds(plan) == [('kill_leftovers', 'leaky.service', 501)]
    assert all(s['pid'] != 601 for s in plan.skipped)


# ---------------------------------------------------------------- restart_unit
def test_restart_unit_for_zombie_factory(guard):
    facts = {'units': {'factory.service': unit(zombies=[zombie(i) for i in range(201, 206)])}}
    plan = plan_at(facts, table(), _policy(actions=['restart_unit'], min_zombies=5), guard=guard)
    assert kinds(plan) == [('restart_unit', 'factory.service', None)]
    assert plan.actions[0].evidence['zombies'] == 5
    assert plan.actions[0].evidence['zombie_pids'] == [201, 202, 203, 204, 205]
    assert '5 zombies' in plan.actions[0].reason


def test_thresholds_min_zombies_and_age(guard):
    facts = {
        'units': {'factory.service': unit(zombies=[zombie(201, age=10), zombie(202, age=120), zombie(203, age=120)])}
    }
    procs = table()
    assert (
        plan_at(
            facts, procs, _policy(actions=['restart_unit'], min_zombies=3, min_zombie_age=60), now=NOW, guard=guard
        ).actions
        == []
    )
    assert kinds(
        plan_at(facts, procs, _policy(actions=['restart_unit'], min_zombies=3, min_zombie_age=5), guard=guard)
    ) == [('restart_unit', 'factory.service', None)]


@pytest.mark.parametrize('kill_mode', ['process', 'none'])
def test_restart_refused_under_weak_killmode(kill_mode, guard):
    facts = {'units': {'factory.service': unit(kill_mode=kill_mode, zombies=[zombie(201)])}}
    plan = plan_at(facts, table(), _policy(actions=['restart_unit']), guard=guard)
    assert plan.actions == []
    assert 'harden first' in plan.skipped[0]['reason']


@pytest.mark.parametrize('state', ['inactive', 'failed', 'activating'])
def test_restart_never_starts_inactive_unit(state, guard):
    facts = {'units': {'factory.service': unit(active=state, zombies=[zombie(201)])}}
    plan = plan_at(facts, table(), _policy(actions=['restart_unit']), guard=guard)
    assert plan.actions == []
    assert 'never starts' in plan.skipped[0]['reason']


# ---------------------------------------------------------------- zombie parents
def test_kill_worker_parent_never_main_pid(guard):
    facts = {
        'units': {
            'w.service': unit(
                main_pid=100,
                zombies=[zombie(201, ppid=100, parent_is_main=True), zombie(202, ppid=150, parent_is_main=False)],
            )
        }
    }
    plan = plan_at(
        facts, table(proc(100, comm='main'), proc(150)), _policy(actions=['kill_worker_parent']), now=NOW, guard=guard
    )
    assert kinds(plan) == [('kill_worker_parent', 'w.service', 150)]
    assert any(s['pid'] == 100 and 'main PID' in s['reason'] for s in plan.skipped)


def test_nudge_parent_including_main(guard):
    facts = {'units': {'w.service': unit(main_pid=100, zombies=[zombie(201), zombie(202)])}}
    plan = plan_at(facts, table(proc(100)), _policy(actions=['nudge_parent']), guard=guard)
    assert kinds(plan) == [('nudge_parent', 'w.service', 100)]
    assert plan.actions[0].evidence['zombies'] == 2


def test_restart_supersedes_process_actions(guard):
    facts = {'units': {'w.service': unit(main_pid=100, zombies=[zombie(201, ppid=100)], survivors=[item(160)])}}
    plan = plan_at(
        facts,
        table(proc(100), proc(160)),
        _policy(actions=['restart_unit', 'kill_worker_parent', 'nudge_parent', 'kill_survivors']),
        now=NOW,
        guard=guard,
    )
    assert kinds(plan) == [('restart_unit', 'w.service', None)]
    assert any('planned restart' in s['reason'] for s in plan.skipped)


def test_killing_the_leaking_worker_is_preferred_to_a_restart(guard):
    """Least disruptive first: a worker (not the main PID) leaks; kill it, keep the service."""
    facts = {'units': {'w.service': unit(main_pid=100, zombies=[zombie(201, ppid=150, parent_is_main=False)])}}
    procs = table(proc(100), proc(150))
    plan = plan_at(facts, procs, _policy(actions=['restart_unit', 'kill_worker_parent']), guard=guard)
    assert kinds(plan) == [('kill_worker_parent', 'w.service', 150)]
    # without kill_worker_parent the restart is the remedy
    plan = plan_at(facts, procs, _policy(actions=['restart_unit']), guard=guard)
    assert kinds(plan) == [('restart_unit', 'w.service', None)]


# ---------------------------------------------------------------- left-overs, survivors, escapes
def test_leftovers_only_for_stopped_or_failed(guard):
    facts = {
        'units': {
            'a.service': unit(active='active', leftovers=[item(501)]),
            'b.service': unit(active='inactive', leftovers=[item(502)]),
        }
    }
    plan = plan_at(facts, table(proc(501), proc(502)), _policy(actions=['kill_leftovers']), guard=guard)
    assert kinds(plan) == [('kill_leftovers', 'b.service', 502)]
    assert plan.actions[0].starttime == 5020
    assert plan.actions[0].cgroup == '/system.slice/app.service'


def test_survivors_never_main_pid(guard):
    facts = {'units': {'s.service': unit(main_pid=100, survivors=[item(100), item(170)])}}
    plan = plan_at(facts, table(proc(100), proc(170)), _policy(actions=['kill_survivors']), guard=guard)
    assert kinds(plan) == [('kill_survivors', 's.service', 170)]


def test_escaped_targets_only_the_escaped_pids(guard):
    esc = {
        'pid': 701,
        'comm': 'sleep',
        'uid': 0,
        'now_in': 'run-r1.scope',
        'route': 'scope',
        'evidence': ['invocation_id'],
    }
    facts = {'units': {'e.service': unit(escaped=[esc])}}
    procs = table(proc(701, cgroup='/system.slice/run-r1.scope'), proc(702, cgroup='/system.slice/run-r1.scope'))
    plan = plan_at(facts, procs, _policy(actions=['terminate_escaped']), guard=guard)
    assert kinds(plan) == [('terminate_escaped', 'e.service', 701)]
    assert plan.actions[0].cgroup == '/system.slice/run-r1.scope'


# ---------------------------------------------------------------- guard rails
def test_pid_0_1_self_ancestors_pgrp_kthread_zombie_are_skipped(guard):
    own = os.getpid()
    parent = os.getppid()
    left = [item(0), item(1), item(own), item(parent), item(801), item(802), item(803), item(804)]
    procs = table(
        proc(0),
        proc(1),
        proc(own),
        proc(parent),
        proc(801, pgrp=os.getpgrp()),
        proc(802, kthread=True, comm='kworker/0:1'),
        proc(803, state='Z'),
    )
    facts = {'units': {'app.service': unit(active='failed', leftovers=left)}}
    plan = plan_at(facts, procs, _policy(actions=['kill_leftovers']), guard=guard)
    assert plan.actions == []
    reasons = dict((s['pid'], s['reason']) for s in plan.skipped)
    assert 'PID 0' in reasons[0]
    assert 'PID 1' in reasons[1]
    assert 'itself' in reasons[own]
    assert 'ancestor' in reasons[parent]
    assert 'process group' in reasons[801]
    assert 'kernel thread' in reasons[802]
    assert 'zombie' in reasons[803]
    assert 'not in the scan' in reasons[804]


def test_max_actions_caps_the_run(guard):
    left = [item(p) for p in range(901, 911)]
    facts = {'units': {'app.service': unit(active='failed', leftovers=left)}}
    procs = table(*[proc(p) for p in range(901, 911)])
    plan = plan_at(facts, procs, _policy(actions=['kill_leftovers'], max_actions=3), guard=guard)
    assert [a.pid for a in plan.actions] == [901, 902, 903]
    assert sum('max_actions (3)' in s['reason'] for s in plan.skipped) == 7


def test_max_actions_zero_means_report_only(guard):
    facts = {'units': {'app.service': unit(active='failed', leftovers=[item(901)])}}
    plan = plan_at(facts, table(proc(901)), _policy(actions=['kill_leftovers'], max_actions=0), guard=guard)
    assert plan.actions == []


def test_cooldown_per_unit(guard):
    state = _empty_state()
    cleanup_memory.mark_action(state, 'app.service', NOW - 100)
    facts = {
        'units': {
            'app.service': unit(active='failed', leftovers=[item(901)]),
            'other.service': unit(active='failed', leftovers=[item(902)]),
        }
    }
    procs = table(proc(901), proc(902))
    plan = plan_at(facts, procs, _policy(actions=['kill_leftovers'], cooldown=600), state=state, guard=guard)
    assert kinds(plan) == [('kill_leftovers', 'other.service', 902)]
    assert 'cool-down' in plan.skipped[0]['reason']
    later = plan_at(
        facts, procs, _policy(actions=['kill_leftovers'], cooldown=600), state=state, now=NOW + 600, guard=guard
    )
    assert len(later.actions) == 2


# ---------------------------------------------------------------- executor
class FakeRunner:
    """systemctl: `show` answers the InvocationID, `restart` rc/timeout as told."""

    def __init__(self, journal, rc=0, timeout=False, invocation='a' * 32):
        self.journal = journal
        self.rc = rc
        self.timeout = timeout
        self.invocation = invocation
        self.calls = []

    def __call__(self, argv, timeout):
        if argv[1] == 'show':
            self.shows = getattr(self, 'shows', []) + [argv]
            return 0, self.invocation + '\n', ''
        self.calls.append((argv, timeout, len(self.journal.sent)))
        if self.timeout:
            raise subprocess.TimeoutExpired(argv, timeout)
        return self.rc, '', 'boom' if self.rc else ''


def _journal():
    return Journal(socket_path='/nonexistent/socket', stream=io.StringIO())


@pytest.mark.parametrize(
    'after_pids, after_state, expected',
    [
        ([], 'active', rm.DONE),
        # the new invocation makes new zombies at once: the old ones are still gone
        ([300, 301, 302, 303, 304], 'active', rm.DONE),
        ([200, 201, 300], 'active', rm.NOT_CLEANED),
        ([], 'failed', rm.NOT_CLEANED),
    ],
)
def test_restart_logged_before_and_rechecked_after(after_pids, after_state, expected):
    jr = _journal()
    runner = FakeRunner(jr)
    policy = _policy(actions=['restart_unit'], action_timeout=30)
    action = rm.Action(
        'restart_unit',
        'factory.service',
        '5 zombies',
        evidence={'zombies': 5, 'zombie_pids': [200, 201, 202, 203, 204], 'invocation_id': 'a' * 32},
    )
    after = {'units': {'factory.service': unit(active=after_state, zombies=[zombie(i) for i in after_pids])}}
    plan = rm.Plan()
    plan.actions = [action]
    state = _empty_state()
    results = rm.Executor(policy, jr, rescan=lambda units: after, runner=runner, clock=lambda: NOW).run(plan, state)
    argv, timeout, logged_before = runner.calls[0]
    assert argv == ['systemctl', 'restart', '--no-ask-password', '--', 'factory.service']
    assert timeout == 30
    assert logged_before == 1, 'the journal line is written before the action'
    assert jr.sent[0]['MESSAGE_ID'] == 'daaa05d4e01740c6871872e2b66ad0b7'
    assert jr.sent[0]['REAPER_ACTION'] == 'restart_unit'
    assert jr.sent[0]['UNIT'] == 'factory.service'
    assert results[0]['result'] == expected
    assert results[0]['after']['counts']['zombies'] == len(after_pids)
    assert results[0]['before']['zombies'] == 5
    assert state['cooldowns']['factory.service'] == NOW


def test_restart_timeout_reported():
    jr = _journal()
    plan = rm.Plan()
    plan.actions = [rm.Action('restart_unit', 'slow.service', 'z', evidence={'zombies': 1, 'invocation_id': 'a' * 32})]
    results = rm.Executor(_policy(), jr, rescan=lambda u: {'units': {}}, runner=FakeRunner(jr, timeout=True)).run(plan)
    assert results[0]['result'] == rm.TIMEOUT
    assert 'goes on in systemd' in results[0]['message']


def _spawn(code='import time; time.sleep(120)'):
    return subprocess.Popen([sys.executable, '-c', code], start_new_session=True)


def _starttime(pid):
    with open('/proc/%d/stat' % pid) as handle:
        return safe_signal.parse_stat(handle.read())['starttime']


def test_executor_kills_real_leftover_and_logs_first():
    child = _spawn()
    threading.Thread(target=child.wait, daemon=True).start()
    jr = _journal()
    plan = rm.Plan()
    plan.actions = [
        rm.Action(
            'kill_leftovers', 'app.service', 'left-over', pid=child.pid, starttime=_starttime(child.pid), comm='python3'
        )
    ]
    results = rm.Executor(_policy(grace=5), jr, rescan=None).run(plan)
    assert results[0]['result'] == rm.DONE
    assert results[0]['signals'] == ['SIGTERM']
    assert results[0]['changed'] is True
    assert jr.sent[0]['OBJECT_PID'] == child.pid
    assert jr.sent[0]['MESSAGE_ID'] == 'c417397bcaf646029a32ac0ba4fb6fae'


def test_executor_refuses_pid_reused_since_scan():
    child = _spawn()
    try:
        jr = _journal()
        plan = rm.Plan()
        plan.actions = [
            rm.Action(
                'kill_leftovers',
                'app.service',
                'left-over',
                pid=child.pid,
                starttime=_starttime(child.pid) + 7,
                comm='python3',
            )
        ]
        results = rm.Executor(_policy(grace=1), jr, rescan=None).run(plan)
        assert results[0]['result'] == rm.REFUSED
        assert 'reused' in results[0]['message']
        assert results[0]['changed'] is False
        assert child.poll() is None, 'the new owner of the PID was not signalled'
        assert jr.sent[-1]['MESSAGE_ID'] == 'd19c2e376a0742da99350ccd27410542'
    finally:
        child.kill()
        child.wait()


def test_executor_reports_unreaped_kill_as_not_cleaned():
    """Its parent (this test) does not reap it: the killed worker stays a zombie."""
    child = _spawn()
    try:
        plan = rm.Plan()
        plan.actions = [
            rm.Action(
                'kill_worker_parent',
                'w.service',
                'leaks',
                pid=child.pid,
                starttime=_starttime(child.pid),
                comm='python3',
            )
        ]
        results = rm.Executor(_policy(grace=5), _journal(), rescan=None).run(plan)
        assert results[0]['result'] == rm.NOT_CLEANED
        assert results[0]['after']['state'] == 'Z'
    finally:
        child.wait()


def test_nudge_without_handler_is_not_cleaned():
    """A parent that ignores SIGCHLD (no handler): the nudge changes nothing and says so."""
    child = _spawn()
    try:
        plan = rm.Plan()
        plan.actions = [
            rm.Action(
                'nudge_parent',
                'w.service',
                'parent',
                pid=child.pid,
                starttime=_starttime(child.pid),
                comm='python3',
                evidence={'zombies': 2},
            )
        ]
        still = {'units': {'w.service': unit(zombies=[zombie(11, ppid=child.pid), zombie(12, ppid=child.pid)])}}
        results = rm.Executor(_policy(), _journal(), rescan=lambda u: still, nudge_settle=0).run(plan)
        assert results[0]['result'] == rm.NOT_CLEANED
        assert results[0]['signals'] == ['SIGCHLD']
        assert results[0]['after']['zombies_of_parent'] == 2
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_count_results():
    counters = rm.count_results(
        [
            {'action': 'kill_leftovers', 'result': 'done'},
            {'action': 'kill_leftovers', 'result': 'done'},
            {'action': 'restart_unit', 'result': 'timeout'},
        ],
        {'kill_leftovers|done': 1},
    )
    assert counters == {'kill_leftovers|done': 3, 'restart_unit|timeout': 1}
