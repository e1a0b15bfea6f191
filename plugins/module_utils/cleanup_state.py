# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent state of the cleanup: /var/lib/reaper-systemd/state.json.

Holds how long each zombie has been seen, zombies per unit across runs (to
tell an accumulating factory from a one-off), and the per-unit cool-downs and
the action budget shared by the timer and ``reaper.systemd.reap``. This
module reads and writes the file; ``cleanup_memory`` keeps the books in it.

Cool-downs must fail closed: a state file that cannot be trusted (corrupt,
truncated, empty, written by a newer release, a symlink, someone else's file)
is reported as a problem, the run takes no action, and the file is never
written over. A missing file is an empty state; an older layout is migrated
(``state_layout``), and every field is checked to the leaf.
Saving is atomic and raises StateSaveError on any failure (a full disk
included): the caller decides, nothing is swallowed here.
"""

from __future__ import absolute_import, division, print_function

import errno
import json
import os
import stat

from . import state_layout
from .atomic_file import UnsafeTarget, trusted_owner, write_atomically

__metaclass__ = type

STATE_PATH = '/var/lib/reaper-systemd/state.json'
VERSION = state_layout.VERSION
# A state file grows with units and zombies seen in the last week; far below this.
STATE_MAX_BYTES = 64 * 1024 * 1024
LAYOUT = state_layout.LAYOUT
PROBLEM_KINDS = ('corrupt', 'newer', 'unsafe', 'unreadable')


class StateProblem:
    """Why a state file cannot be used: ``kind`` (one of PROBLEM_KINDS) and a message for the journal."""

    __slots__ = ('kind', 'message')

    def __init__(self, kind, message):
        if kind not in PROBLEM_KINDS:
            raise ValueError('unknown state problem kind %r' % kind)
        self.kind = kind
        self.message = message

    def __repr__(self):
        return 'StateProblem(%r, %r)' % (self.kind, self.message)

    def __str__(self):
        return self.message


class StateSaveError(OSError):
    """The state could not be saved (the old file, if any, is unchanged)."""


def empty():
    return {'version': VERSION, 'zombies': {}, 'units': {}, 'cooldowns': {}, 'counters': {}, 'actions': []}


def _reject_constant(name):
    raise ValueError('%s is not a JSON number' % name)


def _layout_problem(data):
    """What is wrong with a parsed, migrated state (to the leaf), or None."""
    try:
        state_layout.check(data)
    except state_layout.LayoutError as exc:
        return str(exc)
    return None


def _read(path):
    """Bytes of the state file, after checking it is one root can trust. Raises OSError or _Unsafe."""
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0) | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Unsafe('is not a regular file')
        if not trusted_owner(info.st_uid):
            raise _Unsafe('is owned by uid %d, not root' % info.st_uid)
        if info.st_mode & 0o022:
            raise _Unsafe('is writable by group or others (mode %04o)' % stat.S_IMODE(info.st_mode))
        if info.st_nlink > 1:
            raise _Unsafe('has %d hard links' % info.st_nlink)
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > STATE_MAX_BYTES:
                raise _Unsafe('is larger than %d bytes' % STATE_MAX_BYTES)
            chunks.append(chunk)
        return b''.join(chunks)
    finally:
        os.close(fd)


class _Unsafe(Exception):
    pass


def load(path=STATE_PATH):
    """Return (state, problem).

    Missing file: (empty state, None). Version 1: migrated, None. Otherwise, with
    a problem (StateProblem), the state is empty and the caller must take no
    action and must not save over the file.
    """

    def problem(kind, why):
        return empty(), StateProblem(kind, 'state file %s %s: no action this run' % (path, why))

    try:
        raw = _read(path)
    except _Unsafe as exc:
        return problem('unsafe', str(exc))
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return empty(), None
        if exc.errno == errno.ELOOP:
            return problem('unsafe', 'is a symlink')
        return problem('unreadable', 'cannot be read (%s)' % (exc.strerror or exc))
    if not raw.strip():
        return problem('corrupt', 'is empty')
    try:
        data = json.loads(raw.decode('utf-8'), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return problem('corrupt', 'is not valid JSON, perhaps truncated (%s)' % exc)
    if not isinstance(data, dict):
        return problem('corrupt', 'has an unknown layout (the top level is not an object)')
    version = data.get('version')
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return problem('corrupt', 'has no valid version: %r' % (version,))
    if version > VERSION:
        return problem(
            'newer', 'was written by a newer release (layout version %d, this one reads up to %d)' % (version, VERSION)
        )
    data = state_layout.migrate(data)
    why = _layout_problem(data)
    if why:
        return problem('corrupt', 'has a bad layout: %s' % why)
    return data, None


def save(state, path=STATE_PATH):
    """Write atomically: a reader sees the old file or the new one, never half.

    Raises StateSaveError (an OSError) on any failure: a full disk, a read-only
    file system, or a target that is not a regular root-owned file.
    """
    try:
        text = json.dumps(state, indent=1, sort_keys=True, allow_nan=False) + '\n'
    except (TypeError, ValueError) as exc:
        raise StateSaveError(errno.EINVAL, 'state cannot be written as JSON: %s' % exc, path)
    directory = os.path.dirname(path) or '.'
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        write_atomically(path, text, 0o600)
    except UnsafeTarget as exc:
        raise StateSaveError(exc.errno, 'cannot save the state: %s' % exc.strerror, path)
    except (IOError, OSError) as exc:
        raise StateSaveError(exc.errno, 'cannot save the state: %s' % (exc.strerror or exc), path)
