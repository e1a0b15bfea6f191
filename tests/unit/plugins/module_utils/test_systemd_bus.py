"""Asking systemd over its private socket gives what `systemctl show --all` gives, or falls back to it.

The peer is tests/unit/plugins/module_utils/fake_systemd_bus.py: its own marshaller
(from the D-Bus specification), both byte orders, and a peer's failures. The same
comparison on a real systemd runs in the lab (molecule/default verify).
"""

import os
import re
import shutil
import socket
import struct
import tempfile
import threading
import time

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils import dbus_wire, systemd_bus, systemd_units
from ansible_collections.reaper.systemd.tests.unit.plugins.module_utils.fake_systemd_bus import (
    FakeSystemd,
    message,
    unit_path,
)

UNSET = systemd_units.UINT64_UNSET
INVOCATION = bytes(range(16))

# name -> (load, active, sub, {property: (D-Bus type, value)}), and the same unit as systemctl prints it
WEB = {
    "MainPID": ("u", 4242),
    "ExecMainPID": ("u", 4242),
    "ControlGroup": ("s", "/system.slice/web.service"),
    "InvocationID": ("ay", INVOCATION),
    "KillMode": ("s", "process"),
    "KillSignal": ("i", 15),
    "SendSIGKILL": ("b", True),
    "TimeoutStopUSec": ("t", 90000000),
    "TasksCurrent": ("t", 12),
    "TasksMax": ("t", 4915),
    "Delegate": ("b", False),
    "NRestarts": ("u", 3),
    "InactiveExitTimestampMonotonic": ("t", 123456789),
}
WEB_SHOWN = (
    "Id=web.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nExecMainPID=4242\n"
    "ControlGroup=/system.slice/web.service\nInvocationID=000102030405060708090a0b0c0d0e0f\nKillMode=process\n"
    "KillSignal=15\nSendSIGKILL=yes\nTimeoutStopUSec=1min 30s\nTasksCurrent=12\nTasksMax=4915\nDelegate=no\n"
    "NRestarts=3\nInactiveExitTimestampMonotonic=123456789\n"
)
STOPPED = {
    "MainPID": ("u", 0),
    "ExecMainPID": ("u", 0),
    "ControlGroup": ("s", ""),
    "InvocationID": ("ay", b""),
    "KillMode": ("s", "control-group"),
    "KillSignal": ("i", 9),
    "SendSIGKILL": ("b", False),
    "TimeoutStopUSec": ("t", UNSET),
    "TasksCurrent": ("t", UNSET),
    "TasksMax": ("t", UNSET),
    "Delegate": ("b", True),
    "NRestarts": ("u", 0),
    "InactiveExitTimestampMonotonic": ("t", 0),
}
STOPPED_SHOWN = (
    "Id=old.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nExecMainPID=0\n"
    "ControlGroup=\nInvocationID=\nKillMode=control-group\nKillSignal=9\nSendSIGKILL=no\nTimeoutStopUSec=infinity\n"
    "TasksCurrent=[not set]\nTasksMax=infinity\nDelegate=yes\nNRestarts=0\nInactiveExitTimestampMonotonic=0\n"
)
UNITS = {
    "web.service": ("loaded", "active", "running", WEB),
    "old.service": ("loaded", "failed", "failed", STOPPED),
    "gone.service": ("not-found", "inactive", "dead", {}),
    "init.scope": ("loaded", "active", "running", {"ControlGroup": ("s", "/init.scope")}),
    "user.slice": ("loaded", "active", "active", {}),
}
SHOWN = (
    WEB_SHOWN
    + "\n"
    + STOPPED_SHOWN
    + "\nId=gone.service\nLoadState=not-found\n\nId=init.scope\nControlGroup=/init.scope\n"
)


@pytest.fixture
def run_dir():
    # A short path: a Unix socket's path is limited to 107 bytes.
    directory = tempfile.mkdtemp(prefix="bus", dir="/tmp")
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def peer(run_dir):
    peers = []

    def make(units=None, **knobs):
        fake = FakeSystemd(run_dir, UNITS if units is None else units, order=knobs.pop("order", "<"))
        for name, value in knobs.items():
            setattr(fake, name, value)
        peers.append(fake.start())
        return fake

    yield make
    for fake in peers:
        fake.stop()


def systemctl(argv, env):
    if argv[-1] == "--version":
        return "systemd 252 (252.39-1~deb12u2)\n+PAM\n"
    return SHOWN


def no_systemctl(argv, env):
    raise AssertionError("systemctl was run although the bus answered: %s" % argv)


