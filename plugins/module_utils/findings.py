# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn what the analysis found into findings an operator can act on: a code,
a severity, a one-line summary, the evidence and the fix (naming the role or
module and the variable that applies it).

Stdlib only: the cleanup command runs this on hosts without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import unit_exemptions

SEVERITIES = ("info", "warning", "critical")
CRITICAL_USAGE = 0.95
CODES = (
    "zombies",
    "leftovers",
    "survivors",
    "escaped",
    "unattributed_escape",
    "unconfirmed_escape",
    "weak_killmode",
    "killmode_none_deprecated",
    "sendsigkill_off",
    "tasks_usage",
    "pid_usage",
    "thread_usage",
)

HARDEN = (
    "prevent it with role reaper.systemd.killmode_hardening "
    "(killmode_hardening_units: ['%s'] or killmode_hardening_from_facts: true)"
)

BY_DESIGN_REMEDY = (
    "Expected: %s keeps its processes across a stop or restart on purpose. reaper.systemd.reap, the cleanup timer "
    "and role reaper.systemd.killmode_hardening leave it alone by default. Only if these processes are really stale, "
    "lift it explicitly: reap or cleanup_timer 'allow: [%s]' (and killmode_hardening_allow: ['%s'] to harden it)."
)
NEVER_OURS_REMEDY = (
    "Not ours to act on: %s is %s. reaper.systemd.reap, the cleanup timer and role "
    "reaper.systemd.killmode_hardening never touch it and no option lifts that; investigate by hand "
    "(systemctl status %s, journalctl -u %s)."
)


def by_design_entry(name, unit):
    """The BY_DESIGN entry of a unit that still runs with the KillMode its package sets, or None.

    A unit whose KillMode was changed (by hand or by a drop-in) is no longer
    by design: its left-overs are leaks again.
    """
    entry = unit_exemptions.by_design(name) if name else None
    if entry is not None and unit is not None and unit.kill_mode == entry.kill_mode:
        return entry
    return None


def _by_design_evidence(entry):
    return {"by_design": True, "why": entry.why, "source": entry.source}


def finding(code, severity, unit, summary, evidence, remedy):
    return {
        "code": code,
        "severity": severity,
        "unit": unit,
        "summary": summary,
        "evidence": evidence,
        "remedy": remedy,
    }


def severity_rank(severity):
    return SEVERITIES.index(severity)


def _pids(items, limit=10):
    pids = [str(item["pid"]) for item in items[:limit]]
    return ", ".join(pids) + (" ..." if len(items) > limit else "")


def zombie_finding(name, unit, zombies, thresholds):
    aged = [z for z in zombies if z["age_s"] >= thresholds.min_zombie_age]
    if not aged or len(aged) < thresholds.min_zombies:
        return None
    parents = {}
    for zombie in aged:
        parents[zombie["ppid"]] = parents.get(zombie["ppid"], 0) + 1
    main_leaks = any(z["parent_is_main"] for z in aged)
    usage = unit.tasks_usage if unit is not None else None
    severity = "critical" if usage is not None and usage >= thresholds.tasks_usage_warn else "warning"
    where = "unit %s" % name if name else "processes outside any service"
    summary = "%d zombie(s) older than %gs under %s (parents: %s)" % (
        len(aged),
        thresholds.min_zombie_age,
        where,
        ", ".join("%s x%d" % (ppid, n) for ppid, n in sorted(parents.items())),
    )
    if name is None:
        remedy = "The parents never reap their children: fix or restart them (zombies disappear when the parent exits)."
    elif main_leaks:
        remedy = (
            "The main process never reaps its children: fix the service; meanwhile restart it with "
            "reaper.systemd.reap (units: ['%s'], actions: [restart_unit]) or cleanup_timer_actions: [restart_unit]. "
            "Do not kill the main PID: SIGTERM counts as a clean exit and Restart=on-failure will not bring it back."
            % name
        )
    else:
        remedy = (
            "A worker (not the main PID) never reaps its children: reaper.systemd.reap "
            "(units: ['%s'], actions: [kill_worker_parent]) or cleanup_timer_actions: [kill_worker_parent]." % name
        )
    evidence = {"zombies": len(zombies), "older_than_threshold": len(aged), "parents": sorted(parents)}
    if usage is not None:
        evidence["tasks_usage"] = usage
    return finding("zombies", severity, name, summary, evidence, remedy)


