# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The D-Bus wire format, for the few types systemd's answers use (stdlib only).

Marshalling writes little-endian (the receiver honours the flag in byte 0);
unmarshalling reads either byte order. What it reads comes from a peer that may
misbehave, so reading is bounded: a message may declare at most MAX_MESSAGE
bytes, nothing is read past a message's end, values nest at most MAX_DEPTH deep,
every array element must take bytes (an array of empty structs would otherwise be
read forever) and, given a deadline, a long array stops once it has passed.
Specification: https://dbus.freedesktop.org/doc/dbus-specification.html
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import time

METHOD_CALL, METHOD_RETURN, ERROR = 1, 2, 3
FIELD_PATH, FIELD_INTERFACE, FIELD_MEMBER, FIELD_ERROR_NAME, FIELD_REPLY_SERIAL = 1, 2, 3, 4, 5
FIELD_SIGNATURE = 8

# The largest message a reply may declare. systemd's largest answer here is the unit list: one
# (ssssssouso) row per unit, about 250 bytes for a usual name, description and object path, so
# 16 MiB holds some 60,000 units (the benchmarks scale to 20,000); a Get answer is one value of
# at most a path's 4 KiB. The specification allows 128 MiB; buffering that much for a peer that
# will never send it is what the cap prevents. A longer answer costs speed, not correctness:
# the scan asks systemctl instead.
MAX_MESSAGE = 16 * 1024 * 1024
# The specification's limit: 32 nested arrays plus 32 nested structs, variants counting too.
MAX_DEPTH = 64
# Reading a large answer looks at the clock once per this many array elements.
DEADLINE_EVERY = 1024

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


# --- Marshalling ---


def string(text):
    data = text.encode("utf-8")
    return struct.pack("<I", len(data)) + data + b"\0"


def padded(data, align):
    return data + b"\0" * (-len(data) % align)


def _header_field(code, type_code, value):
    """One (code, variant) entry; it starts 8-aligned, so a 4-aligned value follows the 4 bytes."""
    if type_code == "g":
        data = value.encode("ascii")
        return struct.pack("<BBcB", code, 1, b"g", 0) + struct.pack("<B", len(data)) + data + b"\0"
    return struct.pack("<BBcB", code, 1, type_code.encode("ascii"), 0) + string(value)


def array_elements(strings):
    """The elements of an `as`: its byte length ends after the last one, before any padding."""
    parts = [string(item) for item in strings]
    return b"".join(padded(part, 4) for part in parts[:-1]) + parts[-1]


def fields_after_path(interface, member, signature):
    """The header fields that follow PATH: the same bytes for every call of one kind."""
    fields = [_header_field(FIELD_INTERFACE, "s", interface), _header_field(FIELD_MEMBER, "s", member)]
    if signature:
        fields.append(_header_field(FIELD_SIGNATURE, "g", signature))
    return b"".join(padded(field, 8) for field in fields[:-1]) + fields[-1]


def message(serial, path, after_path, body):
    """A METHOD_CALL to `path`; `after_path`: the marshalled header fields that follow PATH."""
    array = padded(_header_field(FIELD_PATH, "o", path), 8) + after_path
    head = struct.pack("<cBBBIII", b"l", METHOD_CALL, 0, 1, len(body), serial, len(array)) + array
    return padded(head, 8) + body


def method_call(serial, path, interface, member, signature="", body=b""):
    """A METHOD_CALL message as bytes."""
    return message(serial, path, fields_after_path(interface, member, signature), body)


# --- Unmarshalling ---


