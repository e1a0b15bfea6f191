# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab-only module: ask systemd both ways the scan can, and compare, on a real host.

The scan asks PID 1 over its private socket (systemd_bus) and falls back to
`systemctl show --all`; both must give the same units to the last property.
Units change under the lab's own churn (a restart between the two questions, zoo-reaper's
short-lived children in TasksCurrent, which live longer on a loaded machine), so a comparison
is repeated up to ten times and passes if one round agrees completely.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: reaper_systemd_readers
short_description: Compare the scan's two ways of asking systemd (lab only)
description: Runs systemd_units.ask_systemd and systemd_units.read_units and reports every difference.
options:
  rounds:
    description: Comparisons to try; the first one without a difference ends the loop.
    type: int
    default: 10
author: reaper.systemd contributors
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reaper.systemd.plugins.module_utils import systemd_units


def compare_once():
    shown_before, init_before = systemd_units.read_units()
    answer = systemd_units.ask_systemd()
    shown_after, init_after = systemd_units.read_units()
    differences = {}
    for name in sorted(set(answer.units) | set(shown_before) | set(shown_after)):
        bus = answer.units[name].as_dict() if name in answer.units else None
        before = shown_before[name].as_dict() if name in shown_before else None
        after = shown_after[name].as_dict() if name in shown_after else None
        if bus != before and bus != after:
            differences[name] = {"bus": bus, "systemctl": before}
    if answer.init_scope_cgroup not in (init_before, init_after):
        differences["init.scope"] = {"bus": answer.init_scope_cgroup, "systemctl": init_before}
    return answer, differences


def main():
    module = AnsibleModule(argument_spec=dict(rounds=dict(type="int", default=10)), supports_check_mode=True)
    rounds = []
    for _round in range(module.params["rounds"]):
        answer, differences = compare_once()
        rounds.append(sorted(differences))
        if not differences:
            break
    module.exit_json(
        changed=False,
        source=answer.source,
        bus_problem=answer.bus_problem,
        units=len(answer.units),
        version=answer.version,
        systemctl_version=systemd_units.systemd_version(),
        differing_units_per_round=rounds,
        differences=differences,
    )


if __name__ == "__main__":
    main()
