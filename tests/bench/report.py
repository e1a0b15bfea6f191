# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the raw results of tests/bench/bench.py into medians, ratios, targets and tables.

summarize(results) -> summary; text(summary) -> the printed report;
markdown(summary) -> docs/benchmarks.md. Python standard library only.
"""

import json
import os

# Targets (procfs backend): the benchmark issue's, tightened by issue 14 ("a scan that costs less than one ps").
TARGET_A_OVER_B = 0.8  # in-process scan / ps, wall and CPU (was 2.0)
TARGET_TIMER_OVER_B = 1.0  # the whole process as the timer runs it / ps, wall and CPU
TARGET_C_OVER_A = 20.0
TARGET_FLAT = 1.25  # per-process cost: largest / smallest over the scaling points
TARGET_RSS_MB = 32.0  # was 64
TARGET_E_CPU_MS = 100.0
PREVIOUS_RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "previous_run.json")


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def med(records, key):
    return median([r.get(key) for r in records])


def phases_median(records):
    names = sorted(set(name for r in records for name in r.get("phases", {})))
    return {name: median([r["phases"].get(name, 0.0) for r in records]) for name in names}


def scan_summary(records):
    if not records:
        return None
    return {
        "n": len(records),
        "wall_s": med(records, "wall_s"),
        "cpu_s": med(records, "cpu_s"),
        "children_cpu_s": med(records, "children_cpu_s"),
        "pid1_cpu_s": med(records, "pid1_cpu_s"),
        "process_wall_s": med(records, "process_wall_s"),
        "process_cpu_s": med(records, "process_cpu_s"),
        "maxrss_mb": med(records, "maxrss_kb") / 1024.0,
        "baseline_rss_mb": med(records, "maxrss_start_kb") / 1024.0 if "maxrss_start_kb" in records[0] else None,
        "phases": phases_median(records),
        "processes": med(records, "processes"),
        "zombies": med(records, "zombies"),
        "units": med(records, "units"),
        # how the scan asked systemd: "bus" (PID 1's private socket) or "systemctl" (the fallback)
        # (records without the key predate the bus: those scans asked systemctl; None is a host without systemd)
        "systemd_sources": sorted(set(r.get("systemd_source", "systemctl") for r in records) - set([None])),
        "findings": med(records, "findings"),
        "counts": records[-1].get("counts", {}),
        "min_wall_s": min(r["wall_s"] for r in records),
        "max_wall_s": max(r["wall_s"] for r in records),
    }


def spread(values):
    """Largest / smallest: 1.0 is perfectly flat; None without data."""
    return max(values) / min(values) if values and min(values) > 0 else None


def per_process_us(seconds, processes):
    return seconds / float(processes) * 1e6 if processes else None


def verdict(value, limit, higher_is_better=False):
    """('met'|'missed', text saying by how much)."""
    if value is None:
        return "not measured", ""
    ok = value >= limit if higher_is_better else value <= limit
    if ok:
        return "met", "%.0f%% headroom" % (abs(limit - value) / float(limit) * 100.0)
    return "missed", "by %.2f (%.0f%%)" % (abs(value - limit), abs(value - limit) / float(limit) * 100.0)


BUS_ROW = ("D-Bus", "as the scan")  # the scan's own query, over PID 1's private socket
FALLBACK_ROW = ("systemctl show --all -p <",)  # what it runs without root (older runs: "..., as the scan>")


def _label_has(label, needles):
    return all(needle in label for needle in needles)


def variant_row(rows, needles):
    """The first row whose label holds every one of the needles; None if none does."""
    return next((r for r in rows if _label_has(r["label"], needles)), None)


def _variant_order(label):
    """The scan's query first, then its fallback, then the others as they come."""
    if _label_has(label, BUS_ROW):
        return 0
    return 1 if _label_has(label, FALLBACK_ROW) else 2


def _variants_summary(raw):
    if not raw:
        return None
    out = {"processes": raw["processes"], "holding_units": raw.get("holding_units"), "systemd": [], "proc_reads": []}
    # counts the probe took: properties the bus query asks per service, the ones asked of systemctl,
    # and how many `systemctl show --all` prints for one service (all_properties_of)
    for key in ("bus_units", "bus_properties", "show_properties", "all_properties", "all_properties_of"):
        out[key] = raw.get(key)
    for label, runs in sorted(raw["systemd"].items(), key=lambda item: _variant_order(item[0])):
        out["systemd"].append(
            {
                "label": label,
                "wall_s": med(runs, "wall_s"),
                "cpu_s": med(runs, "cpu_s"),
                "pid1_cpu_s": med(runs, "pid1_cpu_s"),
            }
        )
    for label, runs in raw["proc_reads"].items():
        out["proc_reads"].append({"label": label, "wall_s": med(runs, "wall_s"), "cpu_s": med(runs, "cpu_s")})
    return out


def _timer_summary(raw):
    """(f) the cleanup command as the timer runs it, and the ps runs it alternated with."""
    if not raw:
        return None
    c, b = raw["cleanup"], raw["ps"]
    out = {
        "n": len(c),
        "process_wall_s": med(c, "process_wall_s"),
        "process_cpu_s": med(c, "process_cpu_s"),
        "process_pid1_cpu_s": med(c, "process_pid1_cpu_s"),
        "main_wall_s": med(c, "wall_s"),
        "main_cpu_s": med(c, "cpu_s"),
        "main_children_cpu_s": med(c, "children_cpu_s"),
        "import_s": med(c, "import_s"),
        "maxrss_mb": med(c, "maxrss_kb") / 1024.0,
        "ps_wall_s": med(b, "wall_s"),
        "ps_cpu_s": med(b, "cpu_s"),
    }
    # The host's CPU for the run: the process with its systemctl children, and systemd (PID 1) answering.
    out["cpu_all_s"] = out["process_cpu_s"] + (out["process_pid1_cpu_s"] or 0.0)
    out["over_b"] = out["process_wall_s"] / out["ps_wall_s"]
    out["over_b_cpu"] = out["cpu_all_s"] / out["ps_cpu_s"] if out["ps_cpu_s"] else None
    return out


