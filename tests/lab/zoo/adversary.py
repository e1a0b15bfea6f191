# adversary: the lab side of the adversarial zoo (molecule/shared/adversarial_*.yml).
# Every expectation comes from the zoo's ground truth, /proc and systemd, never from
# the code under test; the results of process_facts and reap are only judged here.
#
#   python3 adversary.py plan PHASE            what PHASE must remove (leaks) and leave alone
#                                              (keep), from the ground truth and /proc
#   python3 adversary.py observe PHASE LABEL   /proc and systemd for every PID and unit of the plan
#   python3 adversary.py trigger PHASE RUN [MIN_AGE]
#                                              wait until the transient worker of RUN is MIN_AGE seconds
#                                              old, end it, wait until it is a zombie
#   python3 adversary.py release PHASE RUN     let zoo-transient reap that worker; wait until it has
#   python3 adversary.py wait-spacing PHASE RUN SECONDS
#                                              sleep until SECONDS after observation run<RUN>-after
#   python3 adversary.py facts FILE            judge process_facts (ansible_facts.reaper as JSON in FILE)
#   python3 adversary.py judge PHASE MIN_ZOMBIE_AGE
#                                              judge the phase: a JSON list of checks
#                                              {point, phase, ok, saw}, one per point
# Lab state lives in /run/reaper-zoo-lab/PHASE/ (not in the ground truth directory).
import json
import os
import signal
import sys
import time

import zoo_probe
import zoolib

LAB_DIR = os.environ.get("REAPER_ZOO_LAB_DIR", "/run/reaper-zoo-lab")
TRANSIENT = "zoo-transient"
RESTARTED = ["zoo-zombie-factory.service", "zoo-neglect.service"]
NOT_RESTARTED = [
    "zoo-engine.service",
    "cron.service",
    "zoo-transient.service",
    "zoo-decoy.service",
    "zoo-delegate.service",
    "zoo-forking.service",
    "zoo-threads.service",
    "zoo-reaper.service",
    "zoo-unprivileged.service",
    "zoo-worker-leak.service",
    "zoo-survivor.service",
    "zoo-scope-escape.service",
    "zoo-cgroup-move.service",
    "zoo-pam-escape.service",
    "zoo-pam-orphan.service",
]


def _path(phase, name):
    return os.path.join(LAB_DIR, phase, name + ".json")


def _save(phase, name, data):
    os.makedirs(os.path.join(LAB_DIR, phase), mode=0o700, exist_ok=True)
    tmp = _path(phase, name) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, _path(phase, name))


def _load(phase, name):
    with open(_path(phase, name), encoding="utf-8") as handle:
        return json.load(handle)


def _alive(pid):
    stat = zoolib.read_stat(pid)
    return stat is not None and stat["state"] != "Z"


def _older_invocations(truth, name):
    """Records of NAME@<invocation> whose invocation is not the current one."""
    current = truth.get(name, {}).get("invocation_id")
    return [v for k, v in sorted(truth.items()) if k.startswith(name + "@") and v.get("invocation_id") != current]


