# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PID-reuse-safe signalling of single processes.

The pattern (Linux >= 5.3, Python >= 3.9):

1. open ``/proc/PID`` as a directory fd;
2. ``pidfd_open(PID)``;
3. re-read the identity (stat, cgroup) *through the directory fd*: if the
   process died and the PID was reused in between, the directory fd belongs
   to the dead process and every read fails with ESRCH;
4. compare start time (and cgroup) with what the scan saw, and the PID
   namespace with the host init's: a process in another PID namespace belongs
   to a container and is never signalled;
5. signal through the pidfd, which can never reach another process.

Start time has 10 ms ticks: a PID reused within the same tick as the scan
matches it. The planner therefore refuses candidates younger than one second
at scan time (``remediation.MIN_CANDIDATE_AGE_S``); this module cannot tell.

Where pidfd support is missing this module refuses to signal and says why.
It imports nothing from Ansible: the cleanup timer runs it on plain hosts.
"""

from __future__ import absolute_import, division, print_function

import errno
import os
import select
import signal
import time

from .proc_table import StatFields, read_at

__metaclass__ = type

PF_KTHREAD = 0x00200000

# outcomes of terminate()/send()
GONE = 'gone'  # process no longer exists (cleaned)
ZOMBIE = 'zombie'  # dead but not reaped by its parent: not cleaned
RUNNING = 'still_running'  # survived SIGTERM and SIGKILL (D state...)
SIGNALLED = 'signalled'  # signal delivered, process alive (nudge)
REFUSED = 'refused'  # guard rail refused to signal
VANISHED = 'vanished'  # gone before we touched it (nothing sent)


class Refused(Exception):
    """A guard rail refused to signal; ``str(exc)`` is the reason."""


class Vanished(Exception):
    """The process is gone (ESRCH/ENOENT) before it was signalled."""


def pidfd_support():
    """Return ``(supported, reason)``."""
    if not hasattr(os, 'pidfd_open'):
        return False, 'os.pidfd_open is missing (needs Python >= 3.9 on Linux >= 5.3); refusing to signal'
    if not hasattr(signal, 'pidfd_send_signal'):
        return False, 'signal.pidfd_send_signal is missing (needs Python >= 3.9 on Linux >= 5.3); refusing to signal'
    return True, ''


def parse_stat(text):
    """Parse /proc/PID/stat text (the scan's parser: split after the LAST ')')."""
    fields = StatFields(text)
    pid = int(text[: text.index('(')].strip())
    return {
        'pid': pid,
        'comm': fields.comm,
        'state': fields.state,
        'ppid': fields.ppid,
        'pgrp': fields.pgrp,
        'session': fields.session,
        'flags': fields.flags,
        'starttime': fields.starttime,
    }


def nspid(status_text):
    """The ``NSpid`` entries of a /proc/PID/status text (outermost namespace first), or None."""
    for line in status_text.splitlines():
        if line.startswith('NSpid:'):
            values = line.split()[1:]
            try:
                return [int(v) for v in values] or None
            except ValueError:
                return None
    return None


def _read_path(path):
    with open(path) as handle:
        return handle.read()


def _read_at(dir_fd, name):
    return read_at(dir_fd, name).decode('utf-8', 'replace')


def cgroup_paths(text):
    """All hierarchy paths of a /proc/PID/cgroup text, ' (deleted)' stripped."""
    paths = []
    for line in text.splitlines():
        parts = line.split(':', 2)
        if len(parts) != 3:
            continue
        path = parts[2]
        if path.endswith(' (deleted)'):
            path = path[: -len(' (deleted)')]
        paths.append(path)
    return paths


def cgroup_matches(text, expected, cgroup_view=None):
    """True when the process's cgroup (raw ``text``) is ``expected``.

    With the scan's ``cgroup_view`` the path is translated exactly as the scan
    did. Without it, one hierarchy line must name ``expected`` or end in it.

    ``expected`` is the path as systemd sees it (scan strips the container
    prefix), so a raw path equal to it or ending in ``/`` + it matches."""
    if not expected:
        return True
    if cgroup_view is not None:
        path = cgroup_view.path_of(text)
        return path is not None and path.replace(' (deleted)', '') == expected
    expected = expected.rstrip('/') or '/'
    for path in cgroup_paths(text):
        if path == expected:
            return True
        # expected starts with '/', so a suffix match is aligned on a component
        if expected != '/' and path.endswith(expected):
            return True
    return False