def as_dicts(units):
    return dict((name, unit.as_dict()) for name, unit in units.items())


# --- the wire format ---


def test_calls_are_marshalled_as_the_specification_says():
    expected_get = message(
        1,
        7,
        [(1, "o", "/org/freedesktop/systemd1/unit/web_2eservice"), (2, "s", systemd_bus.PROPERTIES), (3, "s", "Get")],
        "ss",
        (systemd_bus.SERVICE, "MainPID"),
    )
    assert systemd_bus.get_property_call(7, unit_path("web.service"), systemd_bus.SERVICE, "MainPID") == expected_get
    listed = message(
        1,
        8,
        [(1, "o", systemd_bus.SYSTEMD_PATH), (2, "s", systemd_bus.MANAGER), (3, "s", "ListUnitsByPatterns")],
        "asas",
        ([], ["*.service", "init.scope"]),
    )
    assert systemd_bus.list_units_call(8, ["*.service", "init.scope"]) == listed


@pytest.mark.parametrize("order", ["<", ">"])
def test_messages_are_read_in_either_byte_order_and_across_partial_buffers(order):
    rows = [("a.service", "A", "loaded", "active", "running", "", unit_path("a.service"), 0, "", "/")]
    first = message(2, 1, [(5, "u", 1)], "a(ssssssouso)", (rows,), order)
    second = message(2, 2, [(5, "u", 2)], "v", (("ay", INVOCATION),), order)
    third = message(3, 3, [(5, "u", 3), (4, "s", "org.freedesktop.DBus.Error.UnknownProperty")], "s", ("x",), order)
    stream = first + second + third
    messages, used = dbus_wire.parse_messages(bytearray(stream[:-5]))
    assert [m.reply_serial for m in messages] == [1, 2] and used == len(first) + len(second)
    messages, used = dbus_wire.parse_messages(bytearray(stream))
    assert used == len(stream)
    assert messages[0].values == [[tuple(rows[0])]]
    assert messages[1].values == [INVOCATION]
    assert messages[2].kind == dbus_wire.ERROR and messages[2].error_name.endswith("UnknownProperty")


def test_values_of_every_type_the_scan_reads():
    for sig, value in (("u", 4242), ("i", -1), ("t", UNSET), ("b", True), ("s", "ü/x"), ("ay", b"\0\1")):
        raw = message(2, 1, [(5, "u", 1)], "v", ((sig, value),))
        assert dbus_wire.parse_messages(bytearray(raw))[0][0].values == [value]


def test_not_a_dbus_message_is_refused():
    with pytest.raises(systemd_bus.BusUnavailable, match="not a D-Bus message"):
        dbus_wire.parse_messages(bytearray(b"HTTP/1.1 200 OK\r\n\r\n"))


# --- the exchange with systemd ---


def test_read_units_lists_every_matching_unit_with_typed_values(peer):
    fake = peer()
    units, init_scope_cgroup, version = systemd_bus.read_units(fake.path)
    by_name = dict((unit.name, unit) for unit in units)
    assert sorted(by_name) == ["gone.service", "old.service", "web.service"]
    assert by_name["web.service"].properties["InvocationID"] == INVOCATION
    assert by_name["web.service"].active_state == "active" and by_name["old.service"].sub_state == "failed"
    assert init_scope_cgroup == "/init.scope" and version == "252.39-1~deb12u2"
    # one list call, the version, 13 properties of each of the 3 services and init.scope's cgroup
    assert len(fake.calls) == 2 + 3 * len(systemd_bus.SERVICE_PROPERTIES) + 1


@pytest.mark.parametrize("order", ["<", ">"])
def test_ask_systemd_over_the_bus_equals_systemctl_show(peer, run_dir, order):
    peer(order=order)
    over_bus = systemd_units.ask_systemd(run_dir, no_systemctl)
    units, init_scope_cgroup = systemd_units.read_units(systemctl)
    assert over_bus.source == "bus" and over_bus.bus_problem is None
    assert as_dicts(over_bus.units) == as_dicts(units)
    assert sorted(over_bus.units) == ["old.service", "web.service"]
    assert over_bus.init_scope_cgroup == init_scope_cgroup == "/init.scope"
    assert over_bus.version == systemd_units.systemd_version(systemctl) == 252