def _type_end(sig, pos):
    """Index just after the one complete type that starts at sig[pos]."""
    code = sig[pos]
    if code == "a":
        return _type_end(sig, pos + 1)
    if code in "({":
        close = ")" if code == "(" else "}"
        pos += 1
        if sig[pos] == close:
            # the specification forbids empty structs: they would be elements of no size
            raise ValueError("an empty struct in the signature %r" % sig)
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
    """Values out of one message; alignment counts from the message's first byte.

    Nothing is read past ``end`` (the message's last byte), nothing nests deeper
    than MAX_DEPTH, every array element must take bytes, and with a ``deadline``
    (time.monotonic()) a long array stops once it has passed."""

    def __init__(self, data, start, little_endian, end=None, deadline=None):
        self.data = data
        self.start = start
        self.end = len(data) if end is None else end
        self.order = "<" if little_endian else ">"
        self.deadline = deadline

    def align(self, pos, size):
        return pos + (-(pos - self.start) % size)

    def _within(self, pos, size):
        if pos + size > self.end:
            raise ValueError("a value runs past the end of its message")

    def value(self, sig, pos, depth=0):
        """(value, position after it) for one complete type `sig` at `pos`."""
        if depth > MAX_DEPTH:
            raise ValueError("values nested more than %d deep" % MAX_DEPTH)
        code = sig[0]
        data = self.data
        if code in _FIXED:
            fmt, size = _FIXED[code]
            pos = self.align(pos, size)
            self._within(pos, size)
            value = struct.unpack_from(self.order + fmt, data, pos)[0]
            return (bool(value) if code == "b" else value), pos + size
        if code in "so":
            pos = self.align(pos, 4)
            self._within(pos, 4)
            length = struct.unpack_from(self.order + "I", data, pos)[0]
            pos += 4
            self._within(pos, length + 1)
            return data[pos : pos + length].decode("utf-8", "replace"), pos + length + 1
        if code == "g":
            self._within(pos, 1)
            length = data[pos]
            self._within(pos, length + 2)
            return data[pos + 1 : pos + 1 + length].decode("ascii"), pos + length + 2
        if code == "v":
            inner, pos = self.value("g", pos)
            if len(split_signature(inner)) != 1:
                raise ValueError("a variant of signature %r (one complete type expected)" % inner)
            return self.value(inner, pos, depth + 1)
        if code == "a":
            return self._array(sig[1:], pos, depth)
        if code in "({":
            pos = self.align(pos, 8)
            items = []
            for member in split_signature(sig[1:-1]):
                item, pos = self.value(member, pos, depth + 1)
                items.append(item)
            return tuple(items), pos
        raise BusUnavailable("unexpected D-Bus type %r in systemd's answer" % sig)

    def _array(self, element, pos, depth):
        pos = self.align(pos, 4)
        self._within(pos, 4)
        length = struct.unpack_from(self.order + "I", self.data, pos)[0]
        pos = self.align(pos + 4, _ALIGNMENT[element[0]])
        end = pos + length
        self._within(pos, length)
        if element == "y":
            return bytes(self.data[pos:end]), end
        items = []
        while pos < end:
            item, after = self.value(element, pos, depth + 1)
            if after <= pos:
                # cannot happen with a valid signature; kept so that no input can loop forever
                raise ValueError("an array of zero-size elements")
            pos = after
            items.append(item)
            if self.deadline is not None and not len(items) % DEADLINE_EVERY and time.monotonic() > self.deadline:
                raise BusUnavailable("reading systemd's answer did not finish before the deadline")
        return (dict(items) if element[0] == "{" else items), end


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


def parse_messages(buffer, deadline=None):
    """(complete messages, bytes consumed) from the start of `buffer`.

    A message that declares more than MAX_MESSAGE bytes is refused as soon as its
    first 16 bytes are in, before its body is waited for."""
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
        if end - pos > MAX_MESSAGE:
            raise BusUnavailable(
                "systemd's answer declares %d bytes, more than the %d a reply may have here" % (end - pos, MAX_MESSAGE)
            )
        if end > len(buffer):
            break
        reader = _Reader(buffer, pos, little, end, deadline)
        fields = {}
        at = pos + 16
        while at < fields_end:
            at = reader.align(at, 8)
            reader._within(at, 1)
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
