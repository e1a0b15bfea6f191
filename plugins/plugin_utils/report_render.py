# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown and HTML of the report, from the Jinja2 templates in report_assets/.

Both environments escape every value a template prints, so a template cannot forget to: HTML
autoescaping (entities), and for Markdown a finalizer that escapes Markdown punctuation and HTML.
Before that, control and format characters in host strings are made visible (``clean``). Only
``Markup`` values (the collection's own CSS and script, pre-rendered fragments) are printed as is.

The HTML page is self-contained: its style and script are inline and allowed by their SHA-256 in a
Content-Security-Policy that forbids everything else (no external request, no other script).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
import re

from ansible.errors import AnsibleFilterError
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_common import (
    KINDS,
    SEVERITIES,
    all_findings,
    as_dict,
    as_int,
    clean,
    escape_text,
    host_sort_key,
    nothing_remains,
    pct,
    pid_lines,
    rank,
    sev_counts,
    sorted_units,
    status_line,
    zombie_text,
)

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_assets")
_ENVS = {}


def _finalize_html(value):
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean(value)
    return value


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(value):
    text = clean(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _finalize_md(value):
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return md_escape(value)


def _environment(kind):
    env = _ENVS.get(kind)
    if env is None:
        options = {
            "loader": FileSystemLoader(ASSETS),
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        if kind == "html":
            env = Environment(autoescape=True, finalize=_finalize_html, **options)
        else:
            env = Environment(autoescape=False, finalize=_finalize_md, **options)
        env.globals.update(
            {
                "KINDS": KINDS,
                "pct": pct,
                "sev_counts": sev_counts,
                "status_line": status_line,
                "zombie_text": zombie_text,
                "escape_text": escape_text,
                "clean": clean,
                "rank": rank,
                "sorted_units": sorted_units,
            }
        )
        env.filters.update({"zombie_text": zombie_text, "escape_text": escape_text})
        _ENVS[kind] = env
    return env


def _asset(name):
    with open(os.path.join(ASSETS, name), encoding="utf-8") as handle:
        return handle.read()


def csp_hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _require_report(report, name):
    report = as_dict(report)
    if "hosts" not in report or "totals" not in report:
        raise AnsibleFilterError("%s expects the dict built by reaper.systemd.reaper_report" % name)
    return report


def _hosts_by_severity(report):
    return sorted(report["hosts"].items(), key=host_sort_key)


def _comparison_rows(comparison):
    rows = []
    for hname, host in comparison["hosts"].items():
        for uname, counts in host["units"].items():
            if any(counts[k]["before"] or counts[k]["after"] for k in KINDS):
                rows.append((hname, uname, counts))
    return rows


def _comparison_hosts(comparison):
    """[(host, its comparison entry, [(unit, counts) of the units whose counts are not all zero])]."""
    out = []
    for hname, host in comparison["hosts"].items():
        changed = [
            (uname, counts)
            for uname, counts in host["units"].items()
            if any(counts[k]["before"] or counts[k]["after"] for k in KINDS)
        ]
        out.append((hname, host, changed))
    return out


# --------------------------------------------------------------------------- JSON


def render_json(report):
    """report.json: one line per top-level key and one per host, keys sorted.

    A diff of two runs shows the hosts that changed, line by line; and the encoder stays the
    standard library's C one (an indented dump goes through its pure-Python path: several times slower
    for thousands of hosts).
    """
    report = _require_report(report, "reaper_report_json")
    head = [
        "%s: %s" % (json.dumps(k), json.dumps(v, sort_keys=True)) for k, v in sorted(report.items()) if k != "hosts"
    ]
    hosts = ["%s: %s" % (json.dumps(n), json.dumps(h, sort_keys=True)) for n, h in sorted(report["hosts"].items())]
    body = '"hosts": {\n%s\n}' % ",\n".join(hosts) if hosts else '"hosts": {}'
    return "{\n%s\n}\n" % ",\n".join(head + [body])


# --------------------------------------------------------------------------- Markdown


def render_markdown(report, max_findings=200):
    """A Markdown summary of the report (every host is named)."""
    report = _require_report(report, "reaper_report_markdown")
    rows = all_findings(report)
    max_findings = as_int(max_findings, 200)
    comparison = report.get("comparison")
    return (
        _environment("md")
        .get_template("report.md.j2")
        .render(
            report=report,
            t=report["totals"],
            hosts=_hosts_by_severity(report),
            findings=rows[:max_findings],
            findings_more=max(0, len(rows) - max_findings),
            outside=[
                (n, h) for n, h in report["hosts"].items() if h["zombies_outside_units"] or h["unattributed_escapes"]
            ],
            comparison=comparison,
            comparison_hosts=_comparison_hosts(comparison) if comparison else [],
            pid_lines=pid_lines(comparison) if comparison else [],
            nothing_remains=nothing_remains(comparison) if comparison else False,
        )
    )


# --------------------------------------------------------------------------- HTML


def bar_chart(chart_id, title, rows, series):
    """Geometry of horizontal grouped bars. rows: [(label, [values...])]; series: [(name, css class)]."""
    label_w, bar_h, gap, width, pad = 190, 12, 10, 680, 44
    plot_w = width - label_w - pad
    group_h = bar_h * len(series) + gap
    height = 28 + max(1, len(rows)) * group_h + 6
    vmax = max([1] + [v for _label, values in rows for v in values])
    chart = {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": height,
        "label_w": label_w,
        "legend": [
            {"css": css, "x": label_w + idx * 110, "tx": label_w + idx * 110 + 14, "name": name}
            for idx, (name, css) in enumerate(series)
        ],
        "groups": [],
    }
    y = 28
    for label, values in rows:
        text = clean(label)
        group = {
            "label": text,
            "short": text if len(text) <= 30 else text[:29] + "\u2026",
            "tip": ", ".join("%s %d" % (name, v) for (name, _css), v in zip(series, values)),
            "ty": int(y + bar_h * len(series) / 2 + 4),
            "bars": [],
        }
        for idx, ((_name, css), value) in enumerate(zip(series, values)):
            w = int(round(plot_w * value / vmax)) if value else 0
            by = y + idx * bar_h
            group["bars"].append(
                {
                    "css": css,
                    "y": by,
                    "w": max(w, 1 if value else 0),
                    "h": bar_h - 2,
                    "value": value,
                    "tx": label_w + w + 4,
                    "ty": by + bar_h - 3,
                }
            )
        chart["groups"].append(group)
        y += group_h
    return chart


def _chart_rows(items, chart_top):
    rows = sorted(items, key=lambda r: (-(r[1][0] + r[1][1]), r[0]))
    return [r for r in rows if r[1][0] or r[1][1]][:chart_top]


def render_html(report, max_findings=5000, chart_top=20):
    """One self-contained HTML page (no external assets, strict CSP)."""
    report = _require_report(report, "reaper_report_html")
    max_findings = as_int(max_findings, 5000)
    chart_top = max(1, as_int(chart_top, 20))
    t = report["totals"]
    css = _asset("report.css")
    script = _asset("report.js")
    csp = "default-src 'none'; style-src %s; script-src %s; img-src data:; base-uri 'none'; form-action 'none'" % (
        csp_hash(css),
        csp_hash(script),
    )
    series = [("zombies", "bz"), ("escapes", "be")]
    charts = [
        bar_chart(
            "chart-hosts",
            "Zombies and escapes per host",
            _chart_rows(
                ((n, [h["totals"]["zombies"], h["totals"]["escapes"]]) for n, h in report["hosts"].items()), chart_top
            ),
            series,
        ),
        bar_chart(
            "chart-units",
            "Zombies and escapes per unit",
            _chart_rows(
                ((n, [u["counts"]["zombies"], u["counts"]["escaped"]]) for n, u in report["units"].items()), chart_top
            ),
            series,
        ),
    ]
    rows = all_findings(report)
    comparison = report.get("comparison")
    return (
        _environment("html")
        .get_template("report.html.j2")
        .render(
            report=report,
            t=t,
            label=report.get("label") or "",
            csp=csp,
            css=Markup(css),
            script=Markup(script),
            severities=SEVERITIES,
            notok=[(n, h) for n, h in report["hosts"].items() if h["status"] != "ok"],
            charts=charts,
            chart_top=chart_top,
            findings=rows[:max_findings],
            findings_count=len(rows),
            findings_more=max(0, len(rows) - max_findings),
            comparison=comparison,
            comparison_rows=_comparison_rows(comparison) if comparison else [],
            pid_lines=pid_lines(comparison) if comparison else [],
            nothing_remains=nothing_remains(comparison) if comparison else False,
            hosts=_hosts_by_severity(report),
        )
    )
