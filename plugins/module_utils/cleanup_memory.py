# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cleanup remembers between runs, kept in the shared state dict.

``cleanup_state`` reads and writes the file; this module holds the
bookkeeping on the dict it returns, shared by ``reaper.systemd.reap`` and the
timer's cleanup command:

- zombie sightings: when each zombie was first seen, so a decision rests on
  how long a process has been a zombie as *observed* (``zombie_seen_s``), not
  on its age (a worker caught between exit() and its parent's wait() is a
  zombie for a moment, whatever its age);
- per-unit zombie history (accumulation rate), pruned for units not seen for
  ``UNIT_RETENTION_S``;
- cool-downs, written *before* an action (write-ahead), doubled after each
  action that did not fix the unit (up to ``backoff_max``);
- parking: a unit whose actions did not help ``park_after`` times in a row is
  left alone until an operator unparks it;
- the per-host budget: timestamps of the actions of the last hour.

Stdlib only: the timer runs it on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

from . import cleanup_state, state_layout

__metaclass__ = type

HISTORY_LEN = 96
UNIT_RETENTION_S = 7 * 86400
BUDGET_WINDOW_S = 3600.0

# results (as in remediation) that show an action did not fix its unit
INEFFECTIVE_RESULTS = ('not_cleaned', 'failed', 'timeout')
# results that show it did
EFFECTIVE_RESULTS = ('done',)
# a restart left a unit that was serving down: parked at once, whatever park_after says
UNIT_DOWN_RESULT = 'unit_down'
# why a unit is parked (the state's units.NAME.parked.kind)
PARK_KINDS = state_layout.PARK_KINDS

# defaults of the policy fields this module reads (cleanup_policy validates them)
DEFAULT_BACKOFF_MAX = 86400
DEFAULT_PARK_AFTER = 3
DEFAULT_MAX_ACTIONS_PER_HOUR = 30


def _field(policy, name, default):
    value = getattr(policy, name, None)
    return default if value is None else value


def zombie_key(pid, starttime):
    return '%d:%s' % (pid, starttime if starttime is not None else '?')


def _units(state):
    units = state.get('units')
    if not isinstance(units, dict):
        units = state['units'] = {}
    return units


def _unit_entry(state, name):
    """The bookkeeping dict of one unit (a malformed entry starts afresh)."""
    units = _units(state)
    entry = units.get(name)
    if not isinstance(entry, dict):
        entry = units[name] = {}
    return entry


def record_scan(state, facts, table=None, now=0.0):
    """Record the zombies of a scan and fill ``zombie_seen_s`` into its items.

    A zombie keeps its first sighting while it is seen in consecutive scans
    (keyed by PID and start time, so a reused PID is a new zombie); one not in
    this scan is forgotten. A zombie never seen before has ``zombie_seen_s``
    0: it counts as new. Units get a zombie history and ``last_seen``; units
    not seen for 7 days are pruned (parked ones are kept until unparked)."""
    processes = getattr(table, 'processes', None) or {}
    previous = state.get('zombies') or {}
    seen = {}

    def note(item, unit):
        pid = item.get('pid')
        proc = processes.get(pid)
        key = zombie_key(pid, getattr(proc, 'starttime', None))
        entry = previous.get(key)
        first = entry.get('first_seen', now) if isinstance(entry, dict) else now
        if not isinstance(first, (int, float)) or isinstance(first, bool) or first > now:
            first = now
        seen[key] = {'first_seen': first, 'last_seen': now, 'unit': unit, 'ppid': item.get('ppid')}
        item['zombie_seen_s'] = round(max(0.0, now - first), 3)

    for name, unit in (facts.get('units') or {}).items():
        zombies = unit.get('zombies') or []
        for item in zombies:
            note(item, name)
        entry = _unit_entry(state, name)
        entry['last_seen'] = now
        if not any((unit.get('counts') or {}).values()):
            # seen clean: whatever was done to it worked, the back-off starts afresh
            entry.pop('awaiting_clean', None)
            entry['ineffective'] = 0
        history = entry.get('zombie_history')
        if not isinstance(history, list):
            history = entry['zombie_history'] = []
        count = (unit.get('counts') or {}).get('zombies', len(zombies))
        history.append([round(now, 3), count])
        del history[:-HISTORY_LEN]
    for item in (facts.get('host') or {}).get('zombies_outside_units') or []:
        note(item, None)
    state['zombies'] = seen
    prune_units(state, now)
    return state


