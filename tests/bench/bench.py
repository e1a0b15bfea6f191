# -*- coding: utf-8 -*-
# Copyright: reaper.systemd contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark driver behind `make bench`: what a scan and a cleanup cost, against
the floor (`ps`) and the runbook approach (a per-unit shell loop).

Runs on the controller (Python standard library, podman, the venv's Ansible):
boots a lab container with systemd as PID 1 and no task limit, builds a
synthetic host inside it (tests/bench/loadgen.py), measures with
tests/bench/probe.py inside the container and with Ansible from outside, prints
the tables and writes them as Markdown (docs/benchmarks.md for a default run).

It prints figures and ratios against targets; it never fails on a missed target.
It fails (exit 1) when a measurement cannot be taken.

    python3 tests/bench/bench.py [--processes 10000] [--units 200] [--zombies 1000] [--repeat 5]
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time

import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUTPUT = os.path.join(HERE, "output")
IN_LAB = "/opt/reaper-bench"
DEFAULTS = {"processes": 10000, "units": 200, "zombies": 1000, "repeat": 5}
PLAYBOOK = os.path.join(HERE, "process_facts.yml")
ZOO_PLAYBOOKS = [os.path.join(ROOT, "molecule", "shared", name) for name in ("zoo_deploy.yml", "zoo_side_effect.yml")]
# The cleanup_timer role's default policy: every service in scope, no action allowed.
CLEANUP_POLICY = {
    "units": ["*"],
    "deny": [],
    "actions": [],
    "dry_run": False,
    "min_zombies": 1,
    "min_zombie_age": 300.0,
    "max_actions": 10,
    "cooldown": 3600.0,
    "grace": 10.0,
    "action_timeout": 120.0,
    "backend": "procfs",
    "state_path": "/var/lib/reaper-bench/state.json",
    "lock_path": "/run/reaper-systemd/lock",  # the host lock: only that one is accepted
    "textfile_dir": None,
}


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def die(msg):
    log("ERROR: " + msg)
    sys.exit(1)


def run(cmd, check=True, capture=True, env=None):
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        universal_newlines=True,
        env=env,
        check=False,
    )
    if check and proc.returncode != 0:
        die("%s exited with %d:\n%s%s" % (" ".join(cmd), proc.returncode, proc.stdout or "", proc.stderr or ""))
    return proc