def plan(phase):
    t = zoo_probe.truth()["truth"]
    survivors = [p for r in _older_invocations(t, "zoo-survivor") for p in r["children"] if _alive(p)]
    leaks = {
        "zoo-zombie-factory zombies": t["zoo-zombie-factory"]["zombies"],
        "zoo-worker-leak worker and zombies": [t["zoo-worker-leak"]["worker_pid"]] + t["zoo-worker-leak"]["zombies"],
        "zoo-neglect worker and zombies": [t["zoo-neglect"]["worker_pid"]] + t["zoo-neglect"]["zombies"],
        "zoo-leftover left-overs": t["zoo-leftover"]["children"],
        "zoo-user-leftover left-overs": t["zoo-user-leftover"]["children"],
        "zoo-survivor survivors": survivors,
        "zoo-scope-escape escape": t["zoo-scope-escape"]["escaped"],
        "zoo-cgroup-move escape": t["zoo-cgroup-move"]["moved"],
        "zoo-pam-escape escapes": t["zoo-pam-escape"]["escaped"],
    }
    triggered = [r["pid"] for r in t[TRANSIENT].get("reaped", [])]
    idle = [p for p in t[TRANSIENT]["workers"] if p not in triggered and _alive(p)]
    if len(idle) < 2:
        raise RuntimeError("zoo-transient has %d idle workers left, a phase needs 2: %r" % (len(idle), t[TRANSIENT]))
    engine = t["zoo-engine"]
    keep = {
        "containers": engine["container_pids"],
        "container engine and shims": [engine["main_pid"]] + engine["shims"],
        "cron and its jobs": [t["cron"]["main_pid"]]
        + [p for r in _older_invocations(t, "cron") for p in r["jobs"]]
        + t["cron"]["jobs"],
        "zoo-transient main and idle workers": [t[TRANSIENT]["main_pid"]] + idle[2:],
        "controls": [
            p
            for name in ("zoo-decoy", "zoo-delegate", "zoo-forking", "zoo-threads", "zoo-reaper", "zoo-unprivileged")
            for p in [t[name]["main_pid"]] + t[name].get("children", [])
        ],
        "main processes of leaking units": [
            t[name]["main_pid"]
            for name in ("zoo-worker-leak", "zoo-survivor", "zoo-scope-escape", "zoo-cgroup-move", "zoo-pam-escape")
        ]
        + t["zoo-survivor"]["children"],
        "unattributed PAM orphans": t["zoo-pam-orphan"]["orphans"],
    }
    record = {
        "phase": phase,
        "leaks": leaks,
        "keep": keep,
        "transient_workers": idle[:2],
        "neglect_worker": t["zoo-neglect"]["worker_pid"],
        "cron_survivors": [p for r in _older_invocations(t, "cron") for p in r["jobs"]],
        "container_pids": engine["container_pids"],
        "units": sorted(set(RESTARTED + NOT_RESTARTED)),
    }
    _save(phase, "plan", record)
    return record


def observe(phase, label):
    p = _load(phase, "plan")
    pids = sorted(
        set(
            [pid for v in p["leaks"].values() for pid in v]
            + [pid for v in p["keep"].values() for pid in v]
            + p["transient_workers"]
        )
    )
    record = {
        "label": label,
        "boottime": time.clock_gettime(time.CLOCK_BOOTTIME),
        "procs": dict((str(pid), zoo_probe.probe(pid)) for pid in pids),
        "units": zoo_probe.units(p["units"]),
    }
    _save(phase, label, record)
    return {"label": label, "boottime": record["boottime"]}


def trigger(phase, run, min_age="0"):
    pid = _load(phase, "plan")["transient_workers"][int(run) - 1]
    # Point 3 needs a zombie whose process is old enough to count by start time; how soon a
    # run comes after the zoo started depends on the machine, so the lab waits for it.
    before = zoo_probe.wait_older([pid], min_age)[pid]
    if not before["exists"] or before["stat"]["state"] == "Z":
        raise RuntimeError("transient worker %d is not running before the trigger: %r" % (pid, before))
    os.kill(pid, signal.SIGTERM)
    stat = zoolib.wait_for_state(pid, "Z")
    record = {"pid": pid, "age_s_at_trigger": before["age_s"], "uid": before["uid"], "state": stat["state"]}
    _save(phase, "trigger%s" % run, record)
    return record


def release(phase, run):
    pid = _load(phase, "plan")["transient_workers"][int(run) - 1]
    path = os.path.join(zoolib.TRUTH_DIR, "%s.release-%d" % (TRANSIENT, pid))
    with open(path, "w", encoding="utf-8"):
        pass
    deadline = time.monotonic() + zoolib.WAIT_S
    while zoolib.read_stat(pid) is not None:
        if time.monotonic() > deadline:
            raise RuntimeError("zoo-transient did not reap worker %d within %gs of its release" % (pid, zoolib.WAIT_S))
        time.sleep(0.1)
    return {"pid": pid, "reaped": True}


def wait_spacing(phase, run, seconds):
    since = _load(phase, "run%s-after" % run)["boottime"]
    left = since + float(seconds) - time.clock_gettime(time.CLOCK_BOOTTIME)
    if left > 0:
        time.sleep(left)
    return {"slept_s": round(max(left, 0), 1)}