def unit_findings(name, unit, leaks, thresholds):
    """All findings of one service."""
    found = []
    zombie = zombie_finding(name, unit, leaks.zombies, thresholds)
    if zombie:
        found.append(zombie)
    stuck = bool(leaks.leftovers or leaks.survivors)
    design = by_design_entry(name, unit)
    because = " by design (%s)" % design.why if design else ""
    if leaks.leftovers:
        evidence = {"pids": [i["pid"] for i in leaks.leftovers], "kill_mode": unit.kill_mode}
        found.append(
            finding(
                "leftovers",
                "info" if design else "warning",
                name,
                "%d process(es) still running in stopped unit %s (%s): PIDs %s%s"
                % (len(leaks.leftovers), name, unit.active_state, _pids(leaks.leftovers), because),
                dict(evidence, **_by_design_evidence(design)) if design else evidence,
                BY_DESIGN_REMEDY % (name, name, name)
                if design
                else "Kill them with reaper.systemd.reap (units: ['%s'], actions: [kill_leftovers]); " % name
                + HARDEN % name
                + ".",
            )
        )
    if leaks.survivors:
        evidence = {
            "pids": [i["pid"] for i in leaks.survivors],
            "kill_mode": unit.kill_mode,
            "n_restarts": unit.n_restarts,
        }
        found.append(
            finding(
                "survivors",
                "info" if design else "warning",
                name,
                "%d process(es) of an earlier invocation of %s survived a restart: PIDs %s%s"
                % (len(leaks.survivors), name, _pids(leaks.survivors), because),
                dict(evidence, **_by_design_evidence(design)) if design else evidence,
                BY_DESIGN_REMEDY % (name, name, name)
                if design
                else "Kill them with reaper.systemd.reap (units: ['%s'], actions: [kill_survivors]); " % name
                + HARDEN % name
                + ".",
            )
        )
    if leaks.escaped:
        routes = sorted(set(i["route"] for i in leaks.escaped))
        found.append(
            finding(
                "escaped",
                "warning",
                name,
                "%d process(es) of %s left its cgroup (%s): PIDs %s"
                % (len(leaks.escaped), name, ", ".join(routes), _pids(leaks.escaped)),
                {
                    "pids": [i["pid"] for i in leaks.escaped],
                    "routes": routes,
                    "now_in": sorted(set(str(i["now_in"]) for i in leaks.escaped)),
                },
                "KillMode cannot reach them: stop the service from opening PAM sessions or scopes for its children; "
                "terminate them with reaper.systemd.reap (units: ['%s'], actions: [terminate_escaped]) "
                "or cleanup_timer_actions: [terminate_escaped]." % name,
            )
        )
    # Kill settings matter for units that run something; an idle unit such as
    # rescue.service (KillMode=process by design) is not worth a finding.
    if unit.is_active or stuck or leaks.processes > 0:
        found.extend(kill_setting_findings(name, unit, stuck, design))
    usage = unit.tasks_usage
    if usage is not None and usage >= thresholds.tasks_usage_warn:
        found.append(
            finding(
                "tasks_usage",
                "critical" if usage >= CRITICAL_USAGE else "warning",
                name,
                "%s uses %d of TasksMax=%d tasks (%.0f%%): forks will fail at the limit"
                % (name, unit.tasks_current, unit.tasks_max, usage * 100),
                {"tasks_current": unit.tasks_current, "tasks_max": unit.tasks_max, "zombies": len(leaks.zombies)},
                "Reap the zombies or left-overs that hold tasks (reaper.systemd.reap), or raise TasksMax: "
                "role reaper.systemd.killmode_hardening (killmode_hardening_units: [{name: '%s', tasks_max: N}])."
                % name,
            )
        )
    return never_ours_remedies(name, found)


def never_ours_remedies(name, found):
    """Findings of a never-ours unit stay reported, but no remedy suggests acting on it."""
    entry = unit_exemptions.never_ours_entry(name) if name else None
    if entry is None:
        return found
    pattern, why = entry
    for item in found:
        item["remedy"] = NEVER_OURS_REMEDY % (name, why, name, name)
        item["evidence"] = dict(item["evidence"], never_ours=True, why=why, pattern=pattern)
    return found


