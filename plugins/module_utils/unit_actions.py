# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the executor asks systemd before and after acting on a whole unit.

- ``show``: properties read from systemd right before an action (never the scan's
  copy: the unit may have moved on since).
- ``restart_refusal``: a restart must not be what takes a serving unit down. It
  is refused when the unit is not active any more, or when the restart could
  trip the unit's start limit (systemd would then refuse the start and leave
  the unit failed). No check here can predict an ExecStartPre that fails at
  run time: ``unit_down`` names that outcome after the fact.
- ``leftover_kill_refusal``: the cgroup-wide kill of a stopped unit's left-overs
  is for that stopped unit only: still stopped, same invocation, same cgroup.
- ``kill_argv``: ``systemctl kill --kill-who=all`` signals every process of
  the unit's cgroup, and systemd does it for an inactive unit whose cgroup is
  not empty too (checked on systemd 252 in the lab). ``--kill-who=`` is the
  spelling every supported systemd accepts (252 added ``--kill-whom=`` and
  kept the old name).

Stdlib only.
"""

from __future__ import absolute_import, division, print_function

import subprocess

from .systemd_units import parse_show_output, parse_timespan

__metaclass__ = type

RESTART_PROPERTIES = (
    'InvocationID',
    'ActiveState',
    'SubState',
    'Result',
    'NRestarts',
    'StartLimitBurst',
    'StartLimitIntervalUSec',
    'ActiveEnterTimestampMonotonic',
)
LEFTOVER_PROPERTIES = ('InvocationID', 'ActiveState', 'ControlGroup')
STOPPED_STATES = ('inactive', 'failed')
# states in which a unit serves (or is on its way to): anything else after a restart is down
UP_STATES = ('active', 'activating', 'reloading')


def show(runner, unit, properties, timeout):
    """(properties dict, None) read from systemd now, or (None, why not)."""
    argv = ['systemctl', 'show', '--property=%s' % ','.join(properties), '--', unit]
    try:
        rc, out, err = runner(argv, timeout)
    except subprocess.TimeoutExpired:
        return None, 'systemctl show did not answer'
    except OSError as exc:
        return None, 'systemctl show could not run: %s' % exc
    if rc != 0:
        return None, 'systemctl show failed (rc=%d): %s' % (rc, (err or '').strip())
    blocks = parse_show_output(out or '')
    return (blocks[0] if blocks else {}), None


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _changed_invocation(props, scanned):
    current = props.get('InvocationID') or ''
    if current != (scanned or ''):
        return 'started again since the scan (InvocationID %s, scanned %s)' % (current or 'none', scanned or 'none')
    return None


def restart_refusal(props, scanned_invocation, now_monotonic_us):
    """Why a restart must not be taken now, or None."""
    if not scanned_invocation:
        return 'no InvocationID from the scan: cannot check the unit is the one that had the zombies'
    current = props.get('InvocationID') or ''
    if current != scanned_invocation:
        return 'unit restarted since the scan (InvocationID %s, scanned %s)' % (current or 'none', scanned_invocation)
    state = props.get('ActiveState')
    if state != 'active':
        # restart_unit is for a unit that serves; a failed or restarting one is its owner's to look at
        return 'unit is %s now (%s, result %s): restart_unit restarts only an active unit' % (
            state,
            props.get('SubState'),
            props.get('Result'),
        )
    return start_limit_refusal(props, now_monotonic_us)


def start_limit_refusal(props, now_monotonic_us):
    """Could this restart be the start that trips StartLimitBurst within StartLimitIntervalSec?

    systemd does not expose its start counter. What it does expose: NRestarts
    (automatic restarts since the last manual start) and when the unit became
    active. If that was inside the interval, up to NRestarts + 1 starts are
    already counted in the window; our restart adds one more."""
    burst = _int(props.get('StartLimitBurst'), 0)
    try:
        interval = parse_timespan(props.get('StartLimitIntervalUSec'))
    except ValueError:
        interval = None
    if burst <= 0 or not interval:
        return None  # no start limit on this unit
    entered = _int(props.get('ActiveEnterTimestampMonotonic'), 0)
    restarts = _int(props.get('NRestarts'), 0)
    if entered and now_monotonic_us - entered < interval * 1e6 and restarts + 2 > burst:
        return (
            'a restart now could trip the start limit (StartLimitBurst=%d within StartLimitIntervalSec=%s; '
            '%d automatic restart(s), last start %.0fs ago): systemd would refuse the start and leave the unit down'
            % (burst, props.get('StartLimitIntervalUSec'), restarts, (now_monotonic_us - entered) / 1e6)
        )
    return None


def leftover_kill_refusal(props, action):
    """Why the cgroup-wide kill of ``action`` (a stopped unit's left-overs) must not be sent now, or None."""
    state = props.get('ActiveState')
    if state not in STOPPED_STATES:
        return 'unit is %s now: its cgroup is its own again, not left-overs' % state
    why = _changed_invocation(props, action.evidence.get('invocation_id'))
    if why:
        return why
    if (props.get('ControlGroup') or '') != (action.cgroup or ''):
        return 'its control group is %r now, the scan saw %r' % (props.get('ControlGroup') or '', action.cgroup)
    return None


def kill_argv(unit, signal_name):
    return ['systemctl', 'kill', '--no-ask-password', '--kill-who=all', '--signal=%s' % signal_name, '--', unit]


def unit_down(before_state, after):
    """True when a unit that was active before is not serving after (failed, inactive, auto-restart)."""
    if before_state != 'active' or after is None:
        return False
    return after.get('active_state') not in UP_STATES or after.get('sub_state') == 'auto-restart'
