# What the alert tests share: the values an attacker or a careless sender puts in an alert's fields, the
# one local host the remediation may run on, and how to run it. Python standard library only.
import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(ROOT, "build", "collections")
HOST = "reaper-alert-test"
ALERT = "ReaperUnitZombies"
# Report only: the one run that may happen plans in check mode (the unit does not exist here anyway).
ALERT_ACTIONS = {}


def payloads(marker):
    """Kind -> a suffix that must never run: each would write MARKER if any template engine evaluated it."""
    code = 'lookup("pipe", "id > %s")' % marker
    return {
        "expression": "{{ %s }}" % code,
        "statement": "{%% if %s %%}{%% endif %%}" % code,
        "newline then expression": "\n{{ %s }}" % code,
        # '$' (Python's or Java's) lets "app.service\n" through
        "trailing newline": "\n",
        "ansi escapes": "\x1b[2K\x1b[1Greaper-systemd: forged line",
        "bidi controls": "\u202e\u2066",
    }


def valid_labels(unit):
    return {"alertname": ALERT, "host": HOST, "unit": unit}


def write_inventory(directory):
    """A directory inventory with the one host, reached locally (ansible-rulebook copies it whole)."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write(
            "all:\n  hosts:\n    %s:\n      ansible_connection: local\n"
            "      ansible_python_interpreter: /usr/bin/python3\n" % HOST
        )
    return directory


def ansible_env(extra_path=None):
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if extra_path:
        env["PATH"] = extra_path + os.pathsep + env.get("PATH", "")
    return env


def alert_json(status, labels, annotations=None):
    return {"status": status, "labels": labels, "annotations": annotations or {}}


def dump(path, data):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path
