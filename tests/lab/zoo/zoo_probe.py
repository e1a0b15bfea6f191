# zoo-probe: print what /proc says about the given PIDs as JSON (state, parent,
# session, comm, cgroup lines, INVOCATION_ID). The verify playbooks use it as an
# independent ground check and to show the evidence when an assertion fails.
#   python3 zoo_probe.py PID...     /proc evidence per PID
#   python3 zoo_probe.py --truth    every ground truth file, by name, plus the
#                                   current CLOCK_BOOTTIME (what /proc/uptime counts)
#   python3 zoo_probe.py --check    check that the zoo's story really happened
#                                   (prints a JSON list of problems; empty is good)
#   python3 zoo_probe.py --wait SECONDS NAME...
#                                   wait until every NAME has written its ground truth
#   python3 zoo_probe.py --units UNIT...
#                                   what systemd says of each UNIT (main PID, invocation,
#                                   state, restarts): the ground truth for "was it restarted"
#   python3 zoo_probe.py --wait-current SECONDS UNIT...
#                                   wait until each UNIT's ground truth (UNIT without
#                                   .service) was written by its current invocation
#   python3 zoo_probe.py --wait-older SECONDS PID...
#                                   wait until every PID has lived SECONDS (by its start
#                                   time in /proc); prints their /proc evidence
#   python3 zoo_probe.py --wait-until EPOCH
#                                   sleep until the wall clock reads EPOCH (seconds since
#                                   1970), at most an hour
# A lab precondition that takes time (a process old enough, a zombie seen long enough) is
# waited for here, never assumed from how long the steps before it took: how fast those
# are depends on the machine and on what else runs on it.
import glob
import json
import os
import subprocess
import sys
import time

import zoolib