def prune_units(state, now):
    """Forget units not seen for UNIT_RETENTION_S (and their cool-downs); keep parked ones."""
    units = _units(state)
    cooldowns = state.setdefault('cooldowns', {})
    for name in list(units):
        entry = _unit_entry(state, name)
        last = entry.get('last_seen')
        if isinstance(last, bool) or not isinstance(last, (int, float)):
            # an entry from before last_seen was kept (a migrated state): the clock starts now
            entry['last_seen'] = now
            continue
        if entry.get('parked'):
            continue
        if now - last > UNIT_RETENTION_S:
            del units[name]
            cooldowns.pop(name, None)
    for name in list(cooldowns):
        if name not in units and _number(cooldowns[name]) < now - UNIT_RETENTION_S:
            del cooldowns[name]


def _number(value, default=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


def zombie_seen_s(state, pid, starttime, now):
    """Seconds since this zombie was first seen, 0 when never seen before."""
    entry = (state.get('zombies') or {}).get(zombie_key(pid, starttime))
    if not entry:
        return 0.0
    return max(0.0, now - _number(entry.get('first_seen'), now))


def zombie_rate_per_hour(state, unit):
    """Zombies gained per hour over the recorded history (None with < 2 points)."""
    entry = _units(state).get(unit)
    history = (entry.get('zombie_history') if isinstance(entry, dict) else None) or []
    if len(history) < 2:
        return None
    (t0, c0), (t1, c1) = history[0], history[-1]
    if t1 <= t0:
        return None
    return (c1 - c0) * 3600.0 / (t1 - t0)


def ineffective(state, unit):
    """Actions in a row on ``unit`` that did not fix it."""
    entry = _units(state).get(unit)
    return int(_number(entry.get('ineffective') if isinstance(entry, dict) else 0, 0))


def effective_cooldown(state, unit, policy):
    """The cool-down doubled once per ineffective action in a row, capped at backoff_max."""
    base = float(policy.cooldown)
    cap = max(base, float(_field(policy, 'backoff_max', DEFAULT_BACKOFF_MAX)))
    streak = ineffective(state, unit)
    if streak <= 0:
        return base
    # 2**streak grows fast: stop doubling once the cap is reached
    value = base
    for _dummy in range(streak):
        value *= 2
        if value >= cap:
            return cap
    return value


def cooldown_until(state, unit, policy_or_cooldown):
    """When the next action on ``unit`` is allowed (None: never acted on).

    Takes the policy (back-off applies) or, for old callers, a plain cool-down."""
    last = (state.get('cooldowns') or {}).get(unit)
    if last is None:
        return None
    if isinstance(policy_or_cooldown, (int, float)):
        return _number(last) + float(policy_or_cooldown)
    return _number(last) + effective_cooldown(state, unit, policy_or_cooldown)


def mark_action(state, unit, now):
    """Write-ahead record of an action about to be taken: cool-down start and
    a budget timestamp. Returns a token for ``undo_mark``. The caller saves
    the state BEFORE acting."""
    cooldowns = state.setdefault('cooldowns', {})
    token = (unit, cooldowns.get(unit), now)
    cooldowns[unit] = now
    actions = state.setdefault('actions', [])
    actions.append(now)
    del actions[: max(0, len(actions) - 1000)]
    return token


def undo_mark(state, token):
    """Take back a write-ahead mark for an action that sent nothing (refused, vanished)."""
    unit, previous, when = token
    cooldowns = state.setdefault('cooldowns', {})
    if previous is None:
        cooldowns.pop(unit, None)
    else:
        cooldowns[unit] = previous
    actions = state.setdefault('actions', [])
    if when in actions:
        actions.remove(when)


def record_outcome(state, unit, result, policy, now):
    """Back-off and parking after an action. Returns the parking entry when
    this outcome parked the unit, else None."""
    entry = _unit_entry(state, unit)
    if result == UNIT_DOWN_RESULT:
        # the worst outcome: no second try on a unit the cleanup itself took down
        return park(
            entry, now, 'unit_down', 'a restart left it down (it was active before): look at it, then unpark it'
        )
    if result in EFFECTIVE_RESULTS:
        # The action removed what it was for; whether the leak is fixed is known
        # only from a later scan: clean (record_scan resets the streak) or the
        # leak back (note_recurrence counts this action as ineffective).
        entry['awaiting_clean'] = True
        return None
    if result not in INEFFECTIVE_RESULTS:
        return None
    return _count_ineffective(entry, policy, now, 'last: %s' % result)


def note_recurrence(state, unit, policy, now):
    """The unit needs an action again although the last one cleaned it: that
    action did not fix the leak (a service that leaks again right after each
    restart). Counts it as ineffective once, so the cool-down doubles and the
    unit is parked after ``park_after`` such rounds. Returns the parking entry
    when this parked the unit, else None."""
    entry = _units(state).get(unit)
    if not isinstance(entry, dict) or not entry.pop('awaiting_clean', False):
        return None
    return _count_ineffective(entry, policy, now, 'the leak came back after the last one')


def _count_ineffective(entry, policy, now, detail):
    entry['ineffective'] = int(_number(entry.get('ineffective'), 0)) + 1
    park_after = int(_field(policy, 'park_after', DEFAULT_PARK_AFTER))
    if entry['ineffective'] >= park_after:
        return park(
            entry,
            now,
            'ineffective',
            '%d actions in a row did not fix it (park_after=%d), %s' % (entry['ineffective'], park_after, detail),
        )
    return None


def park(entry, now, kind, reason):
    """Park the unit of ``entry`` (kind: one of PARK_KINDS). Returns the new parking, or None when
    it was parked already (the first reason stays)."""
    if entry.get('parked'):
        return None
    entry['parked'] = {'since': now, 'kind': kind, 'reason': reason}
    return entry['parked']


def parked(state, unit):
    """The parking entry ({since, reason}) of ``unit``, or None."""
    entry = _units(state).get(unit)
    entry = entry.get('parked') if isinstance(entry, dict) else None
    return entry if isinstance(entry, dict) else None


def parked_units(state):
    return sorted(name for name in _units(state) if parked(state, name))


def unpark(state, unit):
    """Reset parking and back-off of ``unit``. True when it was parked."""
    entry = _units(state).get(unit)
    if not isinstance(entry, dict):
        return False
    was = bool(entry.pop('parked', None))
    entry['ineffective'] = 0
    return was


def unpark_all(state):
    names = parked_units(state)
    for name in names:
        unpark(state, name)
    return names


def actions_last_hour(state, now):
    return [t for t in state.get('actions') or [] if now - BUDGET_WINDOW_S < _number(t, -1e18) <= now]


def budget_remaining(state, policy, now):
    """Actions still allowed on this host within the sliding hour."""
    limit = int(_field(policy, 'max_actions_per_hour', DEFAULT_MAX_ACTIONS_PER_HOUR))
    return max(0, limit - len(actions_last_hour(state, now)))


def prune_actions(state, now):
    state['actions'] = actions_last_hour(state, now)


def load_state(path):
    """(state, problem) from ``cleanup_state.load``, the state with every key this module uses.

    A state with a problem is never used for decisions and never saved over."""
    state, problem = cleanup_state.load(path)
    for key in ('zombies', 'units', 'cooldowns', 'counters'):
        state.setdefault(key, {})
    state.setdefault('actions', [])
    return state, problem
