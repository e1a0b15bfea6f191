# zoo-forking (control): a classic Type=forking daemon under the default KillMode.
# The launcher forks, the child calls setsid and forks again, the grandchild is the
# daemon: it writes its PID file, starts two workers that it supervises (and reaps)
# and tells the launcher to exit. The intermediate is reaped by the launcher.
# Double fork does not leave the cgroup: nothing here is a leak or an escape.
import os
import sys

import zoolib

NAME = "zoo-forking"
PIDFILE = os.environ.get("ZOO_PIDFILE", "/run/zoo-forking.pid")


def daemon(ready_fd):
    workers = [zoolib.spawn_sleeper(), zoolib.spawn_sleeper()]
    tmp = PIDFILE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())
    os.replace(tmp, PIDFILE)
    zoolib.write_truth(NAME, {"main_pid": os.getpid(), "children": sorted(workers), "session": os.getsid(0)})
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    zoolib.sleep_forever(reap=True)


def main():
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.setsid()
        if os.fork() == 0:
            try:
                daemon(wfd)
            finally:
                os._exit(1)
        os._exit(0)
    os.close(wfd)
    os.waitpid(pid, 0)
    with os.fdopen(rfd) as reader:
        if reader.read().strip() != "ready":
            zoolib.log("daemon failed to start")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