def test_many_units_split_answers_and_signals_between_them(peer, run_dir):
    many = dict(("s%03d.service" % n, ("loaded", "active", "running", dict(WEB, MainPID=("u", n)))) for n in range(300))
    many["init.scope"] = UNITS["init.scope"]
    # 300 x 13 calls: more than the window, so writing and reading interleave
    peer(units=many, chunk=7, signal_every=5)
    answer = systemd_units.ask_systemd(run_dir, no_systemctl)
    assert answer.source == "bus" and len(answer.units) == 300
    assert all(unit.main_pid == int(name[1:4]) for name, unit in answer.units.items())


def test_a_property_this_systemd_lacks_is_left_unset(peer, run_dir):
    older = dict(WEB)
    del older["InvocationID"], older["NRestarts"]
    peer(units={"web.service": ("loaded", "active", "running", older), "init.scope": UNITS["init.scope"]})
    unit = systemd_units.ask_systemd(run_dir, no_systemctl).units["web.service"]
    assert unit.invocation_id is None and unit.n_restarts == 0 and unit.main_pid == 4242


@pytest.mark.parametrize(
    "knobs, problem",
    [
        ({"refuse_login": True}, "refused the authentication"),
        ({"errors": {("web.service", "KillMode"): "org.freedesktop.DBus.Error.AccessDenied"}}, "AccessDenied"),
        ({"close_after": 5}, "closed the connection"),
        ({"garbage": True}, "not a D-Bus message"),
        ({"wrong_shape": True}, "unexpected shape"),
    ],
)
def test_anything_but_a_clean_answer_falls_back_to_systemctl(peer, run_dir, knobs, problem):
    peer(**knobs)
    answer = systemd_units.ask_systemd(run_dir, systemctl)
    assert answer.source == "systemctl" and problem in answer.bus_problem
    assert as_dicts(answer.units) == as_dicts(systemd_units.read_units(systemctl)[0])


def test_no_socket_falls_back_to_systemctl(run_dir):
    answer = systemd_units.ask_systemd(run_dir, systemctl)
    assert answer.source == "systemctl" and "cannot use" in answer.bus_problem
    assert sorted(answer.units) == ["old.service", "web.service"] and answer.version == 252


def test_a_peer_that_never_answers_times_out(peer):
    fake = peer(silent=True)
    with pytest.raises(systemd_bus.BusUnavailable, match="did not answer within"):
        systemd_bus.read_units(fake.path, timeout=0.5)


def test_header_fields_are_read_whatever_their_order():
    # REPLY_SERIAL after SIGNATURE, with an unknown field code in between: still found.
    raw = message(2, 9, [(8, "g", "v"), (99, "u", 1), (5, "u", 41)], "", ())
    body = struct.pack("<B", 1) + b"u\0" + b"\0" + struct.pack("<I", 7)
    raw = raw[:4] + struct.pack("<I", len(body)) + raw[8:] + body
    parsed = dbus_wire.parse_messages(bytearray(raw))[0][0]
    assert parsed.reply_serial == 41 and parsed.values == [7]


# --- a peer that misbehaves on purpose: every case ends, within the deadline, and falls back ---


