# fault-probe: run the cleanup once under a fault and collect, as one JSON object,
# what an operator could see afterwards: the exit status (or the service's Result),
# the journal entries, the metrics file, the state file (sha256, valid JSON or not),
# the files in the state directory and whether the lock is free. Everything comes
# from systemd, journald, the file system and /proc, never from the command's own
# report. One call per run keeps the scenario fast (each module call through
# podman exec costs about a second). Standard library only.
#
#   python3 fault_probe.py setup SPEC_JSON    install files, reload systemd, read the deployment
#   python3 fault_probe.py run SPEC_JSON      set a fault up, run the cleanup, collect the evidence
#
# setup SPEC_JSON: {"dirs": [PATH], "files": {PATH: TEXT}, "service": NAME, "good_state": PATH}
# run SPEC_JSON (every key but "how" optional; steps in this order):
#   "fresh": true             the good state back (copied from "good_state"), no pause switch
#   "config", "policy"        write the policy (JSON, root, 0644) to the config file
#   "state_content" | "state_symlink"   write the state file, or make it a symlink
#   "victim": {path, content} write a file the cleanup must never touch
#   "leftover": UNIT          start and stop UNIT (KillMode=process): its left-overs, once
#                             older than the cleanup's minimum age of a target
#   "leftovers_known": [...]  left-overs of an earlier step, to report whether they live
#   "factories": [UNIT...]    start UNIT afresh and wait until its main process holds zombies
#   "pre_sh": SCRIPT          run with bash -euo pipefail before the cleanup
#   "how": "service" | "command" | "none"   systemctl start, the command ("argv"), or no run
#   "kill9_after": {message_id, pid}   (service) SIGKILL the main process once that audit line is in
#   "repeat": {"seconds": N, "until": {"key": K, "contains": X} | {"key": K, "nonempty": true}}
#                             (command, "--json" in argv) run again every second until the
#                             last line of stdout (JSON) satisfies the condition
#   "unpark_argv": [...]      run once before the cleanup (its rc, stdout, stderr are returned)
#   "post_sh": SCRIPT         run with bash after the evidence is collected, whatever happened
import fcntl
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

IDENTIFIERS = ("reaper-systemd", "reaper-cleanup")
# Bound on each wait for the lab (a unit's processes, zombies, a journal line): a loaded 2-core
# machine can take seconds; a wait ends as soon as its condition holds.
WAIT_S = 60.0
# The cleanup acts only on a process older than 1 s at its scan (remediation.MIN_CANDIDATE_AGE_S:
# a PID reused within a clock tick could impersonate a younger one). A step's left-overs are
# waited for until they are older than that, with a margin: how soon the run comes after they
# started depends on the machine.
CANDIDATE_AGE_S = 2.0


def sh(argv, timeout=600):
    proc = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr


def cursor():
    """A mark in the journal: now, as journalctl --since takes it. (An --after-cursor read
    missed entries of the service's own process under load; journald's receive time does not.)"""
    subprocess.run(["journalctl", "--sync"], check=False)
    return "@%.6f" % time.time()


def journal(after):
    subprocess.run(["journalctl", "--sync"], check=False)
    argv = ["journalctl", "--no-pager", "-o", "json"]
    if after:
        argv += ["--since", after]
    argv += ["SYSLOG_IDENTIFIER=%s" % IDENTIFIERS[0], "+", "SYSLOG_IDENTIFIER=%s" % IDENTIFIERS[1]]
    _rc, out, _err = sh(argv)
    keep = (
        "MESSAGE",
        "MESSAGE_ID",
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
        "UNIT",
        "OBJECT_PID",
        "REASON",
        "REAPER_ACTION",
        "__REALTIME_TIMESTAMP",
        "_SYSTEMD_UNIT",
    )
    entries = []
    for line in out.splitlines():
        entry = json.loads(line)
        item = dict((k, entry[k]) for k in keep if k in entry)
        item.update((k, v) for k, v in entry.items() if k.startswith("REAPER_"))
        if isinstance(item.get("MESSAGE"), list):  # non-UTF-8 or non-printable bytes (ESC, a bidi override...)
            item["MESSAGE"] = bytes(item["MESSAGE"]).decode("utf-8", "replace")
            item["MESSAGE_NOT_TEXT"] = True
        entries.append(item)
    return entries


def stat(pid):
    """(comm, fields from field 3 on) of /proc/PID/stat, or None when PID is gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            raw = handle.read()
    except OSError:
        return None
    return raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()


def starttime(pid):
    found = stat(pid)
    return int(found[1][19]) if found else None


def age_s(pid):
    """Seconds PID has lived (CLOCK_BOOTTIME, what /proc counts start times in), None when gone."""
    start = starttime(pid)
    if start is None:
        return None
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start / os.sysconf("SC_CLK_TCK")


def wait_for(what, probe, timeout=WAIT_S):
    """PROBE's first true value; exits with WHAT and the last value after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit("no %s after %g s (last seen: %r)" % (what, timeout, value))
        time.sleep(0.1)


