#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: reap
short_description: Clean up what systemd services leak, safely (zombies, left-overs, survivors, escapes)
version_added: 0.1.0
description:
  - Scans the host with the same code as M(reaper.systemd.process_facts), plans the actions the operator
    allowed on the units in scope, and takes them one by one.
  - Every action is off unless named in O(actions). Scope is explicit (O(units) is required) and two built-in
    tiers apply even to C(*). Never ours (C(systemd-*), C(dbus*), C(user@*), C(user-runtime-dir@*),
    C(emergency.service), C(rescue.service), C(reaper-cleanup*)) is never acted on, whatever the options. By design
    (C(ssh), C(sshd), C(cron), C(crond), C(atd), C(anacron), C(containerd), C(docker), C(libvirtd),
    C(NetworkManager), C(getty@*), C(serial-getty@*), units that keep their processes on purpose) is left alone
    unless O(allow) lifts it. O(deny) can only extend them.
  - Single processes are signalled through a pidfd after their identity (start time, cgroup) is re-checked
    through a C(/proc/PID) directory fd, so a PID reused since the scan is never hit. They get C(SIGTERM),
    O(grace) seconds, then C(SIGKILL). Whole units are restarted through C(systemctl restart).
  - Never signals PID 0 or 1, negative PIDs, kernel threads, its own process, its ancestors (the Ansible
    session that runs it) or its process group, nor the main PID of a unit.
  - Each action is written to the journal before it is taken (C(SYSLOG_IDENTIFIER=reaper-systemd), one
    C(MESSAGE_ID) per action kind, C(UNIT=), C(OBJECT_PID=), C(REASON=)), and the state is re-read after it;
    the result says what really changed (a killed process that stays a zombie is reported as not cleaned).
  - Shares a lock (C(/run/reaper-systemd/lock)) and its memory (C(/var/lib/reaper-systemd/state.json) with zombie
    sightings, cool-downs, back-off, parked units, the hourly action budget) with the cleanup timer of the role
    C(reaper.systemd.cleanup_timer), so two cleanups never run at once and both keep the same brakes.
  - Each action is recorded in the state file before it is taken; if the state cannot be saved, the action is not
    taken and the task fails. A state file that cannot be used (corrupt, newer layout, unsafe ownership or mode,
    unreadable) means no action at all and a failed task; the file is left as it is.
  - The task fails when an action failed or timed out (the result still lists everything that happened), so
    C(serial) and C(max_fail_percentage) stop a rollout that goes wrong.
  - Zombie thresholds rest on how long a zombie has been observed (RV(plan[].evidence)), not on the age of the
    process; a zombie seen for the first time counts as new. With O(zombie_wait) the module takes a second look
    after that many seconds at most, so a long-standing zombie factory is handled in one run.
author:
  - reaper.systemd maintainers (@reaper-systemd)
requirements:
  - Python 3.9 or later and Linux 5.3 or later on the target to signal processes (pidfd). Without them the
    module still plans and restarts units, and refuses to signal single processes, saying why.
notes:
  - Run as root.
  - In check mode the module returns the plan (what would be done and why) and changes nothing.
  - C(restart_unit) applies only to active units whose C(KillMode) is C(control-group) or C(mixed); under
    C(process) or C(none) a restart leaves the leaking workers alive, so it is refused with "harden first"
    (see the role C(reaper.systemd.killmode_hardening)). It never starts an inactive unit.
  - Escaped processes that cannot be attributed to a unit (C(ansible_facts.reaper.host.unattributed_escapes) of
    M(reaper.systemd.process_facts)) are never acted on.
seealso:
  - module: reaper.systemd.process_facts
attributes:
  check_mode:
    support: full
    description: Returns the plan without taking the lock or acting.
  diff_mode:
    support: none
    description: Processes and units are not files; the result lists before/after evidence instead.