def previous_run():
    try:
        with open(PREVIOUS_RUN) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def summarize(results):
    params = results["params"]
    points = []
    main = None
    for point in results["points"]:
        series = point["series"]
        procfs = scan_summary(series.get("procfs", []))
        psutil = scan_summary(series.get("psutil", []))
        ps = {
            "wall_s": med(series["ps"], "wall_s"),
            "cpu_s": med(series["ps"], "cpu_s"),
            "lines": med(series["ps"], "lines"),
        }
        row = {
            "target": point["target"],
            "zombies_target": point["zombies_target"],
            "load": point["load"],
            "procfs": procfs,
            "psutil": psutil,
            "ps": ps,
        }
        n = procfs["processes"]
        ph = procfs["phases"]
        work = ph.get("table", 0.0) + ph.get("analysis", 0.0)
        row["us_per_process"] = per_process_us(procfs["wall_s"], n)
        row["work_s"] = work
        row["work_us_per_process"] = per_process_us(work, n)
        # CPU: less disturbed by other work on a shared machine than wall time.
        row["work_cpu_s"] = ph.get("table_cpu", 0.0) + ph.get("analysis_cpu", 0.0)
        row["work_cpu_us_per_process"] = per_process_us(row["work_cpu_s"], n)
        row["ps_us_per_process"] = per_process_us(ps["wall_s"], ps["lines"])
        row["ps_cpu_us_per_process"] = per_process_us(ps["cpu_s"], ps["lines"])
        row["a_over_b"] = procfs["wall_s"] / ps["wall_s"]
        # The scan's CPU on the host: its own, systemctl's and systemd's (PID 1) answering it.
        row["a_cpu_s"] = procfs["cpu_s"] + procfs["children_cpu_s"] + procfs["pid1_cpu_s"]
        row["a_over_b_cpu"] = row["a_cpu_s"] / ps["cpu_s"] if ps["cpu_s"] else None
        row["table_over_b"] = work / ps["wall_s"]
        if psutil:
            row["psutil_us_per_process"] = per_process_us(psutil["wall_s"], psutil["processes"])
            row["psutil_over_b"] = psutil["wall_s"] / ps["wall_s"]
            row["psutil_cpu_s"] = psutil["cpu_s"] + psutil["children_cpu_s"] + psutil["pid1_cpu_s"]
        if point["target"] == params["processes"]:
            main = dict(row)
            main["profile"] = point.get("profile")
            main["variants"] = _variants_summary(point.get("variants"))
            main["runbook"] = {
                "runs": len(point["runbook"]),
                "wall_s": med(point["runbook"], "wall_s"),
                "cpu_s": med(point["runbook"], "cpu_s"),
                "units": point["runbook"][0]["units"],
                "zombies": point["runbook"][0]["zombies"],
                "walls": [r["wall_s"] for r in point["runbook"]],
            }
            main["ansible"] = {
                "n": len(point["ansible"]),
                "task_s": med(point["ansible"], "task_s"),
                "playbook_wall_s": med(point["ansible"], "playbook_wall_s"),
                "adhoc_wall_s": med(point["ansible"], "adhoc_wall_s"),
            }
            main["timer"] = _timer_summary(point.get("timer"))
            main["c_over_a"] = main["runbook"]["wall_s"] / procfs["wall_s"]
            main["c_over_a_cpu"] = main["runbook"]["cpu_s"] / row["a_cpu_s"]
        points.append(row)

    zoo = None
    if "zoo" in results:
        z = results["zoo"]
        zoo = {"load": z["load"], "scan": scan_summary(z["scan"]), "stand_in": "cleanup" not in z}
        for key in ("cleanup", "cleanup_compiled"):
            if key not in z:
                continue
            c = z[key]
            zoo[key] = {
                "n": len(c),
                "wall_s": med(c, "wall_s"),
                "cpu_s": med(c, "cpu_s"),
                "children_cpu_s": med(c, "children_cpu_s"),
                "pid1_cpu_s": med(c, "pid1_cpu_s"),
                "process_wall_s": med(c, "process_wall_s"),
                "process_cpu_s": med(c, "process_cpu_s"),
                "import_s": med(c, "import_s"),
                "maxrss_mb": med(c, "maxrss_kb") / 1024.0,
                "output": c[-1]["output"].strip().splitlines()[:1],
            }

    flat = flat_wall = None
    if len(points) > 1:
        flat = spread([p["work_cpu_us_per_process"] for p in points])
        flat_wall = spread([p["work_us_per_process"] for p in points])

    targets = []
    if main:
        timer = main.get("timer")
        if timer:
            for label, value in (("wall", timer["over_b"]), ("CPU", timer["over_b_cpu"])):
                targets.append(
                    (
                        "(f)/b whole process as the timer runs it / ps, %s" % label,
                        "<= %.1f" % TARGET_TIMER_OVER_B,
                        value,
                        verdict(value, TARGET_TIMER_OVER_B),
                    )
                )
        for label, value in (("wall", main["a_over_b"]), ("CPU", main["a_over_b_cpu"])):
            targets.append(
                (
                    "a/b in-process procfs scan / ps, %s" % label,
                    "<= %.1f" % TARGET_A_OVER_B,
                    value,
                    verdict(value, TARGET_A_OVER_B),
                )
            )
        targets.append(
            (
                "c/a (runbook / procfs scan, wall)",
                ">= %.0f" % TARGET_C_OVER_A,
                main["c_over_a"],
                verdict(main["c_over_a"], TARGET_C_OVER_A, True),
            )
        )
        targets.append(
            (
                "per-process CPU flat (/proc table + analysis, max/min over N)",
                "<= %.2f" % TARGET_FLAT,
                flat,
                verdict(flat, TARGET_FLAT),
            )
        )
        targets.append(
            (
                "per-process wall flat (same, wall time)",
                "<= %.2f" % TARGET_FLAT,
                flat_wall,
                verdict(flat_wall, TARGET_FLAT),
            )
        )
        rss = main["procfs"]["maxrss_mb"]
        targets.append(
            (
                "peak RSS at N=%d (MiB)" % params["processes"],
                "<= %.0f" % TARGET_RSS_MB,
                rss,
                verdict(rss, TARGET_RSS_MB),
            )
        )
    if zoo:
        if zoo.get("cleanup"):
            e_cpu = zoo["cleanup"]["process_cpu_s"] * 1000.0
            label = "(e) cleanup command CPU, whole process (ms)"
        else:
            e_cpu = zoo["scan"]["process_cpu_s"] * 1000.0
            label = "(e) STAND-IN: scan() CPU, whole process (ms)"
        targets.append((label, "<= %.0f" % TARGET_E_CPU_MS, e_cpu, verdict(e_cpu, TARGET_E_CPU_MS)))
    return {
        "results": results,
        "points": points,
        "main": main,
        "zoo": zoo,
        "flat": flat,
        "flat_wall": flat_wall,
        "targets": targets,
        "previous": previous_run(),
    }


