# zoo-scope-escape: the service runs `systemd-run --scope sleep ...`. systemd-run
# asks the manager for a transient run-*.scope holding its own PID, then execs the
# command: the sleep keeps the service main PID as parent and session id but lives
# in the scope and carries the scope's INVOCATION_ID.
import os
import subprocess
import sys

import zoolib

NAME = "zoo-scope-escape"


def main():
    child = subprocess.Popen(["systemd-run", "--scope", "--quiet", "/bin/sleep", "1000000"], stdin=subprocess.DEVNULL)
    zoolib.wait_for_exec(child.pid, "sleep")
    cgroups = zoolib.cgroup_lines(child.pid)
    scope = None
    for line in cgroups:
        leaf = line.rsplit("/", 1)[-1]
        if leaf.endswith(".scope"):
            scope = leaf
    if scope is None:
        raise RuntimeError("sleep %d did not land in a scope: %r" % (child.pid, cgroups))
    zoolib.write_truth(
        NAME, {"main_pid": os.getpid(), "escaped": [child.pid], "scope": scope, "escaped_cgroup": cgroups}
    )
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
