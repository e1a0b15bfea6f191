"""The scan against this machine's real /proc: real zombies, both backends."""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import cgroups, proc_table
from ansible_collections.reaper.systemd.plugins.module_utils.scan import ScanOptions, scan

ZOMBIE_MAKER = r"""
import os, sys, time
pids = []
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    pids.append(pid)
print(" ".join(str(p) for p in pids), flush=True)
time.sleep(600)
"""


@pytest.fixture
def zombie_parent():
    """A real process with three children it never reaps."""
    parent = subprocess.Popen([sys.executable, "-c", ZOMBIE_MAKER, "3"], stdout=subprocess.PIPE, text=True)
    try:
        children = [int(p) for p in parent.stdout.readline().split()]
        deadline = time.time() + 10
        while time.time() < deadline and not all(_state(pid) == "Z" for pid in children):
            time.sleep(0.05)
        assert all(_state(pid) == "Z" for pid in children), "children did not become zombies"
        yield parent.pid, children
    finally:
        parent.kill()
        parent.wait()


def _state(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("backend", ["procfs", "psutil"])
def test_real_zombies_are_reported_with_their_parent(zombie_parent, backend):
    parent_pid, children = zombie_parent
    facts = scan(ScanOptions(min_zombie_age=0, backend=backend, max_items=10000)).facts
    zombies = facts["host"]["zombies_outside_units"] + [z for unit in facts["units"].values() for z in unit["zombies"]]
    mine = sorted((z["pid"], z["ppid"], z["parent_comm"]) for z in zombies if z["ppid"] == parent_pid)
    comm = _comm(parent_pid)
    assert mine == [(pid, parent_pid, comm) for pid in sorted(children)]
    assert facts["host"]["zombies"] >= 3
    assert facts["host"]["backend"] == backend
    assert any(f["code"] == "zombies" for f in facts["findings"])


def _comm(pid):
    with open("/proc/%d/comm" % pid) as handle:
        return handle.read().strip()


def test_backends_give_identical_records_on_the_live_table(zombie_parent):
    view = cgroups.read_view()[0]
    first = proc_table.snapshot(view, "procfs")
    via_psutil = proc_table.snapshot(view, "psutil")
    second = proc_table.snapshot(view, "procfs")
    # Compare the processes that did not change while we looked (the test machine is busy).
    stable = [
        pid
        for pid in first.processes
        if pid in second.processes
        and first.processes[pid].as_tuple() == second.processes[pid].as_tuple()
        and pid in via_psutil.processes
        and pid != os.getpid()
    ]
    assert len(stable) > 10
    for pid in zombie_parent[1]:
        assert pid in stable
    mismatches = [
        (first.processes[pid], via_psutil.processes[pid])
        for pid in stable
        if _identity(first.processes[pid]) != _identity(via_psutil.processes[pid])
    ]
    assert mismatches == []


def _identity(proc):
    """The fields that cannot change between two reads of a settled process.

    A running process flips between R and S and may start a thread between two
    passes, and the kernel renames a kworker after the work item it runs; the
    zombie state is compared (a zombie stays one until reaped).
    """
    return (
        proc.pid,
        proc.ppid,
        proc.is_zombie,
        None if proc.kthread else proc.comm,
        proc.uid,
        proc.starttime,
        proc.session,
        proc.pgrp,
        proc.kthread,
        proc.cgroup,
    )


def test_psutil_backend_reports_a_clear_error_when_psutil_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    view = cgroups.read_view()[0]
    with pytest.raises(proc_table.BackendUnavailable, match="python3-psutil"):
        proc_table.snapshot(view, "psutil")