# ---------------------------------------------------------------- formatting


def ms(seconds, digits=0):
    if seconds is None:
        return "-"
    return ("%%.%df ms" % digits) % (seconds * 1000.0)


def secs(seconds):
    return "-" if seconds is None else "%.1f s" % seconds


def num(value, fmt="%.1f"):
    return "-" if value is None else fmt % value


def table(headers, rows):
    """A Markdown table; it reads as plain text too."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(row) for row in cells[1:])
    return "\n".join(out)


def main_table(s):
    m = s["main"]
    a, p, b, c, d = m["procfs"], m["psutil"], m["ps"], m["runbook"], m["ansible"]
    rows = [
        (
            "(a) scan(), procfs backend",
            ms(a["wall_s"]),
            "%s own + %s systemctl + %s systemd" % (ms(a["cpu_s"]), ms(a["children_cpu_s"]), ms(a["pid1_cpu_s"])),
            "%.1f MiB" % a["maxrss_mb"],
            "in-process; whole python3 process: %s wall, %s CPU" % (ms(a["process_wall_s"]), ms(a["process_cpu_s"])),
        )
    ]
    if p:
        rows.append(
            (
                "(a) scan(), psutil backend",
                ms(p["wall_s"]),
                "%s own + %s systemctl + %s systemd" % (ms(p["cpu_s"]), ms(p["children_cpu_s"]), ms(p["pid1_cpu_s"])),
                "%.1f MiB" % p["maxrss_mb"],
                "in-process; whole python3 process: %s wall, %s CPU"
                % (ms(p["process_wall_s"]), ms(p["process_cpu_s"])),
            )
        )
    rows.append(("(b) ps -eo pid,ppid,stat,cgroup", ms(b["wall_s"]), ms(b["cpu_s"]), "-", "%d lines read" % b["lines"]))
    f = m.get("timer")
    if f:
        rows.append(
            (
                "(f) cleanup command, whole process as the timer runs it",
                ms(f["process_wall_s"]),
                "%s + %s systemd" % (ms(f["process_cpu_s"]), ms(f["process_pid1_cpu_s"])),
                "%.1f MiB" % f["maxrss_mb"],
                "python3 -I -B launcher, module_utils compiled at deployment, default policy; alternated with its"
                " own ps runs: %s wall, %s CPU; imports %s; main() %s wall, %s own + %s systemctl CPU"
                % (
                    ms(f["ps_wall_s"]),
                    ms(f["ps_cpu_s"]),
                    ms(f["import_s"]),
                    ms(f["main_wall_s"]),
                    ms(f["main_cpu_s"]),
                    ms(f["main_children_cpu_s"]),
                ),
            )
        )
    rows += [
        (
            "(c) runbook loop (%d units)" % c["units"],
            secs(c["wall_s"]),
            secs(c["cpu_s"]),
            "-",
            "measured %d time(s): %s; found %d zombies"
            % (c["runs"], ", ".join("%.1f s" % w for w in c["walls"]), c["zombies"]),
        ),
        (
            "(d) process_facts task (profile_tasks)",
            ms(d["task_s"]),
            "-",
            "-",
            "playbook run %s; ad-hoc `ansible -m` %s" % (secs(d["playbook_wall_s"]), secs(d["adhoc_wall_s"])),
        ),
    ]
    z = s["zoo"]
    if z and z.get("cleanup"):
        e = z["cleanup"]
        rows.append(
            (
                "(e) cleanup command, nothing to do (zoo, %d processes)" % z["load"]["processes"],
                ms(e["process_wall_s"]),
                ms(e["process_cpu_s"]),
                "%.1f MiB" % e["maxrss_mb"],
                "whole process as the service runs it (python3 -I -B, no bytecode cache); main() alone: %s wall, "
                "%s own + %s systemctl CPU, systemd (PID 1) %s CPU"
                % (ms(e["wall_s"]), ms(e["cpu_s"]), ms(e["children_cpu_s"]), ms(e.get("pid1_cpu_s"))),
            )
        )
    if z and z.get("cleanup_compiled"):
        e = z["cleanup_compiled"]
        rows.append(
            (
                "(e) the same, module_utils compiled ahead (compileall)",
                ms(e["process_wall_s"]),
                ms(e["process_cpu_s"]),
                "%.1f MiB" % e["maxrss_mb"],
                "imports %s instead of %s; main() alone: %s own + %s systemctl CPU"
                % (ms(e["import_s"]), ms(z["cleanup"]["import_s"]), ms(e["cpu_s"]), ms(e["children_cpu_s"])),
            )
        )
    if z:
        e = z["scan"]
        rows.append(
            (
                "(e%s) scan() on the zoo (%d processes)" % (" STAND-IN" if z["stand_in"] else "'", e["processes"]),
                ms(e["process_wall_s"]),
                ms(e["process_cpu_s"]),
                "%.1f MiB" % e["maxrss_mb"],
                "whole process; in-process %s wall, %s own + %s systemctl CPU"
                % (ms(e["wall_s"]), ms(e["cpu_s"]), ms(e["children_cpu_s"])),
            )
        )
    return table(("measurement (median)", "wall", "CPU", "peak RSS", "notes"), rows)


def ratio_table(s):
    m = s["main"]
    rows = []
    f = m.get("timer")
    if f:
        rows.append(("(f)/b: whole process as the timer runs it / ps", "%.2f" % f["over_b"], "%.2f" % f["over_b_cpu"]))
    rows.append(("a/b: procfs scan / ps", "%.2f" % m["a_over_b"], "%.2f" % m["a_over_b_cpu"]))
    if m["psutil"]:
        rows.append(
            ("a/b: psutil scan / ps", "%.2f" % m["psutil_over_b"], "%.2f" % (m["psutil_cpu_s"] / m["ps"]["cpu_s"]))
        )
    rows.append(
        ("/proc table + analysis alone / ps", "%.2f" % m["table_over_b"], "%.2f" % (m["work_cpu_s"] / m["ps"]["cpu_s"]))
    )
    rows.append(("c/a: runbook / procfs scan", "%.0f" % m["c_over_a"], "%.0f" % m["c_over_a_cpu"]))
    rows.append(("d/a: Ansible task / procfs scan", "%.1f" % (m["ansible"]["task_s"] / m["procfs"]["wall_s"]), "-"))
    return table(("ratio (medians)", "wall", "CPU"), rows)


def previous_table(s):
    """The key figures of this run beside the previous run's (published on this page before it)."""
    prev, m = s.get("previous"), s["main"]
    if not prev or not m:
        return None
    fig, a, b, f = prev["figures"], m["procfs"], m["ps"], m.get("timer")

    def was(key, unit=" ms"):
        value = fig.get(key)
        if value is None:
            return "-"
        return "%s%s" % (value, unit) if not isinstance(value, str) else value

    rows = [
        ("(a) in-process procfs scan, wall", was("a_wall_ms"), ms(a["wall_s"])),
        (
            "(a) CPU: own + systemctl + systemd",
            "%s + %s + %s ms" % (fig["a_own_cpu_ms"], fig["a_systemctl_cpu_ms"], fig["a_systemd_cpu_ms"]),
            "%s + %s + %s" % (ms(a["cpu_s"]), ms(a["children_cpu_s"]), ms(a["pid1_cpu_s"])),
        ),
        ("/proc table + analysis, CPU", was("table_cpu_ms"), ms(m["work_cpu_s"])),
        ("peak RSS", was("a_rss_mib", " MiB"), "%.1f MiB" % a["maxrss_mb"]),
        (
            "(a) whole python3 process (probe), wall / CPU",
            "%s / %s ms" % (fig["a_process_wall_ms"], fig["a_process_cpu_ms"]),
            "%s / %s" % (ms(a["process_wall_s"]), ms(a["process_cpu_s"])),
        ),
        (
            "(b) ps, wall / CPU",
            "%s / %s ms" % (fig["b_wall_ms"], fig["b_cpu_ms"]),
            "%s / %s" % (ms(b["wall_s"]), ms(b["cpu_s"])),
        ),
        ("a/b wall", was("a_over_b", ""), "%.2f" % m["a_over_b"]),
        ("a/b CPU", was("a_over_b_cpu", ""), "%.2f" % m["a_over_b_cpu"]),
        (
            "(f)/b wall: whole process as the timer runs it / ps",
            was("timer_over_b", ""),
            "%.2f" % f["over_b"] if f else "-",
        ),
        ("(f)/b CPU", was("timer_over_b_cpu", ""), "%.2f" % f["over_b_cpu"] if f else "-"),
        ("per-process CPU flat (max/min)", was("flat", ""), num(s["flat"], "%.2f")),
    ]
    return table(("figure (medians)", "previous run (%s)" % prev["date"], "this run"), rows)


