# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation planner (``remediation_executor`` runs its plans).

The planner turns the facts of one scan (``scan.scan(...).facts`` and its
process table) into a plan of actions. It honours the scope the operator
named (``cleanup_policy.Policy``), the built-in deny tiers (which apply even to
``*``, and to the unit an escaped process now lives in), thresholds on how
long zombies have been *observed* (``zombie_seen_s``, filled in by
``cleanup_memory.record_scan``), the cap on actions per run and per hour,
per-unit cool-downs with back-off, and parked units. It never detects
anything itself: every target comes from the scan.

Used by ``reaper.systemd.reap`` and by the timer's cleanup command. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import time

from . import cleanup_memory, plan_budget, safe_signal
from .plan_model import Action, Plan

__metaclass__ = type

UNIT_ACTIONS = ('restart_unit',)
SAFE_KILL_MODES = ('control-group', 'mixed')
UNIT_SUFFIXES = ('.service', '.scope')
LEFTOVER_STATES = ('inactive', 'failed')
CIRCUIT_BREAKER_CANDIDATES = plan_budget.CIRCUIT_BREAKER_CANDIDATES
# More left-overs than this in a stopped unit go in one cgroup-wide action. A few are still
# signalled one by one: each gets its own audit line naming it (OBJECT_PID lets journald attach
# its command line) and the pidfd identity check; thousands of such lines are the flood.
CGROUP_WIDE_LEFTOVERS = 10

# A PID reused within the clock tick (10 ms) of the scanned process has the
# same start time: a candidate must have been older than this at scan time.
MIN_CANDIDATE_AGE_S = 1.0


def deny_reason(policy, unit):
    """Why ``unit`` is denied (built-in tiers, deny list), or None."""
    denied = policy.denied_by(unit)
    if not denied:
        return None
    if ' ' not in denied:  # a bare pattern
        return 'deny list pattern %r (applies even to "*")' % denied
    return denied


def units_of_cgroup(path):
    """Unit names (services, scopes) along a cgroup path, outermost first."""
    if not path:
        return []
    path = path.replace(' (deleted)', '')
    return [part for part in path.split('/') if part.endswith(UNIT_SUFFIXES)]


def recorded_pid_ns(proc, item=None):
    """The PID namespace the scan recorded for a process, or None."""
    for value in (getattr(proc, 'pid_namespace', None), getattr(proc, 'pid_ns', None)):
        if value:
            return value
    if item:
        return item.get('pid_namespace') or None
    return None


def _process_guard(pid, processes, guard, policy, allow_zombie=False, item=None, age_s=None):
    """(Process, None) when ``pid`` may be targeted, else (None, reason)."""
    try:
        guard.check_pid(pid)
    except safe_signal.Refused as exc:
        return None, str(exc)
    proc = processes.get(pid)
    if proc is None:
        return None, 'PID %d is not in the scan' % pid
    if proc.kthread:
        return None, 'PID %d (%s) is a kernel thread' % (pid, proc.comm)
    if proc.pgrp == guard.pgrp:
        return None, 'PID %d is in the process group of this cleanup' % pid
    if proc.is_zombie and not allow_zombie:
        return None, 'PID %d is a zombie: signals cannot remove it' % pid
    pid_ns = recorded_pid_ns(proc, item)
    host_ns = guard.host_pid_ns() if pid_ns is not None else None
    if pid_ns is not None and host_ns is not None and pid_ns != host_ns:
        return None, (
            'PID %d is in another PID namespace (%s, host init: %s): it belongs to a container '
            'and is never signalled' % (pid, pid_ns, host_ns)
        )
    # the unit the process lives in NOW (an escapee sits in another unit): never a denied one
    landed = list(units_of_cgroup(proc.cgroup))
    if item and item.get('now_in'):
        landed.append(item['now_in'])
    for name in landed:
        why = deny_reason(policy, name)
        if why:
            return None, 'PID %d lives in %s, which is denied: %s' % (pid, name, why)
    age = age_s(proc) if age_s is not None else (item or {}).get('age_s')
    if age is None:
        return None, 'PID %d: its age at scan time is unknown, so a reused PID cannot be ruled out' % pid
    if age < MIN_CANDIDATE_AGE_S:
        return None, (
            'PID %d started %.2fs before the scan: younger than %gs, a PID reused within the same clock tick '
            'could impersonate it; a later run acts on it' % (pid, age, MIN_CANDIDATE_AGE_S)
        )
    return proc, None


def _fmt_ts(value):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(value))


