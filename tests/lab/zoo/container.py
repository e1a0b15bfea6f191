# The init of a zoo-engine container: PID 1 of a new PID namespace (started by
# `unshare --pid --fork`). It waits until the engine has moved it into the
# container's cgroup (a byte on the pipe whose fd is argv[1]), then starts the
# workload as an unprivileged user and reaps whatever exits, as tini would.
import os
import sys

import zoolib


def main(argv):
    go_fd, user = int(argv[1]), argv[2]
    with os.fdopen(go_fd, "rb") as go:
        if go.read(2) != b"go":
            raise RuntimeError("the engine never said go")
    zoolib.fork_sleeper_as(user)
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