# ------------------------------------------------------------------ judging


def _same(before, after, pid):
    """PID is still the same live process (same start time, not a zombie)."""
    b, a = before["procs"][str(pid)], after["procs"][str(pid)]
    return (
        a["exists"] and b["exists"] and a["stat"]["starttime"] == b["stat"]["starttime"] and a["stat"]["state"] != "Z"
    )


def _gone(before, after, pid):
    b, a = before["procs"][str(pid)], after["procs"][str(pid)]
    return not a["exists"] or (b["exists"] and a["stat"]["starttime"] != b["stat"]["starttime"])


def _desc(obs, pid):
    p = obs["procs"][str(pid)]
    if not p["exists"]:
        return "%s gone" % pid
    return "%s %s %s uid=%s" % (pid, p["stat"]["comm"], p["stat"]["state"], p["uid"])


def _check(point, phase, ok, saw):
    return {"point": point, "phase": phase, "ok": bool(ok), "saw": saw}


def _runs(phase):
    runs = []
    for run in (1, 2):
        try:
            runs.append(
                {
                    "run": run,
                    "before": _load(phase, "run%d-before" % run),
                    "after": _load(phase, "run%d-after" % run),
                    "trigger": _load(phase, "trigger%d" % run),
                    "result": _load(phase, "run%d-result" % run),
                }
            )
        except FileNotFoundError:
            pass
    return runs