def observed_zombies(unit, policy):
    """The unit's zombies observed for at least min_zombie_age (zombie_seen_s; never seen before: 0)."""
    return [z for z in unit.get('zombies') or [] if (z.get('zombie_seen_s') or 0) >= policy.min_zombie_age]


def second_look_delay(facts, policy):
    """Seconds to wait before a second scan so that zombies not yet observed for
    min_zombie_age can pass it, or None (nothing pending, or longer than zombie_wait).

    Only units in scope, not denied, with a zombie action allowed and enough
    zombies to reach min_zombies count. Zombies reaped meanwhile were transient
    and are gone from the second scan."""
    wait_max = float(getattr(policy, 'zombie_wait', 0) or 0)
    if wait_max <= 0 or not set(policy.actions) & set(('restart_unit', 'kill_worker_parent', 'nudge_parent')):
        return None
    needed = []
    for name, unit in sorted((facts.get('units') or {}).items()):
        if not policy.in_scope(name) or deny_reason(policy, name):
            continue
        seen = sorted(((z.get('zombie_seen_s') or 0) for z in unit.get('zombies') or []), reverse=True)
        if len(seen) < policy.min_zombies:
            continue
        gap = policy.min_zombie_age - seen[policy.min_zombies - 1]
        if 0 < gap <= wait_max:
            needed.append(gap)
    return max(needed) if needed else None


def plan(facts, processes, policy, state=None, now=None, guard=None, age_s=None):
    """Build a Plan from scan facts.

    ``processes``: dict pid -> Process (``ScanResult.table.processes``), used
    for identity (start time, cgroup) and guard rails. ``state``: the cleanup
    state (cool-downs, back-off, parking, the hourly budget), or None.
    ``age_s``: Process -> age in seconds at scan time (``table.age_s``);
    without it the finding's ``age_s`` is used."""
    now = time.time() if now is None else now
    guard = guard or safe_signal.Guard()
    memory = state if state is not None else {}
    result = Plan()
    claimed = set()
    allowed = set(policy.actions)
    per_unit = []

    def adder(candidates):
        def add_process(kind, unit, pid, reason, allow_zombie=False, evidence=None, item=None):
            if pid in claimed:
                return
            proc, why = _process_guard(pid, processes, guard, policy, allow_zombie, item, age_s)
            if proc is None:
                result.skip(kind, unit, why, pid)
                return
            claimed.add(pid)
            candidates.append(
                Action(
                    kind,
                    unit,
                    reason,
                    pid=pid,
                    starttime=proc.starttime,
                    cgroup=proc.cgroup,
                    comm=proc.comm,
                    evidence=evidence,
                )
            )

        return add_process

    for name in sorted(facts.get('units') or {}):
        unit = facts['units'][name]
        if not policy.in_scope(name):
            continue
        zombies = observed_zombies(unit, policy)
        wanted = _wanted(unit, zombies, policy, allowed)
        if not wanted or not _may_act(name, wanted, policy, memory, now, result):
            continue
        mine = []
        whole = cgroup_wide_leftovers(name, unit, processes, guard) if 'kill_leftovers' in allowed else None
        material = plan_budget.breaker_material(unit, allowed, whole is None)
        if material > plan_budget.CIRCUIT_BREAKER_CANDIDATES:
            result.breakers.append(
                {'unit': name, 'candidates': material, 'threshold': plan_budget.CIRCUIT_BREAKER_CANDIDATES}
            )
            result.skip('circuit_breaker', name, plan_budget.breaker_reason(material), count=material)
            add_process = _ignore
        else:
            add_process = adder(mine)
        _plan_unit(name, unit, zombies, policy, allowed, result, mine, add_process, whole)
        per_unit.append((name, mine))

    candidates = plan_budget.deal(per_unit)
    cap = policy.max_actions
    hourly = None
    if state is not None:
        hourly = cleanup_memory.budget_remaining(state, policy, now)
    budget = cap if hourly is None else min(cap, hourly)
    if len(candidates) > budget:
        if budget >= cap:
            why = 'max_actions (%d) reached for this run' % cap
        else:
            why = 'max_actions_per_hour (%d) reached: %d action(s) on this host in the last hour' % (
                getattr(policy, 'max_actions_per_hour', cleanup_memory.DEFAULT_MAX_ACTIONS_PER_HOUR),
                len(cleanup_memory.actions_last_hour(state, now)),
            )
        plan_budget.skip_over_budget(result, candidates[budget:], why)
    result.actions = candidates[:budget]
    result.budget = budget
    return result


def _ignore(*_args, **_kwargs):
    """add_process of a unit behind a circuit breaker: its per-process candidates are counted, not planned."""


