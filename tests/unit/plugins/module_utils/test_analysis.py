"""Detection rules on synthetic hosts, for every cgroup layout the design names."""

import pytest

from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.fake_host import FakeHost, ticks_at

LAYOUTS = [
    pytest.param(dict(layout="legacy"), id="legacy"),
    pytest.param(dict(layout="hybrid"), id="hybrid"),
    pytest.param(dict(layout="unified"), id="unified"),
    pytest.param(
        dict(layout="hybrid", proc_prefix="/libpod_parent/libpod-1f2e", systemd_prefix="/libpod_parent/libpod-1f2e"),
        id="podman-prefix",
    ),
    pytest.param(dict(layout="unified", proc_prefix="/payload"), id="nsenter-prefix"),
]
SVC = "/system.slice/%s"


def codes(facts, unit):
    return sorted(f["code"] for f in facts["findings"] if f["unit"] == unit)


def pids(items):
    return sorted(i["pid"] for i in items)


@pytest.fixture(params=LAYOUTS)
def host(request, tmp_path):
    return FakeHost(tmp_path, **request.param)


def test_zombies_are_attributed_through_their_parent(host):
    host.add_unit(
        "factory.service", MainPID=100, ExecMainPID=100, ControlGroup=SVC % "factory.service", InvocationID="f1"
    )
    host.add_unit(
        "worker.service", MainPID=200, ExecMainPID=200, ControlGroup=SVC % "worker.service", InvocationID="w1"
    )
    host.add_process(100, 1, "factory", cgroup=SVC % "factory.service", environ={"INVOCATION_ID": "f1"})
    for pid in (101, 102, 103):
        host.add_process(pid, 100, "child", state="Z", session=100, cgroup=SVC % "factory.service", start=ticks_at(50))
    host.add_process(200, 1, "worker-main", cgroup=SVC % "worker.service", environ={"INVOCATION_ID": "w1"})
    host.add_process(201, 200, "worker", session=200, cgroup=SVC % "worker.service", environ={"INVOCATION_ID": "w1"})
    host.add_process(202, 201, "job", state="Z", session=200, cgroup=SVC % "worker.service", start=ticks_at(50))
    host.add_process(300, 1, "orphan-parent", cgroup="/user.slice")
    host.add_process(301, 300, "orphan", state="Z", cgroup="/user.slice", start=ticks_at(50))

    facts = host.scan(min_zombie_age=60).facts

    factory = facts["units"]["factory.service"]
    assert pids(factory["zombies"]) == [101, 102, 103]
    assert all(z["ppid"] == 100 and z["parent_is_main"] and z["parent_comm"] == "factory" for z in factory["zombies"])
    assert factory["counts"]["zombies"] == 3
    worker = facts["units"]["worker.service"]["zombies"]
    assert [(z["pid"], z["ppid"], z["parent_is_main"]) for z in worker] == [(202, 201, False)]
    assert pids(facts["host"]["zombies_outside_units"]) == [301]
    assert facts["host"]["zombies"] == 5
    assert "zombies" in codes(facts, "factory.service")
    worker_finding = [f for f in facts["findings"] if f["unit"] == "worker.service"][0]
    assert "kill_worker_parent" in worker_finding["remedy"]
    assert any(f["code"] == "zombies" and f["unit"] is None for f in facts["findings"])


def test_young_zombies_are_listed_but_not_flagged(host):
    host.add_unit("factory.service", MainPID=100, ControlGroup=SVC % "factory.service")
    host.add_process(100, 1, "factory", cgroup=SVC % "factory.service")
    host.add_process(101, 100, "child", state="Z", cgroup=SVC % "factory.service", start=ticks_at(9890))
    facts = host.scan(min_zombie_age=60).facts
    assert pids(facts["units"]["factory.service"]["zombies"]) == [101]
    assert facts["units"]["factory.service"]["zombies"][0]["age_s"] == pytest.approx(10.0, abs=0.2)
    assert "zombies" not in codes(facts, "factory.service")
    assert "zombies" in codes(host.scan(min_zombie_age=5).facts, "factory.service")


def test_min_zombies_threshold(host):
    host.add_unit("factory.service", MainPID=100, ControlGroup=SVC % "factory.service")
    host.add_process(100, 1, "factory", cgroup=SVC % "factory.service")
    host.add_process(101, 100, "child", state="Z", cgroup=SVC % "factory.service", start=ticks_at(10))
    assert "zombies" not in codes(host.scan(min_zombies=2).facts, "factory.service")


