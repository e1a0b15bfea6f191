# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One consistent pass over /proc: the process table the analysis works on.

Two backends give identical records: ``procfs`` reads /proc directly (fast, and
the only source of cgroup, session id and the kernel-thread flag) and
``psutil`` takes what psutil offers and reads /proc for the rest.
Stdlib only (psutil is imported lazily): the cleanup command runs this on
hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time
from functools import partial

PF_KTHREAD = 0x00200000
BACKENDS = ("procfs", "psutil")
# Errors that mean "the process exited while we looked": normal, not a failure.
VANISHED = (errno.ENOENT, errno.ESRCH)
# pid_namespace() answers for a process whose namespace link exists but cannot
# be read (no CAP_SYS_PTRACE for another user's process): neither "host" nor
# "container" can be claimed.
NAMESPACE_DENIED = "denied"
_UNREAD = object()

PSUTIL_STATES = {
    "running": "R",
    "sleeping": "S",
    "disk-sleep": "D",
    "stopped": "T",
    "tracing-stop": "t",
    "zombie": "Z",
    "dead": "X",
    "wake-kill": "K",
    "waking": "W",
    "idle": "I",
    "parked": "P",
}


class BackendUnavailable(Exception):
    """The requested backend cannot run on this host (e.g. psutil missing)."""


class Process:
    """What one process looked like during the scan.

    The real uid is read on first use (``uid_reader``): the analysis needs it
    only for the few processes it lists, and reading /proc/PID/status for every
    process was a third of the scan's reads. The scan keeps the owner of the
    /proc/PID directory (one fstat) for a process that is gone by then.
    """

    FIELDS = (
        "pid",
        "ppid",
        "state",
        "comm",
        "uid",
        "starttime",
        "session",
        "pgrp",
        "kthread",
        "num_threads",
        "cgroup",
    )
    __slots__ = FIELDS[:4] + FIELDS[5:] + ("_uid", "_uid_reader")

    def __init__(
        self, pid, ppid, state, comm, uid, starttime, session, pgrp, kthread, num_threads, cgroup, uid_reader=None
    ):
        self.pid = pid
        self.ppid = ppid
        self.state = state
        self.comm = comm
        self._uid = uid
        self._uid_reader = uid_reader
        self.starttime = starttime
        self.session = session
        self.pgrp = pgrp
        self.kthread = kthread
        self.num_threads = num_threads
        self.cgroup = cgroup

    @property
    def uid(self):
        """The real uid (first field of ``Uid:`` in status).

        For a process that exited (or whose PID was reused) before its uid was
        asked for, the owner of its /proc directory seen during the scan: its
        effective uid (root for a non-dumpable process).
        """
        if self._uid_reader is not None:
            reader, self._uid_reader = self._uid_reader, None
            real = reader(self)
            if real is not None:
                self._uid = real
        return self._uid

    @uid.setter
    def uid(self, value):
        self._uid = value
        self._uid_reader = None

    @property
    def is_zombie(self):
        return self.state == "Z"

    def as_tuple(self):
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __repr__(self):
        return "Process(%s)" % ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.FIELDS)


class StatFields:
    """/proc/PID/stat parsed after the LAST ')': comm may hold spaces and ')'."""

    __slots__ = ("comm", "state", "ppid", "pgrp", "session", "flags", "num_threads", "starttime")

    def __init__(self, text):
        open_paren = text.index("(")
        close_paren = text.rindex(")")
        self.comm = text[open_paren + 1 : close_paren]
        # Only fields 3..22 are used: splitting off the remaining thirty costs time on every process.
        rest = text[close_paren + 2 :].split(None, 20)
        # rest[0] is field 3 of proc(5); field N sits at index N - 3.
        self.state = rest[0]
        self.ppid = int(rest[1])
        self.pgrp = int(rest[2])
        self.session = int(rest[3])
        self.flags = int(rest[6])
        self.num_threads = int(rest[17])
        self.starttime = int(rest[19])


# One read of this size returns the whole of /proc/PID/stat, cgroup or status:
# the kernel hands a single-record proc file to the first read whose buffer
# holds it, so a shorter answer is the end of the file.
READ_SIZE = 8192
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY


def read_at(dir_fd, name):
    """The whole content (bytes) of a file under a directory fd."""
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunk = os.read(fd, READ_SIZE)
        if len(chunk) < READ_SIZE:
            return chunk
        chunks = [chunk]
        while chunk:
            chunk = os.read(fd, 65536)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _real_uid(status_text):
    for line in status_text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def nspid(status_text):
    """The ``NSpid`` entries of a /proc/PID/status text (outermost namespace first), or None."""
    for line in status_text.splitlines():
        if line.startswith("NSpid:"):
            values = line.split()[1:]
            try:
                return [int(v) for v in values] or None
            except ValueError:
                return None
    return None


