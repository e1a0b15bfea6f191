# zoo-decoy: an idle, healthy service. zoo-cgroup-move pushes one of its children
# into this unit's cgroup; that process is zoo-cgroup-move's escape, never a
# survivor or left-over of this unit.
import os
import sys

import zoolib

NAME = "zoo-decoy"


def main():
    path, _directory = zoolib.own_cgroup()
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "cgroup": path})
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
