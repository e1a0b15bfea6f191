# The documented manual replay of an alert: reaper.systemd.remediate_alert with -e reaper_alert_file=FILE.
# The file's content stays text: fields that try to run code, forge lines or widen the scope are refused
# with the fields named (JSON-escaped) and nothing they carry runs; the replay of earlier releases
# (-e @alert.yml with reaper_alert) is refused without reading the alert; a valid file runs.
#
#   make eda-alerts     (or: .venv/bin/python -m pytest tests/eda -q)
import json
import os
import subprocess
import sys

import pytest
from alert_inputs import ALERT, HOST, alert_json, ansible_env, dump, payloads, valid_labels, write_inventory

# Another ansible-core line: REAPER_ANSIBLE_PLAYBOOK=/path/to/venv/bin/ansible-playbook
ANSIBLE_PLAYBOOK = os.environ.get(
    "REAPER_ANSIBLE_PLAYBOOK", os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
)


def replay(tmp_path, *extra):
    argv = [ANSIBLE_PLAYBOOK, "-i", write_inventory(str(tmp_path / "inventory")), "reaper.systemd.remediate_alert"]
    done = subprocess.run(
        argv + list(extra), capture_output=True, text=True, env=ansible_env(), timeout=300, check=False
    )
    return done.returncode, done.stdout + done.stderr


def injected_labels(tmp_path, kind):
    """The three fields, each carrying the payload KIND (each would run if read as a template)."""
    suffix = payloads(tmp_path / "marker")[kind]
    return {field: value + suffix for field, value in valid_labels("app.service").items()}


def test_valid_file_runs(tmp_path):
    alert = dump(tmp_path / "alert.json", alert_json("firing", valid_labels("app.service"), {"summary": "{{ 7 * 7 }}"}))
    rc, output = replay(tmp_path, "-e", "reaper_alert_file=%s" % alert)
    assert rc == 0, output
    assert "reaper.systemd alert %s on %s, app.service: report only" % (ALERT, HOST) in output


@pytest.mark.parametrize("kind", sorted(payloads("m")))
def test_injected_file_is_refused_and_nothing_runs(tmp_path, kind):
    labels = injected_labels(tmp_path, kind)
    alert = dump(tmp_path / "alert.json", alert_json("firing", labels))
    rc, output = replay(tmp_path, "-e", "reaper_alert_file=%s" % alert)
    assert not (tmp_path / "marker").exists(), "a field of the alert file ran as code"
    assert rc != 0, output
    assert "The alert must carry labels alertname" in output
    # the refusal names what the file holds, as it is: read, not rendered
    for field in ("alertname", "host", "unit"):
        shown = "%s=%s" % (field, json.dumps(labels[field]))
        # ansible-core 2.19 prints the message as it is, earlier lines inside the result's JSON
        assert shown in output or json.dumps(shown)[1:-1] in output, output
    assert "Run reaper.systemd.reap" not in output
    # the fields are shown JSON-escaped: no raw control character reaches the output
    assert "\x1b" not in output and "\u202e" not in output


def test_file_that_is_not_an_alert_is_refused(tmp_path):
    alert = dump(tmp_path / "alert.json", '{{ lookup("pipe", "id > %s") }}' % (tmp_path / "marker"))
    rc, output = replay(tmp_path, "-e", "reaper_alert_file=%s" % alert)
    assert not (tmp_path / "marker").exists()
    assert rc != 0 and "The alert must carry labels alertname" in output, output


def test_alert_as_extra_var_is_refused_unread(tmp_path):
    """-e @alert.yml makes the alert template text: the playbook refuses it and never reads it."""
    labels = valid_labels("app.service")
    labels["alertname"] += payloads(tmp_path / "marker")["expression"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"reaper_alert": alert_json("firing", labels)}))
    rc, output = replay(tmp_path, "-e", "@%s" % old)
    assert not (tmp_path / "marker").exists(), "the alert given as an extra var was rendered"
    assert rc != 0 and "reaper_alert is not read" in output and "reaper_alert_file" in output, output