options:
  units:
    description:
      - Service names or glob patterns the module may act on. Names without a suffix mean C(.service).
      - Required, there is no default scope. Units matching the deny list are never acted on.
    type: list
    elements: str
    required: true
  deny:
    description: Patterns added to the built-in deny list.
    type: list
    elements: str
    default: []
  actions:
    description:
      - Actions allowed. Each is off unless named here.
      - V(nudge_parent) sends C(SIGCHLD) to a zombie's parent (helps only parents with a handler).
      - V(restart_unit) restarts an active unit whose zombies pass O(min_zombies) and O(min_zombie_age). It is
        refused when the unit, re-read right before, is no longer active or could trip its start limit. A restart
        that leaves the unit down (failed after being active) is result V(unit_down); the unit is parked, not
        started again, and the task fails.
      - V(kill_leftovers) kills the processes left in the cgroup of a stopped or failed unit, without starting it,
        one C(systemctl kill --kill-who=all) of the whole cgroup (SIGTERM, O(grace), SIGKILL) when there are more
        than 10 and every process there is a left-over, else one by one.
      - V(kill_survivors) kills processes of an earlier invocation in an active unit's cgroup, one by one.
      - V(terminate_escaped) terminates processes that escaped an in-scope unit, one by one.
      - V(kill_worker_parent) kills a zombie-leaking parent that is not the unit's main PID.
    type: list
    elements: str
    choices: [nudge_parent, restart_unit, kill_leftovers, kill_survivors, terminate_escaped, kill_worker_parent]
    default: []
  allow:
    description:
      - Units or patterns that lift the built-in "by design" exemptions (services that set C(KillMode=process) on
        purpose, such as C(cron), C(ssh*) or C(getty@*)). Never widens the scope (O(units) still decides).
      - Only by-design units can be lifted. An entry that could match any never-ours unit (C(*), C(*.service),
        C(systemd-journald), C(s*-journald*), C(dbus*), ...) is refused and the task fails naming O(allow), before
        anything is done; the same rule as C(killmode_hardening_allow) of the role
        C(reaper.systemd.killmode_hardening).
    type: list
    elements: str
    default: []
  min_zombies:
    description: Zombies (each observed as a zombie for at least O(min_zombie_age)) a unit must have before zombie
      actions apply.
    type: int
    default: 1
  min_zombie_age:
    description:
      - Seconds a zombie must have been B(observed) as a zombie (across this module's and the timer's scans) to
        count. A zombie never seen before counts as new, whatever the age of the process, so a worker caught
        between C(exit) and its parent's C(wait) never triggers an action.
    type: float
    default: 60
  zombie_wait:
    description:
      - Seconds this run may wait for a second look at zombies not yet observed for O(min_zombie_age). V(0) (the
        default) never waits; the next run decides. C(reaper.systemd.remediate) sets it so a long-standing zombie
        factory is handled in one run; transient zombies are gone by the second look.
    type: float
    default: 0
  max_actions:
    description:
      - Cap on actions per run (each signalled process, restarted unit or cgroup-wide kill is one). V(0) plans only.
      - The budget is shared round-robin between units (every unit's first action before any unit's second); what it
        leaves is one RV(skipped_actions) entry per unit and action with its C(count). A unit with more than 200
        per-process candidates gets a circuit breaker (RV(circuit_breakers)) instead of being signalled one by one.
    type: int
    default: 10
  max_actions_per_hour:
    description: Actions allowed on this host over a sliding hour, shared with the cleanup timer. Actions beyond it
      are reported as skipped and left to a later run.
    type: int
    default: 30
  cooldown:
    description: Seconds after an action on a unit before the next action on it (shared with the cleanup timer).
    type: float
    default: 3600
  backoff_max:
    description: The cool-down doubles after each action that did not fix its unit, up to this many seconds.
    type: float
    default: 86400
  park_after:
    description: After this many actions in a row that did not fix a unit, the unit is parked (never acted on)
      until an operator unparks it (O(unpark), or C(reaper-cleanup.py --unpark UNIT) on the host).
    type: int
    default: 3
  unpark:
    description: Units to unpark (parking and back-off reset) before planning. Names without a suffix mean
      C(.service). V(*) unparks every parked unit.
    type: list
    elements: str
    default: []
  paused:
    description: Plan only, act on nothing (the fleet-wide pause; the file O(pause_path) has the same effect).
    type: bool
    default: false
  pause_path:
    description:
      - When this file exists, the run plans and acts on nothing (shared with the cleanup timer).
      - Fails closed. When the kernel cannot say whether the file exists (no permission, a symlink loop, a
        component that is not a directory), the run is paused too and warns why. A path longer than PATH_MAX,
        with C(..) or glob characters, or naming a shared directory is refused.
    type: path
    default: /etc/reaper-systemd/paused
  grace:
    description: Seconds between C(SIGTERM) and C(SIGKILL).
    type: float
    default: 10
  action_timeout:
    description: Seconds one action may take (a C(systemctl restart) can block for the unit's stop timeout).
    type: float
    default: 120
  lock_path:
    description:
      - Lock file shared with the cleanup timer. Never deleted.
      - Only the host's lock C(/run/reaper-systemd/lock) is accepted. A cleanup with a lock of its own would act
        at the same time as the timer (docs/cleanup.md, "The lock and the state").
    type: path
    default: /run/reaper-systemd/lock
  state_path:
    description: State file shared with the cleanup timer (sightings, cool-downs, parking, budget).
    type: path
    default: /var/lib/reaper-systemd/state.json
  backend:
    description: How the scan reads processes (see M(reaper.systemd.process_facts)).
    type: str
    choices: [procfs, psutil]
    default: procfs
"""

EXAMPLES = r"""
- name: Show what would be cleaned for the worker services (plan only)
  reaper.systemd.reap:
    units: ["worker-*"]
    actions: [restart_unit, kill_leftovers]
  check_mode: true
  register: plan

- name: Restart zombie factories and kill left-overs of stopped workers
  reaper.systemd.reap:
    units: ["worker-*", "legacy-daemon"]
    actions: [restart_unit, kill_leftovers, terminate_escaped]
    min_zombies: 20
    min_zombie_age: 300
    zombie_wait: 300
    max_actions: 5
  register: cleanup

- name: Let the cleanup act again on a unit it parked
  reaper.systemd.reap:
    units: ["worker-*"]
    actions: [restart_unit]
    unpark: [worker-3]

- name: Everything but the built-in deny list and the database, left-overs only
  reaper.systemd.reap:
    units: ["*"]
    deny: ["postgresql*"]
    actions: [kill_leftovers]
"""

RETURN = r"""
plan:
  description: The actions planned (in check mode, what would be done), in order.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: Action kind.
      type: str
      sample: restart_unit
    unit:
      description: The in-scope unit the action is for.
      type: str
      sample: factory.service
    pid:
      description: Target process, or null for unit actions.
      type: int
      sample: 4242
    comm:
      description: Target's command name.
      type: str
    reason:
      description: Why the action is planned.
      type: str
      sample: 12 zombies seen as zombies for at least 60s (min_zombies=5)
    description:
      description: One line saying what is done.
      type: str
    evidence:
      description: What the scan saw before acting.
      type: dict
skipped_actions:
  description: Actions that were considered and not planned, each with the reason (deny list, guard rail,
    cool-down, parked, C(max_actions), C(max_actions_per_hour), "harden first", younger than 1 s at scan time,
    another PID namespace, not taken because the state could not be saved).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "restart_unit", "unit": "legacy.service", "pid": null, "count": 1,
            "reason": "KillMode=process: a restart would leave the leaking workers alive; harden first"}]
