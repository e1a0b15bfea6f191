#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: process_facts
short_description: Report the processes systemd services leak (zombies, left-overs, survivors, escapes)
version_added: 0.1.0
description:
  - Scans the host once, reading C(/proc) in a single pass and asking systemd for the properties of every
    loaded service (inactive and failed ones included) in one pass, over systemd's private socket when run as
    root, through C(systemctl show) otherwise.
  - Reports, per service, the zombies attributed through their parent, the left-overs in stopped units, the
    processes that survived a restart, and the processes that escaped the service's cgroup (through a PAM
    session, a transient scope or a write to C(cgroup.procs)), with the unit's kill settings and task usage.
  - Reports host headroom (C(pid_max), C(threads-max)) and findings, each with a severity and the remedy.
  - Read-only. On a host where systemd is not PID 1 it reports host facts and zombies by parent, and sets
    RV(ansible_facts.reaper.host.systemd) to C(false) instead of failing.
author:
  - reaper.systemd maintainers (@reaper-systemd)
requirements:
  - Python 3.8 or later on the target.
  - psutil on the target, only for O(backend=psutil).
notes:
  - Run as root. Without C(CAP_SYS_PTRACE) and C(CAP_DAC_READ_SEARCH) the module cannot read other users'
    C(INVOCATION_ID); it then reports C(privilege=limited), falls back to start times, session ids and
    ancestry, and raises no finding it cannot prove.
  - Zombies younger than O(min_zombie_age) are listed but not flagged.
  - Interactive login sessions (C(sshd), C(login)), container or VM scopes (C(docker-*.scope),
    C(libpod-*.scope), C(machine.slice)) and processes in another PID namespace than PID 1 (containers
    under the cgroupfs driver, C(/docker/<id>), C(/kubepods/...), C(/lxc/<name>)) are designed hand-offs and
    are not reported as escapes; see RV(ansible_facts.reaper.host.containers).
attributes:
  check_mode:
    support: full
    description: The module never changes the host; check mode returns the same facts.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Returns C(ansible_facts.reaper).
options:
  units:
    description:
      - Service names or glob patterns to report on. Names without a suffix mean C(.service).
      - Default is every loaded service. Attribution always uses all services, so an escape into an
        unselected service is still found.
    type: list
    elements: str
    default: []
  min_zombie_age:
    description: Seconds a zombie must have existed before it is flagged (its process age; time spent as a
      zombie is not visible in C(/proc)).
    type: float
    default: 60
  min_zombies:
    description: Number of flagged zombies under one unit that raises a C(zombies) finding.
    type: int
    default: 1
  tasks_usage_warn:
    description: C(TasksCurrent/TasksMax) ratio (0-1) at which a C(tasks_usage) finding is raised.
    type: float
    default: 0.8
  pid_usage_warn:
    description: Ratio (0-1) of C(pid_max) and C(threads-max) in use at which host findings are raised.
    type: float
    default: 0.8
  journal_since:
    description:
      - When set, count systemd's C(Found left-over process) and C(remains running after unit stopped)
        journal lines per unit since this C(journalctl --since) time (for example C(-1h) or C(today)).
      - Only journalctl times are accepted (a date, a time, C(-1h), C(+2 days), C(3 hours ago), C(@EPOCH), C(today),
        C(yesterday), C(now)); anything that could read as an option of journalctl (C(--all)) is refused naming this
        option.
    type: str
  max_items:
    description: Cap on each per-unit list (zombies, leftovers, survivors, escaped); C(counts) stays exact.
    type: int
    default: 100
  backend:
    description:
      - How the process table is read. C(procfs) reads C(/proc) directly and is the fastest.
      - C(psutil) uses psutil for what it offers and C(/proc) for cgroup, session id and the kernel-thread flag.
        Both give identical results.
    type: str
    choices: [procfs, psutil]
    default: procfs
seealso:
  - module: reaper.systemd.reap
  - name: systemd.kill(5)
    description: KillMode and how systemd stops a unit's processes.
    link: https://www.freedesktop.org/software/systemd/man/systemd.kill.html
"""

EXAMPLES = r"""
- name: Scan every service
  reaper.systemd.process_facts:

- name: Scan the workers only, flag zombies after 5 minutes
  reaper.systemd.process_facts:
    units:
      - worker@*
      - nginx.service
    min_zombie_age: 300

- name: Fail when a unit leaks zombies
  ansible.builtin.assert:
    that: ansible_facts['reaper']['findings'] | selectattr('code', 'equalto', 'zombies') | list | length == 0
    fail_msg: "{{ ansible_facts['reaper']['findings'] | selectattr('code', 'equalto', 'zombies') | map(attribute='summary') }}"

