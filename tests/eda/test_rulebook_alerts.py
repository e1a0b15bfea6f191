# The rulebook reaper.systemd.reaper_alerts with the real ansible-rulebook (.venv-eda, Java) and its real
# eda.builtin.webhook source on 127.0.0.1: alerts whose fields try to run code, forge lines or widen the
# scope never reach a playbook (and nothing they carry runs), a valid alert still runs the remediation
# even when its other labels try the same, and a flood of made-up alert names costs no playbook run.
#
#   make eda-alerts     (or: .venv/bin/python -m pytest tests/eda -q, after make eda-venv)
import json
import os
import re
import secrets
import time

import pytest
from alert_inputs import ALERT, ALERT_ACTIONS, HOST, ROOT, alert_json, ansible_env, payloads, valid_labels
from alert_inputs import write_inventory
from loop import Process, free_port, http

EDA_VENV = os.environ.get("REAPER_EDA_VENV", os.path.join(ROOT, ".venv-eda"))
RULEBOOK_BIN = os.path.join(EDA_VENV, "bin", "ansible-rulebook")
PLAY_START = "PLAY [Remediate the unit an alert names"
RESULT = re.compile(r"reaper\.systemd alert (\S+) on (\S+), (\S+): (.*)")
RESOLVED = re.compile(r"resolved: (\S+) on (\S+) (\S+): no action")