def _read_stat_path(proc_root, pid):
    with open(os.path.join(proc_root, str(pid), 'stat')) as handle:
        return parse_stat(handle.read())


def own_ancestors(proc_root='/proc'):
    """PIDs of this process and every ancestor up to PID 1 (inclusive)."""
    pids = set()
    pid = os.getpid()
    for _dummy in range(4096):
        if pid <= 0 or pid in pids:
            break
        pids.add(pid)
        try:
            pid = _read_stat_path(proc_root, pid)['ppid']
        except (OSError, ValueError, IndexError):
            break
    return pids


class Guard:
    """Who must never be signalled, computed once per run."""

    def __init__(self, proc_root='/proc', extra_pids=None):
        self.proc_root = proc_root
        self.self_pid = os.getpid()
        self.ancestors = own_ancestors(proc_root)
        self.pgrp = os.getpgrp()
        self.extra_pids = set(extra_pids or ())
        self._host_pid_ns = None

    def host_pid_ns(self):
        """The PID namespace of the host's init (``ns/pid`` link text), or None when unreadable.

        Where ``/proc/1/ns/pid`` is not readable (a sandbox may deny it even to
        root), this process's own namespace stands in when its ``NSpid`` has a
        single entry: it then lives in the namespace ``/proc`` belongs to,
        which is PID 1's."""
        if self._host_pid_ns is None:
            try:
                self._host_pid_ns = os.readlink(os.path.join(self.proc_root, '1', 'ns', 'pid'))
            except OSError:
                try:
                    own = nspid(_read_path(os.path.join(self.proc_root, 'self', 'status')))
                    if own is not None and len(own) == 1:
                        self._host_pid_ns = os.readlink(os.path.join(self.proc_root, 'self', 'ns', 'pid'))
                except OSError:
                    pass
        return self._host_pid_ns

    def check_namespace(self, pid, pid_ns=None, pid_chain=None):
        """Refuse a process outside the host init's PID namespace (a container's); raises Refused.

        ``pid_ns``: its ``ns/pid`` link text; ``pid_chain``: its ``NSpid``
        (more than one entry: it lives in a nested namespace). With neither
        usable the process is refused: when in doubt, do nothing."""
        if pid_chain is not None and len(pid_chain) != 1:
            raise Refused(
                'PID %d is in another PID namespace (NSpid %s): it belongs to a container and is never signalled'
                % (pid, ' '.join(str(n) for n in pid_chain))
            )
        host = self.host_pid_ns()
        if pid_ns is not None and host is not None and pid_ns != host:
            raise Refused(
                'PID %d is in another PID namespace (%s, host init: %s): it belongs to a container '
                'and is never signalled' % (pid, pid_ns, host)
            )
        if pid_chain is None and (pid_ns is None or host is None):
            raise Refused('PID %d: its PID namespace cannot be checked: refusing to signal' % pid)

    def check_pid(self, pid):
        """Refuse PIDs that are never valid targets (raises Refused)."""
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise Refused('PID %r is not an integer' % (pid,))
        if pid <= 0:
            raise Refused('PID %d: never signal PID 0 or negative PIDs (process groups)' % pid)
        if pid == 1:
            raise Refused('PID 1 (init) is never signalled')
        if pid == self.self_pid:
            raise Refused('PID %d is this cleanup process itself' % pid)
        if pid in self.ancestors:
            raise Refused('PID %d is an ancestor of this cleanup process (the session that runs it)' % pid)
        if pid in self.extra_pids:
            raise Refused('PID %d is protected' % pid)

    def check_identity(self, ident, expected_starttime, expected_cgroup_text_ok=True, allow_zombie=False):
        """Refuse on what the live identity says (raises Refused)."""
        if ident['flags'] & PF_KTHREAD or ident['ppid'] == 2 or ident['pid'] == 2:
            raise Refused('PID %d (%s) is a kernel thread' % (ident['pid'], ident['comm']))
        if ident['pgrp'] == self.pgrp:
            raise Refused('PID %d is in the process group of this cleanup process (%d)' % (ident['pid'], self.pgrp))
        if ident['pid'] in self.ancestors:
            raise Refused('PID %d is an ancestor of this cleanup process' % ident['pid'])
        if expected_starttime is None:
            raise Refused('PID %d: no start time from the scan to check identity against' % ident['pid'])
        if ident['starttime'] != int(expected_starttime):
            raise Refused(
                'PID %d was reused: start time %d differs from the scanned %d'
                % (ident['pid'], ident['starttime'], int(expected_starttime))
            )
        if not expected_cgroup_text_ok:
            raise Refused('PID %d moved to another cgroup since the scan' % ident['pid'])
        if ident['state'] == 'Z' and not allow_zombie:
            raise Refused('PID %d is a zombie: signals cannot remove it, only its parent can reap it' % ident['pid'])


