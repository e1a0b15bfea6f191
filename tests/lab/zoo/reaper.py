# zoo-reaper (control): a healthy service that keeps starting short-lived children
# (fork+exec of /bin/true and bare forks) and reaps each one at once. A scan may
# catch a child in the microseconds between its exit and the wait() that reaps it;
# such a zombie is milliseconds old, which is what min_zombie_age is for.
import os
import subprocess
import sys
import time

import zoolib

NAME = "zoo-reaper"
INTERVAL = float(os.environ.get("ZOO_INTERVAL", "0.2"))


def one_round():
    subprocess.run(["/bin/true"], check=True)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return 2


def main():
    spawned = 0
    for _attempt in range(10):
        spawned += one_round()
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "spawned_before_truth": spawned, "interval": INTERVAL})
    while True:
        one_round()
        time.sleep(INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