circuit_breakers:
  description: Units with more per-process candidates than are signalled one by one (C(unit), C(candidates),
    C(threshold)); none of those candidates is planned, the other units are served as usual.
  returned: always
  type: list
  elements: dict
actions:
  description: Actions taken, each with the plan entry plus what happened. Empty in check mode.
  returned: always
  type: list
  elements: dict
  contains:
    result:
      description: V(done) (target gone or fixed), V(not_cleaned) (acted, state shows no fix, for example a
        zombie left behind), V(refused) (a guard rail refused at action time, for example "unit restarted since
        the scan"), V(vanished), V(failed), V(timeout) or V(unit_down) (a restart left an active unit failed, the
        worst outcome, the unit is parked). The last three fail the task.
      type: str
    signals:
      description: Signals sent, in order.
      type: list
      elements: str
    before:
      description: Evidence before the action.
      type: dict
    after:
      description: State re-read after the action (null when the process is gone).
      type: dict
    message:
      description: What happened, in words.
      type: str
before:
  description: Per-unit counts (zombies, leftovers, survivors, escaped) of the units in scope before acting.
  returned: always
  type: dict
  sample: {"factory.service": {"zombies": 12, "leftovers": 0, "survivors": 0, "escaped": 0}}
after:
  description: The same counts re-scanned after acting (equal to RV(before) when nothing was done).
  returned: always
  type: dict
