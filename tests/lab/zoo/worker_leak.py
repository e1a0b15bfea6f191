# zoo-worker-leak: the main process forks one worker and reaps it properly; the
# worker (not the main PID) forks children that exit and never reaps them, so the
# zombies' parent is the worker.
import os
import sys

import zoolib

NAME = "zoo-worker-leak"
COUNT = int(os.environ.get("ZOO_ZOMBIES", "4"))


def main():
    pid = zoolib.fork_leaking_worker(NAME, COUNT)
    zoolib.log("worker %d started" % pid)
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
