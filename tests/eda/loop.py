# The alert loop, end to end, on this machine (all on 127.0.0.1):
#
#   lab host (podman, systemd)        this machine
#   zoo-zombie-drip leaks zombies
#   cleanup timer, report only  --->  node_exporter (published port) <--- Prometheus (the shipped rules,
#                                                                          rendered with short durations)
#                                                                               |
#                                     ansible-rulebook (webhook + token) <--- Alertmanager
#                                               |
#   reaper.systemd.reap restarts  <---  reaper.systemd.remediate_alert (podman connection)
#   the drip; the alert resolves
#
# Starts Prometheus, Alertmanager and ansible-rulebook as plain processes (no systemd here), watches
# each step through their APIs, their logs and the lab host, prints the timeline with times and exits 1
# if a step did not happen before its deadline. Last, alerts whose labels try to run code go through
# Alertmanager's API to the rulebook: no playbook may start for them, and nothing they carry may run.
# The processes it started are stopped whatever happens (SIGTERM to each one's process group, then
# SIGKILL). The lab host is brought up and removed by tests/eda/run-loop.sh (molecule scenario eda_loop).
# Python standard library only.
#
#   python3 tests/eda/loop.py --host reaper-eda-loop --node-exporter 127.0.0.1:19110 \
#       --rules build/eda-loop/rules.yml --eda-venv .venv-eda --workdir build/eda-loop/run
import argparse
import copy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ALERT = "ReaperUnitZombies"
UNIT = "zoo-zombie-drip.service"
# The operator's choice for the loop: the zombie alert may restart the unit; nothing else may act.
ALERT_ACTIONS = {ALERT: ["restart_unit"]}
PLAY_START = "PLAY [Remediate the unit an alert names"
RESULT_LINE = re.compile(r"reaper\.systemd alert %s on (\S+), (\S+): (.*)" % ALERT)
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
RESOLVED_LINE = re.compile(r"resolved: %s on (\S+) (\S+): no action" % ALERT)
# --print-events shows every event after the splitter; the alert's own status key (not group_status)
FIRING_EVENT = re.compile(r"(?<![\w])'status': 'firing'")


class LoopFailed(Exception):
    pass


class Stopped(Exception):
    pass


def on_signal(signum, _frame):
    raise Stopped("stopped by signal %d" % signum)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url, data=None, headers=None, timeout=5):
    """(status, body) of a GET (or POST of DATA); status 0 when nothing answers."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


def prom_query(base, expr):
    status, body = http("%s/api/v1/query?%s" % (base, urllib.parse.urlencode({"query": expr})))
    if status != 200:
        return []
    return json.loads(body)["data"]["result"]


class Timeline:
    def __init__(self):
        self.start = time.time()
        self.steps = []  # (name, when or None, detail)

    def mark(self, name, detail=""):
        when = time.time()
        self.steps.append((name, when, detail))
        print("[loop %s +%5.0fs] %s%s" % (utc(when), when - self.start, name, (": " + detail) if detail else ""))
        sys.stdout.flush()
        return when

    def missing(self, name, detail):
        self.steps.append((name, None, detail))
        print("[loop %s +%5.0fs] MISSING %s: %s" % (utc(time.time()), time.time() - self.start, name, detail))
        sys.stdout.flush()

    def show(self):
        print()
        print("== alert loop timeline (UTC; seconds from the start of Prometheus, Alertmanager, ansible-rulebook)")
        for name, when, detail in self.steps:
            stamp = "%s  +%5.0fs" % (utc(when), when - self.start) if when else "--:--:--     MISSING"
            print("  %s  %-44s %s" % (stamp, name, detail))
        sys.stdout.flush()


def utc(when):
    return time.strftime("%H:%M:%S", time.gmtime(when))


class Process:
    """A program started in its own process group, its output in LOG, each line time-stamped in memory."""

    def __init__(self, name, argv, log, env=None):
        self.name = name
        self.log_path = log
        self.lines = []  # (time, text)
        self.lock = threading.Lock()
        self.log = open(log, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            text=True,
            errors="replace",
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.time()
            with self.lock:
                self.lines.append((now, line.rstrip("\n")))
            self.log.write("%s %s" % (utc(now), line))
            self.log.flush()

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=15)
        else:
            # children of a dead leader (ansible-playbook under ansible-rulebook) may still run
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.reader.join(timeout=5)
        self.log.close()

    def tail(self, count=60):
        return [text for _when, text in self.snapshot()[-count:]]


def podman(*args, check=True):
    return subprocess.run(["podman"] + list(args), capture_output=True, text=True, check=check, timeout=60)


# Runs in the lab host: what systemd says of the drip, and the zombies whose parent is its main PID.
UNIT_STATE = r"""
import subprocess, sys
unit = sys.argv[1]
out = subprocess.run(["systemctl", "show", "-p", "InvocationID", "-p", "MainPID", unit],
                     capture_output=True, text=True, check=True).stdout