def _may_act(name, wanted, policy, memory, now, result):
    """False (with the skip lines) when the unit is denied, parked or in its cool-down."""
    denied = deny_reason(policy, name)
    if denied:
        for kind in wanted:
            result.skip(kind, name, 'denied: %s' % denied)
        return False
    newly_parked = cleanup_memory.note_recurrence(memory, name, policy, now)
    if newly_parked:
        result.parked.append({'unit': name, 'reason': newly_parked['reason']})
    parking = cleanup_memory.parked(memory, name)
    if parking:
        for kind in wanted:
            result.skip(
                kind,
                name,
                'parked since %s: %s; reset with --unpark %s (or the reap option unpark)'
                % (_fmt_ts(float(parking.get('since') or 0)), parking.get('reason'), name),
            )
        return False
    until = cleanup_memory.cooldown_until(memory, name, policy)
    if until is not None and until > now:
        streak = cleanup_memory.ineffective(memory, name)
        length = cleanup_memory.effective_cooldown(memory, name, policy)
        backoff = ' (cool-down %ds, doubled after %d ineffective action(s))' % (length, streak) if streak else ''
        for kind in wanted:
            result.skip(
                kind,
                name,
                'cool-down: last action on this unit at %s, next allowed at %s%s'
                % (_fmt_ts(until - length), _fmt_ts(until), backoff),
            )
        return False
    return True


def cgroup_wide_leftovers(name, unit, processes, guard):
    """One Action that has systemd signal a stopped unit's whole cgroup, or None when it must not.

    Thousands of left-overs are one action, not thousands (more than
    CGROUP_WIDE_LEFTOVERS; fewer keep their per-process audit). Only when every
    live process in the cgroup is a left-over of the scan (a container's
    process in a delegated sub-cgroup is not, and a capped list cannot tell)
    and none of them is one this cleanup must never signal (itself, its
    ancestors, its process group)."""
    active = unit.get('active_state')
    leftovers = unit.get('leftovers') or []
    cgroup = unit.get('control_group')
    if active not in LEFTOVER_STATES or len(leftovers) <= CGROUP_WIDE_LEFTOVERS or not cgroup:
        return None
    if unit.get('processes') != len(leftovers) or (unit.get('counts') or {}).get('leftovers') != len(leftovers):
        return None
    for entry in leftovers:
        proc = processes.get(entry.get('pid'))
        try:
            guard.check_pid(entry.get('pid'))
        except safe_signal.Refused:
            return None
        if proc is None or proc.kthread or proc.pgrp == guard.pgrp:
            return None
    pids = sorted(entry['pid'] for entry in leftovers)
    return Action(
        'kill_leftovers',
        name,
        '%d process(es) left in the cgroup of the %s unit: one signal to the whole cgroup through systemd'
        % (len(pids), active),
        cgroup=cgroup,
        evidence={
            'leftovers': len(pids),
            'pids': pids[:20],
            'active_state': active,
            'control_group': cgroup,
            'invocation_id': unit.get('invocation_id'),
        },
    )


def plan_scan(scanned, policy, state, now, guard):
    """``plan`` for a ``scan.ScanResult``: its facts, its processes and their ages at scan time."""
    return plan(
        scanned.facts,
        scanned.table.processes,
        policy,
        state=state,
        now=now,
        guard=guard,
        age_s=getattr(scanned.table, 'age_s', None),
    )


def _wanted(unit, zombies, policy, allowed):
    """Action kinds this unit has material for (before scope/deny/cool-down)."""
    wanted = []
    if len(zombies) >= policy.min_zombies:
        wanted.extend(k for k in ('restart_unit', 'kill_worker_parent', 'nudge_parent') if k in allowed)
    for kind, key in (
        ('kill_leftovers', 'leftovers'),
        ('kill_survivors', 'survivors'),
        ('terminate_escaped', 'escaped'),
    ):
        if kind in allowed and unit.get(key):
            wanted.append(kind)
    return wanted