unmatched:
  description: Patterns in O(units) that matched no loaded service.
  returned: always
  type: list
  elements: str
paused:
  description: True when the run only planned because of O(paused) or O(pause_path).
  returned: always
  type: bool
pause_reason:
  description: Null, or why the run only planned (O(paused), the pause file exists, or the pause file could not
    be checked, which fails closed).
  returned: always
  type: str
state_problem:
  description: Null, or the kind of problem with the state file (C(corrupt), C(newer), C(unsafe), C(unreadable));
    then no action was taken and the task failed (outside check mode).
  returned: always
  type: str
parked:
  description: Units parked after this run (never acted on until unparked).
  returned: always
  type: list
  elements: str
unparked:
  description: Units unparked by O(unpark) in this run.
  returned: always
  type: list
  elements: str
second_look_s:
  description: Seconds waited for the second look of O(zombie_wait) (null when there was none).
  returned: always
  type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_config,
    cleanup_memory,
    cleanup_policy,
    cleanup_state,
    option_checks,
    remediation,
    remediation_executor,
    unit_names,
)
from ansible_collections.reaper.systemd.plugins.module_utils.cleanup_lock import CleanupLock, LockHeld
from ansible_collections.reaper.systemd.plugins.module_utils.journal import Journal
from ansible_collections.reaper.systemd.plugins.module_utils.proc_table import BackendUnavailable
from ansible_collections.reaper.systemd.plugins.module_utils.safe_signal import Guard, pidfd_support
from ansible_collections.reaper.systemd.plugins.module_utils.scan import OptionError, ScanOptions, scan
from ansible_collections.reaper.systemd.plugins.module_utils.systemd_units import SystemdError

# Numbers and paths through the collection's strict conversions (option_checks.DocumentedType):
# Ansible's own would take true for 1, "٥" for 5, and expand '~' and '$VAR' in paths.
ARGUMENT_SPEC = dict(
    units=dict(type="list", elements="str", required=True),
    deny=dict(type="list", elements="str", default=[]),
    allow=dict(type="list", elements="str", default=[]),
    actions=dict(type="list", elements="str", default=[], choices=list(cleanup_policy.ACTIONS)),
    min_zombies=dict(type=option_checks.STRICT_INT, default=1),
    min_zombie_age=dict(type=option_checks.STRICT_FLOAT, default=60),
    zombie_wait=dict(type=option_checks.STRICT_FLOAT, default=0),
    max_actions=dict(type=option_checks.STRICT_INT, default=10),
    max_actions_per_hour=dict(type=option_checks.STRICT_INT, default=30),
    cooldown=dict(type=option_checks.STRICT_FLOAT, default=3600),
    backoff_max=dict(type=option_checks.STRICT_FLOAT, default=86400),
    park_after=dict(type=option_checks.STRICT_INT, default=3),
    unpark=dict(type="list", elements="str", default=[]),
    paused=dict(type="bool", default=False),
    pause_path=dict(type=option_checks.PLAIN_PATH, default="/etc/reaper-systemd/paused"),
    grace=dict(type=option_checks.STRICT_FLOAT, default=10),
    action_timeout=dict(type=option_checks.STRICT_FLOAT, default=120),
    lock_path=dict(type=option_checks.PLAIN_PATH, default="/run/reaper-systemd/lock"),
    state_path=dict(type=option_checks.PLAIN_PATH, default="/var/lib/reaper-systemd/state.json"),
    backend=dict(type="str", choices=["procfs", "psutil"], default="procfs"),
)

