"""Which hierarchy carries unit membership, and the prefix to strip."""

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import cgroups


@pytest.mark.parametrize(
    "mountinfo, layout",
    [
        ("25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "unified"),
        (
            "26 20 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
            "27 20 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
            "hybrid",
        ),
        ("27 20 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n", "legacy"),
    ],
)
def test_detect_layout(mountinfo, layout):
    assert cgroups.detect_layout(mountinfo) == layout


def test_podman_container_uses_the_v1_systemd_hierarchy():
    pid1 = cgroups.parse_cgroup_file("9:name=systemd:/libpod_parent/libpod-ab/init.scope\n0::/\n")
    assert cgroups.choose_hierarchy(pid1, "hybrid") == "name=systemd"


def test_nsenter_prefix_is_derived_from_init_scope():
    view = cgroups.CgroupView("unified", "0::").with_init_scope("/payload/init.scope", "/init.scope")
    assert view.prefix == "/payload"
    assert view.path_of("0::/payload/system.slice/dbus.service\n") == "/system.slice/dbus.service"
    assert view.path_of("0::/payload\n") == "/"


def test_deleted_suffix_is_stripped():
    assert cgroups.parse_cgroup_file("0::/system.slice/gone.service (deleted)\n") == {
        "0::": "/system.slice/gone.service"
    }


def test_unit_of_path():
    assert cgroups.unit_of_path("/user.slice/user-0.slice/session-3.scope") == "session-3.scope"
    assert cgroups.unit_of_path("/system.slice/a.service/sub") == "a.service"
    assert cgroups.unit_of_path("/custom/dir") is None
