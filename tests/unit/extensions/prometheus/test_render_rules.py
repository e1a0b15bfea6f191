# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""extensions/prometheus/render_rules.py: the shipped rules are the default rendering, other values
render valid durations and thresholds, bad values are refused naming them."""

import importlib.util
import os

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
SCRIPT = os.path.join(REPO, 'extensions', 'prometheus', 'render_rules.py')
SPEC = importlib.util.spec_from_file_location('render_rules', SCRIPT)
rr = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(rr)


def _template():
    with open(rr.TEMPLATE) as handle:
        return handle.read()


def _rules(text):
    return dict((rule['alert'], rule) for rule in yaml.safe_load(text)['groups'][0]['rules'])


def test_the_shipped_rule_file_is_the_default_rendering():
    with open(rr.RULES) as handle:
        shipped = handle.read()
    assert shipped == rr.render(_template()), 're-render: python3 extensions/prometheus/render_rules.py --output ...'
    assert rr.main(['--check', rr.RULES]) == 0


def test_every_alert_has_severity_summary_description_and_its_runbook_section():
    rules = _rules(rr.render(_template()))
    assert 'ReaperUnitZombies' in rules
    with open(os.path.join(REPO, 'docs', 'alerts.md')) as handle:
        headings = [line[3:].strip() for line in handle if line.startswith('## ')]
    for name, rule in rules.items():
        assert rule['labels']['severity'] in ('info', 'warning', 'critical'), name
        assert set(rule['annotations']) == {'summary', 'description', 'runbook_url'}, name
        assert rule['annotations']['runbook_url'] == rr.RUNBOOK_URL_BASE + '#' + name.lower()
        assert name in headings, 'docs/alerts.md has no section "## %s"' % name


def test_other_values_reach_the_rules():
    text = rr.render(
        _template(),
        {'zombies_min': '1', 'zombies_for': '1m', 'forecast_horizon': '30m', 'runbook_url_base': 'http://127.0.0.1/a'},
    )
    rules = _rules(text)
    assert rules['ReaperUnitZombies']['expr'] == 'reaper_unit_zombies >= 1'
    assert rules['ReaperUnitZombies']['for'] == '1m'
    assert ', 1800)' in rules['ReaperUnitTasksForecast']['expr'], 'a duration also gives its seconds'
    assert rules['ReaperHostPidsForecast']['annotations']['runbook_url'] == 'http://127.0.0.1/a#reaperhostpidsforecast'
    assert '# Rendered with: forecast_horizon=30m runbook_url_base=http://127.0.0.1/a zombies_for=1m zombies_min=1' in (
        text
    )
    assert rules['ReaperUnitLeftovers']['for'] == '30m', 'values not given keep their default'


@pytest.mark.parametrize(
    'name, value',
    [
        ('zombies_for', '15'),
        ('zombies_for', '1x'),
        ('zombies_for', ''),
        ('zombies_for', '30s1m'),
        ('zombies_for', '1m\nfor: 0s'),
        ('zombies_min', '2.5'),
        ('zombies_min', '-1'),
        ('zombies_growth_per_hour', 'five'),
        ('pid_usage_ratio', '80'),
        ('pid_usage_ratio', '0'),
        ('runbook_url_base', 'docs/alerts.md'),
        ('runbook_url_base', 'http://x/"{{ $value }}'),
        ('no_such_value', '1'),
    ],
)
def test_bad_values_are_refused_naming_them(name, value, capsys):
    with pytest.raises(rr.RenderError, match=name):
        rr.render(_template(), {name: value})
    assert rr.main(['--set', '%s=%s' % (name, value)]) == 2
    assert name in capsys.readouterr().err


def test_the_template_and_the_values_must_agree():
    with pytest.raises(rr.RenderError, match=r'\$\{typo_for\}'):
        rr.render(_template() + '# ${typo_for}\n')
    with pytest.raises(rr.RenderError, match='does not use: paused_for'):
        rr.render(_template().replace('${paused_for}', '1d'))


def test_check_fails_on_a_hand_edited_file(tmp_path, capsys):
    edited = tmp_path / 'rules.yml'
    edited.write_text(rr.render(_template()).replace('for: 30m', 'for: 1m', 1))
    assert rr.main(['--check', str(edited)]) == 1
    err = capsys.readouterr().err
    assert '+        for: 30m' in err and 'do not edit it' in err


def test_output_writes_the_file(tmp_path):
    out = tmp_path / 'lab.rules.yml'
    assert rr.main(['--set', 'leaks_for=2m', '--output', str(out)]) == 0
    assert _rules(out.read_text())['ReaperUnitEscapes']['for'] == '2m'
    assert os.listdir(str(tmp_path)) == ['lab.rules.yml']


def test_the_docs_list_every_value_with_its_default():
    with open(os.path.join(REPO, 'docs', 'alerts.md')) as handle:
        rows = dict(
            (cells[1].strip('` '), cells[2].strip())
            for cells in (line.split('|') for line in handle if line.startswith('| `'))
            if len(cells) > 3
        )
    for name, default, _kind, _text in rr.PARAMETERS:
        assert name in rows, 'docs/alerts.md does not list %s' % name
        if name != 'runbook_url_base':
            assert rows[name] == default, '%s: docs say %s, the script %s' % (name, rows[name], default)
