# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cleanup remembers: zombie sightings, pruning, back-off, parking, the hourly budget."""

from __future__ import absolute_import, division, print_function

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_memory as cm
from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_policy as cp

__metaclass__ = type

NOW = 1_800_000_000.0
DAY = 86400.0


class _P:
    def __init__(self, starttime):
        self.starttime = starttime


class _Table:
    def __init__(self, processes):
        self.processes = processes


def _state():
    return {'version': 2, 'zombies': {}, 'units': {}, 'cooldowns': {}, 'counters': {}, 'actions': []}


def _facts(zombies, unit='f.service', age=50000):
    return {
        'host': {'zombies_outside_units': []},
        'units': {
            unit: {
                'zombies': [{'pid': p, 'ppid': 10, 'age_s': age} for p in zombies],
                'counts': {'zombies': len(zombies)},
            }
        },
    }


def _policy(**kw):
    kw.setdefault('units', ['*'])
    policy = cp.Policy(**dict((k, v) for k, v in kw.items() if k in cp.Policy.FIELDS))
    for key, value in kw.items():  # fields the policy may not know yet keep their values for this test
        if key not in cp.Policy.FIELDS:
            setattr(policy, key, value)
    return policy


def _seen(facts):
    return dict((z['pid'], z['zombie_seen_s']) for z in facts['units']['f.service']['zombies'])


# ---------------------------------------------------------------- zombies observed over time
def test_a_zombie_never_seen_before_counts_as_new_whatever_its_age():
    state = _state()
    facts = _facts([201], age=50000)  # a process hours old, a zombie for the first time
    cm.record_scan(state, facts, _Table({201: _P(7)}), NOW)
    assert _seen(facts) == {201: 0.0}


def test_zombie_seen_time_grows_across_scans_and_resets_for_a_reused_pid():
    state = _state()
    cm.record_scan(state, _facts([201, 202]), _Table({201: _P(7), 202: _P(8)}), NOW)
    later = _facts([201, 202])
    # 202 is another process now (reused PID: other start time): a new zombie
    cm.record_scan(state, later, _Table({201: _P(7), 202: _P(99)}), NOW + 90)
    assert _seen(later) == {201: 90.0, 202: 0.0}
    assert cm.zombie_seen_s(state, 201, 7, NOW + 100) == 100.0


def test_a_reaped_zombie_is_forgotten_and_counts_as_new_if_it_comes_back():
    state = _state()
    cm.record_scan(state, _facts([201]), _Table({201: _P(7)}), NOW)
    cm.record_scan(state, _facts([]), _Table({}), NOW + 30)
    again = _facts([201])
    cm.record_scan(state, again, _Table({201: _P(7)}), NOW + 60)
    assert _seen(again) == {201: 0.0}


# ---------------------------------------------------------------- pruning
def test_units_not_seen_for_seven_days_are_pruned_with_their_cooldowns():
    state = _state()
    cm.record_scan(state, _facts([], unit='gone.service'), None, NOW)
    cm.mark_action(state, 'gone.service', NOW)
    cm.record_scan(state, _facts([], unit='kept.service'), None, NOW + 6 * DAY)
    assert set(state['units']) == {'gone.service', 'kept.service'}
    cm.record_scan(state, _facts([], unit='kept.service'), None, NOW + 7 * DAY + 1)
    assert set(state['units']) == {'kept.service'}
    assert 'gone.service' not in state['cooldowns']


def test_a_parked_unit_is_kept_until_an_operator_unparks_it():
    state = _state()
    policy = _policy(park_after=1)
    cm.record_scan(state, _facts([], unit='p.service'), None, NOW)
    cm.record_outcome(state, 'p.service', 'not_cleaned', policy, NOW)
    cm.record_scan(state, _facts([], unit='other.service'), None, NOW + 30 * DAY)
    assert cm.parked(state, 'p.service')


# ---------------------------------------------------------------- back-off and parking
def test_cooldown_doubles_after_each_ineffective_action_up_to_backoff_max():
    state = _state()
    policy = _policy(cooldown=600, backoff_max=2000, park_after=10)
    cm.mark_action(state, 'u.service', NOW)
    assert cm.cooldown_until(state, 'u.service', policy) == NOW + 600
    cm.record_outcome(state, 'u.service', 'not_cleaned', policy, NOW)
    assert cm.cooldown_until(state, 'u.service', policy) == NOW + 1200
    cm.record_outcome(state, 'u.service', 'failed', policy, NOW)
    assert cm.cooldown_until(state, 'u.service', policy) == NOW + 2000, 'capped at backoff_max'
    cm.record_outcome(state, 'u.service', 'done', policy, NOW)
    assert cm.cooldown_until(state, 'u.service', policy) == NOW + 600, 'an action that helped resets the back-off'


