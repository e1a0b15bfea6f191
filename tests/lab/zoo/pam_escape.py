# zoo-pam-escape: the service starts `runuser -l <user> -c 'exec sleep ...'`. With
# libpam-systemd, pam_systemd registers a logind session: runuser and its command
# move into session-N.scope (class background) and leave the service's cgroup.
# runuser keeps waiting for its command, so the ancestry of the escaped sleep still
# leads to the service's main process.
import os
import subprocess
import sys
import time

import zoolib

NAME = "zoo-pam-escape"
USER = os.environ.get("ZOO_USER", "zoo")


def find_descendant(root, comm, timeout=zoolib.WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        todo = [root]
        while todo:
            pid = todo.pop()
            stat = zoolib.read_stat(pid)
            if stat is not None and stat["comm"] == comm and pid != root:
                return pid
            todo.extend(zoolib.children_of(pid))
        time.sleep(0.1)
    raise RuntimeError("no %r below %d" % (comm, root))


def main():
    runuser = subprocess.Popen(["runuser", "-l", USER, "-c", "exec sleep 1000000"], stdin=subprocess.DEVNULL)
    sleeper = find_descendant(runuser.pid, "sleep")
    chain = []
    pid = sleeper
    while pid not in (runuser.pid, 0, 1):
        pid = zoolib.read_stat(pid)["ppid"]
        if pid != runuser.pid:
            chain.append(pid)
    cgroups = zoolib.cgroup_lines(sleeper)
    if not any("/session-" in line for line in cgroups):
        raise RuntimeError(
            "escape did not happen, sleep %d is in %r (libpam-systemd and logind needed)" % (sleeper, cgroups)
        )
    zoolib.write_truth(
        NAME,
        {
            "main_pid": os.getpid(),
            "runuser_pid": runuser.pid,
            "sleep_pid": sleeper,
            "intermediate_pids": chain,
            "escaped": sorted([runuser.pid, sleeper] + chain),
            "user": USER,
            "sleep_cgroup": cgroups,
            "runuser_cgroup": zoolib.cgroup_lines(runuser.pid),
            "sleep_stat": zoolib.read_stat(sleeper),
        },
    )
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
