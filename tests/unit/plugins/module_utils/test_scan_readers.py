"""The cheaper readers detect exactly what the previous ones did.

The previous readers are kept here, in the tests only: they asked systemd
first, then read stat, status (for the uid) and cgroup of every process with
the cgroup prefix applied while reading. The scan now reads the uid only for
the processes it lists, asks systemd while /proc is read and applies the
prefix afterwards. Both run on the same synthetic hosts (every cgroup layout,
seeded random mixes of services, zombies, left-overs, survivors, escapes,
sessions, containers, kernel threads, vanished and unreadable processes) and
must give the same facts, to the last field.
"""

import errno
import os
import random

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cgroups,
    findings,
    proc_table,
    scan as scan_module,
    systemd_units,
    unit_names,
)
from ansible_collections.reaper.systemd.plugins.module_utils.analysis import Analyzer
from ansible_collections.reaper.systemd.plugins.module_utils.scan import HostPaths, ScanOptions
from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.fake_host import (
    BOOTTIME_S,
    HZ,
    MONOTONIC_S,
    FakeHost,
    ticks_at,
)

LAYOUTS = [
    dict(layout="legacy"),
    dict(layout="hybrid"),
    dict(layout="unified"),
    dict(layout="hybrid", proc_prefix="/libpod_parent/libpod-1f2e", systemd_prefix="/libpod_parent/libpod-1f2e"),
    dict(layout="unified", proc_prefix="/payload"),
]
CONTAINER_NS = "pid:[4026532999]"


# -- the previous readers, as they were ------------------------------------------


def previous_scan_procfs(proc_root, cgroup_view, clock, hz):
    """Every process's stat, status and cgroup, read eagerly through its directory fd."""
    processes = {}
    unreadable = 0
    for name in [n for n in os.listdir(proc_root) if n.isdigit()]:
        try:
            dir_fd = os.open(os.path.join(proc_root, name), os.O_RDONLY | os.O_DIRECTORY)
            try:
                stat = proc_table.StatFields(proc_table.read_at(dir_fd, "stat").decode("utf-8", "replace"))
                uid = proc_table._real_uid(proc_table.read_at(dir_fd, "status").decode("utf-8", "replace"))
                kthread = bool(stat.flags & proc_table.PF_KTHREAD)
                cgroup = None if kthread else cgroup_view.path_of(proc_table.read_at(dir_fd, "cgroup").decode("utf-8"))
            finally:
                os.close(dir_fd)
        except (IOError, OSError) as exc:
            if exc.errno not in proc_table.VANISHED:
                unreadable += 1
            continue
        pid = int(name)
        processes[pid] = proc_table.Process(
            pid,
            stat.ppid,
            stat.state,
            stat.comm,
            uid,
            stat.starttime,
            stat.session,
            stat.pgrp,
            kthread,
            stat.num_threads,
            cgroup,
        )
    table = proc_table.ProcessTable(processes, hz, clock, "procfs", proc_root)
    table.unreadable = unreadable
    table.cgroup_view = cgroup_view
    return table


def previous_scan(options, paths, runner, clock, hz):
    """The scan as it was: systemd first, then /proc with the prefix already known."""
    view, pid1_raw = cgroups.read_view(paths.proc_root)
    is_systemd = systemd_units.systemd_is_pid1(paths.booted_marker)
    units = {}
    version = None
    if is_systemd:
        units, init_scope_cgroup = systemd_units.read_units(runner)
        version = systemd_units.systemd_version(runner)
        view = view.with_init_scope(pid1_raw, init_scope_cgroup)
    table = previous_scan_procfs(paths.proc_root, view, clock, hz)
    analysis = Analyzer(table, units, paths.sessions_dir).run()
    host = scan_module._host_facts(options, paths, table, analysis, is_systemd, version, view)
    selected, unmatched = unit_names.select(list(units), options.units)
    unit_facts = {}
    found = []
    for name in selected:
        unit_facts[name] = scan_module._unit_facts(units[name], analysis.by_unit[name], options.max_items)
        found.extend(findings.unit_findings(name, units[name], analysis.by_unit[name], options))
    found.extend(findings.host_findings(host, analysis, options))
    return {"host": host, "units": unit_facts, "findings": findings.sort_findings(found), "unmatched": unmatched}


# -- synthetic hosts --------------------------------------------------------------