def _ends_within(seconds, func, *args, **kwargs):
    """Run func in a thread; fail the test if it is still running after `seconds` (instead of hanging)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = func(*args, **kwargs)
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "still running after %ss" % seconds
    return outcome, time.monotonic() - started


def _reply_header(body_length, signature, serial=1):
    """A METHOD_RETURN header for reply serial 1 that declares `body_length` bytes of body."""
    raw = message(2, 7, [(5, "u", serial), (8, "g", signature)], "", ())
    return raw[:4] + struct.pack("<I", body_length) + raw[8:]


@pytest.mark.parametrize("signature", ["a()", "a{}", "a(())"])
def test_an_array_of_zero_size_elements_is_refused_not_spun_on(signature):
    # an array that declares 8 bytes of elements that take none: a loop without progress
    raw = _reply_header(8, signature) + struct.pack("<I", 8) + b"\0" * 4 + b"\0" * 8
    outcome, _took = _ends_within(5, dbus_wire.parse_messages, bytearray(raw))
    assert isinstance(outcome.get("error"), (ValueError, systemd_bus.BusUnavailable)), outcome


def test_values_nested_deeper_than_the_specification_allows_are_refused():
    # 200 variants, each holding the next: the specification allows 64 levels of nesting
    body = struct.pack("<B", 1) + b"v\0"
    body = body * 200 + struct.pack("<B", 1) + b"y\0" + b"\1"
    raw = _reply_header(len(body), "v") + body
    outcome, _took = _ends_within(5, dbus_wire.parse_messages, bytearray(raw))
    assert isinstance(outcome.get("error"), (ValueError, systemd_bus.BusUnavailable)), outcome


def test_a_declared_length_above_the_cap_is_refused_before_any_body_arrives():
    # only the 16-byte header and the fields: 200 MiB would have been buffered, waiting
    raw = _reply_header(200 * 1024 * 1024, "ay")
    with pytest.raises(systemd_bus.BusUnavailable, match="more than"):
        dbus_wire.parse_messages(bytearray(raw))
    assert dbus_wire.MAX_MESSAGE <= 32 * 1024 * 1024


def test_a_string_that_runs_past_its_message_is_refused():
    body = struct.pack("<I", 1000) + b"abc\0"
    raw = _reply_header(len(body), "s") + body + message(2, 8, [(5, "u", 2)], "s", ("x" * 1200,))
    with pytest.raises((ValueError, systemd_bus.BusUnavailable)):
        dbus_wire.parse_messages(bytearray(raw))


class Trickler:
    """A peer that accepts, then sends `prefix` and one byte of `filler` every `every` seconds, forever."""

    def __init__(self, directory, prefix=b"", filler=b"x", every=0.02):
        self.path = os.path.join(directory, "private")
        self.prefix, self.filler, self.every = prefix, filler, every
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _addr = self.server.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(4096)
                conn.sendall(self.prefix)
                while not self.stopped.wait(self.every):
                    conn.sendall(self.filler)
            except OSError:
                pass

    def stop(self):
        self.stopped.set()
        self.server.close()


OK_LINE = b"OK 0123456789abcdef0123456789abcdef\r\n"


@pytest.mark.parametrize(
    "prefix, filler, problem",
    [
        (b"", b"O", "too long|did not answer within"),  # an authentication line that never ends
        (OK_LINE + _reply_header(1024 * 1024, "ay"), b"\0", "did not answer within"),  # a body that trickles
    ],
)
def test_a_peer_that_trickles_bytes_forever_meets_the_overall_deadline(run_dir, prefix, filler, problem):
    peer = Trickler(run_dir, prefix, filler)
    try:
        outcome, took = _ends_within(10, systemd_bus.read_units, peer.path, timeout=1.0)
    finally:
        peer.stop()
    assert isinstance(outcome.get("error"), systemd_bus.BusUnavailable), outcome
    assert re.search(problem, str(outcome["error"]))
    assert took < 2.0, "the whole query, authentication included, is bounded by one deadline"


def test_a_zero_size_array_from_the_peer_falls_back_to_systemctl(peer, run_dir):
    peer(zero_size_list=True)
    outcome, _took = _ends_within(10, systemd_units.ask_systemd, run_dir, systemctl)
    answer = outcome["value"]
    assert answer.source == "systemctl" and re.search("empty struct|zero-size", answer.bus_problem)


def test_systemctl_that_hangs_is_stopped_after_its_timeout(monkeypatch, tmp_path):
    """With PID 1 hung, systemctl waits out sd-bus's 90 s authentication timeout: it is stopped sooner."""
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\necho $$ > %s/pid\nexec sleep 60\n" % tmp_path)
    fake.chmod(0o755)
    monkeypatch.setattr(systemd_units, "SYSTEMCTL_TIMEOUT", 0.5)
    env = dict(os.environ, PATH="%s:%s" % (tmp_path, os.environ.get("PATH", "")))
    started = time.monotonic()
    with pytest.raises(systemd_units.SystemdError, match="did not answer within 0.5s"):
        systemd_units.default_runner(["systemctl", "show"], env)
    assert time.monotonic() - started < 5
    pid = int((tmp_path / "pid").read_text())
    assert not os.path.exists("/proc/%d" % pid) or "Z" in open("/proc/%d/stat" % pid).read().split(")")[-1][:3]


def test_a_hung_pid1_ends_the_question_within_the_bus_deadline_plus_the_systemctl_timeout(
    peer, run_dir, monkeypatch, tmp_path
):
    """PID 1 accepts and never answers, and systemctl (which asks the same PID 1) hangs too."""
    peer(silent=True)
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ.get("PATH", "")))
    monkeypatch.setattr(systemd_bus, "DEFAULT_TIMEOUT", 0.5)
    monkeypatch.setattr(systemd_units, "SYSTEMCTL_TIMEOUT", 0.7)
    outcome, took = _ends_within(10, systemd_units.ask_systemd, run_dir)
    assert isinstance(outcome.get("error"), systemd_units.SystemdError), outcome
    assert "did not answer within 0.7s" in str(outcome["error"])
    assert 1.2 <= took < 2.5, "the bus deadline, then the systemctl timeout: %.2fs" % took
