# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock shared by ``reaper.systemd.reap`` and the timer's cleanup command.

``flock(LOCK_EX | LOCK_NB)`` on a file that is never unlinked (unlinking a
lock file lets two holders lock two different inodes), in a directory that
outlives the oneshot service (RuntimeDirectoryPreserve=yes / tmpfiles.d).
The kernel drops the lock when the holder dies: no stale lock files.
"""

from __future__ import absolute_import, division, print_function

import errno
import fcntl
import os

__metaclass__ = type

LOCK_PATH = '/run/reaper-systemd/lock'


class LockHeld(Exception):
    """Another cleanup holds the lock."""


class CleanupLock:
    def __init__(self, path=LOCK_PATH):
        self.path = path
        self.fd = None

    def holder(self, proc_locks='/proc/locks'):
        """PID holding the lock according to the kernel (/proc/locks), or None."""
        try:
            st = os.stat(self.path)
            want = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
            with open(proc_locks) as handle:
                for line in handle:
                    fields = line.split()
                    # "1: FLOCK  ADVISORY  WRITE 10703 00:1a:1234 0 EOF"
                    if len(fields) >= 6 and fields[1] == 'FLOCK' and fields[5] == want:
                        return int(fields[4])
        except (OSError, ValueError):
            return None
        return None

    def acquire(self):
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = self.holder()
                raise LockHeld(
                    'another cleanup is running (lock %s held%s)' % (self.path, ' by PID %d' % holder if holder else '')
                )
            raise
        # only the holder writes, and only after locking
        os.ftruncate(fd, 0)
        os.write(fd, ('%d\n' % os.getpid()).encode('ascii'))
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