def in_cgroup_of(unit):
    pids = []
    for path in glob.glob("/proc/[0-9]*/cgroup"):
        try:
            with open(path) as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        if any(line.endswith("/" + unit) for line in lines):
            pid = int(path.split("/")[2])
            pids.append({"pid": pid, "starttime": starttime(pid)})
    return sorted(pids, key=lambda p: p["pid"])


def systemctl(verb, unit):
    rc, _out, err = sh(["systemctl", verb, unit])
    if rc != 0:
        raise SystemExit("systemctl %s %s failed: %s" % (verb, unit, err))


def leftover(unit):
    """Start and stop UNIT (KillMode=process): its left-overs, once old enough for the cleanup.

    A fault unit's shell forks its left-over and execs sleep; systemd reports a Type=exec unit
    started once the shell is exec'd, so the stop waits until no shell is left in the cgroup and
    the fork has happened. (The left-over need not be a sleep: fault-hostile's renames itself.)"""
    systemctl("start", unit)

    def settled():
        procs = in_cgroup_of(unit)
        comms = [(stat(p["pid"]) or ("gone",))[0] for p in procs]
        return len(procs) >= 2 and "sh" not in comms and "gone" not in comms

    wait_for("the shell of %s forked and exec'd" % unit, settled)
    systemctl("stop", unit)
    procs = in_cgroup_of(unit)
    if not procs:
        raise SystemExit("stopping %s left no process behind" % unit)
    wait_for(
        "left-overs of %s older than %g s" % (unit, CANDIDATE_AGE_S),
        lambda: all((age_s(p["pid"]) or 0) >= CANDIDATE_AGE_S for p in procs),
        timeout=CANDIDATE_AGE_S + WAIT_S,
    )
    return procs


def alive(procs):
    return dict(("%d" % p["pid"], starttime(p["pid"]) == p["starttime"]) for p in procs)


def factory(unit, marker_dir):
    """Start UNIT afresh (its 'started once' marker removed); wait for zombies of its main PID."""
    sh(["systemctl", "stop", unit])
    sh(["systemctl", "reset-failed", unit])
    marker = os.path.join(marker_dir, unit[: -len(".service")] + ".started")
    if os.path.exists(marker):
        os.unlink(marker)
    rc, _out, err = sh(["systemctl", "start", unit])
    if rc != 0:
        raise SystemExit("systemctl start %s failed: %s" % (unit, err))

    def zombies():
        main_pid = int(service_show(unit).get("MainPID") or 0)
        return len([p for p in children(main_pid) if state_of(p) == "Z"])

    return wait_for("zombie of the main process of %s" % unit, zombies)


def children(ppid):
    out = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        pid = int(path.split("/")[2])
        found = stat(pid)
        if found and int(found[1][1]) == ppid:
            out.append(pid)
    return out


def state_of(pid):
    found = stat(pid)
    return found[1][0] if found else None


def bash(script):
    rc, out, err = sh(["bash", "-euo", "pipefail", "-c", script])
    if rc != 0:
        raise SystemExit("script failed (rc=%d): %s%s\n%s" % (rc, out, err, script))
    return out


def write_file(path, text, mode=0o644):
    if os.path.islink(path):
        os.unlink(path)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    os.chown(path, 0, 0)


def file_facts(path):
    facts = {"path": path, "exists": os.path.lexists(path), "symlink": os.path.islink(path)}
    if facts["exists"] and not facts["symlink"]:
        st = os.lstat(path)
        facts.update(uid=st.st_uid, mode="%04o" % (st.st_mode & 0o7777), size=st.st_size)
        with open(path, "rb") as handle:
            data = handle.read()
        facts["sha256"] = hashlib.sha256(data).hexdigest()
        try:
            facts["json"] = json.loads(data.decode("utf-8"))
            facts["valid_json"] = True
        except ValueError:
            facts["valid_json"] = False
    elif facts["symlink"]:
        facts["target"] = os.readlink(path)
    return facts