- name: Count left-over messages systemd logged today
  reaper.systemd.process_facts:
    journal_since: today
"""

RETURN = r"""
ansible_facts:
  description: Facts about the host and its services.
  returned: always
  type: dict
  contains:
    reaper:
      description: The scan's result.
      returned: always
      type: dict
      contains:
        host:
          description: Host-wide facts.
          returned: always
          type: dict
          contains:
            systemd:
              description: Whether systemd runs as PID 1.
              type: bool
              returned: always
            systemd_version:
              description: systemd's version number, null without systemd.
              type: int
              returned: always
              sample: 252
            systemd_query:
              description:
                - How systemd was asked, null without systemd. C(source) is C(bus) (PID 1's private socket, as
                  root) or C(systemctl); C(problem) says why the socket gave no clean answer (null on the bus).
                - Not root, the fallback is normal; as root it points at a hung or misbehaving PID 1. The whole
                  question to systemd ends within 45 seconds (15 on the socket, 30 for systemctl).
              type: dict
              returned: always
              sample: {source: systemctl, problem: "systemd did not answer within 15.0s"}
            cgroup_layout:
              description: C(legacy) (v1 only), C(hybrid) (v1 plus a unified hierarchy) or C(unified) (v2).
              type: str
              returned: always
            backend:
              description: The backend that read the process table.
              type: str
              returned: always
            privilege:
              description: C(full) when every process's environment is readable, else C(limited).
              type: str
              returned: always
            pid_max:
              description: C(kernel.pid_max).
              type: int
              returned: always
            threads_max:
              description: C(kernel.threads-max).
              type: int
              returned: always
            processes:
              description: Processes on the host (kernel threads excluded).
              type: int
              returned: always
            threads:
              description: Threads on the host, kernel threads included (each uses a PID).
              type: int
              returned: always
            zombies:
              description: Zombie processes on the host.
              type: int
              returned: always
            pid_usage:
              description: C(threads / pid_max), 0-1.
              type: float
              returned: always
            thread_usage:
              description: C(threads / threads-max), 0-1.
              type: float
              returned: always
            zombies_outside_units:
              description: Zombies whose parent is in no service (zombie items, see RV(ansible_facts.reaper.units)).
              type: list
              elements: dict
              returned: always
            unattributed_escapes:
              description:
                - Processes in background PAM sessions whose originating service cannot be known any more
                  (escape items plus C(session) with C(class), C(service) and C(uid)).
              type: list
              elements: dict
              returned: always
            unconfirmed_escapes:
              description:
                - Processes whose only tie to a unit is its C(INVOCATION_ID) in their environment, owned by a user
                  other than root and the unit's own users, who could have forged it (every user can read a unit's
                  InvocationID). Escape items plus C(claimed_unit) and C(escape_evidence=environ_only). They are
                  never counted as the unit's escapes, never acted on and never count toward parking.
              type: list
              elements: dict
              returned: always
            containers:
              description:
                - Processes handed off to a container engine, one item per container cgroup, most processes first,
                  capped at O(max_items). They are never escapes, left-overs or survivors.
                - A process counts as handed off when its PID namespace (C(/proc/PID/ns/pid)) differs from PID 1's,
                  or when it sits in a systemd-driver container scope (C(docker-*.scope), C(libpod-*.scope),
                  C(crio-*.scope), C(cri-containerd-*.scope), C(machine-*.scope), C(machine.slice)). Under the
                  cgroupfs driver (C(/docker/<id>), C(/kubepods/...), C(/lxc/<name>)) the namespace decides.
                - C(cgroup) is the path in systemd's view, C(processes) the number of processes counted there,
                  C(pid_namespace) the namespace link (C(pid:[4026532201])), or V(null) when it could not be read.
                  A process outside systemd's tree whose namespace cannot be read is listed here with
                  V(null) rather than reported as an escape.
                - The namespace is read only for processes that would otherwise be escapes, left-overs or
                  survivors, so container processes no rule asks about are not counted.
              type: list
              elements: dict
              returned: always
              sample:
                - {cgroup: /docker/0123456789ab, processes: 2, pid_namespace: "pid:[4026532201]"}
            environ_denied:
              description: Processes whose environment could not be read (missing privilege).
              type: int
              returned: always
            unreadable_processes:
              description: Processes whose C(/proc) entries could not be read for a reason other than exiting.
              type: int
              returned: always
        units:
          description:
            - Per service, keyed by full unit name (for example C(worker@a.service)).
            - Zombie items are C({pid, ppid, parent_comm, parent_is_main, age_s, zombie_seen_s}). C(age_s) is the
              age of the process; C(zombie_seen_s) is how long it has been observed as a zombie, which needs memory
              across scans. It is always V(null) here (this module keeps no state); M(reaper.systemd.reap) and the
              cleanup timer fill it in from their state file. Left-over and survivor
              items C({pid, comm, uid, age_s}); escape items C({pid, comm, uid, now_in, route, evidence}) where
              C(route) is one of C(pam_session), C(scope), C(cgroup_move), C(unknown) and C(evidence) lists
              C(invocation_id), C(session_id) and C(ancestry).
            - Lists are capped at O(max_items); C(counts) holds the exact numbers.
            - C(journal_leftover_messages) is present when O(journal_since) is set.
          returned: always
          type: dict
          sample:
            worker@a.service:
              active_state: active
              sub_state: running
              main_pid: 812
              control_group: /system.slice/system-worker.slice/worker@a.service
              kill_mode: mixed
              kill_signal: SIGTERM
              send_sigkill: true
              timeout_stop_sec: 90.0
              tasks_current: 14
              tasks_max: 4915
              tasks_usage: 0.0028
              delegate: false
              n_restarts: 0
              invocation_id: 4f0c8a3f0a6b4f2c9b3a1c2d3e4f5a6b
              processes: 4
              zombies:
                - {pid: 901, ppid: 812, parent_comm: worker, parent_is_main: true, age_s: 312.4, zombie_seen_s: null}
              leftovers: []
              survivors: []
              escaped: []
              counts: {zombies: 10, leftovers: 0, survivors: 0, escaped: 0}
        findings:
          description:
            - What needs attention, most severe first. C(unit) is null for host findings.
            - C(code) is one of C(zombies), C(leftovers), C(survivors), C(escaped), C(unattributed_escape),
              C(unconfirmed_escape),
              C(weak_killmode), C(killmode_none_deprecated), C(sendsigkill_off), C(tasks_usage), C(pid_usage),
              C(thread_usage); C(severity) one of C(info), C(warning), C(critical).
            - For a service whose package sets C(KillMode=process) on purpose (by design, for example C(ssh.service)
              or C(cron.service)) and that still runs with it, C(weak_killmode), C(survivors) and C(leftovers) are
              C(info), the summary says C(by design (why)) and C(evidence) adds C(by_design=true), C(why) and
              C(source). For a service that is never ours (C(systemd-*), C(dbus*), C(user@*), ...) C(evidence)
              adds C(never_ours=true), C(why) and C(pattern), and C(remedy) suggests no action.
          returned: always
          type: list
          elements: dict
          sample:
            - code: leftovers
              severity: warning
              unit: legacy.service
              summary: "2 process(es) still running in stopped unit legacy.service (inactive): PIDs 77, 78"
              evidence: {pids: [77, 78], kill_mode: process}
              remedy: "Kill them with reaper.systemd.reap ... prevent it with role reaper.systemd.killmode_hardening ..."
        unmatched:
          description: The O(units) patterns that matched no loaded service.
          returned: always
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reaper.systemd.plugins.module_utils import option_checks
from ansible_collections.reaper.systemd.plugins.module_utils.proc_table import BackendUnavailable
from ansible_collections.reaper.systemd.plugins.module_utils.scan import OptionError, ScanOptions, scan
from ansible_collections.reaper.systemd.plugins.module_utils.systemd_units import SystemdError