class Lab:
    """One lab container with systemd as PID 1, and the bench files inside it."""

    def __init__(self, image, name, pids_limit="-1"):
        self.image = image
        self.name = name
        self.pids_limit = pids_limit

    def start(self):
        run(["podman", "rm", "-f", "-t", "0", self.name], check=False)
        run(
            [
                "podman", "run", "-d", "--name", self.name, "--hostname", self.name,
                "--label", "reaper-bench=1",
                "--pids-limit", self.pids_limit,
                # A host's root can read every process's environ: mirror it.
                "--cap-add", "SYS_PTRACE",
                "--systemd=always", self.image, "/lib/systemd/systemd",
            ]
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            # Fails with "Failed to connect to bus" until systemd has set itself up.
            state = run(["podman", "exec", self.name, "systemctl", "is-system-running", "--wait"], check=False)
            if state.stdout.strip() in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                die("systemd in %s did not come up: %s %s" % (self.name, state.stdout, state.stderr))
            time.sleep(0.5)
        self.exec(["mkdir", "-p", IN_LAB + "/lib/reaper_systemd", "/run/reaper-bench", "/var/lib/reaper-bench"])
        for name in ("loadgen.py", "probe.py", "runbook.sh"):
            run(["podman", "cp", os.path.join(HERE, name), "%s:%s/%s" % (self.name, IN_LAB, name)])
        utils = os.path.join(ROOT, "plugins", "module_utils")
        for name in sorted(os.listdir(utils)):
            if name.endswith(".py"):
                run(["podman", "cp", os.path.join(utils, name), "%s:%s/lib/reaper_systemd/" % (self.name, IN_LAB)])
        self.exec(["touch", IN_LAB + "/lib/reaper_systemd/__init__.py"])
        return self

    def remove(self):
        run(["podman", "rm", "-f", "-t", "0", self.name], check=False)

    def exec(self, cmd, check=True):
        return run(["podman", "exec", self.name] + cmd, check=check)

    def json(self, script, *args):
        out = self.exec(["python3", "-B", "%s/%s" % (IN_LAB, script)] + [str(a) for a in args]).stdout
        return json.loads(out.strip().splitlines()[-1])

    def write(self, path, text):
        tmp = os.path.join(OUTPUT, "upload.tmp")
        with open(tmp, "w") as handle:
            handle.write(text)
        run(["podman", "cp", tmp, "%s:%s" % (self.name, path)])
        os.unlink(tmp)

    def info(self):
        script = (
            "systemctl --version | head -n1; cat /etc/debian_version; python3 -V; "
            "python3 -c 'import psutil; print(psutil.__version__)'; ps -V"
        )
        lines = self.exec(["bash", "-c", script]).stdout.splitlines()
        return {
            "systemd": lines[0],
            "debian": lines[1],
            "python": lines[2],
            "psutil": lines[3],
            "procps": lines[4],
        }


class Ansible:
    """process_facts end to end, from the controller through the podman connection."""

    def __init__(self, container):
        self.inventory = os.path.join(OUTPUT, "inventory.ini")
        with open(self.inventory, "w") as handle:
            handle.write(
                "[bench]\n%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n"
                % container
            )
        self.env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0")

    def playbook(self, path, callbacks=None, check=True):
        env = dict(self.env)
        if callbacks:
            env["ANSIBLE_CALLBACKS_ENABLED"] = callbacks
        t0 = time.perf_counter()
        proc = run(["ansible-playbook", "-i", self.inventory, path], check=check, env=env)
        return time.perf_counter() - t0, proc.stdout

    def task_time(self):
        """The task's own time as profile_tasks reports it, and the playbook's wall time."""
        wall, out = self.playbook(PLAYBOOK, callbacks="ansible.posix.profile_tasks")
        match = re.search(r"^Scan the host with process_facts -+ ([0-9.]+)s\s*$", out, re.M)
        if not match:
            die("profile_tasks printed no time for the process_facts task:\n" + out[-3000:])
        return {"task_s": float(match.group(1)), "playbook_wall_s": wall}

    def adhoc(self):
        cmd = ["ansible", "all", "-i", self.inventory, "-m", "reaper.systemd.process_facts", "-a", "min_zombie_age=0"]
        t0 = time.perf_counter()
        proc = run(cmd, env=self.env)
        wall = time.perf_counter() - t0
        if "SUCCESS" not in proc.stdout[:2000]:
            die("ad-hoc process_facts did not succeed:\n" + proc.stdout[:3000])
        return {"adhoc_wall_s": wall}


def host_tasks():
    """Tasks (threads) alive on the machine: they all take PIDs from the one pid_max."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += len(os.listdir("/proc/%s/task" % name))
            except OSError:
                pass
    return count


def read_first(path, default=""):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def machine_info():
    mem_kb = 0
    for line in read_first("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cgroup = "unified" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else (
        "hybrid" if os.path.isdir("/sys/fs/cgroup/unified") else "legacy"
    )  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in read_first("/proc/cpuinfo").splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),
        "memory_gib": round(mem_kb / 1048576.0, 1),
        "kernel": platform.release(),
        "debian": read_first("/etc/debian_version", "unknown"),
        "python": platform.python_version(),
        "podman": run(["podman", "--version"]).stdout.strip(),
        "cgroup": cgroup,
        "pid_max": int(read_first("/proc/sys/kernel/pid_max", "0")),
    }


def loadavg():
    return read_first("/proc/loadavg").split()[:3]


def scale_points(args):
    if args.scale:
        points = sorted(set(int(x) for x in args.scale.replace(",", " ").split()))
    else:
        n = args.processes
        points = sorted(set([max(n // 10, 1), max(n // 2, 1), n, n * 3 // 2, n * 2]))
    if args.processes not in points:
        points = sorted(points + [args.processes])
    return points


def check_pid_budget(points, args, pid_max):
    """Fail loudly before the load would exhaust the machine's PIDs (shared by everyone)."""
    biggest = max(points)
    zombies = args.zombies * biggest // args.processes
    need = biggest + zombies + args.units + args.leftovers + args.escapes + 500
    used = host_tasks()
    if used + need > pid_max * 0.9:
        die(
            "the largest load (%d processes + %d zombies) needs about %d PIDs; this machine runs %d tasks "
            "and pid_max is %d: lower BENCH_N or BENCH_SCALE" % (biggest, zombies, need, used, pid_max)
        )


def median_of(records, key):
    values = sorted(r[key] for r in records)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def measure_load(lab, args, n, main):
    zombies = args.zombies * n // args.processes
    log(
        "load: %d sleeping processes over %d units, %d zombies over %d units"
        % (n, args.units, zombies, args.zombie_units)
    )
    load = lab.json(
        "loadgen.py", "scale", "--processes", n, "--units", args.units, "--zombies", zombies,
        "--zombie-units", args.zombie_units,
    )  # fmt: skip
    log("load ready in %.1fs: %s" % (load.pop("setup_s"), load))
    what = "procfs,psutil,ps" if args.psutil else "procfs,ps"
    log("(a)+(b) scan per backend and ps, round-robin, %d times" % args.repeat)
    series = lab.json("probe.py", "series", "--repeat", args.repeat, "--what", what)
    point = {"target": n, "zombies_target": zombies, "load": load, "series": series}
    if main:
        point["timer"] = measure_timer_command(lab, args)
        log("profile of one procfs scan (cProfile)")
        point["profile"] = lab.json("probe.py", "profile", "--backend", "procfs", "--top", 15)
        log("what-if: the scan's systemd query beside others, fewer /proc reads, %d times" % args.repeat)
        point["variants"] = lab.json("probe.py", "variants", "--repeat", args.repeat)
        log("(c) runbook loop, %d time(s): takes minutes" % args.runbook_repeat)
        point["runbook"] = lab.json("probe.py", "runbook", "--repeat", args.runbook_repeat)["runs"]
        log("(d) process_facts through Ansible, %d times each way" % args.repeat)
        ansible = Ansible(lab.name)
        point["ansible"] = [dict(ansible.task_time(), **ansible.adhoc()) for _rep in range(args.repeat)]
        point["load_after"] = lab.json("loadgen.py", "status")
    return point


def measure_timer_command(lab, args):
    """(f) The cleanup command on the loaded host, as the timer runs it, alternating with ps.

    As the cleanup_timer role deploys it: the module_utils compiled at deployment,
    the service's `python3 -I -B` launcher, the role's default policy (every service
    in scope, no action allowed).
    """
    config = "%s/cleanup.json" % IN_LAB
    lab.write(config, json.dumps(CLEANUP_POLICY, indent=2, sort_keys=True) + "\n")
    lab.exec(["python3", "-m", "compileall", "-q", IN_LAB + "/lib"])
    try:
        log(
            "(f) cleanup command as the timer runs it (compiled module_utils) and ps, round-robin, %d times"
            % args.repeat
        )
        return lab.json("probe.py", "series", "--repeat", args.repeat, "--what", "cleanup,ps", "--config", config)
    finally:
        lab.exec(["find", IN_LAB + "/lib", "-name", "__pycache__", "-prune", "-exec", "rm", "-rf", "{}", "+"])


def measure_zoo(args, image):
    """(e) The cleanup command with nothing to do, on a lab host with the zoo alone."""
    lab = Lab(image, "reaper-bench-zoo-%d" % os.getpid(), pids_limit="8192")
    try:
        log("(e) zoo container: boot, deploy the zoo, stop/restart its members")
        lab.start()
        ansible = Ansible(lab.name)
        for playbook in ZOO_PLAYBOOKS:
            ansible.playbook(playbook)
        config = "%s/cleanup.json" % IN_LAB
        lab.write(config, json.dumps(CLEANUP_POLICY, indent=2, sort_keys=True) + "\n")
        cleanup = os.path.join(ROOT, "plugins", "module_utils", "cleanup_command.py")
        result = {"load": lab.json("loadgen.py", "status")}
        if os.path.exists(cleanup):
            log("(e) cleanup command (as its service runs it), %d times" % args.repeat)
            result["cleanup"] = lab.json(
                "probe.py", "series", "--repeat", args.repeat, "--what", "cleanup", "--config", config
            )["cleanup"]
            # The service runs python3 -B in a read-only /usr/local: nothing caches bytecode, so
            # every run compiles the module_utils. The same runs with the bytecode compiled ahead:
            log("(e) again with the module_utils compiled ahead (python3 -m compileall)")
            lab.exec(["python3", "-m", "compileall", "-q", IN_LAB + "/lib"])
            result["cleanup_compiled"] = lab.json(
                "probe.py", "series", "--repeat", args.repeat, "--what", "cleanup", "--config", config
            )["cleanup"]
            lab.exec(["find", IN_LAB + "/lib", "-name", "__pycache__", "-prune", "-exec", "rm", "-rf", "{}", "+"])
        else:
            log("(e) plugins/module_utils/cleanup_command.py is missing: measuring scan() as a stand-in")
        result["scan"] = lab.json("probe.py", "series", "--repeat", args.repeat, "--what", "procfs")["procfs"]
        return result
    finally:
        if not args.keep:
            lab.remove()


def command_line(args):
    """The make command that repeats this run."""
    words = ["make bench"]
    for var, key in (
        ("BENCH_N", "processes"),
        ("BENCH_UNITS", "units"),
        ("BENCH_ZOMBIES", "zombies"),
        ("BENCH_REPEAT", "repeat"),
    ):
        if getattr(args, key) != DEFAULTS[key]:
            words.append("%s=%s" % (var, getattr(args, key)))
    if args.scale:
        words.append("BENCH_SCALE='%s'" % args.scale)
    if args.runbook_repeat != 1:
        words.append("BENCH_ARGS=--runbook-repeat=%d" % args.runbook_repeat)
    return " ".join(words)


def render(results, doc):
    summary = report.summarize(results)
    print(report.text(summary))
    with open(doc, "w") as handle:
        handle.write(report.markdown(summary))
    log("Markdown: %s" % os.path.relpath(doc, ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=DEFAULTS["processes"], help="N sleeping processes (main load)")
    parser.add_argument("--units", type=int, default=DEFAULTS["units"], help="U units the processes are spread over")
    parser.add_argument("--zombies", type=int, default=DEFAULTS["zombies"], help="Z zombies at the main load")
    parser.add_argument("--zombie-units", type=int, default=5, help="units the zombies are spread over")
    parser.add_argument("--leftovers", type=int, default=20, help="left-overs of a stopped KillMode=process unit")
    parser.add_argument("--escapes", type=int, default=10, help="processes escaped with systemd-run --scope")
    parser.add_argument("--repeat", type=int, default=DEFAULTS["repeat"], help="repetitions (medians are reported)")
    parser.add_argument("--runbook-repeat", type=int, default=1, help="repetitions of the slow runbook loop")
    parser.add_argument("--scale", default="", help="process counts of the scaling table (default N/10 N/2 N 3N/2 2N)")
    parser.add_argument("--no-psutil", dest="psutil", action="store_false", help="measure the procfs backend only")
    parser.add_argument("--no-zoo", dest="zoo", action="store_false", help="skip (e), the zoo container")
    parser.add_argument("--image", default="localhost/reaper-lab:bookworm")
    parser.add_argument("--doc", default="", help="Markdown output (default: docs/benchmarks.md for a default run)")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument(
        "--report", metavar="RESULTS_JSON", help="only print and write the report of earlier raw results"
    )
    args = parser.parse_args()
    if args.processes < args.units or args.units < 1:
        parser.error("--processes must be at least --units, and --units at least 1")
    if args.repeat < 1 or args.runbook_repeat < 1:
        parser.error("--repeat and --runbook-repeat must be at least 1")
    return args


def _stop(signum, _frame):
    raise SystemExit("bench: stopped by signal %d" % signum)


def main():
    args = parse_args()
    # Remove the containers (the finally clauses) on SIGTERM, and on SIGINT even when
    # started in the background (where the shell ignores SIGINT for us).
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.report:
        with open(args.report) as handle:
            results = json.load(handle)
        default_run = all(results["params"][k] == v for k, v in DEFAULTS.items()) and len(results["scale"]) == 5
        default_doc = (
            os.path.join(ROOT, "docs", "benchmarks.md") if default_run else os.path.join(OUTPUT, "benchmarks.md")
        )
        render(results, args.doc or default_doc)
        return
    for tool in ("podman", "ansible", "ansible-playbook"):
        if not shutil.which(tool):
            die("%s is not on PATH: run this through `make bench` (it builds the venv and the lab images)" % tool)
    if not os.environ.get("CONTAINERS_CONF"):
        die("CONTAINERS_CONF is not set: run this through `make bench` (tests/lab/containers.conf)")
    if run(["podman", "image", "exists", args.image], check=False).returncode != 0:
        die("lab image %s is missing: run `make lab-images`" % args.image)
    os.makedirs(OUTPUT, exist_ok=True)
    default_run = all(getattr(args, k) == v for k, v in DEFAULTS.items()) and not args.scale
    doc = args.doc or (
        os.path.join(ROOT, "docs", "benchmarks.md") if default_run else os.path.join(OUTPUT, "benchmarks.md")
    )

    machine = machine_info()
    points = scale_points(args)
    check_pid_budget(points, args, machine["pid_max"])
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "params": {
            k: getattr(args, k)
            for k in (
                "processes",
                "units",
                "zombies",
                "zombie_units",
                "leftovers",
                "escapes",
                "repeat",
                "runbook_repeat",
            )
        },
        "scale": points,
        "machine": machine,
        "loadavg_start": loadavg(),
        "command": command_line(args),
    }
    t_start = time.monotonic()
    lab = Lab(args.image, "reaper-bench-%d" % os.getpid())
    try:
        log("boot %s as %s (systemd as PID 1, --pids-limit -1)" % (args.image, lab.name))
        lab.start()
        results["lab"] = lab.info()
        lab.json("loadgen.py", "setup")
        log("left-overs (%d) and escapes (%d)" % (args.leftovers, args.escapes))
        lab.json("loadgen.py", "extras", "--leftovers", args.leftovers, "--escapes", args.escapes)
        results["points"] = [measure_load(lab, args, n, n == args.processes) for n in points]
    finally:
        if not args.keep:
            lab.remove()
    if args.zoo:
        results["zoo"] = measure_zoo(args, args.image)
    results["loadavg_end"] = loadavg()
    results["duration_s"] = round(time.monotonic() - t_start)

    raw = os.path.join(OUTPUT, "results-%s.json" % started.strftime("%Y%m%dT%H%M%SZ"))
    with open(raw, "w") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
    log("raw results: %s" % os.path.relpath(raw, ROOT))
    render(results, doc)


if __name__ == "__main__":
    main()