def judge(phase, min_zombie_age):
    p = _load(phase, "plan")
    before, after = _load(phase, "before"), _load(phase, "after")
    runs = _runs(phase)
    checks = []

    def inv(obs, unit):
        return obs["units"][unit]["InvocationID"]

    # 1. containers under a cgroupfs-driver engine stay alive
    lost = [
        _desc(after, pid)
        for pid in p["keep"]["containers"] + p["keep"]["container engine and shims"]
        if not _same(before, after, pid)
    ]
    checks.append(
        _check(
            "1 containers",
            phase,
            not lost and inv(before, "zoo-engine.service") == inv(after, "zoo-engine.service"),
            "container processes %s (other PID namespace: %s), engine+shims %s; lost: %s; engine invocation %s -> %s"
            % (
                p["keep"]["containers"],
                sorted(set(before["procs"][str(x)]["pid_ns"] for x in p["keep"]["containers"])),
                p["keep"]["container engine and shims"],
                lost,
                inv(before, "zoo-engine.service"),
                inv(after, "zoo-engine.service"),
            ),
        )
    )

    # 2. by design: cron.service (KillMode=process) keeps its restart survivors
    lost = [_desc(after, pid) for pid in p["keep"]["cron and its jobs"] if not _same(before, after, pid)]
    reported = []
    for r in runs:
        for item in r["result"].get("skipped_actions") or []:
            if item.get("unit") == "cron.service":
                reported.append(
                    "run %d: %s %s: %s" % (r["run"], item.get("action"), item.get("pid"), item.get("reason"))
                )
    reap_ok = phase != "reap" or bool(reported)
    checks.append(
        _check(
            "2 by design",
            phase,
            not lost and reap_ok and inv(before, "cron.service") == inv(after, "cron.service"),
            "cron.service survivors %s and jobs %s; lost: %s; invocation %s -> %s; reported by reap: %s"
            % (
                p["cron_survivors"],
                p["keep"]["cron and its jobs"][1:],
                lost,
                inv(before, "cron.service"),
                inv(after, "cron.service"),
                reported or ("(not applicable to the timer)" if phase != "reap" else "nothing"),
            ),
        )
    )

    # 3. a transient zombie of an old worker never restarts its unit
    problems, seen = [], []
    for r in runs:
        pid = r["trigger"]["pid"]
        b, a = r["before"]["procs"][str(pid)], r["after"]["procs"][str(pid)]
        zombie_throughout = b["exists"] and b["stat"]["state"] == "Z" and a["exists"] and a["stat"]["state"] == "Z"
        old = r["trigger"]["age_s_at_trigger"] >= float(min_zombie_age)
        seen.append(
            "run %d: worker %d (uid %s) %.0fs old, zombie before/after the run: %s/%s"
            % (
                r["run"],
                pid,
                r["trigger"]["uid"],
                r["trigger"]["age_s_at_trigger"],
                b["stat"]["state"] if b["exists"] else "gone",
                a["stat"]["state"] if a["exists"] else "gone",
            )
        )
        if not zombie_throughout:
            problems.append("lab: the zombie of worker %d did not last the whole run %d" % (pid, r["run"]))
        if not old:
            problems.append("lab: worker %d was younger than min_zombie_age %s" % (pid, min_zombie_age))
    invocations = [
        inv(o, "zoo-transient.service")
        for o in [before] + [x for r in runs for x in (r["before"], r["after"])] + [after]
    ]
    if len(set(invocations)) != 1:
        problems.append("zoo-transient.service was restarted: invocations %s" % invocations)
    lost = [
        _desc(after, pid) for pid in p["keep"]["zoo-transient main and idle workers"] if not _same(before, after, pid)
    ]
    if lost:
        problems.append("lost %s" % lost)
    if len(runs) != 2:
        problems.append("only %d runs recorded" % len(runs))
    checks.append(_check("3 transient zombie", phase, not problems, "; ".join(seen + problems)))

    # 4. leaks owned by a non-root user are cleaned, nothing else of theirs is touched
    leaks = sorted(set(pid for v in p["leaks"].values() for pid in v))
    keep = sorted(set(pid for v in p["keep"].values() for pid in v))
    user_leaks = [pid for pid in leaks if before["procs"][str(pid)].get("uid") not in (0, None)]
    user_keep = [pid for pid in keep if before["procs"][str(pid)].get("uid") not in (0, None)]
    left = [_desc(after, pid) for pid in user_leaks if not _gone(before, after, pid)]
    lost = [_desc(after, pid) for pid in user_keep if not _same(before, after, pid)]
    checks.append(
        _check(
            "4 non-root",
            phase,
            user_leaks and user_keep and not left and not lost,
            "non-root leaks %s: still there %s; non-root processes to keep %s: lost %s"
            % (user_leaks, left, user_keep, lost),
        )
    )

    # 5. the zoo's real leaks are removed, and nothing else
    left = dict(
        (what, [_desc(after, pid) for pid in pids if not _gone(before, after, pid)])
        for what, pids in p["leaks"].items()
    )
    left = dict((k, v) for k, v in left.items() if v)
    empty = [what for what, pids in p["leaks"].items() if not pids]
    lost = [_desc(after, pid) for pid in keep if not _same(before, after, pid)]
    not_restarted = [u for u in RESTARTED if inv(before, u) == inv(after, u)]
    restarted = [u for u in NOT_RESTARTED if inv(before, u) != inv(after, u)]
    failed = [
        "run %d: %s" % (r["run"], r["result"].get("msg") or r["result"].get("rc"))
        for r in runs
        if r["result"].get("failed")
    ]
    checks.append(
        _check(
            "5 real leaks",
            phase,
            not left
            and not empty
            and not lost
            and not not_restarted
            and not restarted
            and not failed
            and len(runs) == 2,
            "leaks %s; still there: %s; lab categories with nothing to clean: %s; kept %d processes, lost: %s; "
            "expected restarts missing: %s; unexpected restarts: %s; failed runs: %s"
            % (
                dict((k, len(v)) for k, v in p["leaks"].items()),
                left,
                empty,
                len(keep),
                lost,
                not_restarted,
                restarted,
                failed,
            ),
        )
    )

    # 5b. a killed worker whose parent never reaps it: its unit is restarted in the same run
    unit, worker = "zoo-neglect.service", p["neglect_worker"]
    seen, problems = [], []
    for r in runs:
        b, a = r["before"]["procs"][str(worker)], r["after"]["procs"][str(worker)]
        killed = (b["exists"] and b["stat"]["state"] != "Z") and (not a["exists"] or a["stat"]["state"] == "Z")
        restarted_now = inv(r["before"], unit) != inv(r["after"], unit)
        seen.append(
            "run %d: worker %s -> %s, restarted %s"
            % (r["run"], _desc(r["before"], worker), _desc(r["after"], worker), restarted_now)
        )
        if killed and not restarted_now:
            problems.append("run %d killed the worker and left its zombie to a parent that never reaps" % r["run"])
    if not _gone(before, after, worker) or inv(before, unit) == inv(after, unit):
        problems.append(
            "at the end: worker %s, invocation %s -> %s" % (_desc(after, worker), inv(before, unit), inv(after, unit))
        )
    checks.append(_check("5b restart after kill", phase, not problems, "; ".join(seen + problems)))
    return checks