props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
main_pid = props.get("MainPID", "0")
zombies = 0
import os
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        continue
    if fields[0] == "Z" and fields[1] == main_pid:
        zombies += 1
print(props.get("InvocationID", "-"), main_pid, zombies)
"""


def unit_state(host):
    """InvocationID, MainPID and the zombies whose parent is the MainPID, read in the lab host."""
    out = podman("exec", host, "python3", "-c", UNIT_STATE, UNIT).stdout.split()
    return {"invocation": out[0], "main_pid": int(out[1]), "zombies": int(out[2])}


def journal_restart_lines(host):
    """The reaper-systemd journal lines about the drip (the audit line reap writes before it acts)."""
    out = podman(
        "exec",
        host,
        "journalctl",
        "--no-pager",
        "-o",
        "cat",
        "SYSLOG_IDENTIFIER=reaper-systemd",
        "UNIT=" + UNIT,
        check=False,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def configure(args, work, ports, token):
    prom_dir = os.path.join(work, "prometheus")
    am_dir = os.path.join(work, "alertmanager")
    os.makedirs(prom_dir)
    os.makedirs(am_dir)
    rules = os.path.abspath(args.rules)
    write(
        os.path.join(work, "prometheus.yml"),
        "\n".join(
            [
                "global:",
                "  scrape_interval: 5s",
                "  evaluation_interval: 5s",
                "rule_files:",
                "  - %s" % json.dumps(rules),
                "alerting:",
                "  alertmanagers:",
                "    - static_configs:",
                "        - targets: ['127.0.0.1:%d']" % ports["alertmanager"],
                "scrape_configs:",
                "  - job_name: reaper-lab",
                "    static_configs:",
                "      - targets: ['%s']" % args.node_exporter,
                "",
            ]
        ),
    )
    token_file = write(os.path.join(work, "eda-token"), token + "\n", 0o600)
    # extensions/eda/alertmanager-receiver.yml with the lab's short waits: Alertmanager repeats the
    # firing notification every 20 s, so the rulebook's throttle is put to the test.
    write(
        os.path.join(work, "alertmanager.yml"),
        "\n".join(
            [
                "route:",
                "  receiver: reaper-eda",
                "  group_by: [alertname, host, unit]",
                "  group_wait: 5s",
                "  group_interval: 10s",
                "  repeat_interval: 20s",
                "receivers:",
                "  - name: reaper-eda",
                "    webhook_configs:",
                "      - url: http://127.0.0.1:%d/endpoint" % ports["rulebook"],
                "        send_resolved: true",
                "        http_config:",
                "          authorization:",
                "            type: Bearer",
                "            credentials_file: %s" % json.dumps(token_file),
                "",
            ]
        ),
    )
    # The rulebook reads its settings from --vars; the token stays in files only root can read.
    write(
        os.path.join(work, "rulebook-vars.yml"),
        json.dumps(
            {
                "reaper_eda_host": "127.0.0.1",
                "reaper_eda_port": ports["rulebook"],
                "reaper_eda_token": token,
                "reaper_alert_actions": ALERT_ACTIONS,
            },
            indent=2,
        )
        + "\n",
        0o600,
    )
    # A directory inventory: ansible-rulebook copies it whole (group_vars included) for each run.
    inventory = os.path.join(work, "inventory")
    os.makedirs(os.path.join(inventory, "group_vars"))
    write(
        os.path.join(inventory, "hosts.yml"),
        "all:\n  hosts:\n    %s:\n      ansible_connection: containers.podman.podman\n"
        "      ansible_python_interpreter: /usr/bin/python3\n" % args.host,
    )
    # reap's guard rails for the lab (the defaults of reaper.systemd.remediate otherwise): zombies
    # count once the timer or reap has seen them for 30 s.
    write(
        os.path.join(inventory, "group_vars", "all.yml"),
        "reaper_min_zombie_age: 30\nreaper_zombie_wait: 30\n",
    )
    return {"prometheus_dir": prom_dir, "alertmanager_dir": am_dir, "inventory": inventory}


def check_configs(work):
    for argv in (
        ["promtool", "check", "config", os.path.join(work, "prometheus.yml")],
        ["amtool", "check-config", os.path.join(work, "alertmanager.yml")],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LoopFailed("%s failed:\n%s%s" % (" ".join(argv), done.stdout, done.stderr))


def start(args, work, ports, paths):
    procs = {}
    procs["prometheus"] = Process(
        "prometheus",
        [
            "prometheus",
            "--config.file=%s" % os.path.join(work, "prometheus.yml"),
            "--storage.tsdb.path=%s" % paths["prometheus_dir"],
            "--web.listen-address=127.0.0.1:%d" % ports["prometheus"],
            "--web.enable-lifecycle",
        ],
        os.path.join(work, "prometheus.log"),
    )
    procs["alertmanager"] = Process(
        "alertmanager",
        [
            "prometheus-alertmanager",
            "--config.file=%s" % os.path.join(work, "alertmanager.yml"),
            "--storage.path=%s" % paths["alertmanager_dir"],
            "--web.listen-address=127.0.0.1:%d" % ports["alertmanager"],
            # no cluster: a single Alertmanager that listens on nothing else
            "--cluster.listen-address=",
        ],
        os.path.join(work, "alertmanager.log"),
    )
    env = dict(os.environ)
    env["PATH"] = os.path.join(os.path.abspath(args.eda_venv), "bin") + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    procs["rulebook"] = Process(
        "ansible-rulebook",
        [
            os.path.join(os.path.abspath(args.eda_venv), "bin", "ansible-rulebook"),
            "--rulebook",
            args.rulebook,
            "--inventory",
            paths["inventory"],
            "--vars",
            os.path.join(work, "rulebook-vars.yml"),
            "--print-events",
            "-v",
        ],
        os.path.join(work, "ansible-rulebook.log"),
        env=env,
    )
    return procs


def wait_for(what, deadline_s, probe, procs, interval=2.0):
    """Call PROBE until it returns a true value or DEADLINE_S pass; fail early if a process died."""
    deadline = time.time() + deadline_s
    while True:
        value = probe()
        if value:
            return value
        for proc in procs.values():
            if not proc.alive():
                raise LoopFailed("%s exited (%s) while waiting for %s" % (proc.name, proc.proc.returncode, what))
        if time.time() >= deadline:
            return None
        time.sleep(interval)


def first_line(proc, pattern, after=0.0):
    for when, text in proc.snapshot():
        if when >= after and (pattern.search(text) if hasattr(pattern, "search") else pattern in text):
            return when, text
    return None


def run_loop(args, timeline, procs, ports, token):
    prom = "http://127.0.0.1:%d" % ports["prometheus"]
    am = "http://127.0.0.1:%d" % ports["alertmanager"]
    hook = "http://127.0.0.1:%d/endpoint" % ports["rulebook"]
    rulebook = procs["rulebook"]
    missing = []
    # No playbook runs before the alert fires, so the first play after the loop began is the alert's:
    # no guess at how soon after firing the poller below notices it.
    loop_began = time.time()

    def step(name, deadline_s, probe, describe):
        value = wait_for(name, deadline_s, probe, procs)
        if value:
            timeline.mark(name, describe(value))
        else:
            timeline.missing(name, "not within %d s" % deadline_s)
            missing.append(name)
        return value

    ready = step(
        "Prometheus, Alertmanager ready",
        300,
        lambda: http(prom + "/-/ready")[0] == 200 and http(am + "/-/ready")[0] == 200,
        lambda _v: "127.0.0.1:%d, 127.0.0.1:%d" % (ports["prometheus"], ports["alertmanager"]),
    )
    # The webhook answers 401 without the token: it is listening, and it is not open.
    webhook = step(
        "ansible-rulebook webhook refuses no token",
        300,  # the JVM of ansible-rulebook starts slowly on a loaded machine
        lambda: http(hook, data=b"{}", headers={"Content-Type": "application/json"})[0] == 401,
        lambda _v: "127.0.0.1:%d answered 401" % ports["rulebook"],
    )
    if not (ready and webhook):
        return missing
    before = unit_state(args.host)
    timeline.mark(
        "lab host: drip before",
        "InvocationID %s, MainPID %d, %d zombies" % (before["invocation"][:8], before["main_pid"], before["zombies"]),
    )

    series = 'reaper_unit_zombies{unit="%s",host="%s"}' % (UNIT, args.host)
    scraped = step(
        "Prometheus scrapes the drip's zombies",
        args.firing_deadline,
        lambda: [r for r in prom_query(prom, series) if float(r["value"][1]) > 0],
        lambda r: "%s = %s (instance %s)" % (series, r[0]["value"][1], r[0]["metric"].get("instance")),
    )

    def prom_alert(state):
        status, body = http(prom + "/api/v1/alerts")
        if status != 200:
            return None
        for alert in json.loads(body)["data"]["alerts"]:
            labels = alert["labels"]
            if labels.get("alertname") == ALERT and labels.get("unit") == UNIT and alert["state"] == state:
                return alert
        return None

    firing = scraped and step(
        "alert firing in Prometheus",
        args.firing_deadline,
        lambda: prom_alert("firing"),
        lambda a: "%s{host=%s,unit=%s} value %s" % (ALERT, a["labels"].get("host"), UNIT, a.get("value")),
    )
    if not firing:
        return missing

    def am_alert():
        query = urllib.parse.urlencode({"filter": 'alertname="%s"' % ALERT, "active": "true"})
        status, body = http(am + "/api/v2/alerts?" + query)
        if status != 200:
            return None
        alerts = [a for a in json.loads(body) if a["labels"].get("unit") == UNIT]
        return alerts[0] if alerts else None

    step("alert in Alertmanager", 60, am_alert, lambda a: "state %s" % a["status"]["state"])

    action = step(
        "rulebook: run_playbook remediate_alert",
        args.action_deadline,
        lambda: first_line(rulebook, PLAY_START, after=loop_began),
        lambda hit: hit[1].strip(" *"),
    )
    if not action:
        return missing

    result = step(
        "remediation result (playbook)",
        args.remediation_deadline,
        lambda: first_line(rulebook, RESULT_LINE, after=action[0]),
        lambda hit: RESULT_LINE.search(hit[1]).group(3).replace('\\"', '"')[:200],
    )
    recap = result and wait_for("recap", 60, lambda: first_line(rulebook, RECAP, after=result[0]), procs)
    if result:
        text = RESULT_LINE.search(result[1]).group(3)
        recap_match = RECAP.search(recap[1]) if recap else None
        if "restart_unit done" not in text:
            missing.append("remediation restarted the drip")
            timeline.missing("remediation restarted the drip", "the playbook said: %s" % text)
        if not recap_match or recap_match.group(5) != "0" or recap_match.group(4) != "0":
            missing.append("playbook succeeded")
            timeline.missing("playbook succeeded", recap[1] if recap else "no PLAY RECAP")
        else:
            timeline.mark("playbook succeeded", recap[1].strip())

    after = unit_state(args.host)
    restarted = after["invocation"] != before["invocation"]
    if restarted:
        timeline.mark(
            "lab host: drip restarted",
            "InvocationID %s, MainPID %d, %d zombies" % (after["invocation"][:8], after["main_pid"], after["zombies"]),
        )
    else:
        missing.append("lab host: drip restarted")
        timeline.missing("lab host: drip restarted", "InvocationID still %s" % after["invocation"][:8])
    audit = [line for line in journal_restart_lines(args.host) if "restart" in line.lower()]
    if audit:
        timeline.mark("lab host: reap's journal audit line", audit[-1][:140])
    else:
        missing.append("lab host: reap's journal audit line")
        timeline.missing("lab host: reap's journal audit line", "no reaper-systemd line for %s" % UNIT)

    resolved = step(
        "alert resolved in Prometheus",
        args.resolved_deadline,
        lambda: prom_alert("firing") is None and prom_alert("pending") is None,
        lambda _v: "%s no longer pending or firing" % series,
    )
    if resolved:
        step(
            "rulebook: resolved alert noted, no action",
            90,
            lambda: first_line(rulebook, RESOLVED_LINE, after=action[0]),
            lambda hit: hit[1].strip(),
        )
        zombies_now = prom_query(prom, series)
        timeline.mark("Prometheus: drip's zombies now", ", ".join(r["value"][1] for r in zombies_now) or "no series")

    # The throttle: Alertmanager repeats a firing notification every repeat_interval; one more is
    # replayed here with the token, as Alertmanager would send it. The playbook must have run once.
    replay = {
        "receiver": "reaper-eda",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": firing["labels"],
                "annotations": firing.get("annotations", {}),
                "startsAt": firing.get("activeAt"),
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "replayed",
            }
        ],
        "groupLabels": {},
        "commonLabels": firing["labels"],
        "commonAnnotations": {},
        "externalURL": am,
        "version": "4",
        "groupKey": "replayed",
    }
    status, _body = http(
        hook,
        data=json.dumps(replay).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
    )
    # Then a resolved alert of another unit, which the rulebook only notes. It runs its actions one after
    # the other, in the order the events came: once the note is printed, a playbook for the replay would
    # have started before it. So the check waits for that line, not for a guess at how long a run takes.
    processed = replay_then_mark(hook, token, replay, "zoo-throttle-mark.service", procs)
    if processed is None:
        missing.append("throttle")
        timeline.missing("throttle: one run for repeated firing events", "the rulebook never noted the mark")
        return missing
    lines = rulebook.snapshot()
    firing_events = sum(1 for _w, t in lines if FIRING_EVENT.search(t))
    # ansible-rulebook logs a failed playbook's output a second time; a successful run shows once
    plays = sum(1 for _w, t in lines if PLAY_START in t)
    detail = "replayed notification answered %d; %d firing events received, %d playbook run(s)" % (
        status,
        firing_events,
        plays,
    )
    if status == 200 and plays == 1 and firing_events >= 2:
        timeline.mark("throttle: one run for repeated firing events", detail)
    else:
        missing.append("throttle")
        timeline.missing("throttle: one run for repeated firing events", detail + " (want 200, >= 2 events, 1 run)")
    missing.extend(injected_through_alertmanager(args, timeline, rulebook, am))
    return missing


def replay_then_mark(hook, token, replay, unit, procs):
    """Post a resolved copy of REPLAY for UNIT; wait (bounded) until the rulebook notes it."""
    mark = copy.deepcopy(replay)
    mark["status"] = "resolved"
    mark["alerts"][0].update(status="resolved", fingerprint="mark", endsAt=mark["alerts"][0]["startsAt"])
    mark["alerts"][0]["labels"] = dict(mark["alerts"][0]["labels"], unit=unit)
    mark["commonLabels"] = mark["alerts"][0]["labels"]
    posted = time.time()
    http(
        hook,
        data=json.dumps(mark).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
    )
    noted = re.compile(r"resolved: %s on \S+ %s: no action" % (ALERT, re.escape(unit)))
    return wait_for("the rulebook notes %s" % unit, 120, lambda: first_line(procs["rulebook"], noted, posted), procs)


def injected_through_alertmanager(args, timeline, rulebook, am):
    """Alertmanager's API takes alerts from anyone who reaches it: labels that try to run code on this machine
    travel the whole way to the rulebook, which must start no playbook for them (docs/alerts.md)."""
    name = "injected labels via Alertmanager: no playbook, nothing ran"
    marker = os.path.join(os.path.abspath(args.workdir), "injected-marker")
    code = '{{ lookup("pipe", "id > %s") }}' % marker
    alerts = [
        {"labels": {"alertname": ALERT + code, "host": args.host, "unit": UNIT}},
        {"labels": {"alertname": ALERT, "host": args.host + code, "unit": UNIT}},
        {"labels": {"alertname": ALERT, "host": args.host, "unit": UNIT + "\n" + code}},
    ]
    posted = time.time()
    plays_before = sum(1 for _w, t in rulebook.snapshot() if PLAY_START in t)
    status, _body = http(
        am + "/api/v2/alerts", data=json.dumps(alerts).encode(), headers={"Content-Type": "application/json"}
    )

    def arrived():
        events = sum(1 for w, t in rulebook.snapshot() if w >= posted and FIRING_EVENT.search(t))
        return events if events >= len(alerts) else None

    events = wait_for(name, 90, arrived, {"ansible-rulebook": rulebook}) or 0
    time.sleep(10)
    plays = sum(1 for _w, t in rulebook.snapshot() if PLAY_START in t) - plays_before
    detail = "%d alerts posted to Alertmanager (answered %d), %d firing events reached the rulebook, " % (
        len(alerts),
        status,
        events,
    )
    detail += "%d playbook run(s), marker %s" % (plays, "WRITTEN" if os.path.exists(marker) else "absent")
    if status == 200 and events >= len(alerts) and plays == 0 and not os.path.exists(marker):
        timeline.mark(name, detail)
        return []
    timeline.missing(name, detail + " (want 200, >= %d events, 0 runs, marker absent)" % len(alerts))
    return [name]


def main():
    parser = argparse.ArgumentParser(description="The alert loop end to end (see the comment at the top).")
    parser.add_argument("--host", required=True, help="inventory name (and container name) of the lab host")
    parser.add_argument("--node-exporter", required=True, help="ADDRESS:PORT where the lab's node_exporter answers")
    parser.add_argument("--rules", required=True, help="the rendered rule file Prometheus loads")
    parser.add_argument("--rulebook", default="reaper.systemd.reaper_alerts")
    parser.add_argument("--eda-venv", required=True, help="virtualenv with ansible-rulebook and ansible-core")
    parser.add_argument("--workdir", required=True, help="emptied, then holds configs, data and logs")
    parser.add_argument("--firing-deadline", type=int, default=300, help="seconds from the start to firing")
    parser.add_argument("--action-deadline", type=int, default=90, help="seconds from firing to the playbook")
    parser.add_argument("--remediation-deadline", type=int, default=240, help="seconds from playbook to result")
    parser.add_argument("--resolved-deadline", type=int, default=240, help="seconds from result to resolved")
    args = parser.parse_args()

    for tool in ("prometheus", "promtool", "prometheus-alertmanager", "amtool", "java", "podman"):
        if shutil.which(tool) is None:
            print("loop: %s is not installed (make eda-loop installs it)" % tool, file=sys.stderr)
            return 1
    if not os.access(os.path.join(args.eda_venv, "bin", "ansible-rulebook"), os.X_OK):
        print("loop: no ansible-rulebook in %s (make eda-venv)" % args.eda_venv, file=sys.stderr)
        return 1

    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ports = {"prometheus": free_port(), "alertmanager": free_port(), "rulebook": free_port()}
    token = secrets.token_urlsafe(24)
    paths = configure(args, work, ports, token)
    check_configs(work)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    timeline = Timeline()
    procs = {}
    missing = []
    try:
        procs = start(args, work, ports, paths)
        timeline.start = time.time()
        missing = run_loop(args, timeline, procs, ports, token)
    except (LoopFailed, Stopped, subprocess.SubprocessError) as exc:
        missing.append(str(exc))
        print("loop: %s" % exc, file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for proc in procs.values():
            proc.stop()
    timeline.show()
    print("   logs: %s/{prometheus,alertmanager,ansible-rulebook}.log" % work)
    if missing:
        for proc in procs.values():
            print("\n== last lines of %s (%s)" % (proc.name, proc.log_path))
            for line in proc.tail():
                print("   " + line)
        print("\nloop: FAILED: %s" % "; ".join(missing))
        return 1
    print("\nloop: the alert fired, the rulebook remediated the unit once, the alert resolved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
