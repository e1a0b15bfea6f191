# zoo-unprivileged (control): a healthy service running as an unprivileged user
# (User=zoo) with two supervised children. Without CAP_SYS_PTRACE the scanner cannot
# read its environment, so it must tell the current invocation's processes from
# survivors by start time alone: none of these is a survivor.
import os
import sys

import zoolib

NAME = "zoo-unprivileged"


def main():
    children = [zoolib.spawn_sleeper(), zoolib.spawn_sleeper()]
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "children": sorted(children), "uid": os.getuid()})
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
