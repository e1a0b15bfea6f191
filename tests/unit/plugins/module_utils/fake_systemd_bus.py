"""A stand-in for PID 1 on its private D-Bus socket, for the unit tests of systemd_bus.

It writes its messages with its own marshaller (written from the D-Bus
specification, not taken from the client), in either byte order, and can misbehave
the ways a real peer can: refuse the login, answer with errors, split its writes,
send signals between answers, close the connection or never answer.
"""

import fnmatch
import os
import socket
import struct
import threading

from ansible_collections.reaper.systemd.plugins.module_utils import dbus_wire, systemd_bus

FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d"}
ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "s": 4, "o": 4, "g": 1, "v": 1}
ALIGN.update({"a": 4, "(": 8, "{": 8})


class Writer:
    """Values into bytes, aligned from the first byte written."""

    def __init__(self, order):
        self.order = order
        self.buf = bytearray()

    def align(self, size):
        self.buf += b"\0" * (-len(self.buf) % size)

    def write(self, sig, value):
        code = sig[0]
        if code in FIXED:
            self.align(ALIGN[code])
            self.buf += struct.pack(self.order + FIXED[code], int(value) if code == "b" else value)
        elif code in "so":
            data = value.encode("utf-8")
            self.align(4)
            self.buf += struct.pack(self.order + "I", len(data)) + data + b"\0"
        elif code == "g":
            data = value.encode("ascii")
            self.buf += struct.pack("B", len(data)) + data + b"\0"
        elif code == "v":
            inner_sig, inner_value = value
            self.write("g", inner_sig)
            self.write(inner_sig, inner_value)
        elif code == "a":
            self.align(4)
            at = len(self.buf)
            self.buf += b"\0\0\0\0"
            element = sig[1:]
            self.align(ALIGN[element[0]])
            start = len(self.buf)
            for item in value:
                self.write(element, item)
            struct.pack_into(self.order + "I", self.buf, at, len(self.buf) - start)
        elif code == "(":
            self.align(8)
            for member, item in zip(dbus_wire.split_signature(sig[1:-1]), value):
                self.write(member, item)
        else:
            raise ValueError(sig)


def message(kind, serial, fields, signature="", values=(), order="<"):
    """A whole message: fields is a list of (code, type, value); the body has `signature`."""
    body = Writer(order)
    for sig, value in zip(dbus_wire.split_signature(signature), values):
        body.write(sig, value)
    fields = list(fields)
    if signature:
        fields.append((dbus_wire.FIELD_SIGNATURE, "g", signature))
    head = Writer(order)
    head.write("y", ord("l" if order == "<" else "B"))
    head.write("y", kind)
    head.write("y", 0)
    head.write("y", 1)
    head.write("u", len(body.buf))
    head.write("u", serial)
    head.write("a(yv)", [(code, (sig, value)) for code, sig, value in fields])
    head.align(8)
    return bytes(head.buf + body.buf)


def unit_path(name):
    """systemd's object path for a unit name (bus_label_escape)."""
    escaped = "".join(c if c.isalnum() else "_%02x" % ord(c) for c in name)
    return "/org/freedesktop/systemd1/unit/" + escaped


