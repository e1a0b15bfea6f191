# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import errno
import json
import os

import pytest

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
    state['cooldowns']['f.service'] = 100.0
    cs.save(state, path)
    assert json.load(open(path)) == state
    assert os.listdir(os.path.dirname(path)) == ['state.json']
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


# ---------------------------------------------------------------- load: problems fail closed
def _write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(str(path), mode)
    return str(path)


V2 = {'version': 2, 'zombies': {}, 'units': {}, 'cooldowns': {'a.service': 1000.0}, 'counters': {}, 'actions': [1.0]}


@pytest.mark.parametrize(
    'text, why',
    [
        ('', 'is empty'),
        ('   \n', 'is empty'),
        (json.dumps(V2)[:-7], 'not valid JSON'),  # truncated
        ('{"version": 2, "zombies": {', 'not valid JSON'),
        ('garbage', 'not valid JSON'),
        ('[1, 2]', 'unknown layout'),
        ('{"zombies": {}}', 'no valid version'),
        ('{"version": "2"}', 'no valid version'),
        ('{"version": true}', 'no valid version'),
        ('{"version": 0}', 'no valid version'),
        (json.dumps(dict(V2, extra=1)), 'unknown top-level keys: extra'),
        (json.dumps(dict((k, v) for k, v in V2.items() if k != 'actions')), '"actions" is missing'),
        (json.dumps(dict(V2, cooldowns=[])), '"cooldowns" is a list'),
        (json.dumps(dict(V2, cooldowns={'a.service': 'soon'})), 'not a finite number'),
        (json.dumps(dict(V2, cooldowns={'a.service': float('nan')})), 'NaN is not a JSON number'),
        (json.dumps(dict(V2, cooldowns={'a.service': float('inf')})), 'Infinity is not a JSON number'),
        (json.dumps(dict(V2, cooldowns={'a.service': 1.0})).replace('1.0', '1e400'), 'not a finite number'),
        (json.dumps(dict(V2, actions=[True])), 'not a finite number'),
        (json.dumps(dict(V2, counters={'k': 1.5})), 'not an integer'),
        (json.dumps(dict(V2, units={'a.service': []})), "units['a.service'] is a list, not an object"),
    ],
)
def test_corrupt_state_is_a_problem_never_a_reset(tmp_path, text, why):
    path = _write(tmp_path / 'state.json', text)
    state, problem = cs.load(path)
    assert problem is not None and problem.kind == 'corrupt', problem
    assert why in problem.message and 'no action this run' in problem.message
    assert state == cs.empty()
    with open(path) as handle:
        assert handle.read() == text, 'load never rewrites the file'


def test_newer_version_is_a_problem(tmp_path):
    path = _write(tmp_path / 'state.json', json.dumps(dict(V2, version=4, later_key={})))
    state, problem = cs.load(path)
    assert problem.kind == 'newer' and 'version 4' in problem.message
    assert state == cs.empty()


def test_version_1_is_migrated(tmp_path):
    v1 = {'version': 1, 'zombies': {}, 'units': {'a.service': {'zombie_history': [[1.0, 2]]}}, 'cooldowns': {}}
    path = _write(tmp_path / 'state.json', json.dumps(v1))
    state, problem = cs.load(path)
    assert problem is None
    assert state['version'] == 3 and state['actions'] == [] and state['counters'] == {}
    assert state['units'] == v1['units']
    cs.save(state, path)
    assert json.load(open(path))['version'] == 3


def test_version_2_is_migrated_once_and_its_parked_units_say_why(tmp_path):
    parked = {'since': 1000.0, 'reason': '3 actions in a row did not fix it'}
    v2 = dict(V2, units={'a.service': {'last_seen': 5.0, 'ineffective': 3, 'parked': parked}})
    path = _write(tmp_path / 'state.json', json.dumps(v2))
    state, problem = cs.load(path)
    assert problem is None and state['version'] == 3
    assert state['units']['a.service']['parked'] == dict(parked, kind='ineffective')
    assert state['cooldowns'] == V2['cooldowns'] and state['actions'] == V2['actions']


V3 = dict(V2, version=3)
GOOD_UNIT = {
    'last_seen': 5.0,
    'zombie_history': [[1.0, 2], [2.5, 0]],
    'ineffective': 2,
    'awaiting_clean': True,
    'parked': {'since': 1.0, 'reason': 'why', 'kind': 'unit_down'},
    'reported_at': 4,
}
GOOD_ZOMBIE = {'first_seen': 1.0, 'last_seen': 2.0, 'unit': 'a.service', 'ppid': 7}


def test_valid_v3_loads_as_written(tmp_path):
    good = dict(V3, units={'a.service': GOOD_UNIT}, zombies={'8:99': GOOD_ZOMBIE, '9:?': dict(GOOD_ZOMBIE, unit=None)})
    path = _write(tmp_path / 'state.json', json.dumps(good))
    assert cs.load(path) == (good, None)


