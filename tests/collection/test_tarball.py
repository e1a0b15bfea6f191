"""The tarball holds the collection and only it, installs, and verifies."""

import json
import shutil
import tarfile

from conftest import JUNK, expected_files, keep, run


def tarball_files(tarball):
    with tarfile.open(tarball) as archive:
        return sorted(member.name for member in archive.getmembers() if member.isfile())


def test_tarball_lists_exactly_the_collection_files(tarball, tracked):
    listing = tarball_files(tarball)
    keep('tarball-listing.txt', '\n'.join(['tarball %s:' % tarball.name] + ['  ' + name for name in listing]) + '\n')

    expected = expected_files(tracked)
    assert sorted(set(listing) - expected) == [], 'in the tarball but not expected'
    assert sorted(expected - set(listing)) == [], 'expected but missing from the tarball'


# Directories that exist only in a developer's tree.
JUNK_DIRS = ('venv', 'env-py311', 'htmlcov', 'build', 'dist', 'reaper_systemd.egg-info', 'reaper-report')
DEVELOPMENT_DIRS = ('tests', 'molecule', 'tools', 'mk', 'changelogs/fragments')
DEVELOPMENT_FILES = ('Makefile', 'galaxy.yml', 'requirements-test.txt', 'requirements.yml', 'ruff.toml', 'coverage.xml')


def test_no_seeded_junk_and_no_development_file_reaches_the_tarball(tarball):
    leaked = [
        name
        for name in tarball_files(tarball)
        if name in JUNK
        or name in DEVELOPMENT_FILES
        or name.startswith(tuple(d + '/' for d in JUNK_DIRS + DEVELOPMENT_DIRS))
        or any(part.startswith('.') or part == '__pycache__' for part in name.split('/'))
        or name.endswith(('.pyc', '.orig', '~', '.swp', '.tar.gz'))
    ]
    assert leaked == []


def test_the_files_users_need_are_in_the_tarball(tarball):
    listing = set(tarball_files(tarball))
    for name in (
        'README.md',
        'meta/runtime.yml',
        'meta/execution-environment.yml',
        'requirements.txt',
        'bindep.txt',
        'plugins/modules/process_facts.py',
        'plugins/modules/reap.py',
        'plugins/modules/killmode_dropin.py',
        'plugins/filter/report.py',
        'plugins/action/fleet_report.py',
        'plugins/modules/fleet_report.py',
        'playbooks/vars/audit_report.yml',
        'roles/cleanup_timer/README.md',
        'roles/cleanup_timer/tasks/main.yml',
        'roles/killmode_hardening/README.md',
        'roles/killmode_hardening/tasks/main.yml',
        'playbooks/audit.yml',
        'playbooks/remediate.yml',
        'playbooks/remediate_alert.yml',
        'extensions/eda/rulebooks/reaper_alerts.yml',
        'docs/docsite/links.yml',
        'docs/docsite/extra-docs.yml',
        'docs/examples/site.yml',
        'changelogs/changelog.yaml',
    ):
        assert name in listing


def test_installed_collection_verifies_offline(installed, user_env):
    out = run(['ansible-galaxy', 'collection', 'verify', '--offline', 'reaper.systemd'], env=user_env).stdout
    keep('verify.txt', out)
    assert "Successfully verified that checksums for 'reaper.systemd:" in out


def test_verify_notices_a_changed_file(installed, user_env, work_dir):
    copy = work_dir / 'tampered' / 'ansible_collections' / 'reaper' / 'systemd'
    shutil.copytree(installed, copy)
    with open(copy / 'plugins' / 'modules' / 'reap.py', 'a') as module:
        module.write('# changed after install\n')
    env = dict(user_env, ANSIBLE_COLLECTIONS_PATH=str(work_dir / 'tampered'))
    proc = run(['ansible-galaxy', 'collection', 'verify', '--offline', 'reaper.systemd'], env=env, check=False)
    assert proc.returncode != 0
    assert 'plugins/modules/reap.py' in proc.stdout


def test_ansible_finds_reaper_systemd_only_where_it_was_installed(installed, user_env):
    out = run(['ansible-galaxy', 'collection', 'list', 'reaper.systemd', '--format', 'json'], env=user_env).stdout
    found = json.loads(out[out.index('{') :])
    assert list(found) == [str(installed.parent.parent)]
    assert found[str(installed.parent.parent)]['reaper.systemd']['version'] == '0.1.0'
