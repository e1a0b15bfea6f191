# zoo-engine: a fake container engine with the cgroupfs driver (what Docker on cgroup
# v1, kubelet with cgroupDriver: cgroupfs or LXC do). For each container a "shim"
# (unshare, staying in this unit's cgroup) starts the container's init in a new PID
# namespace; the engine moves that init into a cgroup outside every unit
# (/docker/<id>, /kubepods/besteffort/pod<uid>/<id>) in each hierarchy systemd's tree
# lives in, then lets it start its workload, which runs as the zoo user.
# By ancestry (and, for the kubepods container, by INVOCATION_ID) the containers look
# like escapes of this unit; they are hand-offs to the engine and must never be hit.
# The unit is not named like a known engine on purpose: only the PID namespace tells.
import os
import subprocess
import sys
import time
import uuid

import zoolib

NAME = "zoo-engine"
CONTAINER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "container.py")
WORKLOAD_USER = os.environ.get("ZOO_CONTAINER_USER", "zoo")


def _mounts():
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            left, right = line.rstrip("\n").split(" - ", 1)
            fields = left.split()
            fstype, _source, superopts = right.split(" ", 2)
            found.append((fstype, superopts.split(","), fields[3], fields[4]))
    return found


def systemd_tree_roots():
    """Directory of systemd's root cgroup in every hierarchy where PID 1 sits in init.scope.

    name=systemd and the unified hierarchy on v1/hybrid, the unified one on v2: a
    container engine's cgroupfs driver creates its cgroups in each of them.
    """
    mounts = _mounts()
    roots = []
    with open("/proc/1/cgroup", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        if not path.endswith("/init.scope"):
            continue
        if controllers == "":
            wanted = [m for m in mounts if m[0] == "cgroup2"]
        elif "name=systemd" in controllers.split(","):
            wanted = [m for m in mounts if m[0] == "cgroup" and "name=systemd" in m[1]]
        else:
            continue
        base = path[: -len("/init.scope")]
        for _fstype, _opts, mount_root, mountpoint in reversed(wanted):
            if mount_root == "/":
                directory = mountpoint + base
            elif base == mount_root or base.startswith(mount_root + "/"):
                directory = mountpoint + base[len(mount_root) :]
            else:
                continue
            if os.path.isfile(os.path.join(directory, "init.scope", "cgroup.procs")):
                roots.append((controllers, directory))
                break
    if not roots:
        raise RuntimeError("no cgroup hierarchy with PID 1 in init.scope is mounted; /proc/1/cgroup: %r" % lines)
    return roots


def start_container(kind, relpath, clean_env, roots):
    directories = [root + "/" + relpath for _key, root in roots]
    for directory in directories:
        os.makedirs(directory, exist_ok=True)
    go_read, go_write = os.pipe()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "container": kind} if clean_env else dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    shim = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--", sys.executable, CONTAINER, str(go_read), WORKLOAD_USER],
        env=env,
        pass_fds=(go_read,),
        stdin=subprocess.DEVNULL,
    )
    os.close(go_read)
    deadline = time.monotonic() + 30
    while True:
        inits = zoolib.children_of(shim.pid)
        if inits:
            break
        if time.monotonic() > deadline or shim.poll() is not None:
            raise RuntimeError("the shim %d of the %s container started no init" % (shim.pid, kind))
        time.sleep(0.02)
    init = inits[0]
    for directory in directories:
        zoolib.move_to_cgroup(init, directory)
    os.write(go_write, b"go")
    os.close(go_write)
    deadline = time.monotonic() + 30
    while True:
        workers = [pid for pid in zoolib.children_of(init) if (zoolib.read_stat(pid) or {}).get("comm") == "sleep"]
        if workers:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the %s container's init %d started no workload" % (kind, init))
        time.sleep(0.02)
    return {
        "kind": kind,
        "cgroup": "/" + relpath,
        "shim": shim.pid,
        "init": init,
        "workload": workers,
        "pids": sorted([init] + workers),
        "clean_env": clean_env,
        "init_cgroup": zoolib.cgroup_lines(init),
    }


def main():
    roots = systemd_tree_roots()
    containers = [
        start_container("docker", "docker/" + uuid.uuid4().hex + uuid.uuid4().hex, True, roots),
        start_container(
            "kubepods",
            "kubepods/besteffort/pod%s/%s" % (uuid.uuid4(), uuid.uuid4().hex + uuid.uuid4().hex),
            False,
            roots,
        ),
    ]
    zoolib.write_truth(
        NAME,
        {
            "main_pid": os.getpid(),
            "containers": containers,
            "container_pids": sorted(pid for c in containers for pid in c["pids"]),
            "shims": sorted(c["shim"] for c in containers),
            "hierarchies": [key for key, _root in roots],
        },
    )
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