def host_pid_namespace(proc_root="/proc"):
    """PID 1's namespace as ``proc_root`` shows it (``ns/pid`` link text), or None.

    Where ``/proc/1/ns/pid`` cannot be read (a sandbox may deny it even to
    root), this process's own namespace stands in when its ``NSpid`` has a
    single entry: it then lives in the namespace ``proc_root`` belongs to,
    which is PID 1's. The scan and the signalling both decide with this one
    answer.
    """
    try:
        return os.readlink(os.path.join(proc_root, "1", "ns", "pid"))
    except OSError:
        pass
    try:
        with open(os.path.join(proc_root, "self", "status")) as handle:
            own = nspid(handle.read())
        if own is not None and len(own) == 1:
            return os.readlink(os.path.join(proc_root, "self", "ns", "pid"))
    except OSError:
        pass
    return None


def invocation_id_from_environ(raw):
    for entry in raw.split(b"\0"):
        if entry.startswith(b"INVOCATION_ID="):
            return entry[len(b"INVOCATION_ID=") :].decode("ascii", "replace")
    return None


class Clock:
    """Boot-time and monotonic clocks, read once per scan.

    /proc start times count from boot including suspend (CLOCK_BOOTTIME);
    systemd's *Monotonic stamps exclude it. Keeping both lets us convert.
    """

    def __init__(self, boottime_s=None, monotonic_s=None):
        self.boottime_s = time.clock_gettime(time.CLOCK_BOOTTIME) if boottime_s is None else boottime_s
        self.monotonic_s = time.clock_gettime(time.CLOCK_MONOTONIC) if monotonic_s is None else monotonic_s


class ProcessTable:
    """All processes of one scan, plus lazy access to their INVOCATION_ID."""

    def __init__(self, processes, hz, clock, backend, proc_root="/proc", environ_reader=None):
        self.processes = processes
        self.hz = hz
        self.clock = clock
        self.backend = backend
        self.proc_root = proc_root
        self._environ_reader = environ_reader or self._read_environ_procfs
        self._invocations = {}
        self._namespaces = {}
        self._host_namespace = _UNREAD
        self.environ_denied = 0
        self.namespace_denied = 0
        self.unreadable = 0
        self.cgroup_view = None

    def age_s(self, proc):
        return max(0.0, round(self.clock.boottime_s - proc.starttime / float(self.hz), 1))

    def start_monotonic_us(self, proc):
        """Process start on systemd's CLOCK_MONOTONIC scale, in microseconds."""
        suspended_s = self.clock.boottime_s - self.clock.monotonic_s
        return int((proc.starttime / float(self.hz) - suspended_s) * 1000000)

    def invocation_id(self, pid):
        """INVOCATION_ID of a process, read on demand; None when absent or unreadable.

        Environ is read only for processes the analysis asks about: it is the
        costliest file and needs CAP_SYS_PTRACE for other users' processes.
        """
        if pid not in self._invocations:
            try:
                self._invocations[pid] = self._environ_reader(pid)
            except (IOError, OSError) as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    self.environ_denied += 1
                self._invocations[pid] = None
        return self._invocations[pid]

    def pid_namespace(self, pid):
        """The process's PID namespace ('pid:[4026531836]'), read on demand.

        None when the process is gone, NAMESPACE_DENIED when the link cannot be
        read. Only the few processes whose attribution depends on it are asked
        about, so a host full of containers costs one readlink per candidate.
        """
        if pid not in self._namespaces:
            try:
                self._namespaces[pid] = self._read_namespace(pid)
            except (IOError, OSError) as exc:
                if exc.errno in VANISHED:
                    self._namespaces[pid] = None
                else:
                    self._namespaces[pid] = NAMESPACE_DENIED
                    if pid != 1:
                        self.namespace_denied += 1
        return self._namespaces[pid]

    def host_pid_namespace(self):
        """PID 1's namespace as this scanner's /proc shows it (a container's own init inside one)."""
        if self._host_namespace is _UNREAD:
            self._host_namespace = host_pid_namespace(self.proc_root) or NAMESPACE_DENIED
        return self._host_namespace

    def _read_namespace(self, pid):
        return os.readlink(os.path.join(self.proc_root, str(pid), "ns", "pid"))

    def _read_environ_procfs(self, pid):
        with open(os.path.join(self.proc_root, str(pid), "environ"), "rb") as handle:
            return invocation_id_from_environ(handle.read())


