# zoo-leftover: runs with KillMode=process. The main process starts three children
# that keep running on their own: a plain child, one in a new session (setsid) and
# a double-forked daemon. None of them leaves the unit's cgroup; when the unit is
# stopped only the main process is killed and the three remain as left-overs.
import os
import sys

import zoolib

NAME = os.environ.get("ZOO_NAME", "zoo-leftover")


def main():
    children = {
        "plain": zoolib.spawn_sleeper(),
        "setsid": zoolib.spawn_sleeper(new_session=True),
        "double_fork": zoolib.spawn_double_forked_sleeper(),
    }
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "children": sorted(children.values()), "child_kinds": children})
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
