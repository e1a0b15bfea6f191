# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Untrusted text made safe for a line-oriented log: one logical line stays one physical line.

A process chooses its own ``comm`` and command line, and the names, paths and error texts
that carry them reach stdout, stderr and the journal. Under systemd a service's stdout and
stderr go to the journal line by line, so a newline in a process name would forge a separate
entry, an ANSI escape would drive the reader's terminal and a bidi override would reorder
what they read. ``clean`` turns every such character into a visible backslash escape.

What is escaped: Unicode categories Cc (C0 and C1 controls: newline, CR, NUL, ESC and the
8-bit CSI), Cf (format characters: the bidi overrides and isolates U+202A-U+202E and
U+2066-U+2069, zero-width characters), Cs (lone surrogates: bytes of /proc that were not
UTF-8, decoded with ``surrogateescape``), Co (private use) and the line and paragraph
separators Zl and Zp (some readers break lines there). Backslashes are left as they are:
systemd's own unit names use ``\\x2d`` escapes, which must read as systemd shows them;
a literal ``\\x1b`` in a name therefore reads like an escaped ESC, and that ambiguity is
accepted, since it can only mislead, never execute or split a line.

Stdlib only, no other module of the collection: every floor may use it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import unicodedata

ESCAPED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")


def _escape(char):
    code = ord(char)
    if code < 0x100:
        return "\\x%02x" % code
    if code < 0x10000:
        return "\\u%04x" % code
    return "\\U%08x" % code


def clean(value, keep_newlines=False):
    """Text of ``value`` with control, format and separator characters as visible escapes.

    ``bytes`` are decoded as UTF-8, invalid bytes shown as ``\\xNN``; None gives "".
    ``keep_newlines`` keeps "\\n" for multi-line reports built from trusted lines.
    """
    if value is None:
        return ""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
    else:
        text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        # nothing to escape (the common case): no per-character walk
        return text
    out = []
    for char in text:
        if keep_newlines and char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ESCAPED_CATEGORIES:
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)
