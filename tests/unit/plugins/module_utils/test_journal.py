# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import io
import re
import socket
import struct

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import journal

__metaclass__ = type


def _decode(data):
    """Minimal native-protocol decoder (both the KEY=VALUE and the binary form)."""
    fields = {}
    while data:
        nl = data.index(b'\n')
        line = data[:nl]
        if b'=' in line:
            key, value = line.split(b'=', 1)
            fields[key.decode()] = value.decode()
            data = data[nl + 1 :]
        else:
            size = struct.unpack('<Q', data[nl + 1 : nl + 9])[0]
            fields[line.decode()] = data[nl + 9 : nl + 9 + size].decode()
            data = data[nl + 9 + size + 1 :]
    return fields


@pytest.fixture
def fake_journald(tmp_path):
    path = str(tmp_path / 'socket')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_message_ids_are_fixed_128_bit_and_unique():
    ids = list(journal.MESSAGE_IDS.values())
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert re.match(r'^[0-9a-f]{32}$', value)
    for kind in (
        'nudge_parent',
        'restart_unit',
        'kill_leftovers',
        'kill_survivors',
        'terminate_escaped',
        'kill_worker_parent',
    ):
        assert kind in journal.MESSAGE_IDS


def test_native_protocol_fields(fake_journald):
    path, sock = fake_journald
    jr = journal.Journal(socket_path=path)
    assert (
        jr.log(
            'kill_leftovers',
            'killing left-over 42 (worker) of x.service',
            unit='x.service',
            pid=42,
            reason='left-over of a failed unit',
        )
        == 'journal'
    )
    fields = _decode(sock.recv(65536))
    assert fields['SYSLOG_IDENTIFIER'] == 'reaper-systemd'
    assert fields['MESSAGE_ID'] == journal.MESSAGE_IDS['kill_leftovers']
    assert fields['UNIT'] == 'x.service'
    assert fields['OBJECT_PID'] == '42'
    assert fields['REASON'] == 'left-over of a failed unit'
    assert fields['PRIORITY'] == '5'


def test_multiline_bytes_use_binary_form(fake_journald):
    path, sock = fake_journald
    journal.Journal(socket_path=path).log('run_summary', 'summary', detail=b'line one\nline two')
    assert _decode(sock.recv(65536))['REAPER_DETAIL'] == 'line one\nline two'


HOSTILE = 'worker\nreaper-systemd[1]: all clear \x1b[31m\u202e'
SHOWN = 'worker\\x0areaper-systemd[1]: all clear \\x1b[31m\\u202e'


def test_text_fields_are_one_printable_line(fake_journald):
    """journalctl shows MESSAGE on a terminal: a process name cannot forge a line or colour it."""
    path, sock = fake_journald
    journal.Journal(socket_path=path).log('kill_leftovers', 'killing 42 (%s)' % HOSTILE, reason=HOSTILE, pid=42)
    fields = _decode(sock.recv(65536))
    assert fields['MESSAGE'] == 'killing 42 (%s)' % SHOWN
    assert fields['REASON'] == SHOWN
    assert fields['OBJECT_PID'] == '42'


def test_stderr_fallback_is_one_printable_line(tmp_path):
    stream = io.StringIO()
    jr = journal.Journal(socket_path=str(tmp_path / 'absent'), stream=stream)
    jr.log('kill_leftovers', 'killing 42 (%s)' % HOSTILE, reason=HOSTILE)
    lines = stream.getvalue().split('\n')
    assert lines[1:] == [''] and lines[0].isprintable()
    assert SHOWN in lines[0]


def test_fallback_to_stderr_without_journal(tmp_path):
    stream = io.StringIO()
    jr = journal.Journal(socket_path=str(tmp_path / 'absent'), stream=stream)
    assert jr.log('restart_unit', 'restarting f.service', unit='f.service', reason='12 zombies') == 'stderr'
    assert 'reaper-systemd[' in stream.getvalue()
    assert 'restarting f.service' in stream.getvalue()
    assert '12 zombies' in stream.getvalue()
    assert jr.sent[0]['MESSAGE_ID'] == journal.MESSAGE_IDS['restart_unit']