def target_table(s):
    rows = []
    for name, target, value, (status, detail) in s["targets"]:
        rows.append((name, target, num(value, "%.2f"), status, detail))
    return table(("target", "wanted", "measured", "result", "margin"), rows)


def scaling_table(s):
    rows = []
    for p in s["points"]:
        a = p["procfs"]
        rows.append(
            (
                "%d" % p["target"],
                "%d" % a["processes"],
                "%d" % a["zombies"],
                ms(a["wall_s"]),
                num(p["us_per_process"]),
                ms(p["work_s"]),
                num(p["work_us_per_process"]),
                num(p["work_cpu_us_per_process"]),
                ms(_asking(a["phases"])),
                ms(p["psutil"]["wall_s"]) if p["psutil"] else "-",
                num(p.get("psutil_us_per_process")),
                ms(p["ps"]["wall_s"]),
                num(p["ps_us_per_process"]),
                num(p["ps_cpu_us_per_process"]),
                "%.2f" % p["a_over_b"],
                "%.2f" % p["a_over_b_cpu"],
            )
        )
    headers = (
        "N",
        "processes",
        "zombies",
        "procfs scan",
        "µs/proc",
        "table + analysis",
        "µs/proc",
        "CPU µs/proc",
        "asking systemd",
        "psutil scan",
        "µs/proc",
        "ps",
        "µs/proc",
        "CPU µs/proc",
        "a/b",
        "a/b CPU",
    )
    return table(headers, rows)


