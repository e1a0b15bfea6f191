# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation planner and executor.

The planner turns the facts of one scan (``scan.scan(...).facts`` and its
process table) into a plan of actions. It honours the scope the operator
named (``cleanup_policy.Policy``), the built-in deny tiers (which apply even to
``*``, and to the unit an escaped process now lives in), thresholds on how
long zombies have been *observed* (``zombie_seen_s``, filled in by
``cleanup_memory.record_scan``), the cap on actions per run and per hour,
per-unit cool-downs with back-off, and parked units. It never detects
anything itself: every target comes from the scan.

The executor records each action in the state and has it saved BEFORE acting
(write-ahead: no save, no action), logs it to the journal, signals single
processes through ``safe_signal`` (pidfd, identity and PID namespace
re-checked), restarts units through systemctl with a timeout after checking
the unit is still the invocation the scan saw, re-reads the state after each
action and reports before/after evidence.

Used by ``reaper.systemd.reap`` and by the timer's cleanup command. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import subprocess
import time

from . import cleanup_memory, safe_signal

__metaclass__ = type

UNIT_ACTIONS = ('restart_unit',)
SAFE_KILL_MODES = ('control-group', 'mixed')
UNIT_SUFFIXES = ('.service', '.scope')

# A PID reused within the clock tick (10 ms) of the scanned process has the
# same start time: a candidate must have been older than this at scan time.
MIN_CANDIDATE_AGE_S = 1.0

# results (also the `result` label of reaper_actions_total)
DONE = 'done'  # acted and the target is really gone / fixed
NOT_CLEANED = 'not_cleaned'  # acted but the state shows it did not help
REFUSED = 'refused'  # a guard rail refused at action time
VANISHED = 'vanished'  # target gone before we acted (nothing sent)
FAILED = 'failed'  # the action itself failed
TIMEOUT = 'timeout'  # the action did not finish within action_timeout
PLANNED = 'planned'  # dry-run / check mode


class Action:
    """One planned action on a unit or on one process of a unit."""

    def __init__(self, kind, unit, reason, pid=None, starttime=None, cgroup=None, comm=None, evidence=None):
        self.kind = kind
        self.unit = unit
        self.reason = reason
        self.pid = pid
        self.starttime = starttime
        self.cgroup = cgroup
        self.comm = comm
        self.evidence = evidence or {}

    def describe(self):
        verb = {
            'nudge_parent': 'send SIGCHLD to zombie parent',
            'restart_unit': 'restart',
            'kill_leftovers': 'kill left-over',
            'kill_survivors': 'kill restart survivor',
            'terminate_escaped': 'terminate escaped process',
            'kill_worker_parent': 'kill zombie-leaking worker',
        }[self.kind]
        if self.pid is None:
            return '%s %s' % (verb, self.unit)
        return '%s %d (%s) of %s' % (verb, self.pid, self.comm, self.unit)

    def as_dict(self):
        return {
            'action': self.kind,
            'unit': self.unit,
            'pid': self.pid,
            'comm': self.comm,
            'cgroup': self.cgroup,
            'reason': self.reason,
            'description': self.describe(),
            'evidence': self.evidence,
        }


class Plan:
    def __init__(self):
        self.actions = []
        self.skipped = []
        # actions this run may take in all (follow-up restarts included): min(max_actions, hourly budget)
        self.budget = None
        # units this plan parked because their leak came back after an action ({unit, reason})
        self.parked = []

    def skip(self, kind, unit, reason, pid=None):
        self.skipped.append({'action': kind, 'unit': unit, 'pid': pid, 'reason': reason})

    def as_dict(self):
        return {'actions': [a.as_dict() for a in self.actions], 'skipped': list(self.skipped)}


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
    candidates = []
    claimed = set()
    allowed = set(policy.actions)

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

    for name in sorted(facts.get('units') or {}):
        unit = facts['units'][name]
        if not policy.in_scope(name):
            continue
        zombies = observed_zombies(unit, policy)
        wanted = _wanted(unit, zombies, policy, allowed)
        if not wanted:
            continue
        denied = deny_reason(policy, name)
        if denied:
            for kind in wanted:
                result.skip(kind, name, 'denied: %s' % denied)
            continue
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
            continue
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
            continue
        _plan_unit(name, unit, zombies, policy, allowed, result, candidates, add_process)

    cap = policy.max_actions
    hourly = None
    if state is not None:
        hourly = cleanup_memory.budget_remaining(state, policy, now)
    budget = cap if hourly is None else min(cap, hourly)
    for index, action in enumerate(candidates):
        if index < budget:
            continue
        if index >= cap:
            why = 'max_actions (%d) reached for this run' % cap
        else:
            why = 'max_actions_per_hour (%d) reached: %d action(s) on this host in the last hour' % (
                getattr(policy, 'max_actions_per_hour', cleanup_memory.DEFAULT_MAX_ACTIONS_PER_HOUR),
                len(cleanup_memory.actions_last_hour(state, now)),
            )
        result.skip(action.kind, action.unit, why, action.pid)
    result.actions = candidates[:budget]
    result.budget = budget
    return result


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


