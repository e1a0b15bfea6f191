# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report as plain text for the terminal (the audit prints it at the end of the run).

Host strings go through ``clean``: a terminal escape sequence in a process name is shown, not obeyed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import (
    KINDS,
    as_dict,
    as_int,
    clean,
    host_sort_key,
    pct,
    rank,
    sev_counts,
    sorted_units,
    status_line,
    zombies_by_parent,
)


def render_text(report, max_hosts=50, max_findings=20, report_dir=None):
    """A readable per-unit summary for the terminal."""
    report = as_dict(report)
    if "hosts" not in report:
        raise AnsibleFilterError("reaper_report_text expects the dict built by reaper.systemd.reaper_report")
    max_hosts = as_int(max_hosts, 50)
    max_findings = as_int(max_findings, 20)
    t = report["totals"]
    lines = []
    title = "reaper.systemd audit"
    if report.get("label"):
        title += " (%s)" % clean(report["label"])
    lines.append(
        "%s at %s: %d host(s): %s" % (title, clean(report.get("generated_at")), t["hosts"], status_line(t) or "none")
    )
    lines.append(
        "fleet: %d zombies (%d in units), %d leftovers, %d survivors, %d escaped (%d unattributed); "
        "findings: %s"
        % (
            t["zombies"],
            t["zombies_in_units"],
            t["leftovers"],
            t["survivors"],
            t["escapes"],
            t["unattributed_escapes"],
            sev_counts(t["findings"]),
        )
    )
    if as_int(t.get("containers")):
        lines.append("containers: %d process(es) handed off by a container engine (not leaks)" % t["containers"])
    slices = [s for s in report.get("slices") or [] if isinstance(s, dict)]
    if len(slices) > 1:
        lines.append(
            "merged from %d slices: %s"
            % (
                len(slices),
                ", ".join("%s (%s)" % (clean(s.get("id")), clean(s.get("generated_at"))) for s in slices[:20]),
            )
        )
    ordered = sorted(
        report["hosts"].items(),
        key=lambda kv: (kv[1]["status"] == "ok" and not kv[1]["totals"]["findings"]["total"], host_sort_key(kv)),
    )
    shown = 0
    clean_hosts = []
    for name, host in ordered:
        ht = host["totals"]
        interesting = host["status"] != "ok" or ht["findings"]["total"] or ht["zombies"]
        if shown >= max_hosts or (len(ordered) > max_hosts and not interesting):
            clean_hosts.append(name)
            continue
        shown += 1
        lines.append("")
        if host["status"] in ("unreachable", "failed"):
            lines.append("%s [%s] %s" % (clean(name), host["status"], clean(host.get("message"))))
            continue
        desc = []
        if host["status"] == "ok":
            desc.append("systemd %s" % clean(host.get("systemd_version") or "?"))
        else:
            desc.append("no systemd as PID 1")
        desc.append("%s cgroups" % clean(host.get("cgroup_layout") or "?"))
        desc.append("privilege %s" % clean(host.get("privilege") or "?"))
        query = host.get("systemd_query") or {}
        if query.get("source") == "systemctl":
            desc.append("asked systemctl (%s)" % clean(query.get("problem")))
        lines.append(
            "%s [%s] %s: %s processes, %s threads, %d zombies, pid usage %s, thread usage %s"
            % (
                clean(name),
                host["status"],
                ", ".join(desc),
                clean(host.get("processes")),
                clean(host.get("threads")),
                ht["zombies"],
                pct(host.get("pid_usage")),
                pct(host.get("thread_usage")),
            )
        )
        if host["units"]:
            width = max([len("unit")] + [len(clean(u)) for u in host["units"]])
            width = min(width, 48)
            lines.append(
                "  %s %8s %9s %9s %8s  %s"
                % ("unit".ljust(width), "zombies", "leftovers", "survivors", "escaped", "findings")
            )
            for uname, unit in sorted_units(host):
                c = unit["counts"]
                lines.append(
                    "  %s %8d %9d %9d %8d  %s"
                    % (
                        clean(uname).ljust(width),
                        c["zombies"],
                        c["leftovers"],
                        c["survivors"],
                        c["escaped"],
                        sev_counts(unit["findings"]),
                    )
                )
        if host["zombies_outside_units"]:
            listed = len(host["zombies_outside_units"])
            lines.append(
                "  zombies outside units (%d%s), by parent:"
                % (ht["zombies_outside_units"], "" if listed == ht["zombies_outside_units"] else ", %d listed" % listed)
            )
            groups = zombies_by_parent(host["zombies_outside_units"])
            for (ppid, comm), items in groups[:10]:
                pids = [str(clean(i.get("pid"))) for i in items]
                lines.append(
                    "    parent %s %s: %d zombie(s), pids %s%s"
                    % (clean(ppid), clean(comm), len(items), ", ".join(pids[:8]), " ..." if len(pids) > 8 else "")
                )
            if len(groups) > 10:
                lines.append("    ... %d more parent(s) in report.json" % (len(groups) - 10))
        if host["unattributed_escapes"]:
            lines.append("  unattributed escapes (%d):" % ht["unattributed_escapes"])
            for item in host["unattributed_escapes"][:10]:
                lines.append(
                    "    pid %s %s in %s (%s)"
                    % (
                        clean(item.get("pid")),
                        clean(item.get("comm")),
                        clean(item.get("now_in")),
                        clean(item.get("route")),
                    )
                )
        findings = sorted(host["findings"], key=lambda f: (-rank(f.get("severity")), str(f.get("unit") or "")))
        if findings:
            lines.append("  findings (%s):" % sev_counts(ht["findings"]))
            for item in findings[:max_findings]:
                lines.append(
                    "    [%s] %s %s: %s"
                    % (
                        clean(item.get("severity")),
                        clean(item.get("unit") or "(host)"),
                        clean(item.get("code")),
                        clean(item.get("summary")),
                    )
                )
                if item.get("remedy"):
                    lines.append("      remedy: %s" % clean(item.get("remedy")))
            if len(findings) > max_findings:
                lines.append("    ... %d more in report.json" % (len(findings) - max_findings))
        elif host["status"] == "ok":
            lines.append("  no findings")
        if host.get("containers"):
            lines.append(
                "  containers (%d process(es)): %s"
                % (
                    ht.get("containers", 0),
                    ", ".join(
                        "%s: %d" % (clean(c.get("cgroup")), as_int(c.get("processes"))) for c in host["containers"][:10]
                    ),
                )
            )
        if host.get("unmatched"):
            lines.append("  unit patterns that matched nothing: %s" % ", ".join(clean(p) for p in host["unmatched"]))
    if clean_hosts:
        lines.append("")
        lines.append(
            "%d more host(s) not shown (no findings or over the limit of %d): see the report"
            % (len(clean_hosts), max_hosts)
        )
    comparison = report.get("comparison")
    if comparison:
        lines.append("")
        lines.extend(compare_text(comparison))
    if report_dir:
        lines.append("")
        lines.append("report: %s/report.html (also report.md, report.json)" % clean(report_dir))
    return "\n".join(lines)


