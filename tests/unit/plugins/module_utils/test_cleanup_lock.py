# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils.cleanup_lock import CleanupLock, LockHeld

__metaclass__ = type


def test_second_holder_is_refused_and_file_stays(tmp_path):
    path = str(tmp_path / 'run' / 'lock')
    with CleanupLock(path):
        assert os.path.exists(path)
        with pytest.raises(LockHeld, match='another cleanup is running.*PID %d' % os.getpid()):
            CleanupLock(path).acquire()
    assert os.path.exists(path), 'the lock file is never unlinked'
    with CleanupLock(path):
        pass


def test_lock_held_by_another_process(tmp_path):
    path = str(tmp_path / 'lock')
    code = (
        'import fcntl, os, sys, time\n'
        'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n'
        'fcntl.flock(fd, fcntl.LOCK_EX)\n'
        'print("locked", flush=True)\n'
        'sys.stdin.read()\n'
    )
    holder = subprocess.Popen([sys.executable, '-c', code, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b'locked'
        with pytest.raises(LockHeld, match='held by PID %d' % holder.pid):
            CleanupLock(path).acquire()
        assert CleanupLock(path).holder() == holder.pid, 'the holder comes from the kernel, not the file'
    finally:
        holder.stdin.close()
        holder.wait()
    # the kernel released it when the holder exited
    lock = CleanupLock(path).acquire()
    lock.release()
