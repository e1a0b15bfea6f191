"""Synthetic hosts for unit tests: a /proc tree, /run/systemd and a fake systemctl.

Each layout writes /proc/PID/cgroup the way the kernel does on that kind of host,
so the scan's hierarchy and prefix logic is exercised, not bypassed.
"""

import errno
import os

from ansible_collections.reaper.systemd.plugins.module_utils import proc_table
from ansible_collections.reaper.systemd.plugins.module_utils.scan import HostPaths, ScanOptions, scan

HZ = 100
BOOTTIME_S = 10000.0
MONOTONIC_S = 9900.0  # the host was suspended for 100 s: the clocks differ
HOST_PID_NS = "pid:[4026531836]"

MOUNTINFO = {
    "legacy": "30 24 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
    "hybrid": (
        "30 24 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
        "31 24 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    ),
    "unified": "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
}
DEFAULT_PROPS = {
    "LoadState": "loaded",
    "ActiveState": "active",
    "SubState": "running",
    "MainPID": "0",
    "ExecMainPID": "0",
    "ControlGroup": "",
    "InvocationID": "",
    "KillMode": "control-group",
    "KillSignal": "15",
    "SendSIGKILL": "yes",
    "TimeoutStopUSec": "1min 30s",
    "TasksCurrent": "[not set]",
    "TasksMax": "infinity",
    "Delegate": "no",
    "NRestarts": "0",
    "InactiveExitTimestampMonotonic": "0",
}


def ticks_at(monotonic_s):
    """/proc start time (boot-time ticks) of a process started at a CLOCK_MONOTONIC instant."""
    return int(round((monotonic_s + (BOOTTIME_S - MONOTONIC_S)) * HZ))


class FakeHost:
    """Build a host; `proc_prefix` is what /proc shows before systemd's paths,
    `systemd_prefix` what systemd itself shows (equal inside podman, different under nsenter)."""

    def __init__(self, root, layout="hybrid", proc_prefix="", systemd_prefix="", systemd=True, version=252):
        self.root = str(root)
        self.layout = layout
        self.proc_prefix = proc_prefix
        self.systemd_prefix = systemd_prefix
        self.version = version
        self.units = {}
        self.denied = set()
        self.ns_denied = set()
        self.proc = os.path.join(self.root, "proc")
        self.run_systemd = os.path.join(self.root, "run", "systemd")
        os.makedirs(os.path.join(self.proc, "self"))
        os.makedirs(os.path.join(self.proc, "sys", "kernel"))
        os.makedirs(os.path.join(self.run_systemd, "sessions"))
        if systemd:
            os.makedirs(os.path.join(self.run_systemd, "system"))
        self._write("proc/self/mountinfo", MOUNTINFO[layout])
        self._write("proc/self/status", "Name:\tpython\nCapEff:\t000001ffffffffff\n")
        self._write("proc/sys/kernel/pid_max", "32768\n")
        self._write("proc/sys/kernel/threads-max", "100000\n")
        self.add_process(1, 0, "systemd" if systemd else "init", cgroup="/init.scope", session=1)

    def _write(self, relative, text, mode="w"):
        path = os.path.join(self.root, relative)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, mode) as handle:
            handle.write(text)

    def cgroup_file(self, path, zombie=False):
        full = self.proc_prefix + path
        lines = []
        if self.layout in ("legacy", "hybrid"):
            # On v1 a zombie shows '/' for the v1 hierarchies (seen on real hosts).
            lines.append("9:name=systemd:%s" % ("/" if zombie else full))
            lines.append("4:memory:%s" % ("/" if zombie else full))
            # In podman containers the unified line shows only the container's root.
            podman = self.proc_prefix and self.proc_prefix == self.systemd_prefix
            lines.append("0::%s" % (full if self.layout == "hybrid" and not podman else "/"))
        else:
            lines.append("0::%s%s" % (full, " (deleted)" if zombie and path.endswith(".deleted") else ""))
        return "\n".join(lines) + "\n"

    def add_process(
        self,
        pid,
        ppid,
        comm,
        state="S",
        uid=0,
        start=None,
        session=None,
        pgrp=None,
        cgroup="/",
        environ=None,
        kthread=False,
        threads=1,
        pid_ns=HOST_PID_NS,
    ):
        start = ticks_at(100.0) if start is None else start
        session = pid if session is None else session
        pgrp = pid if pgrp is None else pgrp
        flags = proc_table.PF_KTHREAD if kthread else 0x400100
        fields = [state, ppid, pgrp, session, 0, -1, flags] + [0] * 10 + [threads, 0, start] + [0] * 30
        stat = "%d (%s) %s\n" % (pid, comm, " ".join(str(f) for f in fields))
        self._write("proc/%d/stat" % pid, stat)
        self._write("proc/%d/status" % pid, "Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n" % (comm[:15], uid, uid, uid, uid))
        self._write("proc/%d/cgroup" % pid, "" if kthread else self.cgroup_file(cgroup, zombie=state == "Z"))
        env = b"PATH=/usr/bin\0"
        if environ:
            env += b"".join(("%s=%s\0" % item).encode() for item in sorted(environ.items()))
        self._write("proc/%d/environ" % pid, env, mode="wb")
        # The kernel shows the namespace as a symlink whose target is only a name.
        ns_dir = os.path.join(self.proc, str(pid), "ns")
        if not os.path.isdir(ns_dir):
            os.makedirs(ns_dir)
        if os.path.lexists(os.path.join(ns_dir, "pid")):
            os.unlink(os.path.join(ns_dir, "pid"))
        if pid_ns is not None:
            os.symlink(pid_ns, os.path.join(ns_dir, "pid"))

    def add_vanished(self, pid):
        """A PID listed in /proc whose files are gone by the time we read them."""
        os.makedirs(os.path.join(self.proc, str(pid)))

    def deny_environ(self, *pids):
        self.denied.update(pids)

    def deny_namespace(self, *pids):
        """readlink of /proc/PID/ns/pid fails with EACCES (no CAP_SYS_PTRACE for that process)."""
        self.ns_denied.update(pids)

    def add_unit(self, name, **props):
        values = dict(DEFAULT_PROPS, Id=name)
        values.update(dict((k, str(v)) for k, v in props.items()))
        if values["ControlGroup"]:
            values["ControlGroup"] = self.systemd_prefix + values["ControlGroup"]
        self.units[name] = values

    def add_session(self, session_id, **record):
        self._write("run/systemd/sessions/%s" % session_id, "".join("%s=%s\n" % kv for kv in record.items()))

    def systemctl(self, argv, env):
        if argv[-1] == "--version" or "--version" in argv:
            return "systemd %d (%d.1-1)\n+PAM +AUDIT\n" % (self.version, self.version)
        if argv[0] == "journalctl":
            return getattr(self, "journal", "")
        blocks = []
        for props in self.units.values():
            blocks.append("\n".join("%s=%s" % kv for kv in sorted(props.items())))
        blocks.append("Id=init.scope\nControlGroup=%s/init.scope" % self.systemd_prefix)
        return "\n\n".join(blocks) + "\n"

    def scan(self, monkeypatch=None, **options):
        if self.ns_denied:
            assert monkeypatch is not None, "deny_namespace needs the monkeypatch fixture"
            original_ns = proc_table.ProcessTable._read_namespace
            ns_denied = self.ns_denied

            def ns_reader(table, pid):
                if pid in ns_denied:
                    raise OSError(errno.EACCES, "Permission denied")
                return original_ns(table, pid)

            monkeypatch.setattr(proc_table.ProcessTable, "_read_namespace", ns_reader)
        if self.denied:
            assert monkeypatch is not None, "deny_environ needs the monkeypatch fixture"
            original = proc_table.ProcessTable._read_environ_procfs
            denied = self.denied

            def reader(table, pid):
                if pid in denied:
                    raise OSError(errno.EACCES, "Permission denied")
                return original(table, pid)

            monkeypatch.setattr(proc_table.ProcessTable, "_read_environ_procfs", reader)
        return scan(
            ScanOptions(**options),
            paths=HostPaths(self.proc, self.run_systemd),
            runner=self.systemctl,
            clock=proc_table.Clock(BOOTTIME_S, MONOTONIC_S),
            hz=HZ,
        )
