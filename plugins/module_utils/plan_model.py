# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a plan is made of: actions on units or single processes, and what was skipped.

The planner (``remediation``) fills a Plan, the executor runs its actions.
Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


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
        if self.kind == 'kill_leftovers' and self.pid is None:
            return 'kill the %s left-over(s) of %s (whole cgroup, through systemd)' % (
                self.evidence.get('leftovers'),
                self.unit,
            )
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
        # units with too many per-process candidates to grind through ({unit, candidates, threshold})
        self.breakers = []

    def skip(self, kind, unit, reason, pid=None, count=1):
        """Record a candidate not taken; ``count`` > 1 for one line that stands for several."""
        self.skipped.append({'action': kind, 'unit': unit, 'pid': pid, 'reason': reason, 'count': count})

    def as_dict(self):
        return {
            'actions': [a.as_dict() for a in self.actions],
            'skipped': list(self.skipped),
            'circuit_breakers': list(self.breakers),
        }
