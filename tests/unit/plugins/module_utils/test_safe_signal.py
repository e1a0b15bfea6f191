# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""safe_signal against real processes of this machine, plus its guard rails."""

from __future__ import absolute_import, division, print_function

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import safe_signal as ss

__metaclass__ = type


def _stat(pid):
    with open('/proc/%d/stat' % pid) as handle:
        return ss.parse_stat(handle.read())


def _cgroup(pid):
    with open('/proc/%d/cgroup' % pid) as handle:
        return handle.read()


@pytest.fixture
def child():
    """A sleeping child in its own session (so not in our process group)."""
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture
def stubborn_child():
    """A child that ignores SIGTERM: only SIGKILL ends it."""
    code = (
        'import signal, sys, time\n'
        'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
        'sys.stdout.write("ready\\n"); sys.stdout.flush()\n'
        'time.sleep(120)\n'
    )
    proc = subprocess.Popen([sys.executable, '-c', code], start_new_session=True, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b'ready'
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _reaper_thread(proc):
    thread = threading.Thread(target=proc.wait)
    thread.daemon = True
    thread.start()
    return thread


def test_pidfd_available_here():
    ok, reason = ss.pidfd_support()
    assert ok, reason


def test_parse_stat_comm_with_spaces_and_parens():
    text = '4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0 0'
    ident = ss.parse_stat(text)
    assert ident['comm'] == 'a) b (c)'
    assert ident['state'] == 'S'
    assert ident['ppid'] == 1
    assert ident['starttime'] == 987654


def test_terminate_live_child_is_gone(child):
    ident = _stat(child.pid)
    _reaper_thread(child)  # the parent (us) reaps promptly, like a well-behaved parent
    result = ss.terminate(child.pid, ident['starttime'], grace=5, reap_wait=2)
    assert result.outcome == ss.GONE, result.as_dict()
    assert result.cleaned is True
    assert result.signals == ['SIGTERM']
    assert not os.path.exists('/proc/%d' % child.pid) or _stat(child.pid)['starttime'] != ident['starttime']


def test_terminate_escalates_to_sigkill(stubborn_child):
    ident = _stat(stubborn_child.pid)
    reaper = _reaper_thread(stubborn_child)
    started = time.monotonic()
    result = ss.terminate(stubborn_child.pid, ident['starttime'], grace=0.5, reap_wait=2)
    assert result.signals == ['SIGTERM', 'SIGKILL']
    assert result.outcome == ss.GONE
    assert time.monotonic() - started >= 0.5
    reaper.join(5)
    assert stubborn_child.returncode == -signal.SIGKILL


def test_killed_but_unreaped_is_a_zombie_not_cleaned(child):
    """We are the parent and do not wait(): the killed child stays a zombie."""
    ident = _stat(child.pid)
    result = ss.terminate(child.pid, ident['starttime'], grace=5, reap_wait=0.3)
    try:
        assert result.signals == ['SIGTERM']
        assert result.outcome == ss.ZOMBIE
        assert result.cleaned is False
        assert result.after['state'] == 'Z'
        assert 'zombie' in result.reason
    finally:
        child.wait()


def test_zombie_target_is_refused_not_reported_cleaned(child):
    child.send_signal(signal.SIGKILL)
    for _dummy in range(100):
        if _stat(child.pid)['state'] == 'Z':
            break
        time.sleep(0.02)
    ident = _stat(child.pid)
    assert ident['state'] == 'Z'
    result = ss.terminate(child.pid, ident['starttime'], grace=0.1)
    assert result.outcome == ss.REFUSED
    assert result.cleaned is False
    assert result.signals == []
    assert 'zombie' in result.reason
    child.wait()


def test_reused_pid_is_refused(child):
    """A different start time means the PID now names another process."""
    ident = _stat(child.pid)
    result = ss.terminate(child.pid, ident['starttime'] - 1, grace=0.1)
    assert result.outcome == ss.REFUSED
    assert 'reused' in result.reason
    assert result.signals == []
    assert child.poll() is None, 'the process must not have been signalled'


def test_pid_reused_between_scan_and_action(child, monkeypatch):
    """The identity read after pidfd_open says another start time (the PID
    was reused between scan and action): refused, nothing sent."""
    ident = _stat(child.pid)
    real_read_stat = ss.ProcessHandle.read_stat

    def reused_read_stat(self):
        data = real_read_stat(self)
        data['starttime'] += 500
        return data

    monkeypatch.setattr(ss.ProcessHandle, 'read_stat', reused_read_stat)
    result = ss.terminate(child.pid, ident['starttime'], grace=0.1)
    assert result.outcome == ss.REFUSED
    assert 'reused' in result.reason
    assert result.signals == []
    assert child.poll() is None


def test_stale_directory_fd_reads_esrch(child):
    """The mechanism behind the race check: once the process is reaped, reads
    through its /proc directory fd fail, whatever process gets the PID next."""
    ident = _stat(child.pid)
    handle, _ident = ss.open_process(child.pid, ident['starttime'])
    with handle:
        child.kill()
        child.wait()
        with pytest.raises(ss.Vanished):
            handle.read_stat()
        assert handle.state() == ss.GONE


def test_process_dead_after_scan_is_vanished(child):
    ident = _stat(child.pid)
    child.kill()
    child.wait()
    result = ss.terminate(child.pid, ident['starttime'], grace=0.1)
    assert result.outcome in (ss.VANISHED, ss.REFUSED)
    assert result.signals == []


def test_moved_cgroup_is_refused(child):
    ident = _stat(child.pid)
    result = ss.terminate(child.pid, ident['starttime'], expected_cgroup='/elsewhere.slice/other.service', grace=0.1)
    assert result.outcome == ss.REFUSED
    assert 'cgroup' in result.reason
    assert child.poll() is None


def test_matching_cgroup_is_accepted(child):
    ident = _stat(child.pid)
    path = ss.cgroup_paths(_cgroup(child.pid))[-1]
    _reaper_thread(child)
    result = ss.terminate(child.pid, ident['starttime'], expected_cgroup=path, grace=5, reap_wait=2)
    assert result.outcome == ss.GONE


@pytest.mark.parametrize('pid', [0, -1, -1234, 1])
def test_never_pid_0_1_or_negative(pid):
    result = ss.terminate(pid, 1, grace=0.1)
    assert result.outcome == ss.REFUSED
    assert result.signals == []


def test_never_self_or_ancestors():
    guard = ss.Guard()
    assert os.getpid() in guard.ancestors
    assert os.getppid() in guard.ancestors
    for pid in (os.getpid(), os.getppid()):
        result = ss.terminate(pid, _stat(pid)['starttime'], grace=0.1, guard=guard)
        assert result.outcome == ss.REFUSED
        assert 'ancestor' in result.reason or 'itself' in result.reason


def test_never_own_process_group():
    """A child in our process group (no new session) is refused."""
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        result = ss.terminate(proc.pid, _stat(proc.pid)['starttime'], grace=0.1)
        assert result.outcome == ss.REFUSED
        assert 'process group' in result.reason
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_never_kernel_thread():
    kthreadd = _stat(2)
    assert kthreadd['flags'] & ss.PF_KTHREAD
    result = ss.terminate(2, kthreadd['starttime'], grace=0.1)
    assert result.outcome == ss.REFUSED
    assert 'kernel thread' in result.reason


def test_kthread_flag_checked_from_identity():
    guard = ss.Guard()
    ident = {
        'pid': 999999,
        'ppid': 7,
        'pgrp': 999999,
        'state': 'S',
        'comm': 'kworker/0:1',
        'flags': ss.PF_KTHREAD,
        'starttime': 5,
    }
    with pytest.raises(ss.Refused, match='kernel thread'):
        guard.check_identity(ident, 5)


def test_refuses_without_pidfd(monkeypatch, child):
    monkeypatch.delattr(os, 'pidfd_open')
    ok, reason = ss.pidfd_support()
    assert not ok and 'Python >= 3.9' in reason
    result = ss.terminate(child.pid, _stat(child.pid)['starttime'], grace=0.1)
    assert result.outcome == ss.REFUSED
    assert 'pidfd' in result.reason
    assert child.poll() is None


def test_refuses_without_pidfd_send_signal(monkeypatch, child):
    monkeypatch.delattr(signal, 'pidfd_send_signal')
    result = ss.send(child.pid, signal.SIGCHLD, _stat(child.pid)['starttime'])
    assert result.outcome == ss.REFUSED
    assert 'pidfd_send_signal' in result.reason


def test_send_sigchld_nudge_leaves_process_running(child):
    result = ss.send(child.pid, signal.SIGCHLD, _stat(child.pid)['starttime'])
    assert result.outcome == ss.SIGNALLED
    assert result.signals == ['SIGCHLD']
    assert result.after['state'] in ('S', 'R')
    assert child.poll() is None


def test_cgroup_matches_prefix_and_deleted():
    text = '12:pids:/\n1:name=systemd:/libpod_parent/libpod-abc/system.slice/x.service\n0::/\n'
    assert ss.cgroup_matches(text, '/system.slice/x.service')
    assert not ss.cgroup_matches(text, '/system.slice/y.service')
    assert not ss.cgroup_matches(text, '/slice/x.service2')
    assert ss.cgroup_matches('0::/system.slice/x.service (deleted)\n', '/system.slice/x.service')


def _child_of(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
            kids = handle.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise AssertionError('unshare started no child')


def test_process_in_another_pid_namespace_is_refused():
    """A container's process (another PID namespace than the host init's) is never signalled,
    even with a correct identity."""
    outer = subprocess.Popen(['unshare', '--pid', '--fork', '--kill-child', 'sleep', '120'], start_new_session=True)
    try:
        inner = _child_of(outer.pid)
        with open('/proc/%d/status' % inner) as handle:
            assert len(ss.nspid(handle.read())) == 2, 'the child lives in a nested PID namespace'
        res = ss.terminate(inner, _stat(inner)['starttime'], _cgroup(inner).splitlines()[-1].split(':', 2)[2], grace=1)
        assert res.outcome == ss.REFUSED
        assert 'another PID namespace' in res.reason and 'container' in res.reason
        assert res.signals == []
        assert _stat(inner)['state'] != 'Z' and outer.poll() is None
    finally:
        outer.kill()
        outer.wait()


def test_namespace_check_needs_at_least_one_source():
    guard = ss.Guard()
    guard._host_pid_ns = None
    guard.host_pid_ns = lambda: None
    with pytest.raises(ss.Refused, match='cannot be checked'):
        guard.check_namespace(4242, 'pid:[1]', None)
    guard.check_namespace(4242, None, [4242])  # NSpid alone tells: one entry, the host's namespace
    with pytest.raises(ss.Refused, match='another PID namespace'):
        guard.check_namespace(4242, None, [4242, 1])
