# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Untrusted strings come out as one printable line (process names, paths, error texts)."""

import pytest

from ansible_collections.reaper.systemd.plugins.module_utils.safe_text import clean

HOSTILE = [
    # (what a process or a host can hand us, what the log shows)
    ("evil\nreaper-cleanup[1]: all clear", "evil\\x0areaper-cleanup[1]: all clear"),
    ("a\rb", "a\\x0db"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
    ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
    ("\u2066iso\u2069", "\\u2066iso\\u2069"),
    ("nul\x00byte", "nul\\x00byte"),
    ("tab\there", "tab\\x09here"),
    ("sep\u2028line", "sep\\u2028line"),
    ("bad\udcffutf8", "bad\\udcffutf8"),  # /proc bytes decoded with surrogateescape
]


@pytest.mark.parametrize("raw, shown", HOSTILE)
def test_control_format_and_separator_characters_are_shown_escaped(raw, shown):
    text = clean(raw)
    assert text == shown
    assert text.isprintable() and len(text.splitlines()) == 1


def test_invalid_utf8_bytes_are_shown_not_lost():
    assert clean(b"comm\xff\n") == "comm\\xff\\x0a"


def test_plain_text_and_systemd_escapes_are_unchanged():
    for text in ("leaky.service", "dev-disk-by\\x2duuid.swap", "größe 名前", "a (b) c"):
        assert clean(text) == text


def test_clean_is_idempotent_and_takes_any_value():
    once = clean("x\n\x1b\u202e")
    assert clean(once) == once
    assert clean(None) == "" and clean(42) == "42"


def test_keep_newlines_for_multi_line_reports():
    assert clean("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"