# every zombie counts for thresholds: the per-unit lists must not be capped
SCAN_MAX_ITEMS = 100000


def _scanner(module, backend, min_zombie_age):
    def run(units):
        try:
            return scan(
                ScanOptions(units=units, min_zombie_age=min_zombie_age, max_items=SCAN_MAX_ITEMS, backend=backend)
            )
        except BackendUnavailable as exc:
            module.fail_json(msg=str(exc))
        except SystemdError as exc:
            module.fail_json(msg="Could not read the units from systemd: %s" % exc)
        except OptionError as exc:
            module.fail_json(msg="Invalid option: %s" % exc)

    return run


def _unpark_names(module, names):
    out = []
    for name in names:
        if name == "*":
            out.append(name)
            continue
        problem = unit_names.check_pattern(name, allow_glob=False)
        if problem:
            module.fail_json(msg="Invalid option unpark: %s" % problem)
        out.append(unit_names.normalize(name))
    return out


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        policy, extra = cleanup_config.from_params(params)
    except cleanup_config.ConfigError as exc:
        module.fail_json(msg="Invalid option: %s" % exc)
    unpark = _unpark_names(module, params["unpark"])

    scanner = _scanner(module, params["backend"], policy.min_zombie_age)
    lock = None
    if not module.check_mode:
        try:
            lock = CleanupLock(extra["lock_path"]).acquire()
        except LockHeld as exc:
            module.fail_json(msg="A cleanup is already running, retry when it has finished: %s" % exc)
        except OSError as exc:
            module.fail_json(msg="Cannot take the cleanup lock %s: %s (run as root)" % (extra["lock_path"], exc))
    try:
        result, failure = _run(module, policy, scanner, params, unpark, extra["pause_path"])
    finally:
        if lock is not None:
            lock.release()
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


def _warn_systemd_fallback(module, facts):
    """As root the scan asks PID 1's private socket; asking systemctl instead points at a hung PID 1."""
    query = facts["host"].get("systemd_query") or {}
    if query.get("source") == "systemctl":
        module.warn(
            "PID 1's private socket gave no clean answer (%s): the scan asked systemctl instead" % query["problem"]
        )


def _save(state, path):
    cleanup_state.save(state, path)


