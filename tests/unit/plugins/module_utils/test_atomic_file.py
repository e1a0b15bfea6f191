# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""write_atomically: never through a symlink, never over what is not root's regular file."""

from __future__ import absolute_import, division, print_function

import errno
import os

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils.atomic_file import UnsafeTarget, write_atomically

__metaclass__ = type


def test_replaces_and_sets_the_mode(tmp_path):
    path = tmp_path / 'metrics.prom'
    path.write_text('old\n')
    os.chmod(str(path), 0o600)
    write_atomically(str(path), 'new\n', 0o644)
    assert path.read_text() == 'new\n' and oct(os.stat(str(path)).st_mode & 0o777) == '0o644'
    assert os.listdir(str(tmp_path)) == ['metrics.prom']


def test_symlink_target_is_refused_and_untouched(tmp_path):
    target = tmp_path / 'passwd'
    target.write_text('keep\n')
    (tmp_path / 'metrics.prom').symlink_to(target)
    with pytest.raises(UnsafeTarget, match='symlink'):
        write_atomically(str(tmp_path / 'metrics.prom'), 'x\n', 0o644)
    assert target.read_text() == 'keep\n' and os.path.islink(str(tmp_path / 'metrics.prom'))
    assert sorted(os.listdir(str(tmp_path))) == ['metrics.prom', 'passwd']


def test_directory_target_is_refused(tmp_path):
    (tmp_path / 'metrics.prom').mkdir()
    with pytest.raises(UnsafeTarget, match='not a regular file'):
        write_atomically(str(tmp_path / 'metrics.prom'), 'x\n', 0o644)


def test_foreign_owned_target_is_refused(tmp_path):
    path = tmp_path / 'metrics.prom'
    path.write_text('theirs\n')
    os.chown(str(path), 65534, 65534)
    with pytest.raises(UnsafeTarget, match='uid 65534'):
        write_atomically(str(path), 'x\n', 0o644)
    assert path.read_text() == 'theirs\n'


def test_temporary_file_is_never_opened_through_a_planted_name(tmp_path, monkeypatch):
    """O_EXCL|O_NOFOLLOW: a name planted where the temporary file goes is not written through."""
    planted = []
    real_open = os.open

    def watch(name, flags, *args):
        if os.path.basename(name).startswith('.metrics.prom.'):
            planted.append(flags)
        return real_open(name, flags, *args)

    monkeypatch.setattr(os, 'open', watch)
    write_atomically(str(tmp_path / 'metrics.prom'), 'x\n', 0o644)
    assert planted and all(f & os.O_EXCL and f & os.O_NOFOLLOW and f & os.O_CREAT for f in planted)


def test_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'metrics.prom'
    path.write_text('old\n')

    def fail(src, dst):
        raise OSError(errno.EXDEV, 'Invalid cross-device link')

    monkeypatch.setattr(os, 'rename', fail)
    with pytest.raises(OSError):
        write_atomically(str(path), 'new\n', 0o644)
    assert path.read_text() == 'old\n' and os.listdir(str(tmp_path)) == ['metrics.prom']
