"""An execution environment that lists reaper.systemd gets exactly what the collection declares."""

import yaml

from conftest import keep, run

# ansible-builder leaves ansible-core (requirements.txt) out: the base image brings it.
EXPECTED = {
    'python': [],
    'system': [
        'openssh-client [platform:dpkg]  # from collection reaper.systemd',
        'openssh-clients [platform:rpm]  # from collection reaper.systemd',
    ],
}


def test_ansible_builder_introspect_reports_the_declared_requirements(installed, user_env):
    collections = installed.parent.parent.parent
    out = run(['ansible-builder', 'introspect', str(collections)], env=user_env).stdout
    keep('ansible-builder-introspect.txt', out)
    assert yaml.safe_load(out) == EXPECTED


def test_execution_environment_file_points_at_the_shipped_files(installed):
    meta = yaml.safe_load((installed / 'meta' / 'execution-environment.yml').read_text())
    assert meta['dependencies'] == {'python': 'requirements.txt', 'system': 'bindep.txt'}
    for name in meta['dependencies'].values():
        assert (installed / name).is_file()