def test_unit_is_parked_after_park_after_ineffective_actions_and_unparked_by_name():
    state = _state()
    policy = _policy(park_after=3)
    assert cm.record_outcome(state, 'u.service', 'timeout', policy, NOW) is None
    assert cm.record_outcome(state, 'u.service', 'not_cleaned', policy, NOW) is None
    parked = cm.record_outcome(state, 'u.service', 'not_cleaned', policy, NOW)
    assert parked and '3 actions in a row' in parked['reason']
    assert cm.parked_units(state) == ['u.service']
    assert cm.unpark(state, 'u.service') is True
    assert cm.parked(state, 'u.service') is None
    assert cm.ineffective(state, 'u.service') == 0
    assert cm.unpark(state, 'u.service') is False


def test_unpark_all():
    state = _state()
    policy = _policy(park_after=1)
    for name in ('a.service', 'b.service'):
        cm.record_outcome(state, name, 'failed', policy, NOW)
    assert cm.unpark_all(state) == ['a.service', 'b.service']
    assert cm.parked_units(state) == []


# ---------------------------------------------------------------- write-ahead and budget
def test_mark_action_is_undone_when_nothing_was_sent():
    state = _state()
    cm.mark_action(state, 'u.service', NOW - 5000)
    token = cm.mark_action(state, 'u.service', NOW)
    assert state['cooldowns']['u.service'] == NOW and state['actions'] == [NOW - 5000, NOW]
    cm.undo_mark(state, token)
    assert state['cooldowns']['u.service'] == NOW - 5000 and state['actions'] == [NOW - 5000]


def test_hourly_budget_is_a_sliding_window():
    state = _state()
    policy = _policy(max_actions_per_hour=3)
    for offset in (4000, 3000, 10, 5):
        cm.mark_action(state, 'u.service', NOW - offset)
    assert cm.budget_remaining(state, policy, NOW) == 0
    assert cm.budget_remaining(state, policy, NOW + 700) == 1
    cm.prune_actions(state, NOW)
    assert state['actions'] == [NOW - 3000, NOW - 10, NOW - 5]


def test_zombie_first_seen_kept_and_rate():
    state = _state()
    table = _Table({101: _P(5000), 102: _P(5001)})
    cm.record_scan(state, _facts([101]), table, now=1000.0)
    cm.record_scan(state, _facts([101, 102]), table, now=4600.0)
    assert state['zombies']['101:5000']['first_seen'] == 1000.0
    assert state['zombies']['102:5001']['first_seen'] == 4600.0
    assert cm.zombie_rate_per_hour(state, 'f.service') == 1.0
    cm.record_scan(state, _facts([]), table, now=8200.0)
    assert state['zombies'] == {}, 'reaped zombies are forgotten'


def test_cooldown_with_a_plain_number():
    state = _state()
    assert cm.cooldown_until(state, 'f.service', 600) is None
    cm.mark_action(state, 'f.service', 1000.0)
    assert cm.cooldown_until(state, 'f.service', 600) == 1600.0


def test_a_migrated_unit_entry_without_last_seen_keeps_its_cooldown_for_seven_days():
    state = _state()
    state['units']['old.service'] = {'zombie_history': [[1.0, 2]]}
    state['cooldowns']['old.service'] = NOW - 10
    cm.record_scan(state, _facts([]), None, NOW)
    assert state['cooldowns']['old.service'] == NOW - 10
    cm.record_scan(state, _facts([]), None, NOW + 7 * DAY + 1)
    assert 'old.service' not in state['units'] and 'old.service' not in state['cooldowns']


def test_malformed_entries_start_afresh_instead_of_crashing():
    state = _state()
    state['units']['f.service'] = 'garbage'
    state['zombies']['201:7'] = 'garbage'
    facts = _facts([201])
    cm.record_scan(state, facts, _Table({201: _P(7)}), NOW)
    assert _seen(facts) == {201: 0.0}
    assert state['units']['f.service']['last_seen'] == NOW