def test_leftovers_of_a_stopped_unit(host):
    host.add_unit(
        "legacy.service",
        ActiveState="inactive",
        SubState="dead",
        KillMode="process",
        ControlGroup=SVC % "legacy.service",
        InvocationID="l1",
    )
    host.add_process(
        400, 1, "legacy-child", session=390, cgroup=SVC % "legacy.service", environ={"INVOCATION_ID": "l1"}
    )
    host.add_process(
        401, 1, "legacy-child", session=390, cgroup=SVC % "legacy.service", environ={"INVOCATION_ID": "l1"}
    )
    host.add_unit("clean.service", ActiveState="inactive", SubState="dead")
    facts = host.scan().facts
    legacy = facts["units"]["legacy.service"]
    assert pids(legacy["leftovers"]) == [400, 401]
    assert legacy["counts"] == {"zombies": 0, "leftovers": 2, "survivors": 0, "escaped": 0}
    assert codes(facts, "legacy.service") == ["leftovers", "weak_killmode"]
    weak = [f for f in facts["findings"] if f["code"] == "weak_killmode"][0]
    assert weak["severity"] == "warning" and "killmode_hardening" in weak["remedy"]
    assert facts["units"]["clean.service"]["control_group"] is None
    assert codes(facts, "clean.service") == []


def test_survivors_by_invocation_id(host):
    host.add_unit(
        "svc.service",
        MainPID=500,
        ControlGroup=SVC % "svc.service",
        InvocationID="new",
        KillMode="process",
        InactiveExitTimestampMonotonic=int(5000e6),
        NRestarts=1,
    )
    host.add_process(
        500, 1, "svc", cgroup=SVC % "svc.service", start=ticks_at(5000.1), environ={"INVOCATION_ID": "new"}
    )
    host.add_process(
        501, 1, "old-child", cgroup=SVC % "svc.service", start=ticks_at(4000), environ={"INVOCATION_ID": "old"}
    )
    # forked by the survivor after the restart: still of the old invocation
    host.add_process(
        502, 501, "old-grandchild", cgroup=SVC % "svc.service", start=ticks_at(6000), environ={"INVOCATION_ID": "old"}
    )
    host.add_process(
        503, 500, "new-child", cgroup=SVC % "svc.service", start=ticks_at(6000), environ={"INVOCATION_ID": "new"}
    )
    facts = host.scan().facts
    assert pids(facts["units"]["svc.service"]["survivors"]) == [501]
    assert codes(facts, "svc.service") == ["survivors", "weak_killmode"]


