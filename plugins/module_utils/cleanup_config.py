# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and validate the cleanup's configuration, wherever it comes from.

Three surfaces, one validation layer (option_checks and cleanup_policy.Policy):

- ``load_config``: /etc/reaper-systemd/cleanup.json, read by the cleanup command.
  JSON has no type conversion, so types must be exact (``"dry_run": "no"`` is
  refused, not read as true). The file itself must be a regular file owned by
  root and writable by nobody else: it decides what root kills.
- ``from_params``: the options of ``reaper.systemd.reap`` after Ansible's own
  conversion.
- ``check_deployment``: the variables of the role ``reaper.systemd.cleanup_timer``,
  checked through the deployed command's ``--check-deployment`` before the role
  installs anything.

Every refusal names the option (as the operator wrote it) and the value.
Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat

from . import cleanup_lock, cleanup_policy, option_checks
from .cleanup_lock import LOCK_PATH
from .cleanup_state import STATE_PATH

CONFIG_PATH = '/etc/reaper-systemd/cleanup.json'
PAUSE_PATH = '/etc/reaper-systemd/paused'
BACKENDS = ('procfs', 'psutil')
# cleanup.json holds the policy plus these keys (defaults when absent).
EXTRA_KEYS = {
    'textfile_dir': None,
    'state_path': STATE_PATH,
    'lock_path': LOCK_PATH,
    'pause_path': PAUSE_PATH,
    'backend': 'procfs',
    'host_label': None,
    # the timer's interval (a systemd time span), exported as reaper_timer_interval_seconds;
    # null: no timer runs this configuration
    'timer_interval': None,
}
# Big enough for any sane policy, small enough that a wrong file is not read whole.
CONFIG_MAX_BYTES = 1024 * 1024


class ConfigError(option_checks.InvalidOption):
    """Configuration that cannot work; the message names the option and the value."""


# A host name is at most 253 characters (RFC 1035); the label is one value of every metric.
HOST_LABEL_MAX = 253


def _host_label(option, value):
    if value is None:
        return None
    return option_checks.safe_string(option, value, max_length=HOST_LABEL_MAX)


def _host_lock(normal, given):
    """The one lock of the host. Another path is refused rather than honoured.

    The lock keeps two cleanups (the timer, an ad-hoc reap) from acting at once; it
    does that only if both take the same lock. A cleanup given a lock of its own
    would run beside the others, so the only accepted value is the host's lock
    (``cleanup_lock.LOCK_PATH``, which tests point at a scratch directory).
    """
    if normal not in (LOCK_PATH, cleanup_lock.LOCK_PATH):
        raise option_checks.InvalidOption(
            'lock_path',
            given,
            'must be %s: the lock is host-wide, and a cleanup holding another lock would act '
            'at the same time as the timer or reap' % LOCK_PATH,
        )
    return cleanup_lock.LOCK_PATH


def check_extra(extra):
    """Validate the non-policy keys (already merged with defaults); returns the normalised values."""
    checked = dict(extra)
    if extra['textfile_dir'] == '':
        # in cleanup.json "no metrics" is null; an empty string is a mistake worth naming
        raise option_checks.InvalidOption('textfile_dir', '', 'must be an absolute directory or null')
    checked['textfile_dir'] = option_checks.optional_path('textfile_dir', extra['textfile_dir'], unit_file=True)
    for name in ('state_path', 'lock_path', 'pause_path'):
        checked[name] = option_checks.absolute_path(name, extra[name])
    checked['lock_path'] = _host_lock(checked['lock_path'], extra['lock_path'])
    checked['backend'] = option_checks.choice('backend', extra['backend'], BACKENDS)
    checked['host_label'] = _host_label('host_label', extra['host_label'])
    if extra['timer_interval'] is not None:
        # seconds from here on; the role writes the same text the timer unit gets
        checked['timer_interval'] = option_checks.timespan('timer_interval', extra['timer_interval'], **INTERVAL_BOUNDS)
    return checked