def _asking(phases, suffix=""):
    """The time spent asking systemd (older runs timed systemctl --version apart, as "version")."""
    if "units" + suffix not in phases:
        return None
    return phases["units" + suffix] + phases.get("version" + suffix, 0.0)


def sources_text(sources):
    return ", ".join(sources) if sources else "-"


def phase_table(s):
    m = s["main"]
    rows = []
    for backend in ("procfs", "psutil"):
        r = m.get(backend)
        if not r:
            continue
        ph = r["phases"]
        sources = r.get("systemd_sources") or []
        asking_cpu = ms(_asking(ph, "_cpu"))
        if r["children_cpu_s"] or "systemctl" in sources:
            asking_cpu = "%s + %s systemctl" % (asking_cpu, ms(r["children_cpu_s"]))
        rows.append(
            (
                backend + " wall",
                sources_text(sources),
                ms(_asking(ph)),
                ms(ph.get("table")),
                ms(ph.get("wait")) if "wait" in ph else "-",
                ms(ph.get("analysis")),
                ms(ph.get("rest")),
                ms(r["wall_s"]),
                "-",
            )
        )
        rows.append(
            (
                backend + " CPU",
                "",
                asking_cpu,
                ms(ph.get("table_cpu")),
                ms(ph.get("wait_cpu")) if "wait" in ph else "-",
                ms(ph.get("analysis_cpu")),
                ms(ph.get("rest_cpu")),
                ms(r["cpu_s"] + r["children_cpu_s"]),
                ms(r["pid1_cpu_s"]),
            )
        )
    return table(
        (
            "backend",
            "systemd asked over",
            "asking systemd (in a thread)",
            "/proc table",
            "waiting for systemd after /proc",
            "analysis",
            "facts",
            "total",
            "systemd (PID 1) CPU",
        ),
        rows,
    )


def profile_table(s, key="by_tottime", top=12):
    prof = s["main"].get("profile")
    if not prof:
        return ""
    rows = [(r["where"], r["ncalls"], ms(r["tottime_s"], 1), ms(r["cumtime_s"], 1)) for r in prof[key][:top]]
    return table(("function", "calls", "own time", "cumulative"), rows)


def variants_tables(s):
    v = s["main"].get("variants")
    if not v:
        return []
    rows = [(r["label"], ms(r["wall_s"]), ms(r["cpu_s"]), ms(r["pid1_cpu_s"])) for r in v["systemd"]]
    out = [table(("command (medians)", "wall", "its CPU", "systemd (PID 1) CPU"), rows), ""]
    rows = [
        (r["label"], ms(r["wall_s"]), ms(r["cpu_s"]), num(per_process_us(r["cpu_s"], v["processes"])))
        for r in v["proc_reads"]
    ]
    out.append(
        table(("reading /proc/PID/... for %d processes (medians)" % v["processes"], "wall", "CPU", "CPU µs/proc"), rows)
    )
    return out


def _asking_sentence(a, v):
    """How the scan asked systemd, and what it cost (wall, and CPU on each side)."""
    sources, ph = a["systemd_sources"], a["phases"]
    own = _asking(ph, "_cpu") or 0.0
    if sources == ["bus"]:
        per = "one Properties.Get per needed property"
        if v.get("bus_properties"):
            per = "%d Properties.Get per service" % v["bus_properties"]
        how = "over its private socket, as root: one ListUnitsByPatterns call and %s, pipelined on one connection" % per
        cpu = "%s in the scan's thread, %s in systemd answering it" % (ms(own), ms(a["pid1_cpu_s"]))
    else:
        if sources == ["systemctl"]:
            how = "through `systemctl show --all` and `systemctl --version`, the fallback without root"
        else:
            how = "over %s, as the runs went" % sources_text(sources)
        cpu = "%s in the scan's thread, %s in `systemctl`, %s in systemd" % (
            ms(own),
            ms(a["children_cpu_s"]),
            ms(a["pid1_cpu_s"]),
        )
    return (
        "Asking systemd (%s, in a thread while /proc is read) took %s wall and %s CPU (%s); the scan waited %s for it"
        " after its own /proc pass."
        % (how, ms(_asking(ph)), ms(own + a["children_cpu_s"] + a["pid1_cpu_s"]), cpu, ms(ph.get("wait", 0.0)))
    )


