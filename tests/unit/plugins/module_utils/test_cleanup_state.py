# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_state as cs

__metaclass__ = type


class _P:
    def __init__(self, starttime):
        self.starttime = starttime


class _Table:
    def __init__(self, processes):
        self.processes = processes


def _facts(zombies):
    return {
        'host': {'zombies_outside_units': []},
        'units': {
            'f.service': {
                'zombies': [{'pid': p, 'ppid': 10, 'age_s': 5} for p in zombies],
                'counts': {'zombies': len(zombies)},
            }
        },
    }


def test_missing_file_is_empty_without_problem(tmp_path):
    state, problem = cs.load(str(tmp_path / 'state.json'))
    assert state == cs.empty()
    assert problem is None


def test_atomic_save_roundtrip_leaves_no_temp(tmp_path):
    path = str(tmp_path / 'sub' / 'state.json')
    state = cs.empty()
    cs.mark_action(state, 'f.service', 100.0)
    cs.save(state, path)
    assert json.load(open(path)) == state
    assert os.listdir(os.path.dirname(path)) == ['state.json']
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


def test_zombie_first_seen_kept_and_rate():
    state = cs.empty()
    table = _Table({101: _P(5000), 102: _P(5001)})
    cs.record_scan(state, _facts([101]), table, now=1000.0)
    cs.record_scan(state, _facts([101, 102]), table, now=4600.0)
    assert state['zombies']['101:5000']['first_seen'] == 1000.0
    assert state['zombies']['102:5001']['first_seen'] == 4600.0
    assert cs.zombie_rate_per_hour(state, 'f.service') == 1.0
    cs.record_scan(state, _facts([]), table, now=8200.0)
    assert state['zombies'] == {}, 'reaped zombies are forgotten'


def test_cooldown():
    state = cs.empty()
    assert cs.cooldown_until(state, 'f.service', 600) is None
    cs.mark_action(state, 'f.service', 1000.0)
    assert cs.cooldown_until(state, 'f.service', 600) == 1600.0