def build_host(root, layout, seed):
    """A random but reproducible host: what each process is follows from the seed."""
    rng = random.Random(seed)
    host = FakeHost(root, **layout)
    host.add_process(2, 0, "kthreadd", kthread=True, cgroup="/")
    host.add_process(3, 2, "kworker/0:1", kthread=True, state="I", cgroup="/")
    next_pid = [100]

    def new_pid():
        next_pid[0] += rng.randint(1, 7)
        return next_pid[0]

    mains = {}
    for index in range(rng.randint(4, 9)):
        name = "svc%d.service" % index
        cgroup = "/system.slice/%s" % name
        state = rng.choice(["active", "active", "active", "inactive", "failed", "activating"])
        sub = {"active": "running", "inactive": "dead", "failed": "failed", "activating": "auto-restart"}[state]
        activated = rng.choice([50.0, 4000.0, 5000.0])
        main = new_pid()
        invocation = "inv%d" % index
        host.add_unit(
            name,
            ActiveState=state,
            SubState=sub,
            MainPID=main if state == "active" else 0,
            ExecMainPID=main,
            ControlGroup=cgroup,
            InvocationID=invocation,
            KillMode=rng.choice(["control-group", "process", "mixed", "none"]),
            Delegate=rng.choice(["yes", "no"]),
            TasksCurrent=rng.randint(1, 40),
            TasksMax=rng.choice([40, 50, "infinity"]),
            NRestarts=rng.randint(0, 3),
            InactiveExitTimestampMonotonic=int(activated * 1e6),
        )
        uid = rng.choice([0, 0, 33, 1000])
        if state == "active":
            host.add_process(
                main, 1, "main%d" % index, uid=uid, cgroup=cgroup, start=ticks_at(activated + 0.5),
                environ={"INVOCATION_ID": invocation},
            )  # fmt: skip
            mains[name] = (main, cgroup, invocation)
        for _child in range(rng.randint(0, 6)):
            kind = rng.choice(["current", "old", "zombie", "delegated", "no-environ"])
            pid = new_pid()
            parent = main if state == "active" else 1
            start = ticks_at(activated + 10) if kind != "old" else ticks_at(10)
            environ = {"INVOCATION_ID": invocation if kind != "old" else "previous%d" % index}
            path = cgroup + "/payload" if kind == "delegated" else cgroup
            host.add_process(
                pid, parent, "child %s)" % kind, uid=rng.choice([0, 33, 1000, 65534]),
                session=main if kind != "old" else main - 1,
                state="Z" if kind == "zombie" else rng.choice(["S", "R", "D"]), cgroup=path, start=start,
                environ=None if kind == "no-environ" else environ,
            )  # fmt: skip
            if kind == "no-environ" and rng.random() < 0.5:
                host.deny_environ(pid)
    for _name, (main, _cgroup, invocation) in sorted(mains.items()):
        route = rng.choice(["scope", "move", "runuser", "none"])
        pid = new_pid()
        if route == "scope":
            host.add_process(
                pid, main, "escaped", uid=1000, session=main, cgroup="/system.slice/run-r%d.scope" % pid,
                environ={"INVOCATION_ID": "scope%d" % pid},
            )  # fmt: skip
        elif route == "move":
            host.add_process(
                pid, main, "moved", uid=33, session=main, cgroup="/user.slice", environ={"INVOCATION_ID": invocation}
            )
        elif route == "runuser":
            session = str(rng.randint(2, 9))
            host.add_session(session, CLASS="background", SERVICE="runuser-l", UID="0")
            # while runuser waits its ancestry names the service; once it has exited nothing does
            parent = rng.choice([main, 1])
            host.add_process(pid, parent, "runuser", session=pid, cgroup="/user.slice/session-%s.scope" % session)
    # logins, containers, zombies outside units, processes that vanish or cannot be read
    host.add_session("1", CLASS="user", SERVICE="sshd", UID="1000")
    host.add_process(new_pid(), 1, "bash", uid=1000, cgroup="/user.slice/user-1000.slice/session-1.scope")
    docker = new_pid()
    host.add_process(docker, 1, "containerd-shim", cgroup="/system.slice/containerd.service")
    host.add_process(new_pid(), docker, "nginx", uid=101, cgroup="/docker/0123456789ab", pid_ns=CONTAINER_NS)
    host.add_process(new_pid(), docker, "redis", cgroup="/system.slice/docker-fedcba.scope", pid_ns=CONTAINER_NS)
    orphan = new_pid()
    host.add_process(orphan, 1, "orphan-parent", uid=1000, cgroup="/user.slice")
    host.add_process(new_pid(), orphan, "orphan", state="Z", cgroup="/user.slice", start=ticks_at(50))
    host.add_vanished(new_pid())
    return host


def deny_unreadable(host, monkeypatch):
    """Reading a process's stat fails with EACCES: it counts as unreadable, not as gone."""
    broken = str(max(int(n) for n in os.listdir(host.proc) if n.isdigit()) + 11)
    host.add_process(int(broken), 1, "secret", cgroup="/system.slice/svc0.service")
    original = proc_table.read_at

    def read_at(dir_fd, name):
        if name == "stat" and os.readlink("/proc/self/fd/%d" % dir_fd).endswith("/" + broken):
            raise OSError(errno.EACCES, "Permission denied")
        return original(dir_fd, name)

    monkeypatch.setattr(proc_table, "read_at", read_at)


