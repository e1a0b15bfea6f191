# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask systemd (PID 1) for a few properties of many units over its private socket.

Why not `systemctl show`: for each unit it asks PID 1 for every property of every
interface (GetAll) and formats them all. PID 1 then computes some 370 values per
service, cgroup memory, CPU, IO and IP counters among them, for the few the
analysis reads. Here the unit list comes from one ListUnitsByPatterns call and
each needed property from one Properties.Get, all pipelined on one connection to
/run/systemd/private, the socket systemctl itself uses when run as root.

Only root may use that socket. Anything short of a clean answer (not root, no
socket, a refused login, a closed connection, an unexpected error reply) raises
BusUnavailable, and the caller asks systemctl instead: the same properties, the
slower way.

A peer that misbehaves (a hung or broken PID 1, or anything else listening there)
cannot hold the scan: one deadline covers the whole query (connect, login and every
answer), and reading a message is bounded in size, depth and time (dbus_wire).
Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os
import selectors
import socket
import struct
import time

from . import dbus_wire

from .dbus_wire import ERROR, METHOD_RETURN, BusUnavailable, parse_messages

SYSTEMD_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
SCOPE = "org.freedesktop.systemd1.Scope"
PROPERTIES = "org.freedesktop.DBus.Properties"

# What each service is asked for, and on which interface systemd serves it. Id and the
# load, active and sub states come with the unit list.
SERVICE_PROPERTIES = (
    ("MainPID", SERVICE),
    ("ExecMainPID", SERVICE),
    ("ControlGroup", SERVICE),
    ("InvocationID", UNIT),
    ("KillMode", SERVICE),
    ("KillSignal", SERVICE),
    ("SendSIGKILL", SERVICE),
    ("TimeoutStopUSec", SERVICE),
    ("TasksCurrent", SERVICE),
    ("TasksMax", SERVICE),
    ("Delegate", SERVICE),
    ("NRestarts", SERVICE),
    ("InactiveExitTimestampMonotonic", UNIT),
)
# Error replies that mean "this systemd does not have that property" (older releases):
# the property is left unset, as `systemctl show` leaves out what it is not given.
MISSING_PROPERTY_ERRORS = (
    "org.freedesktop.DBus.Error.UnknownProperty",
    "org.freedesktop.DBus.Error.UnknownInterface",
)

# Replies in flight at most: bounds what systemd queues for this connection.
WINDOW = 512
RECV_SIZE = 256 * 1024
# The whole query (connect, login, every answer): the scan's query took 133 ms on a busy host
# (docs/benchmarks.md), so 15 s is a hundred times that and still below systemctl's own 25 s
# per-call timeout; past it the caller asks systemctl, which has its own bound.
DEFAULT_TIMEOUT = 15.0
# systemd's answer to AUTH is "OK <32 hex digits>\r\n"; anything much longer is not systemd.
MAX_AUTH_LINE = 4096


class ErrorReply(Exception):
    """systemd answered a call with an error."""

    def __init__(self, name, text):
        Exception.__init__(self, "%s: %s" % (name, text))
        self.name = name


# Thousands of Get calls per scan differ only in serial, path and body: their other fields are marshalled once.
_GET_FIELDS = dbus_wire.fields_after_path(PROPERTIES, "Get", "ss")


def get_property_call(serial, path, interface, name):
    body = dbus_wire.padded(dbus_wire.string(interface), 4) + dbus_wire.string(name)
    return dbus_wire.message(serial, path, _GET_FIELDS, body)


def list_units_call(serial, patterns):
    """ListUnitsByPatterns(states=[], patterns): every loaded unit matching, whatever its state."""
    elements = dbus_wire.array_elements(patterns) if patterns else b""
    body = struct.pack("<I", 0) + struct.pack("<I", len(elements)) + elements
    return dbus_wire.method_call(serial, SYSTEMD_PATH, MANAGER, "ListUnitsByPatterns", "asas", body)


# --- The connection ---