def _run(module, policy, scanner, params, unpark, pause_path):
    """(result, failure message or None)."""
    journal = Journal()
    state_path = params["state_path"]
    state, problem = cleanup_memory.load_state(state_path)
    failure = None
    if problem is not None:
        failure = "The state file %s cannot be used (%s: %s): no action was taken and the file was left as it is" % (
            state_path,
            problem.kind,
            problem.message,
        )
        module.warn(failure)
        if not module.check_mode:
            journal.log("state_problem", "reaper-systemd: %s" % failure, reason=problem.kind, priority="warning")
    pause_file, pause_reason = cleanup_config.pause_requested(pause_path)
    if pause_file and not os.path.lexists(pause_path):
        module.warn(pause_reason)  # paused because the file could not be checked: say why
    paused = bool(params["paused"]) or pause_file
    if params["paused"]:
        pause_reason = "the paused option is set"
    unparked = []
    if unpark and problem is None:
        unparked = cleanup_memory.unpark_all(state) if "*" in unpark else []
        unparked += [name for name in unpark if name != "*" and cleanup_memory.unpark(state, name)]
    guard = Guard()
    started = time.time()
    before = scanner(policy.units)
    _warn_systemd_fallback(module, before.facts)
    cleanup_memory.record_scan(state, before.facts, before.table, started)
    delay = remediation.second_look_delay(before.facts, policy)
    if delay is not None:
        time.sleep(delay)
        before = scanner(policy.units)
        started = time.time()
        cleanup_memory.record_scan(state, before.facts, before.table, started)
    the_plan = remediation.plan_scan(before, policy, state, started, guard)
    if not module.check_mode:
        remediation.log_plan_events(journal, the_plan)
    result = {
        "changed": bool(unparked),
        "plan": [a.as_dict() for a in the_plan.actions],
        "skipped_actions": the_plan.skipped,
        "circuit_breakers": the_plan.breakers,
        "actions": [],
        "before": remediation_executor.summarize(before.facts),
        "after": remediation_executor.summarize(before.facts),
        "unmatched": before.facts.get("unmatched", []),
        "paused": paused,
        "pause_reason": pause_reason if paused else None,
        "state_problem": problem.kind if problem is not None else None,
        "parked": cleanup_memory.parked_units(state),
        "unparked": unparked,
        "second_look_s": round(delay, 3) if delay is not None else None,
    }
    if any(a.pid is not None for a in the_plan.actions):
        supported, reason = pidfd_support()
        if not supported:
            module.warn(reason)
    if module.check_mode or problem is not None:
        return result, None if module.check_mode else failure
    if paused:
        journal.log("paused", "reaper-systemd: paused: planning only, no action", priority="notice")
    if paused or not the_plan.actions:
        # sightings, pruning and unparking are kept; nothing else changed
        try:
            _save(state, state_path)
        except OSError as exc:
            module.warn("Could not save the state to %s: %s" % (state_path, exc))
        return result, None

    executor = remediation_executor.Executor(
        policy,
        journal,
        rescan=lambda units: scanner(units).facts,
        guard=guard,
        cgroup_view=getattr(before.table, "cgroup_view", None),
    )
    results = executor.run(the_plan, state, save=lambda st: _save(st, state_path))
    result["actions"] = results
    result["skipped_actions"] = the_plan.skipped
    result["changed"] = result["changed"] or any(r["changed"] for r in results)
    result["parked"] = cleanup_memory.parked_units(state)
    remediation_executor.count_results(results, state.setdefault("counters", {}))
    cleanup_memory.prune_actions(state, time.time())
    if executor.write_ahead_error is None:
        try:
            _save(state, state_path)
        except OSError as exc:
            module.warn("Could not save the state to %s: %s" % (state_path, exc))
    result["after"] = remediation_executor.summarize(scanner(policy.units).facts)
    if executor.write_ahead_error is not None:
        return result, (
            "The state %s could not be saved before an action (%s): that action and the later ones were not taken"
            % (state_path, executor.write_ahead_error)
        )
    bad = [r for r in results if r["result"] in remediation_executor.BAD_RESULTS]
    down = [r["unit"] for r in bad if r["result"] == remediation_executor.UNIT_DOWN]
    if down:
        return result, "A restart left %s down (active before, %s now): parked, not started again; %s" % (
            ", ".join(down),
            ", ".join(str((r.get("after") or {}).get("active_state")) for r in bad if r["unit"] in down),
            "; ".join("%s: %s" % (r["description"], r.get("message") or "") for r in bad),
        )
    if bad:
        return result, "%d action(s) failed or timed out: %s" % (
            len(bad),
            "; ".join("%s: %s (%s)" % (r["description"], r["result"], r.get("message") or "") for r in bad),
        )
    return result, None


if __name__ == "__main__":
    main()
