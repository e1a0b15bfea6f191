# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for a path an operator gives the collection, and the one list of shared directories.

Every path option (the cleanup's state, lock, pause file and textfile directory, the
drop-in directory, the fleet report's directory) goes through ``path_problem``, through
``option_checks.absolute_path`` on the host side and directly in the controller's
action. A path the collection writes to, makes writable for its hardened service
(``ReadWritePaths=``) or creates must never be a directory the whole system shares:
``/tmp`` given as the metrics directory once became mode 0755 and no user could write
there any more.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

# PATH_MAX (4096) counts the terminating NUL; NAME_MAX is per component. Longer paths fail
# with ENAMETOOLONG, which a check such as "does the pause file exist" must never read as "no".
PATH_MAX_BYTES = 4095
NAME_MAX_BYTES = 255
# Glob characters: a path is a path, never a pattern (glob() over unit_dir would expand them).
_GLOB = re.compile(r'[*?\[\]]')

# Directories the whole system shares: the file system's own layout (FHS and systemd's
# file-hierarchy(7)), world-writable scratch space, kernel interfaces, home directories. None
# of them is the collection's: never created, chmodded, chowned or made writable by it.
SHARED_DIRECTORIES = frozenset(
    (
        '/',
        '/bin',
        '/boot',
        '/dev',
        '/dev/shm',
        '/efi',
        '/etc',
        '/etc/systemd',
        '/home',
        '/lib',
        '/lib32',
        '/lib64',
        '/libx32',
        '/lost+found',
        '/media',
        '/mnt',
        '/opt',
        '/proc',
        '/root',
        '/run',
        '/run/lock',
        '/run/shm',
        '/run/systemd',
        '/run/user',
        '/sbin',
        '/snap',
        '/srv',
        '/sys',
        '/tmp',
        '/usr',
        '/usr/bin',
        '/usr/lib',
        '/usr/lib64',
        '/usr/libexec',
        '/usr/local',
        '/usr/local/bin',
        '/usr/local/lib',
        '/usr/local/sbin',
        '/usr/local/share',
        '/usr/sbin',
        '/usr/share',
        '/var',
        '/var/backups',
        '/var/cache',
        '/var/lib',
        '/var/lib/systemd',
        '/var/local',
        '/var/lock',
        '/var/log',
        '/var/mail',
        '/var/opt',
        '/var/run',
        '/var/spool',
        '/var/tmp',
    )
)
# Kernel interfaces: nothing under them is a file the collection may keep or write.
KERNEL_TREES = ('/proc', '/sys', '/dev')


def normalise(path):
    """'//tmp/', '/tmp/.' and '/tmp' are the same directory: one spelling to compare."""
    normal = os.path.normpath(path)
    if normal.startswith('//'):
        # POSIX keeps a leading '//' as implementation-defined; Linux reads it as '/'
        normal = '/' + normal.lstrip('/')
    return normal


def shared_directory(path):
    """Why an absolute path is a system or shared directory (or under a kernel tree), or None."""
    normal = normalise(path)
    if normal in SHARED_DIRECTORIES:
        return 'must not be a system or shared directory (%s)' % normal
    for tree in KERNEL_TREES:
        if normal.startswith(tree + '/'):
            return 'must not be under %s (a kernel interface, not storage)' % tree
    return None


def path_problem(value):
    """(normal form, None) for an acceptable path, or (None, why it is refused).

    The value must already be a string without control or invisible characters
    (option_checks.safe_string). Refused: relative paths, '..' anywhere, glob
    characters, paths longer than PATH_MAX or with a component longer than NAME_MAX
    (in bytes), and the shared directories in every spelling ('/tmp/', '//tmp', '/tmp/.').
    """
    if not value.startswith('/'):
        return None, 'must be an absolute path'
    if '..' in value.split('/'):
        return None, "must not contain '..'"
    if _GLOB.search(value):
        return None, "must not contain the glob characters '*', '?', '[' or ']'"
    encoded = value.encode('utf-8', 'surrogatepass')
    if len(encoded) > PATH_MAX_BYTES:
        return None, 'must not be longer than %d bytes (PATH_MAX)' % PATH_MAX_BYTES
    if any(len(part) > NAME_MAX_BYTES for part in encoded.split(b'/')):
        return None, 'must not have a component longer than %d bytes (NAME_MAX)' % NAME_MAX_BYTES
    problem = shared_directory(value)
    if problem:
        return None, problem
    return normalise(value), None
