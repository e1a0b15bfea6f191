"""Every module, role and playbook of the installed collection, called by its FQCN the way a user does.

On this machine (no systemd as PID 1) the roles must end in their preflight; in a lab container
with systemd they do their job inside the user's own site.yml (docs/examples/site.yml, read from
the installed collection).
"""

import json
import os
import re
import shutil

import pytest

from conftest import ADHOC_JSON, json_of, keep, run

MODULES = ('process_facts', 'reap', 'killmode_dropin')
ROLES = ('cleanup_timer', 'killmode_hardening')
FILTERS = (
    'reaper_host_result',
    'reaper_report',
    'reaper_report_compare',
    'reaper_report_from_json',
    'reaper_report_html',
    'reaper_report_json',
    'reaper_report_markdown',
    'reaper_report_merge',
    'reaper_report_path',
    'reaper_report_reaches',
    'reaper_report_summary',
    'reaper_report_text',
)
# Written by the roles on a host they deploy to.
ROLE_PATHS = ('/etc/reaper-systemd', '/usr/local/lib/reaper-systemd', '/etc/systemd/system/reaper-cleanup.timer')


def recap(output, host):
    match = re.search(r'^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(host),
                      output, re.M)  # fmt: skip
    assert match, 'no PLAY RECAP line for %s in:\n%s' % (host, output)
    return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, match.groups())))


def _docs(user_env, kind, names):
    fqcns = ['reaper.systemd.' + name for name in names]
    return json.loads(run(['ansible-doc', '--json', '-t', kind, *fqcns], env=user_env).stdout)


def test_every_module_is_documented_by_fqcn(installed, user_env):
    docs = _docs(user_env, 'module', MODULES)
    for name in MODULES:
        assert docs['reaper.systemd.' + name]['doc']['module'] == name
        assert docs['reaper.systemd.' + name]['doc']['filename'].startswith(str(installed))


def test_every_role_is_documented_by_fqcn(installed, user_env):
    docs = _docs(user_env, 'role', ROLES)
    for name in ROLES:
        assert docs['reaper.systemd.' + name]['path'].startswith(str(installed))
        assert 'main' in docs['reaper.systemd.' + name]['entry_points']


def test_every_filter_is_documented_by_fqcn(installed, user_env):
    docs = _docs(user_env, 'filter', FILTERS)
    assert sorted(docs) == sorted('reaper.systemd.' + name for name in FILTERS)
    listed = json.loads(run(['ansible-doc', '--json', '-t', 'filter', '-l', 'reaper.systemd'], env=user_env).stdout)
    assert sorted(listed) == sorted('reaper.systemd.' + name for name in FILTERS), 'a filter is missing from FILTERS'


# ------------------------------------------------------------------ this machine: no systemd as PID 1


def test_process_facts_reports_a_host_without_systemd(installed, user_env, local_inventory):
    out = run(['ansible', '-i', str(local_inventory), 'localhost', '-m', 'reaper.systemd.process_facts'],
              env=dict(user_env, **ADHOC_JSON)).stdout  # fmt: skip
    facts = json_of(out)['ansible_facts']['reaper']
    assert facts['host']['pid_max'] > 0
    assert facts['units'] == {}


def _snapshot(paths):
    return {path: os.path.exists(path) and os.stat(path).st_mtime_ns for path in paths}