def _plan_unit(name, unit, zombies, policy, allowed, result, candidates, add_process, whole=None):
    active = unit.get('active_state')
    main_pid = unit.get('main_pid') or 0
    restart = False
    # The least disruptive action first: zombies whose parent is a worker (not the
    # main PID) are handled by killing that worker when kill_worker_parent is allowed;
    # a restart is for the rest.
    for_restart = [
        z
        for z in zombies
        if 'kill_worker_parent' not in allowed or z.get('ppid') == main_pid or z.get('parent_is_main')
    ]
    if len(for_restart) >= policy.min_zombies and 'restart_unit' in allowed:
        kill_mode = unit.get('kill_mode')
        if active != 'active':
            result.skip('restart_unit', name, 'unit is %s: restart_unit never starts an inactive unit' % active)
        elif kill_mode not in SAFE_KILL_MODES:
            result.skip(
                'restart_unit',
                name,
                'KillMode=%s: a restart would leave the leaking workers alive; '
                'harden first (reaper.systemd.killmode_hardening)' % kill_mode,
            )
        else:
            restart = True
            candidates.append(
                Action(
                    'restart_unit',
                    name,
                    '%d zombies seen as zombies for at least %ss (min_zombies=%d)'
                    % (len(zombies), policy.min_zombie_age, policy.min_zombies),
                    evidence={
                        'zombies': len(zombies),
                        'zombie_pids': sorted(z['pid'] for z in unit.get('zombies') or []),
                        'main_pid': main_pid,
                        'kill_mode': kill_mode,
                        'tasks_current': unit.get('tasks_current'),
                        'tasks_max': unit.get('tasks_max'),
                        'invocation_id': unit.get('invocation_id'),
                    },
                )
            )

    if len(zombies) >= policy.min_zombies and not restart:
        parents = {}
        for zombie in zombies:
            parents.setdefault(zombie.get('ppid'), []).append(zombie)
        for ppid in sorted(p for p in parents if p is not None):
            items = parents[ppid]
            is_main = ppid == main_pid or any(z.get('parent_is_main') for z in items)
            evidence = {'zombies': len(items), 'zombie_pids': [z['pid'] for z in items][:20]}
            if 'kill_worker_parent' in allowed:
                if is_main:
                    result.skip(
                        'kill_worker_parent',
                        name,
                        'PID %d is the main PID: never killed (use restart_unit)' % ppid,
                        ppid,
                    )
                else:
                    add_process(
                        'kill_worker_parent',
                        name,
                        ppid,
                        'parent of %d zombies and not the main PID' % len(items),
                        evidence=evidence,
                    )
                    continue
            if 'nudge_parent' in allowed:
                add_process(
                    'nudge_parent',
                    name,
                    ppid,
                    'parent of %d zombies: SIGCHLD may make it reap them' % len(items),
                    evidence=evidence,
                )

    if 'kill_leftovers' in allowed and unit.get('leftovers'):
        if whole is not None:
            candidates.append(whole)
        elif active in LEFTOVER_STATES:
            for item in unit['leftovers']:
                add_process(
                    'kill_leftovers',
                    name,
                    item['pid'],
                    'left in the cgroup of the %s unit' % active,
                    evidence={'age_s': item.get('age_s'), 'uid': item.get('uid')},
                    item=item,
                )
        else:
            result.skip(
                'kill_leftovers', name, 'unit is %s: left-overs are killed only for stopped or failed units' % active
            )

    if 'kill_survivors' in allowed and unit.get('survivors'):
        if restart:
            result.skip('kill_survivors', name, 'the planned restart of the unit removes them')
        elif active != 'active':
            result.skip('kill_survivors', name, 'unit is %s: survivors are defined for active units' % active)
        else:
            for item in unit['survivors']:
                if item['pid'] == main_pid:
                    result.skip('kill_survivors', name, 'PID %d is the main PID: never killed' % main_pid, item['pid'])
                    continue
                add_process(
                    'kill_survivors',
                    name,
                    item['pid'],
                    'started before the current invocation %s' % unit.get('invocation_id'),
                    evidence={'age_s': item.get('age_s'), 'uid': item.get('uid')},
                    item=item,
                )

    if 'terminate_escaped' in allowed:
        for item in unit.get('escaped') or []:
            add_process(
                'terminate_escaped',
                name,
                item['pid'],
                'escaped from %s to %s by %s' % (name, item.get('now_in'), item.get('route')),
                evidence={'now_in': item.get('now_in'), 'route': item.get('route'), 'evidence': item.get('evidence')},
                item=item,
            )


def log_plan_events(journal, the_plan):
    """Say in the journal which units the plan parked (their leak came back) and which tripped
    the circuit breaker: one line per unit, never one per process."""
    for entry in the_plan.parked:
        journal.log(
            'parked',
            'reaper-systemd: %s parked: %s' % (entry['unit'], entry['reason']),
            unit=entry['unit'],
            reason=entry['reason'],
            priority='warning',
        )
    for entry in the_plan.breakers:
        journal.log(
            'circuit_breaker',
            'reaper-systemd: circuit breaker on %s: %d per-process candidates (more than %d), none signalled'
            % (entry['unit'], entry['candidates'], entry['threshold']),
            unit=entry['unit'],
            reason=plan_budget.breaker_reason(entry['candidates']),
            priority='warning',
        )