def pause_requested(path):
    """(paused, why) for the pause file at ``path``. Fails closed: only "no such file" means not paused.

    os.path.lexists() answers False for any error, so a path the kernel refuses
    (longer than PATH_MAX, a loop, no permission) read as "not paused" and the run
    acted. Any answer but ENOENT is a pause, with the reason to report.
    """
    if not path:
        return False, None
    try:
        os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False, None
        return True, 'cannot tell whether the pause file %s exists (%s): paused to be safe' % (path, exc.strerror)
    return True, '%s exists' % path


def _split(data):
    extra = dict(EXTRA_KEYS)
    policy_data = {}
    for key, value in data.items():
        if key in EXTRA_KEYS:
            extra[key] = value
        else:
            policy_data[key] = value
    return policy_data, extra


def _no_duplicates(pairs):
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError('key %r appears twice' % key)
        data[key] = value
    return data


def parse_json(text):
    """JSON without duplicate keys (a later key silently winning hides a mistake).

    NaN and Infinity are read as floats on purpose: the option checks then refuse
    them naming the option they were given for.
    """
    return json.loads(text, object_pairs_hook=_no_duplicates)


def _trusted_owner(uid):
    # root; in unit tests (not root) the caller's own files
    return uid == 0 or uid == os.geteuid()


