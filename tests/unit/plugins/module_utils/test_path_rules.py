# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one path rule: shared directories in every spelling, globs, '..', lengths, invisible characters."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import option_checks, path_rules

__metaclass__ = type


@pytest.mark.parametrize(
    "directory",
    [
        "/",
        "/tmp",
        "/var/tmp",
        "/etc",
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/usr",
        "/boot",
        "/home",
        "/root",
        "/var",
        "/var/lib",
        "/dev/shm",
        "/var/log",
    ],
)
@pytest.mark.parametrize("spelling", ["%s", "%s/", "/%s", "%s/.", "%s//", "%s/./"])
def test_shared_directories_are_refused_in_every_spelling(directory, spelling):
    value = spelling % directory
    with pytest.raises(option_checks.InvalidOption) as caught:
        option_checks.absolute_path("textfile_dir", value, unit_file=True)
    assert caught.value.option == "textfile_dir" and "shared directory" in str(caught.value)


@pytest.mark.parametrize("value", ["/tmp/../etc", "/var/lib/x/../../../etc", "/a/.."])
def test_dot_dot_is_refused_anywhere(value):
    with pytest.raises(option_checks.InvalidOption, match="must not contain '..'"):
        option_checks.absolute_path("pause_path", value)


@pytest.mark.parametrize("value", ["/proc/self/environ", "/sys/fs/cgroup/x", "/dev/null"])
def test_nothing_under_a_kernel_tree(value):
    with pytest.raises(option_checks.InvalidOption, match="kernel interface"):
        option_checks.absolute_path("state_path", value)


@pytest.mark.parametrize("value", ["/etc/reaper-systemd/*", "/run/lock?", "/var/lib/[ab]/state.json"])
def test_glob_characters_are_refused(value):
    with pytest.raises(option_checks.InvalidOption, match="glob"):
        option_checks.absolute_path("lock_path", value)


def test_length_bounds_in_bytes():
    longest = "/" + "/".join(["a" * 255] * 16)[: path_rules.PATH_MAX_BYTES - 1]
    assert len(longest) == path_rules.PATH_MAX_BYTES
    assert option_checks.absolute_path("pause_path", longest) == longest
    with pytest.raises(option_checks.InvalidOption, match="PATH_MAX"):
        option_checks.absolute_path("pause_path", longest + "b")
    with pytest.raises(option_checks.InvalidOption, match="NAME_MAX"):
        option_checks.absolute_path("pause_path", "/var/lib/" + "é" * 128)  # 256 bytes, 128 characters
    with pytest.raises(option_checks.InvalidOption, match="PATH_MAX"):
        option_checks.absolute_path("textfile_dir", "/x" * 2500, unit_file=True)


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\u200b", "\x85", "\u2028", "\ufeff", "\x7f"])
def test_bidi_and_invisible_characters_are_refused(char):
    with pytest.raises(option_checks.InvalidOption, match="invisible"):
        option_checks.absolute_path("textfile_dir", "/var/lib/node" + char + "exporter", unit_file=True)


@pytest.mark.parametrize(
    "value",
    [
        "/var/lib/prometheus/node-exporter",
        "/run/reaper-systemd/lock",
        "/etc/reaper-systemd/paused",
        "/srv/reaper/report",
        "/var/lib/reaper-systemd/state.json",
    ],
)
def test_ordinary_paths_pass(value):
    assert option_checks.absolute_path("x", value) == value
