# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner guard rails on synthetic facts; executor on real child processes."""

from __future__ import absolute_import, division, print_function

import io
import os
import subprocess
import sys
import signal
import threading
import time

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_memory,
    cleanup_policy as cp,
    remediation as rm,
    remediation_executor as rex,
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
    # one line for the unit, not one per process
    assert [(s['unit'], s['count']) for s in plan.skipped if 'max_actions (3)' in s['reason']] == [('app.service', 7)]


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
            return 0, 'InvocationID=%s\nActiveState=active\n' % self.invocation, ''
        self.calls.append((argv, timeout, len(self.journal.sent)))
        if self.timeout:
            raise subprocess.TimeoutExpired(argv, timeout)
        return self.rc, '', 'boom' if self.rc else ''


def _journal():
    return Journal(socket_path='/nonexistent/socket', stream=io.StringIO())


@pytest.mark.parametrize(
    'after_pids, after_state, expected',
    [
        ([], 'active', rex.DONE),
        # the new invocation makes new zombies at once: the old ones are still gone
        ([300, 301, 302, 303, 304], 'active', rex.DONE),
        ([200, 201, 300], 'active', rex.NOT_CLEANED),
        # it was active before: a restart that leaves it failed is the worst outcome
        ([], 'failed', rex.UNIT_DOWN),
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
    results = rex.Executor(policy, jr, rescan=lambda units: after, runner=runner, clock=lambda: NOW).run(plan, state)
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
    results = rex.Executor(_policy(), jr, rescan=lambda u: {'units': {}}, runner=FakeRunner(jr, timeout=True)).run(plan)
    assert results[0]['result'] == rex.TIMEOUT
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
    results = rex.Executor(_policy(grace=5), jr, rescan=None).run(plan)
    assert results[0]['result'] == rex.DONE
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
        results = rex.Executor(_policy(grace=1), jr, rescan=None).run(plan)
        assert results[0]['result'] == rex.REFUSED
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
        results = rex.Executor(_policy(grace=5), _journal(), rescan=None).run(plan)
        assert results[0]['result'] == rex.NOT_CLEANED
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
        results = rex.Executor(_policy(), _journal(), rescan=lambda u: still, nudge_settle=0).run(plan)
        assert results[0]['result'] == rex.NOT_CLEANED
        assert results[0]['signals'] == ['SIGCHLD']
        assert results[0]['after']['zombies_of_parent'] == 2
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_count_results():
    counters = rex.count_results(
        [
            {'action': 'kill_leftovers', 'result': 'done'},
            {'action': 'kill_leftovers', 'result': 'done'},
            {'action': 'restart_unit', 'result': 'timeout'},
        ],
        {'kill_leftovers|done': 1},
    )
    assert counters == {'kill_leftovers|done': 3, 'restart_unit|timeout': 1}


# ---------------------------------------------------------------- issue 10: never hit the wrong process
class _HostNs(safe_signal.Guard):
    """A guard whose host init lives in PID namespace pid:[1]."""

    def host_pid_ns(self):
        return 'pid:[1]'


def test_process_in_another_pid_namespace_is_never_a_target():
    esc = {'pid': 701, 'comm': 'nginx', 'uid': 0, 'now_in': 'docker-x.scope', 'route': 'ancestry', 'age_s': 50}
    esc['pid_namespace'] = 'pid:[4026532999]'
    same = dict(esc, pid=702, pid_namespace='pid:[1]', now_in='run-x.scope')
    facts = {'units': {'app.service': unit(escaped=[esc, same])}}
    procs = table(proc(701, cgroup='/docker/abc'), proc(702, cgroup='/system.slice/run-x.scope'))
    plan = plan_at(facts, procs, _policy(actions=['terminate_escaped']), guard=_HostNs())
    assert kinds(plan) == [('terminate_escaped', 'app.service', 702)]
    assert 'another PID namespace' in plan.skipped[0]['reason'] and plan.skipped[0]['pid'] == 701


@pytest.mark.parametrize('landed', ['cron.service', 'systemd-logind.service', 'db.service'])
def test_escapee_living_in_a_denied_unit_is_never_signalled(landed, guard):
    esc = {'pid': 711, 'comm': 'job', 'uid': 0, 'now_in': landed, 'route': 'cgroup_write', 'age_s': 50}
    facts = {'units': {'app.service': unit(escaped=[esc])}}
    procs = table(proc(711, cgroup='/system.slice/%s' % landed))
    plan = plan_at(facts, procs, _policy(actions=['terminate_escaped'], deny=['db*']), guard=guard)
    assert plan.actions == []
    assert 'lives in %s, which is denied' % landed in plan.skipped[0]['reason']


def test_process_in_a_sub_cgroup_of_a_denied_unit_is_never_signalled(guard):
    """The cgroup path decides too: a delegated sub-cgroup of cron.service is cron's."""
    esc = {'pid': 712, 'comm': 'job', 'uid': 0, 'now_in': None, 'route': 'cgroup_write', 'age_s': 50}
    facts = {'units': {'app.service': unit(escaped=[esc])}}
    procs = table(proc(712, cgroup='/system.slice/cron.service/payload'))
    plan = plan_at(facts, procs, _policy(actions=['terminate_escaped']), guard=guard)
    assert plan.actions == [] and 'cron.service, which is denied' in plan.skipped[0]['reason']


def test_a_long_lived_process_that_just_became_a_zombie_triggers_nothing(guard):
    """age_s is the process's age; only zombie_seen_s (observed as a zombie) counts."""
    facts = {'units': {'db.service': unit(zombies=[zombie(201, age=36000, seen=0)])}}
    plan = plan_at(facts, table(), _policy(actions=['restart_unit'], min_zombie_age=60), guard=guard)
    assert plan.actions == [] and plan.skipped == []
    facts = {'units': {'db.service': unit(zombies=[zombie(201, age=36000, seen=61)])}}
    plan = plan_at(facts, table(), _policy(actions=['restart_unit'], min_zombie_age=60), guard=guard)
    assert kinds(plan) == [('restart_unit', 'db.service', None)]


def test_second_look_delay_only_for_zombies_that_can_pass_within_zombie_wait():
    policy = _policy(actions=['restart_unit'], min_zombie_age=60, min_zombies=2)
    policy.zombie_wait = 90
    facts = {'units': {'f.service': unit(zombies=[zombie(201, seen=20), zombie(202, seen=0), zombie(203, seen=0)])}}
    assert rm.second_look_delay(facts, policy) == 60
    policy.zombie_wait = 30
    assert rm.second_look_delay(facts, policy) is None, 'longer than zombie_wait: the next run decides'
    policy.zombie_wait = 0
    assert rm.second_look_delay(facts, policy) is None
    policy.zombie_wait = 90
    denied = {'units': {'cron.service': facts['units']['f.service']}}
    assert rm.second_look_delay(denied, policy) is None


def test_candidates_younger_than_one_second_at_scan_time_are_left_to_a_later_run(guard):
    facts = {'units': {'app.service': unit(active='failed', leftovers=[item(901), item(902)])}}
    ages = {901: 0.4, 902: 1.5}
    plan = plan_at(
        facts,
        table(proc(901), proc(902)),
        _policy(actions=['kill_leftovers']),
        guard=guard,
        age_s=lambda p: ages[p.pid],
    )
    assert kinds(plan) == [('kill_leftovers', 'app.service', 902)]
    assert 'younger than 1s' in plan.skipped[0]['reason'] and plan.skipped[0]['pid'] == 901


NS_LAST_PID = '/proc/sys/kernel/ns_last_pid'


def _fork_sleeper():
    # posix_spawn (vfork-like) is fast enough to fork twice within one 10 ms tick; own process group
    return os.posix_spawn('/bin/sleep', ['sleep', '300'], os.environ, setpgroup=0)


def _ident(pid):
    with open('/proc/%d/stat' % pid) as handle:
        stat = safe_signal.parse_stat(handle.read())
    with open('/proc/%d/cgroup' % pid) as handle:
        return stat['starttime'], handle.read()


def _reuse_pid(pid):
    """Kill and reap ``pid``, then fork a new process with the same PID (as root, via ns_last_pid)."""
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with open(NS_LAST_PID, 'w') as handle:  # not writable: the test FAILS, it does not skip
        handle.write(str(pid - 1))
    return _fork_sleeper()


def _boottime_s():
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def test_forced_same_tick_pid_reuse_is_refused_by_the_planner():
    """A PID reused within the scanned process's clock tick has the same identity
    (PID, start time, cgroup): safe_signal cannot tell, so the planner refuses
    candidates younger than 1 s at scan time."""
    hz = os.sysconf('SC_CLK_TCK')
    for _attempt in range(200):
        first = _fork_sleeper()
        starttime, cgroup = _ident(first)
        scanned_age = _boottime_s() - starttime / float(hz)  # what the scan's table.age_s computes
        second = _reuse_pid(first)
        try:
            if second == first and _ident(second) == (starttime, cgroup):
                break
        except BaseException:
            os.kill(second, signal.SIGKILL)
            os.waitpid(second, 0)
            raise
        os.kill(second, signal.SIGKILL)
        os.waitpid(second, 0)
    else:
        pytest.fail('could not reuse a PID within the same clock tick in 200 attempts')
    try:
        # the impersonation is real: the identity of the new process matches the scan
        handle, _ident_now = safe_signal.open_process(second, starttime)
        handle.close()
        facts = {'units': {'app.service': unit(active='failed', leftovers=[item(second)])}}
        recorded = Process(second, os.getpid(), 'S', 'python3', 0, starttime, second, second, False, 1, None)
        plan = rm.plan(
            facts,
            {second: recorded},
            _policy(actions=['kill_leftovers']),
            now=NOW,
            guard=safe_signal.Guard(),
            age_s=lambda p: scanned_age,
        )
        assert plan.actions == []
        assert 'younger than 1s' in plan.skipped[0]['reason']
    finally:
        os.kill(second, signal.SIGKILL)
        os.waitpid(second, 0)


def test_forced_pid_reuse_with_a_stale_identity_is_refused_by_safe_signal():
    first = _fork_sleeper()
    time.sleep(0.05)  # a few clock ticks: the reused PID gets a later start time
    starttime, cgroup = _ident(first)
    second = _reuse_pid(first)
    try:
        assert second == first, 'ns_last_pid did not give the same PID back (another process took it?)'
        res = safe_signal.terminate(second, starttime, grace=1)
        assert res.outcome == safe_signal.REFUSED and 'reused' in res.reason
        assert res.signals == []
        assert os.waitpid(second, os.WNOHANG) == (0, 0), 'the new owner of the PID is alive'
    finally:
        os.kill(second, signal.SIGKILL)
        os.waitpid(second, 0)


def _sleeping_child_of_this_test():
    """A child that this test does not reap: killed, it stays our zombie."""
    child = _spawn()
    time.sleep(0.05)
    return child


def test_a_kill_that_leaves_a_zombie_is_finished_by_a_restart_of_its_parents_unit():
    child = _sleeping_child_of_this_test()
    try:
        jr = _journal()
        runner = FakeRunner(jr)
        zombie_facts = {'units': {'w.service': unit(zombies=[zombie(child.pid, ppid=os.getpid())])}}
        gone = {'units': {'w.service': unit()}}
        scans = [zombie_facts, gone]
        plan = rm.Plan()
        plan.actions = [
            rm.Action('kill_worker_parent', 'w.service', 'leaks', pid=child.pid, starttime=_starttime(child.pid))
        ]
        plan.budget = 2
        policy = _policy(actions=['kill_worker_parent', 'restart_unit'], grace=5)
        results = rex.Executor(policy, jr, rescan=lambda u: scans.pop(0), runner=runner, clock=lambda: NOW).run(
            plan, _empty_state()
        )
        assert [(r['action'], r['result']) for r in results] == [
            ('kill_worker_parent', rex.NOT_CLEANED),
            ('restart_unit', rex.DONE),
        ]
        assert runner.calls[0][0] == ['systemctl', 'restart', '--no-ask-password', '--', 'w.service']
        assert 'does not reap it' in results[1]['reason']
    finally:
        child.wait()


def test_the_finishing_restart_stays_within_the_budget():
    child = _sleeping_child_of_this_test()
    try:
        jr = _journal()
        runner = FakeRunner(jr)
        zombie_facts = {'units': {'w.service': unit(zombies=[zombie(child.pid, ppid=os.getpid())])}}
        plan = rm.Plan()
        plan.actions = [
            rm.Action('kill_worker_parent', 'w.service', 'leaks', pid=child.pid, starttime=_starttime(child.pid))
        ]
        plan.budget = 1
        policy = _policy(actions=['kill_worker_parent', 'restart_unit'], grace=5)
        results = rex.Executor(policy, jr, rescan=lambda u: zombie_facts, runner=runner).run(plan, _empty_state())
        assert [r['action'] for r in results] == ['kill_worker_parent']
        assert runner.calls == []
        assert "no action left in this run's budget" in plan.skipped[-1]['reason']
    finally:
        child.wait()


# ---------------------------------------------------------------- issue 11: fail closed
def test_restart_is_refused_when_the_unit_was_restarted_since_the_scan():
    jr = _journal()
    runner = FakeRunner(jr, invocation='b' * 32)
    plan = rm.Plan()
    plan.actions = [
        rm.Action(
            'restart_unit', 'f.service', 'z', evidence={'zombies': 1, 'zombie_pids': [5], 'invocation_id': 'a' * 32}
        )
    ]
    state = _empty_state()
    results = rex.Executor(_policy(), jr, rescan=lambda u: {'units': {}}, runner=runner).run(plan, state)
    assert results[0]['result'] == rex.REFUSED
    assert 'unit restarted since the scan' in results[0]['message']
    assert runner.calls == [], 'no systemctl restart'
    assert runner.shows[0][:2] == ['systemctl', 'show'] and runner.shows[0][-2:] == ['--', 'f.service']
    assert state['cooldowns'] == {} and state['actions'] == [], 'nothing done: no cool-down, no budget used'


def test_no_action_when_the_state_cannot_be_saved_first():
    child = _spawn()
    try:
        jr = _journal()
        plan = rm.Plan()
        plan.actions = [
            rm.Action('kill_leftovers', 'a.service', 'left', pid=child.pid, starttime=_starttime(child.pid)),
            rm.Action('restart_unit', 'b.service', 'z', evidence={'invocation_id': 'a' * 32}),
        ]
        runner = FakeRunner(jr)

        def save(state):
            raise OSError(28, 'No space left on device')

        executor = rex.Executor(_policy(grace=1), jr, rescan=None, runner=runner)
        results = executor.run(plan, _empty_state(), save=save)
        assert results == []
        assert child.poll() is None, 'the process was not signalled'
        assert runner.calls == [] and getattr(runner, 'shows', []) == []
        assert 'No space left' in executor.write_ahead_error
        assert [s['unit'] for s in plan.skipped] == ['a.service', 'b.service']
        assert all('state could not be saved before the action' in s['reason'] for s in plan.skipped)
        assert jr.sent[-1]['MESSAGE_ID'] == 'fd77716dbd3440c7a8f6c4e139a2aa4c'
    finally:
        child.kill()
        child.wait()


def test_the_state_is_saved_before_the_action_is_taken():
    jr = _journal()
    order = []
    runner = FakeRunner(jr)
    original = runner.__call__

    def save(state):
        order.append(('save', dict(state['cooldowns'])))

    plan = rm.Plan()
    plan.actions = [
        rm.Action('restart_unit', 'f.service', 'z', evidence={'zombie_pids': [], 'invocation_id': 'a' * 32})
    ]
    rex.Executor(
        _policy(),
        jr,
        rescan=lambda u: {'units': {'f.service': unit()}},
        runner=lambda argv, t: order.append(('run', argv[1])) or original(argv, t),
        clock=lambda: NOW,
    ).run(plan, _empty_state(), save=save)
    assert order[:3] == [('save', {'f.service': NOW}), ('run', 'show'), ('run', 'restart')]


def test_ineffective_actions_back_off_then_park_the_unit(guard):
    state = _empty_state()
    policy = _policy(actions=['restart_unit'], cooldown=100, min_zombie_age=0)
    policy.park_after = 2
    policy.backoff_max = 1000
    jr = _journal()
    facts = {'units': {'f.service': unit(zombies=[zombie(201)])}}
    still = {'units': {'f.service': unit(zombies=[zombie(201)])}}
    now = NOW
    for expected_next in (200, None):
        plan = plan_at(facts, table(), policy, state=state, now=now, guard=guard)
        assert kinds(plan) == [('restart_unit', 'f.service', None)]
        rex.Executor(policy, jr, rescan=lambda u: still, runner=FakeRunner(jr), clock=lambda at=now: at).run(
            plan, state
        )
        if expected_next:
            skipped = plan_at(facts, table(), policy, state=state, now=now + 150, guard=guard)
            assert skipped.actions == [] and 'doubled after 1 ineffective' in skipped.skipped[0]['reason']
            now += expected_next
    parked = plan_at(facts, table(), policy, state=state, now=now + 10 * 86400, guard=guard)
    assert parked.actions == []
    assert (
        parked.skipped[0]['reason'].startswith('parked since') and '--unpark f.service' in parked.skipped[0]['reason']
    )
    assert jr.sent[-1]['REAPER_ACTION'] == 'parked'


def test_a_restart_that_helps_only_until_the_next_leak_backs_off_then_parks(guard):
    # Each restart clears the zombies it was for (done), and the unit leaks again: the planner
    # counts the earlier restart as ineffective, doubles the cool-down and finally parks the unit.
    state = _empty_state()
    policy = _policy(actions=['restart_unit'], cooldown=100, min_zombie_age=0)
    policy.park_after = 2
    policy.backoff_max = 1000
    jr = _journal()
    now = NOW
    pids = iter(range(300, 400))
    for round_ in range(2):
        facts = {'units': {'f.service': unit(zombies=[zombie(next(pids))])}}
        plan = plan_at(facts, table(), policy, state=state, now=now, guard=guard)
        assert kinds(plan) == [('restart_unit', 'f.service', None)], plan.skipped
        fresh = {'units': {'f.service': unit(zombies=[])}}
        results = rex.Executor(
            policy, jr, rescan=lambda u, f=fresh: f, runner=FakeRunner(jr), clock=lambda at=now: at
        ).run(plan, state)
        assert results[0]['result'] == rex.DONE
        now += 100 if round_ == 0 else 200
        if round_ == 0:
            again = {'units': {'f.service': unit(zombies=[zombie(next(pids))])}}
            early = plan_at(again, table(), policy, state=state, now=now + 50, guard=guard)
            assert early.actions == [] and 'doubled after 1 ineffective' in early.skipped[0]['reason']
            now += 100
    back = {'units': {'f.service': unit(zombies=[zombie(next(pids))])}}
    parked = plan_at(back, table(), policy, state=state, now=now, guard=guard)
    assert parked.actions == [] and parked.skipped[0]['reason'].startswith('parked since')
    assert parked.parked == [{'unit': 'f.service', 'reason': parked.parked[0]['reason']}]
    assert 'the leak came back' in parked.parked[0]['reason']
    rm.log_plan_events(jr, parked)
    assert jr.sent[-1]['REAPER_ACTION'] == 'parked'


def test_hourly_budget_caps_the_plan(guard):
    state = _empty_state()
    for offset in range(1, 4):
        cleanup_memory.mark_action(state, 'x.service', NOW - offset)
    policy = _policy(actions=['kill_leftovers'])
    policy.max_actions_per_hour = 4
    left = [item(p) for p in (901, 902, 903)]
    facts = {'units': {'app.service': unit(active='failed', leftovers=left)}}
    plan = plan_at(facts, table(proc(901), proc(902), proc(903)), policy, state=state, guard=guard)
    assert [a.pid for a in plan.actions] == [901]
    assert plan.budget == 1
    assert [s['count'] for s in plan.skipped if 'max_actions_per_hour (4) reached' in s['reason']] == [2]
