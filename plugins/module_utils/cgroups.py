# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cgroup layout handling: which hierarchy carries unit membership, and how to
turn a path read from /proc into the path systemd reports.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

DELETED_SUFFIX = " (deleted)"
UNIFIED_KEY = "0::"
SYSTEMD_V1_KEY = "name=systemd"
INIT_SCOPE = "init.scope"


def detect_layout(mountinfo_text):
    """Return 'unified', 'hybrid' or 'legacy' from /proc/self/mountinfo.

    /proc/PID/cgroup alone cannot tell: kernels with cgroup2 support print a
    '0::' line even when no cgroup2 file system is mounted.
    """
    cgroup2_at_root = False
    cgroup2_elsewhere = False
    for line in mountinfo_text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fstype = right.split(" ", 1)[0]
        if fstype != "cgroup2":
            continue
        fields = left.split()
        mount_point = fields[4] if len(fields) > 4 else ""
        if mount_point == "/sys/fs/cgroup":
            cgroup2_at_root = True
        else:
            cgroup2_elsewhere = True
    if cgroup2_at_root:
        return "unified"
    if cgroup2_elsewhere:
        return "hybrid"
    return "legacy"


def parse_cgroup_file(text):
    """Map hierarchy key ('0::' or the v1 controller list) to its path."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, controllers, path = parts
        key = UNIFIED_KEY if controllers == "" else controllers
        paths[key] = strip_deleted(path)
    return paths


def strip_deleted(path):
    if path.endswith(DELETED_SUFFIX):
        return path[: -len(DELETED_SUFFIX)]
    return path


def _v1_systemd_key(paths):
    for key in paths:
        if SYSTEMD_V1_KEY in key.split(","):
            return key
    return None


def choose_hierarchy(pid1_paths, layout):
    """Pick the hierarchy in which PID 1 sits in init.scope.

    In podman containers on hybrid hosts the '0::' line only shows the
    container's root while membership lives on 'name=systemd'; on pure v2 only
    '0::' exists. Fall back to the layout's natural hierarchy when PID 1 is not
    systemd.
    """
    v1_key = _v1_systemd_key(pid1_paths)
    candidates = [v1_key, UNIFIED_KEY] if layout != "unified" else [UNIFIED_KEY, v1_key]
    for key in candidates:
        if key is not None and pid1_paths.get(key, "").endswith("/" + INIT_SCOPE):
            return key
    for key in candidates:
        if key is not None and key in pid1_paths:
            return key
    return UNIFIED_KEY


class CgroupView:
    """Translate /proc cgroup paths to systemd's ControlGroup namespace."""

    def __init__(self, layout, hierarchy, prefix=""):
        self.layout = layout
        self.hierarchy = hierarchy
        self.prefix = prefix
        # A host has far fewer distinct cgroup files than processes (223 for
        # 11,000 processes in the benchmark): parse each text once.
        self._paths = {}

    def path_of(self, cgroup_text):
        """Path of one process on the chosen hierarchy, or None if absent."""
        if cgroup_text not in self._paths:
            path = parse_cgroup_file(cgroup_text).get(self.hierarchy)
            self._paths[cgroup_text] = None if path is None else self.to_systemd(path)
        return self._paths[cgroup_text]

    def to_systemd(self, path):
        prefix = self.prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix) :] or "/"
        return path

    def with_init_scope(self, pid1_raw_path, init_scope_control_group):
        """Derive the prefix: PID 1's path minus what systemd calls init.scope.

        Entered with nsenter, /proc may say '/payload/init.scope' where systemd
        says '/init.scope'; without a cgroup namespace both carry the same prefix.
        """
        prefix = ""
        if init_scope_control_group and pid1_raw_path and pid1_raw_path.endswith(init_scope_control_group):
            prefix = pid1_raw_path[: -len(init_scope_control_group)]
        return CgroupView(self.layout, self.hierarchy, prefix.rstrip("/"))


def read_view(proc_root="/proc"):
    """The layout and hierarchy of this host, before systemd is asked for the prefix."""
    layout = detect_layout(_read_text(os.path.join(proc_root, "self", "mountinfo")))
    pid1 = parse_cgroup_file(_read_text(os.path.join(proc_root, "1", "cgroup")))
    hierarchy = choose_hierarchy(pid1, layout)
    return CgroupView(layout, hierarchy), pid1.get(hierarchy)


def _read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return ""


def unit_of_path(path):
    """The last path component that names a unit (x.service, y.scope), or None."""
    for component in reversed(path.split("/")):
        if component.endswith((".service", ".scope", ".slice", ".socket", ".mount", ".swap")):
            return component
    return None