def _plan_unit(name, unit, zombies, policy, allowed, result, candidates, add_process):
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
        if active in ('inactive', 'failed'):
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


def log_parked(journal, the_plan):
    """Say in the journal which units the plan parked (their leak came back)."""
    for entry in the_plan.parked:
        journal.log(
            'parked',
            'reaper-systemd: %s parked: %s' % (entry['unit'], entry['reason']),
            unit=entry['unit'],
            reason=entry['reason'],
            priority='warning',
        )


def default_runner(argv, timeout):
    """Run a command; returns (rc, stdout, stderr); raises subprocess.TimeoutExpired."""
    env = dict(os.environ, LC_ALL='C', SYSTEMD_PAGER='', SYSTEMD_COLORS='0')
    proc = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        timeout=timeout,
        universal_newlines=True,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


class Executor:
    """Runs a plan. ``rescan(units)`` returns fresh scan facts for those units
    (after-evidence); ``runner(argv, timeout)`` runs systemctl."""

    def __init__(
        self,
        policy,
        journal,
        rescan,
        runner=default_runner,
        guard=None,
        cgroup_view=None,
        kill_wait=5.0,
        nudge_settle=1.0,
        clock=time.time,
    ):
        self.policy = policy
        self.journal = journal
        self.rescan = rescan
        self.runner = runner
        self.guard = guard or safe_signal.Guard()
        self.cgroup_view = cgroup_view
        self.kill_wait = kill_wait
        self.nudge_settle = nudge_settle
        self.clock = clock

    def run(self, the_plan, state=None, save=None):
        """Run the plan's actions in order; returns their results.

        With ``state``, each action is first recorded there (cool-down start,
        hourly budget) and ``save(state)`` must succeed BEFORE the action is
        taken: if it raises, that action and every later one are not taken
        (listed in ``the_plan.skipped``) and ``self.write_ahead_error`` says
        why. Back-off and parking are updated per unit after the run.

        A killed process whose parent does not reap it stays a zombie of the
        parent's unit: when ``restart_unit`` is allowed for that unit, it is
        restarted right after, within the run's budget."""
        results = []
        self.write_ahead_error = None
        self.newly_parked = []
        budget = the_plan.budget if the_plan.budget is not None else len(the_plan.actions)
        queue = list(the_plan.actions)
        last_changed = {}
        taken = 0
        while queue:
            action = queue.pop(0)
            now = self.clock()
            token = None
            if state is not None:
                token = cleanup_memory.mark_action(state, action.unit, now)
                if save is not None:
                    try:
                        save(state)
                    except Exception as exc:  # no record on disk, no action
                        cleanup_memory.undo_mark(state, token)
                        self.write_ahead_error = str(exc)
                        self._not_taken([action] + queue, the_plan, exc)
                        break
            taken += 1
            result = self.run_one(action)
            results.append(result)
            if state is not None and not result['changed']:
                cleanup_memory.undo_mark(state, token)  # nothing was sent: no cool-down, no budget used
            if result['changed']:
                last_changed[action.unit] = result['result']
            follow = self._follow_up(action, result, state, taken < budget)
            if isinstance(follow, Action):
                queue.insert(0, follow)
            elif follow:
                the_plan.skip('restart_unit', result.get('zombie_unit') or action.unit, follow, None)
                result['follow_up'] = follow
        if state is not None:
            for unit, outcome in sorted(last_changed.items()):
                parked = cleanup_memory.record_outcome(state, unit, outcome, self.policy, self.clock())
                if parked:
                    self.newly_parked.append(unit)
                    self.journal.log(
                        'parked',
                        'reaper-systemd: %s parked: %s' % (unit, parked['reason']),
                        unit=unit,
                        reason=parked['reason'],
                        priority='warning',
                    )
        return results

    def _not_taken(self, actions, the_plan, exc):
        why = 'not taken: the state could not be saved before the action (%s)' % exc
        for action in actions:
            the_plan.skip(action.kind, action.unit, why, action.pid)
        self.journal.log(
            'write_ahead_failed',
            'reaper-systemd: %d action(s) not taken: %s' % (len(actions), why),
            reason=str(exc),
            priority='err',
        )

    def _follow_up(self, action, result, state, budget_left):
        """A restart_unit Action that finishes a kill which left a zombie, a
        reason why not, or None when there is nothing to finish."""
        if action.kind in UNIT_ACTIONS or result.get('outcome') != safe_signal.ZOMBIE:
            return None
        if 'restart_unit' not in self.policy.actions:
            return None
        if self.rescan is None:
            return 'cannot re-scan to find the unit of the zombie parent'
        facts = self.rescan(list(self.policy.units))
        found = [
            (unit_name, data, z)
            for unit_name, data in sorted((facts.get('units') or {}).items())
            for z in data.get('zombies') or []
            if z.get('pid') == action.pid
        ]
        if not found:
            return None  # reaped meanwhile, or the parent is outside the scope
        name, data, zombie = found[0]
        result['zombie_unit'] = name
        if not self.policy.in_scope(name):
            return 'PID %d stays a zombie of %s, which is out of scope' % (action.pid, name)
        denied = deny_reason(self.policy, name)
        if denied:
            return 'PID %d stays a zombie of %s, which is denied: %s' % (action.pid, name, denied)
        memory = state if state is not None else {}
        if cleanup_memory.parked(memory, name):
            return 'PID %d stays a zombie of %s, which is parked' % (action.pid, name)
        if name != action.unit:
            until = cleanup_memory.cooldown_until(memory, name, self.policy)
            if until is not None and until > self.clock():
                return 'PID %d stays a zombie of %s, which is in its cool-down' % (action.pid, name)
        if not budget_left:
            return 'PID %d stays a zombie of %s: no action left in this run\'s budget to restart it' % (
                action.pid,
                name,
            )
        if data.get('active_state') != 'active':
            return 'PID %d stays a zombie of %s, which is %s: never started' % (
                action.pid,
                name,
                data.get('active_state'),
            )
        kill_mode = data.get('kill_mode')
        if kill_mode not in SAFE_KILL_MODES:
            return 'PID %d stays a zombie of %s: KillMode=%s, harden first' % (action.pid, name, kill_mode)
        return Action(
            'restart_unit',
            name,
            'PID %d was killed but its parent PID %s does not reap it: restart %s to clear the zombie'
            % (action.pid, zombie.get('ppid'), name),
            evidence={
                'zombies': 1,
                'zombie_pids': [action.pid],
                'main_pid': data.get('main_pid'),
                'kill_mode': kill_mode,
                'tasks_current': data.get('tasks_current'),
                'tasks_max': data.get('tasks_max'),
                'invocation_id': data.get('invocation_id'),
                'follow_up_of': action.kind,
            },
        )

    def run_one(self, action):
        self.journal.log(
            action.kind,
            'reaper-systemd: %s' % action.describe(),
            unit=action.unit,
            pid=action.pid,
            reason=action.reason,
            priority='notice',
        )
        started = time.monotonic()
        try:
            if action.kind == 'restart_unit':
                result = self._restart(action)
            elif action.kind == 'nudge_parent':
                result = self._nudge(action)
            else:
                result = self._terminate(action)
        except Exception as exc:  # report, never leave the run half-done without a record
            result = {'result': FAILED, 'changed': False, 'message': 'unexpected error: %s' % exc}
        entry = action.as_dict()
        entry.update(result)
        entry['duration_s'] = round(time.monotonic() - started, 3)
        entry.setdefault('before', action.evidence)
        if entry['result'] in (REFUSED, FAILED, TIMEOUT, NOT_CLEANED):
            self.journal.log(
                'refused' if entry['result'] == REFUSED else action.kind,
                'reaper-systemd: %s: %s (%s)' % (action.describe(), entry['result'], entry.get('message', '')),
                unit=action.unit,
                pid=action.pid,
                reason=entry.get('message'),
                priority='warning',
            )
        return entry

    def _unit_after(self, unit):
        facts = self.rescan([unit])
        data = (facts.get('units') or {}).get(unit)
        if data is None:
            return None
        return {
            'active_state': data.get('active_state'),
            'main_pid': data.get('main_pid'),
            'invocation_id': data.get('invocation_id'),
            'counts': data.get('counts'),
            'zombie_parents': sorted(set(z.get('ppid') for z in data.get('zombies') or [])),
            'zombie_pids': sorted(z.get('pid') for z in data.get('zombies') or []),
        }

    def _current_invocation(self, unit):
        """(InvocationID, None) read from systemd now, or (None, why not)."""
        argv = ['systemctl', 'show', '--property=InvocationID', '--value', '--', unit]
        try:
            rc, out, err = self.runner(argv, min(30, self.policy.action_timeout))
        except subprocess.TimeoutExpired:
            return None, 'systemctl show did not answer'
        if rc != 0:
            return None, 'systemctl show failed (rc=%d): %s' % (rc, (err or '').strip())
        return (out or '').strip(), None

    def _restart(self, action):
        scanned = action.evidence.get('invocation_id')
        if not scanned:
            return {
                'result': REFUSED,
                'changed': False,
                'message': 'no InvocationID from the scan: cannot check the unit is the one that had the zombies',
            }
        current, why = self._current_invocation(action.unit)
        if why:
            return {'result': REFUSED, 'changed': False, 'message': 'cannot re-read InvocationID: %s' % why}
        if current != scanned:
            return {
                'result': REFUSED,
                'changed': False,
                'message': 'unit restarted since the scan (InvocationID %s, scanned %s)' % (current or 'none', scanned),
            }
        argv = ['systemctl', 'restart', '--no-ask-password', '--', action.unit]
        try:
            rc, _out, err = self.runner(argv, self.policy.action_timeout)
        except subprocess.TimeoutExpired:
            return {
                'result': TIMEOUT,
                'changed': True,
                'after': self._unit_after(action.unit),
                'message': 'systemctl restart did not finish within %ss; the job goes on in systemd'
                % self.policy.action_timeout,
            }
        after = self._unit_after(action.unit)
        if rc != 0:
            return {
                'result': FAILED,
                'changed': True,
                'after': after,
                'message': 'systemctl restart failed (rc=%d): %s' % (rc, (err or '').strip()),
            }
        before_zombies = set(action.evidence.get('zombie_pids') or [])
        remaining = sorted(before_zombies & set((after or {}).get('zombie_pids') or []))
        new = len(set((after or {}).get('zombie_pids') or []) - before_zombies)
        if after and after.get('active_state') == 'active' and not remaining:
            return {
                'result': DONE,
                'changed': True,
                'after': after,
                'message': 'the %d zombies of the previous invocation are gone (%d new since the restart)'
                % (len(before_zombies), new),
            }
        return {
            'result': NOT_CLEANED,
            'changed': True,
            'after': after,
            'message': 'restarted but the unit is %s and %d of its %d zombies remain'
            % ((after or {}).get('active_state'), len(remaining), len(before_zombies)),
        }

    def _nudge(self, action):
        res = safe_signal.send(
            action.pid, signal.SIGCHLD, action.starttime, action.cgroup, guard=self.guard, cgroup_view=self.cgroup_view
        )
        if res.outcome == safe_signal.REFUSED:
            return {'result': REFUSED, 'changed': False, 'message': res.reason, 'signals': []}
        if res.outcome == safe_signal.VANISHED:
            return {'result': VANISHED, 'changed': False, 'message': res.reason, 'signals': []}
        time.sleep(self.nudge_settle)
        facts = self.rescan([action.unit])
        data = (facts.get('units') or {}).get(action.unit) or {}
        left = [z for z in data.get('zombies') or [] if z.get('ppid') == action.pid]
        before = action.evidence.get('zombies', 0)
        after = {'process': res.after, 'zombies_of_parent': len(left)}
        if len(left) < before:
            return {
                'result': DONE,
                'changed': True,
                'signals': res.signals,
                'after': after,
                'message': 'parent reaped %d of %d zombies' % (before - len(left), before),
            }
        return {
            'result': NOT_CLEANED,
            'changed': True,
            'signals': res.signals,
            'after': after,
            'message': 'SIGCHLD sent but the parent reaped nothing (no SIGCHLD handler?)',
        }

    def _terminate(self, action):
        grace = min(float(self.policy.grace), max(0.0, self.policy.action_timeout - self.kill_wait - 1))
        res = safe_signal.terminate(
            action.pid,
            action.starttime,
            action.cgroup,
            grace=grace,
            kill_wait=self.kill_wait,
            guard=self.guard,
            cgroup_view=self.cgroup_view,
        )
        out = {
            'signals': res.signals,
            'after': res.after,
            'message': res.reason,
            'changed': res.acted,
            'outcome': res.outcome,
        }
        if res.outcome == safe_signal.REFUSED:
            out['result'] = REFUSED
        elif res.outcome == safe_signal.VANISHED:
            out['result'] = VANISHED
        elif res.cleaned:
            out['result'] = DONE
        else:
            out['result'] = NOT_CLEANED
        return out


def summarize(facts):
    """Per-unit counts, for before/after comparisons."""
    return dict((name, dict(unit.get('counts') or {})) for name, unit in (facts.get('units') or {}).items())


def count_results(results, counters=None):
    counters = counters if counters is not None else {}
    for entry in results:
        key = '%s|%s' % (entry['action'], entry['result'])
        counters[key] = counters.get(key, 0) + 1
    return counters
