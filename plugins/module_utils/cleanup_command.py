# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cleanup command that reaper-cleanup.service runs on each host.

Reads the policy from /etc/reaper-systemd/cleanup.json, takes the lock shared
with ``reaper.systemd.reap`` (held: log "skipped: locked" and exit 0), scans
with the same code as the modules, plans, acts unless dry-run, and writes the
state and the node_exporter metrics. Stdlib only: no Ansible on the host.

Exit status: 0 when the run completed (including refused or not-cleaned
actions, which are reported), 1 when an action failed or timed out, 2 on a
configuration error.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import sys
import time

from . import cleanup_state, prom_textfile, remediation
from .cleanup_config import CONFIG_PATH, ConfigError, load_config
from .cleanup_lock import CleanupLock, LockHeld
from .journal import Journal
from .safe_signal import Guard
from .scan import ScanOptions, scan

__metaclass__ = type

SCAN_MAX_ITEMS = 100000


def _out(text):
    sys.stdout.write('%s\n' % text)


def _parser():
    parser = argparse.ArgumentParser(prog='reaper-cleanup', description='Clean up what systemd services leak.')
    parser.add_argument('--config', default=CONFIG_PATH, help='policy file (default: %(default)s)')
    parser.add_argument('--dry-run', action='store_true', help='plan and report, act on nothing')
    parser.add_argument('--json', action='store_true', help='print the full result as JSON on stdout')
    parser.add_argument('--check-config', action='store_true', help='validate the policy file and exit')
    return parser


def main(argv=None, journal=None, scanner=None, now=time.time):
    args = _parser().parse_args(argv)
    journal = journal or Journal()
    try:
        policy, extra = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write('reaper-cleanup: configuration error: %s\n' % exc)
        return 2
    if args.check_config:
        _out('reaper-cleanup: %s is valid' % args.config)
        return 0
    if args.dry_run:
        policy.dry_run = True
    try:
        lock = CleanupLock(extra['lock_path']).acquire()
    except LockHeld as exc:
        journal.log('skipped_locked', 'skipped: locked', reason=str(exc), priority='info')
        _out('reaper-cleanup: skipped: locked (%s)' % exc)
        return 0
    try:
        return _run(policy, extra, journal, scanner, now, args.json)
    finally:
        lock.release()


def _default_scanner(policy, extra):
    def run(units):
        return scan(
            ScanOptions(
                units=units, min_zombie_age=policy.min_zombie_age, max_items=SCAN_MAX_ITEMS, backend=extra['backend']
            )
        )

    return run


def _run(policy, extra, journal, scanner, now, as_json):
    started = now()
    scanner = scanner or _default_scanner(policy, extra)
    state, problem = cleanup_state.load(extra['state_path'])
    if problem is not None:
        # cool-downs unknown: scan and report, act on nothing, never save over that file
        journal.log('run_summary', 'reaper-cleanup: %s' % problem, priority='warning')
        sys.stderr.write('reaper-cleanup: warning: %s\n' % problem)
        policy.dry_run = True
    guard = Guard()
    before = scanner(policy.units)
    cleanup_state.record_scan(state, before.facts, before.table, started)
    the_plan = remediation.plan(before.facts, before.table.processes, policy, state=state, now=started, guard=guard)
    counters = state.setdefault('counters', {})
    results = []
    after_facts = before.facts
    if policy.dry_run:
        for action in the_plan.actions:
            key = '%s|%s' % (action.kind, remediation.PLANNED)
            counters[key] = counters.get(key, 0) + 1
    elif the_plan.actions:
        executor = remediation.Executor(
            policy,
            journal,
            rescan=lambda units: scanner(units).facts,
            guard=guard,
            cgroup_view=getattr(before.table, 'cgroup_view', None),
        )
        results = executor.run(the_plan, state)
        remediation.count_results(results, counters)
        after_facts = scanner(policy.units).facts
    finished = now()
    summary = _summary(policy, the_plan, results, finished - started)
    where = journal.log('run_summary', summary, priority='info', planned=len(the_plan.actions), acted=len(results))
    # under systemd stdout goes to the journal too: print the summary only where the journal did not get it
    if where == 'stderr' or sys.stdout.isatty():
        _out(summary)
    for action in the_plan.actions if policy.dry_run else []:
        _out('  would %s: %s' % (action.describe(), action.reason))
    for entry in results:
        _out('  %s: %s %s' % (entry['description'], entry['result'], entry.get('message') or ''))
    for skip in the_plan.skipped:
        _out(
            '  skipped %s %s%s: %s'
            % (skip['action'], skip['unit'], ' PID %s' % skip['pid'] if skip['pid'] else '', skip['reason'])
        )
    try:
        if problem is None:
            cleanup_state.save(state, extra['state_path'])
    except OSError as exc:
        sys.stderr.write('reaper-cleanup: cannot save state %s: %s\n' % (extra['state_path'], exc))
    if extra.get('textfile_dir'):
        try:
            prom_textfile.write(
                extra['textfile_dir'], prom_textfile.samples_from(after_facts, counters, started, now())
            )
        except OSError as exc:
            sys.stderr.write('reaper-cleanup: cannot write metrics to %s: %s\n' % (extra['textfile_dir'], exc))
    if as_json:
        _out(
            json.dumps(
                {
                    'dry_run': policy.dry_run,
                    'plan': the_plan.as_dict(),
                    'actions': results,
                    'before': remediation.summarize(before.facts),
                    'after': remediation.summarize(after_facts),
                },
                sort_keys=True,
            )
        )
    failed = [r for r in results if r['result'] in (remediation.FAILED, remediation.TIMEOUT)]
    if problem is not None:
        return 3
    return 1 if failed else 0


def _summary(policy, the_plan, results, duration):
    if policy.dry_run:
        return 'reaper-cleanup: dry-run: %d action(s) planned, %d skipped, nothing done (%.2fs)' % (
            len(the_plan.actions),
            len(the_plan.skipped),
            duration,
        )
    by_result = {}
    for entry in results:
        by_result[entry['result']] = by_result.get(entry['result'], 0) + 1
    detail = ', '.join('%d %s' % (n, r) for r, n in sorted(by_result.items())) or 'nothing to do'
    return 'reaper-cleanup: %d action(s) taken (%s), %d skipped (%.2fs)' % (
        len(results),
        detail,
        len(the_plan.skipped),
        duration,
    )
