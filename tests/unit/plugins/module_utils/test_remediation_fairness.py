# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One big leak never starves the others: a fair budget, one cgroup-wide action for a stopped
unit's left-overs, one line per unit for what the budget leaves, and a circuit breaker."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_memory,
    remediation as rm,
    safe_signal,
)
from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.test_remediation import (
    NOW,
    _empty_state,
    _journal,
    _policy,
    item,
    kinds,
    plan_at,
    proc,
    table,
    unit,
    zombie,
)

__metaclass__ = type


@pytest.fixture
def guard():
    # thousands of synthetic PIDs: this test's own PID and ancestors must not be among them by chance
    guard = safe_signal.Guard()
    guard.self_pid, guard.ancestors, guard.pgrp = -2, set(), -2
    return guard


def test_a_leftover_that_is_this_cleanup_or_its_ancestor_keeps_the_kill_one_by_one():
    import os

    real = safe_signal.Guard()
    pids = [os.getppid()] + list(range(99990, 99990 + rm.CGROUP_WIDE_LEFTOVERS))
    facts = {'units': {'leak.service': stopped(pids)}}
    plan = plan_at(facts, table(*[proc(p) for p in pids]), _policy(actions=['kill_leftovers']), guard=real)
    assert [a.pid for a in plan.actions] == pids[1:]
    assert 'ancestor' in plan.skipped[0]['reason']


def stopped(leftover_pids, cgroup='/system.slice/leak.service', extra_processes=0):
    """A stopped unit whose cgroup holds these left-overs (and ``extra_processes`` that are not)."""
    data = unit(active='inactive', leftovers=[item(p) for p in leftover_pids])
    data['control_group'] = cgroup
    data['processes'] = len(leftover_pids) + extra_processes
    return data


def active_with_survivors(pids):
    data = unit(survivors=[item(p) for p in pids])
    data['processes'] = len(pids) + 1
    return data


def test_a_stopped_units_leftovers_are_one_cgroup_wide_action_and_the_zombie_factory_is_served(guard):
    # the review's case: 9,990 left-overs in a-leak (first in name order) and a zombie factory behind it
    leftovers = list(range(10000, 19990))
    facts = {
        'units': {
            'a-leak.service': stopped(leftovers, cgroup='/system.slice/a-leak.service'),
            'b-factory.service': unit(zombies=[zombie(p) for p in range(20000, 25000)]),
        }
    }
    procs = table(*[proc(p, cgroup='/system.slice/a-leak.service') for p in leftovers])
    state = _empty_state()
    plan = plan_at(facts, procs, _policy(actions=['kill_leftovers', 'restart_unit']), state=state, guard=guard)
    assert kinds(plan) == [('kill_leftovers', 'a-leak.service', None), ('restart_unit', 'b-factory.service', None)]
    whole = plan.actions[0]
    assert whole.cgroup == '/system.slice/a-leak.service'
    assert whole.evidence['leftovers'] == 9990 and whole.evidence['active_state'] == 'inactive'
    assert 'whole cgroup' in whole.describe()
    assert plan.skipped == []


def test_leftovers_are_signalled_one_by_one_when_the_cgroup_holds_something_else(guard):
    # a container's process in a delegated sub-cgroup is not a left-over: a cgroup-wide kill would hit it
    pids = list(range(501, 521))
    facts = {'units': {'leak.service': stopped(pids, extra_processes=1)}}
    plan = plan_at(facts, table(*[proc(p) for p in pids]), _policy(actions=['kill_leftovers']), guard=guard)
    assert [a.pid for a in plan.actions] == pids[:10]


def test_a_few_leftovers_keep_their_own_audit_line_each(guard):
    pids = list(range(501, 501 + rm.CGROUP_WIDE_LEFTOVERS))
    facts = {'units': {'leak.service': stopped(pids)}}
    plan = plan_at(facts, table(*[proc(p) for p in pids]), _policy(actions=['kill_leftovers']), guard=guard)
    assert [a.pid for a in plan.actions] == pids


