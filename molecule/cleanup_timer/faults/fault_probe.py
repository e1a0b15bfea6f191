# fault-probe: run the cleanup once under a fault and collect, as one JSON object,
# what an operator could see afterwards: the exit status (or the service's Result),
# the journal entries, the metrics file, the state file (sha256, valid JSON or not),
# the files in the state directory and whether the lock is free. Everything comes
# from systemd, journald, the file system and /proc, never from the command's own
# report. One call per run keeps the scenario fast (each module call through
# podman exec costs about a second). Standard library only.
#
#   python3 fault_probe.py cursor
#   python3 fault_probe.py journal CURSOR            reaper entries after CURSOR
#   python3 fault_probe.py leftover UNIT             start + stop UNIT, print what stayed in its cgroup
#   python3 fault_probe.py alive PID:STARTTIME...    which processes still exist (same start time)
#   python3 fault_probe.py run SPEC_JSON             run the cleanup, collect the evidence
#
# SPEC_JSON: {"how": "service"|"command", "argv": [...] (command), "service": NAME,
#             "state": PATH, "lock": PATH, "prom": PATH|null,
#             "kill9_after": {"message_id": ID, "pid": N} (service only: SIGKILL the
#             service's main process once the journal shows that audit entry)}
import fcntl
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

IDENTIFIERS = ("reaper-systemd", "reaper-cleanup")


def sh(argv, timeout=600):
    proc = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout
    )
    return proc.returncode, proc.stdout, proc.stderr


def cursor():
    subprocess.run(["journalctl", "--sync"], check=False)
    _rc, out, _err = sh(["journalctl", "-q", "-n", "0", "--show-cursor"])
    for line in out.splitlines():
        if line.startswith("-- cursor: "):
            return line[len("-- cursor: ") :]
    # an empty journal has no cursor: everything is new
    return ""


def journal(after):
    subprocess.run(["journalctl", "--sync"], check=False)
    argv = ["journalctl", "--no-pager", "-o", "json"]
    if after:
        argv += ["--after-cursor", after]
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
        if isinstance(item.get("MESSAGE"), list):  # non-UTF-8 bytes
            item["MESSAGE"] = bytes(item["MESSAGE"]).decode("utf-8", "replace")
        entries.append(item)
    return entries


def starttime(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            raw = handle.read()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[19])


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


def leftover(unit):
    for verb in ("start", "stop"):
        rc, _out, err = sh(["systemctl", verb, unit])
        if rc != 0:
            raise SystemExit("systemctl %s %s failed: %s" % (verb, unit, err))
    return in_cgroup_of(unit)


def alive(specs):
    out = {}
    for spec in specs:
        pid, start = spec.split(":")
        out[spec] = starttime(int(pid)) == int(start)
    return out


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


def wait_for_entry(after, message_id, pid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in journal(after):
            if entry.get("MESSAGE_ID") == message_id and str(entry.get("OBJECT_PID")) == str(pid):
                return True
        time.sleep(0.2)
    return False


def run(spec):
    mark = cursor()
    result = {"cursor": mark}
    if spec["how"] == "service":
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
            deadline = time.monotonic() + 30
            while service_show(service).get("ActiveState") in ("activating", "deactivating"):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            result["rc"] = None
        else:
            result["rc"], result["stdout"], result["stderr"] = sh(["systemctl", "start", service])
        result["service"] = service_show(service)
    else:
        result["rc"], result["stdout"], result["stderr"] = sh(spec["argv"])
    result["journal"] = journal(mark)
    result["state"] = file_facts(spec["state"])
    state_dir = os.path.dirname(spec["state"])
    result["state_dir"] = sorted(os.listdir(state_dir)) if os.path.isdir(state_dir) else None
    result["lock"] = file_facts(spec["lock"])
    result["lock"].pop("json", None)
    result["lock_free"] = lock_free(spec["lock"])
    prom = spec.get("prom")
    if prom and os.path.exists(prom):
        with open(prom) as handle:
            result["prom"] = handle.read().splitlines()
    else:
        result["prom"] = []
    return result


def main(argv):
    if argv[0] == "cursor":
        out = {"cursor": cursor()}
    elif argv[0] == "journal":
        out = journal(argv[1])
    elif argv[0] == "leftover":
        out = leftover(argv[1])
    elif argv[0] == "alive":
        out = alive(argv[1:])
    elif argv[0] == "run":
        out = run(json.loads(argv[1]))
    else:
        raise SystemExit("unknown command %r" % argv[0])
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