def analysis_lines(s):
    """Sentences computed from the results: why a ratio is what it is."""
    m, par = s["main"], s["results"]["params"]
    if not m:
        return []
    a, b = m["procfs"], m["ps"]
    own = [ms(a["cpu_s"]) + " its own"]
    if a["children_cpu_s"] or "systemctl" in a["systemd_sources"]:
        own.append(ms(a["children_cpu_s"]) + " in `systemctl`")
    lines = [
        "- At N=%d the procfs scan took %s wall and %s CPU in all (%s, %s in systemd answering it); `ps` took %s"
        " wall and %s CPU."
        % (
            par["processes"],
            ms(a["wall_s"]),
            ms(m["a_cpu_s"]),
            ", ".join(own),
            ms(a["pid1_cpu_s"]),
            ms(b["wall_s"]),
            ms(b["cpu_s"]),
        ),
        "- %s Reading /proc and the analysis took %s wall and %s CPU: %.2f times `ps` by wall, %.2f by CPU."
        % (
            _asking_sentence(a, m.get("variants") or {}),
            ms(m["work_s"]),
            ms(m["work_cpu_s"]),
            m["table_over_b"],
            m["work_cpu_s"] / b["cpu_s"],
        ),
    ]
    f = m.get("timer")
    if f:
        lines.append(
            "- As the timer runs it (the whole `python3 -I -B` process, module_utils compiled at deployment), the"
            " cleanup command took %s wall and %s CPU (%s the process with any children, %s systemd):"
            " %.2f times its `ps` by wall and %.2f by CPU, in pairs alternated in the same run."
            % (
                ms(f["process_wall_s"]),
                ms(f["cpu_all_s"]),
                ms(f["process_cpu_s"]),
                ms(f["process_pid1_cpu_s"]),
                f["over_b"],
                f["over_b_cpu"],
            )
        )
    if s["flat"] is not None and s["flat_wall"] is not None:
        lines.append(
            "- Per process, the /proc table and the analysis cost %.1f to %.1f µs of CPU from N=%d to N=%d (max/min"
            " %.2f); their wall time per process moved by %.2f times, with the machine's load (load averages"
            " above), not with N."
            % (
                min(p["work_cpu_us_per_process"] for p in s["points"]),
                max(p["work_cpu_us_per_process"] for p in s["points"]),
                s["points"][0]["target"],
                s["points"][-1]["target"],
                s["flat"],
                s["flat_wall"],
            )
        )
    v = m.get("variants")
    if v:
        bus = variant_row(v["systemd"], BUS_ROW)
        full = variant_row(v["systemd"], FALLBACK_ROW)
        few = variant_row(v["systemd"], ("Id,ControlGroup,MainPID",))
        holding = variant_row(v["systemd"], ("holding processes",))
        listing = variant_row(v["systemd"], ("list-units",))
        show_count = "%d properties" % v["show_properties"] if v.get("show_properties") else "properties"
        with_version = " and `systemctl --version`" if full and "--version" in full["label"] else ""
        if bus and full:
            bus_cpu = bus["cpu_s"] + bus["pid1_cpu_s"]
            full_cpu = full["cpu_s"] + full["pid1_cpu_s"]
            all_props = ""
            if v.get("all_properties"):
                all_props = "; `systemctl show --all` prints %d of them for %s" % (
                    v["all_properties"],
                    v["all_properties_of"],
                )
            lines.append(
                "- Measured apart, the scan's query over systemd's private socket took %s wall and %s CPU (%s its own"
                " + %s systemd); its fallback without root, `systemctl show --all -p <%s>`%s, took %s wall"
                " and %s CPU (%s systemctl + %s systemd): %s times the wall and %s times the CPU. systemctl asks PID"
                " 1 for every property of every interface of each unit (GetAll%s), so systemd computes them all,"
                " cgroup memory, CPU, IO and IP counters among them, and systemctl formats them before it keeps the"
                " ones asked for; the scan asks for the %s it needs per service, one Properties.Get each, after one"
                " ListUnitsByPatterns call that gives every unit's name and states (%s units listed here; the scan"
                " keeps the %d loaded services)."
                % (
                    ms(bus["wall_s"]),
                    ms(bus_cpu),
                    ms(bus["cpu_s"]),
                    ms(bus["pid1_cpu_s"]),
                    show_count,
                    with_version,
                    ms(full["wall_s"]),
                    ms(full_cpu),
                    ms(full["cpu_s"]),
                    ms(full["pid1_cpu_s"]),
                    num(full["wall_s"] / bus["wall_s"] if bus["wall_s"] else None),
                    num(full_cpu / bus_cpu if bus_cpu else None),
                    all_props,
                    num(v.get("bus_properties"), "%d"),
                    num(v.get("bus_units"), "%d"),
                    a["units"],
                )
            )
        if full and few:
            few_cpu, full_cpu = few["cpu_s"] + few["pid1_cpu_s"], full["cpu_s"] + full["pid1_cpu_s"]
            figures = (
                "Id, ControlGroup and MainPID cost %s + %s (systemctl + systemd CPU) against %s + %s for the"
                " fallback's %s%s"
                % (
                    ms(few["cpu_s"]),
                    ms(few["pid1_cpu_s"]),
                    ms(full["cpu_s"]),
                    ms(full["pid1_cpu_s"]),
                    show_count,
                    with_version,
                )
            )
            # systemd's side is the same GetAll of every unit whatever -p says; only systemctl's formatting shrinks
            lines.append(
                "- Through systemctl, %s: %s times the CPU. Whatever `-p` asks for, systemd answers GetAll with"
                " every property of each of the %d loaded services (systemd's CPU: %s for 3 properties, %s for the"
                " fallback); only systemctl's own share shrinks."
                % (
                    figures,
                    num(few_cpu / full_cpu if full_cpu else None, "%.2f"),
                    a["units"],
                    ms(few["pid1_cpu_s"]),
                    ms(full["pid1_cpu_s"]),
                )
            )
        if holding and listing:
            lines.append(
                "- Fewer units would: through systemctl, the unit list with states (`list-units`) costs %s + %s, and"
                " `show` for the %d services that hold processes %s + %s. The scan still asks about every loaded"
                " service: the analysis attributes escapes through the `InvocationID` and `ExecMainPID` of units"
                " that hold no process any more (a process moved out of a unit that then stopped), and only a"
                " per-unit query gives those."
                % (
                    ms(listing["cpu_s"]),
                    ms(listing["pid1_cpu_s"]),
                    v.get("holding_units", 0),
                    ms(holding["cpu_s"]),
                    ms(holding["pid1_cpu_s"]),
                )
            )
        reads = {r["label"]: r for r in v["proc_reads"]}
        before = next((r for k, r in reads.items() if "previous scan" in k), None)
        now = next((r for k, r in reads.items() if "as the scan" in k), None)
        if before and now:
            lines.append(
                "- The /proc pass reads two files per process (stat and cgroup); the uid comes from `status` only for"
                " the processes a list names. The reads cost %s CPU for %d processes against %s with `status` for"
                " every process (%.1f µs per process less, %.0f%% of the reads)."
                % (
                    ms(now["cpu_s"]),
                    v["processes"],
                    ms(before["cpu_s"]),
                    per_process_us(before["cpu_s"] - now["cpu_s"], v["processes"]),
                    (1 - now["cpu_s"] / before["cpu_s"]) * 100.0,
                )
            )
    z = s["zoo"]
    if z and z.get("cleanup") and z.get("cleanup_compiled"):
        c, cc = z["cleanup"], z["cleanup_compiled"]
        lines.append(
            "- The cleanup command with nothing to do: %s CPU for the whole process, of which main() is %s (own)"
            " + %s (systemctl). Its service runs `python3 -I -B` from a read-only directory, so nothing caches"
            " bytecode and every run compiles the module_utils: imports took %s; with the bytecode compiled"
            " ahead (`python3 -m compileall` at deploy time) %s, and the whole process %s CPU."
            % (
                ms(c["process_cpu_s"]),
                ms(c["cpu_s"]),
                ms(c["children_cpu_s"]),
                ms(c["import_s"]),
                ms(cc["import_s"]),
                ms(cc["process_cpu_s"]),
            )
        )
    return lines


