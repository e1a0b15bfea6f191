# zoo-neglect: like zoo-worker-leak, a worker (not the main PID) leaks zombies, but the
# main process never reaps anything either. Killing the worker (kill_worker_parent)
# leaves it a zombie of the main process: only a restart of the unit cleans up, and
# with restart_unit allowed it must come in the same run as the kill.
import os
import sys

import zoolib

NAME = "zoo-neglect"
COUNT = int(os.environ.get("ZOO_ZOMBIES", "3"))


def main():
    pid = zoolib.fork_leaking_worker(NAME, COUNT)
    zoolib.log("worker %d started; it is never reaped" % pid)
    zoolib.sleep_forever(reap=False)


if __name__ == "__main__":
    sys.exit(main())
