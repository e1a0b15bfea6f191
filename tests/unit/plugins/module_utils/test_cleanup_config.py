# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cleanup.json, module params and role variables: one validation layer."""

from __future__ import absolute_import, division, print_function

import json
import math
import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_config as cfg, cleanup_lock, cleanup_policy

__metaclass__ = type


def _write(tmp_path, data, mode=0o600, text=None):
    path = tmp_path / "cleanup.json"
    path.write_text(text if text is not None else json.dumps(data))
    os.chmod(str(path), mode)
    return str(path)


def test_valid_config_with_every_key(tmp_path):
    data = {
        "units": ["app*"],
        "actions": ["kill_leftovers"],
        "allow": ["cron.service"],
        "max_actions_per_hour": 5,
        "park_after": 2,
        "zombie_wait": 30,
        "textfile_dir": "/var/lib/prometheus/node-exporter/",
        "state_path": "/var/lib/reaper-systemd/state.json",
        "lock_path": "/run/reaper-systemd/lock",
        "pause_path": "/etc/reaper-systemd/paused",
        "backend": "psutil",
        "host_label": "web-01",
    }
    policy, extra = cfg.load_config(_write(tmp_path, data))
    assert policy.units == ["app*"] and policy.allow == ["cron.service"] and policy.backoff_max == 86400
    assert extra["textfile_dir"] == "/var/lib/prometheus/node-exporter" and extra["host_label"] == "web-01"


def test_defaults_for_extra_keys(tmp_path):
    _policy, extra = cfg.load_config(_write(tmp_path, {"units": ["app"]}))
    # the lock is always the host's one (here the test's scratch copy of it)
    assert extra == dict(cfg.EXTRA_KEYS, lock_path=cleanup_lock.LOCK_PATH)


@pytest.mark.parametrize("lock_path", ["/run/other/lock", "/var/lib/reaper-systemd/lock"])
def test_a_lock_other_than_the_hosts_is_refused(tmp_path, lock_path):
    # two cleanups with two locks would act at the same time
    with pytest.raises(cfg.ConfigError, match="lock_path must be /run/reaper-systemd/lock: the lock is host-wide"):
        cfg.load_config(_write(tmp_path, {"units": ["app"], "lock_path": lock_path}))


def test_the_documented_lock_path_is_the_hosts_lock(tmp_path):
    _policy, extra = cfg.load_config(_write(tmp_path, {"units": ["app"], "lock_path": "/run/reaper-systemd/lock"}))
    assert extra["lock_path"] == cleanup_lock.LOCK_PATH


@pytest.mark.parametrize("name", ["ENAMETOOLONG", "ELOOP", "EACCES", "ENOTDIR"])
def test_a_pause_file_that_cannot_be_checked_means_paused(monkeypatch, name):
    import errno

    def fail(path):
        raise OSError(getattr(errno, name), os.strerror(getattr(errno, name)), path)

    monkeypatch.setattr(os, "lstat", fail)
    paused, why = cfg.pause_requested("/etc/reaper-systemd/paused")
    assert paused is True and "paused to be safe" in why


def test_pause_file_absent_or_present(tmp_path):
    pause = tmp_path / "paused"
    assert cfg.pause_requested(str(pause)) == (False, None)
    pause.write_text("")
    assert cfg.pause_requested(str(pause)) == (True, "%s exists" % pause)
    # longer than PATH_MAX: the kernel cannot answer, so the run must not act
    assert cfg.pause_requested("/" + "a/" * 3000 + "paused")[0] is True


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_writable_config_is_refused(tmp_path, mode):
    with pytest.raises(cfg.ConfigError, match="writable by group or others"):
        cfg.load_config(_write(tmp_path, {"units": ["app"]}, mode))


def test_symlinked_or_foreign_config_is_refused(tmp_path):
    real = _write(tmp_path, {"units": ["*"], "actions": ["restart_unit"]})
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(cfg.ConfigError, match="cannot read"):
        cfg.load_config(str(link))
    os.chown(real, 65534, 65534)
    with pytest.raises(cfg.ConfigError, match="uid 65534, not root"):
        cfg.load_config(real)


def test_duplicate_keys_are_refused(tmp_path):
    path = _write(tmp_path, None, text='{"units": ["app"], "dry_run": true, "dry_run": false}')
    with pytest.raises(cfg.ConfigError, match="'dry_run' appears twice"):
        cfg.load_config(path)


def test_backoff_max_below_cooldown_is_refused_and_default_follows_cooldown():
    with pytest.raises(cleanup_policy.PolicyError, match="backoff_max must be >= cooldown"):
        cleanup_policy.Policy(units=["a"], cooldown=600, backoff_max=60)
    assert cleanup_policy.Policy(units=["a"], cooldown=200000).backoff_max == 200000


def test_allow_lifts_by_design_but_never_never_ours():
    policy = cleanup_policy.Policy(units=["*"])
    assert policy.denied_by("cron.service").startswith("by design: cron.service sets KillMode=process")
    assert cleanup_policy.Policy(units=["*"], allow=["cron"]).denied_by("cron.service") is None
    assert policy.denied_by("systemd-journald.service").startswith("never ours: systemd-*")
    assert cleanup_policy.Policy(units=["*"], deny=["db*"]).denied_by("db1.service") == "deny list pattern 'db*'"
    with pytest.raises(
        cleanup_policy.PolicyError, match="allow entry is refused: 'systemd-logind' can match systemd-\\*"
    ):
        cleanup_policy.Policy(units=["*"], allow=["systemd-logind"])


def test_from_params_takes_ansible_converted_values():
    policy, extra = cfg.from_params(
        {"units": ["app"], "grace": 5.0, "state_path": "/tmp/s.json", "lock_path": None, "colour": "ignored"}
    )
    assert (
        policy.grace == 5.0
        and extra["state_path"] == "/tmp/s.json"
        and extra["lock_path"] == cfg.EXTRA_KEYS["lock_path"]
    )
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.from_params({"units": ["app"], "grace": float("nan")})
    assert caught.value.option == "grace" and "grace must be a finite number" in str(caught.value)


def test_check_deployment_converts_like_the_role_and_names_the_variable():
    checked = cfg.check_deployment({"max_actions": "5", "dry_run": "no", "interval": "1h 30min", "textfile_dir": ""})
    assert checked["max_actions"] == 5 and checked["dry_run"] is False and checked["textfile_dir"] is None
    with pytest.raises(cfg.ConfigError, match="cleanup_timer_units must be a list of strings, got 'myapp\\*'"):
        cfg.check_deployment({"units": "myapp*"})
    with pytest.raises(cfg.ConfigError, match="unknown variables: cleanup_timer_colour"):
        cfg.check_deployment({"colour": "red"})


@settings(max_examples=200)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.text(max_size=10),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.integers(), max_size=2),
    )
)
def test_any_json_value_for_grace_is_either_a_bounded_finite_number_or_refused_by_name(tmp_path_factory, value):
    tmp_path = tmp_path_factory.mktemp("cfg")
    path = _write(tmp_path, None, text=json.dumps({"units": ["app"], "grace": value}))
    good = isinstance(value, float) and not math.isnan(value) and 0 <= value <= 3600
    try:
        policy, _extra = cfg.load_config(path)
    except cfg.ConfigError as exc:
        assert not good and exc.option == "grace", exc
    else:
        assert good and policy.grace == value
