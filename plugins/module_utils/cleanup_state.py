# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent state of the cleanup: /var/lib/reaper-systemd/state.json.

Holds how long each zombie has been seen, zombies per unit across runs (to
tell an accumulating factory from a one-off), and the per-unit cool-downs
shared by the timer and ``reaper.systemd.reap``. Writes are atomic (temp file
in the same directory, fsync, rename); a corrupt file is reset with a warning.
"""

from __future__ import absolute_import, division, print_function

import json
import os

from .atomic_file import write_atomically

__metaclass__ = type

STATE_PATH = '/var/lib/reaper-systemd/state.json'
VERSION = 1
HISTORY_LEN = 96


def empty():
    return {'version': VERSION, 'zombies': {}, 'units': {}, 'cooldowns': {}, 'counters': {}}


def load(path=STATE_PATH):
    """Return (state, warnings). A missing file is an empty state; a corrupt one is reset."""
    warnings = []
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, IOError) as exc:
        if getattr(exc, 'errno', None) != 2:
            warnings.append('cannot read state %s (%s): starting from an empty state' % (path, exc))
        return empty(), warnings
    except ValueError as exc:
        warnings.append('state file %s is corrupt (%s): reset to an empty state' % (path, exc))
        return empty(), warnings
    if not isinstance(data, dict) or data.get('version') != VERSION:
        warnings.append('state file %s has an unknown layout: reset to an empty state' % path)
        return empty(), warnings
    state = empty()
    for key in ('zombies', 'units', 'cooldowns', 'counters'):
        if key not in data and key == 'counters':
            continue
        if isinstance(data.get(key), dict):
            state[key] = data[key]
        else:
            warnings.append('state file %s: "%s" is not a mapping: reset' % (path, key))
    return state, warnings


def save(state, path=STATE_PATH):
    """Write atomically: a reader sees the old file or the new one, never half."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    write_atomically(path, json.dumps(state, indent=1, sort_keys=True) + '\n', 0o600)


def zombie_key(pid, starttime):
    return '%d:%s' % (pid, starttime if starttime is not None else '?')


def record_scan(state, facts, table=None, now=0.0):
    """Update zombie first-seen times and per-unit zombie history from a scan."""
    processes = getattr(table, 'processes', None) or {}
    seen = {}
    previous = state.get('zombies', {})

    def note(item, unit):
        pid = item.get('pid')
        proc = processes.get(pid)
        key = zombie_key(pid, getattr(proc, 'starttime', None))
        first = previous.get(key, {}).get('first_seen', now)
        seen[key] = {'first_seen': first, 'last_seen': now, 'unit': unit, 'ppid': item.get('ppid')}

    units = facts.get('units') or {}
    for name, unit in units.items():
        zombies = unit.get('zombies') or []
        for item in zombies:
            note(item, name)
        entry = state['units'].setdefault(name, {})
        history = entry.setdefault('zombie_history', [])
        count = (unit.get('counts') or {}).get('zombies', len(zombies))
        history.append([round(now, 3), count])
        del history[:-HISTORY_LEN]
    for item in (facts.get('host') or {}).get('zombies_outside_units') or []:
        note(item, None)
    state['zombies'] = seen
    return state


def zombie_rate_per_hour(state, unit):
    """Zombies gained per hour over the recorded history (None with < 2 points)."""
    history = (state.get('units', {}).get(unit) or {}).get('zombie_history') or []
    if len(history) < 2:
        return None
    (t0, c0), (t1, c1) = history[0], history[-1]
    if t1 <= t0:
        return None
    return (c1 - c0) * 3600.0 / (t1 - t0)


def cooldown_until(state, unit, cooldown):
    last = (state.get('cooldowns') or {}).get(unit)
    if last is None:
        return None
    return float(last) + float(cooldown)


def mark_action(state, unit, now):
    state.setdefault('cooldowns', {})[unit] = now
