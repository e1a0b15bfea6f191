# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the planner shares a run's budget between units.

One big leak must not starve the others: a unit with thousands of candidates
used to take the whole per-run and hourly budget every run, in name order,
while a zombie factory further down the alphabet was never restarted. So:

- the budget is dealt round-robin: every unit's first action before any
  unit's second (``deal``);
- what the budget leaves is one line per unit and kind, with a count, not one
  line per process (``skip_over_budget``): a line per process was 10,000
  journal lines a run;
- a unit with more per-process candidates than ``CIRCUIT_BREAKER_CANDIDATES``
  is not ground down a few processes per run: the planner reports a circuit
  breaker for it and takes none of them (``breaker_material``).

Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Past this many per-process candidates in one unit, signalling them one by one (10 a run,
# 30 an hour) would take days and flood the journal: something bigger is wrong with the unit.
CIRCUIT_BREAKER_CANDIDATES = 200

# per-process kinds and the unit facts list they act on
PROCESS_MATERIAL = (
    ('kill_survivors', 'survivors'),
    ('terminate_escaped', 'escaped'),
)


def breaker_material(unit, allowed, leftovers_one_by_one):
    """How many per-process candidates the unit's facts hold for the allowed actions."""
    count = sum(len(unit.get(key) or []) for kind, key in PROCESS_MATERIAL if kind in allowed)
    if leftovers_one_by_one and 'kill_leftovers' in allowed:
        count += len(unit.get('leftovers') or [])
    if set(('kill_worker_parent', 'nudge_parent')) & set(allowed):
        count += len(set(z.get('ppid') for z in unit.get('zombies') or []))
    return count


def breaker_reason(count):
    return (
        'circuit breaker: %d per-process candidates (more than %d): not signalled one by one; restart the unit '
        '(restart_unit) or stop it, then kill_leftovers takes its whole cgroup in one action, and harden it '
        '(reaper.systemd.killmode_hardening)' % (count, CIRCUIT_BREAKER_CANDIDATES)
    )


def deal(per_unit):
    """Candidates in turn order: each unit's first, then each unit's second, ... (units in the given order)."""
    ordered = []
    depth = max([len(actions) for _name, actions in per_unit] or [0])
    for turn in range(depth):
        ordered.extend(actions[turn] for _name, actions in per_unit if turn < len(actions))
    return ordered


def skip_over_budget(plan, left, why):
    """One skip line per (unit, kind) for the candidates the budget leaves, with their count."""
    groups = []
    index = {}
    for action in left:
        key = (action.unit, action.kind)
        if key not in index:
            index[key] = len(groups)
            groups.append([action.kind, action.unit, 0])
        groups[index[key]][2] += 1
    for kind, unit, count in groups:
        plan.skip(kind, unit, '%d candidate(s) not taken: %s; a later run takes them' % (count, why), count=count)
