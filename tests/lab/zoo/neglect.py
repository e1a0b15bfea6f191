# zoo-neglect: like zoo-worker-leak, a worker (not the main PID) leaks zombies, but the
# main process never reaps anything either. Killing the worker (kill_worker_parent)
# leaves it a zombie of the main process: only a restart of the unit cleans up, and
# with restart_unit allowed it must come in the same run as the kill.
import os
import sys
import time

import zoolib

NAME = "zoo-neglect"
COUNT = int(os.environ.get("ZOO_ZOMBIES", "3"))


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
    zoolib.log("worker %d started; it is never reaped" % pid)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