class Connection:
    """One authenticated connection to a D-Bus peer on a Unix socket (no bus daemon).

    ``timeout`` bounds everything the connection does, from connect to the last
    answer of the last call: one deadline, not one per step."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._serial = 0
        self._buffer = bytearray()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._bound_next_step()
            self.sock.connect(path)
            self._authenticate()
        except socket.timeout:
            self.close()
            raise BusUnavailable("systemd did not answer within %ss" % self.timeout)
        except (OSError, socket.error) as exc:
            self.close()
            raise BusUnavailable("cannot use %s: %s" % (path, exc))
        except BusUnavailable:
            self.close()
            raise

    def _remaining(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise BusUnavailable("systemd did not answer within %ss" % self.timeout)
        return remaining

    def _bound_next_step(self):
        """A blocking socket step may take only what is left of the deadline."""
        self.sock.settimeout(self._remaining())

    def _authenticate(self):
        uid = binascii.hexlify(str(os.geteuid()).encode("ascii"))
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
        while b"\r\n" not in self._buffer:
            if len(self._buffer) > MAX_AUTH_LINE:
                raise BusUnavailable("systemd's answer to the authentication is too long: not systemd")
            self._bound_next_step()
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BusUnavailable("systemd closed the connection during authentication")
            self._buffer += chunk
        line, _sep, rest = bytes(self._buffer).partition(b"\r\n")
        if not line.startswith(b"OK "):
            raise BusUnavailable("systemd refused the authentication: %r" % line[:80])
        self._buffer = bytearray(rest)
        self._bound_next_step()
        self.sock.sendall(b"BEGIN\r\n")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def next_serial(self):
        self._serial += 1
        return self._serial

    def call(self, builders):
        """Send the calls (each a function of its serial returning the message) and return
        their answers in the same order: a list of value lists, or ErrorReply instances.

        Requests are written while answers are read, at most WINDOW answers behind, so
        neither side waits for the other and systemd queues little for us.
        """
        serials = {}
        pending = []
        for index, build in enumerate(builders):
            serial = self.next_serial()
            serials[serial] = index
            pending.append(build(serial))
        answers = [None] * len(pending)
        waiting = len(pending)
        sent = 0
        outgoing = b""
        deadline = self.deadline
        self.sock.setblocking(False)
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while waiting:
                in_flight = sent - (len(pending) - waiting)
                if not outgoing and sent < len(pending) and in_flight < WINDOW:
                    batch = pending[sent : sent + WINDOW - in_flight]
                    outgoing = b"".join(batch)
                    sent += len(batch)
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if outgoing else 0)
                selector.modify(self.sock, events)
                remaining = deadline - time.monotonic()
                ready = selector.select(remaining) if remaining > 0 else []
                if not ready:
                    raise BusUnavailable("systemd did not answer within %ss" % self.timeout)
                mask = ready[0][1]
                if mask & selectors.EVENT_WRITE and outgoing:
                    outgoing = outgoing[self._send(outgoing) :]
                if mask & selectors.EVENT_READ:
                    waiting -= self._receive(serials, answers)
        finally:
            selector.close()
        return answers

    def _send(self, data):
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            raise BusUnavailable("writing to systemd failed: %s" % exc)

    def _receive(self, serials, answers):
        try:
            chunk = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            raise BusUnavailable("reading from systemd failed: %s" % exc)
        if not chunk:
            raise BusUnavailable("systemd closed the connection")
        self._buffer += chunk
        try:
            messages, used = parse_messages(self._buffer, self.deadline)
        except (struct.error, IndexError, KeyError, ValueError) as exc:
            # a malformed message: nothing in it can be trusted, systemctl is asked instead
            raise BusUnavailable("systemd's answer could not be read: %s" % exc)
        del self._buffer[:used]
        answered = 0
        for message in messages:
            index = serials.pop(message.reply_serial, None)
            if index is None:
                continue  # a signal, or an answer to nothing we asked: not ours to read
            if message.kind == ERROR:
                text = message.values[0] if message.values else ""
                answers[index] = ErrorReply(message.error_name or "?", text)
            elif message.kind == METHOD_RETURN:
                answers[index] = message.values
            else:
                raise BusUnavailable("systemd answered with a message of type %d" % message.kind)
            answered += 1
        return answered


# --- What the scan asks ---


class UnitValues:
    """One unit as systemd's bus gives it: name, states and typed property values."""

    def __init__(self, name, load_state, active_state, sub_state, properties):
        self.name = name
        self.load_state = load_state
        self.active_state = active_state
        self.sub_state = sub_state
        self.properties = properties


def _get(path, interface, name):
    return lambda serial: get_property_call(serial, path, interface, name)


def _only_value(answer, what):
    """The variant's value of a Get answer; None when this systemd lacks the property."""
    if isinstance(answer, ErrorReply):
        if answer.name in MISSING_PROPERTY_ERRORS:
            return None
        raise BusUnavailable("systemd refused %s: %s" % (what, answer))
    if answer is None or len(answer) != 1:
        raise BusUnavailable("systemd gave no value for %s" % what)
    return answer[0]


def read_units(socket_path, patterns=("*.service", "init.scope"), timeout=DEFAULT_TIMEOUT):
    """(list of UnitValues, init.scope's ControlGroup, systemd's version string).

    Every loaded unit matching `patterns` (inactive and failed ones too), as
    `systemctl show --all` would list them; init.scope is not among the units.
    The whole query ends within `timeout` seconds (BusUnavailable past it).
    """
    try:
        return _read_units(socket_path, patterns, timeout)
    except (TypeError, IndexError, ValueError) as exc:
        # an answer of another shape than systemd's documented one
        raise BusUnavailable("systemd's answer has an unexpected shape: %s" % exc)


def _read_units(socket_path, patterns, timeout):
    with Connection(socket_path, timeout) as bus:
        listed, version = bus.call(
            [
                lambda serial: list_units_call(serial, list(patterns)),
                _get(SYSTEMD_PATH, MANAGER, "Version"),
            ]
        )
        if isinstance(listed, ErrorReply):
            raise BusUnavailable("systemd refused to list units: %s" % listed)
        version = _only_value(version, "Version")
        rows = listed[0] if listed else []
        # (name, description, load, active, sub, following, path, job id, job type, job path)
        units = [row for row in rows if row[0] != "init.scope"]
        scope_paths = [row[6] for row in rows if row[0] == "init.scope"]
        calls = [_get(row[6], interface, name) for row in units for name, interface in SERVICE_PROPERTIES]
        calls.extend(_get(path, SCOPE, "ControlGroup") for path in scope_paths)
        answers = bus.call(calls)
    found = []
    width = len(SERVICE_PROPERTIES)
    for number, row in enumerate(units):
        own = answers[number * width : (number + 1) * width]
        properties = {}
        for (name, _interface), answer in zip(SERVICE_PROPERTIES, own):
            properties[name] = _only_value(answer, "%s of %s" % (name, row[0]))
        found.append(UnitValues(row[0], row[2], row[3], row[4], properties))
    init_scope_cgroup = ""
    if scope_paths:
        init_scope_cgroup = _only_value(answers[-1], "ControlGroup of init.scope") or ""
    return found, init_scope_cgroup, version
