# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_state as cs

__metaclass__ = type


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
