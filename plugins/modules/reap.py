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
  - Every action is off unless named in O(actions). Scope is explicit (O(units) is required) and a built-in
    deny list (C(systemd-*), C(dbus*), C(ssh*), C(user@*), C(getty@*), C(reaper-cleanup*)) applies even to
    C(*); O(deny) can only extend it.
  - Single processes are signalled through a pidfd after their identity (start time, cgroup) is re-checked
    through a C(/proc/PID) directory fd, so a PID reused since the scan is never hit. They get C(SIGTERM),
    O(grace) seconds, then C(SIGKILL). Whole units are restarted through C(systemctl restart).
  - Never signals PID 0 or 1, negative PIDs, kernel threads, its own process, its ancestors (the Ansible
    session that runs it) or its process group, nor the main PID of a unit.
  - Each action is written to the journal before it is taken (C(SYSLOG_IDENTIFIER=reaper-systemd), one
    C(MESSAGE_ID) per action kind, C(UNIT=), C(OBJECT_PID=), C(REASON=)), and the state is re-read after it;
    the result says what really changed (a killed process that stays a zombie is reported as not cleaned).
  - Shares a lock (C(/run/reaper-systemd/lock)) and the per-unit cool-downs (C(/var/lib/reaper-systemd/state.json))
    with the cleanup timer of the role C(reaper.systemd.cleanup_timer), so two cleanups never run at once.
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
      - V(restart_unit) restarts an active unit whose zombies pass O(min_zombies) and O(min_zombie_age).
      - V(kill_leftovers) kills the processes left in the cgroup of a stopped or failed unit, without starting it.
      - V(kill_survivors) kills processes of an earlier invocation in an active unit's cgroup, one by one.
      - V(terminate_escaped) terminates processes that escaped an in-scope unit, one by one.
      - V(kill_worker_parent) kills a zombie-leaking parent that is not the unit's main PID.
    type: list
    elements: str
    choices: [nudge_parent, restart_unit, kill_leftovers, kill_survivors, terminate_escaped, kill_worker_parent]
    default: []
  min_zombies:
    description: Zombies (at least O(min_zombie_age) old) a unit must have before zombie actions apply.
    type: int
    default: 1
  min_zombie_age:
    description: Age in seconds a zombie must have to count.
    type: float
    default: 60
  max_actions:
    description: Cap on actions per run (each signalled process or restarted unit is one). V(0) plans only.
    type: int
    default: 10
  cooldown:
    description: Seconds after an action on a unit before the next action on it (shared with the cleanup timer).
    type: float
    default: 3600
  grace:
    description: Seconds between C(SIGTERM) and C(SIGKILL).
    type: float
    default: 10
  action_timeout:
    description: Seconds one action may take (a C(systemctl restart) can block for the unit's stop timeout).
    type: float
    default: 120
  lock_path:
    description: Lock file shared with the cleanup timer. Never deleted.
    type: path
    default: /run/reaper-systemd/lock
  state_path:
    description: State file shared with the cleanup timer (cool-downs).
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
    max_actions: 5
  register: cleanup

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
      sample: 12 zombies at least 60s old (min_zombies=5)
    description:
      description: One line saying what is done.
      type: str
    evidence:
      description: What the scan saw before acting.
      type: dict
skipped_actions:
  description: Actions that were considered and not planned, each with the reason (deny list, guard rail,
    cool-down, C(max_actions), "harden first").
  returned: always
  type: list
  elements: dict
  sample: [{"action": "restart_unit", "unit": "legacy.service", "pid": null,
            "reason": "KillMode=process: a restart would leave the leaking workers alive; harden first"}]
actions:
  description: Actions taken, each with the plan entry plus what happened. Empty in check mode.
  returned: always
  type: list
  elements: dict
  contains:
    result:
      description: V(done) (target gone or fixed), V(not_cleaned) (acted, state shows no fix, for example a
        zombie left behind), V(refused) (a guard rail refused at action time), V(vanished), V(failed) or V(timeout).
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
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reaper.systemd.plugins.module_utils import (
    cleanup_config,
    cleanup_policy,
    cleanup_state,
    remediation,
)
from ansible_collections.reaper.systemd.plugins.module_utils.cleanup_lock import CleanupLock, LockHeld
from ansible_collections.reaper.systemd.plugins.module_utils.journal import Journal
from ansible_collections.reaper.systemd.plugins.module_utils.proc_table import BackendUnavailable
from ansible_collections.reaper.systemd.plugins.module_utils.safe_signal import Guard, pidfd_support
from ansible_collections.reaper.systemd.plugins.module_utils.scan import OptionError, ScanOptions, scan
from ansible_collections.reaper.systemd.plugins.module_utils.systemd_units import SystemdError

ARGUMENT_SPEC = dict(
    units=dict(type="list", elements="str", required=True),
    deny=dict(type="list", elements="str", default=[]),
    actions=dict(type="list", elements="str", default=[], choices=list(cleanup_policy.ACTIONS)),
    min_zombies=dict(type="int", default=1),
    min_zombie_age=dict(type="float", default=60),
    max_actions=dict(type="int", default=10),
    cooldown=dict(type="float", default=3600),
    grace=dict(type="float", default=10),
    action_timeout=dict(type="float", default=120),
    lock_path=dict(type="path", default="/run/reaper-systemd/lock"),
    state_path=dict(type="path", default="/var/lib/reaper-systemd/state.json"),
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


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        policy, _extra = cleanup_config.from_params(params)
    except cleanup_config.ConfigError as exc:
        module.fail_json(msg="Invalid option: %s" % exc)

    scanner = _scanner(module, params["backend"], policy.min_zombie_age)
    lock = None
    if not module.check_mode:
        try:
            lock = CleanupLock(params["lock_path"]).acquire()
        except LockHeld as exc:
            module.fail_json(msg="A cleanup is already running, retry when it has finished: %s" % exc)
        except OSError as exc:
            module.fail_json(msg="Cannot take the cleanup lock %s: %s (run as root)" % (params["lock_path"], exc))
    try:
        result = _run(module, policy, scanner, params)
    finally:
        if lock is not None:
            lock.release()
    module.exit_json(**result)


def _run(module, policy, scanner, params):
    state, problem = cleanup_state.load(params["state_path"])
    if problem is not None:
        # cool-downs unknown: plan only, and never save over that file
        module.warn(str(problem))
    guard = Guard()
    before = scanner(policy.units)
    the_plan = remediation.plan(before.facts, before.table.processes, policy, state=state, now=time.time(), guard=guard)
    result = {
        "changed": False,
        "plan": [a.as_dict() for a in the_plan.actions],
        "skipped_actions": the_plan.skipped,
        "actions": [],
        "before": remediation.summarize(before.facts),
        "after": remediation.summarize(before.facts),
        "unmatched": before.facts.get("unmatched", []),
    }
    if any(a.pid is not None for a in the_plan.actions):
        supported, reason = pidfd_support()
        if not supported:
            module.warn(reason)
    if module.check_mode or problem is not None or not the_plan.actions:
        return result

    executor = remediation.Executor(
        policy,
        Journal(),
        rescan=lambda units: scanner(units).facts,
        guard=guard,
        cgroup_view=getattr(before.table, "cgroup_view", None),
    )
    results = executor.run(the_plan, state)
    result["actions"] = results
    result["changed"] = any(r["changed"] for r in results)
    remediation.count_results(results, state.setdefault("counters", {}))
    if results:
        try:
            cleanup_state.save(state, params["state_path"])
        except OSError as exc:
            module.warn("Could not save the cool-downs to %s: %s" % (params["state_path"], exc))
    result["after"] = remediation.summarize(scanner(policy.units).facts)
    return result


if __name__ == "__main__":
    main()
