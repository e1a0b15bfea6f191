# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace a file so that a reader sees the old content or the new, never half.

Root writes these files (the state, the metrics), so nothing here follows a
symlink or writes into a file someone else put in place: the temporary file is
created exclusively and without following links, and a target that is not a
regular file owned by root is refused, not replaced.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import os
import stat

_TMP_ATTEMPTS = 20


class UnsafeTarget(OSError):
    """The path to replace is a symlink, not a regular file, or not ours."""


def trusted_owner(uid):
    """Root's files; when not running as root (unit tests), the caller's own."""
    return uid == 0 or uid == os.geteuid()


def check_target(path):
    """Raise UnsafeTarget unless ``path`` is absent or a regular, root-owned file with one link."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeTarget(errno.EPERM, 'refusing to replace a symlink', path)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeTarget(errno.EPERM, 'refusing to replace something that is not a regular file', path)
    if not trusted_owner(info.st_uid):
        raise UnsafeTarget(errno.EPERM, 'refusing to replace a file owned by uid %d, not root' % info.st_uid, path)


def _create_temporary(directory, name, mode):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
    for _attempt in range(_TMP_ATTEMPTS):
        suffix = binascii.hexlify(os.urandom(6)).decode('ascii')
        tmp = os.path.join(directory, '.%s.%s.tmp' % (name, suffix))
        try:
            return os.open(tmp, flags, mode), tmp
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    raise OSError(errno.EEXIST, 'no free temporary name', os.path.join(directory, '.%s.*.tmp' % name))


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, 'short write')
        view = view[written:]


def fsync_directory(directory):
    """Make a rename durable: fsync the directory that holds the name."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_CLOEXEC', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path, text, mode):
    """Write ``text`` to a temporary file beside ``path``, fsync it, rename it over ``path``, fsync the directory.

    The temporary file lives in the same directory so that the rename stays on
    one file system (node_exporter's textfile collector relies on this). Raises
    UnsafeTarget (an OSError) when ``path`` is a symlink or not a regular file
    owned by root, and OSError on any failure; the old file is then untouched.
    """
    directory = os.path.dirname(path) or '.'
    name = os.path.basename(path)
    data = text.encode('utf-8') if not isinstance(text, bytes) else text
    check_target(path)
    fd, tmp = _create_temporary(directory, name, mode)
    try:
        try:
            _write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        # checked again just before the rename: the name may have changed meanwhile
        check_target(path)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(directory)
    return path