class ProcessHandle:
    """An opened process: /proc/PID directory fd + pidfd. Use as a context manager."""

    def __init__(self, pid, dir_fd, pidfd, proc_root):
        self.pid = pid
        self.dir_fd = dir_fd
        self.pidfd = pidfd
        self.proc_root = proc_root

    def read_stat(self):
        """Identity through the directory fd; raises Vanished when the process is reaped."""
        try:
            return parse_stat(_read_at(self.dir_fd, 'stat'))
        except OSError as exc:
            if exc.errno in (errno.ESRCH, errno.ENOENT):
                raise Vanished('PID %d is gone' % self.pid)
            raise

    def read_cgroup(self):
        try:
            return _read_at(self.dir_fd, 'cgroup')
        except OSError as exc:
            if exc.errno in (errno.ESRCH, errno.ENOENT):
                raise Vanished('PID %d is gone' % self.pid)
            raise

    def read_pid_ns(self):
        """(ns/pid link text or None, NSpid list or None), both through the directory fd."""
        try:
            link = os.readlink('ns/pid', dir_fd=self.dir_fd)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                raise Vanished('PID %d is gone' % self.pid)
            link = None  # EACCES in some sandboxes: NSpid still tells
        try:
            chain = nspid(_read_at(self.dir_fd, 'status'))
        except OSError as exc:
            if exc.errno in (errno.ESRCH, errno.ENOENT):
                raise Vanished('PID %d is gone' % self.pid)
            chain = None
        return link, chain

    def send(self, sig):
        signal.pidfd_send_signal(self.pidfd, sig)

    def wait_exit(self, timeout):
        """Wait until the process exits (pidfd readable). Returns True if it did."""
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout * 1000))))

    def state(self):
        """'gone', 'Z' or the live state letter."""
        try:
            return self.read_stat()['state']
        except Vanished:
            return GONE

    def close(self):
        for fd in (self.pidfd, self.dir_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = self.dir_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_process(
    pid, expected_starttime, expected_cgroup=None, guard=None, proc_root='/proc', allow_zombie=False, cgroup_view=None
):
    """Open ``pid`` race-free and verify it is the process the scan saw.

    Raises Refused (guard rail or missing pidfd support) or Vanished.
    Returns (ProcessHandle, identity dict)."""
    guard = guard or Guard(proc_root)
    guard.check_pid(pid)
    ok, reason = pidfd_support()
    if not ok:
        raise Refused(reason)
    try:
        dir_fd = os.open(os.path.join(proc_root, str(pid)), os.O_RDONLY | os.O_DIRECTORY | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise Vanished('PID %d is gone' % pid)
        raise Refused('cannot open /proc/%d: %s' % (pid, exc.strerror))
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as exc:
        os.close(dir_fd)
        if exc.errno == errno.ESRCH:
            raise Vanished('PID %d is gone' % pid)
        if exc.errno == errno.ENOSYS:
            raise Refused('pidfd_open is not supported by this kernel (needs Linux >= 5.3); refusing to signal')
        raise Refused('pidfd_open(%d) failed: %s' % (pid, exc.strerror))
    handle = ProcessHandle(pid, dir_fd, pidfd, proc_root)
    try:
        # Read through the directory fd AFTER pidfd_open: if the PID was reused
        # between the two opens, the directory fd is stale and reads ESRCH.
        ident = handle.read_stat()
        cg_ok = True
        if expected_cgroup:
            cg_ok = cgroup_matches(handle.read_cgroup(), expected_cgroup, cgroup_view)
        guard.check_identity(ident, expected_starttime, cg_ok, allow_zombie=allow_zombie)
        if ident['state'] != 'Z':  # a zombie has no namespaces left to read, and signals do nothing to it
            link, chain = handle.read_pid_ns()
            guard.check_namespace(pid, link, chain)
    except BaseException:
        handle.close()
        raise
    return handle, ident


class SignalResult:
    """What was done to one process and what is true afterwards."""

    def __init__(self, pid, outcome, reason='', signals=None, before=None, after=None, cleaned=False):
        self.pid = pid
        self.outcome = outcome
        self.reason = reason
        self.signals = signals or []
        self.before = before
        self.after = after
        self.cleaned = cleaned

    @property
    def acted(self):
        return bool(self.signals)

    def as_dict(self):
        return {
            'pid': self.pid,
            'outcome': self.outcome,
            'reason': self.reason,
            'signals': list(self.signals),
            'before': self.before,
            'after': self.after,
            'cleaned': self.cleaned,
        }


def _brief(ident):
    if ident is None:
        return None
    return {'state': ident['state'], 'ppid': ident['ppid'], 'comm': ident['comm'], 'starttime': ident['starttime']}


def _after(handle, settle):
    """Re-read the state after acting. A dead process whose parent has not
    reaped it yet is a zombie (Z), one being torn down is X: wait up to
    ``settle`` seconds for it to go. X at the end counts as gone."""
    deadline = time.monotonic() + settle
    while True:
        try:
            ident = handle.read_stat()
        except Vanished:
            return None
        if ident['state'] not in ('Z', 'X', 'x'):
            return ident
        if time.monotonic() >= deadline:
            return None if ident['state'] in ('X', 'x') else ident
        time.sleep(0.05)


def send(
    pid,
    sig,
    expected_starttime,
    expected_cgroup=None,
    guard=None,
    proc_root='/proc',
    allow_zombie=False,
    cgroup_view=None,
):
    """Send one signal (e.g. SIGCHLD to nudge a parent). Never raises."""
    try:
        handle, ident = open_process(
            pid, expected_starttime, expected_cgroup, guard, proc_root, allow_zombie, cgroup_view
        )
    except Refused as exc:
        return SignalResult(pid, REFUSED, str(exc))
    except Vanished as exc:
        return SignalResult(pid, VANISHED, str(exc), cleaned=True)
    with handle:
        try:
            handle.send(sig)
        except ProcessLookupError:
            return SignalResult(pid, VANISHED, 'exited before the signal', before=_brief(ident), cleaned=True)
        except OSError as exc:
            return SignalResult(pid, REFUSED, 'signal failed: %s' % exc.strerror, before=_brief(ident))
        after = _after(handle, 0)
        outcome = SIGNALLED if after is not None else GONE
        return SignalResult(
            pid, outcome, '', [signal.Signals(sig).name], _brief(ident), _brief(after), cleaned=after is None
        )


def terminate(
    pid,
    expected_starttime,
    expected_cgroup=None,
    grace=10.0,
    kill_wait=5.0,
    reap_wait=1.0,
    guard=None,
    proc_root='/proc',
    cgroup_view=None,
):
    """SIGTERM, ``grace`` seconds, SIGKILL; then re-read the state.

    ``cleaned`` is true only when the process no longer exists. A process
    that died but stays a zombie (its parent does not reap it) is reported
    as ``zombie``, not cleaned. Never raises."""
    try:
        handle, ident = open_process(
            pid, expected_starttime, expected_cgroup, guard, proc_root, cgroup_view=cgroup_view
        )
    except Refused as exc:
        return SignalResult(pid, REFUSED, str(exc))
    except Vanished as exc:
        return SignalResult(pid, VANISHED, str(exc), cleaned=True)
    sent = []
    with handle:
        try:
            handle.send(signal.SIGTERM)
            sent.append('SIGTERM')
            if not handle.wait_exit(grace):
                handle.send(signal.SIGKILL)
                sent.append('SIGKILL')
                handle.wait_exit(kill_wait)
        except ProcessLookupError:
            pass
        except OSError as exc:
            return SignalResult(pid, REFUSED, 'signal failed: %s' % exc.strerror, sent, _brief(ident))
        after = _after(handle, reap_wait)
    if after is None:
        return SignalResult(
            pid, GONE, 'terminated by %s' % sent[-1] if sent else 'gone', sent, _brief(ident), None, cleaned=True
        )
    if after['state'] == 'Z':
        return SignalResult(
            pid,
            ZOMBIE,
            'died but its parent PID %d has not reaped it: still a zombie' % after['ppid'],
            sent,
            _brief(ident),
            _brief(after),
            cleaned=False,
        )
    return SignalResult(
        pid,
        RUNNING,
        'still running in state %s after %s' % (after['state'], '+'.join(sent)),
        sent,
        _brief(ident),
        _brief(after),
        cleaned=False,
    )