def test_every_unit_gets_its_first_action_before_any_unit_gets_a_second(guard):
    facts = {
        'units': {
            'a-many.service': active_with_survivors(range(600, 620)),
            'b-few.service': active_with_survivors([700, 701]),
            'c-factory.service': unit(zombies=[zombie(800)]),
        }
    }
    procs = table(*[proc(p) for p in list(range(600, 620)) + [700, 701]])
    policy = _policy(actions=['kill_survivors', 'restart_unit'], max_actions=5)
    plan = plan_at(facts, procs, policy, guard=guard)
    assert kinds(plan) == [
        ('kill_survivors', 'a-many.service', 600),
        ('kill_survivors', 'b-few.service', 700),
        ('restart_unit', 'c-factory.service', None),
        ('kill_survivors', 'a-many.service', 601),
        ('kill_survivors', 'b-few.service', 701),
    ]


def test_what_the_budget_leaves_is_one_line_per_unit(guard):
    facts = {
        'units': {
            'a-many.service': active_with_survivors(range(600, 640)),
            'b-few.service': active_with_survivors([700, 701, 702]),
        }
    }
    procs = table(*[proc(p) for p in list(range(600, 640)) + [700, 701, 702]])
    plan = plan_at(facts, procs, _policy(actions=['kill_survivors'], max_actions=4), guard=guard)
    assert len(plan.actions) == 4
    lines = [s for s in plan.skipped if 'max_actions (4)' in s['reason']]
    assert [(s['unit'], s['count']) for s in lines] == [('a-many.service', 38), ('b-few.service', 1)]
    assert lines[0]['pid'] is None and '38 candidate(s)' in lines[0]['reason']


def test_the_hourly_budget_is_shared_fairly_too(guard):
    state = _empty_state()
    for offset in range(1, 29):
        cleanup_memory.mark_action(state, 'x.service', NOW - offset)
    facts = {
        'units': {
            'a-many.service': active_with_survivors(range(600, 640)),
            'b-few.service': active_with_survivors([700]),
        }
    }
    procs = table(*[proc(p) for p in list(range(600, 640)) + [700]])
    plan = plan_at(facts, procs, _policy(actions=['kill_survivors']), state=state, guard=guard)
    assert kinds(plan) == [('kill_survivors', 'a-many.service', 600), ('kill_survivors', 'b-few.service', 700)]
    lines = [s for s in plan.skipped if 'max_actions_per_hour' in s['reason']]
    assert [(s['unit'], s['count']) for s in lines] == [('a-many.service', 39)]


def test_past_the_threshold_a_unit_gets_a_circuit_breaker_instead_of_a_grind(guard):
    many = list(range(1000, 1000 + rm.CIRCUIT_BREAKER_CANDIDATES + 1))
    facts = {
        'units': {
            'a-storm.service': active_with_survivors(many),
            'b-few.service': active_with_survivors([700]),
        }
    }
    procs = table(*[proc(p) for p in many + [700]])
    plan = plan_at(facts, procs, _policy(actions=['kill_survivors']), guard=guard)
    assert kinds(plan) == [('kill_survivors', 'b-few.service', 700)]
    assert [(b['unit'], b['candidates']) for b in plan.breakers] == [('a-storm.service', len(many))]
    lines = [s for s in plan.skipped if s['unit'] == 'a-storm.service']
    assert len(lines) == 1 and 'circuit breaker' in lines[0]['reason'] and lines[0]['count'] == len(many)
    assert plan.as_dict()['circuit_breakers'] == plan.breakers
    jr = _journal()
    rm.log_plan_events(jr, plan)
    assert [(e['REAPER_ACTION'], e['UNIT']) for e in jr.sent] == [('circuit_breaker', 'a-storm.service')]
    assert jr.sent[0]['MESSAGE_ID'] == 'aa140f07bb8947ad890274dd07558077'
