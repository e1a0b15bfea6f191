"""The collection as a user gets it: a tarball built from a cluttered tree, installed, run by FQCN.

Fixtures (one build per test session):
  source_tree     a copy of the checkout's files (what git lists) seeded with the junk a developer's tree
                  collects: virtualenvs under any name, caches, coverage, build output, ansible-test output
  tarball         `ansible-galaxy collection build` of that copy
  installed       the tarball installed into an empty collections path
  user_env        an environment in which Ansible finds reaper.systemd only there
  systemd_host    a lab container (localhost/reaper-lab:bookworm) booted with systemd, reached with nsenter
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB_IMAGE = os.environ.get('REAPER_COLLECTION_TEST_IMAGE', 'localhost/reaper-lab:bookworm')
VENV_SITE = next(p for p in sys.path if p.endswith('site-packages') and Path(p, 'ansible').is_dir())
# The tools (ansible-galaxy, ansible-builder, antsibull-changelog) next to this Python, as `make` runs them.
os.environ['PATH'] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get('PATH', '')])

# Junk a developer's tree collects; none of it may reach the tarball.
JUNK = {
    '.venv2/pyvenv.cfg': 'home = /usr/bin\n',
    '.venv2/lib/python3.11/site-packages/six.py': 'x = 1\n',
    'venv/pyvenv.cfg': 'home = /usr/bin\n',
    'venv/lib/python3.11/site-packages/yaml/__init__.py': 'x = 1\n',
    'venv/lib/python3.11/site-packages/pkg/data.yml': 'a: 1\n',
    'env-py311/pyvenv.cfg': 'home = /usr/bin\n',
    'env-py311/bin/activate': '# activate\n',
    '.tox/py311/log/1.log': 'log\n',
    'htmlcov/index.html': '<html></html>\n',
    'htmlcov/status.json': '{}\n',
    '.coverage': 'coverage\n',
    '.coverage.host.1234.XyZ': 'coverage\n',
    'coverage.xml': '<coverage/>\n',
    'plugins/modules/__pycache__/reap.cpython-311.pyc': 'pyc',
    'plugins/module_utils/__pycache__/scan.cpython-311.pyc': 'pyc',
    'plugins/module_utils/scan.pyc': 'pyc',
    'roles/cleanup_timer/tasks/__pycache__/x.cpython-311.pyc': 'pyc',
    'roles/cleanup_timer/tasks/present.yml.orig': 'orig\n',
    'roles/cleanup_timer/templates/reaper-cleanup.service.j2~': 'backup\n',
    'roles/killmode_hardening/tasks/.main.yml.swp': 'swap\n',
    'docs/.ipynb_checkpoints/notes.md': 'notes\n',
    'docs/.venv/lib/python3.11/site-packages/pkg/docs/README.md': 'x\n',
    'plugins/modules/__pycache__/stale.py': 'x = 1\n',
    'roles/cleanup_timer/.tox/py/share/defaults/main.yml': 'a: 1\n',
    'build/collections/x.txt': 'x\n',
    'build/lib/reaper/x.py': 'x = 1\n',
    'dist/reaper-systemd-0.0.1.tar.gz': 'old\n',
    '.pytest_cache/v/cache/nodeids': '[]\n',
    '.ruff_cache/0.17.6/123': 'x\n',
    '.mypy_cache/3.11/x.json': '{}\n',
    'reaper_systemd.egg-info/PKG-INFO': 'Name: x\n',
    'tests/output/.tmp/sanity.json': '{}\n',
    'tests/output/junit/python3.11-units.xml': '<x/>\n',
    'reaper-report/report.json': '{}\n',
    'molecule/default/.molecule/state.yml': 'a: 1\n',
    '.ansible/collections/ansible_collections/x/y/galaxy.yml': 'a: 1\n',
    '.DS_Store': 'x',
    'playbooks/.DS_Store': 'x',
    'reaper-systemd-0.1.0.tar.gz': 'old build\n',
}

# The files a user needs, by rule over what the checkout tracks. Everything else git tracks
# (tests, molecule, tools, Makefile, galaxy.yml, fragments, lint settings) stays out too.
TOP_FILES = {
    'README.md',
    'COPYING',
    'CHANGELOG.md',
    'requirements.txt',
    'bindep.txt',
    'meta/runtime.yml',
    'meta/execution-environment.yml',
    'changelogs/changelog.yaml',
    'changelogs/config.yaml',
}
# (directory, suffixes, recursive)
TREES = [
    ('docs', ('.md', '.yml', '.rst'), True),
    ('playbooks', ('.yml',), True),
    ('extensions/eda', ('.yml', '.md', '.txt'), True),
    ('plugins/modules', ('.py',), False),
    ('plugins/module_utils', ('.py',), False),
    ('plugins/filter', ('.py', '.yml'), False),
    ('plugins/lookup', ('.py',), False),
    ('plugins/action', ('.py',), False),
    ('plugins/plugin_utils', ('.py', '.j2', '.css', '.js', '.json'), True),
    ('roles', None, True),
    ('extensions/prometheus', ('.yml', '.py'), True),
]
# Files ansible-galaxy writes into every tarball.
GENERATED = {'MANIFEST.json', 'FILES.json'}


def expected_files(tracked):
    expected = set(GENERATED)
    for name in tracked:
        path = Path(name)
        if name in TOP_FILES:
            expected.add(name)
            continue
        for directory, suffixes, recursive in TREES:
            inside = path.parent.as_posix() == directory or (recursive and path.as_posix().startswith(directory + '/'))
            if inside and (suffixes is None or path.suffix in suffixes):
                expected.add(name)
    return expected


# What a reviewer wants to see of a run (tarball listing, site.yml output, changelog, introspect),
# kept in tests/output/collection/ (ignored by git) as well as printed.
EVIDENCE_DIR = ROOT / 'tests' / 'output' / 'collection'


def keep(name, text):
    EVIDENCE_DIR.mkdir(parents=True, exist_ok=True)
    (EVIDENCE_DIR / name).write_text(text)
    print(text)


def run(cmd, env=None, cwd=None, check=True, timeout=1800):
    """Run a command; on failure the assertion shows its whole output.

    stdout and stderr stay apart: tests parse stdout only, so a warning that a dependency prints on
    stderr (a deprecation, a locale notice) can never end up inside the JSON or YAML they read.
    """
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert proc.returncode == 0, described(cmd, proc)
    return proc


def described(cmd, proc):
    """A finished command for an assertion message: its exit status, stdout and stderr, each labelled."""
    return '%s exited %d\n--- stdout:\n%s\n--- stderr:\n%s' % (
        ' '.join(map(str, cmd)),
        proc.returncode,
        proc.stdout,
        proc.stderr,
    )


def checkout_files():
    """What git lists in the checkout (tracked, plus new files not ignored), as ansible-test sees it."""
    out = run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT).stdout
    names = []
    for name in out.split('\0'):
        path = ROOT / name
        if name and path.exists() and not path.is_symlink():
            names.append(name)
    return sorted(names)


@pytest.fixture(scope='session')
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('collection')


@pytest.fixture(scope='session')
def tracked():
    return checkout_files()


@pytest.fixture(scope='session')
def source_tree(work_dir, tracked):
    tree = work_dir / 'src'
    for name in tracked:
        dest = tree / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest)
    for name, content in JUNK.items():
        dest = tree / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
    return tree


@pytest.fixture(scope='session')
def tarball(work_dir, source_tree):
    dist = work_dir / 'dist'
    run(['ansible-galaxy', 'collection', 'build', '--output-path', str(dist), str(source_tree)])
    built = sorted(dist.glob('reaper-systemd-*.tar.gz'))
    assert len(built) == 1, built
    return built[0]


@pytest.fixture(scope='session')
def user_env(work_dir):
    """Ansible sees the installed collection and the collections of the `ansible` package
    (community.docker for the lab connection), never the checkout."""
    env = dict(os.environ)
    collections = work_dir / 'collections'
    env['ANSIBLE_COLLECTIONS_PATH'] = '%s:%s' % (collections, VENV_SITE)
    env['ANSIBLE_FORCE_COLOR'] = '0'
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_STDOUT_CALLBACK'] = 'ansible.builtin.default'
    env['ANSIBLE_CALLBACK_RESULT_FORMAT'] = 'json'
    env['ANSIBLE_HOST_KEY_CHECKING'] = 'false'
    env['ANSIBLE_LOCAL_TEMP'] = str(work_dir / 'ansible-local')
    env['ANSIBLE_HOME'] = str(work_dir / 'ansible-home')
    env['CONTAINERS_CONF'] = str(ROOT / 'tests' / 'lab' / 'containers.conf')
    env['ANSIBLE_DEPRECATION_WARNINGS'] = 'false'
    for name in ('ANSIBLE_CONFIG', 'ANSIBLE_ROLES_PATH', 'ANSIBLE_LIBRARY', 'ANSIBLE_MODULE_UTILS'):
        env.pop(name, None)
    return env


@pytest.fixture(scope='session')
def installed(work_dir, tarball, user_env):
    collections = work_dir / 'collections'
    assert not collections.exists(), 'the collections path must start empty'
    run(['ansible-galaxy', 'collection', 'install', '--offline', '-p', str(collections), str(tarball)], env=user_env)
    path = collections / 'ansible_collections' / 'reaper' / 'systemd'
    assert (path / 'MANIFEST.json').is_file()
    return path


@pytest.fixture(scope='session')
def play_dir(work_dir):
    """Where the user's playbooks and inventories live (no collections/ next to them)."""
    path = work_dir / 'user'
    path.mkdir()
    return path


