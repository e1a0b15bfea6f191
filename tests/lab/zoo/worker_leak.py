# zoo-worker-leak: the main process forks one worker and reaps it properly; the
# worker (not the main PID) forks children that exit and never reaps them, so the
# zombies' parent is the worker.
import os
import sys

import zoolib

NAME = "zoo-worker-leak"
COUNT = int(os.environ.get("ZOO_ZOMBIES", "4"))


def worker(main_pid):
    zombies = zoolib.leak_zombies(COUNT)
    zoolib.write_truth(
        NAME, {"main_pid": main_pid, "worker_pid": os.getpid(), "zombies": zombies, "zombie_parent": os.getpid()}
    )
    zoolib.sleep_forever()


def main():
    main_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            worker(main_pid)
        finally:
            os._exit(1)
    zoolib.log("worker %d started" % pid)
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