@pytest.mark.parametrize(
    'units, zombies, why',
    [
        # the review's two: acted on as if absent, because they were never checked
        ({'a.service': {'parked': 'true'}}, {}, "units['a.service'].parked is a str"),
        ({'a.service': {'ineffective': '9'}}, {}, "units['a.service'].ineffective is a str"),
        ({'a.service': {'ineffective': True}}, {}, "units['a.service'].ineffective is a bool"),
        ({'a.service': {'ineffective': -1}}, {}, 'ineffective must be >= 0'),
        ({'a.service': {'ineffective': 1.5}}, {}, "units['a.service'].ineffective is a float"),
        ({'a.service': {'parked': {'since': 'x', 'reason': 'r', 'kind': 'unit_down'}}}, {}, 'parked.since'),
        ({'a.service': {'parked': {'since': 1, 'reason': 'r'}}}, {}, 'parked.kind is missing'),
        ({'a.service': {'parked': {'since': 1, 'reason': 'r', 'kind': 'nap'}}}, {}, 'parked.kind must be one of'),
        ({'a.service': {'parked': {'since': 1, 'reason': 'r', 'kind': 'unit_down', 'x': 1}}}, {}, 'unknown key'),
        ({'a.service': {'awaiting_clean': 'yes'}}, {}, 'awaiting_clean is a str'),
        ({'a.service': {'last_seen': True}}, {}, 'last_seen is a bool'),
        ({'a.service': {'reported_at': [1]}}, {}, 'reported_at is a list'),
        ({'a.service': {'zombie_history': [[1.0, '2']]}}, {}, 'zombie_history[0][1] is a str'),
        ({'a.service': {'zombie_history': [[1.0]]}}, {}, 'zombie_history[0] must be a [time, count] pair'),
        ({'a.service': {'zombie_history': {}}}, {}, 'zombie_history is a dict'),
        ({'a.service': {'surprise': 1}}, {}, "units['a.service'] has an unknown key: surprise"),
        ({}, {'8:99': dict(GOOD_ZOMBIE, first_seen='0')}, "zombies['8:99'].first_seen is a str"),
        ({}, {'8:99': dict(GOOD_ZOMBIE, unit=5)}, "zombies['8:99'].unit is a int"),
        ({}, {'8:99': dict(GOOD_ZOMBIE, ppid='1')}, "zombies['8:99'].ppid is a str"),
        ({}, {'8:99': {'last_seen': 1.0}}, "zombies['8:99'].first_seen is missing"),
    ],
)
def test_a_wrong_type_anywhere_is_a_corrupt_state(tmp_path, units, zombies, why):
    text = json.dumps(dict(V3, units=units, zombies=zombies))
    path = _write(tmp_path / 'state.json', text)
    state, problem = cs.load(path)
    assert problem is not None and problem.kind == 'corrupt', problem
    assert why in problem.message and 'no action this run' in problem.message
    assert state == cs.empty()


def test_symlinked_state_is_unsafe_and_its_target_untouched(tmp_path):
    target = tmp_path / 'precious'
    target.write_text(json.dumps(V2))
    link = tmp_path / 'state.json'
    link.symlink_to(target)
    state, problem = cs.load(str(link))
    assert problem.kind == 'unsafe' and 'symlink' in problem.message
    with pytest.raises(cs.StateSaveError, match='symlink'):
        cs.save(cs.empty(), str(link))
    assert target.read_text() == json.dumps(V2) and os.path.islink(str(link))


def test_state_that_is_a_directory_or_fifo_is_unsafe(tmp_path):
    os.mkfifo(str(tmp_path / 'fifo'))
    (tmp_path / 'dir').mkdir()
    for name in ('fifo', 'dir'):
        state, problem = cs.load(str(tmp_path / name))
        assert problem.kind == 'unsafe' and 'not a regular file' in problem.message, name


@pytest.mark.parametrize('mode', [0o620, 0o602, 0o666])
def test_group_or_world_writable_state_is_unsafe(tmp_path, mode):
    path = _write(tmp_path / 'state.json', json.dumps(V2), mode)
    state, problem = cs.load(path)
    assert problem.kind == 'unsafe' and 'writable by group or others' in problem.message


def test_foreign_owner_is_unsafe_and_not_replaced(tmp_path):
    path = _write(tmp_path / 'state.json', json.dumps(V2))
    os.chown(path, 65534, 65534)
    state, problem = cs.load(path)
    assert problem.kind == 'unsafe' and 'uid 65534' in problem.message
    with pytest.raises(cs.StateSaveError, match='uid 65534'):
        cs.save(cs.empty(), path)
    assert os.stat(path).st_uid == 65534 and json.load(open(path)) == V2


def test_hard_linked_state_is_unsafe(tmp_path):
    path = _write(tmp_path / 'state.json', json.dumps(V2))
    os.link(path, str(tmp_path / 'other-name'))
    assert cs.load(path)[1].kind == 'unsafe'


def test_unreadable_state_is_a_problem(tmp_path, monkeypatch):
    path = _write(tmp_path / 'state.json', json.dumps(V2))
    real_open = os.open

    def deny(name, *args, **kwargs):
        if name == path:
            raise OSError(errno.EACCES, 'Permission denied', name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, 'open', deny)
    state, problem = cs.load(path)
    assert problem.kind == 'unreadable' and 'Permission denied' in problem.message


# ---------------------------------------------------------------- save: never swallowed, never half
@pytest.mark.parametrize('where', ['write', 'fsync'])
def test_full_disk_raises_and_keeps_the_old_file(tmp_path, monkeypatch, where):
    path = _write(tmp_path / 'state.json', json.dumps(V2))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, where, full)
    with pytest.raises(cs.StateSaveError) as caught:
        cs.save(dict(V2, cooldowns={'b.service': 2000.0}), path)
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert json.load(open(path)) == V2
    assert sorted(os.listdir(str(tmp_path))) == ['state.json'], 'the temporary file is removed'


def test_save_refuses_nan(tmp_path):
    with pytest.raises(cs.StateSaveError, match='JSON'):
        cs.save(dict(V2, cooldowns={'a.service': float('nan')}), str(tmp_path / 'state.json'))
    assert os.listdir(str(tmp_path)) == []


def test_save_fsyncs_the_file_and_the_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink('/proc/self/fd/%d' % fd))
        return real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', fsync)
    cs.save(cs.empty(), str(tmp_path / 'state.json'))
    assert len(synced) == 2
    assert synced[0].startswith(str(tmp_path / '.state.json.')) and synced[1] == str(tmp_path)