def _scan_procfs_one(proc_root, name, cgroup_view, cgroup_paths=None):
    """Read one /proc/PID consistently through a directory fd: (stat, kthread, cgroup path, owner uid).

    If the PID is reused between two reads, the old directory fd answers ESRCH
    instead of describing the new process. ``cgroup_paths`` caches the path of
    each distinct cgroup file (a host has a few hundred for thousands of
    processes), keyed by the raw bytes so that most files are never decoded.
    """
    dir_fd = os.open(proc_root + "/" + name, _DIR_FLAGS)
    try:
        owner = os.fstat(dir_fd).st_uid
        stat = StatFields(read_at(dir_fd, "stat").decode("utf-8", "replace"))
        kthread = bool(stat.flags & PF_KTHREAD)
        cgroup = None
        if not kthread:
            raw = read_at(dir_fd, "cgroup")
            if cgroup_paths is None:
                cgroup = cgroup_view.path_of(raw.decode("utf-8", "replace"))
            else:
                cgroup = cgroup_paths.get(raw, _UNREAD)
                if cgroup is _UNREAD:
                    cgroup = cgroup_paths[raw] = cgroup_view.path_of(raw.decode("utf-8", "replace"))
    finally:
        os.close(dir_fd)
    return stat, kthread, cgroup, owner


def read_real_uid(proc_root, proc):
    """The real uid of a scanned process, read when first asked for; None if it is gone.

    Read through a fresh directory fd whose stat must show the start time the
    scan saw: a PID reused since the scan is another process, and its uid is
    not this one's.
    """
    try:
        dir_fd = os.open(os.path.join(proc_root, str(proc.pid)), os.O_RDONLY | os.O_DIRECTORY)
    except (IOError, OSError):
        return None
    try:
        if StatFields(read_at(dir_fd, "stat").decode("utf-8", "replace")).starttime != proc.starttime:
            return None
        return _real_uid(read_at(dir_fd, "status").decode("utf-8", "replace"))
    except (IOError, OSError, ValueError):
        return None
    finally:
        os.close(dir_fd)


def _pids(proc_root):
    return [name for name in os.listdir(proc_root) if name.isdigit()]


def scan_procfs(proc_root, cgroup_view, clock, hz):
    processes = {}
    unreadable = 0
    cgroup_paths = {}
    uid_reader = partial(read_real_uid, proc_root)
    for name in _pids(proc_root):
        try:
            stat, kthread, cgroup, owner = _scan_procfs_one(proc_root, name, cgroup_view, cgroup_paths)
        except (IOError, OSError) as exc:
            if exc.errno not in VANISHED:
                unreadable += 1
            continue
        pid = int(name)
        processes[pid] = Process(
            pid,
            stat.ppid,
            stat.state,
            stat.comm,
            owner,
            stat.starttime,
            stat.session,
            stat.pgrp,
            kthread,
            stat.num_threads,
            cgroup,
            uid_reader,
        )
    table = ProcessTable(processes, hz, clock, "procfs", proc_root)
    table.unreadable = unreadable
    return table


def scan_psutil(proc_root, cgroup_view, clock, hz):
    try:
        import psutil  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise BackendUnavailable(
            "backend=psutil needs the Python module psutil on the target "
            "(Debian/Ubuntu: python3-psutil, RHEL: python3-psutil); or use backend=procfs"
        )
    boot_time = psutil.boot_time()
    processes = {}
    unreadable = 0
    attrs = ["pid", "ppid", "status", "uids", "create_time", "num_threads"]
    for ps_proc in psutil.process_iter(attrs=attrs, ad_value=None):
        info = ps_proc.info
        pid = info["pid"]
        if info["create_time"] is None or info["status"] is None:
            continue  # vanished between listing and reading
        try:
            # psutil offers no session id, PF_KTHREAD or cgroup; its name() is
            # extended from cmdline for 15-char names, so take comm from stat too.
            stat, kthread, cgroup, _owner = _scan_procfs_one(proc_root, str(pid), cgroup_view)
        except (IOError, OSError) as exc:
            if exc.errno not in VANISHED:
                unreadable += 1
            continue
        uids = info["uids"]
        processes[pid] = Process(
            pid,
            info["ppid"],
            PSUTIL_STATES.get(info["status"], "?"),
            stat.comm,
            uids.real if uids is not None else None,
            int(round((info["create_time"] - boot_time) * hz)),
            stat.session,
            stat.pgrp,
            kthread,
            info["num_threads"] if info["num_threads"] is not None else stat.num_threads,
            cgroup,
        )

    def read_environ(pid):
        try:
            return psutil.Process(pid).environ().get("INVOCATION_ID")
        except psutil.AccessDenied:
            raise OSError(errno.EACCES, "environ of %d" % pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None

    table = ProcessTable(processes, hz, clock, "psutil", proc_root, environ_reader=read_environ)
    table.unreadable = unreadable
    return table


def snapshot(cgroup_view, backend="procfs", proc_root="/proc", clock=None, hz=None):
    """Take the process table with the named backend."""
    if backend not in BACKENDS:
        raise ValueError("backend must be one of %s, got %r" % (", ".join(BACKENDS), backend))
    clock = clock or Clock()
    hz = hz or os.sysconf("SC_CLK_TCK")
    reader = scan_procfs if backend == "procfs" else scan_psutil
    table = reader(proc_root, cgroup_view, clock, hz)
    # Kept so that safe signalling re-reads a cgroup exactly as the scan did.
    table.cgroup_view = cgroup_view
    return table