def _pids_of(items):
    """PIDs of a list of PIDs or of process items ({pid: ...}); anything else lists none."""
    if not isinstance(items, list):
        return []
    return sorted(int(i["pid"]) if isinstance(i, dict) else int(i) for i in items)


def facts(path):
    """Judge one process_facts scan: containers and by-design survivors."""
    with open(path, encoding="utf-8") as handle:
        r = json.load(handle)
    t = zoo_probe.truth()["truth"]
    engine = t["zoo-engine"]
    checks = []
    containers = r.get("host", {}).get("containers")
    # host.containers: one item per container cgroup (systemd's view of the path), with the
    # number of processes handed off there (or their list).
    missing = []
    for c in engine["containers"]:
        items = [i for i in containers or [] if str(i.get("cgroup", "")).endswith(c["cgroup"])]
        listed = items[0].get("processes") if len(items) == 1 else None
        count = len(listed) if isinstance(listed, list) else listed
        if count != len(c["pids"]) or (isinstance(listed, list) and _pids_of(listed) != sorted(c["pids"])):
            missing.append("%s: %d processes %s, listed %r" % (c["cgroup"], len(c["pids"]), c["pids"], items))
    reported = {}
    for name, unit in r.get("units", {}).items():
        for key in ("escaped", "survivors", "leftovers", "zombies"):
            hit = [p for p in _pids_of(unit.get(key)) if p in engine["container_pids"]]
            if hit:
                reported["%s %s" % (name, key)] = hit
    unattributed = [p for p in _pids_of(r.get("host", {}).get("unattributed_escapes")) if p in engine["container_pids"]]
    if unattributed:
        reported["host unattributed_escapes"] = unattributed
    engine_findings = sorted(f["code"] for f in r.get("findings", []) if f.get("unit") == "zoo-engine.service")
    checks.append(
        _check(
            "1 containers",
            "process_facts",
            containers is not None and not missing and not reported and "escaped" not in engine_findings,
            "container processes %s in %s; host.containers: %s; not listed as expected: %s; reported as leaks: %s; "
            "zoo-engine.service findings: %s"
            % (
                engine["container_pids"],
                [c["cgroup"] for c in engine["containers"]],
                "absent" if containers is None else containers,
                missing,
                reported,
                engine_findings,
            ),
        )
    )
    cron = r.get("units", {}).get("cron.service", {})
    survivors = sorted(p for rec in _older_invocations(t, "cron") for p in rec["jobs"])
    got = _pids_of(cron.get("survivors"))
    findings = [f for f in r.get("findings", []) if f.get("unit") == "cron.service"]
    weak = [f for f in findings if f.get("code") == "weak_killmode"]
    by_design = bool(weak) and all((f.get("evidence") or {}).get("by_design") is True for f in weak)
    checks.append(
        _check(
            "2 by design",
            "process_facts",
            got == survivors and "survivors" in [f.get("code") for f in findings] and by_design,
            "cron.service survivors: expected %s, listed %s; findings %s; weak_killmode evidence %s"
            % (
                survivors,
                got,
                sorted("%s/%s" % (f.get("code"), f.get("severity")) for f in findings),
                [f.get("evidence") for f in weak],
            ),
        )
    )
    return checks


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "plan":
        out = plan(*args)
    elif command == "observe":
        out = observe(*args)
    elif command == "trigger":
        out = trigger(*args)
    elif command == "release":
        out = release(*args)
    elif command == "wait-spacing":
        out = wait_spacing(*args)
    elif command == "facts":
        out = facts(*args)
    elif command == "judge":
        out = judge(*args)
    else:
        sys.stderr.write("unknown command %r\n" % command)
        return 2
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