def test_roles_end_in_their_preflight_on_a_host_without_systemd(installed, user_env, local_inventory, play_dir):
    assert not os.path.isdir('/run/systemd/system'), 'this test needs a machine without systemd as PID 1'
    playbook = play_dir / 'no-systemd.yml'
    playbook.write_text(
        '- name: Both roles on a host without systemd\n'
        '  hosts: local\n'
        '  gather_facts: false\n'
        '  roles:\n'
        '    - role: reaper.systemd.killmode_hardening\n'
        '      vars: {killmode_hardening_units: [cron.service]}\n'
        '    - role: reaper.systemd.cleanup_timer\n'
        '  tasks:\n'
        '    - name: The play goes on after the roles\n'
        '      ansible.builtin.debug: {msg: play goes on}\n'
    )
    before = _snapshot(ROLE_PATHS)
    out = run(['ansible-playbook', '-i', str(local_inventory), '--diff', str(playbook)], env=user_env).stdout
    keep('preflight-no-systemd.txt', out)
    for role, what in (('killmode_hardening', 'no drop-in to write'), ('cleanup_timer', 'nothing to deploy')):
        message = re.search(r'"msg": "(reaper\.systemd\.%s: localhost does not run systemd as PID 1[^"]*)"' % role, out)
        assert message, 'no preflight message of %s' % role
        assert what in message.group(1) and 'changed nothing' in message.group(1)
    assert 'play goes on' in out
    assert recap(out, 'localhost')['changed'] == 0
    assert _snapshot(ROLE_PATHS) == before


def test_audit_playbook_by_fqcn_writes_the_report(installed, user_env, local_inventory, play_dir):
    report_dir = play_dir / 'report'
    out = run(['ansible-playbook', '-i', str(local_inventory), 'reaper.systemd.audit',
               '-e', 'reaper_report_dir=%s' % report_dir], env=user_env, cwd=play_dir).stdout  # fmt: skip
    reports = sorted(report_dir.rglob('report.json'))
    assert reports, 'no report.json under %s:\n%s' % (report_dir, out)
    report = json.loads(reports[-1].read_text())
    assert 'localhost' in json.dumps(report['hosts'])


# ------------------------------------------------------------------ a lab host with systemd


def _ansible(systemd_host, user_env, module, args, *options):
    arguments = ['-a', json.dumps(args)] if args else []
    return run(['ansible', '-i', str(systemd_host['inventory']), 'app_servers', '-m', module, *arguments, *options],
               env=dict(user_env, **ADHOC_JSON))  # fmt: skip


def _exec(systemd_host, user_env, *cmd, check=True):
    return run(['podman', 'exec', systemd_host['name'], *cmd], env=user_env, check=check)


def test_modules_by_fqcn_on_a_systemd_host(installed, user_env, systemd_host):
    facts = json_of(_ansible(systemd_host, user_env, 'reaper.systemd.process_facts', {}).stdout)
    unit = facts['ansible_facts']['reaper']['units']['myapp.service']
    assert unit['kill_mode'] == 'process'
    assert unit['counts']['survivors'] >= 1, unit

    plan = json_of(_ansible(systemd_host, user_env, 'reaper.systemd.reap',
                            {'units': ['myapp.service'], 'actions': ['kill_survivors']}, '--check').stdout)  # fmt: skip
    planned = [(item['action'], item['unit']) for item in plan['plan']]
    assert ('kill_survivors', 'myapp.service') in planned, plan
    survivor = [item['pid'] for item in plan['plan'] if item['action'] == 'kill_survivors'][0]
    _exec(systemd_host, user_env, 'kill', '-0', str(survivor))  # check mode signalled nothing

    dropin = {'name': 'myapp.service', 'settings': {'kill_mode': 'mixed'}, 'content': '[Service]\nKillMode=mixed\n'}
    out = _ansible(systemd_host, user_env, 'reaper.systemd.killmode_dropin', {'units': [dropin]}, '--check', '--diff')
    assert 'KillMode=mixed' in out.stdout, out.stdout
    assert json_of(out.stdout)['changed'] is True
    gone = _exec(systemd_host, user_env, 'test', '-e', '/etc/systemd/system/myapp.service.d', check=False)
    assert gone.returncode != 0, 'check mode wrote the drop-in'


@pytest.fixture(scope='module')
def site_yml(installed, play_dir):
    """The site.yml example of the README, as shipped in the tarball."""
    path = play_dir / 'site.yml'
    shutil.copy(installed / 'docs' / 'examples' / 'site.yml', path)
    return path