def header_lines(s):
    r = s["results"]
    mach, lab, par = r["machine"], r.get("lab", {}), r["params"]
    return [
        "date: %s, %d s in all; load average at start %s, at end %s"
        % (r["started"], r["duration_s"], " ".join(r["loadavg_start"]), " ".join(r["loadavg_end"])),
        "machine: %d CPUs (%s), %.1f GiB memory, kernel %s, Debian %s, %s cgroups, pid_max %d, %s"
        % (
            mach["nproc"],
            mach["cpu_model"],
            mach["memory_gib"],
            mach["kernel"],
            mach["debian"],
            mach["cgroup"],
            mach["pid_max"],
            mach["podman"],
        ),
        "lab container: Debian %s, %s, %s, psutil %s, %s; controller Python %s"
        % (
            lab.get("debian"),
            lab.get("systemd"),
            lab.get("python"),
            lab.get("psutil"),
            lab.get("procps"),
            mach["python"],
        ),
        "load: N=%d sleeping processes over U=%d units, Z=%d zombies over %d units, %d left-overs, %d escapes; %d repetitions (runbook: %d)"
        % (
            par["processes"],
            par["units"],
            par["zombies"],
            par["zombie_units"],
            par["leftovers"],
            par["escapes"],
            par["repeat"],
            par["runbook_repeat"],
        ),
    ]


def text(s):
    out = ["", "== reaper.systemd benchmarks"] + header_lines(s)
    if s["main"]:
        out += ["", "== at N=%d (medians)" % s["results"]["params"]["processes"], main_table(s), "", ratio_table(s)]
        if previous_table(s):
            out += ["", "== this run beside the previous one", previous_table(s)]
        out += ["", "== where the scan spends its time (medians)", phase_table(s)]
    out += ["", "== scaling (procfs backend unless named; µs/proc = time / processes in the table)", scaling_table(s)]
    out += ["", "== targets", target_table(s)]
    if s["main"]:
        out += ["", "== what the numbers say"] + analysis_lines(s)
        if s["main"].get("variants"):
            out += ["", "== what-if: the same sources read another way"] + variants_tables(s)
    if s["main"] and s["main"].get("profile"):
        out += [
            "",
            "== cProfile (CPU time) of one procfs scan at N=%d, top entries by own time"
            % s["results"]["params"]["processes"],
            profile_table(s),
        ]
    return "\n".join(out) + "\n"


