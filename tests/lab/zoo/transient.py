# zoo-transient: old workers that become zombies for a few seconds only. The main
# process starts ZOO_WORKERS workers (sleep, as the unit's user) when the unit starts;
# the lab ends one at a time long afterwards. The main process notices the exit at once
# (waitid with WNOWAIT leaves the child a zombie) and reaps it when the lab says so
# (the file <truth dir>/zoo-transient.release-<PID> appears: right after the cleanup run
# it must survive, so the zombie spans the whole run whatever the machine's load), or
# after ZOO_ZOMBIE_HOLD seconds at most: a busy parent that is slow to wait(). The hold is
# only a backstop for a lab run that stopped before releasing it: a cleanup run on a loaded
# machine can take minutes, and the zombie must not be reaped under it. The
# zombie's process age is the worker's (minutes), its time as a zombie seconds: a
# cleanup that judges zombies by process age restarts this healthy unit; one that judges
# by observed zombie time never does.
import os
import sys
import time

import zoolib

NAME = "zoo-transient"
WORKERS = int(os.environ.get("ZOO_WORKERS", "6"))
HOLD = float(os.environ.get("ZOO_ZOMBIE_HOLD", "900"))


def release_path(pid):
    return os.path.join(zoolib.TRUTH_DIR, "%s.release-%d" % (NAME, pid))


def main():
    truth = {"main_pid": os.getpid(), "workers": [zoolib.spawn_sleeper() for _i in range(WORKERS)], "hold_s": HOLD}
    truth["reaped"] = []
    zoolib.write_truth(NAME, truth)
    while True:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        exited = time.clock_gettime(time.CLOCK_BOOTTIME)
        zoolib.log("worker %d exited; reaping it when released, in %gs at most" % (info.si_pid, HOLD))
        deadline = time.monotonic() + HOLD
        while not os.path.exists(release_path(info.si_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.waitpid(info.si_pid, 0)
        reaped = time.clock_gettime(time.CLOCK_BOOTTIME)
        truth["reaped"].append({"pid": info.si_pid, "exited_boottime": exited, "reaped_boottime": reaped})
        zoolib.write_truth(NAME, truth)


if __name__ == "__main__":
    sys.exit(main())
