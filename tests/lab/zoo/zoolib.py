# Shared helpers for the reaper-zoo lab programs.
#
# Every zoo program misbehaves in exactly one known way and records its ground
# truth (PIDs and the like) as JSON under /run/reaper-zoo/, written atomically
# (temporary file in the same directory, then rename) so a reader never sees a
# half-written file. Python standard library only: the lab images carry
# nothing else that the programs may rely on.
import json
import os
import pwd
import sys
import time

TRUTH_DIR = os.environ.get("REAPER_ZOO_TRUTH_DIR", "/run/reaper-zoo")


def log(msg):
    sys.stderr.write("%s[%d]: %s\n" % (os.path.basename(sys.argv[0]), os.getpid(), msg))
    sys.stderr.flush()


def write_truth(name, data):
    """Atomically write ground truth for zoo member NAME; returns the path."""
    os.makedirs(TRUTH_DIR, exist_ok=True)
    record = {
        "name": name,
        "writer_pid": os.getpid(),
        "invocation_id": os.environ.get("INVOCATION_ID"),
        "written_at": time.time(),
        "written_boottime": time.clock_gettime(time.CLOCK_BOOTTIME),
    }
    record.update(data)
    path = os.path.join(TRUTH_DIR, name + ".json")
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    log("ground truth written to %s" % path)
    return path


def read_stat(pid):
    """Return (state, ppid, session, starttime, comm) of PID, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5)
    return {
        "state": fields[0],
        "ppid": int(fields[1]),
        "pgrp": int(fields[2]),
        "session": int(fields[3]),
        "starttime": int(fields[19]),
        "comm": comm,
    }


# Bounds for waits on the lab's own processes: generous, because a 2-core machine loaded by
# other work can take seconds to schedule a fork or an exec; a wait returns as soon as the
# condition holds, so the bound costs nothing on a fast machine.
WAIT_S = 60.0


def wait_for_state(pid, states, timeout=WAIT_S):
    """Wait until PID is in one of STATES (e.g. 'Z'); raise if it never gets there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = read_stat(pid)
        if stat is not None and stat["state"] in states:
            return stat
        time.sleep(0.02)
    raise RuntimeError("process %d did not reach state %s within %.0fs: %r" % (pid, states, timeout, read_stat(pid)))


def leak_zombies(count):
    """Fork children that exit at once and never reap them; return their PIDs once all are zombies."""
    zombies = []
    for _attempt in range(count):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        zombies.append(pid)
    for pid in zombies:
        wait_for_state(pid, "Z")
    return zombies


def children_of(pid):
    """PIDs whose parent is PID (one /proc pass)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if stat is not None and stat["ppid"] == pid:
            found.append(int(entry))
    return sorted(found)


def wait_for_exec(pid, comm, timeout=WAIT_S):
    """Wait until PID runs a program whose comm is COMM (after fork+exec)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = read_stat(pid)
        if stat is not None and stat["comm"] == comm:
            return stat
        time.sleep(0.02)
    raise RuntimeError("process %d never became %r: %r" % (pid, comm, read_stat(pid)))


def spawn_sleeper(seconds=1000000, new_session=False):
    """Fork a child that execs sleep(1); the caller must reap it if it ever exits."""
    pid = os.fork()
    if pid == 0:
        try:
            if new_session:
                os.setsid()
            os.execv("/bin/sleep", ["sleep", str(seconds)])
        finally:
            os._exit(127)
    wait_for_exec(pid, "sleep")
    return pid


