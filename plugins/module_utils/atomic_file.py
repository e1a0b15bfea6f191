# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace a file so that a reader sees the old content or the new, never half.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def write_atomically(path, text, mode):
    """Write ``text`` to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The temporary file lives in the same directory so that the rename stays on
    one file system (node_exporter's textfile collector relies on this).
    """
    directory = os.path.dirname(path) or '.'
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
