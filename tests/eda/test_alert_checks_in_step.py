# The three places that decide which alert fields are accepted stay in step: the rulebook's conditions
# (Java regular expressions, checked before any playbook runs), remediate_alert's own checks (Python, through
# Ansible's `match` test) and the shipped Prometheus rules (the unit alerts are those whose summary names
# the unit). Each pattern refuses every payload the other tests post, and accepts the valid values.
import os
import re

import pytest
import yaml
from alert_inputs import ROOT, payloads, valid_labels

RULEBOOK = os.path.join(ROOT, "extensions", "eda", "rulebooks", "reaper_alerts.yml")
PLAYBOOK = os.path.join(ROOT, "playbooks", "remediate_alert.yml")
PROM_RULES = os.path.join(ROOT, "extensions", "prometheus", "reaper-systemd.rules.yml")
NAMES_IN_CONDITION = re.compile(r"event\.labels\.alertname in \[([^]]*)\]")
REGEX_IN_CONDITION = re.compile(r'event\.labels\.(host|unit) is regex\("([^"]*)"\)')
MATCH_IN_PLAYBOOK = re.compile(r"__reaper_alert_(host|unit) is match\('([^']*)'\)")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def shipped_unit_alerts():
    groups = load(PROM_RULES)["groups"]
    return {r["alert"] for g in groups for r in g["rules"] if "$labels.unit" in r["annotations"]["summary"]}


def rulebook_conditions():
    rules = load(RULEBOOK)[0]["rules"]
    return {rule["name"]: rule["condition"] for rule in rules}


def condition_checks(condition):
    names = {name.strip().strip('"') for name in NAMES_IN_CONDITION.search(condition).group(1).split(",")}
    return names, dict(REGEX_IN_CONDITION.findall(condition))


def playbook_checks():
    play = load(PLAYBOOK)[0]
    check = next(task for task in play["tasks"] if task["name"] == "Check the alert and the allowed actions")
    patterns = dict(m for cond in check["ansible.builtin.assert"]["that"] for m in MATCH_IN_PLAYBOOK.findall(cond))
    # the task's YAML holds the Jinja string literal: '\\Z' in it is the pattern's \Z
    return set(check["vars"]["__reaper_alert_names"]), {k: v.replace("\\\\", "\\") for k, v in patterns.items()}


def as_python(java_pattern):
    """Java's \\A...\\z is Python's \\A...\\Z (both: the very start and the very end of the input)."""
    assert java_pattern.startswith("\\A") and java_pattern.endswith("\\z"), java_pattern
    return java_pattern[:-2] + "\\Z"


def test_every_rule_checks_the_shipped_unit_alerts_and_both_fields():
    conditions = rulebook_conditions()
    assert len(conditions) == 2
    for name, condition in conditions.items():
        names, patterns = condition_checks(condition)
        assert names == shipped_unit_alerts(), name
        assert sorted(patterns) == ["host", "unit"], name


def test_the_playbook_checks_the_same_names_with_the_same_patterns():
    names, patterns = playbook_checks()
    for condition in rulebook_conditions().values():
        rule_names, rule_patterns = condition_checks(condition)
        assert names == rule_names
        # Ansible's match test anchors at the start itself (re.match)
        assert {k: "\\A" + v for k, v in patterns.items()} == {k: as_python(v) for k, v in rule_patterns.items()}


@pytest.mark.parametrize("field", ["host", "unit"])
def test_the_patterns_refuse_every_payload(field):
    _names, patterns = condition_checks(next(iter(rulebook_conditions().values())))
    pattern = re.compile(as_python(patterns[field]))
    valid = valid_labels("app-1@x:y_z.service")[field]
    assert pattern.match(valid)
    for kind, suffix in payloads("/tmp/m").items():
        assert not pattern.match(valid + suffix), kind
    assert not pattern.match("app-*.service") and not pattern.match("-app.service") and not pattern.match("")
