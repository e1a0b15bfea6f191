# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit lines to journald through its native protocol (stdlib only).

Every remediation action is logged BEFORE it is taken, with
``SYSLOG_IDENTIFIER=reaper-systemd``, one fixed ``MESSAGE_ID`` per action
kind, ``UNIT=``, ``OBJECT_PID=`` (journald then attaches the target's unit and
command line) and ``REASON=``. Without a journal socket the line goes to
stderr, so nothing is lost on hosts without journald.
"""

from __future__ import absolute_import, division, print_function

import os
import socket
import struct
import sys

from .safe_text import clean

__metaclass__ = type

JOURNAL_SOCKET = '/run/systemd/journal/socket'
IDENTIFIER = 'reaper-systemd'

# Stable 128-bit ids, generated once. Never change them: operators filter on them
# (journalctl MESSAGE_ID=...).
MESSAGE_IDS = {
    'nudge_parent': '294c4ba802d54f3bbfab9018d3f90df3',
    'restart_unit': 'daaa05d4e01740c6871872e2b66ad0b7',
    'kill_leftovers': 'c417397bcaf646029a32ac0ba4fb6fae',
    'kill_survivors': 'bd3c124e70644742bd022f26f4e9fd74',
    'terminate_escaped': 'bc0c84d16b7e4b119199c3b18b07ab94',
    'kill_worker_parent': '4a92d91a7424493ca71024936e0992ed',
    'run_summary': '8115c2d3f34749edb4efe6b8d8f25918',
    'skipped_locked': 'b5cf94f4a6754c62a34e4ab2c172aa89',
    'refused': 'd19c2e376a0742da99350ccd27410542',
    'state_problem': '5b21ea8a798f4e2d979a1116fb83224b',
    'write_ahead_failed': 'fd77716dbd3440c7a8f6c4e139a2aa4c',
    'paused': '5880a62bfe7f42ff9d0272fe8cec8e39',
    'parked': 'cbb3bec60ab14de784a43d3ca373e15a',
    'unparked': 'fe7928208eb343ffaa95fe67e9ad4a45',
    'metrics_failed': '2593657145f04d448579f8553b2281f6',
    'systemd_query_fallback': '3659ad1c242d4ca18b23564fe9cd7202',
    'circuit_breaker': 'aa140f07bb8947ad890274dd07558077',
}

PRIORITY = {'emerg': 0, 'alert': 1, 'crit': 2, 'err': 3, 'warning': 4, 'notice': 5, 'info': 6, 'debug': 7}


def _field(key, value):
    key = key.upper().encode('ascii')
    if not isinstance(value, bytes):
        value = str(value).encode('utf-8', 'replace')
    if b'\n' in value:
        # binary-safe form: KEY\n<le64 length><value>\n
        return key + b'\n' + struct.pack('<Q', len(value)) + value + b'\n'
    return key + b'=' + value + b'\n'


def encode(fields):
    """Encode a dict of fields into one native-protocol datagram."""
    return b''.join(_field(k, v) for k, v in fields.items() if v is not None)


class Journal:
    """Sends entries to journald; falls back to ``stream`` (stderr) without it."""

    def __init__(self, socket_path=JOURNAL_SOCKET, stream=None, enabled=True):
        self.socket_path = socket_path
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.sent = []  # entries written, for results and tests

    def available(self):
        return self.enabled and os.path.exists(self.socket_path)

    def log(self, kind, message, unit=None, pid=None, reason=None, priority='notice', **extra):
        fields = {
            'MESSAGE': message,
            'PRIORITY': PRIORITY.get(priority, 5),
            'SYSLOG_IDENTIFIER': IDENTIFIER,
            'MESSAGE_ID': MESSAGE_IDS.get(kind),
            'REAPER_ACTION': kind,
            'UNIT': unit,
            'OBJECT_PID': pid,
            'REASON': reason,
        }
        for key, value in extra.items():
            fields['REAPER_' + key.upper()] = value
        fields = dict((k, clean(v) if isinstance(v, str) else v) for k, v in fields.items())
        self.sent.append(dict((k, v) for k, v in fields.items() if v is not None))
        if self.available():
            try:
                self._send(encode(fields))
                return 'journal'
            except OSError:
                pass
        line = '%s[%d]: %s' % (IDENTIFIER, os.getpid(), fields['MESSAGE'])
        if reason:
            line += ' (reason: %s)' % fields['REASON']
        try:
            self.stream.write(line + '\n')
            self.stream.flush()
        except (OSError, ValueError):
            pass
        return 'stderr'

    def _send(self, data):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.sendto(data, self.socket_path)
        finally:
            sock.close()