def test_survivors_by_start_time_without_environ(host, monkeypatch):
    host.add_unit(
        "svc.service",
        MainPID=500,
        ControlGroup=SVC % "svc.service",
        InvocationID="new",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(500, 1, "svc", cgroup=SVC % "svc.service", start=ticks_at(5000.2))
    host.add_process(501, 1, "old-child", cgroup=SVC % "svc.service", start=ticks_at(4000))
    host.deny_environ(500, 501)
    facts = host.scan(monkeypatch).facts
    assert pids(facts["units"]["svc.service"]["survivors"]) == [501]
    assert facts["host"]["privilege"] == "limited"
    assert facts["host"]["environ_denied"] >= 1


def test_forking_main_that_started_before_active_is_not_a_survivor(host, monkeypatch):
    # Type=forking: activation began at 5000 s, the daemon forked at 5000.3 s and the
    # unit became active at 5001 s. Only InactiveExit is the right reference.
    host.add_unit(
        "forking.service",
        MainPID=611,
        ControlGroup=SVC % "forking.service",
        InvocationID="fk",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(611, 1, "daemon", session=611, cgroup=SVC % "forking.service", start=ticks_at(5000.3))
    # a tick of rounding must not make the very first process a survivor
    host.add_process(612, 611, "helper", session=611, cgroup=SVC % "forking.service", start=ticks_at(4999.99))
    host.deny_environ(611, 612)
    facts = host.scan(monkeypatch).facts
    assert facts["units"]["forking.service"]["survivors"] == []
    assert codes(facts, "forking.service") == []


def test_invocation_id_of_another_unit_wins_over_survivor(host):
    host.add_unit("origin.service", MainPID=700, ControlGroup=SVC % "origin.service", InvocationID="o1")
    host.add_unit(
        "host.service",
        MainPID=800,
        ControlGroup=SVC % "host.service",
        InvocationID="h2",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(700, 1, "origin", cgroup=SVC % "origin.service", environ={"INVOCATION_ID": "o1"})
    host.add_process(800, 1, "host", cgroup=SVC % "host.service", start=ticks_at(5001), environ={"INVOCATION_ID": "h2"})
    # moved from origin into host.service's cgroup long ago: old by start time, but origin's
    host.add_process(
        701, 1, "moved", session=700, cgroup=SVC % "host.service", start=ticks_at(100), environ={"INVOCATION_ID": "o1"}
    )
    facts = host.scan().facts
    escaped = facts["units"]["origin.service"]["escaped"]
    assert [(e["pid"], e["now_in"], e["route"]) for e in escaped] == [(701, "host.service", "cgroup_move")]
    assert escaped[0]["evidence"] == ["invocation_id", "session_id"]
    assert facts["units"]["host.service"]["survivors"] == []
    assert codes(facts, "origin.service") == ["escaped"]


def test_scope_escape_by_session_id_and_ancestry(host):
    host.add_unit(
        "runner.service", MainPID=900, ExecMainPID=900, ControlGroup=SVC % "runner.service", InvocationID="r1"
    )
    host.add_process(900, 1, "runner", cgroup=SVC % "runner.service", environ={"INVOCATION_ID": "r1"})
    host.add_process(
        901,
        900,
        "sleep",
        session=900,
        cgroup="/system.slice/run-r1234.scope",
        environ={"INVOCATION_ID": "scope-own-id"},
    )
    facts = host.scan().facts
    escaped = facts["units"]["runner.service"]["escaped"]
    assert [(e["pid"], e["now_in"], e["route"], e["evidence"]) for e in escaped] == [
        (901, "run-r1234.scope", "scope", ["session_id", "ancestry"])
    ]


def test_pam_session_escape_through_ancestry_of_several_processes(host):
    host.add_unit("pam.service", MainPID=1000, ExecMainPID=1000, ControlGroup=SVC % "pam.service", InvocationID="p1")
    host.add_session("7", CLASS="background", SERVICE="runuser-l", UID="0")
    scope = "/user.slice/user-0.slice/session-7.scope"
    host.add_process(1000, 1, "pam-main", cgroup=SVC % "pam.service", environ={"INVOCATION_ID": "p1"})
    host.add_process(1001, 1000, "runuser", session=1000, cgroup=scope, environ={"INVOCATION_ID": "p1"})
    host.add_process(1002, 1001, "bash", session=1002, cgroup=scope)
    host.add_process(1003, 1002, "sleep", session=1002, cgroup=scope)
    facts = host.scan().facts
    escaped = dict((e["pid"], e) for e in facts["units"]["pam.service"]["escaped"])
    assert sorted(escaped) == [1001, 1002, 1003]
    assert escaped[1001]["evidence"] == ["invocation_id", "session_id", "ancestry"]
    assert escaped[1003]["evidence"] == ["ancestry"]
    assert all(e["route"] == "pam_session" and e["now_in"] == "session-7.scope" for e in escaped.values())


def test_orphaned_background_session_is_an_unattributed_escape(host):
    host.add_session("8", CLASS="background", SERVICE="runuser-l", UID="0")
    host.add_process(1100, 1, "sleep", session=1100, cgroup="/user.slice/user-0.slice/session-8.scope")
    facts = host.scan().facts
    items = facts["host"]["unattributed_escapes"]
    assert [(i["pid"], i["route"], i["evidence"]) for i in items] == [(1100, "pam_session", [])]
    assert items[0]["session"]["service"] == "runuser-l"
    assert [f["code"] for f in facts["findings"]] == ["unattributed_escape"]


def test_interactive_logins_and_containers_are_not_escapes(host):
    host.add_unit("ssh.service", MainPID=1200, ExecMainPID=1200, ControlGroup=SVC % "ssh.service", InvocationID="s1")
    host.add_unit("containerd.service", MainPID=1300, ControlGroup=SVC % "containerd.service", InvocationID="c1")
    host.add_session("3", CLASS="user", SERVICE="sshd", UID="1000")
    host.add_process(1200, 1, "sshd", cgroup=SVC % "ssh.service", environ={"INVOCATION_ID": "s1"})
    host.add_process(
        1201,
        1200,
        "sshd",
        session=1201,
        cgroup="/user.slice/user-1000.slice/session-3.scope",
        environ={"INVOCATION_ID": "s1"},
    )
    host.add_process(1202, 1201, "bash", uid=1000, session=1202, cgroup="/user.slice/user-1000.slice/session-3.scope")
    host.add_process(1300, 1, "containerd", cgroup=SVC % "containerd.service", environ={"INVOCATION_ID": "c1"})
    host.add_process(1301, 1300, "shim", cgroup=SVC % "containerd.service", environ={"INVOCATION_ID": "c1"})
    host.add_process(1302, 1301, "nginx", session=1302, cgroup="/system.slice/docker-0123abcd.scope")
    facts = host.scan().facts
    assert facts["units"]["ssh.service"]["escaped"] == []
    assert facts["units"]["containerd.service"]["escaped"] == []
    assert facts["findings"] == []


def test_delegated_subcgroups_belong_to_the_unit(host):
    host.add_unit("deleg.service", MainPID=1400, ControlGroup=SVC % "deleg.service", Delegate="yes", InvocationID="d1")
    host.add_process(1400, 1, "deleg", cgroup=SVC % "deleg.service" + "/supervisor", environ={"INVOCATION_ID": "d1"})
    host.add_process(
        1401,
        1400,
        "payload",
        session=1400,
        cgroup=SVC % "deleg.service" + "/payload/a",
        environ={"INVOCATION_ID": "d1"},
    )
    host.add_process(1402, 1401, "payload", session=1400, cgroup=SVC % "deleg.service" + "/payload/b")
    facts = host.scan().facts
    unit = facts["units"]["deleg.service"]
    assert unit["processes"] == 3 and unit["delegate"] is True
    assert unit["counts"] == {"zombies": 0, "leftovers": 0, "survivors": 0, "escaped": 0}
    assert facts["findings"] == []


def test_kernel_threads_are_ignored(host):
    host.add_process(2, 0, "kthreadd", kthread=True, cgroup="/")
    host.add_process(3, 2, "kworker/0:0", kthread=True, state="I", cgroup="/")
    facts = host.scan().facts
    assert facts["host"]["processes"] == 1  # PID 1 only
    assert facts["findings"] == []


def test_comm_with_spaces_and_parentheses(host):
    comm = "evil) Z 1 (x"
    host.add_unit("odd.service", MainPID=1500, ControlGroup=SVC % "odd.service")
    host.add_process(1500, 1, comm, cgroup=SVC % "odd.service")
    host.add_process(1501, 1500, "kid", state="Z", cgroup=SVC % "odd.service", start=ticks_at(10))
    zombies = host.scan().facts["units"]["odd.service"]["zombies"]
    assert [(z["pid"], z["ppid"], z["parent_comm"]) for z in zombies] == [(1501, 1500, comm)]


def test_processes_vanishing_mid_scan_are_skipped(host):
    host.add_unit("svc.service", MainPID=1600, ControlGroup=SVC % "svc.service")
    host.add_process(1600, 1, "svc", cgroup=SVC % "svc.service")
    host.add_vanished(1601)
    result = host.scan()
    assert sorted(result.table.processes) == [1, 1600]
    assert result.facts["host"]["unreadable_processes"] == 0


def test_host_findings_for_pid_and_thread_usage(host):
    host.add_process(1700, 1, "forkbomb", threads=31500, cgroup="/user.slice")
    facts = host.scan(pid_usage_warn=0.8).facts
    found = dict((f["code"], f) for f in facts["findings"])
    assert found["pid_usage"]["severity"] == "critical"  # 31501 / 32768 >= 0.95
    assert "thread_usage" not in found
    assert facts["host"]["threads"] == 31501


def test_unit_setting_findings(host):
    host.add_unit("none.service", KillMode="none", ControlGroup=SVC % "none.service", MainPID=1800)
    host.add_unit("nokill.service", SendSIGKILL="no", ControlGroup=SVC % "nokill.service", MainPID=1801)
    host.add_unit("full.service", TasksCurrent=95, TasksMax=100, ControlGroup=SVC % "full.service", MainPID=1802)
    for pid, name in ((1800, "none"), (1801, "nokill"), (1802, "full")):
        host.add_process(pid, 1, name, cgroup=SVC % (name + ".service"))
    facts = host.scan().facts
    assert codes(facts, "none.service") == ["killmode_none_deprecated"]
    assert codes(facts, "nokill.service") == ["sendsigkill_off"]
    full = [f for f in facts["findings"] if f["unit"] == "full.service"]
    assert [(f["code"], f["severity"]) for f in full] == [("tasks_usage", "critical")]
    assert facts["units"]["full.service"]["tasks_usage"] == 0.95
    assert facts["units"]["full.service"]["timeout_stop_sec"] == 90.0
    assert facts["units"]["full.service"]["kill_signal"] == "SIGTERM"


def test_unit_patterns_select_and_report_unmatched(host):
    for name in ("worker@a.service", "worker@b.service", "nginx.service"):
        host.add_unit(name)
    facts = host.scan(units=["worker@*", "nginx", "absent*"]).facts
    assert sorted(facts["units"]) == ["nginx.service", "worker@a.service", "worker@b.service"]
    assert facts["unmatched"] == ["absent*"]


def test_max_items_caps_lists_but_not_counts(host):
    host.add_unit("factory.service", MainPID=100, ControlGroup=SVC % "factory.service")
    host.add_process(100, 1, "factory", cgroup=SVC % "factory.service")
    for pid in range(101, 121):
        host.add_process(pid, 100, "child", state="Z", cgroup=SVC % "factory.service", start=ticks_at(10))
    unit = host.scan(max_items=5).facts["units"]["factory.service"]
    assert pids(unit["zombies"]) == [101, 102, 103, 104, 105]
    assert unit["counts"]["zombies"] == 20


def test_journal_leftover_messages_are_counted(host):
    host.add_unit("legacy.service")
    host.journal = (
        '{"UNIT": "legacy.service", "MESSAGE": "legacy.service: Found left-over process 77 (sleep) in control group'
        ' while starting unit. Ignoring."}\n'
        '{"UNIT": "legacy.service", "MESSAGE": "legacy.service: Unit process 78 (sleep) remains running after unit'
        ' stopped."}\n'
        '{"UNIT": "legacy.service", "MESSAGE": "Started legacy.service."}\n'
    )
    facts = host.scan(journal_since="-1h").facts
    assert facts["units"]["legacy.service"]["journal_leftover_messages"] == 2


def test_host_without_systemd_reports_host_facts_and_zombies(tmp_path):
    host = FakeHost(tmp_path, systemd=False)
    host.add_process(50, 1, "shell")
    host.add_process(51, 50, "defunct", state="Z", start=ticks_at(10))
    facts = host.scan().facts
    assert facts["host"]["systemd"] is False and facts["host"]["systemd_version"] is None
    assert facts["units"] == {}
    assert [(z["pid"], z["ppid"], z["parent_comm"]) for z in facts["host"]["zombies_outside_units"]] == [
        (51, 50, "shell")
    ]


def test_idle_units_raise_no_kill_setting_findings(host):
    # rescue.service ships with KillMode=process; while it runs nothing there is nothing to flag.
    host.add_unit("rescue.service", ActiveState="inactive", SubState="dead", KillMode="process", SendSIGKILL="no")
    host.add_unit("nightly.service", ActiveState="inactive", SubState="dead", KillMode="none")
    facts = host.scan().facts
    assert facts["findings"] == []


def test_current_invocation_that_looks_older_than_activation_is_no_survivor(host, monkeypatch):
    # systemd forks the main process before it stamps InactiveExit; under load the
    # main PID's start time was seen 150 ms before the stamp.
    host.add_unit(
        "dbus.service",
        MainPID=90,
        ExecMainPID=90,
        ControlGroup=SVC % "dbus.service",
        InvocationID="cur",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(90, 1, "dbus-daemon", uid=101, session=90, cgroup=SVC % "dbus.service", start=ticks_at(4999.85))
    # a daemon child that called setsid right after the start
    host.add_process(91, 90, "helper", uid=101, session=91, cgroup=SVC % "dbus.service", start=ticks_at(4999.9))
    # a real survivor, minutes older, of the previous main (session 40)
    host.add_process(41, 1, "old", uid=101, session=40, cgroup=SVC % "dbus.service", start=ticks_at(4700))
    host.deny_environ(90, 91, 41)
    facts = host.scan(monkeypatch).facts
    assert pids(facts["units"]["dbus.service"]["survivors"]) == [41]


def test_with_environ_a_survivor_forked_just_before_the_restart_is_found(host):
    host.add_unit(
        "svc.service",
        MainPID=500,
        ControlGroup=SVC % "svc.service",
        InvocationID="new",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(
        500, 1, "svc", cgroup=SVC % "svc.service", start=ticks_at(5000.01), environ={"INVOCATION_ID": "new"}
    )
    host.add_process(
        501,
        1,
        "late-child",
        session=450,
        cgroup=SVC % "svc.service",
        start=ticks_at(4999.8),
        environ={"INVOCATION_ID": "old"},
    )
    facts = host.scan().facts
    assert pids(facts["units"]["svc.service"]["survivors"]) == [501]


# -- containers: the PID namespace decides, not the cgroup's name ---------------

CONTAINER_NS = "pid:[4026532201]"


def containers(facts):
    return [(c["cgroup"], c["processes"], c["pid_namespace"]) for c in facts["host"]["containers"]]


def seen(host, path):
    """A cgroup path as the facts show it: in systemd's namespace (with its prefix inside podman)."""
    return host.systemd_prefix + path


def add_containerd(host):
    host.add_unit(
        "containerd.service",
        MainPID=1300,
        ExecMainPID=1300,
        ControlGroup=SVC % "containerd.service",
        InvocationID="c1",
        KillMode="process",
    )
    host.add_process(1300, 1, "containerd", cgroup=SVC % "containerd.service", environ={"INVOCATION_ID": "c1"})
    # the shim stays in the engine's unit, as on a cgroup v1 host with the cgroupfs driver
    host.add_process(
        1301, 1300, "containerd-shim", session=1300, cgroup=SVC % "containerd.service", environ={"INVOCATION_ID": "c1"}
    )


def test_docker_cgroupfs_container_is_a_hand_off_not_an_escape(host):
    add_containerd(host)
    cgroup = "/docker/0123456789ab"
    host.add_process(1302, 1301, "nginx", session=1302, cgroup=cgroup, pid_ns=CONTAINER_NS)
    host.add_process(1303, 1302, "nginx", uid=33, session=1302, cgroup=cgroup, pid_ns=CONTAINER_NS)
    facts = host.scan().facts
    assert facts["units"]["containerd.service"]["escaped"] == []
    assert containers(facts) == [(seen(host, cgroup), 2, CONTAINER_NS)]
    assert "escaped" not in codes(facts, "containerd.service")


def test_kubepods_cgroupfs_containers_are_hand_offs(host):
    add_containerd(host)
    pod = "/kubepods/besteffort/pod5f1c2d3e-aaaa-bbbb-cccc-0123456789ab"
    pause, app = pod + "/a1b2c3", pod + "/d4e5f6"
    host.add_process(1310, 1301, "pause", session=1310, cgroup=pause, pid_ns="pid:[4026532300]")
    host.add_process(1311, 1301, "app", session=1311, cgroup=app, pid_ns="pid:[4026532301]")
    host.add_process(1312, 1311, "app-worker", session=1311, cgroup=app, pid_ns="pid:[4026532301]")
    facts = host.scan().facts
    assert facts["units"]["containerd.service"]["escaped"] == []
    assert containers(facts) == [(seen(host, app), 2, "pid:[4026532301]"), (seen(host, pause), 1, "pid:[4026532300]")]
    assert facts["findings"][0]["code"] == "weak_killmode"
    assert [f["code"] for f in facts["findings"]] == ["weak_killmode"]


def test_lxc_container_is_a_hand_off(host):
    host.add_unit(
        "lxc@web.service", MainPID=1400, ExecMainPID=1400, ControlGroup=SVC % "lxc@web.service", InvocationID="x1"
    )
    host.add_process(1400, 1, "lxc-start", cgroup=SVC % "lxc@web.service", environ={"INVOCATION_ID": "x1"})
    host.add_process(1401, 1400, "systemd", session=1401, cgroup="/lxc/web", pid_ns=CONTAINER_NS)
    host.add_process(1402, 1401, "agetty", session=1402, cgroup="/lxc/web", pid_ns=CONTAINER_NS)
    # the container's own systemd names its cgroups like the host's: still not the host's units
    host.add_process(
        1403, 1401, "apache2", session=1403, cgroup="/lxc/web/system.slice/apache2.service", pid_ns=CONTAINER_NS
    )
    facts = host.scan().facts
    assert facts["units"]["lxc@web.service"]["escaped"] == []
    assert containers(facts) == [(host.systemd_prefix + "/lxc/web", 2, CONTAINER_NS)]
    assert facts["findings"] == []


def test_unreadable_namespace_outside_every_unit_fails_closed(host, monkeypatch):
    add_containerd(host)
    cgroup = "/docker/0123456789ab"
    host.add_process(1302, 1301, "nginx", uid=101, session=1302, cgroup=cgroup, pid_ns=CONTAINER_NS)
    host.deny_namespace(1302)
    facts = host.scan(monkeypatch).facts
    # neither an escape (it may be a container) nor silently dropped
    assert facts["units"]["containerd.service"]["escaped"] == []
    assert containers(facts) == [(seen(host, cgroup), 1, None)]
    assert facts["host"]["privilege"] == "limited"


def test_unreadable_namespace_in_a_scope_keeps_the_escape(host, monkeypatch):
    # A scope is systemd's, not a cgroupfs engine's: without the namespace the
    # escape evidence stands, as it does for environ.
    host.add_unit(
        "runner.service", MainPID=900, ExecMainPID=900, ControlGroup=SVC % "runner.service", InvocationID="r1"
    )
    host.add_process(900, 1, "runner", cgroup=SVC % "runner.service", environ={"INVOCATION_ID": "r1"})
    host.add_process(901, 900, "sleep", uid=1000, session=900, cgroup="/system.slice/run-r1234.scope")
    host.deny_namespace(901)
    facts = host.scan(monkeypatch).facts
    assert [(e["pid"], e["route"]) for e in facts["units"]["runner.service"]["escaped"]] == [(901, "scope")]
    assert containers(facts) == []


def test_cgroup_move_in_the_host_namespace_is_still_an_escape(host):
    # the zoo's zoo-cgroup-move: a child written into another unit's cgroup.procs
    host.add_unit(
        "mover.service", MainPID=1500, ExecMainPID=1500, ControlGroup=SVC % "mover.service", InvocationID="m1"
    )
    host.add_unit(
        "decoy.service", MainPID=1600, ExecMainPID=1600, ControlGroup=SVC % "decoy.service", InvocationID="d1"
    )
    host.add_process(1500, 1, "mover", cgroup=SVC % "mover.service", environ={"INVOCATION_ID": "m1"})
    host.add_process(1600, 1, "decoy", cgroup=SVC % "decoy.service", environ={"INVOCATION_ID": "d1"})
    host.add_process(1501, 1500, "sleep", session=1500, cgroup=SVC % "decoy.service", environ={"INVOCATION_ID": "m1"})
    # cgclassify into a cgroup no unit names, same namespace as init: an escape too
    host.add_process(1502, 1500, "sleep", session=1500, cgroup="/mygroup", environ={"INVOCATION_ID": "m1"})
    facts = host.scan().facts
    escaped = facts["units"]["mover.service"]["escaped"]
    assert [(e["pid"], e["now_in"], e["route"]) for e in escaped] == [
        (1501, "decoy.service", "cgroup_move"),
        (1502, seen(host, "/mygroup"), "cgroup_move"),
    ]
    assert containers(facts) == []


def test_process_of_another_namespace_is_no_leftover_or_survivor(host):
    host.add_unit(
        "engine.service",
        ActiveState="inactive",
        SubState="dead",
        KillMode="process",
        ControlGroup=SVC % "engine.service",
        InvocationID="e1",
    )
    host.add_process(1700, 1, "leftover", session=1690, cgroup=SVC % "engine.service", environ={"INVOCATION_ID": "e1"})
    host.add_process(
        1701, 1, "container-init", session=1701, cgroup=SVC % "engine.service" + "/payload", pid_ns=CONTAINER_NS
    )
    host.add_unit(
        "delegating.service",
        MainPID=1800,
        ControlGroup=SVC % "delegating.service",
        InvocationID="new",
        InactiveExitTimestampMonotonic=int(5000e6),
        Delegate="yes",
    )
    host.add_process(
        1800,
        1,
        "delegating",
        cgroup=SVC % "delegating.service",
        start=ticks_at(5000.1),
        environ={"INVOCATION_ID": "new"},
    )
    host.add_process(
        1801,
        1,
        "payload",
        session=1801,
        cgroup=SVC % "delegating.service" + "/payload",
        start=ticks_at(4000),
        pid_ns=CONTAINER_NS,
    )
    facts = host.scan().facts
    assert pids(facts["units"]["engine.service"]["leftovers"]) == [1700]
    assert facts["units"]["delegating.service"]["survivors"] == []
    assert containers(facts) == [
        (seen(host, SVC % "delegating.service" + "/payload"), 1, CONTAINER_NS),
        (seen(host, SVC % "engine.service" + "/payload"), 1, CONTAINER_NS),
    ]


def test_systemd_driver_scopes_are_counted_as_containers(host):
    add_containerd(host)
    scope = "/system.slice/docker-0123abcd.scope"
    host.add_process(1302, 1301, "nginx", session=1302, cgroup=scope, pid_ns=CONTAINER_NS)
    host.add_process(1303, 1302, "nginx", session=1302, cgroup=scope, pid_ns=CONTAINER_NS)
    facts = host.scan().facts
    assert facts["units"]["containerd.service"]["escaped"] == []
    assert containers(facts) == [(seen(host, scope), 2, CONTAINER_NS)]


def test_zombie_items_leave_the_observed_time_to_memory(host):
    host.add_unit("factory.service", MainPID=100, ControlGroup=SVC % "factory.service")
    host.add_process(100, 1, "factory", cgroup=SVC % "factory.service")
    host.add_process(101, 100, "child", state="Z", cgroup=SVC % "factory.service", start=ticks_at(10))
    zombie = host.scan().facts["units"]["factory.service"]["zombies"][0]
    assert zombie["zombie_seen_s"] is None and zombie["age_s"] > 0


# -- by-design and never-ours units: reported honestly, without noise ----------


def test_by_design_killmode_and_survivors_are_info_with_why(host):
    host.add_unit(
        "cron.service",
        MainPID=1900,
        ExecMainPID=1900,
        ControlGroup=SVC % "cron.service",
        InvocationID="new",
        KillMode="process",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(
        1900, 1, "cron", cgroup=SVC % "cron.service", start=ticks_at(5000.1), environ={"INVOCATION_ID": "new"}
    )
    # a job started by the previous cron: it runs to its end on purpose
    host.add_process(
        1901,
        1,
        "backup.sh",
        session=1850,
        cgroup=SVC % "cron.service",
        start=ticks_at(4000),
        environ={"INVOCATION_ID": "old"},
    )
    facts = host.scan().facts
    assert facts["units"]["cron.service"]["counts"]["survivors"] == 1  # the count stays reported
    found = dict((f["code"], f) for f in facts["findings"] if f["unit"] == "cron.service")
    assert sorted(found) == ["survivors", "weak_killmode"]
    for code in ("survivors", "weak_killmode"):
        assert found[code]["severity"] == "info"
        assert "by design (a job cron started runs to its end across a restart of cron)" in found[code]["summary"]
        assert found[code]["evidence"]["by_design"] is True
        assert found[code]["evidence"]["source"] == "Debian's cron unit"
        assert "kill_survivors" not in found[code]["remedy"]
    assert found["survivors"]["evidence"]["pids"] == [1901]


def test_by_design_unit_with_another_killmode_leaks_again(host):
    # ssh.service given KillMode=mixed by a drop-in: processes left behind are not by design
    host.add_unit(
        "ssh.service",
        ActiveState="failed",
        SubState="failed",
        KillMode="mixed",
        ControlGroup=SVC % "ssh.service",
        InvocationID="s1",
    )
    host.add_process(2000, 1, "sshd", session=1990, cgroup=SVC % "ssh.service", environ={"INVOCATION_ID": "s1"})
    facts = host.scan().facts
    leftovers = [f for f in facts["findings"] if f["code"] == "leftovers"][0]
    assert leftovers["severity"] == "warning"
    assert "by_design" not in leftovers["evidence"] and "by design" not in leftovers["summary"]
    assert "kill_leftovers" in leftovers["remedy"]


def test_ordinary_killmode_process_keeps_its_warning(host):
    host.add_unit(
        "legacy.service",
        ActiveState="inactive",
        SubState="dead",
        KillMode="process",
        ControlGroup=SVC % "legacy.service",
        InvocationID="l1",
    )
    host.add_process(2100, 1, "child", session=2090, cgroup=SVC % "legacy.service", environ={"INVOCATION_ID": "l1"})
    facts = host.scan().facts
    weak = [f for f in facts["findings"] if f["code"] == "weak_killmode"][0]
    assert weak["severity"] == "warning" and "by design" not in weak["summary"]
    assert "by_design" not in weak["evidence"]


def test_never_ours_findings_suggest_no_action(host):
    host.add_unit(
        "systemd-logind.service",
        MainPID=2200,
        ExecMainPID=2200,
        ControlGroup=SVC % "systemd-logind.service",
        InvocationID="new",
        KillMode="process",
        InactiveExitTimestampMonotonic=int(5000e6),
    )
    host.add_process(
        2200,
        1,
        "systemd-logind",
        cgroup=SVC % "systemd-logind.service",
        start=ticks_at(5000.1),
        environ={"INVOCATION_ID": "new"},
    )
    host.add_process(
        2201,
        1,
        "old-helper",
        session=2100,
        cgroup=SVC % "systemd-logind.service",
        start=ticks_at(4000),
        environ={"INVOCATION_ID": "old"},
    )
    facts = host.scan().facts
    found = [f for f in facts["findings"] if f["unit"] == "systemd-logind.service"]
    assert sorted(f["code"] for f in found) == ["survivors", "weak_killmode"]
    for item in found:
        assert item["remedy"].startswith("Not ours to act on")
        assert "actions:" not in item["remedy"] and "killmode_hardening_units" not in item["remedy"]
        assert item["evidence"]["never_ours"] is True and item["evidence"]["pattern"] == "systemd-*"


# ---------------------------------------------------------------- forged INVOCATION_ID (environ evidence alone)
# outside every unit, where the scan reads environ (a session scope logind has no record of)
USER_SCOPE = "/user.slice/user-1000.slice/session-9.scope"


def _web_and_a_user_manager(host):
    host.add_unit("web.service", MainPID=1400, ExecMainPID=1400, ControlGroup=SVC % "web.service", InvocationID="w9")
    host.add_unit(
        "user@1000.service",
        MainPID=1500,
        ExecMainPID=1500,
        ControlGroup="/user.slice/user-1000.slice/user@1000.service",
        InvocationID="u1",
    )
    host.add_process(1400, 1, "web", uid=33, cgroup=SVC % "web.service", environ={"INVOCATION_ID": "w9"})
    host.add_process(1500, 1, "systemd", uid=1000, cgroup="/user.slice/user-1000.slice/user@1000.service/init.scope")


def test_another_users_process_with_a_units_invocation_id_is_only_an_unconfirmed_escape(host):
    # `systemctl show -p InvocationID web` is readable by everyone: uid 1000 starts a process with it
    _web_and_a_user_manager(host)
    host.add_process(1501, 1500, "sleep", uid=1000, session=1501, cgroup=USER_SCOPE, environ={"INVOCATION_ID": "w9"})
    facts = host.scan().facts
    web = facts["units"]["web.service"]
    assert web["escaped"] == [] and web["counts"]["escaped"] == 0
    assert "escaped" not in codes(facts, "web.service")
    items = facts["host"]["unconfirmed_escapes"]
    assert [(i["pid"], i["claimed_unit"], i["escape_evidence"], i["uid"]) for i in items] == [
        (1501, "web.service", "environ_only", 1000)
    ]
    found = [f for f in facts["findings"] if f["code"] == "unconfirmed_escape"]
    assert len(found) == 1 and found[0]["unit"] is None and found[0]["severity"] == "info"
    assert "never acted on" in found[0]["remedy"]


@pytest.mark.parametrize("uid", [0, 33], ids=["root", "the-units-user"])
def test_environ_alone_still_names_the_escape_of_root_or_the_units_own_user(host, uid):
    # a forger with that uid could already signal the unit's processes: nothing to gain
    _web_and_a_user_manager(host)
    host.add_process(1502, 1500, "sleep", uid=uid, session=1502, cgroup=USER_SCOPE, environ={"INVOCATION_ID": "w9"})
    facts = host.scan().facts
    assert [(e["pid"], e["evidence"]) for e in facts["units"]["web.service"]["escaped"]] == [(1502, ["invocation_id"])]
    assert facts["host"]["unconfirmed_escapes"] == []


def test_a_service_that_switches_users_keeps_its_escape_when_a_second_piece_agrees(host):
    # not a uid rule: the child runs as uid 1000, but its session id is web's main PID
    _web_and_a_user_manager(host)
    host.add_process(1503, 1, "helper", uid=1000, session=1400, cgroup=USER_SCOPE, environ={"INVOCATION_ID": "w9"})
    facts = host.scan().facts
    assert [(e["pid"], e["evidence"]) for e in facts["units"]["web.service"]["escaped"]] == [
        (1503, ["invocation_id", "session_id"])
    ]
    assert facts["host"]["unconfirmed_escapes"] == []