# Numbers through the strict conversion (option_checks.DocumentedType): Ansible's own takes true for 1.
ARGUMENT_SPEC = dict(
    units=dict(type="list", elements="str", default=[]),
    min_zombie_age=dict(type=option_checks.STRICT_FLOAT, default=60),
    min_zombies=dict(type=option_checks.STRICT_INT, default=1),
    tasks_usage_warn=dict(type=option_checks.STRICT_FLOAT, default=0.8),
    pid_usage_warn=dict(type=option_checks.STRICT_FLOAT, default=0.8),
    journal_since=dict(type="str"),
    max_items=dict(type=option_checks.STRICT_INT, default=100),
    backend=dict(type="str", choices=["procfs", "psutil"], default="procfs"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        options = ScanOptions(
            units=params["units"],
            min_zombie_age=params["min_zombie_age"],
            min_zombies=params["min_zombies"],
            tasks_usage_warn=params["tasks_usage_warn"],
            pid_usage_warn=params["pid_usage_warn"],
            journal_since=params["journal_since"],
            max_items=params["max_items"],
            backend=params["backend"],
        )
    except OptionError as exc:
        module.fail_json(msg="Invalid option: %s" % exc)
    try:
        result = scan(options)
    except BackendUnavailable as exc:
        module.fail_json(msg=str(exc))
    except SystemdError as exc:
        module.fail_json(msg="Could not read the units from systemd: %s" % exc)
    module.exit_json(changed=False, ansible_facts={"reaper": result.facts})


if __name__ == "__main__":
    main()
