# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: unit_exemptions
short_description: The built-in exemptions of reaper.systemd, for roles that cannot import Python
version_added: 0.1.0
description:
  - Answers from the one definition of the services the collection does not act on
    (C(plugins/module_utils/unit_exemptions.py)), so that M(reaper.systemd.reap), the cleanup timer and the
    C(reaper.systemd.killmode_hardening) role can never disagree.
  - Two tiers. C(never_ours) (systemd's own services, the bus, per-user managers, this collection's cleanup) can
    never be lifted. C(by_design) (packaged units that set C(KillMode=process) on purpose, such as C(ssh.service) or
    C(cron.service)) are left alone unless an O(allow) entry lifts them.
  - With O(want=classify) (the default) it returns one dict per service name in O(_terms).
    With O(want=hardening_exemptions) it ignores O(_terms) and returns the built-in patterns that
    C(killmode_hardening) passes as exemptions, minus the by-design ones O(allow) lifts.
  - With O(want=check_patterns) it checks the names or globs in O(_terms) with the collection's rules (systemd's
    alphabet, no control or invisible characters, no leading C(-), no C(/) or C(..), at most 255 characters) and
    returns them; a bad one fails the lookup naming O(option) and the entry.
  - Any O(allow) entry that could match a never-ours unit fails the lookup, naming O(allow_option) and the entry.
author:
  - reaper.systemd maintainers (@reaper-systemd)
options:
  _terms:
    description: Service names to classify. A name without suffix means C(.service).
    type: list
    elements: str
    required: false
  allow:
    description: Names or globs that lift by-design entries.
    type: list
    elements: str
    default: []
  allow_option:
    description: The option name used in error messages about O(allow) (the caller's variable).
    type: str
    default: allow
  option:
    description: The option name used in error messages about O(_terms) with O(want=check_patterns).
    type: str
    default: _terms
  want:
    description: What to return.
    type: str
    choices: [classify, hardening_exemptions, check_patterns]
    default: classify
"""

EXAMPLES = r"""
- name: Refuse to harden a service that keeps its processes on purpose
  ansible.builtin.assert:
    that: item.allowed
    fail_msg: "{{ item.reason }}"
  loop: "{{ query('reaper.systemd.unit_exemptions', 'ssh', 'nginx') }}"

- name: Built-in exemptions with cron lifted
  ansible.builtin.debug:
    msg: "{{ query('reaper.systemd.unit_exemptions', want='hardening_exemptions', allow=['cron']) }}"
"""

RETURN = r"""
_raw:
  description:
    - With O(want=classify), one dict per name, in input order, with keys C(name) (normalised), C(tier)
      (V(never_ours), V(by_design) or V(null)), C(pattern), C(why), C(kill_mode), C(source) (by design only),
      C(allowed) (whether an action may touch the unit) and C(reason) (a sentence saying why the unit is left
      alone, V(null) for other units).
    - With O(want=hardening_exemptions), a list of glob patterns.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.lookup import LookupBase

from ansible_collections.reaper.systemd.plugins.module_utils import option_checks, unit_exemptions, unit_names


def _flatten(terms):
    names = []
    for term in terms or []:
        if isinstance(term, (list, tuple)):
            names.extend(term)
        else:
            names.append(term)
    return names


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        allow = self.get_option("allow") or []
        option = self.get_option("allow_option")
        problems = []
        for entry in allow:
            problem = unit_names.check_pattern(entry)
            if problem is None:
                problem = unit_exemptions.allow_problem(entry)
            if problem:
                problems.append(problem)
        if problems:
            raise AnsibleLookupError("%s: %s; nothing was changed" % (option, "; ".join(problems)))
        if self.get_option("want") == "hardening_exemptions":
            return unit_exemptions.hardening_exemptions(allow)
        if self.get_option("want") == "check_patterns":
            return self._checked_patterns(_flatten(terms), self.get_option("option"))
        found = []
        # Names are classified as given: whoever writes the drop-in validates
        # them and reports every bad one at once.
        for name in _flatten(terms):
            found.append(unit_exemptions.classify(to_text(name), allow))
        return found

    @staticmethod
    def _checked_patterns(patterns, option):
        """The patterns, each checked as every surface checks a unit pattern; AnsibleLookupError names the option."""
        try:
            return option_checks.string_list(option, patterns, unit_names.check_pattern)
        except option_checks.InvalidOption as exc:
            raise AnsibleLookupError("%s; nothing was changed" % exc)
