# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import os
import re

from ansible_collections.reaper.systemd.plugins.module_utils import prom_textfile as pt

__metaclass__ = type

FACTS = {
    'host': {'zombies': 7, 'pid_usage': 0.125},
    'units': {
        'factory.service': {'counts': {'zombies': 5, 'leftovers': 0, 'survivors': 0, 'escaped': 0}},
        'we"ird.service': {'counts': {'zombies': 0, 'leftovers': 2, 'survivors': 1, 'escaped': 3}},
    },
}


def test_render_names_labels_no_timestamps(tmp_path):
    path = pt.write(str(tmp_path), pt.samples_from(FACTS, {'restart_unit|done': 2}, 100.0, 101.5))
    text = open(path).read()
    assert os.listdir(str(tmp_path)) == ['reaper_systemd.prom']
    assert 'reaper_unit_zombies{unit="factory.service"} 5\n' in text
    assert 'reaper_unit_escaped{unit="we\\"ird.service"} 3\n' in text
    assert 'reaper_host_zombies 7\n' in text
    assert 'reaper_host_pid_usage_ratio 0.125\n' in text
    assert 'reaper_actions_total{action="restart_unit",result="done"} 2\n' in text
    assert 'reaper_last_run_duration_seconds 1.5\n' in text
    assert '# TYPE reaper_actions_total counter' in text
    for line in text.splitlines():
        if not line.startswith('#'):
            # name{labels} value  -- exactly two fields: no timestamp
            assert re.match(r'^[a-z_]+(\{[^}]*\})? \S+$', line), line
    assert text.count('# HELP reaper_unit_zombies ') == 1
