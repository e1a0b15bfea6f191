"""`antsibull-changelog release` for the version in galaxy.yml, on a temporary copy, gives a clean changelog.

The checks are about structure, not wording, so new fragments keep the test valid: one release
summary; every module, filter, role and playbook listed once, in its "new" section; no bugfix
entry (there is no earlier release whose bugs could have been fixed); no change entry that
announces new content a second time.
"""

import datetime
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, keep, run

NEW_CONTENT = re.compile(r'\bnew (module|role|playbook|filter)s?\b', re.I)


@pytest.fixture(scope='module')
def release(work_dir, tracked, user_env):
    tree = work_dir / 'changelog' / 'ansible_collections' / 'reaper' / 'systemd'
    for name in tracked:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    version = yaml.safe_load((tree / 'galaxy.yml').read_text())['version']
    env = dict(user_env)
    env.pop('ANSIBLE_COLLECTIONS_PATH')  # antsibull-changelog points ansible-doc at the copy itself
    date = datetime.date.today().isoformat()
    proc = run(['antsibull-changelog', 'release', '--version', version, '--date', date], env=env, cwd=tree)
    markdown = (tree / 'CHANGELOG.md').read_text()
    keep('CHANGELOG.md', markdown)
    changes = yaml.safe_load((tree / 'changelogs' / 'changelog.yaml').read_text())
    return {'tree': tree, 'version': version, 'output': proc.stdout, 'markdown': markdown, 'changes': changes}


def _documented_filters():
    return sorted(
        yaml.safe_load(path.read_text())['DOCUMENTATION']['name'] for path in ROOT.glob('plugins/filter/*.yml')
    )


def test_one_release_with_one_summary(release):
    assert list(release['changes']['releases']) == [release['version']]
    summary = release['changes']['releases'][release['version']]['changes']['release_summary']
    assert isinstance(summary, str) and summary.strip()
    assert release['markdown'].count('Release Summary') == 2  # the table of contents and the section
    assert 'release_summary' not in release['output']


def test_every_module_filter_role_and_playbook_is_new_once(release):
    entry = release['changes']['releases'][release['version']]
    modules = sorted(path.stem for path in ROOT.glob('plugins/modules/*.py') if path.stem != '__init__')
    assert sorted(item['name'] for item in entry['modules']) == modules
    assert sorted(item['name'] for item in entry['plugins']['filter']) == _documented_filters()
    roles = sorted(path.parent.parent.name for path in ROOT.glob('roles/*/tasks/main.yml'))
    assert sorted(item['name'] for item in entry['objects']['role']) == roles
    playbooks = sorted(path.stem for path in ROOT.glob('playbooks/*.yml'))
    assert sorted(item['name'] for item in entry['objects']['playbook']) == playbooks

    markdown = release['markdown']
    for section in ('New Modules', 'New Roles', 'New Playbooks', 'New Plugins'):
        assert '### %s' % section in markdown
    # Only the "New ..." sections announce content; a minor change may start with the same name.
    new_sections = ''.join(part for part in re.split(r'^(?=### )', markdown, flags=re.M) if part.startswith('### New '))
    for name in modules + _documented_filters() + roles + playbooks:
        bullet = r'^\* reaper\\\.systemd\\\.%s \\- ' % re.escape(name.replace('_', '\\_'))
        found = len(re.findall(bullet, new_sections, re.M))
        assert found == 1, 'reaper.systemd.%s is not listed exactly once in the New sections' % name


def test_no_bugfix_and_no_second_announcement_in_a_first_release(release):
    changes = release['changes']['releases'][release['version']]['changes']
    assert 'bugfixes' not in changes, (
        'a first release fixes no bug: make these fragments trivial (or minor_changes): %s' % changes.get('bugfixes')
    )
    for section in ('major_changes', 'minor_changes'):
        repeated = [entry for entry in changes.get(section, []) if NEW_CONTENT.search(entry)]
        assert repeated == [], 'announced in the "new" sections already; make these trivial: %s' % repeated
    assert '### Bugfixes' not in release['markdown']


def test_fragments_are_consumed_and_the_changelog_lints(release):
    assert list((release['tree'] / 'changelogs' / 'fragments').glob('*.yml')) == []
    env = {k: v for k, v in os.environ.items() if k != 'ANSIBLE_COLLECTIONS_PATH'}
    proc = subprocess.run(['antsibull-changelog', 'lint-changelog-yaml', 'changelogs/changelog.yaml'],
                          cwd=release['tree'], env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    json.dumps(release['changes'])  # plain data: what Galaxy and antsibull-docs read
