#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by the action plugin of the same name
# (plugins/action/fleet_report.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Build the fleet report of an audit and write report.json, report.md and report.html
version_added: 0.1.0
description:
  - The report step of the C(reaper.systemd.audit) playbook (its C(audit_report.yml) part), as one task that runs on the
    controller. Reads the C(reaper_audit) result the audit stored for each host in O(hosts) as stored, without
    templating it, builds the report (or merges O(merge_inputs)), renders it once and writes C(report.json),
    C(report.md) and C(report.html) into O(report_dir) (files with mode C(0644), replaced atomically, never written
    through a symlink, left alone when their content is the same).
  - The same report as the filters P(reaper.systemd.reaper_report#filter), P(reaper.systemd.reaper_report_json#filter),
    P(reaper.systemd.reaper_report_markdown#filter) and P(reaper.systemd.reaper_report_html#filter) produce, at a
    fraction of the cost for thousands of hosts.
  - Returns the summary that C(set_stats) publishes, the terminal summary lines and the JSON text; use
    P(reaper.systemd.reaper_report_from_json#filter) on RV(report_json) for the report dict.
options:
  report_dir:
    description:
      - Absolute path of the directory on the controller the three files are written to.
      - Checked like every path of the collection (docs/cleanup.md, "Paths"). Refused, naming O(report_dir), before
        anything is written - a system or shared directory (C(/), C(/tmp), C(/etc), C(/var/lib), ...) in any spelling
        (C(/tmp/), C(//tmp)), a path with C(..), glob characters or invisible characters, a symlink, or a path that
        leads to a shared directory through a symlink.
      - Created with mode C(0755) only when missing; an existing directory keeps its mode and owner.
    type: path
    required: true
  hosts:
    description:
      - Inventory names of the audited hosts. A host without C(reaper_audit) (never reached) is reported as not audited.
      - Ignored when O(merge_inputs) is set.
    type: list
    elements: str
    default: []
  merge_inputs:
    description: Partial reports to merge (the slices of a sliced audit) instead of building from O(hosts).
    type: list
    elements: dict
  label:
    description: A label shown in the report (a merge keeps the inputs' label when this is not set).
    type: str
  all_units:
    description: Keep every unit in the report, not only those with leaks or findings.
    type: bool
    default: false
  slice:
    description: Mark the report as the partial report of this slice of a sliced audit.
    type: str
    default: ""
  baseline:
    description: An earlier report to compare with (the report gets a C(comparison)).
    type: dict
attributes:
  check_mode:
    support: full
    description: The report is written in check mode too; it is the audit's output on the controller, not a change to a host.
  diff_mode:
    support: none
    description: The files are the audit's output; no diff is shown.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller only, whatever the connection of the host it is run for.
notes:
  - Used by the C(reaper.systemd.audit) and C(reaper.systemd.merge_reports) playbooks; docs/fleet.md describes them.
seealso:
  - plugin: reaper.systemd.reaper_report
    plugin_type: filter
author:
  - reaper.systemd maintainers (@reaper-systemd)
"""

EXAMPLES = r"""
- name: Build and write the report of the hosts audited in this run
  reaper.systemd.fleet_report:
    report_dir: /srv/reaper/report
    hosts: "{{ ansible_play_hosts_all }}"
  register: written
  delegate_to: localhost
  run_once: true

- name: Keep the report dict
  ansible.builtin.set_fact:
    report: "{{ written.report_json | reaper.systemd.reaper_report_from_json }}"
"""

RETURN = r"""
report_dir:
  description: Where the files are.
  returned: success
  type: str
files:
  description: Paths of report.json, report.md and report.html.
  returned: success
  type: list
  elements: str
hosts:
  description: Number of hosts in the report.
  returned: success
  type: int
report_json:
  description: The text of report.json.
  returned: success
  type: str
text:
  description: The terminal summary per host and unit, one line per item.
  returned: success
  type: list
  elements: str
summary:
  description: The headline numbers the audit publishes with C(set_stats) as C(reaper_audit_summary) (docs/fleet.md).
  returned: success
  type: dict
totals:
  description: The report's C(totals) (hosts per status, findings per severity, leak counts).
  returned: success
  type: dict
"""