def spawn_double_forked_sleeper(seconds=1000000):
    """Classic daemon double fork (fork, setsid, fork, exec); the intermediate is reaped here.

    Returns the PID of the grandchild, which is re-parented to the nearest subreaper
    (PID 1 in the lab). It stays in the caller's cgroup: double fork does not escape.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.close(wfd)
                os.execv("/bin/sleep", ["sleep", str(seconds)])
            os.write(wfd, ("%d\n" % grandchild).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as reader:
        grandchild = int(reader.read().strip())
    os.waitpid(pid, 0)  # reap the intermediate: no zombie of our own making
    wait_for_exec(grandchild, "sleep")
    return grandchild


def systemd_cgroup_root():
    """Locate the cgroup hierarchy systemd manages units in.

    Returns (hierarchy_key, mountpoint, mount_root, prefix): the hierarchy in which PID 1
    sits in init.scope ('name=systemd' on v1/hybrid podman, '' i.e. the 0:: line on v2),
    where it is mounted, the mount's root inside the hierarchy (from mountinfo) and the
    prefix that /proc/PID/cgroup shows before systemd's own paths.
    """
    key = prefix = None
    with open("/proc/1/cgroup", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        if path.endswith("/init.scope") and (controllers == "" or "name=systemd" in controllers.split(",")):
            key = controllers
            prefix = path[: -len("/init.scope")]
            break
    if key is None:
        raise RuntimeError("PID 1 is in init.scope in no hierarchy; /proc/1/cgroup: %r" % lines)
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            left, right = line.rstrip("\n").split(" - ", 1)
            fields = left.split()
            fstype, _source, superopts = right.split(" ", 2)
            # Mounts stack: the last one at a mount point is the one visible there.
            if (key == "" and fstype == "cgroup2") or (
                key and fstype == "cgroup" and "name=systemd" in superopts.split(",")
            ):
                found = (key, fields[4], fields[3], prefix)
    if found is None:
        raise RuntimeError("no mount found for cgroup hierarchy %r" % key)
    return found


def own_cgroup(pid="self"):
    """Return (path as /proc shows it, directory in the mounted cgroupfs) for PID."""
    key, mountpoint, mount_root, prefix = systemd_cgroup_root()
    path = None
    with open("/proc/%s/cgroup" % pid, encoding="utf-8") as handle:
        for line in handle:
            _hid, controllers, cpath = line.rstrip("\n").split(":", 2)
            if controllers == key:
                path = cpath
                break
    if path is None:
        raise RuntimeError("process %s has no line for hierarchy %r" % (pid, key))
    candidates = []
    if mount_root != "/" and path.startswith(mount_root):
        candidates.append(mountpoint + path[len(mount_root) :])
    candidates.append(mountpoint + path)
    if prefix and path.startswith(prefix):
        candidates.append(mountpoint + path[len(prefix) :])
    for directory in candidates:
        if os.path.isfile(os.path.join(directory, "cgroup.procs")):
            return path, directory
    raise RuntimeError("cgroup %r of %s not found under %s (tried %r)" % (path, pid, mountpoint, candidates))


def move_to_cgroup(pid, directory):
    """Move PID into the cgroup DIRECTORY by writing cgroup.procs (what cgclassify does)."""
    with open(os.path.join(directory, "cgroup.procs"), "w", encoding="utf-8") as handle:
        handle.write("%d\n" % pid)


def cgroup_lines(pid):
    try:
        with open("/proc/%d/cgroup" % pid, encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle]
    except (FileNotFoundError, ProcessLookupError):
        return []


def fork_leaking_worker(name, count):
    """Fork a worker (not the main PID) that leaks COUNT zombies, records the ground truth under
    NAME (main_pid, worker_pid, zombies, zombie_parent) and idles; returns the worker's PID."""
    main_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            zombies = leak_zombies(count)
            write_truth(
                name,
                {"main_pid": main_pid, "worker_pid": os.getpid(), "zombies": zombies, "zombie_parent": os.getpid()},
            )
            sleep_forever()
        finally:
            os._exit(1)
    return pid


def fork_sleeper_as(user, seconds=1000000):
    """Fork ``sleep SECONDS`` running as USER (groups dropped, then gid, then uid); returns its PID."""
    account = pwd.getpwnam(user)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.execv("/bin/sleep", ["sleep", str(seconds)])
        finally:
            os._exit(127)
    return pid


def sleep_forever(reap=False):
    """Idle until killed. With REAP, collect every child the moment it exits (a healthy parent)."""
    while True:
        if reap:
            try:
                os.wait()
                continue
            except ChildProcessError:
                pass
        time.sleep(3600)
