# zoo-delegate (control): a Delegate=yes service that manages its own sub-cgroups,
# as container managers do. The main process moves itself into <unit>/supervisor
# and runs each worker in <unit>/worker-N (no process stays in the unit's own
# cgroup, so the v2 no-internal-processes rule is respected). Processes in
# sub-cgroups belong to the unit: no escape, no leak.
import os
import sys

import zoolib

NAME = "zoo-delegate"
WORKERS = int(os.environ.get("ZOO_WORKERS", "3"))


def main():
    own_path, own_dir = zoolib.own_cgroup()
    supervisor = os.path.join(own_dir, "supervisor")
    os.makedirs(supervisor, exist_ok=True)
    zoolib.move_to_cgroup(os.getpid(), supervisor)
    workers = {}
    for index in range(WORKERS):
        directory = os.path.join(own_dir, "worker-%d" % index)
        os.makedirs(directory, exist_ok=True)
        pid = zoolib.spawn_sleeper()
        zoolib.move_to_cgroup(pid, directory)
        workers[pid] = zoolib.own_cgroup(pid)[0]
    zoolib.write_truth(
        NAME,
        {
            "main_pid": os.getpid(),
            "unit_cgroup": own_path,
            "main_cgroup": zoolib.own_cgroup()[0],
            "children": sorted(workers),
            "child_cgroups": {str(pid): path for pid, path in workers.items()},
        },
    )
    zoolib.sleep_forever(reap=True)


if __name__ == "__main__":
    sys.exit(main())
