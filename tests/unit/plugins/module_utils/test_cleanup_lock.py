# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils.cleanup_lock import CleanupLock, LockHeld, LockUnsafe

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


# ---------------------------------------------------------------- never write where root should not
def test_lock_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / 'passwd'
    target.write_text('root:x:0:0::/root:/bin/sh\n')
    link = tmp_path / 'lock'
    link.symlink_to(target)
    with pytest.raises(LockUnsafe, match='symlink'):
        CleanupLock(str(link)).acquire()
    assert target.read_text() == 'root:x:0:0::/root:/bin/sh\n'


def test_dangling_symlink_is_refused_and_nothing_created(tmp_path):
    link = tmp_path / 'lock'
    link.symlink_to(tmp_path / 'created-by-root')
    with pytest.raises(LockUnsafe):
        CleanupLock(str(link)).acquire()
    assert not (tmp_path / 'created-by-root').exists()


def test_lock_owned_by_another_uid_is_refused_and_untouched(tmp_path):
    path = tmp_path / 'lock'
    path.write_text('precious\n')
    os.chown(str(path), 65534, 65534)
    with pytest.raises(LockUnsafe, match='uid 65534'):
        CleanupLock(str(path)).acquire()
    assert path.read_text() == 'precious\n'
    # and it is not left locked
    os.chown(str(path), os.geteuid(), os.getegid())
    with CleanupLock(str(path)):
        pass


def test_hard_link_to_another_file_is_refused(tmp_path):
    other = tmp_path / 'shadow'
    other.write_text('secret\n')
    os.link(str(other), str(tmp_path / 'lock'))
    with pytest.raises(LockUnsafe, match='2 links'):
        CleanupLock(str(tmp_path / 'lock')).acquire()
    assert other.read_text() == 'secret\n'


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(str(tmp_path / 'lock'))
    with pytest.raises(LockUnsafe, match='not a regular file'):
        CleanupLock(str(tmp_path / 'lock')).acquire()


def test_existing_lock_is_not_truncated_before_it_is_held(tmp_path):
    path = str(tmp_path / 'lock')
    with CleanupLock(path):
        with pytest.raises(LockHeld):
            CleanupLock(path).acquire()
        with open(path) as handle:
            assert handle.read() == '%d\n' % os.getpid(), "the waiting opener did not truncate the holder's file"
