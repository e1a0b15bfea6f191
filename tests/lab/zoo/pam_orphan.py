# zoo-pam-orphan: like zoo-pam-escape, but the command run through `runuser -l`
# puts sleep in the background and returns, so runuser (the session leader) exits.
# The sleep stays in the abandoned session-N.scope with PPID 1, its own session id
# and a reset environment: nothing left in /proc names the service any more. The
# honest report is an unattributed escape, not an escape of this unit.
import os
import subprocess
import sys
import time

import zoolib

NAME = "zoo-pam-orphan"
USER = os.environ.get("ZOO_USER", "zoo")


def main():
    out = subprocess.run(
        ["runuser", "-l", USER, "-c", "sleep 1000000 </dev/null >/dev/null 2>&1 & echo $!"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        check=True,
        timeout=2 * zoolib.WAIT_S,
    ).stdout
    orphan = int(out.decode().strip().splitlines()[-1])
    deadline = time.monotonic() + zoolib.WAIT_S
    while True:
        stat = zoolib.read_stat(orphan)
        if stat is not None and stat["comm"] == "sleep" and stat["ppid"] != os.getpid():
            break
        if time.monotonic() > deadline:
            raise RuntimeError("orphan %d not settled: %r" % (orphan, stat))
        time.sleep(0.1)
    cgroups = zoolib.cgroup_lines(orphan)
    if not any("/session-" in line for line in cgroups):
        raise RuntimeError(
            "escape did not happen, sleep %d is in %r (libpam-systemd and logind needed)" % (orphan, cgroups)
        )
    zoolib.write_truth(
        NAME,
        {
            "main_pid": os.getpid(),
            "orphans": [orphan],
            "user": USER,
            "orphan_cgroup": cgroups,
            "orphan_stat": zoolib.read_stat(orphan),
        },
    )
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
