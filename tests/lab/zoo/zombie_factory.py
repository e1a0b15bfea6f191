# zoo-zombie-factory: the main process forks children that exit at once and never
# reaps them (no wait(), SIGCHLD left at its default), so N zombies sit under the
# main PID for as long as the service runs.
import os
import sys

import zoolib

NAME = "zoo-zombie-factory"
COUNT = int(os.environ.get("ZOO_ZOMBIES", "5"))


def main():
    zombies = zoolib.leak_zombies(COUNT)
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "zombies": zombies, "zombie_parent": os.getpid()})
    zoolib.sleep_forever()


if __name__ == "__main__":
    sys.exit(main())
