# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate service names and glob patterns the way systemd would accept them.

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re
import string

# systemd's unit name alphabet (unit-name.c: VALID_CHARS plus '@' for instances)
# extended with the glob characters systemctl accepts in patterns.
# \Z, not $: '$' also matches before a trailing newline, which let "app.service\n" through.
_NAME_CHARS = re.compile(r"[A-Za-z0-9:_.\\@-]+\Z")
_PATTERN_CHARS = re.compile(r"[A-Za-z0-9:_.\\@*?\[\]!-]+\Z")
UNIT_NAME_MAX = 255
OTHER_UNIT_TYPES = (
    ".socket",
    ".timer",
    ".scope",
    ".slice",
    ".mount",
    ".automount",
    ".swap",
    ".path",
    ".target",
    ".device",
)


def check_pattern(pattern, allow_glob=True):
    """Return an error message for a bad unit name or pattern, or None."""
    if not isinstance(pattern, str) or not pattern:
        return "unit name must be a non-empty string, got %r" % (pattern,)
    if "/" in pattern or ".." in pattern:
        return "unit name %r must not contain '/' or '..'" % pattern
    if len(pattern) > UNIT_NAME_MAX:
        return "unit name %r is longer than %d characters" % (pattern[:40] + "...", UNIT_NAME_MAX)
    alphabet = _PATTERN_CHARS if allow_glob else _NAME_CHARS
    if not alphabet.match(pattern):
        return (
            "unit name %r contains characters systemd does not accept "
            "(allowed: letters, digits, ':', '-', '_', '.', '\\', '@'%s)"
            % (pattern, ", and the globs '*', '?', '[...]'" if allow_glob else "")
        )
    if pattern.startswith(".") or pattern.startswith("@"):
        return "unit name %r must not start with '.' or '@'" % pattern
    if pattern.startswith("-"):
        # systemctl and journalctl would read it as an option
        return "unit name %r must not start with '-'" % pattern
    if pattern.endswith(OTHER_UNIT_TYPES):
        return "%r is not a service: only .service units are in scope" % pattern
    return None


def normalize(pattern):
    """Names without a suffix mean services, as with systemctl ('nginx' -> 'nginx.service')."""
    if pattern.endswith(".service") or pattern.endswith("*"):
        return pattern
    return pattern + ".service"


def matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, normalize(p)) for p in patterns)


def select(names, patterns):
    """Names matched by the patterns (all when patterns is empty) and the patterns that matched nothing."""
    if not patterns:
        return sorted(names), []
    selected = [name for name in sorted(names) if matches(name, patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, normalize(p)) for n in names)]
    return selected, unmatched


# The characters a unit name can hold (systemd's VALID_CHARS plus '@'): the alphabet over
# which two patterns are compared.
_UNIT_ALPHABET = frozenset(string.ascii_letters + string.digits + ":-_.\\@")
_STAR = "*"


def _glob_tokens(pattern):
    """The pattern as fnmatch reads it: '*' or, per position, the set of unit-name characters it accepts."""
    tokens = []
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        i += 1
        if char == "*":
            if not tokens or tokens[-1] is not _STAR:
                tokens.append(_STAR)
        elif char == "?":
            tokens.append(_UNIT_ALPHABET)
        elif char == "[":
            close = i + (1 if pattern[i : i + 1] == "!" else 0)
            close += 1 if pattern[close : close + 1] == "]" else 0
            close = pattern.find("]", close)
            if close < 0:
                tokens.append(frozenset("["))  # fnmatch: an unclosed '[' is itself
                continue
            bracket = pattern[i - 1 : close + 1]
            # fnmatch decides what the bracket accepts: no second reading of ranges and '!'
            tokens.append(frozenset(c for c in _UNIT_ALPHABET if fnmatch.fnmatchcase(c, bracket)))
            i = close + 1
        else:
            tokens.append(frozenset(char))
    return tokens


def patterns_overlap(first, second):
    """Can one unit name match both glob patterns? (Exact: a walk over both patterns at once.)

    Needed because matching one pattern against the other as if it were a name
    misses overlaps: 's*-journald*' and 'systemd-*' share systemd-journald.service.
    """
    left, right = _glob_tokens(first), _glob_tokens(second)
    seen = set()
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(left) and j == len(right):
            return True
        if i < len(left) and left[i] is _STAR:
            todo.append((i + 1, j))  # the star matches nothing more
        if j < len(right) and right[j] is _STAR:
            todo.append((i, j + 1))
        if i < len(left) and j < len(right) and not (left[i] is _STAR and right[j] is _STAR):
            accepts_left = _UNIT_ALPHABET if left[i] is _STAR else left[i]
            accepts_right = _UNIT_ALPHABET if right[j] is _STAR else right[j]
            if accepts_left & accepts_right:
                todo.append((i if left[i] is _STAR else i + 1, j if right[j] is _STAR else j + 1))
    return False