def lock_free(path):
    if os.path.islink(path) or not os.path.exists(path):
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def service_show(service):
    _rc, out, _err = sh(["systemctl", "show", service, "-p", "Result,ExecMainStatus,ExecMainCode,MainPID,ActiveState"])
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_for_entry(after, message_id, pid, timeout=2 * WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in journal(after):
            if entry.get("MESSAGE_ID") == message_id and str(entry.get("OBJECT_PID")) == str(pid):
                return True
        time.sleep(0.2)
    return False


def last_json(text):
    lines = [line for line in (text or "").splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def satisfied(data, until):
    if not isinstance(data, dict):
        return False
    value = data.get(until["key"])
    if until.get("nonempty"):
        return bool(value)
    return isinstance(value, list) and until["contains"] in value


def prepare(spec, result):
    if spec.get("fresh"):
        if spec.get("pause") and os.path.lexists(spec["pause"]):
            os.unlink(spec["pause"])
        if os.path.lexists(spec["state"]):
            os.unlink(spec["state"])
        shutil.copy2(spec["good_state"], spec["state"])
    if spec.get("policy") is not None:
        write_file(spec["config"], json.dumps(spec["policy"], indent=1, sort_keys=True) + "\n")
    if spec.get("victim"):
        write_file(spec["victim"]["path"], spec["victim"]["content"], 0o600)
    if spec.get("state_content") is not None:
        write_file(spec["state"], spec["state_content"], 0o600)
    if spec.get("state_symlink"):
        if os.path.lexists(spec["state"]):
            os.unlink(spec["state"])
        os.symlink(spec["state_symlink"], spec["state"])
    if spec.get("leftover"):
        result["leftovers"] = leftover(spec["leftover"])
    result["zombies"] = dict((unit, factory(unit, spec["marker_dir"])) for unit in spec.get("factories") or [])
    if spec.get("pre_sh"):
        result["pre_sh"] = bash(spec["pre_sh"])
    result["state_before"] = file_facts(spec["state"])
    result["state_before"].pop("json", None)


def run_service(spec, result, mark):
    service = spec["service"]
    # a fresh Result and no start limit from the previous runs
    sh(["systemctl", "reset-failed", service])
    kill9 = spec.get("kill9_after")
    if kill9:
        sh(["systemctl", "start", "--no-block", service])
        result["audit_seen"] = wait_for_entry(mark, kill9["message_id"], kill9["pid"])
        main_pid = int(service_show(service).get("MainPID") or 0)
        result["killed_pid"] = main_pid
        if main_pid > 1:
            os.kill(main_pid, signal.SIGKILL)
        deadline = time.monotonic() + WAIT_S
        while service_show(service).get("ActiveState") in ("activating", "deactivating"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        result["rc"] = None
    else:
        result["rc"], result["stdout"], result["stderr"] = sh(["systemctl", "start", service])
    result["service"] = service_show(service)


def run_command(spec, result):
    repeat = spec.get("repeat")
    deadline = time.monotonic() + (repeat["seconds"] if repeat else 0)
    result["runs"] = []
    while True:
        rc, out, err = sh(spec["argv"])
        result["rc"], result["stdout"], result["stderr"] = rc, out, err
        data = last_json(out)
        result["runs"].append({"rc": rc, "json": data, "stderr": err})
        if not repeat or satisfied(data, repeat["until"]) or time.monotonic() > deadline:
            break
        time.sleep(1)


def run(spec):
    result = {}
    try:
        prepare(spec, result)
        mark = cursor()
        result["cursor"] = mark
        if spec.get("unpark_argv"):
            rc, out, err = sh(spec["unpark_argv"])
            result["unpark"] = {"rc": rc, "stdout": out, "stderr": err}
        if spec["how"] == "service":
            run_service(spec, result, mark)
        elif spec["how"] == "command":
            run_command(spec, result)
        result["journal"] = journal(mark)
        result["state"] = file_facts(spec["state"])
        state_dir = os.path.dirname(spec["state"])
        result["state_dir"] = sorted(os.listdir(state_dir)) if os.path.isdir(state_dir) else None
        result["lock"] = file_facts(spec["lock"])
        result["lock"].pop("json", None)
        result["lock_free"] = lock_free(spec["lock"])
        if spec.get("victim"):
            result["victim"] = file_facts(spec["victim"]["path"])
        result["alive"] = alive(result.get("leftovers") or spec.get("leftovers_known") or [])
        prom = spec.get("prom")
        if prom and os.path.exists(prom):
            with open(prom) as handle:
                result["prom"] = handle.read().splitlines()
        else:
            result["prom"] = []
    finally:
        if spec.get("post_sh"):
            result["post_sh"] = sh(["bash", "-c", spec["post_sh"]])
    return result


def setup(spec):
    for path in spec.get("dirs") or []:
        os.makedirs(path, exist_ok=True)
    for path, text in spec["files"].items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_file(path, text)
    sh(["systemctl", "daemon-reload"])
    _rc, out, _err = sh(["systemctl", "show", "-p", "ExecStart", "--value", spec["service"]])
    argv = out.split("argv[]=", 1)[1].split(" ;", 1)[0].split()
    at = argv.index("--config")
    config = argv[at + 1]
    with open(config) as handle:
        deployed = handle.read()
    policy = json.loads(deployed)
    state = policy.get("state_path") or "/var/lib/reaper-systemd/state.json"
    shutil.copy2(state, spec["good_state"])
    return {"cmd": argv[:at] + argv[at + 2 :], "config": config, "deployed": deployed, "policy": policy}


def main(argv):
    if argv[0] == "setup":
        out = setup(json.loads(argv[1]))
    elif argv[0] == "run":
        out = run(json.loads(argv[1]))
    else:
        raise SystemExit("unknown command %r" % argv[0])
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
