# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation executor: runs the plan ``remediation.plan`` made.

It records each action in the state and has it saved BEFORE acting
(write-ahead: no save, no action), logs it to the journal, signals single
processes through ``safe_signal`` (pidfd, identity and PID namespace
re-checked), restarts units through systemctl with a timeout after checking
the unit is still the invocation the scan saw, re-reads the state after each
action and reports before/after evidence with one of the results below.

Used by ``reaper.systemd.reap`` and by the timer's cleanup command. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import subprocess
import time

from . import cleanup_memory, safe_signal, unit_actions
from .remediation import SAFE_KILL_MODES, UNIT_ACTIONS, Action, deny_reason

__metaclass__ = type

# results (also the `result` label of reaper_actions_total)
DONE = 'done'  # acted and the target is really gone / fixed
NOT_CLEANED = 'not_cleaned'  # acted but the state shows it did not help
REFUSED = 'refused'  # a guard rail refused at action time
VANISHED = 'vanished'  # target gone before we acted (nothing sent)
FAILED = 'failed'  # the action itself failed
TIMEOUT = 'timeout'  # the action did not finish within action_timeout
PLANNED = 'planned'  # dry-run / check mode
# a restart left a unit that was active not serving: the worst outcome (parked, exit status 7)
UNIT_DOWN = 'unit_down'
# results that fail reap's task and the timer's run
BAD_RESULTS = (FAILED, TIMEOUT, UNIT_DOWN)
# how often the cgroup-wide kill re-scans while it waits for the left-overs to go
POLL_S = 0.5


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
        # CLOCK_MONOTONIC, systemd's clock for *TimestampMonotonic (start-limit check)
        self.monotonic_us = lambda: int(time.monotonic() * 1e6)

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
            elif action.kind == 'kill_leftovers' and action.pid is None:
                result = self._kill_cgroup(action)
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
        if entry['result'] in (REFUSED, FAILED, TIMEOUT, NOT_CLEANED, UNIT_DOWN):
            self.journal.log(
                'refused' if entry['result'] == REFUSED else action.kind,
                'reaper-systemd: %s: %s (%s)' % (action.describe(), entry['result'], entry.get('message', '')),
                unit=action.unit,
                pid=action.pid,
                reason=entry.get('message'),
                priority='crit' if entry['result'] == UNIT_DOWN else 'warning',
            )
        return entry

    def _unit_after(self, unit):
        facts = self.rescan([unit])
        data = (facts.get('units') or {}).get(unit)
        if data is None:
            return None
        return {
            'active_state': data.get('active_state'),
            'sub_state': data.get('sub_state'),
            'main_pid': data.get('main_pid'),
            'invocation_id': data.get('invocation_id'),
            'counts': data.get('counts'),
            'zombie_parents': sorted(set(z.get('ppid') for z in data.get('zombies') or [])),
            'zombie_pids': sorted(z.get('pid') for z in data.get('zombies') or []),
        }

    def _show(self, unit, properties):
        return unit_actions.show(self.runner, unit, properties, min(30, self.policy.action_timeout))

    def _restart(self, action):
        props, why = self._show(action.unit, unit_actions.RESTART_PROPERTIES)
        if why:
            return {'result': REFUSED, 'changed': False, 'message': 'cannot re-read the unit: %s' % why}
        why = unit_actions.restart_refusal(props, action.evidence.get('invocation_id'), self.monotonic_us())
        if why:
            return {'result': REFUSED, 'changed': False, 'message': why}
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
        if unit_actions.unit_down(props.get('ActiveState'), after):
            return {
                'result': UNIT_DOWN,
                'changed': True,
                'after': after,
                'message': 'the unit was active and is %s after the restart (systemctl rc=%d: %s); '
                'it is parked and not started again by the cleanup: see journalctl -u %s'
                % ((after or {}).get('active_state'), rc, (err or '').strip(), action.unit),
            }
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

    def _kill_cgroup(self, action):
        """SIGTERM to a stopped unit's whole cgroup through systemd, grace, then SIGKILL to what is left."""
        signals = []
        message = None
        for signal_name, wait in (('SIGTERM', float(self.policy.grace)), ('SIGKILL', self.kill_wait)):
            props, why = self._show(action.unit, unit_actions.LEFTOVER_PROPERTIES)
            why = why or unit_actions.leftover_kill_refusal(props, action)
            if why:
                if not signals:
                    return {'result': REFUSED, 'changed': False, 'message': why, 'signals': []}
                message = 'not sent %s: %s' % (signal_name, why)
                break
            try:
                rc, _out, err = self.runner(
                    unit_actions.kill_argv(action.unit, signal_name), self.policy.action_timeout
                )
            except subprocess.TimeoutExpired:
                return {'result': TIMEOUT, 'changed': bool(signals), 'signals': signals, 'message': 'systemctl kill'}
            if rc != 0:
                return {
                    'result': FAILED,
                    'changed': bool(signals),
                    'signals': signals,
                    'message': 'systemctl kill failed (rc=%d): %s' % (rc, (err or '').strip()),
                }
            signals.append(signal_name)
            left = self._leftovers_after(action.unit, wait)
            if not left:
                return {
                    'result': DONE,
                    'changed': True,
                    'signals': signals,
                    'after': {'leftovers': 0},
                    'message': 'the %s left-over(s) are gone' % action.evidence.get('leftovers'),
                }
        return {
            'result': NOT_CLEANED,
            'changed': True,
            'signals': signals,
            'after': {'leftovers': left},
            'message': message or '%d left-over(s) remain after %s' % (left, ' and '.join(signals)),
        }

    def _leftovers_after(self, unit, wait):
        """The unit's left-over count once it drops to 0 or ``wait`` seconds have passed."""
        deadline = time.monotonic() + wait
        while True:
            data = (self.rescan([unit]).get('units') or {}).get(unit) or {}
            left = (data.get('counts') or {}).get('leftovers', len(data.get('leftovers') or []))
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

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