def read_trusted_file(path, what, max_bytes=CONFIG_MAX_BYTES):
    """Read a file root relies on: a regular file (no symlink), owned by root, writable by no one else.

    Raises OSError (errno from the system) or ValueError (the file is not trustworthy).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0) | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError('%s %s is not a regular file' % (what, path))
        if not _trusted_owner(info.st_uid):
            raise ValueError('%s %s is owned by uid %d, not root' % (what, path, info.st_uid))
        if info.st_mode & 0o022:
            raise ValueError(
                '%s %s is writable by group or others (mode %04o): chmod go-w it'
                % (what, path, stat.S_IMODE(info.st_mode))
            )
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ValueError('%s %s is larger than %d bytes' % (what, path, max_bytes))
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b''.join(chunks).decode('utf-8')


def load_config(path=CONFIG_PATH):
    """(Policy, extra) from cleanup.json; raises ConfigError naming the option and the value."""
    try:
        text = read_trusted_file(path, 'the configuration')
    except (IOError, OSError) as exc:
        raise ConfigError('config', path, 'cannot be read', message='cannot read %s: %s' % (path, exc))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError('config', path, 'is refused', message='%s' % exc)
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise ConfigError('config', path, 'is not valid JSON', message='%s is not valid JSON: %s' % (path, exc))
    if not isinstance(data, dict):
        raise ConfigError('config', path, 'must hold a JSON object', message='%s must hold a JSON object' % path)
    policy_data, extra = _split(data)
    try:
        policy = cleanup_policy.Policy.from_dict(policy_data)
        extra = check_extra(extra)
    except option_checks.InvalidOption as exc:
        raise ConfigError(exc.option, exc.value, exc.requirement, message='%s: %s' % (path, exc))
    return policy, extra


def from_params(params):
    """(Policy, extra) from a module's params (after Ansible's conversion).

    Only the keys the module has are taken; None means "not set" (the default).
    Raises ConfigError naming the option and the value.
    """
    policy_data = {}
    extra = dict(EXTRA_KEYS)
    for key, value in params.items():
        if value is None:
            continue
        if key in cleanup_policy.Policy.FIELDS:
            policy_data[key] = value
        elif key in EXTRA_KEYS:
            extra[key] = value
    try:
        policy = cleanup_policy.Policy.from_dict(policy_data)
        extra = check_extra(extra)
    except option_checks.InvalidOption as exc:
        raise exc.renamed(exc.option, ConfigError)
    return policy, extra


# ------------------------------------------------------------------ role variables
ROLE_PREFIX = 'cleanup_timer_'
# name -> (Ansible type, default). The defaults mirror roles/cleanup_timer/defaults/main.yml.
ROLE_VARIABLES = (
    ('state', 'str', 'present'),
    ('units', 'list', ['*']),
    ('deny', 'list', []),
    ('allow', 'list', []),
    ('actions', 'list', []),
    ('dry_run', 'bool', False),
    ('min_zombies', 'int', 1),
    ('min_zombie_age', 'float', 300),
    ('max_actions', 'int', 10),
    ('max_actions_per_hour', 'int', 30),
    ('cooldown', 'float', 3600),
    ('backoff_max', 'float', None),
    ('park_after', 'int', 3),
    ('grace', 'float', 10),
    ('action_timeout', 'int', 120),
    ('backend', 'str', 'procfs'),
    ('interval', 'timespan', '15min'),
    ('boot_delay', 'timespan', '5min'),
    ('randomized_delay', 'timespan', '2min'),
    ('enabled', 'bool', True),
    ('textfile_dir', 'path', ''),
    ('paused', 'bool', False),
    ('host_label', 'str', None),
)
ROLE_VARIABLE_NAMES = tuple(name for name, _kind, _default in ROLE_VARIABLES)
# The timer must not fire more often than a scan can finish, nor so rarely that it means "never".
INTERVAL_BOUNDS = dict(minimum=60, maximum=7 * 86400)
DELAY_BOUNDS = dict(minimum=0, maximum=86400)


def _check_role_value(name, kind, value):
    value = option_checks.as_ansible_would(kind, value)
    if name == 'state':
        return option_checks.choice(name, value, ('present', 'absent'))
    if name == 'backend':
        return option_checks.choice(name, value, BACKENDS)
    if kind == 'bool':
        return option_checks.boolean(name, value)
    if kind == 'int':
        # the role's argument spec says int: 1.5 is refused there too (Policy alone would take it)
        return option_checks.integer(name, value)
    if kind == 'float':
        return option_checks.number(name, value)
    if name == 'interval':
        option_checks.timespan(name, value, **INTERVAL_BOUNDS)
        return value
    if kind == 'timespan':
        option_checks.timespan(name, value, **DELAY_BOUNDS)
        return value
    if name == 'textfile_dir':
        return option_checks.optional_path(name, value, unit_file=True)
    if name == 'host_label':
        return None if value in (None, '') else _host_label(name, value)
    return value


def check_deployment(mapping):
    """Validate the role's variables (names without the ``cleanup_timer_`` prefix).

    Returns the values as the role should render them (converted like the role's
    argument spec does, policy fields checked by Policy). Raises ConfigError naming
    ``cleanup_timer_<name>`` and the value. Unknown names are refused.
    """
    if not isinstance(mapping, dict):
        raise ConfigError('variables', mapping, 'must be a mapping of cleanup_timer_ variables')
    unknown = sorted(set(mapping) - set(ROLE_VARIABLE_NAMES))
    if unknown:
        raise ConfigError(
            ROLE_PREFIX + str(unknown[0]),
            mapping[unknown[0]],
            'is not a variable of the role',
            message='unknown variables: %s (known: %s)'
            % (
                ', '.join(ROLE_PREFIX + str(n) for n in unknown),
                ', '.join(ROLE_PREFIX + n for n in ROLE_VARIABLE_NAMES),
            ),
        )
    values = {}
    try:
        for name, kind, default in ROLE_VARIABLES:
            value = mapping.get(name, default)
            if name == 'backoff_max' and value is None:
                values[name] = None  # not set: a day, or the cool-down when longer
                continue
            values[name] = _check_role_value(name, kind, value)
        policy_data = dict(
            (name, option_checks.as_ansible_would(kind, values[name]))
            for name, kind, _default in ROLE_VARIABLES
            if name in cleanup_policy.Policy.FIELDS and not (name == 'backoff_max' and values[name] is None)
        )
        policy = cleanup_policy.Policy.from_dict(policy_data)
    except option_checks.InvalidOption as exc:
        raise exc.renamed(ROLE_PREFIX + exc.option, ConfigError)
    for name in cleanup_policy.Policy.FIELDS:
        if name in values:
            values[name] = getattr(policy, name)
    return values