def compare_text(comparison):
    lines = [
        "before -> after (%s -> %s):"
        % (clean(comparison["before"].get("generated_at")), clean(comparison["after"].get("generated_at")))
    ]
    ct = comparison["totals"]
    lines.append(
        "  fleet: "
        + ", ".join(
            "%s %d -> %d" % (k, ct[k]["before"], ct[k]["after"])
            for k in ("zombies", "leftovers", "survivors", "escapes")
        )
    )
    lines.append(
        "  findings: %d -> %d (critical %d -> %d, warning %d -> %d)"
        % (
            ct["findings_total"]["before"],
            ct["findings_total"]["after"],
            ct["findings_critical"]["before"],
            ct["findings_critical"]["after"],
            ct["findings_warning"]["before"],
            ct["findings_warning"]["after"],
        )
    )
    for name, host in comparison["hosts"].items():
        st = host["status"]
        before_st, after_st = st["before"] or "not audited", st["after"] or "not audited"
        status = after_st if before_st == after_st else "%s -> %s" % (before_st, after_st)
        lines.append(
            "  %s [%s]: findings %d -> %d, resolved %d, new %d"
            % (
                clean(name),
                clean(status),
                host["findings"]["before"],
                host["findings"]["after"],
                len(host["findings_resolved"]),
                len(host["findings_new"]),
            )
        )
        for uname, counts in host["units"].items():
            changed = [k for k in KINDS if counts[k]["before"] or counts[k]["after"]]
            if changed:
                lines.append(
                    "    %s: %s"
                    % (
                        clean(uname),
                        ", ".join("%s %d -> %d" % (k, counts[k]["before"], counts[k]["after"]) for k in changed),
                    )
                )
        for kind, pids in host["pids"].items():
            if pids["remaining"]:
                rest = pids["remaining"]
                lines.append(
                    "    %s still present (%d): %s%s"
                    % (kind, len(rest), ", ".join(str(p) for p in rest[:10]), " ..." if len(rest) > 10 else "")
                )
            if pids["new"] and kind == "zombies":
                lines.append(
                    "    zombies new since before (a zombie factory leaks again after a restart): %d" % len(pids["new"])
                )
    return lines
