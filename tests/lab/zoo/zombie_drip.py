# zoo-zombie-drip: in its FIRST invocation the main process forks a child every
# ZOO_DRIP_INTERVAL seconds that exits at once and is never reaped, so the unit's zombies grow
# steadily (up to ZOO_DRIP_MAX); every later invocation (after a restart) reaps its children
# and leaks nothing. It is the zombie factory an alert should catch while it grows and a
# `systemctl restart` should cure: the end-to-end alert loop (docs/testing.md) relies on both.
# The first invocation's id is kept in the ground truth directory (/run survives a restart of
# the unit, not a reboot of the lab host).
import os
import signal
import sys
import time

import zoolib

NAME = "zoo-zombie-drip"
INTERVAL = float(os.environ.get("ZOO_DRIP_INTERVAL", "2"))
MAXIMUM = int(os.environ.get("ZOO_DRIP_MAX", "300"))
FIRST_INVOCATION = os.path.join(zoolib.TRUTH_DIR, NAME + ".first-invocation")


def first_invocation():
    """True for the first invocation of the unit since the lab host booted."""
    mine = os.environ.get("INVOCATION_ID", "")
    os.makedirs(zoolib.TRUTH_DIR, exist_ok=True)
    try:
        fd = os.open(FIRST_INVOCATION, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        with open(FIRST_INVOCATION, encoding="utf-8") as handle:
            return handle.read().strip() == mine
    with os.fdopen(fd, "w") as handle:
        handle.write(mine + "\n")
    return True


def drip():
    """Leak one zombie every INTERVAL seconds, MAXIMUM in all, then idle."""
    leaked = 0
    while leaked < MAXIMUM:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        leaked += 1
        if leaked == 1:
            zoolib.wait_for_state(pid, "Z")
            zoolib.write_truth(NAME, {"main_pid": os.getpid(), "leaking": True, "zombie_parent": os.getpid()})
        time.sleep(INTERVAL)
    zoolib.log("leaked %d zombies, idle from now on" % leaked)
    zoolib.sleep_forever()


def main():
    if first_invocation():
        zoolib.log("first invocation: leaking a zombie every %ss" % INTERVAL)
        drip()
    zoolib.log("restarted: reaping every child from now on")
    # SIG_IGN for SIGCHLD: the kernel reaps children at once, no zombie ever stays.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "leaking": False})
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