class Rulebook:
    def __init__(self, work):
        self.token = secrets.token_urlsafe(24)
        self.port = free_port()
        self.hook = "http://127.0.0.1:%d/endpoint" % self.port
        self.marker = os.path.join(work, "marker")
        variables = {
            "reaper_eda_host": "127.0.0.1",
            "reaper_eda_port": self.port,
            "reaper_eda_token": self.token,
            "reaper_alert_actions": ALERT_ACTIONS,
        }
        vars_file = os.path.join(work, "rulebook-vars.yml")
        with open(os.open(vars_file, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
            json.dump(variables, handle)
        argv = [RULEBOOK_BIN, "--rulebook", "reaper.systemd.reaper_alerts", "--inventory"]
        argv += [write_inventory(os.path.join(work, "inventory")), "--vars", vars_file, "-v"]
        # REAPER_EDA_ANSIBLE_BIN=/path/to/venv/bin: the playbook runs with that venv's ansible-core line
        path = os.pathsep.join(
            p for p in (os.environ.get("REAPER_EDA_ANSIBLE_BIN"), os.path.join(EDA_VENV, "bin")) if p
        )
        env = ansible_env(path)
        self.proc = Process("ansible-rulebook", argv, os.path.join(work, "ansible-rulebook.log"), env=env)

    def wait_listening(self, deadline_s=120):
        """The webhook answers 401 without the token once the rules are loaded."""
        deadline = time.time() + deadline_s
        while time.time() < deadline:
            assert self.proc.alive(), "ansible-rulebook exited:\n" + "\n".join(self.proc.tail())
            if http(self.hook, data=b"{}", headers={"Content-Type": "application/json"})[0] == 401:
                return
            time.sleep(1)
        pytest.fail("the webhook did not answer within %d s:\n%s" % (deadline_s, "\n".join(self.proc.tail())))

    def post(self, alerts):
        """One Alertmanager notification holding ALERTS, with the token; the HTTP status."""
        notification = {"receiver": "reaper-eda", "status": "firing", "alerts": alerts, "version": "4"}
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + self.token}
        return http(self.hook, data=json.dumps(notification).encode(), headers=headers, timeout=60)[0]

    def lines(self, after=0.0):
        return [text for when, text in self.proc.snapshot() if when >= after]

    def wait_line(self, pattern, after, deadline_s=120):
        deadline = time.time() + deadline_s
        while time.time() < deadline:
            hits = [text for text in self.lines(after) if pattern.search(text)]
            if hits:
                return hits[0]
            assert self.proc.alive(), "ansible-rulebook exited:\n" + "\n".join(self.proc.tail())
            time.sleep(0.5)
        pytest.fail("no line matching %r within %d s:\n%s" % (pattern.pattern, deadline_s, "\n".join(self.proc.tail())))


@pytest.fixture(scope="module")
def rulebook(tmp_path_factory):
    if not os.access(RULEBOOK_BIN, os.X_OK):
        pytest.fail("no ansible-rulebook in %s: run make eda-venv" % EDA_VENV)
    book = Rulebook(str(tmp_path_factory.mktemp("rulebook")))
    try:
        book.wait_listening()
        yield book
    finally:
        book.proc.stop()


def injected_alerts(marker, unit, status):
    """One alert per field and kind of payload; the other fields valid."""
    alerts = []
    for kind, suffix in payloads(marker).items():
        for field in ("alertname", "host", "unit"):
            labels = valid_labels(unit)
            labels[field] = labels[field] + suffix
            alerts.append(alert_json(status, labels, {"summary": kind + " in " + field}))
    return alerts


def sentinel(marker, unit, status="firing"):
    """A valid alert whose other labels and annotations carry every payload: the playbook must not read them."""
    labels = valid_labels(unit)
    annotations = {}
    for index, suffix in enumerate(payloads(marker).values()):
        labels["extra%d" % index] = "x" + suffix
        annotations["summary%d" % index] = "x" + suffix
    labels["severity"] = "warning{{ %s }}" % ('lookup("pipe", "id > %s")' % marker)
    return alert_json(status, labels, annotations)


def wait_run(rulebook, unit, after):
    """The result line of the playbook run for UNIT (its last task), and the recap after it."""
    line = rulebook.wait_line(
        re.compile(r"reaper\.systemd alert %s on %s, %s: " % (ALERT, HOST, re.escape(unit))), after
    )
    rulebook.wait_line(re.compile(r"^%s\s+: ok=\d+" % HOST), after)
    return line


def test_injected_fields_never_reach_a_playbook(rulebook):
    started = time.time()
    firing = injected_alerts(rulebook.marker, "injected.service", "firing")
    resolved = injected_alerts(rulebook.marker, "injected.service", "resolved")
    assert rulebook.post(firing + resolved) == 200
    # Events are handled in order: once the valid alert posted after them has run, they have all been judged.
    assert rulebook.post([sentinel(rulebook.marker, "sentinel.service")]) == 200
    result = wait_run(rulebook, "sentinel.service", started)
    time.sleep(2)
    output = rulebook.lines(started)
    plays = [text for text in output if PLAY_START in text]
    results = [RESULT.search(text).groups()[:3] for text in output if RESULT.search(text)]
    print(
        "%d injected alerts (%d firing, %d resolved) and one valid alert posted"
        % (len(firing + resolved), len(firing), len(resolved))
    )
    print("playbook runs: %d; result: %s" % (len(plays), result.strip()))
    print("marker %s exists: %s" % (rulebook.marker, os.path.exists(rulebook.marker)))
    assert not os.path.exists(rulebook.marker), "an alert's field ran as code (%s written)" % rulebook.marker
    assert len(plays) == 1, "\n".join(output)
    assert results == [(ALERT, HOST, "sentinel.service")]
    assert "report only" in result
    # a resolved alert that fails the checks is not even noted (its labels would forge output lines)
    assert not [text for text in output if RESOLVED.search(text)]


def test_valid_resolved_alert_is_noted_and_never_run(rulebook):
    started = time.time()
    assert rulebook.post([sentinel(rulebook.marker, "resolved.service", "resolved")]) == 200
    line = rulebook.wait_line(RESOLVED, started, deadline_s=60)
    time.sleep(2)
    assert RESOLVED.search(line).groups() == (ALERT, HOST, "resolved.service")
    assert not [text for text in rulebook.lines(started) if PLAY_START in text]
    assert not os.path.exists(rulebook.marker)


def test_flood_of_made_up_names_costs_no_run(rulebook):
    """Sixty alerts with names the collection does not ship, then a real one: it runs at once, alone."""
    started = time.time()
    flood = [
        alert_json("firing", dict(valid_labels("flood.service"), alertname="ReaperFlood%02d" % i)) for i in range(60)
    ]
    flood += [alert_json("firing", dict(valid_labels("flood-%02d.service" % i), alertname="Reaper")) for i in range(5)]
    assert rulebook.post(flood) == 200
    posted = time.time()
    assert rulebook.post([alert_json("firing", valid_labels("real.service"))]) == 200
    wait_run(rulebook, "real.service", started)
    served = time.time() - posted
    time.sleep(2)
    plays = [text for text in rulebook.lines(started) if PLAY_START in text]
    print(
        "flood of %d alerts with unknown names, then a real one: served after %.1f s, %d playbook run(s)"
        % (len(flood), served, len(plays))
    )
    assert len(plays) == 1
    assert served < 60