def kill_setting_findings(name, unit, stuck, design=None):
    """KillMode and SendSIGKILL findings; warnings when the unit already leaks.

    A by-design unit's KillMode=process is the package's choice: reported as
    info, with why, so that a fleet report does not drown in it.
    """
    found = []
    if unit.kill_mode == "process" and design is not None:
        found.append(
            finding(
                "weak_killmode",
                "info",
                name,
                "%s uses KillMode=process by design (%s)" % (name, design.why),
                dict({"kill_mode": unit.kill_mode, "leaks": stuck}, **_by_design_evidence(design)),
                "Keep it: role reaper.systemd.killmode_hardening leaves %s alone by default. To harden it anyway, "
                "name it in killmode_hardening_units and killmode_hardening_allow." % name,
            )
        )
    elif unit.kill_mode == "process":
        found.append(
            finding(
                "weak_killmode",
                "warning" if stuck else "info",
                name,
                "%s uses KillMode=process: stop and restart kill only the main process" % name,
                {"kill_mode": unit.kill_mode, "leaks": stuck},
                "Set KillMode=mixed unless the unit needs to keep its children (then exempt it): "
                + HARDEN % name
                + ".",
            )
        )
    elif unit.kill_mode == "none":
        found.append(
            finding(
                "killmode_none_deprecated",
                "warning",
                name,
                "%s uses KillMode=none (deprecated since systemd 246): nothing is killed on stop" % name,
                {"kill_mode": unit.kill_mode},
                "Set KillMode=mixed: " + HARDEN % name + ".",
            )
        )
    if not unit.send_sigkill:
        found.append(
            finding(
                "sendsigkill_off",
                "warning" if stuck else "info",
                name,
                "%s has SendSIGKILL=no: processes that ignore SIGTERM outlive a stop" % name,
                {"send_sigkill": False},
                "Set SendSIGKILL=yes: role reaper.systemd.killmode_hardening "
                "(killmode_hardening_units: [{name: '%s', send_sigkill: true}])." % name,
            )
        )
    return found


def host_findings(host, analysis, thresholds):
    found = []
    zombie = zombie_finding(None, None, analysis.zombies_outside_units, thresholds)
    if zombie:
        found.append(zombie)
    if analysis.unattributed_escapes:
        items = analysis.unattributed_escapes
        found.append(
            finding(
                "unattributed_escape",
                "warning",
                None,
                "%d process(es) live in background PAM sessions whose origin is gone: PIDs %s"
                % (len(items), _pids(items)),
                {"pids": [i["pid"] for i in items], "now_in": sorted(set(str(i["now_in"]) for i in items))},
                "Find which service runs 'runuser -l' or 'su -l' (journalctl -u 'session-*.scope'); "
                "terminate the processes by hand once identified (no unit is known to scope them).",
            )
        )
    if analysis.unconfirmed_escapes:
        found.append(unconfirmed_escape_finding(analysis.unconfirmed_escapes))
    for code, usage, limit_name in (
        ("pid_usage", host["pid_usage"], "kernel.pid_max"),
        ("thread_usage", host["thread_usage"], "kernel.threads-max"),
    ):
        if usage is not None and usage >= thresholds.pid_usage_warn:
            found.append(
                finding(
                    code,
                    "critical" if usage >= CRITICAL_USAGE else "warning",
                    None,
                    "%d threads use %.0f%% of %s" % (host["threads"], usage * 100, limit_name),
                    {"threads": host["threads"], "usage": usage},
                    "Reap zombies and left-overs (reaper.systemd.reap or role reaper.systemd.cleanup_timer); "
                    "raise %s only once the leak is fixed." % limit_name,
                )
            )
    return found


def unconfirmed_escape_finding(items):
    """Processes whose only tie to a unit is an INVOCATION_ID their owner could have forged.

    Info, not warning: the claim may be a forgery by another local user, and a
    finding per claimed unit would let that user raise alerts on it."""
    claimed = sorted(set(i["claimed_unit"] for i in items))
    return finding(
        "unconfirmed_escape",
        "info",
        None,
        "%d process(es) carry the INVOCATION_ID of %s but nothing else ties them to it (environ only): PIDs %s"
        % (len(items), ", ".join(claimed), _pids(items)),
        {
            "pids": [i["pid"] for i in items],
            "claimed_units": claimed,
            "uids": sorted(set(i["uid"] for i in items if i.get("uid") is not None)),
            "escape_evidence": "environ_only",
        },
        "Unconfirmed, never acted on and never counted against the unit: any user can read a unit's "
        "InvocationID (systemctl show) and start a process with it. Look at who runs them (ps -o pid,user,cmd -p PID); "
        "a real escape of a service that switches users also keeps the service's session id or ancestry.",
    )


def sort_findings(found):
    return sorted(found, key=lambda f: (-severity_rank(f["severity"]), f["unit"] or "", f["code"]))
