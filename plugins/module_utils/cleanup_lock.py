# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock shared by ``reaper.systemd.reap`` and the timer's cleanup command.

``flock(LOCK_EX | LOCK_NB)`` on a file that is never unlinked (unlinking a
lock file lets two holders lock two different inodes), in a directory that
outlives the oneshot service (RuntimeDirectoryPreserve=yes / tmpfiles.d).
The kernel drops the lock when the holder dies: no stale lock files.

Root opens this file, so it is opened without following symlinks and without
truncating; only once the lock is held and the file is known to be a regular
file owned by root with a single link is it truncated and given our PID.
Anything else is refused and left untouched.
"""

from __future__ import absolute_import, division, print_function

import errno
import fcntl
import os
import stat

from .atomic_file import trusted_owner

__metaclass__ = type

LOCK_PATH = '/run/reaper-systemd/lock'


class LockHeld(Exception):
    """Another cleanup holds the lock."""


class LockUnsafe(OSError):
    """The lock path is a symlink, not a regular file, not root's, or has other links: not touched."""


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
        # no O_TRUNC: the file may be someone else's until it is checked below
        flags = os.O_RDWR | os.O_CREAT | os.O_NOCTTY | os.O_NONBLOCK
        flags |= getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockUnsafe(errno.ELOOP, 'the lock is a symlink; refusing to use it (remove it)', self.path)
            raise
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
        problem = self._unsafe(fd)
        if problem:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise LockUnsafe(errno.EPERM, 'the lock %s; refusing to write to it' % problem, self.path)
        # only the holder writes, and only after locking
        os.ftruncate(fd, 0)
        os.write(fd, ('%d\n' % os.getpid()).encode('ascii'))
        self.fd = fd
        return self

    @staticmethod
    def _unsafe(fd):
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return 'is not a regular file'
        if not trusted_owner(info.st_uid):
            return 'is owned by uid %d, not root' % info.st_uid
        if info.st_nlink != 1:
            return 'has %d links (another name points at this file)' % info.st_nlink
        return None

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