class FakeSystemd:
    """Units: name -> (load, active, sub, {property: (type, value)}). Behaviour knobs below."""

    def __init__(self, directory, units, version="252.39-1~deb12u2", order="<"):
        self.path = os.path.join(directory, "private")
        self.units = units
        self.version = version
        self.order = order
        self.refuse_login = False
        self.errors = {}  # (unit, property) -> D-Bus error name
        self.chunk = None  # write answers this many bytes at a time
        self.signal_every = 0  # send a signal before every Nth answer
        self.close_after = None  # close the connection after this many answers
        self.silent = False  # read the calls, never answer
        self.wrong_shape = False  # list units with a body of another signature
        self.garbage = False  # answer with bytes that are not a D-Bus message
        self.zero_size_list = False  # list units as an array of empty structs (elements of no size)
        self.calls = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(1)
        self._thread = None
        self._serial = 1000

    def start(self):
        self._thread = threading.Thread(target=self._serve)
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self):
        self._server.close()
        if self._thread:
            self._thread.join(5)

    def _serve(self):
        try:
            conn, _addr = self._server.accept()
        except OSError:
            return
        with conn:
            try:
                self._session(conn)
            except (OSError, ValueError):
                pass

    def _read_until(self, conn, buffer, marker):
        while marker not in buffer:
            chunk = conn.recv(4096)
            if not chunk:
                raise ValueError("client left")
            buffer += chunk
        line, _sep, rest = bytes(buffer).partition(marker)
        return line, bytearray(rest)

    def _session(self, conn):
        line, buffer = self._read_until(conn, bytearray(), b"\r\n")
        expected = b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode()
        if self.refuse_login or line != expected:
            conn.sendall(b"REJECTED EXTERNAL\r\n")
            return
        conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        _line, buffer = self._read_until(conn, buffer, b"BEGIN\r\n")
        answered = 0
        while True:
            messages, used = dbus_wire.parse_messages(buffer)
            del buffer[:used]
            for call in messages:
                self.calls.append(call)
                if self.silent:
                    continue
                if self.close_after is not None and answered >= self.close_after:
                    return
                out = b""
                if self.signal_every and answered % self.signal_every == 0:
                    out += self._signal()
                out += b"GET / HTTP/1.1\r\n\r\n" if self.garbage else self._answer(call)
                self._send(conn, out)
                answered += 1
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk

    def _send(self, conn, data):
        if not self.chunk:
            conn.sendall(data)
            return
        for start in range(0, len(data), self.chunk):
            conn.sendall(data[start : start + self.chunk])

    def _next_serial(self):
        self._serial += 1
        return self._serial

    def _signal(self):
        fields = [(1, "o", "/org/freedesktop/systemd1"), (2, "s", systemd_bus.MANAGER), (3, "s", "UnitNew")]
        return message(4, self._next_serial(), fields, "so", ("x.service", unit_path("x.service")), self.order)

    def _reply(self, call, signature, values):
        fields = [(dbus_wire.FIELD_REPLY_SERIAL, "u", call.serial)]
        return message(2, self._next_serial(), fields, signature, values, self.order)

    def _error(self, call, name, text):
        fields = [(dbus_wire.FIELD_REPLY_SERIAL, "u", call.serial), (dbus_wire.FIELD_ERROR_NAME, "s", name)]
        return message(3, self._next_serial(), fields, "s", (text,), self.order)

    def _zero_size_array(self, call):
        """A reply whose array declares 64 bytes of empty structs: no element takes a byte."""
        body = struct.pack(self.order + "I", 64) + b"\0" * 4 + b"\0" * 64
        fields = [(dbus_wire.FIELD_REPLY_SERIAL, "u", call.serial), (dbus_wire.FIELD_SIGNATURE, "g", "a()")]
        raw = message(2, self._next_serial(), fields, "", (), self.order)
        return raw[:4] + struct.pack(self.order + "I", len(body)) + raw[8:] + body

    def _answer(self, call):
        member = call.fields.get(dbus_wire.FIELD_MEMBER)
        path = call.fields.get(dbus_wire.FIELD_PATH)
        if member == "ListUnitsByPatterns" and self.zero_size_list:
            return self._zero_size_array(call)
        if member == "ListUnitsByPatterns" and self.wrong_shape:
            return self._reply(call, "s", ("surprise",))
        if member == "ListUnitsByPatterns":
            _states, patterns = call.values
            rows = [
                (name, "", load, active, sub, "", unit_path(name), 0, "", "/")
                for name, (load, active, sub, _props) in sorted(self.units.items())
                if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
            ]
            return self._reply(call, "a(ssssssouso)", (rows,))
        if member == "Get" and path == systemd_bus.SYSTEMD_PATH:
            return self._reply(call, "v", (("s", self.version),))
        if member == "Get":
            _interface, prop = call.values
            name = next((n for n in self.units if unit_path(n) == path), None)
            if name is None:
                return self._error(call, "org.freedesktop.DBus.Error.UnknownObject", "no such unit")
            if (name, prop) in self.errors:
                return self._error(call, self.errors[(name, prop)], "refused")
            props = self.units[name][3]
            if prop not in props:
                return self._error(call, "org.freedesktop.DBus.Error.UnknownProperty", "unknown " + prop)
            return self._reply(call, "v", (props[prop],))
        return self._error(call, "org.freedesktop.DBus.Error.UnknownMethod", "unknown method")
