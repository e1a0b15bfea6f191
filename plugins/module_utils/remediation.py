# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation planner and executor.

The planner turns the facts of one scan (``scan.scan(...).facts`` and its
process table) into a plan of actions. It honours the scope the operator
named (``cleanup_policy.Policy``), the built-in deny tiers (which apply even to ``*``), thresholds, the
cap on actions per run and per-unit cool-downs. It never detects anything
itself: every target comes from the scan.

The executor logs each action to the journal BEFORE taking it, signals single
processes through ``safe_signal`` (pidfd, identity re-checked), restarts units
through systemctl with a timeout, re-reads the state after each action and
reports before/after evidence.

Used by ``reaper.systemd.reap`` and by the timer's cleanup command. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import subprocess
import time

from . import cleanup_state, safe_signal

__metaclass__ = type

UNIT_ACTIONS = ('restart_unit',)
SAFE_KILL_MODES = ('control-group', 'mixed')

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

    def skip(self, kind, unit, reason, pid=None):
        self.skipped.append({'action': kind, 'unit': unit, 'pid': pid, 'reason': reason})

    def as_dict(self):
        return {'actions': [a.as_dict() for a in self.actions], 'skipped': list(self.skipped)}


def _process_guard(pid, processes, guard, allow_zombie=False):
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
    return proc, None


def _fmt_ts(value):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(value))


def plan(facts, processes, policy, state=None, now=None, guard=None):
    """Build a Plan from scan facts.

    ``processes``: dict pid -> Process (``ScanResult.table.processes``), used
    for identity (start time, cgroup) and guard rails. ``state``: the cleanup
    state (cool-downs), or None."""
    now = time.time() if now is None else now
    guard = guard or safe_signal.Guard()
    result = Plan()
    candidates = []
    claimed = set()
    allowed = set(policy.actions)

    def add_process(kind, unit, pid, reason, allow_zombie=False, evidence=None):
        if pid in claimed:
            return
        proc, why = _process_guard(pid, processes, guard, allow_zombie)
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
        zombies = [z for z in unit.get('zombies') or [] if (z.get('age_s') or 0) >= policy.min_zombie_age]
        wanted = _wanted(unit, zombies, policy, allowed)
        if not wanted:
            continue
        denied = policy.denied_by(name)
        if denied:
            for kind in wanted:
                result.skip(kind, name, 'unit matches the deny list pattern %r (applies even to "*")' % denied)
            continue
        until = cleanup_state.cooldown_until(state or {}, name, policy.cooldown)
        if until is not None and until > now:
            for kind in wanted:
                result.skip(
                    kind,
                    name,
                    'cool-down: last action on this unit at %s, next allowed at %s'
                    % (_fmt_ts(until - policy.cooldown), _fmt_ts(until)),
                )
            continue
        _plan_unit(name, unit, zombies, policy, allowed, result, candidates, add_process)

    cap = policy.max_actions
    for action in candidates[cap:]:
        result.skip(action.kind, action.unit, 'max_actions (%d) reached for this run' % cap, action.pid)
    result.actions = candidates[:cap]
    return result


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
                    '%d zombies at least %ss old (min_zombies=%d)'
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
                )

    if 'terminate_escaped' in allowed:
        for item in unit.get('escaped') or []:
            add_process(
                'terminate_escaped',
                name,
                item['pid'],
                'escaped from %s to %s by %s' % (name, item.get('now_in'), item.get('route')),
                evidence={'now_in': item.get('now_in'), 'route': item.get('route'), 'evidence': item.get('evidence')},
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

    def run(self, the_plan, state=None):
        results = []
        for action in the_plan.actions:
            result = self.run_one(action)
            if result['changed'] and state is not None:
                cleanup_state.mark_action(state, action.unit, self.clock())
            results.append(result)
        return results

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

    def _restart(self, action):
        argv = ['systemctl', 'restart', '--no-ask-password', action.unit]
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