def both_scans(host, monkeypatch, **options):
    current = host.scan(monkeypatch, **options).facts
    # the previous scan only ever asked systemctl and did not say so: compare the rest
    query = current["host"].pop("systemd_query")
    assert query["source"] == "systemctl" and "private" in query["problem"]
    previous = previous_scan(
        ScanOptions(**options),
        HostPaths(host.proc, host.run_systemd),
        host.systemctl,
        proc_table.Clock(BOOTTIME_S, MONOTONIC_S),
        HZ,
    )
    return previous, current


@pytest.mark.parametrize(
    "layout", LAYOUTS, ids=lambda layout: "%s%s" % (layout["layout"], layout.get("proc_prefix", ""))
)
@pytest.mark.parametrize("seed", range(12))
def test_new_readers_give_the_facts_of_the_previous_ones(tmp_path, monkeypatch, layout, seed):
    host = build_host(tmp_path, layout, seed)
    deny_unreadable(host, monkeypatch)
    previous, current = both_scans(host, monkeypatch, min_zombie_age=0, max_items=1000)
    # The hosts are rich enough for the comparison to mean something.
    assert previous["host"]["processes"] > 10
    assert previous["host"]["unreadable_processes"] == 1
    assert previous["findings"]
    assert current == previous


def test_the_mix_covers_every_kind_of_leak(tmp_path, monkeypatch):
    """Across the seeds, each kind of finding the comparison relies on shows up (else it proves little)."""
    seen = set()
    for seed in range(12):
        host = build_host(tmp_path / str(seed), LAYOUTS[1], seed)
        facts = host.scan(monkeypatch, min_zombie_age=0).facts
        for unit in facts["units"].values():
            seen.update(kind for kind, count in unit["counts"].items() if count)
        if facts["host"]["unattributed_escapes"]:
            seen.add("unattributed_escapes")
        if facts["host"]["containers"]:
            seen.add("containers")
    assert seen >= {"zombies", "leftovers", "survivors", "escaped", "unattributed_escapes", "containers"}


def test_the_facts_say_how_systemd_was_asked_and_why_not_the_bus(tmp_path, monkeypatch):
    host = build_host(tmp_path, LAYOUTS[1], 0)
    query = host.scan(monkeypatch).facts["host"]["systemd_query"]
    assert query["source"] == "systemctl"
    assert "cannot use %s" % os.path.join(host.run_systemd, "private") in query["problem"]


def test_listed_processes_carry_their_real_uid(tmp_path):
    """The uid is read late, for listed processes only, and it is the real one (not the owner of /proc/PID)."""
    host = FakeHost(tmp_path)
    host.add_unit(
        "legacy.service", ActiveState="inactive", SubState="dead", ControlGroup="/system.slice/legacy.service"
    )
    host.add_process(400, 1, "left", uid=1000, cgroup="/system.slice/legacy.service")
    # status says real uid 1000 while effective and saved are 0 (a setuid helper): the real one is kept
    with open(os.path.join(host.proc, "400", "status"), "w") as handle:
        handle.write("Name:\tleft\nUid:\t1000\t0\t0\t0\n")
    result = host.scan()
    assert result.facts["units"]["legacy.service"]["leftovers"][0]["uid"] == 1000


def test_uid_of_a_pid_reused_after_the_scan_is_not_the_new_process_uid(tmp_path):
    """Between the scan and the uid read, the PID went to another process: its uid is not reported.

    What is kept is what the scan saw: the owner of the /proc/PID directory.
    """
    host = FakeHost(tmp_path)
    host.add_process(400, 1, "left", uid=1000, cgroup="/system.slice/legacy.service", start=ticks_at(100))
    owner_at_scan = os.stat(os.path.join(host.proc, "400")).st_uid
    view = cgroups.read_view(host.proc)[0]
    table = proc_table.snapshot(view, "procfs", host.proc, proc_table.Clock(BOOTTIME_S, MONOTONIC_S), HZ)
    host.add_process(400, 1, "other", uid=4242, cgroup="/system.slice/other.service", start=ticks_at(200))
    assert table.processes[400].uid == owner_at_scan != 4242
    assert table.processes[1].uid == 0


def test_uid_of_a_process_gone_before_the_uid_read_is_the_owner_seen_by_the_scan(tmp_path):
    host = FakeHost(tmp_path)
    host.add_process(400, 1, "left", uid=1000, cgroup="/system.slice/legacy.service")
    owner_at_scan = os.stat(os.path.join(host.proc, "400")).st_uid
    view = cgroups.read_view(host.proc)[0]
    table = proc_table.snapshot(view, "procfs", host.proc, proc_table.Clock(BOOTTIME_S, MONOTONIC_S), HZ)
    for name in os.listdir(os.path.join(host.proc, "400")):
        path = os.path.join(host.proc, "400", name)
        if os.path.isfile(path):
            os.unlink(path)
    assert table.processes[400].uid == owner_at_scan
