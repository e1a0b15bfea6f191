# -*- coding: utf-8 -*-
# Copyright: (c) 2026, reaper.systemd contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cleanup command that reaper-cleanup.service runs on each host.

Reads the policy from /etc/reaper-systemd/cleanup.json, takes the lock shared
with ``reaper.systemd.reap`` (held: log "skipped: locked" and exit 0), scans
with the same code as the modules, plans, acts unless dry-run or paused, and
writes the state and the node_exporter metrics. Stdlib only: no Ansible on
the host.

Exit status:

- 0 the run completed (refused or not-cleaned actions are reported, not
  errors; a paused run plans only and exits 0);
- 1 an action failed or timed out;
- 2 configuration error, or a lock that cannot be used (a symlink, not root's): nothing done;
- 3 the state file is unusable (corrupt, newer, unsafe, unreadable): the run
  scanned and reported, took no action, and left the file as it was;
- 4 the state could not be saved before an action (write-ahead): that action
  and every later one were not taken (also: ``--unpark`` could not save);
- 5 the metrics could not be written (the run itself completed and its
  actions are logged; an error entry says why);
- 6 systemd could not be asked (PID 1 hung or refusing; the scan gives up
  within the bound of docs/detection.md): nothing done;
- 7 a restart left a unit that was active down (failed): the worst outcome;
  the unit is parked and not started again by the cleanup.

When several apply, the first of 3, 4, 7, 1, 5 is returned (a state problem
first, a metrics failure last); each has its own journal entry.

Operators reset parked units with ``--unpark UNIT`` (repeatable) or
``--unpark-all``.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import sys
import time

from . import cleanup_memory, cleanup_state, prom_textfile, remediation, remediation_executor, safe_text, unit_names
from .cleanup_config import CONFIG_PATH, ConfigError, load_config, pause_requested
from .cleanup_lock import CleanupLock, LockHeld
from .journal import Journal
from .safe_signal import Guard
from .scan import ScanOptions, scan
from .systemd_units import SystemdError

__metaclass__ = type

SCAN_MAX_ITEMS = 100000

EXIT_OK = 0
EXIT_ACTION_FAILED = 1
EXIT_CONFIG = 2
EXIT_STATE_PROBLEM = 3
EXIT_STATE_NOT_SAVED = 4
EXIT_METRICS_NOT_WRITTEN = 5
EXIT_SYSTEMD = 6
EXIT_UNIT_DOWN = 7


def _out(text):
    """One line on stdout: under systemd it becomes one journal entry, so untrusted text is escaped."""
    sys.stdout.write('%s\n' % safe_text.clean(text))


def _err(text):
    """One line on stderr ("reaper-cleanup: " + text), escaped like ``_out``."""
    sys.stderr.write('reaper-cleanup: %s\n' % safe_text.clean(text))


def _parser():
    parser = argparse.ArgumentParser(prog='reaper-cleanup', description='Clean up what systemd services leak.')
    parser.add_argument('--config', default=CONFIG_PATH, help='policy file (default: %(default)s)')
    parser.add_argument('--dry-run', action='store_true', help='plan and report, act on nothing')
    parser.add_argument('--json', action='store_true', help='print the full result as JSON on stdout')
    parser.add_argument('--check-config', action='store_true', help='validate the policy file and exit')
    parser.add_argument(
        '--check-deployment',
        metavar='FILE',
        help="validate the cleanup_timer role's variables (a JSON object, names without the prefix) and exit",
    )
    parser.add_argument(
        '--unpark',
        metavar='UNIT',
        action='append',
        default=[],
        help='let the cleanup act on a parked unit again (repeatable), then exit',
    )
    parser.add_argument('--unpark-all', action='store_true', help='unpark every parked unit, then exit')
    return parser


def _check_deployment(path):
    try:
        from . import cleanup_config
    except ImportError as exc:
        _err('--check-deployment is not available: %s' % exc)
        return EXIT_CONFIG
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        _err('configuration error: cannot read %s: %s' % (path, exc))
        return EXIT_CONFIG
    except ValueError as exc:
        _err('configuration error: %s is not valid JSON: %s' % (path, exc))
        return EXIT_CONFIG
    try:
        cleanup_config.check_deployment(data)
    except (cleanup_config.ConfigError, ValueError, TypeError) as exc:
        _err('configuration error: %s' % exc)
        return EXIT_CONFIG
    _out('reaper-cleanup: %s is a valid deployment' % path)
    return EXIT_OK


def main(argv=None, journal=None, scanner=None, now=time.time):
    args = _parser().parse_args(argv)
    journal = journal or Journal()
    if args.check_deployment:
        return _check_deployment(args.check_deployment)
    try:
        policy, extra = load_config(args.config)
    except ConfigError as exc:
        _err('configuration error: %s' % exc)
        return EXIT_CONFIG
    if args.check_config:
        _out('reaper-cleanup: %s is valid' % args.config)
        return EXIT_OK
    for unit in args.unpark:
        problem = unit_names.check_pattern(unit, allow_glob=False)
        if problem:
            _err('configuration error: --unpark %r: %s' % (unit, problem))
            return EXIT_CONFIG
    if args.dry_run:
        policy.dry_run = True
    try:
        lock = CleanupLock(extra['lock_path']).acquire()
    except LockHeld as exc:
        journal.log('skipped_locked', 'skipped: locked', reason=str(exc), priority='info')
        _out('reaper-cleanup: skipped: locked (%s)' % exc)
        return EXIT_OK
    except OSError as exc:
        # a symlink or a file that is not root's at the lock path (LockUnsafe), or no
        # permission: refuse with the reason instead of a traceback, and touch nothing
        message = 'cannot take the lock %s: %s: nothing done' % (extra['lock_path'], exc)
        journal.log('run_summary', 'reaper-cleanup: %s' % message, priority='err')
        _err(message)
        return EXIT_CONFIG
    try:
        if args.unpark or args.unpark_all:
            return _unpark([unit_names.normalize(u) for u in args.unpark], args.unpark_all, extra, journal)
        return _run(policy, extra, journal, scanner, now, args.json)
    except SystemdError as exc:
        # the first scan could not ask systemd (nothing was done), or the last one (the
        # actions taken are logged already): either way the run cannot report soundly
        message = 'cannot read the units from systemd: %s: nothing done after this point' % exc
        journal.log('run_summary', 'reaper-cleanup: %s' % message, priority='err')
        _err(message)
        return EXIT_SYSTEMD
    finally:
        lock.release()


def _unpark(units, every, extra, journal):
    """Reset parking (and back-off) under the lock; the state must be sound."""
    state, problem = cleanup_memory.load_state(extra['state_path'])
    if problem is not None:
        _err(
            'state %s is unusable (%s: %s): nothing unparked, the file is left as it is'
            % (extra['state_path'], problem.kind, problem.message)
        )
        return EXIT_STATE_PROBLEM
    done = cleanup_memory.unpark_all(state) if every else []
    for unit in units:
        if cleanup_memory.unpark(state, unit):
            done.append(unit)
        else:
            _out('reaper-cleanup: %s was not parked' % unit)
    try:
        cleanup_state.save(state, extra['state_path'])
    except OSError as exc:
        _err('cannot save state %s: %s: nothing unparked' % (extra['state_path'], exc))
        return EXIT_STATE_NOT_SAVED
    for unit in done:
        journal.log('unparked', 'reaper-systemd: %s unparked by an operator' % unit, unit=unit, priority='notice')
        _out('reaper-cleanup: unparked %s' % unit)
    return EXIT_OK


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
    state_path = extra['state_path']
    state, problem = cleanup_memory.load_state(state_path)
    if problem is not None:
        message = 'state %s is unusable (%s: %s): no action this run, the file is left as it is' % (
            state_path,
            problem.kind,
            problem.message,
        )
        journal.log('state_problem', 'reaper-cleanup: %s' % message, reason=problem.kind, priority='warning')
        _err('warning: %s' % message)
    paused, pause_reason = pause_requested(extra.get('pause_path'))
    if paused:
        journal.log(
            'paused',
            'reaper-cleanup: paused (%s): planning only, no action' % pause_reason,
            priority='notice',
        )
    plan_only = policy.dry_run or paused or problem is not None
    guard = Guard()
    before = scanner(policy.units)
    _log_systemd_fallback(journal, before.facts)
    cleanup_memory.record_scan(state, before.facts, before.table, started)
    the_plan = remediation.plan_scan(before, policy, state, started, guard)
    remediation.log_plan_events(journal, the_plan)
    counters = state.setdefault('counters', {})
    results = []
    after_facts = before.facts
    write_ahead_error = None
    if plan_only:
        for action in the_plan.actions:
            key = '%s|%s' % (action.kind, remediation_executor.PLANNED)
            counters[key] = counters.get(key, 0) + 1
    elif the_plan.actions:
        executor = remediation_executor.Executor(
            policy,
            journal,
            rescan=lambda units: scanner(units).facts,
            guard=guard,
            cgroup_view=getattr(before.table, 'cgroup_view', None),
        )
        results = executor.run(the_plan, state, save=lambda st: cleanup_state.save(st, state_path))
        write_ahead_error = executor.write_ahead_error
        remediation_executor.count_results(results, counters)
        after_facts = scanner(policy.units).facts
    finished = now()
    summary = _summary(policy, the_plan, results, finished - started, paused, problem)
    where = journal.log('run_summary', summary, priority='info', planned=len(the_plan.actions), acted=len(results))
    # under systemd stdout goes to the journal too: print the summary only where the journal did not get it
    if where == 'stderr' or sys.stdout.isatty():
        _out(summary)
    for action in the_plan.actions if plan_only else []:
        _out('  would %s: %s' % (action.describe(), action.reason))
    for entry in results:
        _out('  %s: %s %s' % (entry['description'], entry['result'], entry.get('message') or ''))
    for skip in the_plan.skipped:
        _out(
            '  skipped %s %s%s: %s'
            % (skip['action'], skip['unit'], ' PID %s' % skip['pid'] if skip['pid'] else '', skip['reason'])
        )
    cleanup_memory.prune_actions(state, finished)
    report_units = _report_units(state, (before.facts, after_facts), finished)
    if problem is None:  # never save over a state file that could not be used
        try:
            cleanup_state.save(state, state_path)
        except OSError as exc:
            _err('cannot save state %s: %s' % (state_path, exc))
    metrics_error = None
    if extra.get('textfile_dir'):
        samples = prom_textfile.samples_from(
            after_facts,
            counters,
            started,
            now(),
            state_problem=problem.kind if problem is not None else None,
            paused=paused,
            units_parked=len(cleanup_memory.parked_units(state)),
            budget_remaining=cleanup_memory.budget_remaining(state, policy, finished),
            host_label=extra.get('host_label'),
            report_units=report_units,
            interval_seconds=extra.get('timer_interval'),
            actions=policy.actions,
        )
        metrics_error = _write_metrics(extra['textfile_dir'], samples, journal)
    if as_json:
        _out(
            json.dumps(
                {
                    'dry_run': policy.dry_run,
                    'paused': paused,
                    'state_problem': problem.kind if problem is not None else None,
                    'plan': the_plan.as_dict(),
                    'actions': results,
                    'parked': cleanup_memory.parked_units(state),
                    'before': remediation_executor.summarize(before.facts),
                    'after': remediation_executor.summarize(after_facts),
                },
                sort_keys=True,
            )
        )
    if problem is not None:
        return EXIT_STATE_PROBLEM
    if write_ahead_error is not None:
        _err('state not saved before an action: %s' % write_ahead_error)
        return EXIT_STATE_NOT_SAVED
    return exit_status(results, metrics_error)


def _log_systemd_fallback(journal, facts):
    """A warning when the scan had to ask systemctl: as root the bus should answer, so PID 1
    or its socket misbehaved (hung, refused, or an answer the client would not read)."""
    query = (facts.get('host') or {}).get('systemd_query') or {}
    if query.get('source') == 'systemctl':
        journal.log(
            'systemd_query_fallback',
            "reaper-cleanup: PID 1's private socket gave no clean answer (%s): asked systemctl instead"
            % query.get('problem'),
            reason=query.get('problem'),
            priority='warning',
        )


def _write_metrics(directory, samples, journal):
    """Write the .prom file; on failure log an error and return its text (None when written).

    A failure fails the run: the file keeps the previous run's values, which look
    current to node_exporter, so a silent exit 0 would hide a stale dashboard."""
    try:
        prom_textfile.write(directory, samples)
    except OSError as exc:
        message = "cannot write metrics to %s: %s: the .prom file keeps the previous run's values" % (directory, exc)
        journal.log('metrics_failed', 'reaper-cleanup: %s' % message, reason=exc.strerror or str(exc), priority='err')
        _err(message)
        return message
    return None


def exit_status(results, metrics_error=None):
    """7 when a restart left a unit down, 1 when an action failed or timed out, 5 when only the
    metrics could not be written, else 0."""
    outcomes = set(r['result'] for r in results)
    if remediation_executor.UNIT_DOWN in outcomes:
        return EXIT_UNIT_DOWN
    if outcomes & set(remediation_executor.BAD_RESULTS):
        return EXIT_ACTION_FAILED
    return EXIT_METRICS_NOT_WRITTEN if metrics_error is not None else EXIT_OK


def _report_units(state, facts_list, now):
    """The units that get per-unit metrics this run (see prom_textfile.units_to_report).

    When each unit last had something to report is kept in its state entry
    (``reported_at``), so that a unit fixed by a run keeps its series, at 0, for
    prom_textfile.REPORT_HOLD_S."""
    units = state.setdefault('units', {})
    last = dict(
        (name, entry['reported_at'])
        for name, entry in units.items()
        if isinstance(entry, dict) and 'reported_at' in entry
    )
    names, reported = prom_textfile.units_to_report(facts_list, last, now)
    for name, entry in units.items():
        if isinstance(entry, dict) and name not in reported:
            entry.pop('reported_at', None)
    for name, when in reported.items():
        entry = units.get(name)
        if not isinstance(entry, dict):
            entry = units[name] = {'last_seen': now}
        entry['reported_at'] = when
    return names


def _summary(policy, the_plan, results, duration, paused=False, problem=None):
    if problem is not None or paused or policy.dry_run:
        why = 'state unusable (%s)' % problem.kind if problem is not None else 'paused' if paused else 'dry-run'
        return 'reaper-cleanup: %s: %d action(s) planned, %d skipped, nothing done (%.2fs)' % (
            why,
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
