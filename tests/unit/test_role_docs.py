"""The role READMEs show the variables their meta/argument_specs.yml declares (tools/role_docs.py)."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('role_docs', ROOT / 'tools' / 'role_docs.py')
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)


def test_every_role_readme_matches_its_argument_specs():
    stale = role_docs.stale(ROOT)
    assert [str(entry[0].relative_to(ROOT)) for entry in stale] == [], 'run `make role-docs`'


def test_every_option_appears_in_the_readme():
    import yaml

    for role_dir in role_docs.role_dirs(ROOT):
        readme = (role_dir / 'README.md').read_text()
        specs = yaml.safe_load((role_dir / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
        for name in specs['main']['options']:
            assert '| `%s` |' % name in readme, '%s: %s is not documented' % (role_dir.name, name)


@pytest.fixture
def role_copy(tmp_path):
    shutil.copytree(ROOT / 'roles' / 'cleanup_timer', tmp_path / 'roles' / 'cleanup_timer')
    return tmp_path


def test_a_changed_default_makes_the_check_fail_until_regenerated(role_copy, capsys):
    specs = role_copy / 'roles' / 'cleanup_timer' / 'meta' / 'argument_specs.yml'
    specs.write_text(specs.read_text().replace('default: 15min', 'default: 7min'))

    assert role_docs.main(['--check', '--root', str(role_copy)]) == 1
    assert '+| `cleanup_timer_interval` | str | `"7min"` |' in capsys.readouterr().out

    assert role_docs.main(['--root', str(role_copy)]) == 0
    assert role_docs.stale(role_copy) == []
    readme = (role_copy / 'roles' / 'cleanup_timer' / 'README.md').read_text()
    assert '`"7min"`' in readme and '`"15min"`' not in readme
    assert readme.startswith('# reaper.systemd.cleanup_timer\n'), 'the prose around the table is kept'


def test_a_readme_without_markers_is_an_error(role_copy):
    (role_copy / 'roles' / 'cleanup_timer' / 'README.md').write_text('# cleanup_timer\n\nno table here\n')
    with pytest.raises(SystemExit, match='markers'):
        role_docs.stale(role_copy)


def test_documentation_markup_becomes_markdown():
    assert role_docs.markdown('O(a=1), C(b), V(c), M(reaper.systemd.reap), I(d), B(e)') == (
        '`a=1`, `b`, `c`, `reaper.systemd.reap`, *d*, **e**'
    )
    assert role_docs.cell('a |\n b') == 'a \\| b'