def _podman(*args, env, check=True, timeout=300):
    return run(['podman', *args], env=env, check=check, timeout=timeout)


def _wait_in(name, env, what, script, timeout=120):
    """Run the shell SCRIPT in container NAME until it exits 0 and return its stdout; fail naming
    WHAT after TIMEOUT seconds. Lab preconditions are waited for, never assumed from how long the
    steps before them took (that depends on the machine and on what else runs on it)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = _podman('exec', name, 'sh', '-c', script, env=env, check=False)
        if proc.returncode == 0:
            return proc.stdout.strip()
        assert time.monotonic() < deadline, 'no %s after %d s:\n%s' % (what, timeout, described(proc.args, proc))
        time.sleep(0.5)


@pytest.fixture(scope='session')
def systemd_host(user_env, play_dir):
    """A lab container running systemd 252 as PID 1, with a service of its own (myapp) whose
    KillMode=process leaves a worker behind: the host a site.yml manages."""
    name = 'reaper-collection-test-%d' % os.getpid()
    _podman('rm', '-f', '-t', '0', name, env=user_env, check=False)
    _podman(
        'run', '-d', '--name', name, '--systemd=always', '--cap-add', 'SYS_PTRACE',
        LAB_IMAGE, '/lib/systemd/systemd',
        env=user_env,
    )  # fmt: skip
    try:
        _wait_in(
            name,
            user_env,
            'systemd running in %s' % name,
            'state=$(systemctl is-system-running); echo "$state"; [ "$state" = running ] || [ "$state" = degraded ]',
        )
        unit = (
            '[Unit]\nDescription=an application of the user\n'
            # A short stop timeout: under podman on cgroup v1 a restart after a change to KillMode=mixed
            # waits the whole timeout (docs/testing.md), which a real host does not.
            '[Service]\nKillMode=process\nTimeoutStopSec=5\n'
            "ExecStart=/bin/sh -c 'sleep infinity & exec sleep infinity'\n"
            '[Install]\nWantedBy=multi-user.target\n'
        )
        subprocess.run(
            ['podman', 'exec', '-i', name, 'sh', '-c', 'cat > /etc/systemd/system/myapp.service'],
            input=unit,
            text=True,
            env=user_env,
            check=True,
        )
        _podman('exec', name, 'systemctl', 'daemon-reload', env=user_env)
        _podman('exec', name, 'systemctl', 'start', 'myapp.service', env=user_env)
        # The shell forks its worker, then execs the main sleep: only then may the restart come.
        worker = _wait_in(
            name,
            user_env,
            "myapp's worker",
            'main=$(systemctl show -p MainPID --value myapp.service); '
            '[ "$(cat /proc/$main/comm)" = sleep ] && pgrep -P "$main" -x sleep',
        )
        # KillMode=process: the restart leaves the first invocation's worker behind (a survivor).
        _podman('exec', name, 'systemctl', 'restart', 'myapp.service', env=user_env)
        # reap plans only for processes older than 1 s at its scan (a PID reused within a clock tick).
        _wait_in(name, user_env, "myapp's survivor %s 2 s old" % worker, '[ "$(ps -o etimes= -p %s)" -ge 2 ]' % worker)
        leader = _podman('inspect', '-f', '{{.State.Pid}}', name, env=user_env).stdout.strip()
        inventory = play_dir / 'lab.ini'
        inventory.write_text(
            # nsenter into the container's namespaces: several times faster per task than `podman exec`.
            # Ansible is root in the container already, and the image has no sudo.
            '[app_servers]\n%s ansible_connection=community.docker.nsenter ansible_nsenter_pid=%s '
            'ansible_become=false ansible_python_interpreter=/usr/bin/python3\n' % (name, leader)
        )
        yield {'name': name, 'inventory': inventory}
    finally:
        _podman('rm', '-f', '-t', '0', name, env=user_env, check=False)


@pytest.fixture(scope='session')
def local_inventory(play_dir):
    inventory = play_dir / 'local.ini'
    inventory.write_text('[local]\nlocalhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return inventory


def json_of(text):
    """The result of an ad-hoc `ansible` run with ADHOC_JSON: the JSON document after `=>`."""
    return json.loads(text[text.index('=> {') + 3 :])


# Ad-hoc results as JSON, whatever the callback's result format for playbooks.
ADHOC_JSON = {'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json', 'ANSIBLE_LOAD_CALLBACK_PLUGINS': '0'}