def test_site_yml_runs_both_roles_and_the_users_handler_only_at_the_end(user_env, systemd_host, site_yml):
    out = run(['ansible-playbook', '-i', str(systemd_host['inventory']), '--diff', str(site_yml)], env=user_env).stdout
    keep('site-yml-run.txt', out)
    lines = out.splitlines()
    handler = [i for i, line in enumerate(lines) if line.startswith('RUNNING HANDLER [Restart myapp]')]
    role_tasks = [i for i, line in enumerate(lines) if line.startswith('TASK [reaper.systemd.')]
    assert len(handler) == 1, 'the handler must run exactly once'
    assert role_tasks and handler[0] > max(role_tasks), 'the handler ran before the roles had finished'
    assert any('TASK [reaper.systemd.cleanup_timer : Enable and start the timer]' in line for line in lines)
    assert not any(line.startswith('RUNNING HANDLER [reaper.systemd') for line in lines), 'a role ran a handler'

    _exec(systemd_host, user_env, 'test', '-f', '/etc/systemd/system/myapp.service.d/50-reaper-killmode.conf')
    kill_mode = _exec(systemd_host, user_env, 'systemctl', 'show', '-p', 'KillMode', '--value', 'myapp.service')
    assert kill_mode.stdout.strip() == 'mixed', 'systemd was not reloaded after the drop-in was written'
    timer = _exec(systemd_host, user_env, 'systemctl', 'is-active', 'reaper-cleanup.timer')
    assert timer.stdout.strip() == 'active'
    # journalctl -x explains the cleanup's messages: the catalog is installed and compiled.
    explained = _exec(systemd_host, user_env, 'journalctl', '--dump-catalog', '8115c2d3f34749edb4efe6b8d8f25918')
    assert 'Subject: reaper.systemd cleanup run' in explained.stdout


def test_site_yml_is_idempotent_and_check_diff_shows_no_change(user_env, systemd_host, site_yml):
    again = run(['ansible-playbook', '-i', str(systemd_host['inventory']), str(site_yml)], env=user_env).stdout
    assert recap(again, systemd_host['name'])['changed'] == 0, again
    assert 'RUNNING HANDLER' not in again

    check = run(['ansible-playbook', '-i', str(systemd_host['inventory']), '--check', '--diff', str(site_yml)],
                env=user_env).stdout  # fmt: skip
    assert recap(check, systemd_host['name'])['changed'] == 0, check


def test_each_role_can_be_included_twice_in_one_play(user_env, systemd_host, play_dir):
    playbook = play_dir / 'twice.yml'
    include = (
        '    - name: Include killmode_hardening\n'
        '      ansible.builtin.include_role: {name: reaper.systemd.killmode_hardening}\n'
        '      vars: {killmode_hardening_units: [{name: myapp.service, kill_mode: control-group}]}\n'
        '    - name: Include cleanup_timer\n'
        '      ansible.builtin.include_role: {name: reaper.systemd.cleanup_timer}\n'
        '      vars: {cleanup_timer_units: [myapp.service], cleanup_timer_interval: 20min}\n'
    )
    playbook.write_text(
        '- name: Both roles twice\n  hosts: app_servers\n  gather_facts: false\n  tasks:\n'
        + include
        + '    - name: Between the two inclusions\n      ansible.builtin.debug: {msg: between}\n'
        + include
    )
    out = run(['ansible-playbook', '-i', str(systemd_host['inventory']), '--diff', str(playbook)], env=user_env).stdout
    first, second = out.split('TASK [Between the two inclusions]')
    assert re.search(r'^changed: ', first, re.M), 'the first inclusion should have changed the settings'
    assert not re.search(r'^changed: ', second, re.M), 'the second inclusion changed something:\n' + second
    kill_mode = _exec(systemd_host, user_env, 'systemctl', 'show', '-p', 'KillMode', '--value', 'myapp.service')
    assert kill_mode.stdout.strip() == 'control-group'