def invocation_id(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            for item in handle.read().split(b"\0"):
                if item.startswith(b"INVOCATION_ID="):
                    return item.split(b"=", 1)[1].decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError as exc:
        return "unreadable: %s" % exc
    return None


def real_uid(pid):
    try:
        with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def ancestors(pid):
    """Parent chain of PID up to (excluding) PID 1 or a parent outside the PID namespace."""
    chain = []
    stat = zoolib.read_stat(pid)
    while stat is not None and stat["ppid"] > 1 and stat["ppid"] not in chain:
        chain.append(stat["ppid"])
        stat = zoolib.read_stat(stat["ppid"])
    return chain


def pid_namespace(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError as exc:
        return "unreadable: %s" % exc


def probe(pid):
    stat = zoolib.read_stat(pid)
    if stat is None:
        return {"exists": False}
    return {
        "exists": True,
        "uid": real_uid(pid),
        "ancestors": ancestors(pid),
        "stat": stat,
        # seconds since the process started (CLOCK_BOOTTIME, what /proc counts in)
        "age_s": round(time.clock_gettime(time.CLOCK_BOOTTIME) - stat["starttime"] / os.sysconf("SC_CLK_TCK"), 2),
        "cgroup": zoolib.cgroup_lines(pid),
        "pid_ns": pid_namespace(pid),
        "invocation_id": invocation_id(pid),
    }


UNIT_PROPERTIES = ("Id", "MainPID", "InvocationID", "ActiveState", "SubState", "NRestarts", "KillMode")


def units(names):
    """What systemd says of each unit, independent of the code under test."""
    argv = ["systemctl", "show", "--property=" + ",".join(UNIT_PROPERTIES), "--"] + list(names)
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    result = {}
    for block in out.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        props["MainPID"] = int(props.get("MainPID") or 0)
        result[props["Id"]] = props
    return result


def wait_current(timeout, names):
    """Wait until each unit's ground truth names the unit's current invocation."""
    deadline = time.monotonic() + timeout
    while True:
        now = units(names)
        stale = []
        for name in names:
            path = os.path.join(zoolib.TRUTH_DIR, name[: -len(".service")] + ".json")
            try:
                with open(path, encoding="utf-8") as handle:
                    written = json.load(handle).get("invocation_id")
            except (OSError, ValueError):
                written = None
            if not written or written != now[name]["InvocationID"]:
                stale.append(name)
        if not stale or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if stale:
        sys.stderr.write("no ground truth from the current invocation after %ss: %s\n" % (timeout, " ".join(stale)))
        return 1
    sys.stdout.write("ground truth current for %d units\n" % len(names))
    return 0


def wait_older(pids, seconds, slack=60.0):
    """Wait until every PID has lived SECONDS; return {pid: probe}. A PID that is gone ends
    the wait (its probe says so: the caller decides); SECONDS + SLACK without it raises."""
    seconds = float(seconds)
    deadline = time.monotonic() + seconds + slack
    while True:
        probes = dict((pid, probe(pid)) for pid in pids)
        young = [p for p in probes.values() if p["exists"] and p["age_s"] < seconds]
        if not young:
            return probes
        if time.monotonic() > deadline:
            raise RuntimeError("still younger than %gs after waiting %gs: %r" % (seconds, seconds + slack, young))
        time.sleep(min(1.0, seconds - min(p["age_s"] for p in young) + 0.05))


def wait_until(epoch, longest=3600.0):
    """Sleep until time.time() >= EPOCH; refuse a wait longer than LONGEST (a wrong mark)."""
    left = float(epoch) - time.time()
    if left > longest:
        raise RuntimeError("refusing to wait %.0fs (more than %gs) for %s" % (left, longest, epoch))
    if left > 0:
        time.sleep(left)
    return {"until": float(epoch), "waited_s": round(max(left, 0.0), 1)}


def truth():
    files = {}
    for path in sorted(glob.glob(os.path.join(zoolib.TRUTH_DIR, "*.json"))):
        with open(path, encoding="utf-8") as handle:
            files[os.path.basename(path)[: -len(".json")]] = json.load(handle)
    return {"truth": files, "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)}


def _in_cgroup(pid, needle):
    return any(needle in line.split(":", 2)[2] for line in zoolib.cgroup_lines(pid))


def check():
    """The zoo's own invariants, from /proc only: a failure here is a lab problem."""
    files = truth()["truth"]
    problems = []

    def expect(ok, what, *pids):
        if not ok:
            problems.append({"problem": what, "proc": dict((str(p), probe(p)) for p in pids)})

    def alive(pid):
        stat = zoolib.read_stat(pid)
        return stat is not None and stat["state"] != "Z"

    for name in ("zoo-zombie-factory", "zoo-worker-leak"):
        t = files.get(name)
        if t is None:
            expect(False, "%s wrote no ground truth" % name)
            continue
        expect(alive(t["main_pid"]), "%s main process is gone" % name, t["main_pid"])
        for pid in t["zombies"]:
            stat = zoolib.read_stat(pid)
            expect(
                stat is not None and stat["state"] == "Z" and stat["ppid"] == t["zombie_parent"],
                "%s: %d is not a zombie of %d" % (name, pid, t["zombie_parent"]),
                pid,
            )
    t = files.get("zoo-leftover", {})
    expect(
        not alive(t.get("main_pid", 0)), "zoo-leftover still runs: was side_effect (stop) run?", t.get("main_pid", 0)
    )
    for pid in t.get("children", []):
        expect(alive(pid) and _in_cgroup(pid, "/zoo-leftover.service"), "left-over %d is gone or moved" % pid, pid)
    current = files.get("zoo-survivor", {}).get("invocation_id")
    older = [v for k, v in files.items() if k.startswith("zoo-survivor@") and v.get("invocation_id") != current]
    expect(bool(older), "zoo-survivor has a single invocation: was side_effect (restart) run?")
    for record in older:
        for pid in record["children"]:
            expect(alive(pid) and _in_cgroup(pid, "/zoo-survivor.service"), "survivor %d is gone or moved" % pid, pid)
    t = files.get("zoo-pam-escape", {})
    for pid in t.get("escaped", []):
        expect(
            alive(pid) and _in_cgroup(pid, "/session-") and t["main_pid"] in ancestors(pid),
            "PAM escape %d is gone, not in a session scope or not below the main process" % pid,
            pid,
        )
    t = files.get("zoo-pam-orphan", {})
    for pid in t.get("orphans", []):
        expect(
            alive(pid) and _in_cgroup(pid, "/session-") and t["main_pid"] not in ancestors(pid),
            "PAM orphan %d is gone, not in a session scope or still below the main process" % pid,
            pid,
        )
    t = files.get("zoo-scope-escape", {})
    for pid in t.get("escaped", []):
        expect(
            alive(pid) and _in_cgroup(pid, "/" + t["scope"]) and t["main_pid"] in ancestors(pid),
            "scope escape %d is gone or not in %s" % (pid, t["scope"]),
            pid,
        )
    t = files.get("zoo-cgroup-move", {})
    for pid in t.get("moved", []):
        expect(
            alive(pid) and _in_cgroup(pid, "/" + t["target_unit"]) and t["main_pid"] in ancestors(pid),
            "moved child %d is gone or not in %s" % (pid, t["target_unit"]),
            pid,
        )
    t = files.get("zoo-delegate", {})
    for pid in t.get("children", []):
        expect(
            alive(pid) and _in_cgroup(pid, "/zoo-delegate.service/worker-"),
            "delegated worker %d is gone or not in a sub-cgroup" % pid,
            pid,
        )
    for name in ("zoo-decoy", "zoo-forking", "zoo-threads", "zoo-reaper", "zoo-delegate", "zoo-unprivileged"):
        t = files.get(name)
        expect(t is not None and alive(t["main_pid"]), "%s is not running" % name, *([t["main_pid"]] if t else []))
    return problems


def wait(timeout, names):
    deadline = time.monotonic() + timeout
    while True:
        missing = [n for n in names if not os.path.exists(os.path.join(zoolib.TRUTH_DIR, n + ".json"))]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if missing:
        sys.stderr.write("no ground truth after %ss from: %s\n" % (timeout, " ".join(missing)))
        return 1
    sys.stdout.write("ground truth from %d members\n" % len(names))
    return 0


def main(argv):
    if argv[:1] == ["--wait"]:
        return wait(float(argv[1]), argv[2:])
    if argv[:1] == ["--wait-current"]:
        return wait_current(float(argv[1]), argv[2:])
    if argv[:1] == ["--wait-older"]:
        probes = wait_older([int(pid) for pid in argv[2:]], argv[1])
        gone = sorted(pid for pid, p in probes.items() if not p["exists"])
        json.dump(dict((str(pid), p) for pid, p in probes.items()), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        if gone:
            sys.stderr.write("gone before they were %ss old: %s\n" % (argv[1], " ".join(map(str, gone))))
            return 1
        return 0
    if argv[:1] == ["--wait-until"]:
        json.dump(wait_until(argv[1]), sys.stdout)
        sys.stdout.write("\n")
        return 0
    if argv[:1] == ["--units"]:
        json.dump(units(argv[1:]), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if argv[:1] == ["--check"]:
        json.dump(check(), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if argv[:1] == ["--truth"]:
        json.dump(truth(), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    result = {str(int(pid)): probe(int(pid)) for pid in argv}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
