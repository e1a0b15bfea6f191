"""A deterministic sample fleet for the report tests: what process_facts would have returned on
healthy and unhealthy hosts, one without systemd, one unreachable, one whose scan failed, and
attacker-chosen unit names and process names that must stay inert in the report."""

EVIL_UNIT = '<script>window.__xss=1</script>"<img src=x onerror=window.__xss=2>.service'
EVIL_COMM = "<b>x</b>\x1b[2J"


def _unit(counts, **extra):
    unit = {
        "active_state": "active",
        "sub_state": "running",
        "main_pid": 100,
        "control_group": "/system.slice/u.service",
        "kill_mode": "control-group",
        "kill_signal": 15,
        "send_sigkill": True,
        "timeout_stop_sec": 90,
        "tasks_current": 5,
        "tasks_max": 4915,
        "tasks_usage": 0.001,
        "delegate": False,
        "n_restarts": 0,
        "invocation_id": "0" * 32,
        "processes": 5,
        "zombies": [],
        "leftovers": [],
        "survivors": [],
        "escaped": [],
        "counts": dict({"zombies": 0, "leftovers": 0, "survivors": 0, "escaped": 0}, **counts),
    }
    unit.update(extra)
    return unit


def _finding(code, severity, unit, summary, remedy="see docs/fleet.md"):
    return {"code": code, "severity": severity, "unit": unit, "summary": summary, "evidence": {}, "remedy": remedy}


def _host(idx, units, findings, systemd=True, zombies_outside=0):
    zombies = sum(u["counts"]["zombies"] for u in units.values()) + zombies_outside
    return {
        "changed": False,
        "ansible_facts": {
            "reaper": {
                "host": {
                    "systemd": systemd,
                    "systemd_version": 252 if idx % 2 else 257,
                    "cgroup_layout": "hybrid",
                    "backend": "procfs",
                    "privilege": "full",
                    "pid_max": 32768,
                    "threads_max": 250000,
                    "processes": 100 + idx * 7,
                    "threads": 120 + idx * 9,
                    "zombies": zombies,
                    "pid_usage": (100 + idx * 7) / 32768.0,
                    "thread_usage": 0.001,
                    "zombies_outside_units": [
                        {"pid": 30000 + n, "ppid": 999, "parent_comm": "cron", "parent_is_main": False, "age_s": 600}
                        for n in range(zombies_outside)
                    ],
                    "unattributed_escapes": [],
                },
                "units": units,
                "findings": findings,
                "unmatched": [],
            }
        },
    }


def sample_results():
    """{inventory_hostname: registered process_facts result} for 24 hosts."""
    results = {}
    for idx in range(1, 21):
        name = "web%02d.example.test" % idx
        units = {"nginx.service": _unit({}), "sshd.service": _unit({}, kill_mode="process")}
        findings = [_finding("weak_killmode", "info", "sshd.service", "sshd.service uses KillMode=process")]
        if idx % 3 == 0:
            # zombie counts 3, 6, 9, 12 ... so lexical and numeric order differ
            n = idx
            units["worker@%d.service" % idx] = _unit(
                {"zombies": n},
                zombies=[
                    {
                        "pid": 2000 + idx * 100 + k,
                        "ppid": 1500 + idx,
                        "parent_comm": "worker",
                        "parent_is_main": True,
                        "age_s": 3600,
                    }
                    for k in range(n)
                ],
            )
            findings.append(
                _finding(
                    "zombies",
                    "critical" if n >= 12 else "warning",
                    "worker@%d.service" % idx,
                    "%d zombie(s) under worker@%d.service" % (n, idx),
                    "restart it: reaper.systemd.reap (actions: [restart_unit])",
                )
            )
        if idx % 4 == 0:
            units["legacy-batch.service"] = _unit(
                {"leftovers": idx // 4},
                active_state="inactive",
                sub_state="dead",
                kill_mode="process",
                leftovers=[
                    {"pid": 4000 + idx * 10 + k, "comm": "batch", "uid": 0, "age_s": 90} for k in range(idx // 4)
                ],
            )
            findings.append(_finding("leftovers", "warning", "legacy-batch.service", "left-over processes"))
        if idx % 5 == 0:
            units["ci-runner.service"] = _unit(
                {"escaped": idx // 5},
                escaped=[
                    {
                        "pid": 5000 + idx * 10 + k,
                        "comm": "build",
                        "uid": 1000,
                        "now_in": "/user.slice/session-9.scope",
                        "route": "pam_session",
                        "evidence": ["ancestry"],
                    }
                    for k in range(idx // 5)
                ],
            )
            findings.append(_finding("escaped", "warning", "ci-runner.service", "escaped through a PAM session"))
        results[name] = _host(idx, units, findings)
    evil_units = {
        EVIL_UNIT: _unit(
            {"escaped": 1},
            escaped=[
                {
                    "pid": 6001,
                    "comm": EVIL_COMM,
                    "uid": 0,
                    "now_in": "/user.slice",
                    "route": "scope",
                    "evidence": ["session_id"],
                }
            ],
        )
    }
    results["evil.example.test"] = _host(
        21,
        evil_units,
        [_finding("escaped", "warning", EVIL_UNIT, "escape by %s" % EVIL_COMM, "</td><script>window.__xss=3</script>")],
    )
    results["ci-runner.example.test"] = _host(
        22, {}, [_finding("zombies", "warning", None, "zombies outside units")], systemd=False, zombies_outside=4
    )
    results["down.example.test"] = {
        "unreachable": True,
        "changed": False,
        "msg": "Failed to connect to the host via ssh: Connection refused",
    }
    results["broken.example.test"] = {
        "failed": True,
        "msg": "MODULE FAILURE",
        "module_stderr": "/usr/bin/python3: No such file or directory",
    }
    return results