def markdown(s):
    r = s["results"]
    par = r["params"]
    lines = [
        "# Benchmarks",
        "",
        "What an audit scan and a cleanup run cost on a busy host, against the physical floor (one `ps` over",
        "the same process table) and against the runbook approach (a shell loop over the units). Generated by",
        "`%s` (tests/bench/bench.py) from one run; the ratios compare figures taken in that run." % r["command"],
        "",
        "## How it is measured",
        "",
        "- A lab container (`localhost/reaper-lab:bookworm`, systemd as PID 1, `--pids-limit -1`, `SYS_PTRACE`",
        "  added as a host's root has it) runs a synthetic host: `bench@1..U.service` each start their share of",
        "  N `sleep` processes under a `/bin/sh` main process; `bench-zombie@1..%d.service` each exec a `sleep`"
        % par["zombie_units"],
        "  that never reaps its children (Z zombies); a stopped `KillMode=process` unit leaves %d left-overs;"
        % par["leftovers"],
        "  %d children of a service escape with `systemd-run --scope`. The scaling points keep U and the"
        % par["escapes"],
        "  share of zombies (Z/N) constant.",
        "- (a) `scan(ScanOptions(backend=...))` from `plugins/module_utils/scan.py`, in a fresh `python3 -I -B`",
        "  per repetition (no bytecode cache, as the cleanup service runs). Wall time (`time.perf_counter`) and",
        "  CPU (`time.process_time`) around the call, with the CPU of systemd (PID 1) answering and of any",
        "  `systemctl` children (only the fallback starts them, when systemd's private socket is unusable:",
        "  not root); peak RSS is `ru_maxrss` of that process after one scan. The whole process (interpreter",
        "  start, imports) is reported beside it. Zombies are flagged at any age (`min_zombie_age=0`).",
        "- (b) `ps -eo pid,ppid,stat,cgroup`, its output read in full; (a) and (b) alternate, repetition by",
        "  repetition, so a noisy moment hits both.",
        "- (c) `tests/bench/runbook.sh`: per loaded service `systemctl show -p MainPID,ControlGroup`, one `ps`,",
        "  `grep` of the unit's cgroup and `awk` for defunct children. It takes minutes, so it runs %d time(s)."
        % par["runbook_repeat"],
        "- (d) `tests/bench/process_facts.yml` through the `containers.podman.podman` connection; the task's",
        "  time from the `ansible.posix.profile_tasks` callback, plus the wall time of an ad-hoc `ansible -m`.",
        "- (e) a second container with the zoo alone (molecule/shared/zoo_deploy.yml and zoo_side_effect.yml),",
        "  the cleanup command started as `reaper-cleanup.service` starts it (`python3 -I -B`, the",
        "  cleanup_timer role's default policy: every service in scope, no action allowed: nothing to do).",
        "- (f) at N=%d: the cleanup command as the timer runs it, on the loaded host: the role's launcher in"
        % par["processes"],
        "  `python3 -I -B`, the module_utils compiled at deployment (`compileall`), the default policy; the",
        "  whole process's wall time, its CPU with its children's (`systemctl` on the fallback only), plus",
        "  systemd's (PID 1) CPU; alternated with `ps` (its own pairs, same run).",
        "",
        "## Machine",
        "",
    ]
    lines += ["- " + line for line in header_lines(s)]
    if s["main"]:
        lines += [
            "",
            "## Results at N=%d (medians of %d)" % (par["processes"], par["repeat"]),
            "",
            main_table(s),
            "",
            ratio_table(s),
        ]
        if previous_table(s):
            prev = s["previous"]
            lines += [
                "",
                "### This run beside the previous one",
                "",
                "The previous run (%s, load average %s) is the one before issue 14's changes: the"
                % (prev["date"], prev["loadavg"]),
                "scan now reads the uid only for listed processes, asks systemd in a thread while it reads /proc,",
                "and asks it over its private socket for the properties it needs only. The previous run's",
                "whole-process ratios are those issue 14 quotes. Ratios compare figures of one run only; absolute",
                "times of two runs compare only as far as the machine's load allowed (see both load averages).",
                "",
                previous_table(s),
            ]
        lines += ["", "### Where the scan spends its time", "", phase_table(s)]
    if s["main"]:
        lines += ["", "## What the numbers say", ""] + analysis_lines(s)
        if s["main"].get("variants"):
            lines += [
                "",
                "### What-if measurements (same host, same run)",
                "",
                "Other ways to read the same sources, measured to weigh an optimisation before making it.",
            ]
            if variant_row(s["main"]["variants"]["systemd"], BUS_ROW):
                lines += [
                    "The first row is the scan's own query, run in the probe's process (its CPU is that",
                    "process's); the second is what the scan runs instead when systemd's private socket is",
                    "unusable (not root).",
                ]
            lines += [""] + variants_tables(s)
    lines += [
        "",
        "## Scaling",
        "",
        "Time per process (µs/proc) divides by the processes in the table. Asking systemd (over its private",
        "socket; through `systemctl` on the fallback only) does the same work at every N (it depends on the",
        "units, not the processes); its wall time in its thread overlaps the /proc pass, with which it shares",
        "the interpreter, and moves with it. The per-process cost the target asks to be flat is the /proc",
        "table plus the analysis.",
        "",
        scaling_table(s),
        "",
        "## Targets",
        "",
        target_table(s),
    ]
    if s["main"] and s["main"].get("profile"):
        lines += [
            "",
            "## Profile of one procfs scan at N=%d (cProfile on CPU time, top entries by own time)" % par["processes"],
            "",
            profile_table(s),
            "",
            "By cumulative time:",
            "",
            profile_table(s, "by_cumtime", 10),
        ]
    if s["zoo"] and s["zoo"]["stand_in"]:
        lines += [
            "",
            "(e) is a stand-in: the cleanup command did not exist when this ran; scan() on the zoo was measured instead.",
        ]
    lines += [
        "",
        "## Reading these numbers",
        "",
        "- The machine is shared: other work ran during the benchmark (see the load averages). Medians and",
        "  the interleaving of (a) and (b) keep the ratios meaningful; absolute times move between runs.",
        "- Rerun with `make bench`; quick runs take `BENCH_N`, `BENCH_UNITS`, `BENCH_ZOMBIES`, `BENCH_REPEAT`,",
        "  `BENCH_SCALE` (and write build output under tests/bench/output/, not this page).",
        "",
    ]
    return "\n".join(lines)
