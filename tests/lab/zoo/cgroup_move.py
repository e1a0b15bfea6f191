# zoo-cgroup-move: the service forks a child and moves it into another unit's
# cgroup (zoo-decoy.service) by writing its PID to that cgroup's cgroup.procs, as
# cgclassify would. Parent, session id and INVOCATION_ID still name this service.
# The cgroup is found in the hierarchy where PID 1 sits in init.scope
# (name=systemd on v1/hybrid, the unified one on v2).
import os
import sys
import time

import zoolib

NAME = "zoo-cgroup-move"
TARGET = os.environ.get("ZOO_MOVE_TARGET", "zoo-decoy.service")


def main():
    own_path, own_dir = zoolib.own_cgroup()
    target_dir = os.path.join(os.path.dirname(own_dir), TARGET)
    deadline = time.monotonic() + 30
    while not os.path.isfile(os.path.join(target_dir, "cgroup.procs")):
        if time.monotonic() > deadline:
            raise RuntimeError("target cgroup %s does not exist; is %s running?" % (target_dir, TARGET))
        time.sleep(0.1)
    child = zoolib.spawn_sleeper()
    zoolib.move_to_cgroup(child, target_dir)
    child_path, _child_dir = zoolib.own_cgroup(child)
    if not child_path.endswith("/" + TARGET):
        raise RuntimeError("child %d still in %s after the move" % (child, child_path))
    zoolib.write_truth(
        NAME,
        {
            "main_pid": os.getpid(),
            "moved": [child],
            "target_unit": TARGET,
            "own_cgroup": own_path,
            "target_cgroup": child_path,
            "target_dir": target_dir,
            "moved_cgroup": zoolib.cgroup_lines(child),
        },
    )
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
