# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the reaper.systemd fleet report.

Thin wrappers: the model (classify, build, compare, merge, thresholds) and the renderers live in
plugins/plugin_utils/report_*.py; the Markdown and HTML come from Jinja2 templates in
plugins/plugin_utils/report_assets/, beside the JSON Schema of report.json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleFilterError

from ansible_collections.reaper.systemd.plugins.plugin_utils.report_compare import compare
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_merge import merge
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_model import (
    build_report,
    host_result,
    reaches,
    summary,
)
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_render import (
    render_html,
    render_json,
    render_markdown,
)
from ansible_collections.reaper.systemd.plugins.plugin_utils.report_text import render_text


def reaper_host_result(result, all_units=False):
    """Classify one host's registered ``process_facts`` result and keep what the report needs."""
    return host_result(result, bool(all_units))


def reaper_report(results, generated_at=None, label="", baseline=None, all_units=False, top=10, slice_id=None):
    """Build the fleet report dict from ``{inventory_hostname: host result}``."""
    report = build_report(results, generated_at, label, all_units, top, slice_id)
    if baseline:
        report["comparison"] = compare(baseline, report)
    return report


def reaper_report_compare(before, after):
    """Compare two reports (before and after a remediation)."""
    return compare(before, after)


def reaper_report_merge(reports, label=None, top=10, baseline=None):
    """Merge partial reports (the slices of a sliced audit) into one report."""
    report = merge(reports, label, top)
    if baseline:
        report["comparison"] = compare(baseline, report)
    return report


def reaper_report_summary(report, report_dir=None):
    """The report's headline numbers, small enough for ``set_stats`` and notifications."""
    return summary(report, report_dir)


def reaper_report_reaches(report, level="none"):
    """True when the report has a finding at ``level`` or above (``none`` never)."""
    return reaches(report, level)


def reaper_report_text(report, max_hosts=50, max_findings=20, report_dir=None):
    """A readable per-unit summary for the terminal."""
    return render_text(report, max_hosts, max_findings, report_dir)


def reaper_report_json(report):
    """report.json: one line per top-level key and per host, keys sorted."""
    return render_json(report)


# The last text parsed and its report: the audit's reaper_audit_report is this filter over one text,
# and a task that reads the variable several times (the gate's condition and message) parses it once.
_LAST_PARSED = [None, None]


def reaper_report_from_json(text):
    """The report dict from the text of a report.json (what reaper_report_json wrote)."""
    if isinstance(text, str) and _LAST_PARSED[0] is not None and text == _LAST_PARSED[0]:
        return _LAST_PARSED[1]
    try:
        report = json.loads(text)
    except (TypeError, ValueError) as ex:
        raise AnsibleFilterError("reaper_report_from_json expects the text of a report.json: %s" % ex) from ex
    if not isinstance(report, dict) or "hosts" not in report or "totals" not in report:
        raise AnsibleFilterError("reaper_report_from_json: the text is JSON but not a fleet report (no hosts/totals)")
    _LAST_PARSED[:] = [str(text), report]
    return report


def reaper_report_markdown(report, max_findings=200):
    """A Markdown summary of the report (every host is named)."""
    return render_markdown(report, max_findings)


def reaper_report_html(report, max_findings=5000, chart_top=20):
    """One self-contained HTML page (no external assets, strict CSP)."""
    return render_html(report, max_findings, chart_top)


def reaper_report_path(path="reaper-report"):
    """Absolute path of the report directory: a relative one is taken from the directory
    ansible-playbook runs in (not from the playbook's, which may be the installed collection)."""
    if not isinstance(path, str) or not path.strip():
        raise AnsibleFilterError("reaper_report_dir must be a non-empty path, got %r" % (path,))
    path = os.path.expanduser(path.strip())
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    return os.path.normpath(path)


class FilterModule(object):
    """reaper.systemd report filters."""

    def filters(self):
        return {
            "reaper_host_result": reaper_host_result,
            "reaper_report": reaper_report,
            "reaper_report_compare": reaper_report_compare,
            "reaper_report_merge": reaper_report_merge,
            "reaper_report_summary": reaper_report_summary,
            "reaper_report_reaches": reaper_report_reaches,
            "reaper_report_text": reaper_report_text,
            "reaper_report_json": reaper_report_json,
            "reaper_report_from_json": reaper_report_from_json,
            "reaper_report_markdown": reaper_report_markdown,
            "reaper_report_html": reaper_report_html,
            "reaper_report_path": reaper_report_path,
        }
