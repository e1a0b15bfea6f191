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
slower way. Stdlib only; the D-Bus wire format is small enough for the few types
needed here (https://dbus.freedesktop.org/doc/dbus-specification.html).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os
import selectors
import socket
import struct
import time

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

METHOD_CALL, METHOD_RETURN, ERROR = 1, 2, 3
FIELD_PATH, FIELD_INTERFACE, FIELD_MEMBER, FIELD_ERROR_NAME, FIELD_REPLY_SERIAL = 1, 2, 3, 4, 5
FIELD_SIGNATURE = 8
# Replies in flight at most: bounds what systemd queues for this connection.
WINDOW = 512
RECV_SIZE = 256 * 1024

_FIXED = {
    "y": ("B", 1),
    "b": ("I", 4),
    "n": ("h", 2),
    "q": ("H", 2),
    "i": ("i", 4),
    "u": ("I", 4),
    "h": ("I", 4),
    "x": ("q", 8),
    "t": ("Q", 8),
    "d": ("d", 8),
}
_ALIGNMENT = dict((code, size) for code, (_fmt, size) in _FIXED.items())
_ALIGNMENT.update({"s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8})


class BusUnavailable(Exception):
    """The private socket could not give a clean answer; the message says why."""


class ErrorReply(Exception):
    """systemd answered a call with an error."""

    def __init__(self, name, text):
        Exception.__init__(self, "%s: %s" % (name, text))
        self.name = name


# --- Marshalling (always little-endian: the receiver honours the flag in byte 0) ---


def _string(text):
    data = text.encode("utf-8")
    return struct.pack("<I", len(data)) + data + b"\0"


def _padded(data, align):
    return data + b"\0" * (-len(data) % align)


def _header_field(code, type_code, value):
    """One (code, variant) entry; it starts 8-aligned, so a 4-aligned value follows the 4 bytes."""
    if type_code == "g":
        data = value.encode("ascii")
        return struct.pack("<BBcB", code, 1, b"g", 0) + struct.pack("<B", len(data)) + data + b"\0"
    return struct.pack("<BBcB", code, 1, type_code.encode("ascii"), 0) + _string(value)


def _array_elements(strings):
    """The elements of an `as`: its byte length ends after the last one, before any padding."""
    parts = [_string(item) for item in strings]
    return b"".join(_padded(part, 4) for part in parts[:-1]) + parts[-1]


def _fields_after_path(interface, member, signature):
    """The header fields that follow PATH: the same bytes for every call of one kind."""
    fields = [_header_field(FIELD_INTERFACE, "s", interface), _header_field(FIELD_MEMBER, "s", member)]
    if signature:
        fields.append(_header_field(FIELD_SIGNATURE, "g", signature))
    return b"".join(_padded(field, 8) for field in fields[:-1]) + fields[-1]


def _message(serial, path, fields_after_path, body):
    array = _padded(_header_field(FIELD_PATH, "o", path), 8) + fields_after_path
    head = struct.pack("<cBBBIII", b"l", METHOD_CALL, 0, 1, len(body), serial, len(array)) + array
    return _padded(head, 8) + body


def method_call(serial, path, interface, member, signature="", body=b""):
    """A METHOD_CALL message as bytes."""
    return _message(serial, path, _fields_after_path(interface, member, signature), body)


# Thousands of Get calls per scan differ only in serial, path and body: their other fields are marshalled once.
_GET_FIELDS = _fields_after_path(PROPERTIES, "Get", "ss")


def get_property_call(serial, path, interface, name):
    body = _padded(_string(interface), 4) + _string(name)
    return _message(serial, path, _GET_FIELDS, body)


def list_units_call(serial, patterns):
    """ListUnitsByPatterns(states=[], patterns): every loaded unit matching, whatever its state."""
    elements = _array_elements(patterns) if patterns else b""
    body = struct.pack("<I", 0) + struct.pack("<I", len(elements)) + elements
    return method_call(serial, SYSTEMD_PATH, MANAGER, "ListUnitsByPatterns", "asas", body)


# --- Unmarshalling ---


def _type_end(sig, pos):
    """Index just after the one complete type that starts at sig[pos]."""
    code = sig[pos]
    if code == "a":
        return _type_end(sig, pos + 1)
    if code in "({":
        close = ")" if code == "(" else "}"
        pos += 1
        while sig[pos] != close:
            pos = _type_end(sig, pos)
        return pos + 1
    return pos + 1


def split_signature(sig):
    """'sa(su)v' -> ['s', 'a(su)', 'v']."""
    types = []
    pos = 0
    while pos < len(sig):
        end = _type_end(sig, pos)
        types.append(sig[pos:end])
        pos = end
    return types


class _Reader:
    """Values out of one message; alignment counts from the message's first byte."""

    def __init__(self, data, start, little_endian):
        self.data = data
        self.start = start
        self.order = "<" if little_endian else ">"

    def align(self, pos, size):
        return pos + (-(pos - self.start) % size)

    def value(self, sig, pos):
        """(value, position after it) for one complete type `sig` at `pos`."""
        code = sig[0]
        data = self.data
        if code in _FIXED:
            fmt, size = _FIXED[code]
            pos = self.align(pos, size)
            value = struct.unpack_from(self.order + fmt, data, pos)[0]
            return (bool(value) if code == "b" else value), pos + size
        if code in "so":
            pos = self.align(pos, 4)
            length = struct.unpack_from(self.order + "I", data, pos)[0]
            pos += 4
            return data[pos : pos + length].decode("utf-8", "replace"), pos + length + 1
        if code == "g":
            length = data[pos]
            return data[pos + 1 : pos + 1 + length].decode("ascii"), pos + length + 2
        if code == "v":
            inner, pos = self.value("g", pos)
            return self.value(inner, pos)
        if code == "a":
            pos = self.align(pos, 4)
            length = struct.unpack_from(self.order + "I", data, pos)[0]
            element = sig[1:]
            pos = self.align(pos + 4, _ALIGNMENT[element[0]])
            end = pos + length
            if element == "y":
                return bytes(data[pos:end]), end
            items = []
            while pos < end:
                item, pos = self.value(element, pos)
                items.append(item)
            return (dict(items) if element[0] == "{" else items), end
        if code in "({":
            pos = self.align(pos, 8)
            items = []
            for member in split_signature(sig[1:-1]):
                item, pos = self.value(member, pos)
                items.append(item)
            return tuple(items), pos
        raise BusUnavailable("unexpected D-Bus type %r in systemd's answer" % sig)


class Message:
    """One received message: its type, serial, header fields (code -> value) and body values."""

    __slots__ = ("kind", "serial", "fields", "values")

    def __init__(self, kind, serial, fields, values):
        self.kind = kind
        self.serial = serial
        self.fields = fields
        self.values = values

    @property
    def reply_serial(self):
        return self.fields.get(FIELD_REPLY_SERIAL)

    @property
    def error_name(self):
        return self.fields.get(FIELD_ERROR_NAME)


def parse_messages(buffer):
    """(complete messages, bytes consumed) from the start of `buffer`."""
    messages = []
    pos = 0
    while len(buffer) - pos >= 16:
        little = buffer[pos : pos + 1] == b"l"
        if not little and buffer[pos : pos + 1] != b"B":
            raise BusUnavailable("systemd's answer is not a D-Bus message")
        order = "<" if little else ">"
        body_length, serial, fields_length = struct.unpack_from(order + "III", buffer, pos + 4)
        fields_end = pos + 16 + fields_length
        body_start = fields_end + (-(fields_end - pos) % 8)
        end = body_start + body_length
        if end > len(buffer):
            break
        reader = _Reader(buffer, pos, little)
        fields = {}
        at = pos + 16
        while at < fields_end:
            at = reader.align(at, 8)
            code = buffer[at]
            value, at = reader.value("v", at + 1)
            fields[code] = value
        values = []
        at = body_start
        for sig in split_signature(fields.get(FIELD_SIGNATURE, "")):
            value, at = reader.value(sig, at)
            values.append(value)
        messages.append(Message(buffer[pos + 1], serial, fields, values))
        pos = end
    return messages, pos


# --- The connection ---


class Connection:
    """One authenticated connection to a D-Bus peer on a Unix socket (no bus daemon)."""

    def __init__(self, path, timeout=30.0):
        self.timeout = timeout
        self._serial = 0
        self._buffer = bytearray()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
            self._authenticate()
        except (OSError, socket.error) as exc:
            self.close()
            raise BusUnavailable("cannot use %s: %s" % (path, exc))
        except BusUnavailable:
            self.close()
            raise

    def _authenticate(self):
        uid = binascii.hexlify(str(os.geteuid()).encode("ascii"))
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
        while b"\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BusUnavailable("systemd closed the connection during authentication")
            self._buffer += chunk
        line, _sep, rest = bytes(self._buffer).partition(b"\r\n")
        if not line.startswith(b"OK "):
            raise BusUnavailable("systemd refused the authentication: %r" % line[:80])
        self._buffer = bytearray(rest)
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
        deadline = time.monotonic() + self.timeout
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
            messages, used = parse_messages(self._buffer)
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


def read_units(socket_path, patterns=("*.service", "init.scope"), timeout=30.0):
    """(list of UnitValues, init.scope's ControlGroup, systemd's version string).

    Every loaded unit matching `patterns` (inactive and failed ones too), as
    `systemctl show --all` would list them; init.scope is not among the units.
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
